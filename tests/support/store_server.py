"""An ``mlflow server`` on a SQLite store that a test kills with SIGKILL and restarts: the ``servers`` fixture.

Unlike :mod:`mlflow_service` (one PostgreSQL-backed server for the session),
each test starts its own servers, on loopback, and kills them when it likes;
a server restarted on the same root and port is the same store at the same
address. The fixture kills whatever is left at the end of the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopback import LOOPBACK, free_port, wait_for_http


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
