"""A throw-away PostgreSQL cluster: the session fixture ``postgres_server`` -> :class:`PostgresServer`.

The cluster lives in a temp dir, listens on 127.0.0.1 only, and has database
``mlflow``. PostgreSQL is installed with apt-get when missing and running as
root (:mod:`service_install`). Debian/Ubuntu layout (/usr/lib/postgresql/*/bin).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import system_packages
from loopback import LOOPBACK, free_port, log_tail
from service_install import apt_install, skip_or_fail
from service_process import clean_env, note_startup, run_checked


@dataclass
class PostgresServer:
    url: str  # postgresql://user:password@127.0.0.1:PORT/mlflow
    host: str
    port: int
    user: str
    password: str
    database: str
    root: Path  # temp dir: data/, the unix socket, postgres.log
    bindir: Path
    log_path: Path
    _as_owner: list[str] = field(repr=False, default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def sqlalchemy_url(self) -> str:
        """``url`` with the driver named: SQLAlchemy 2.1 maps plain ``postgresql://`` to
        psycopg 3, 2.0 to psycopg2; this pins psycopg2 (psycopg2-binary) under both."""
        return self.url.replace("postgresql://", "postgresql+psycopg2://", 1)


def _pg_version_key(bindir: str) -> tuple[int, ...]:
    version = Path(bindir).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(x) for x in re.findall(r"\d+", version)) or (0,)


def find_postgres_bindir() -> Path | None:
    """Newest /usr/lib/postgresql/*/bin with initdb, pg_ctl, postgres and psql; else from PATH."""
    needed = ("initdb", "pg_ctl", "postgres", "psql")
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_pg_version_key, reverse=True):
        if all(os.access(os.path.join(bindir, tool), os.X_OK) for tool in needed):
            return Path(bindir)
    on_path = [shutil.which(tool) for tool in needed]
    if all(on_path) and len({os.path.dirname(p) for p in on_path}) == 1:
        return Path(on_path[0]).parent
    return None


def ensure_postgres_installed() -> Path:
    """The PostgreSQL bin dir; installs the Debian package when missing and we are root."""
    bindir = find_postgres_bindir()
    if bindir is not None:
        return bindir
    hint = "install PostgreSQL server binaries (Debian/Ubuntu: apt-get install -y postgresql)"
    print("\n[services] PostgreSQL missing: apt-get install -y postgresql", flush=True)
    apt_install(system_packages.PACKAGES["postgres"])
    # The package may have created (and, with systemd, started) a default cluster on
    # port 5432; we leave it alone and never use it.
    bindir = find_postgres_bindir()
    if bindir is None:
        skip_or_fail(f"apt-get installed postgresql but no server binaries under /usr/lib/postgresql/*/bin: {hint}")
    return bindir


def _as_postgres_user() -> tuple[list[str], tuple[int, int] | None]:
    """Command prefix that runs a program as the `postgres` OS user (postgres won't run as root)."""
    if os.geteuid() != 0:
        return [], None  # run as ourselves
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        skip_or_fail("running as root but there is no `postgres` OS user to run PostgreSQL as (the Debian package creates it)")
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"], (pw.pw_uid, pw.pw_gid)
    return ["su", "postgres", "-s", "/bin/sh", "-c"], (pw.pw_uid, pw.pw_gid)


def _prefixed(prefix: list[str], cmd: list[str]) -> list[str]:
    if prefix and prefix[0] == "su":
        return [*prefix, shlex.join(cmd)]
    return [*prefix, *cmd]


def start_postgres(user: str = "mlflow", database: str = "mlflow") -> PostgresServer:
    bindir = ensure_postgres_installed()
    prefix, owner = _as_postgres_user()
    # Not under pytest's tmp dirs: those are 0700 root, and the `postgres` user must reach it.
    root = Path(tempfile.mkdtemp(prefix="qb-pg-"))
    if owner is not None:
        os.chown(root, *owner)
    port = free_port()
    password = secrets.token_hex(16)
    log_path = root / "postgres.log"
    server = PostgresServer(
        url=f"postgresql://{user}:{password}@{LOOPBACK}:{port}/{database}",
        host=LOOPBACK, port=port, user=user, password=password, database=database,
        root=root, bindir=bindir, log_path=log_path, _as_owner=prefix,
    )
    env = clean_env(("PG",))  # no stray PGHOST/PGPORT/PGDATA/... from the caller
    try:
        run_checked(_prefixed(prefix, [
            str(bindir / "initdb"), "-D", str(server.data_dir), "-U", "postgres",
            "--auth-local=trust", "--auth-host=scram-sha-256",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ]), cwd=root, env=env)
        with open(server.data_dir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# qboost-exp test cluster\n"
                f"listen_addresses = '{LOOPBACK}'\n"
                f"port = {port}\n"
                f"unix_socket_directories = '{root}'\n"
                # Throw-away data: skip durability, keep memory small.
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "shared_buffers = 32MB\nmax_connections = 100\n"
            )
        run_checked(_prefixed(prefix, [
            str(bindir / "pg_ctl"), "-D", str(server.data_dir), "-l", str(log_path), "-w", "-t", "60", "start",
        ]), cwd=root, env=env, timeout=90)
        psql = [str(bindir / "psql"), "-h", str(root), "-p", str(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
        run_checked(_prefixed(prefix, [*psql, "-c", f"CREATE ROLE {user} LOGIN PASSWORD '{password}'"]), cwd=root, env=env)
        run_checked(_prefixed(prefix, [*psql, "-c", f"CREATE DATABASE {database} OWNER {user}"]), cwd=root, env=env)
    except BaseException as e:
        tail = log_tail(log_path)  # before stop_postgres deletes it
        stop_postgres(server)
        if isinstance(e, (RuntimeError, subprocess.TimeoutExpired)):
            raise RuntimeError(f"PostgreSQL did not start: {e}\nlog {log_path}:\n{tail}") from e
        raise
    return server


def stop_postgres(server: PostgresServer) -> None:
    """pg_ctl stop -m fast (kill the postmaster by pid if that fails), then delete the dir."""
    data = server.data_dir
    if (data / "postmaster.pid").exists():
        result = subprocess.run(
            _prefixed(server._as_owner, [str(server.bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"]),
            capture_output=True, text=True, cwd=server.root, stdin=subprocess.DEVNULL, timeout=60, check=False,
        )
        if result.returncode != 0:
            try:
                pid = int((data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    start = time.monotonic()
    server = start_postgres()
    note_startup("postgres_server", start, f"on {server.host}:{server.port} ({server.bindir})")
    try:
        yield server
    finally:
        stop_postgres(server)

