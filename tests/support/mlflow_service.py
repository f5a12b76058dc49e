"""An MLflow tracking server on PostgreSQL: the session fixture ``mlflow_server`` -> :class:`MlflowServer`.

``mlflow server`` backed by ``postgres_server``, serving artifacts itself
(``mlflow-artifacts:`` URIs), on 127.0.0.1.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loopback import LOOPBACK, free_port, wait_for_http
from service_install import skip_or_fail
from service_process import clean_env, note_startup, stop_process_group


@dataclass
class MlflowServer:
    url: str  # http://127.0.0.1:PORT
    port: int
    log_path: Path
    artifacts_dir: Path  # where the server stores artifacts; clients go through the server
    backend_store_uri: str
    process: subprocess.Popen = field(repr=False)


def start_mlflow_server(backend_store_uri: str, *, workers: int = 1, timeout: float = 180) -> MlflowServer:
    # One uvicorn worker (~250 MB, its thread pool serves concurrent clients) comes up in
    # ~11 s on 2 cores; two workers importing MLflow side by side took ~25 s.
    try:
        import psycopg2  # noqa: F401  (MLflow's SQLAlchemy store talks to PostgreSQL through it)
    except ImportError:
        skip_or_fail("psycopg2 is not installed: pip install psycopg2-binary (in the project's test extra)")
    root = Path(tempfile.mkdtemp(prefix="qb-mlflow-"))
    artifacts = root / "artifacts"
    artifacts.mkdir()
    log_path = root / "server.log"
    port = free_port()
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--serve-artifacts", "--artifacts-destination", str(artifacts),  # new experiments get mlflow-artifacts:/
        "--host", LOOPBACK, "--port", str(port),
        "--workers", str(workers),
        # 127.0.0.1:* and localhost:* pass MLflow 3's default Host-header check; no --allowed-hosts needed.
    ]
    env = {
        **clean_env(("MLFLOW_TRACKING_", "MLFLOW_REGISTRY_")),
        # MLflow 3 otherwise also starts a huey job-runner (GenAI jobs) next to the web workers.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PYTHONUNBUFFERED": "1",
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn workers die with it
        )
    server = MlflowServer(
        url=f"http://{LOOPBACK}:{port}", port=port, log_path=log_path, artifacts_dir=artifacts,
        backend_store_uri=backend_store_uri, process=process,
    )
    try:
        wait_for_http(f"{server.url}/health", timeout, process=process, log_path=log_path)
    except BaseException:
        stop_mlflow_server(server, keep_dir=True)
        raise
    return server


def stop_mlflow_server(server: MlflowServer, keep_dir: bool = False) -> None:
    stop_process_group(server.process)
    if not keep_dir:
        shutil.rmtree(server.log_path.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(postgres_server):
    start = time.monotonic()
    server = start_mlflow_server(postgres_server.sqlalchemy_url)
    note_startup("mlflow_server", start, f"at {server.url} (log {server.log_path})")
    try:
        yield server
    finally:
        stop_mlflow_server(server)

