"""Real services for integration tests: PostgreSQL, an MLflow tracking server on it, a Ray head.

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

import glob
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import system_packages

REQUIRE_ENV = "QBOOST_REQUIRE_SERVICES"
LOOPBACK = "127.0.0.1"

#: Seconds each fixture took to come up, by fixture name (also printed).
STARTUP_TIMES: dict[str, float] = {}


# --------------------------------------------------------------------------- helpers


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def log_tail(path: str | os.PathLike | None, lines: int = 60) -> str:
    if path is None:
        return ""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        return f"(no log at {path}: {e})"
    return "\n".join(text.splitlines()[-lines:])


def wait_for_http(
    url: str,
    timeout: float = 60.0,
    *,
    process: subprocess.Popen | None = None,
    log_path: str | os.PathLike | None = None,
    interval: float = 0.25,
) -> float:
    """Poll ``url`` until it answers HTTP 200; return the seconds waited.

    Raises RuntimeError early if ``process`` exits, TimeoutError after ``timeout``;
    either message ends with the tail of ``log_path``. Bypasses any HTTP(S)_PROXY.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    start = time.monotonic()
    last = "no answer yet"
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process {process.args!r} exited with {process.returncode} before {url} answered;"
                f" log {log_path}:\n{log_tail(log_path)}"
            )
        try:
            with opener.open(url, timeout=5) as response:
                if response.status == 200:
                    return time.monotonic() - start
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            last = repr(e)
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last}); log {log_path}:\n{log_tail(log_path)}")
        time.sleep(interval)


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def skip_or_fail(reason: str):
    """pytest.skip(reason), or pytest.fail when QBOOST_REQUIRE_SERVICES is set."""
    if _required():
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set, so this is an error rather than a skip)", pytrace=False)
    pytest.skip(reason)


def apt_install(packages: tuple[str, ...] | list[str], progress=None) -> None:
    """Install the Debian ``packages`` that are missing (:func:`system_packages.install`); a failure skips or fails the test.

    ``progress(text)``, if given, is told each command before it runs (a long first install is never silent).
    """
    error = system_packages.install(packages, progress)
    if error:
        skip_or_fail(error)


def http_request(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60):
    """One HTTP request to ``127.0.0.1:port``: ``(status, headers, body)``."""
    import http.client

    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _run(cmd: list[str], *, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run cmd; on failure raise RuntimeError with its output."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def _note_startup(name: str, start: float, detail: str = "") -> None:
    seconds = time.monotonic() - start
    STARTUP_TIMES[name] = seconds
    print(f"\n[services] {name} up in {seconds:.1f}s{(' ' + detail) if detail else ''}", flush=True)


def _clean_env(drop_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}


# ------------------------------------------------------------------------ PostgreSQL


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
    env = _clean_env(("PG",))  # no stray PGHOST/PGPORT/PGDATA/... from the caller
    try:
        _run(_prefixed(prefix, [
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
        _run(_prefixed(prefix, [
            str(bindir / "pg_ctl"), "-D", str(server.data_dir), "-l", str(log_path), "-w", "-t", "60", "start",
        ]), cwd=root, env=env, timeout=90)
        psql = [str(bindir / "psql"), "-h", str(root), "-p", str(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
        _run(_prefixed(prefix, [*psql, "-c", f"CREATE ROLE {user} LOGIN PASSWORD '{password}'"]), cwd=root, env=env)
        _run(_prefixed(prefix, [*psql, "-c", f"CREATE DATABASE {database} OWNER {user}"]), cwd=root, env=env)
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
    _note_startup("postgres_server", start, f"on {server.host}:{server.port} ({server.bindir})")
    try:
        yield server
    finally:
        stop_postgres(server)


# ---------------------------------------------------------------------------- MLflow


@dataclass
class MlflowServer:
    url: str  # http://127.0.0.1:PORT
    port: int
    log_path: Path
    artifacts_dir: Path  # where the server stores artifacts; clients go through the server
    backend_store_uri: str
    process: subprocess.Popen = field(repr=False)


def _stop_process_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group led by ``process`` (started with start_new_session), then SIGKILL."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # workers may outlive the leader
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


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
        **_clean_env(("MLFLOW_TRACKING_", "MLFLOW_REGISTRY_")),
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
    _stop_process_group(server.process)
    if not keep_dir:
        shutil.rmtree(server.log_path.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(postgres_server):
    start = time.monotonic()
    server = start_mlflow_server(postgres_server.sqlalchemy_url)
    _note_startup("mlflow_server", start, f"at {server.url} (log {server.log_path})")
    try:
        yield server
    finally:
        stop_mlflow_server(server)


# ------------------------------------------------------------------------------- Ray

#: Ray rewrites 127.0.0.1 to the machine's routable IP (both in `ray start` and in
#: ray.init(address=...)) unless this is "0" when `ray` is imported; with it, the head
#: binds to loopback only (an unauthenticated GCS must not face the LAN) and drivers
#: connect to 127.0.0.1. Drivers in other processes need it in their environment.
RAY_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@dataclass
class RayHead:
    address: str  # 127.0.0.1:PORT, for ray.init(address=...)
    port: int
    temp_dir: Path  # Ray's --temp-dir (session dirs and logs)
    log_path: Path  # output of `ray start`
    session_id: int  # Unix session of every process of this head
    env: dict[str, str]  # environment a driver process needs (see RAY_LOOPBACK_ENV)


def _ray_cli() -> list[str]:
    script = Path(sys.executable).with_name("ray")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]


def _session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes in Unix session ``sid``, from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp session ...
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def _kill_session(sid: int, grace: float = 5.0) -> None:
    """SIGTERM every process in session ``sid``, then SIGKILL what is left after ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        pids = _session_pids(sid)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(0.2)
            pids = _session_pids(sid)
        if not pids:
            return


def start_ray_head(*, num_cpus: int = 2, object_store_mb: int = 200, timeout: float = 120) -> RayHead:
    try:
        import ray  # noqa: F401
    except ImportError:
        skip_or_fail("ray is not installed: pip install .[ray] (hydra-ray-launcher==1.2.2)")
    # Short path: Ray's unix sockets live under it (108-byte limit).
    temp_dir = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
    log_path = Path(f"{temp_dir}.log")
    port = free_port()
    cmd = [
        *_ray_cli(), "start", "--head",
        "--port", str(port), "--node-ip-address", LOOPBACK,
        "--num-cpus", str(num_cpus), "--num-gpus", "0",
        "--object-store-memory", str(object_store_mb * 1024 * 1024),
        "--include-dashboard", "false", "--disable-usage-stats",
        "--temp-dir", str(temp_dir),
        # Ports that otherwise default to fixed numbers (10001, 8265, 52365): two heads
        # on one machine (parallel CI jobs, a developer's own cluster) would collide.
        "--ray-client-server-port", str(free_port()),
        "--dashboard-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()),
        "--log-style", "record", "--log-color", "false",
    ]
    # Ray workers inherit the head's environment: an MLFLOW_TRACKING_URI the test process exported
    # (mlflow.set_tracking_uri in an earlier test) would send the jobs' runs to that test's store.
    env = {**_clean_env(("RAY_ADDRESS", "MLFLOW_")), **RAY_LOOPBACK_ENV, "RAY_USAGE_STATS_ENABLED": "0"}
    # `ray start` daemonizes the head's processes and returns. In a new session, every one
    # of them (workers too; they get their own process groups) carries this session id,
    # so teardown kills exactly this head's processes -- unlike `ray stop`, which kills
    # every Ray process on the machine.
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd, cwd=temp_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    head = RayHead(
        address=f"{LOOPBACK}:{port}", port=port, temp_dir=temp_dir, log_path=log_path,
        session_id=process.pid, env=dict(RAY_LOOPBACK_ENV),
    )
    try:
        returncode = process.wait(timeout=timeout)
        if returncode != 0:
            raise RuntimeError(f"`ray start` exited with {returncode}; log {log_path}:\n{log_tail(log_path)}")
    except BaseException:
        stop_ray_head(head)
        raise
    return head


def stop_ray_head(head: RayHead) -> None:
    _kill_session(head.session_id)
    shutil.rmtree(head.temp_dir, ignore_errors=True)
    head.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def ray_head():
    start = time.monotonic()
    head = start_ray_head()
    # Drivers in this process: ray.init(address="127.0.0.1:...") must not be rewritten to
    # the LAN IP. Ray reads the variable when imported; set the module constant too in
    # case ray was imported already. Subprocesses (e.g. a CLI sweep) inherit the variable.
    saved = {k: os.environ.get(k) for k in RAY_LOOPBACK_ENV}
    os.environ.update(RAY_LOOPBACK_ENV)
    import ray._private.ray_constants as ray_constants
    import ray._private.services as ray_services

    saved_constant = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        resolved = ray_services.resolve_ip_for_localhost(LOOPBACK)
        if resolved != LOOPBACK:
            stop_ray_head(head)
            pytest.fail(f"this Ray rewrites {LOOPBACK} to {resolved}; the loopback-only head is unreachable", pytrace=False)
        _note_startup("ray_head", start, f"at {head.address} (temp dir {head.temp_dir})")
        yield head
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_constant
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stop_ray_head(head)
