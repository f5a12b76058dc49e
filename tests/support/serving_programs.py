"""The serving container programs under test: their environment, a running ``serve``, and the model they serve.

Shared by the container tests (tests/test_serving_*.py). The fixtures are
module-scoped: a test file that imports them builds its own, once, and
conftest keeps that file's tests on one xdist worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import system_packages
from services import apt_install, free_port, http_request, skip_or_fail, wait_for_http

REPO = Path(__file__).resolve().parents[2]
# `serving` lives at the repository root and is not part of the installed
# wheel; the container programs find it the same way (PYTHONPATH / the image's copy).
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BIN = REPO / "serving" / "container" / "bin"
LOOPBACK = "127.0.0.1"
# Every tree kind: SubspaceLearner stumps and depth-3 trees, bare AdaBoost trees (all compile).
MIXED_LEARNERS = (
    "weak_learners.params.members=[{name: stumps}, {name: trees, params: {n_estimators: 10, max_depth: 3}}, "
    "{name: adaboost, params: {n_estimators: 10, max_depth: 2}}]"
)
OVERRIDES = ["weak_learners=mixed", MIXED_LEARNERS, "sampler.params.num_reads=10", "lambda=0.002"]
FAKE_TOKEN = "DEV-fake-token-123"


def files_text(paths) -> str:
    """The bytes of every file among ``paths`` (directories skipped), as text: where a test looks for a leaked secret."""
    return "".join(p.read_bytes().decode("latin-1") for p in paths if p.is_file())


def program_env(**extra: str) -> dict[str, str]:
    """The environment of a container program: the test's, minus tracking and D-Wave settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "DWAVE_"))}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def server_software():
    """nginx (installed with apt-get when missing and root), gunicorn and flask."""
    for module in ("gunicorn", "flask"):
        try:
            __import__(module)
        except ImportError:
            skip_or_fail(f"{module} is not importable (it comes with mlflow): pip install {module}")
    from serving.container.serve import SettingError, find_nginx

    try:
        return find_nginx()
    except SettingError:
        pass
    if os.geteuid() != 0:
        skip_or_fail("nginx is not installed and we are not root: apt-get install -y nginx")
    apt_install(system_packages.PACKAGES["nginx"])
    return find_nginx()


def _train_mixed_model():
    from omegaconf import OmegaConf

    from qboost_exp.config import compose
    from qboost_exp.experiment import run_experiment

    cfg = compose(OVERRIDES)
    return run_experiment(cfg), OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture(scope="module")
def opt_ml(tmp_path_factory):
    """A /opt/ml tree whose model/ holds an MLflow model saved by qboost_exp.tracking.save_model."""
    from qboost_exp.tracking import save_model

    root = tmp_path_factory.mktemp("opt_ml")
    result, cfg = _train_mixed_model()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")  # inside MLflow
        save_model(result, cfg, root / "model")
    return root


@pytest.fixture(scope="module")
def reference(opt_ml):
    """What MLflow itself makes of the model directory: the pyfunc and the sklearn model."""
    import mlflow.pyfunc
    import mlflow.sklearn
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    rng = np.random.default_rng(7)
    # Real rows, then rows far from the training data (every split taken both ways).
    X = np.vstack([data.data, data.data[rng.integers(0, len(data.data), 200)] * rng.uniform(0.5, 1.5, (200, 30))])
    frame = pd.DataFrame(X, columns=list(data.feature_names))
    model = mlflow.sklearn.load_model(str(opt_ml / "model"))
    with warnings.catch_warnings():
        # MLflow's own input-example check trips a pandas deprecation warning.
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        labels = np.asarray(mlflow.pyfunc.load_model(str(opt_ml / "model")).predict(frame))
    return {
        "names": list(data.feature_names),
        "X": X,
        "labels": labels,
        "proba": model.predict_proba(frame)[:, 1],
        "margin": model.decision_function(frame),
        "model": model,
    }


class Server:
    """A running ``serve`` program."""

    def __init__(self, process: subprocess.Popen, port: int, log: Path, ready_seconds: float) -> None:
        self.process, self.port, self.log, self.ready_seconds = process, port, log, ready_seconds

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60):
        return http_request(self.port, method, path, body, headers, timeout)

    def invoke(self, body: bytes | str, content_type: str | None = "text/csv", headers: dict[str, str] | None = None):
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        return self.request("POST", "/invocations", body.encode() if isinstance(body, str) else body, sent)

    def gunicorn_pids(self) -> tuple[int, set[int]]:
        """(master, workers): the serve process's gunicorn child and its children."""
        master = [p for p in live_children(self.process.pid) if b"gunicorn" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(master) == 1, master
        return master[0], set(live_children(master[0]))

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:  # a failed test: leave nothing behind
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def live_children(pid: int) -> list[int]:
    """The live children of ``pid``: a child killed but not yet reaped (a zombie) is gone already, and not listed."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
            if int(parent) == pid and state not in ("Z", "X"):
                found.append(int(entry))
    return found


def start_server(cmd: list[str], log: Path, env: dict[str, str], port: int) -> Server:
    start = time.monotonic()
    with open(log, "wb") as out:
        # Its own session: a failing test can kill nginx and gunicorn with it.
        process = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://{LOOPBACK}:{port}/ping", timeout=90, process=process, log_path=log, interval=0.02)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return Server(process, port, log, time.monotonic() - start)


def _serving(opt_ml, tmp_path_factory, *options: str):
    """``python -m serving.container.serve --opt-ml ROOT OPTIONS`` on a free loopback port, 2 workers; stopped with SIGTERM."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    cmd = [sys.executable, "-m", "serving.container.serve", "--opt-ml", str(opt_ml), "--port", str(port), "--host", LOOPBACK, *options]
    srv = start_server(cmd, log, program_env(MODEL_SERVER_WORKERS="2"), port)
    print(f"\n[serve{' ' if options else ''}{' '.join(options)}] /ping answered 200 {srv.ready_seconds:.2f} s after the process started", flush=True)
    # gunicorn forks its workers one after the other; wait for both before noting their pids
    # (the deadline is a safety net for a loaded machine, not a measure).
    deadline = time.monotonic() + 120
    while len(srv.gunicorn_pids()[1]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.initial_pids = srv.gunicorn_pids()
    assert len(srv.initial_pids[1]) == 2, srv.initial_pids
    yield srv
    code = srv.stop()
    assert code == 0, f"serve {' '.join(options)} exited with {code} on SIGTERM; log:\n{log.read_text()[-3000:]}"


@pytest.fixture(scope="module")
def server(server_software, opt_ml, tmp_path_factory):
    """nginx + gunicorn, as the image runs them."""
    yield from _serving(opt_ml, tmp_path_factory)


@pytest.fixture(scope="module")
def plain_server(server_software, opt_ml, tmp_path_factory):
    """``--no-nginx``: gunicorn alone on the port."""
    yield from _serving(opt_ml, tmp_path_factory, "--no-nginx")


def csv_body(X: np.ndarray, header: list[str] | None = None) -> str:
    lines = [",".join(map(repr, row)) for row in X.tolist()]
    return "\n".join(([",".join(header)] if header else []) + lines) + "\n"


def predictions_of(status: int, headers: dict, body: bytes, media: str = "application/json") -> list:
    assert status == 200, body
    assert headers["Content-Type"].startswith(media)
    if media == "application/json":
        return json.loads(body)["predictions"]
    return body.decode().splitlines()

