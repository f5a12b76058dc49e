"""The SageMaker image itself, built with podman and run the way SageMaker runs it.

The image is built once per session (tests/_podman.py) from a ``package
--wheelhouse`` build context, offline, on a Debian base made locally. Then:
``podman run -p PORT:8080 IMAGE serve`` answers /ping and gives MLflow's
predictions row for row (CSV and JSON); ``podman stop`` lets an in-flight
request finish and the container exits 0; ``podman run -v DIR:/opt/ml IMAGE
train`` writes a model that the image then serves, mounted over
/opt/ml/model; a bad hyperparameter writes /opt/ml/output/failure; and
docker/build_and_push.sh builds, tags and "pushes" with podman as its engine.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from _podman import build_image
from clirun import REPO
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


def test_serve_answers_ping_and_mlflows_predictions_and_stops_cleanly(podman, sagemaker_image, containers):
    image = sagemaker_image
    t0 = time.monotonic()
    container = start(podman, image.tag, "serve")
    containers.append(container)
    waited = wait_for_http(f"http://{LOOPBACK}:{container.port}/ping", timeout=120, interval=0.05)
    print(f"\n[image] /ping 200 {time.monotonic() - t0:.2f} s after podman run ({waited:.2f} s of polling)")

    status, headers, body = container.request("GET", "/ping")
    assert status == 200, container.logs()
    # A QBoost model of trees: the image predicts through qboost_exp.compiled (the model's own copy).
    assert "predicting compiled: " in container.logs()
    X, names = _features()
    expected = _mlflow_labels(image.context.path / "model", X)
    assert len(set(expected)) == 2  # both classes: a constant answer could not pass

    status, headers, body = container.request("POST", "/invocations", _csv(X), {"Content-Type": "text/csv; charset=utf-8"})
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/csv")
    assert [int(v) for v in body.decode().splitlines()] == expected

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
    time.sleep(0.3)
    stopping: dict[str, subprocess.CompletedProcess] = {}
    stopper = threading.Thread(target=lambda: stopping.update(done=podman("stop", "-t", "60", container.name, timeout=120, check=False)))
    stopper.start()
    time.sleep(1.5)
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


def test_train_writes_a_model_the_image_serves_mounted_over_opt_ml_model(podman, sagemaker_image, containers, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    opt_ml = tmp_path / "opt_ml"
    (opt_ml / "input" / "config").mkdir(parents=True)
    (opt_ml / "input" / "data" / "training").mkdir(parents=True)
    (opt_ml / "model").mkdir()
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"sampler.params.num_reads": "10", "seed": "2"}))
    rows = "\n".join(",".join([str(label), *map(repr, row)]) for label, row in zip(y, X.tolist()))
    (opt_ml / "input" / "data" / "training" / "train.csv").write_text(rows + "\n")

    done = podman("run", "--rm", "-v", f"{opt_ml}:/opt/ml", sagemaker_image.tag, "train", timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "train: model saved to /opt/ml/model" in done.stdout
    assert (opt_ml / "model" / "MLmodel").is_file() and not (opt_ml / "output" / "failure").exists()

    # SageMaker mounts the training job's model over /opt/ml/model: this 5-feature model, not the baked-in 30-feature one.
    container = start(podman, sagemaker_image.tag, "serve", volumes=(f"{opt_ml / 'model'}:/opt/ml/model:ro",))
    containers.append(container)
    wait_for_http(f"http://{LOOPBACK}:{container.port}/ping", timeout=120, interval=0.05)
    expected = _mlflow_labels(opt_ml / "model", X)
    status, _, body = container.request("POST", "/invocations", _csv(X), {"Content-Type": "text/csv"})
    assert status == 200, body
    assert [int(v) for v in body.decode().splitlines()] == expected
    assert float(np.mean(np.array(expected) == y)) > 0.7  # learned the boundary (chance is 0.5)


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


def test_build_and_push_builds_and_tags_with_podman(podman, base_image, sagemaker_image, tmp_path):
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
    done = subprocess.run([str(SCRIPT), "qboost-ci", "eu-west-1", str(sagemaker_image.context.path)], env=env,
                          capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-4000:]
    uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/qboost-ci:ci"
    assert done.stdout == f"{uri}\n"
    log = calls.read_text().splitlines()
    assert f"podman build --platform linux/amd64 --build-arg BASE_IMAGE={base_image} -t qboost-ci:ci {sagemaker_image.context.path}" in log
    assert log[-1] == f"podman push {uri}"
    # The pushed tag exists and runs the SageMaker programs.
    assert podman.image_exists(uri)
    assert podman("run", "--rm", uri, "sh", "-c", "command -v serve && command -v train").stdout.split() == ["/usr/local/bin/serve", "/usr/local/bin/train"]
    print(f"\n[image] build_and_push.sh (cached build) {time.monotonic() - start_time:.1f} s")
    podman("rmi", uri, "localhost/qboost-ci:ci", check=False)
