"""The SageMaker images themselves, built with podman and run the way SageMaker runs them.

Both targets of the Dockerfile are built once per session (tests/support/podman.py)
from one ``package --wheelhouse`` build context, offline, on a Debian base
made locally: ``full`` (trains and serves any model) and ``serve`` (the lean
serving image: numpy, Flask, gunicorn, nginx and the compiled model). Then:
``podman run -p PORT:8080 IMAGE serve`` answers /ping and gives MLflow's
predictions row for row (CSV and JSON), on both images; both answer the same
requests (every body form, /execution-parameters, errors, the 6 MB limit)
byte for byte; ``podman stop`` lets an in-flight request finish and the
container exits 0; ``podman run -v DIR:/opt/ml -v MODEL:/opt/ml/model IMAGE
train`` (the model directory its own mount, as SageMaker mounts it; the only
channel named ``train``) writes a model and its compiled file, which both
images then serve, mounted over /opt/ml/model; the lean image refuses to
train, saying so in /opt/ml/output/failure; a bad hyperparameter writes
/opt/ml/output/failure; and docker/build_and_push.sh builds both targets from
one context, tags and "pushes" them with podman as its engine.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mlflow_service import start_mlflow_server, stop_mlflow_server
from moto_server import moto  # noqa: F401 (fixture)
from podman import build_image, image_size_mb, lean_image, serving_image  # noqa: F401 (fixtures)
from clirun import REPO, closed_port
from serving_programs import files_text
from services import free_port, http_request, wait_for_http

LOOPBACK = "127.0.0.1"
SCRIPT = REPO / "docker" / "build_and_push.sh"


class Container:
    """A detached ``podman run`` of the image, published on a loopback port."""

    def __init__(self, podman, name: str, port: int) -> None:
        self.podman, self.name, self.port = podman, name, port

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60):
        return http_request(self.port, method, path, body, headers, timeout)

    def logs(self) -> str:
        done = self.podman("logs", self.name, check=False)
        return (done.stdout + done.stderr)[-4000:]

    def exit_code(self, timeout: float = 90) -> int:
        done = self.podman("wait", self.name, timeout=timeout)
        return int(done.stdout.strip().splitlines()[-1])


def start(podman, image: str, *args: str, volumes: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Container:
    name = f"qboost-test-{free_port()}"
    port = free_port()
    cmd = ["run", "-d", "--name", name, "-p", f"{LOOPBACK}:{port}:8080"]
    for volume in volumes:
        cmd += ["-v", volume]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    podman(*cmd, image, *args)
    return Container(podman, name, port)


@pytest.fixture
def containers(podman):
    """Containers a test starts; removed afterwards whatever happened."""
    started: list[Container] = []
    yield started
    for container in started:
        podman("rm", "-f", "-t", "0", container.name, check=False)


def _features(n_rows: int | None = None):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = data.data if n_rows is None else data.data[np.arange(n_rows) % len(data.data)]
    return X, list(data.feature_names)


def _mlflow_labels(model_dir: Path, X: np.ndarray) -> list[int]:
    """MLflow's own predictions of the model directory (loaded here, outside the image)."""
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(str(model_dir))
    names = model.metadata.get_input_schema().input_names()
    return [int(v) for v in np.asarray(model.predict(pd.DataFrame(X, columns=names)))]


def _csv(X: np.ndarray) -> bytes:
    return ("\n".join(",".join(map(repr, row)) for row in X.tolist()) + "\n").encode()


HEAVY = ("sklearn", "scipy", "pandas", "matplotlib", "mlflow", "dimod", "dwave", "hydra")


def test_serve_answers_ping_and_mlflows_predictions_and_stops_cleanly(podman, serving_image, containers):
    image = serving_image
    t0 = time.monotonic()
    container = start(podman, image.tag, "serve")
    containers.append(container)
    waited = wait_for_http(f"http://{LOOPBACK}:{container.port}/ping", timeout=120, interval=0.05)
    print(f"\n[image {image.target}] /ping 200 {time.monotonic() - t0:.2f} s after podman run ({waited:.2f} s of polling)")

    status, headers, body = container.request("GET", "/ping")
    assert status == 200, container.logs()
    # A QBoost model of trees: package wrote its compiled file, and both images predict from it.
    assert "predicting compiled: " in container.logs() and "from qboost-compiled.npz" in container.logs()
    assert (image.context.path / "model" / "qboost-compiled.npz").is_file()
    assert json.loads((image.context.path / "build-info.json").read_text())["image_target"] == "serve"
    X, names = _features()
    expected = _mlflow_labels(image.context.path / "model", X)
    assert len(set(expected)) == 2  # both classes: a constant answer could not pass

    status, headers, body = container.request("POST", "/invocations", _csv(X), {"Content-Type": "text/csv; charset=utf-8"})
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/csv")
    assert [int(v) for v in body.decode().splitlines()] == expected
    assert not body.endswith(b"\n")  # Batch Transform's AssembleWith=Line adds the newline

    payload = json.dumps({"dataframe_split": {"columns": names, "data": X.tolist()}}).encode()
    status, headers, body = container.request("POST", "/invocations", payload, {"Content-Type": "application/json"})
    assert status == 200, body
    assert [int(v) for v in json.loads(body)["predictions"]] == expected

    # podman stop with a request in flight: nginx stops accepting, the request is answered in
    # full, then the container exits 0. Half the body is sent before the stop, half after.
    big, _ = _features(12_000)
    body = _csv(big)
    conn = http.client.HTTPConnection(LOOPBACK, container.port, timeout=120)
    conn.putrequest("POST", "/invocations")
    conn.putheader("Content-Type", "text/csv")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    conn.send(body[: len(body) // 2])
    # In flight for sure: nginx (in the container) has accepted the connection and read what was sent.
    _wait_until_read_in_container(podman, container, conn.sock)
    stopping: dict[str, subprocess.CompletedProcess] = {}
    stopper = threading.Thread(target=lambda: stopping.update(done=podman("stop", "-t", "60", container.name, timeout=120, check=False)))
    stopper.start()
    # The stop under way (serve logged the signal), not assumed after a guessed 1.5 s; the container still runs.
    deadline = time.monotonic() + 60
    while "stopping gracefully" not in container.logs():
        assert stopper.is_alive(), "the container stopped with a request in flight"
        assert time.monotonic() < deadline, "serve never logged the stop signal:\n" + container.logs()
        time.sleep(0.2)
    assert stopper.is_alive(), "the container stopped with a request in flight"
    conn.send(body[len(body) // 2 :])
    response = conn.getresponse()
    answer = response.read()
    assert response.status == 200, answer
    assert len(answer.decode().splitlines()) == len(big)
    stopper.join(timeout=120)
    assert stopping["done"].returncode == 0, stopping["done"].stderr
    assert container.exit_code() == 0, container.logs()
    assert "stopping gracefully" in container.logs()


def _tcp_sockets(table: Path) -> list[tuple[int, int, str, int, int]]:
    """(local port, remote port, state, tx_queue, rx_queue) of every IPv4 TCP socket of a ``/proc/.../net/tcp`` table."""
    sockets = []
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        tx, rx = (int(v, 16) for v in fields[4].split(":"))
        sockets.append((int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16), fields[3], tx, rx))
    return sockets


def _wait_until_read_in_container(podman, container: Container, sock, timeout: float = 60) -> None:
    """Until what was sent on ``sock`` reached the container and its nginx read all of it.

    Our side of the connection has nothing unacknowledged (host table), and every established
    connection to port 8080 in the container's network namespace (``/proc/PID/net/tcp`` of its
    first process; ours is the only one open) has nothing unread: nginx accepted and read it. A
    connection still in nginx's listen queue when it stops would be reset instead of answered.
    """
    pid = int(podman("inspect", "--format", "{{.State.Pid}}", container.name).stdout.strip())
    client_port = sock.getsockname()[1]
    established = "01"
    deadline = time.monotonic() + timeout
    while True:
        ours = [s for s in _tcp_sockets(Path("/proc/net/tcp")) if s[:3] == (client_port, container.port, established)]
        theirs = [s for s in _tcp_sockets(Path(f"/proc/{pid}/net/tcp")) if s[0] == 8080 and s[2] == established]
        if ours and ours[0][3] == 0 and theirs and all(s[4] == 0 for s in theirs):
            return
        assert time.monotonic() < deadline, f"nginx did not read the request within {timeout:g} s: ours {ours}, in the container {theirs}"
        time.sleep(0.05)


def _opt_ml(tmp_path: Path, channel: str = "training") -> tuple[Path, np.ndarray, np.ndarray]:
    """A SageMaker /opt/ml tree with one channel of 240 labelled rows (5 features), and its model directory beside it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    opt_ml = tmp_path / "opt_ml"
    (opt_ml / "input" / "config").mkdir(parents=True)
    (opt_ml / "input" / "data" / channel).mkdir(parents=True)
    (opt_ml / "model").mkdir()
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"sampler.params.num_reads": "10", "seed": "2"}))
    rows = "\n".join(",".join([str(label), *map(repr, row)]) for label, row in zip(y, X.tolist()))
    (opt_ml / "input" / "data" / channel / "train.csv").write_text(rows + "\n")
    (tmp_path / "model").mkdir()
    return opt_ml, X, y


IMAGE_TOKEN = "DEV-image-secret-token-7"


def _train_with_token_secret(podman, image: str, moto, opt_ml: Path, hyperparameters: dict, **env: str):
    """The image's ``train`` with DWAVE_API_TOKEN_SECRET naming a secret in moto's Secrets Manager.

    ``--network host``: the container reaches moto (and any other service of the test) on this
    machine's loopback, as a job reaches Secrets Manager.
    """
    secrets = moto.client("secretsmanager")
    if "qboost/dwave" not in [s["Name"] for s in secrets.list_secrets()["SecretList"]]:
        secrets.create_secret(Name="qboost/dwave", SecretString=IMAGE_TOKEN)
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    aws = {k: v for k, v in moto.env().items() if k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    variables = {**aws, "AWS_ENDPOINT_URL": moto.url, "DWAVE_API_TOKEN_SECRET": "qboost/dwave", **env}
    env_args = [arg for key, value in variables.items() for arg in ("-e", f"{key}={value}")]
    return podman("run", "--rm", "--network", "host", *env_args, "-v", f"{opt_ml}:/opt/ml", image, "train",
                  timeout=600, check=False)


def test_train_reads_the_dwave_token_from_secrets_manager_and_shows_it_nowhere(podman, sagemaker_image, moto, tmp_path):
    """Mock QPU and an MLflow server: the job trains and logs, and the token is in no line, file or record."""
    opt_ml, _, _ = _opt_ml(tmp_path)
    hyperparameters = {"sampler": "mock_qpu", "lambda": "0.1", "qubo.max_weight": "0.25", "lambda_grid": "[0.1]",
                       "sampler.params.num_reads": "10"}
    tracking = start_mlflow_server(f"sqlite:///{tmp_path / 'mlflow.db'}")  # the image logs to a server (it has no SQL store)
    try:
        done = _train_with_token_secret(podman, sagemaker_image.tag, moto, opt_ml, hyperparameters, MLFLOW_TRACKING_URI=tracking.url)
    finally:
        stop_mlflow_server(tracking, keep_dir=True)  # its artifacts are read below
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "train: D-Wave token read from the Secrets Manager secret qboost/dwave" in done.stdout
        assert (opt_ml / "model" / "MLmodel").is_file()
        recorded = [tmp_path / "mlflow.db", *tracking.artifacts_dir.rglob("*")]
        assert any(p.name == "MLmodel" for p in recorded)  # the run and its model went to MLflow
        assert IMAGE_TOKEN not in done.stdout + done.stderr + files_text([*opt_ml.rglob("*"), *recorded])
    finally:
        shutil.rmtree(tracking.log_path.parent, ignore_errors=True)


def test_the_token_from_the_secret_reaches_ocean_masked(podman, sagemaker_image, moto, tmp_path):
    """sampler=qpu against a closed port: Ocean gets the secret's token and logs it (debug), masked."""
    opt_ml, _, _ = _opt_ml(tmp_path)
    (opt_ml / "input" / "dwave.conf").write_text("[defaults]\nhttp_retry_total = 0\n")  # fail at once, no back-off
    with closed_port() as port:
        done = _train_with_token_secret(
            podman, sagemaker_image.tag, moto, opt_ml, {"sampler": "qpu", "lambda": "0.1"},
            DWAVE_CONFIG_FILE="/opt/ml/input/dwave.conf", DWAVE_API_ENDPOINT=f"http://{LOOPBACK}:{port}/sapi/v2/",
            DWAVE_LOG_LEVEL="debug", DWAVE_CACHE_ENABLED="false")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "train: D-Wave token read from the Secrets Manager secret qboost/dwave" in done.stdout
    reason = (opt_ml / "output" / "failure").read_text()
    assert reason.startswith("sampler=qpu: could not reach a D-Wave solver")
    assert "***" in done.stderr  # the cloud client logged its config, token masked
    assert IMAGE_TOKEN not in done.stdout + done.stderr + files_text(opt_ml.rglob("*"))


def test_train_writes_a_model_both_images_serve_mounted_over_opt_ml_model(podman, sagemaker_image, lean_image, containers, tmp_path):
    # As SageMaker runs a training job: /opt/ml/model is a mount of its own (renaming into it
    # from elsewhere under /opt/ml fails with EXDEV), and the only channel here is named `train`.
    opt_ml, X, y = _opt_ml(tmp_path, channel="train")
    model = tmp_path / "model"
    # No argument, as the SageMaker SDK v3's ModelTrainer starts a job without a command: the mounts say train.
    done = podman("run", "--rm", "-v", f"{opt_ml}:/opt/ml", "-v", f"{model}:/opt/ml/model", sagemaker_image.tag, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stderr.splitlines()[0] == "start: running train (found /opt/ml/input/config/hyperparameters.json: a training job)"
    assert "train: model saved to /opt/ml/model" in done.stdout
    assert "channel training: 1 file, " in done.stdout and "/opt/ml/input/data/train)" in done.stdout
    assert (model / "MLmodel").is_file() and (model / "qboost-compiled.npz").is_file(), sorted(p.name for p in model.iterdir())
    assert not [p.name for p in model.iterdir() if p.name.startswith(".")]  # the staging directory is gone
    assert not (opt_ml / "output" / "failure").exists()

    # SageMaker mounts the training job's model over /opt/ml/model: this 5-feature model, not the baked-in 30-feature one.
    expected = _mlflow_labels(model, X)
    assert float(np.mean(np.array(expected) == y)) > 0.7  # learned the boundary (chance is 0.5)
    for image in (sagemaker_image, lean_image):
        container = start(podman, image.tag, "serve", volumes=(f"{model}:/opt/ml/model:ro",))
        containers.append(container)
        wait_for_http(f"http://{LOOPBACK}:{container.port}/ping", timeout=120, interval=0.05)
        status, _, body = container.request("POST", "/invocations", _csv(X), {"Content-Type": "text/csv"})
        assert status == 200, body
        assert [int(v) for v in body.decode().splitlines()] == expected, image.target


def test_the_lean_image_refuses_to_train_and_holds_no_heavy_library(podman, lean_image, sagemaker_image, tmp_path):
    opt_ml, _, _ = _opt_ml(tmp_path)
    done = podman("run", "--rm", "-v", f"{opt_ml}:/opt/ml", lean_image.tag, timeout=300, check=False)  # no argument: the mounts say train
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines()[0].startswith("start: running train (found /opt/ml/input/config/hyperparameters.json")
    reason = (opt_ml / "output" / "failure").read_text()
    assert "it is the lean serving image; run training jobs on the full image" in reason
    probe = "import importlib.util as u; print([m for m in %r if u.find_spec(m)])" % (HEAVY,)
    assert podman("run", "--rm", lean_image.tag, "python", "-c", probe).stdout.strip() == "[]"
    lean, full = image_size_mb(podman, lean_image.tag), image_size_mb(podman, sagemaker_image.tag)
    print(f"\n[image] sizes: serve {lean:.0f} MB, full {full:.0f} MB")
    assert lean < full / 2


#: Requests whose answers must be the same from both images, byte for byte.
def _protocol_requests() -> dict[str, tuple[str, str, bytes | None, dict[str, str]]]:
    X, names = _features(40)
    rows = X.tolist()
    csv_body = _csv(X)
    one = ",".join(map(repr, rows[0]))
    return {
        "ping": ("GET", "/ping", None, {}),
        "execution parameters": ("GET", "/execution-parameters", None, {}),
        "csv (Batch Transform: no header, with charset)": ("POST", "/invocations", csv_body, {"Content-Type": "text/csv; charset=utf-8"}),
        "csv with header": ("POST", "/invocations", (",".join(names) + "\n").encode() + csv_body, {"Content-Type": "text/csv"}),
        "csv single row": ("POST", "/invocations", one.encode(), {"Content-Type": "text/csv"}),
        "csv probabilities as json": ("POST", "/invocations", csv_body, {"Content-Type": "text/csv", "Accept": "application/json; output=probabilities"}),
        "csv margin (custom attributes)": ("POST", "/invocations", csv_body, {"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "output=margin"}),
        "json dataframe_split": ("POST", "/invocations", json.dumps({"dataframe_split": {"columns": names, "data": rows}}).encode(), {"Content-Type": "application/json"}),
        "json dataframe_records": ("POST", "/invocations", json.dumps({"dataframe_records": [dict(zip(names, r)) for r in rows]}).encode(), {"Content-Type": "application/json"}),
        "json instances": ("POST", "/invocations", json.dumps({"instances": rows}).encode(), {"Content-Type": "application/json"}),
        "json inputs": ("POST", "/invocations", json.dumps({"inputs": rows}).encode(), {"Content-Type": "application/json", "Accept": "text/csv"}),
        "json list of rows": ("POST", "/invocations", json.dumps(rows).encode(), {"Content-Type": "application/json"}),
        "400 wrong width": ("POST", "/invocations", b"1,2,3\n", {"Content-Type": "text/csv"}),
        "400 nan cell": ("POST", "/invocations", ",".join(["1"] * 3 + ["nan"] + ["1"] * 26).encode(), {"Content-Type": "text/csv"}),
        "400 beyond float32": ("POST", "/invocations", ",".join(["1"] * 29 + ["1e39"]).encode(), {"Content-Type": "text/csv"}),
        "400 malformed json": ("POST", "/invocations", b"{", {"Content-Type": "application/json"}),
        "400 empty body": ("POST", "/invocations", b"", {"Content-Type": "text/csv"}),
        "404": ("GET", "/nowhere", None, {}),
        "405": ("GET", "/invocations", None, {}),
        "406": ("POST", "/invocations", one.encode(), {"Content-Type": "text/csv", "Accept": "application/xml"}),
        "415": ("POST", "/invocations", one.encode(), {"Content-Type": "application/x-protobuf"}),
        "413 over 6 MB": ("POST", "/invocations", b"1" * (6 * 1024 * 1024 + 1), {"Content-Type": "text/csv"}),
    }


def test_both_images_answer_the_protocol_byte_for_byte(podman, sagemaker_image, lean_image, containers):
    running = []
    for image in (sagemaker_image, lean_image):
        container = start(podman, image.tag, env={"MODEL_SERVER_WORKERS": "2"})  # no argument, no training mounts: serve
        containers.append(container)
        running.append(container)
    for container in running:
        wait_for_http(f"http://{LOOPBACK}:{container.port}/ping", timeout=120, interval=0.05)
        first = container.podman("logs", container.name).stderr.splitlines()[0]  # podman keeps the container's stderr apart
        assert first.startswith("start: running serve (no training job's mounts"), container.logs()
    ignored = {"date", "server", "connection", "keep-alive"}
    for name, (method, path, body, headers) in _protocol_requests().items():
        answers = []
        for container in running:
            status, got, content = container.request(method, path, body, headers)
            answers.append((status, {k.lower(): v for k, v in got.items() if k.lower() not in ignored}, content))
        assert answers[0] == answers[1], f"{name}: full {answers[0]!r:.600} != serve {answers[1]!r:.600}"
        status, got, content = answers[0]
        if name.startswith(("4", "5")):
            assert status == int(name[:3]) and got["content-type"] == "application/json" and "error" in json.loads(content), (name, content)
        else:
            assert status == 200, (name, content)
    status, _, content = running[1].request("GET", "/execution-parameters")
    assert json.loads(content) == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}


def test_train_with_a_bad_hyperparameter_writes_the_failure_file(podman, sagemaker_image, tmp_path):
    opt_ml = tmp_path / "opt_ml"
    (opt_ml / "input" / "config").mkdir(parents=True)
    (opt_ml / "input" / "data" / "training").mkdir(parents=True)
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"lambda": "-1"}))
    (opt_ml / "input" / "data" / "training" / "train.csv").write_text("1,0.5\n0,0.25\n")
    done = podman("run", "--rm", "-v", f"{opt_ml}:/opt/ml", sagemaker_image.tag, "train", timeout=300, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    reason = (opt_ml / "output" / "failure").read_text()
    assert "lambda must be a float in the range [0.0, inf) or a str among {'auto'}. Got -1 instead." in reason
    assert "Traceback" not in done.stderr


FAKE_AWS = r"""#!/usr/bin/env bash
echo "aws $*" >> "$CALLS"
case "$1 $2" in
  "sts get-caller-identity") echo 123456789012 ;;
  "ecr describe-repositories")
    echo "An error occurred (RepositoryNotFoundException) when calling the DescribeRepositories operation: none" >&2; exit 254 ;;
  "ecr create-repository") echo '{}' ;;
  "ecr get-login-password") echo "fake-password" ;;
  *) echo "fake aws: unexpected $*" >&2; exit 99 ;;
esac
"""

# podman for real, except the two calls that need ECR: login and push.
ENGINE = r"""#!/usr/bin/env bash
case "$1" in
  login) echo "podman login ${*:2} stdin=$(cat)" >> "$CALLS"; echo "Login Succeeded" ;;
  push) echo "podman push ${*:2}" >> "$CALLS" ;;
  *) echo "podman $*" >> "$CALLS"; exec podman "$@" ;;
esac
"""


def test_build_and_push_builds_and_tags_with_podman(podman, base_image, sagemaker_image, lean_image, tmp_path):
    """Both targets (full, then serve) from the one context, tagged, and "pushed"."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("aws", FAKE_AWS), ("podman-ecr", ENGINE)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls.log"
    env = {k: v for k, v in podman.env.items() if not k.startswith("AWS_")}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", CALLS=str(calls), CONTAINER_ENGINE="podman-ecr", BASE_IMAGE=base_image,
               IMAGE_TAG="ci")
    start_time = time.monotonic()
    context = sagemaker_image.context.path
    done = subprocess.run([str(SCRIPT), "qboost-ci", "eu-west-1", str(context)], env=env,
                          capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-4000:]
    repo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/qboost-ci"
    assert done.stdout == f"{repo}:ci-serve\n{repo}:ci-full\n"  # the serving image, then the training image
    log = calls.read_text().splitlines()
    for target in ("full", "serve"):
        assert f"podman build --platform linux/amd64 --build-arg BASE_IMAGE={base_image} --target {target} -t qboost-ci:ci-{target} {context}" in log
        assert f"podman push {repo}:ci-{target}" in log
        assert podman.image_exists(f"{repo}:ci-{target}")
    # Both pushed tags run the SageMaker programs.
    for target in ("full", "serve"):
        found = podman("run", "--rm", f"{repo}:ci-{target}", "sh", "-c", "command -v serve && command -v train").stdout.split()
        assert found == ["/usr/local/bin/serve", "/usr/local/bin/train"]
    print(f"\n[image] build_and_push.sh (cached builds of both targets) {time.monotonic() - start_time:.1f} s")
    for target in ("full", "serve"):
        podman("rmi", f"{repo}:ci-{target}", f"localhost/qboost-ci:ci-{target}", check=False)
