"""A service's processes: run a set-up command, start with a clean environment, stop a process group, time the start."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time

#: Seconds each fixture took to come up, by fixture name (also printed).
STARTUP_TIMES: dict[str, float] = {}


def run_checked(cmd: list[str], *, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run cmd; on failure raise RuntimeError with its output."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def note_startup(name: str, start: float, detail: str = "") -> None:
    """Record (in :data:`STARTUP_TIMES`) and print how long fixture ``name`` took to come up since ``start`` (time.monotonic)."""
    seconds = time.monotonic() - start
    STARTUP_TIMES[name] = seconds
    print(f"\n[services] {name} up in {seconds:.1f}s{(' ' + detail) if detail else ''}", flush=True)


def clean_env(drop_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment without the variables whose names start with ``drop_prefixes``."""
    return {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}


def stop_process_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group led by ``process`` (started with start_new_session), then SIGKILL what is left.

    The grace is for the whole group, not only its leader: a ``sh -c`` leader
    exits at once, while the program under it is still stopping its own
    children (``python -m qboost_exp.ui`` stops ``mlflow ui``, which lives in
    a session of its own). A SIGKILL then would orphan those children.
    """
    if process.poll() is None or _group_alive(process.pid):
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while _group_alive(process.pid) and time.monotonic() < deadline:
            process.poll()  # reap the leader, so a dead leader does not keep the group alive
            time.sleep(0.1)
    try:  # workers may outlive the leader
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` is still running (zombies aside)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) also succeeds for zombies: look for a member that is not one.
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False
