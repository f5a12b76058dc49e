"""The README, tested: every command in its ``bash`` blocks runs, in order, in one fresh directory.

Each command must match exactly one rule below, so a command added to the
README without a rule fails this test. A rule runs the command and checks its
exit status and key output lines; a command that cannot run here (a real
QPU, a Leap token) is run anyway and must give the documented error; a
command that needs what this machine does not have in a test of this length
(an AWS account, a SLURM cluster, a container registry) names the test that
runs its real equivalent, which must exist.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import system_packages
from service_process import stop_process_group
from services import free_port, wait_for_http

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BIN = Path(sys.executable).parent


@dataclass
class Rule:
    """What to do with the README commands that match ``pattern`` (a regex, searched)."""

    pattern: str
    kind: str  # "run" | "fails" | "background" | "elsewhere" | "synopsis"
    status: int = 0  # "run"/"fails": the expected exit status
    says: tuple[str, ...] = ()  # substrings of stdout + stderr
    timeout: float = 300
    instead: str | None = None  # "run": the command actually run (tasks.py run: the same job in this venv)
    url: str | None = None  # "background": polled until it answers 200
    where: str | None = None  # "elsewhere": tests/FILE.py::TEST that runs it for real
    lines: int | None = None  # "run": the number of lines stdout must have


RULES = [
    Rule(r"^python3 tasks\.py test\b", "elsewhere", where="tests/project/test_readme.py::test_the_quickstart_test_command_is_what_ci_runs"),
    # tasks.py run = create the venv, install, then exactly this job (tasks.py's own docstring).
    Rule(r"^python3 tasks\.py run$", "run", instead="python -m qboost_exp", says=("accuracy", "MLflow run")),
    Rule(r"^python -m qboost_exp sampler=qpu\b", "fails", status=2, says=("needs a D-Wave Leap API token", "DWAVE_API_TOKEN")),
    Rule(r"^python -m qboost_exp --help$", "run", says=("== Configuration groups ==", "sampler: ")),
    Rule(r"^python -m qboost_exp --cfg job$", "run", says=("lambda:", "sampler:")),
    Rule(r"^python -m qboost_exp -m hydra/launcher=ray hydra\.launcher\.ray\.init\.address=HOST:PORT", "elsewhere",
         where="tests/tracking/test_tracking.py::test_ray_launcher_runs_a_sweep_on_a_local_ray_head"),
    Rule(r"^python -m qboost_exp -m hydra/launcher=submitit_slurm", "elsewhere",
         where="tests/apps/test_slurm.py::test_slurm_sweep_tracks_parent_and_children_and_a_failing_job_fails_in_sacct"),
    Rule(r"^python -m qboost_exp -m hparams_search=optuna$", "run", says=("[optuna] study 'qboost'", "[optuna] best trial"), timeout=900),
    # Run in full here (no Ctrl-C), so the resume finds every job finished and runs none.
    Rule(r"^python -m qboost_exp -m lambda=0\.02,0\.05,0\.1,0\.2 hydra\.sweeper\.resume=true$", "run",
         says=("[sweep] resuming multirun/", "4 of 4 jobs finished earlier, running 0", "[sweep] 4 jobs: 4 finished (4 in an earlier launch), 0 failed")),
    Rule(r"^python -m qboost_exp -m ", "run", says=("[sweep] MLflow parent run", "jobs:", "[sweep] best validation_accuracy"), timeout=600),
    Rule(r"^python -m qboost_exp mlflow\.tracking_uri=http://TRACKING-HOST:5000$", "fails", status=2,
         says=("cannot reach the MLflow tracking server at http://TRACKING-HOST:5000",)),
    # No AWS credentials here (nor a network): the documented one-line stop, before anything trains.
    Rule(r"^python -m qboost_exp mlflow\.tracking_uri=arn:aws:sagemaker:", "fails", status=2, says=("SageMaker's managed MLflow",)),
    Rule(r"^python -m qboost_exp( |$)", "run", says=("accuracy", "selected")),
    Rule(r"^python -m qboost_exp\.data wisc --out data/$", "run", says=("data/train.csv",)),
    Rule(r"^python -m qboost_exp\.compare \[", "synopsis"),
    Rule(r"^python -m qboost_exp\.compare$", "run", says=("training runs, sorted by",)),
    Rule(r"^python -m qboost_exp\.ui", "background", url="http://127.0.0.1:{port}/"),
    Rule(r"^mlflow ui --backend-store-uri sqlite:///mlflow\.db$", "background", url="http://127.0.0.1:{port}/health"),
    Rule(r"^pip install 'qboost-exp\[aws\]'$", "elsewhere", where="tests/tracking/test_sagemaker_store.py::test_the_plugin_is_installed_by_the_test_extra"),
    Rule(r"^pip install psycopg2-binary boto3$", "elsewhere", where="tests/tracking/test_tracking.py::test_parallel_sweep_against_a_postgres_backed_tracking_server"),
    Rule(r"^mlflow server --backend-store-uri postgresql", "elsewhere",
         where="tests/tracking/test_tracking.py::test_parallel_sweep_against_a_postgres_backed_tracking_server"),
    Rule(r"^python -m serving package ", "run", says=("model",), timeout=600),
    Rule(r"^python -m serving serve ", "background", url="http://127.0.0.1:{serve_port}/ping"),
    Rule(r"^curl -s localhost:8080/ping$", "run", says=('"status"',)),
    Rule(r"^cut -d, -f2- data/test\.csv > data/test_features\.csv$", "run"),
    # One prediction per test row: wisc's test split has 142 rows (the README's example report).
    Rule(r"^curl -s -H 'Content-Type: text/csv' --data-binary @data/test_features\.csv localhost:8080/invocations$", "run", lines=142),
    Rule(r"build_and_push\.sh qboost-sagemaker eu-west-1$", "elsewhere",
         where="tests/serving/test_serving_image.py::test_build_and_push_builds_and_tags_with_podman"),
    Rule(r"^python -m serving deploy ", "elsewhere", where="tests/serving/test_serving_aws.py::test_deploy_uploads_the_model_and_creates_model_config_and_endpoint"),
    Rule(r"^python -m serving invoke ", "elsewhere", where="tests/serving/test_serving_aws.py::test_invoke_labelled_csv_sends_the_features_only"),
    Rule(r"^python -m serving delete ", "elsewhere", where="tests/serving/test_serving_aws.py::test_delete_removes_endpoint_config_and_model_and_tolerates_missing"),
    Rule(r"^aws secretsmanager create-secret ", "elsewhere",
         where="tests/serving/test_serving_image.py::test_train_reads_the_dwave_token_from_secrets_manager_and_shows_it_nowhere"),
    Rule(r"^python -m serving train-job .*--dwave-token-secret ", "elsewhere",
         where="tests/serving/test_serving_aws.py::test_train_job_with_a_token_secret_sends_only_the_secret_name"),
    Rule(r"^python -m serving train-job ", "elsewhere", where="tests/serving/test_serving_aws.py::test_train_job_sends_string_hyperparameters_channels_and_waits"),
    Rule(r"^apt-get install -y docker-compose podman-docker$", "elsewhere",
         where="tests/serving/test_serving_sdk_v3.py::test_local_mode_trains_deploys_invokes_and_transforms_with_no_call_leaving"),
    Rule(r"^podman system service --time=0 unix://\S+ &$", "elsewhere",
         where="tests/serving/test_serving_sdk_v3.py::test_local_mode_trains_deploys_invokes_and_transforms_with_no_call_leaving"),
    Rule(r"^DOCKER_HOST=\S+ python examples/sagemaker_sdk_v3\.py local ", "elsewhere",
         where="tests/serving/test_serving_sdk_v3.py::test_local_mode_trains_deploys_invokes_and_transforms_with_no_call_leaving"),
    Rule(r"^python examples/sagemaker_sdk_v3\.py aws ", "elsewhere",
         where="tests/serving/test_serving_sdk_v3.py::test_aws_route_sends_sagemaker_the_requests_it_expects"),
]


def readme_commands(text: str) -> list[str]:
    """The commands of every ``bash`` block, in order: continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip() if not line.lstrip().startswith("#") else ""
            if line:
                commands.append(line)
    return commands


def rule_for(command: str) -> Rule:
    matches = [rule for rule in RULES if re.search(rule.pattern, command)]
    assert matches, f"README command without a rule in tests/project/test_readme.py: {command!r}"
    return matches[0]


def test_the_module_table_names_every_module_of_the_package():
    """"How the code flows": a row for every module and package of qboost_exp and every module of its domain (a row may list several, after the first by name alone)."""
    section = README.read_text().split("## How the code flows", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", section, flags=re.M):
        paths = re.findall(r"`([^`]+)`", row)
        folder = paths[0].rsplit("/", 1)[0] if "/" in paths[0].rstrip("/") else ""
        named |= {p if "/" in p.rstrip("/") else f"{folder}/{p}" for p in paths}
    package = REPO / "qboost_exp"
    modules = {f"qboost_exp/{p.name}" for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    modules |= {f"qboost_exp/domain/{p.name}" for p in (package / "domain").glob("*.py") if p.name != "__init__.py"}
    packages = {f"qboost_exp/{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert sorted((modules | packages) - named) == []
    assert sorted(p for p in named if p.startswith("qboost_exp/") and not (REPO / p).exists()) == []  # no row for a module that is gone


def test_every_readme_command_has_a_rule_and_every_rule_a_command():
    commands = readme_commands(README.read_text())
    assert len(commands) > 20
    used = {id(rule_for(c)) for c in commands}
    unused = [rule.pattern for rule in RULES if id(rule) not in used]
    assert unused == [], f"rules for commands no longer in the README: {unused}"


def test_the_commands_run_elsewhere_are_real_tests():
    for rule in RULES:
        if rule.kind == "elsewhere":
            path, _, name = rule.where.partition("::")
            assert re.search(rf"^def {re.escape(name)}\(", (REPO / path).read_text(), re.M), rule.where


def test_the_quickstart_test_command_is_what_ci_runs():
    ci = (REPO / ".ci" / "run").read_text()
    assert "python3 tasks.py test" in ci
    assert "python3 tasks.py test" in readme_commands(README.read_text())


def _argv(command: str, port: int) -> list[str] | str:
    """The command for this test's interpreter (``python`` is this venv's), as argv or a shell line."""
    line = re.sub(r"^python3? ", f"{shlex.quote(sys.executable)} ", command)
    line = re.sub(r"^mlflow ", f"{shlex.quote(str(BIN / 'mlflow'))} ", line)
    if command.startswith("mlflow ui"):
        line += f" --host 127.0.0.1 --port {port}"
    elif command.startswith("python -m qboost_exp.ui"):
        line += f" --port {port}"
    return line


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DWAVE_"))}
    # No D-Wave configuration: the QPU commands must give their documented error.
    return {**env, "HOME": str(home), "HYDRA_FULL_ERROR": "0", "PYTHONUNBUFFERED": "1"}


def _stop(process: subprocess.Popen) -> None:
    stop_process_group(process, grace=30)


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("nginx") is None and os.geteuid() != 0,
                    reason="the serving walkthrough needs curl and nginx (root installs nginx)")
@pytest.mark.long
def test_readme_commands_run_in_order_in_a_fresh_directory(tmp_path):
    if shutil.which("nginx") is None:
        from services import apt_install

        apt_install(system_packages.PACKAGES["nginx"])
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = _env(home)
    background: list[subprocess.Popen] = []
    log = []
    # The README serves on port 8080 and curls it there; here on a free port instead, the same in those
    # three commands: a fixed port may be another program's (another pytest session, a developer's
    # server), whose answer wait_for_http and curl would take for ours.
    serve_port = free_port()
    try:
        for command in readme_commands(README.read_text()):
            rule = rule_for(command)
            if rule.kind in ("elsewhere", "synopsis"):
                log.append(f"not run here ({rule.kind}): {command}")
                continue
            port = free_port()
            line = _argv(rule.instead or command, port).replace("--port 8080", f"--port {serve_port}").replace("localhost:8080", f"localhost:{serve_port}")
            started = time.monotonic()
            if rule.kind == "background":
                out = open(tmp_path / f"background-{len(background)}.log", "w")
                process = subprocess.Popen(line, shell=True, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                background.append(process)
                wait_for_http(rule.url.format(port=port, serve_port=serve_port), timeout=180, process=process, log_path=out.name)
                log.append(f"background, answering after {time.monotonic() - started:.1f} s: {command}")
                continue
            result = subprocess.run(line, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=rule.timeout)
            output = result.stdout + result.stderr
            log.append(f"exit {result.returncode} after {time.monotonic() - started:.1f} s: {command}")
            assert result.returncode == rule.status, f"{command}\nexit {result.returncode}, expected {rule.status}\n{output[-3000:]}"
            for text in rule.says:
                assert text in output, f"{command}: {text!r} not in its output:\n{output[-3000:]}"
            if rule.lines is not None:
                assert len(result.stdout.strip().splitlines()) == rule.lines, f"{command}:\n{result.stdout[-3000:]}"
            if rule.kind == "fails":
                assert "Traceback" not in output and len(result.stderr.strip().splitlines()) == 1, output[-3000:]
    finally:
        for process in background:
            _stop(process)
        print("\n".join(log))
