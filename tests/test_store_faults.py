"""A result that outlives its store: the tracking store failing before, during and after a run.

Real components throughout: ``mlflow server`` processes on loopback killed
with SIGKILL (and restarted), SQLite stores made read-only with ``chattr +i``
(root ignores permission bits), a full tmpfs, a read-only launch directory,
and the record uploaded with ``python -m qboost_exp.tracking sync``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from clirun import QUICK, closed_port, report_values, run_module
from faultcheck import report as fault_report
from faultcheck import running_runs
from services import LOOPBACK, free_port, wait_for_http

# Training slow enough (about 6 s of annealing here) to kill the server while it runs.
SLOW = ("sampler.params.num_reads=5000",)


# --------------------------------------------------------------------------- helpers


@dataclass
class Server:
    url: str
    port: int
    db: Path
    artifacts: Path
    process: subprocess.Popen

    def kill(self) -> float:
        """SIGKILL the server's process group; the moment it died."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        return time.time()


def serve(root: Path, port: int | None = None) -> Server:
    """``mlflow server`` on a SQLite store in ``root``, serving its artifacts from ``root/artifacts``.

    Without ``port``, on a free one: ``free_port()`` only says it was free a moment ago (another
    pytest-xdist worker may take it first), so a server that cannot bind it starts again on another.
    """
    if port is not None:
        return _serve(root, port)
    for attempt in range(3):
        try:
            return _serve(root, free_port())
        except RuntimeError as exc:  # wait_for_http: the server exited before it answered
            if attempt == 2 or "address already in use" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


def _serve(root: Path, port: int) -> Server:
    root.mkdir(parents=True, exist_ok=True)
    log = root / f"server-{port}-{time.time_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "MLFLOW_REGISTRY_"))}
    env.update(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'store.db'}",
                "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"),
                "--host", LOOPBACK, "--port", str(port), "--workers", "1",
            ],
            cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Server(f"http://{LOOPBACK}:{port}", port, root / "store.db", root / "artifacts", process)
    try:
        wait_for_http(f"{server.url}/health", 120, process=process, log_path=log)
    except BaseException:
        server.kill()
        raise
    return server


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(root: Path, port: int | None = None) -> Server:
        started.append(serve(root, port))
        return started[-1]

    yield start
    for server in started:
        server.kill()


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DWAVE_API_TOKEN") and not k.startswith("MLFLOW_HTTP_REQUEST")}
    env["HYDRA_FULL_ERROR"] = "0"
    return env


def start_cli(cwd: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "qboost_exp", *QUICK, *overrides], cwd=cwd, env=cli_env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_training(server: Server, process: subprocess.Popen, timeout: float = 300) -> str:
    """The id of the run once training started: RUNNING in the server's store, its ``.hydra`` files uploaded.

    Uploading ``.hydra`` is the last thing a run does before training; the
    store is read with plain sqlite3, read-only.
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the CLI exited ({process.returncode}) before it trained:\n{process.stderr.read()}")
        try:
            with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True) as con:
                row = con.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'").fetchone()
        except sqlite3.Error:
            row = None
        if row:
            hydra = [p.name for p in server.artifacts.glob(f"*/{row[0]}/artifacts/.hydra/*.yaml")]
            if sorted(hydra) == ["config.yaml", "hydra.yaml", "overrides.yaml"]:
                return row[0]
        time.sleep(0.05)
    raise AssertionError(f"no run started training in {server.db} after {timeout} s")


class StderrLines:
    """A CLI's stderr read in a thread: wait for a line while it runs, all of it once it ended."""

    def __init__(self, process: subprocess.Popen) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._collected: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self._collected.append(line)
            self._lines.put(line)

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while text not in self._lines.get(timeout=max(deadline - time.time(), 0.1)):
            pass

    def all(self) -> str:
        self._reader.join(timeout=10)
        return "".join(self._collected)


@contextmanager
def frozen(process: subprocess.Popen, group: bool = False) -> Iterator[None]:
    """``process`` (or, with ``group``, its process group) stopped (SIGSTOP) for the block, then continued.

    What a test does to the world meanwhile (kill or restart a server) happens at a known point of
    the CLI's work -- not wherever its own clock has got to -- and however long it takes here:
    a stopped CLI sends no request and spends none of its retries.
    """
    send = (lambda sig: os.killpg(process.pid, sig)) if group else process.send_signal
    send(signal.SIGSTOP)
    try:
        yield
    finally:
        send(signal.SIGCONT)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_error_line(stderr: str) -> str:
    errors = error_lines(stderr)
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return errors[0]


def immutable(path: Path) -> None:
    """``chattr +i``: even root cannot write it (permission bits do not stop root); skip where unsupported."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: cannot make a path read-only for root")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i {path} failed ({done.stderr.strip()}): this file system or container does not allow it")


def mutable(path: Path) -> None:
    subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def create_store(db: Path) -> None:
    """A SQLite store with the experiment, created in a fresh process (as the CLI would)."""
    code = f"from qboost_exp.tracking import prepare_store; prepare_store('sqlite:///{db}', 'qboost')"
    subprocess.run([sys.executable, "-c", code], cwd=db.parent, env=cli_env(), check=True, capture_output=True, timeout=120)


# --------------------------------------------------------------------------- the retry budget


def test_the_retry_plan_fits_its_budget():
    from qboost_exp.tracking import retry_plan

    for budget in (1, 5, 10, 20, 60, 300, 3600):
        plan = retry_plan(budget)
        # the first request that fails for good, then the cleanup's one short attempt
        assert plan.worst_case() + plan.quick_timeout <= budget + 1, plan
        assert 0 <= plan.max_retries <= 10 and 0 <= plan.backoff_factor <= 120 and plan.timeout >= 1
    default = retry_plan(60)
    assert (default.max_retries, default.backoff_factor, default.timeout) == (3, 4, 5)
    # the backoff alone (a server refusing connections while it restarts) spans 24 s of the 60
    assert default.worst_case() - (default.max_retries + 1) * default.timeout == pytest.approx(25.0)


def test_bounded_retries_keep_a_users_own_settings(monkeypatch):
    from qboost_exp.tracking import bounded_retries

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "9")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    with bounded_retries("http://127.0.0.1:1", 60):
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "9"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "9"
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ
    with bounded_retries("sqlite:///x.db", 60):  # no server: nothing to set
        assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


# --------------------------------------------------------------------------- the server dies


@pytest.mark.long
def test_server_killed_during_training_keeps_the_record_and_sync_uploads_it(tmp_path, servers):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import Model

    server = servers(tmp_path / "store1")
    cli = start_cli(tmp_path, *SLOW, f"mlflow.tracking_uri={server.url}", "hydra.run.dir=run")  # the default budget: 60 s
    run_id = wait_for_training(server, cli)
    with frozen(cli):  # stopped in training: the server surely dies before training ends
        killed = server.kill()  # never restarted
    stdout, stderr = cli.communicate(timeout=180)
    exited = time.time()

    assert cli.returncode == 3, stderr
    error = assert_one_error_line(stderr)
    record_dir = (tmp_path / "run" / "mlflow-record").resolve()
    assert error.startswith(f"error: the tracking store {server.url} failed at the end of the run (the server does not answer")
    assert f"the run's full record is in {record_dir}; upload it later with: python -m qboost_exp.tracking sync {record_dir}" in error
    assert f"run {run_id} stays RUNNING" in error
    report = report_values(stdout)
    assert report["dataset"].startswith("wisc") and "validation" in report["accuracy"]

    record = json.loads((record_dir / "record.json").read_text())
    trained = record["trained_time"] / 1000
    assert trained > killed  # the server died during training
    seconds = exited - trained
    print(f"\n[store faults] server gone: {seconds:.1f} s from the end of training to exit (budget 60 s)")
    assert seconds <= 70
    assert record["run_id"] == run_id and record["tracking_uri"] == server.url and record["experiment"] == "qboost"
    assert record["store"]["status"] == "RUNNING" and record["store"]["left_running"] is True
    assert record["params"]["sampler.params.num_reads"] == "5000" and record["params"]["mlflow.tracking_uri"] == server.url
    assert record["tags"]["qboost.role"] == "single" and record["tags"]["mlflow.runName"] == record["run_name"]
    assert re.fullmatch(r"[0-9a-f]{16}", record["tags"]["qboost.config_digest"])
    assert f"{record['metrics']['validation_accuracy']:.4f}" in report["accuracy"]
    for name in ("model/MLmodel", "model/model.pkl", "model/input_example.json", "artifacts/.hydra/config.yaml",
                 "artifacts/plots/weights.png", "artifacts/plots/confusion_matrix.png", "artifacts/selected_learners.json"):
        assert name in record["files"] and (record_dir / name).is_file(), name
    assert not list(record_dir.parent.glob(".mlflow-record.partial-*"))
    # The run stays RUNNING in the dead store (nothing can reach it); the record says so, and the model is in it.
    fault_report("tracking server: gone for good during a run (default budget)", lost=0 if (record_dir / "model" / "model.pkl").is_file() else 1,
                 seconds=seconds)

    # A new server on a new store: the record becomes a run there, model and all.
    target = servers(tmp_path / "store2")
    synced = run_module("qboost_exp.tracking", "sync", str(record_dir), "--tracking-uri", target.url, cwd=tmp_path, timeout=180)
    assert synced.returncode == 0, synced.stderr
    assert "Traceback" not in synced.stderr
    new_id = re.search(r"as run ([0-9a-f]{32}) ", synced.stdout).group(1)
    client = MlflowClient(tracking_uri=target.url)
    run = client.get_run(new_id)
    assert run.info.status == "FINISHED" and run.info.run_name == record["run_name"]
    assert run.data.params == record["params"]
    assert run.data.metrics == pytest.approx(record["metrics"])
    assert {k: run.data.tags.get(k) for k in record["tags"]} == record["tags"]
    assert run.data.tags["qboost.original_run_id"] == run_id
    assert {a.path for a in client.list_artifacts(new_id)} >= {".hydra", "plots", "selected_learners.json"}
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == [f"{record['tags']['dataset']}-{s}" for s in ("train", "val", "test")]
    models = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert [(m.source_run_id, str(m.status)) for m in models] == [(new_id, "READY")]

    example = Model.load(str(record_dir / "model")).load_input_example(str(record_dir / "model"))
    expected = mlflow.sklearn.load_model(str(record_dir / "model")).predict(example)
    mlflow.set_tracking_uri(target.url)  # reset after the test (no_tracking_uri_leak)
    loaded = mlflow.pyfunc.load_model(f"runs:/{new_id}/model")
    assert list(loaded.predict(example)) == list(expected)
    assert json.loads((record_dir / "uploaded.json").read_text())["run_id"] == new_id

    again = run_module("qboost_exp.tracking", "sync", str(record_dir), "--tracking-uri", target.url, cwd=tmp_path)
    assert again.returncode == 2
    assert assert_one_error_line(again.stderr) == (
        f"error: {record_dir} was already uploaded as run {new_id} to {target.url} on "
        f"{json.loads((record_dir / 'uploaded.json').read_text())['time']}; add --force to upload it again as another run"
    )


def test_server_restarted_within_the_budget_finishes_the_run(tmp_path, servers):
    from mlflow import MlflowClient

    server = servers(tmp_path / "store")
    cli = start_cli(tmp_path, *SLOW, f"mlflow.tracking_uri={server.url}", "hydra.run.dir=run")
    errors = StderrLines(cli)
    run_id = wait_for_training(server, cli)
    server.kill()
    # Training ends, the first request fails and is retried: only then does the server come back.
    errors.wait_for("does not answer; retrying")
    # "Within the budget" by construction: the CLI stays stopped, its retries unspent, however long
    # the server takes to start here (~11 s idle, far more on a loaded machine; the default budget's
    # retries span 24 s).
    with frozen(cli):
        restarted = servers(tmp_path / "store", port=server.port)  # the same store, artifacts and address
    stdout = cli.stdout.read()
    cli.wait(timeout=120)
    stderr = errors.all()

    assert cli.returncode == 0, stderr
    assert error_lines(stderr) == [] and "Traceback" not in stderr
    assert f"MLflow run {run_id} " in stdout
    assert not (tmp_path / "run" / "mlflow-record").exists()
    client = MlflowClient(tracking_uri=restarted.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert "validation_accuracy" in run.data.metrics
    assert [str(m.status) for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])] == ["READY"]


# --------------------------------------------------------------------------- local stores


@pytest.mark.parametrize("what", ["file", "directory"])
def test_read_only_store_at_start_is_one_line_and_trains_nothing(tmp_path, what):
    store = tmp_path / "store"
    store.mkdir()
    db = store / "mlflow.db"
    create_store(db)
    locked = db if what == "file" else store
    immutable(locked)
    try:
        result = run_module("qboost_exp", *QUICK, f"mlflow.tracking_uri=sqlite:///{db}", "hydra.run.dir=run", cwd=tmp_path)
    finally:
        mutable(locked)
    assert result.returncode == 2, result.stderr
    error = assert_one_error_line(result.stderr)
    named = db if what == "file" else store
    assert error.startswith(f"error: the MLflow store {db} is read-only: ") and f" {named} is not writable" in error
    assert "nothing was trained" in error and "mlflow.tracking_uri=URI" in error
    assert "accuracy" not in result.stdout  # nothing trained, nothing reported
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_unreachable_server_at_start_is_one_line_and_trains_nothing(tmp_path):
    with closed_port() as port:  # nothing listens there, and nothing can start to meanwhile
        url = f"http://{LOOPBACK}:{port}"
        started = time.time()
        # The largest budget: a CLI that retried would sleep 240 s and 480 s between its attempts
        # (run_module's 300 s timeout fails it); one that does not exits in its start-up time.
        result = run_module("qboost_exp", *QUICK, f"mlflow.tracking_uri={url}", "mlflow.retry_seconds=3600", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert assert_one_error_line(result.stderr) == (
        f"error: cannot reach the MLflow tracking server at {url}: Connection refused; start it (mlflow server ...) or fix "
        "mlflow.tracking_uri / MLFLOW_TRACKING_URI"
    )
    assert "accuracy" not in result.stdout and not (tmp_path / "run" / "mlflow-record").exists()
    assert time.time() - started < 60  # no retries spent on a server that was never there


def test_full_disk_keeps_the_record_and_leaves_no_half_written_model(tmp_path):
    from mlflow import MlflowClient

    full = tmp_path / "full"
    full.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(full)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({mounted.stderr.strip() or 'mount failed'}): needs root and CAP_SYS_ADMIN")
    try:
        db = full / "mlflow.db"
        create_store(db)  # its artifact root is full/mlruns: on the small disk too
        stat = os.statvfs(full)
        free = stat.f_bavail * stat.f_frsize
        # Room for the run, its params and .hydra, not for the model (about 800 kB with its code).
        with open(full / "filler", "wb") as filler:
            filler.write(b"\0" * (free - 300 * 1024))
        result = run_module("qboost_exp", *QUICK, "hydra.run.dir=" + str(tmp_path / "run"), cwd=full)

        assert result.returncode == 3, result.stderr
        error = assert_one_error_line(result.stderr)
        record_dir = tmp_path / "run" / "mlflow-record"
        assert error.startswith(f"error: the tracking store sqlite:///{db} failed at the end of the run (")
        assert "full" in error.split("(", 1)[1].split(")")[0]  # the reason: a full disk
        assert f"the run's full record is in {record_dir}; upload it later with" in error
        assert "accuracy" in report_values(result.stdout)
        record = json.loads((record_dir / "record.json").read_text())
        assert all((record_dir / name).is_file() for name in record["files"]) and "model/model.pkl" in record["files"]

        client = MlflowClient(tracking_uri=f"sqlite:///{db}")
        run = client.get_run(record["run_id"])
        if record["store"]["left_running"]:
            assert run.info.status == "RUNNING"
        else:
            assert run.info.status == "FAILED"
            assert run.data.tags["qboost.local_record"] == str(record_dir)
            assert run.data.tags["error"].startswith("the tracking store failed at the end of the run (")
        # The model is complete in the store or absent: no PENDING logged model, no partial files.
        assert [str(m.status) for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])] in ([], ["READY"])
        assert record["store"]["models_removed"] and not record["store"]["models_left"]
        assert [p for p in (full / "mlruns").rglob("*") if p.is_file() and "/models/" in str(p)] == []
        fault_report("full disk (a 4 MB tmpfs) at the end of a run", running=len(running_runs(db)),
                     lost=0 if (record_dir / "model" / "model.pkl").is_file() else 1)
    finally:
        subprocess.run(["umount", "-l", str(full)], capture_output=True)


def test_read_only_launch_directory_is_one_line(tmp_path):
    launch = tmp_path / "launch"
    launch.mkdir()
    immutable(launch)
    try:
        result = run_module("qboost_exp", "mlflow.enabled=false", cwd=launch)
    finally:
        mutable(launch)
    assert result.returncode == 2, result.stderr
    error = assert_one_error_line(result.stderr)
    assert error.startswith(f"error: cannot create the output directory {launch}/outputs (")
    assert "run from a writable directory" in error and "hydra.run.dir=" in error
    assert result.stdout == ""


# --------------------------------------------------------------------------- sync's errors


def test_sync_errors_are_one_line(tmp_path):
    missing = run_module("qboost_exp.tracking", "sync", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2
    assert assert_one_error_line(missing.stderr).startswith(f"error: no run record at {tmp_path / 'nowhere'}")

    empty = tmp_path / "empty"
    empty.mkdir()
    not_a_record = run_module("qboost_exp.tracking", "sync", str(empty), cwd=tmp_path)
    assert not_a_record.returncode == 2
    assert "is not a run record (it has no record.json)" in assert_one_error_line(not_a_record.stderr)

    record = tmp_path / "mlflow-record"
    (record / "model").mkdir(parents=True)
    (record / "model" / "MLmodel").write_text("flavors: {}\n")
    fields = {"format": 1, "tracking_uri": "sqlite:///x.db", "experiment": "qboost", "run_id": "r", "run_name": "n", "start_time": 0}
    (record / "record.json").write_text(json.dumps(fields))
    lacking = run_module("qboost_exp.tracking", "sync", str(record), cwd=tmp_path)
    assert lacking.returncode == 2
    assert assert_one_error_line(lacking.stderr) == f"error: {record} is an incomplete run record: record.json lacks params, metrics, tags, files"
    fields.update(params={}, metrics={}, tags={}, files=["model/MLmodel", "model/model.pkl"])
    (record / "record.json").write_text(json.dumps(fields))
    incomplete = run_module("qboost_exp.tracking", "sync", str(record), cwd=tmp_path)
    assert incomplete.returncode == 2
    assert assert_one_error_line(incomplete.stderr) == (
        f"error: {record} is an incomplete run record: 1 of its files are missing (model/model.pkl)"
    )

    (record / "model" / "model.pkl").write_bytes(b"")
    (record / "uploaded.json").write_text(json.dumps({"run_id": "abc", "tracking_uri": "http://x", "time": "then"}))
    uploaded = run_module("qboost_exp.tracking", "sync", str(record), cwd=tmp_path)
    assert uploaded.returncode == 2
    assert assert_one_error_line(uploaded.stderr) == (
        f"error: {record} was already uploaded as run abc to http://x on then; add --force to upload it again as another run"
    )

    with closed_port() as port:
        unreachable = run_module("qboost_exp.tracking", "sync", str(record), "--force", "--tracking-uri", f"http://{LOOPBACK}:{port}",
                                 cwd=tmp_path)
    assert unreachable.returncode == 2
    assert "cannot reach the MLflow tracking server" in assert_one_error_line(unreachable.stderr)

    helped = run_module("qboost_exp.tracking", "sync", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--tracking-uri URI" in helped.stdout and "--force" in helped.stdout


def test_ctrl_c_while_the_store_is_retried_after_training_keeps_the_record(tmp_path, servers):
    """A user tired of the retries presses Ctrl-C: the trained model is kept locally all the same."""
    server = servers(tmp_path / "store")
    cli = subprocess.Popen(
        [sys.executable, "-m", "qboost_exp", *QUICK, *SLOW, f"mlflow.tracking_uri={server.url}", "hydra.run.dir=run"], cwd=tmp_path,
        env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    errors = StderrLines(cli)
    wait_for_training(server, cli)
    server.kill()
    errors.wait_for("does not answer; retrying")
    os.killpg(cli.pid, signal.SIGINT)
    cli.stdout.read()
    cli.wait(timeout=120)
    stderr = errors.all()

    record_dir = (tmp_path / "run" / "mlflow-record").resolve()
    assert cli.returncode == 130, stderr
    error = assert_one_error_line(stderr)
    assert error.startswith("error: interrupted; the tracking store ") and "(interrupted (Ctrl-C) while the run was being logged)" in error, error
    assert f"the run's full record is in {record_dir}; upload it later with" in error
    assert (record_dir / "model" / "model.pkl").is_file() and json.loads((record_dir / "record.json").read_text())["metrics"]
    fault_report("Ctrl-C during the store's retries after training", lost=0 if (record_dir / "model" / "model.pkl").is_file() else 1)
