"""Real services for integration tests: PostgreSQL, an MLflow tracking server on it, a Ray head.

One module a job; this one gathers their names, so that ``from services import ...`` keeps working:

* :mod:`loopback`: ``LOOPBACK``, ``free_port``, ``wait_for_http``, ``http_request``, ``log_tail``.
* :mod:`service_install`: ``apt_install``, ``skip_or_fail`` (missing software: install it, or skip).
* :mod:`service_process`: ``run_checked``, ``clean_env``, ``stop_process_group``, ``note_startup``, ``STARTUP_TIMES``.
* :mod:`postgres_service`, :mod:`mlflow_service`, :mod:`ray_service`: one service each.

Session-scoped pytest fixtures (import them into conftest.py):

* ``postgres_server``  -> :class:`PostgresServer` (``.url``, ``.port``, ...): a throw-away
  cluster in a temp dir, listening on 127.0.0.1 only, with database ``mlflow``.
* ``mlflow_server``    -> :class:`MlflowServer` (``.url``, ``.log_path``, ...): ``mlflow server``
  backed by ``postgres_server``, serving artifacts itself (``mlflow-artifacts:`` URIs).
* ``ray_head``         -> :class:`RayHead` (``.address`` = ``127.0.0.1:PORT``, ``.env``, ...).

Missing software: PostgreSQL is installed with apt-get when running as root; otherwise, and
for missing Python packages, the fixture skips with the reason. Set QBOOST_REQUIRE_SERVICES=1
(CI) to turn those skips into failures, so a broken setup can't pass as "skipped".

Linux only (Debian/Ubuntu layout for PostgreSQL; /proc for Ray's processes).
"""

from __future__ import annotations

from loopback import LOOPBACK, free_port, http_request, log_tail, wait_for_http
from mlflow_service import MlflowServer, mlflow_server, start_mlflow_server, stop_mlflow_server
from postgres_service import PostgresServer, ensure_postgres_installed, find_postgres_bindir, postgres_server, start_postgres, stop_postgres
from ray_service import RAY_LOOPBACK_ENV, RayHead, ray_head, start_ray_head, stop_ray_head
from service_install import REQUIRE_ENV, apt_install, skip_or_fail
from service_process import STARTUP_TIMES, clean_env, note_startup, run_checked, stop_process_group

# The names these had when they lived here (tests/support/slurm.py imports them).
_run = run_checked
_note_startup = note_startup
_stop_process_group = stop_process_group

__all__ = [
    "LOOPBACK", "REQUIRE_ENV", "STARTUP_TIMES", "RAY_LOOPBACK_ENV",
    "free_port", "http_request", "log_tail", "wait_for_http",
    "apt_install", "skip_or_fail",
    "clean_env", "note_startup", "run_checked", "stop_process_group",
    "PostgresServer", "ensure_postgres_installed", "find_postgres_bindir", "postgres_server", "start_postgres", "stop_postgres",
    "MlflowServer", "mlflow_server", "start_mlflow_server", "stop_mlflow_server",
    "RayHead", "ray_head", "start_ray_head", "stop_ray_head",
]
