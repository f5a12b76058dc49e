"""A real single-node SLURM cluster with accounting, on loopback, for the sweep tests.

Session-scoped fixture ``slurm_cluster`` -> :class:`SlurmCluster` (``.env``: what a client
such as ``sbatch``/``sacct``/submitit needs, ``.partition``, ``.node``, ...). Everything lives
in one temp dir: munged on its own socket, MariaDB in its own data dir (for slurmdbd),
slurmdbd, slurmctld and slurmd in the foreground, each in its own session so teardown stops
exactly these processes. Nothing listens anywhere but 127.0.0.1.

Needs root (SLURM's daemons run as root here, munged as ``munge``, MariaDB as ``mysql``);
the Debian packages ``slurm-wlm munge slurmdbd mariadb-server`` are installed with apt-get
when missing. Otherwise the fixture skips (fails under QBOOST_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import system_packages
from services import LOOPBACK, _note_startup, _run, _stop_process_group, apt_install, free_port, log_tail, skip_or_fail

PACKAGES = system_packages.PACKAGES["slurm"]
PROGRAMS = ("munge", "unmunge", "slurmctld", "slurmd", "slurmdbd", "sbatch", "sacct", "sacctmgr", "sinfo", "munged", "mariadbd", "mariadb-install-db", "mariadb")
CLUSTER = "qboost"
PARTITION = "cpu"


@dataclass
class SlurmCluster:
    root: Path
    conf: Path  # slurm.conf (slurmdbd.conf beside it)
    node: str  # the node name: `hostname -s`
    partition: str
    cpus: int
    env: dict[str, str]  # SLURM_CONF for clients
    processes: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    def log(self, daemon: str) -> Path:
        return self.root / "log" / f"{daemon}.log"

    def sacct(self, *args: str) -> str:
        return _run(["sacct", "--noheader", "--parsable2", *args], env={**os.environ, **self.env}).stdout


def _ensure_installed() -> None:
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if not missing:
        return
    print(f"\n[services] SLURM missing ({', '.join(missing)}): apt-get install -y {' '.join(PACKAGES)}", flush=True)
    apt_install(PACKAGES)
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        skip_or_fail(f"apt-get installed {' '.join(PACKAGES)} but {', '.join(missing)} are still missing")


def _owned_dir(path: Path, user: str, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    path.chmod(mode)
    return path


def _start(cluster: SlurmCluster, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(cluster.log(name), "ab") as log:
        process = subprocess.Popen(
            cmd, cwd=cluster.root, env={**os.environ, **cluster.env, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    cluster.processes[name] = process
    return process


def _wait(what: str, check, cluster: SlurmCluster, daemon: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        process = cluster.processes.get(daemon)
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{daemon} exited with {process.returncode} before {what}; log:\n{log_tail(cluster.log(daemon))}")
        try:
            if check():
                return
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            last = str(e)
        time.sleep(0.3)
    raise TimeoutError(f"{what} not within {timeout:.0f}s ({last[-500:]}); {daemon} log:\n{log_tail(cluster.log(daemon))}")


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 1024


def _munge_works() -> bool:
    encoded = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    return encoded.returncode == 0 and subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True, timeout=10).returncode == 0


def _start_munge(cluster: SlurmCluster) -> None:
    """munged on its standard socket (SLURM's client commands find it there); reused if one runs already."""
    if _munge_works():
        return
    run_dir = _owned_dir(Path("/run/munge"), "munge", 0o755)
    _start(cluster, "munged", [
        "runuser", "-u", "munge", "--", "munged", "--foreground", f"--log-file={cluster.root / 'munge' / 'munged.log'}",
    ])
    _wait("munged", lambda: (run_dir / "munge.socket.2").exists() and _munge_works(), cluster, "munged", 30)


def _start_mariadb(cluster: SlurmCluster, password: str) -> int:
    data = _owned_dir(cluster.root / "mysql" / "data", "mysql", 0o750)
    # The socket and pid file must be in a directory mysql owns, or MariaDB fails silently.
    run_dir = _owned_dir(cluster.root / "mysql" / "run", "mysql", 0o755)
    _run(["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={data}", "--auth-root-authentication-method=socket",
          "--skip-test-db"], timeout=180)
    port = free_port()
    sock = run_dir / "mysqld.sock"
    _start(cluster, "mariadbd", [
        "mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}", f"--socket={sock}", f"--pid-file={run_dir / 'mysqld.pid'}",
        f"--port={port}", f"--bind-address={LOOPBACK}", "--innodb-buffer-pool-size=64M", "--innodb-lock-wait-timeout=900",
        "--skip-name-resolve", f"--log-error={cluster.log('mariadbd')}",
    ])
    client = ["mariadb", "--no-defaults", f"--socket={sock}", "-u", "root"]
    _wait("MariaDB", lambda: subprocess.run([*client, "-e", "SELECT 1"], capture_output=True, timeout=10).returncode == 0, cluster, "mariadbd", 60)
    _run([*client, "-e",
          f"CREATE USER 'slurm'@'{LOOPBACK}' IDENTIFIED BY '{password}'; "
          f"GRANT ALL ON slurm_acct_db.* TO 'slurm'@'{LOOPBACK}'; FLUSH PRIVILEGES;"])
    return port


def start_slurm() -> SlurmCluster:
    _ensure_installed()
    if os.geteuid() != 0:
        skip_or_fail("the SLURM test cluster runs its daemons as root")
    node = socket.gethostname().split(".")[0]
    # Not under pytest's tmp dirs (0700 root): munge and mysql must reach their directories.
    root = Path(tempfile.mkdtemp(prefix="qb-slurm-"))
    root.chmod(0o755)
    for sub in ("log", "state", "spool", "run"):
        (root / sub).mkdir()
    conf = root / "etc" / "slurm.conf"
    conf.parent.mkdir()
    cpus = os.cpu_count() or 1
    cluster = SlurmCluster(root=root, conf=conf, node=node, partition=PARTITION, cpus=cpus, env={"SLURM_CONF": str(conf)})
    try:
        _owned_dir(root / "munge", "munge", 0o755)
        _start_munge(cluster)
        password = secrets.token_hex(12)
        db_port = _start_mariadb(cluster, password)
        dbd_port, ctld_port, slurmd_port = free_port(), free_port(), free_port()
        auth = "AuthType=auth/munge\n"
        dbd_conf = conf.parent / "slurmdbd.conf"
        dbd_conf.write_text(
            auth
            + f"DbdHost=localhost\nDbdAddr={LOOPBACK}\nDbdPort={dbd_port}\nSlurmUser=root\n"
            f"StorageType=accounting_storage/mysql\nStorageHost={LOOPBACK}\nStoragePort={db_port}\n"
            f"StorageUser=slurm\nStoragePass={password}\nStorageLoc=slurm_acct_db\n"
            f"PidFile={root / 'run' / 'slurmdbd.pid'}\nLogFile={cluster.log('slurmdbd')}\nDebugLevel=info\n"
        )
        dbd_conf.chmod(0o600)  # slurmdbd refuses a readable file: it holds the DB password
        conf.write_text(
            f"ClusterName={CLUSTER}\nSlurmctldHost={node}({LOOPBACK})\n"
            + auth
            + f"SlurmctldPort={ctld_port}\nSlurmdPort={slurmd_port}\n"
            "SlurmUser=root\nSlurmdUser=root\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
            "MpiDefault=none\nReturnToService=2\nJobAcctGatherType=jobacct_gather/none\n"
            f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost={LOOPBACK}\nAccountingStoragePort={dbd_port}\n"
            f"StateSaveLocation={root / 'state'}\nSlurmdSpoolDir={root / 'spool'}\n"
            f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}\nSlurmdPidFile={root / 'run' / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={cluster.log('slurmctld')}\nSlurmdLogFile={cluster.log('slurmd')}\n"
            "SlurmctldTimeout=30\nSlurmdTimeout=30\nInactiveLimit=0\nMinJobAge=300\nKillWait=5\nWaitTime=0\n"
            f"NodeName={node} NodeAddr={LOOPBACK} CPUs={cpus} RealMemory={max(256, _memory_mb() - 1024)} State=UNKNOWN\n"
            f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP\n"
        )
        _start(cluster, "slurmdbd", ["slurmdbd", "-D"])
        client_env = {**os.environ, **cluster.env}

        def cluster_added() -> bool:
            result = subprocess.run(["sacctmgr", "-i", "add", "cluster", CLUSTER], capture_output=True, text=True, timeout=20, env=client_env)
            if result.returncode == 0 or "already exists" in (result.stdout + result.stderr).lower():
                return True
            raise RuntimeError(result.stdout + result.stderr)

        _wait("slurmdbd accepting sacctmgr", cluster_added, cluster, "slurmdbd", 90)
        _start(cluster, "slurmctld", ["slurmctld", "-D", "-i", "-f", str(conf)])
        _start(cluster, "slurmd", ["slurmd", "-D", "-f", str(conf)])

        def node_idle() -> bool:
            out = subprocess.run(["sinfo", "--noheader", "-n", node, "-o", "%T"], capture_output=True, text=True, timeout=10, env=client_env)
            return out.returncode == 0 and out.stdout.strip().rstrip("*") == "idle"

        _wait(f"node {node} idle", node_idle, cluster, "slurmctld", 90)
    except BaseException as e:
        logs = "\n".join(f"--- {name}:\n{log_tail(cluster.log(name), 20)}" for name in ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd"))
        stop_slurm(cluster)
        if isinstance(e, (RuntimeError, TimeoutError, subprocess.TimeoutExpired)):
            raise RuntimeError(f"the SLURM test cluster did not start: {e}\n{logs}") from e
        raise
    return cluster


def stop_slurm(cluster: SlurmCluster) -> None:
    # Reverse order of start: compute nodes first, the database last.
    for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
        process = cluster.processes.get(name)
        if process is not None:
            _stop_process_group(process, grace=20)
    shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster():
    start = time.monotonic()
    cluster = start_slurm()
    _note_startup("slurm_cluster", start, f"node {cluster.node}, partition {cluster.partition}, {cluster.cpus} CPUs ({cluster.root})")
    try:
        yield cluster
    finally:
        stop_slurm(cluster)
