"""A Ray head on loopback: the session fixture ``ray_head`` -> :class:`RayHead` (``.address`` = ``127.0.0.1:PORT``, ``.env``).

Linux only: the head's processes are found (and killed) through /proc.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopback import LOOPBACK, free_port, log_tail
from service_install import skip_or_fail
from service_process import clean_env, note_startup


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
    env = {**clean_env(("RAY_ADDRESS", "MLFLOW_")), **RAY_LOOPBACK_ENV, "RAY_USAGE_STATS_ENABLED": "0"}
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
        note_startup("ray_head", start, f"at {head.address} (temp dir {head.temp_dir})")
        yield head
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_constant
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stop_ray_head(head)
