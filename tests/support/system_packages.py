"""The Debian packages the test suite needs, and the one way it installs them.

Every fixture that needs a system program (PostgreSQL, SLURM, podman, nginx,
Chromium, shellcheck) installs its entry of :data:`PACKAGES` through
:func:`install`. ``.ci/run`` installs them all at once before the tests start
(``python3 tests/support/system_packages.py``, beside the pip install), so that no
test waits for apt. :func:`install` holds a file lock while apt runs: two
pytest-xdist workers (or that first install and a worker) never race for
dpkg's lock, and the second finds the packages installed.

Plain Python (no third-party import): it runs before the virtualenv exists.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from typing import Callable, Iterable

#: What each feature of the suite installs (Debian package names).
PACKAGES: dict[str, tuple[str, ...]] = {
    "postgres": ("postgresql",),
    "slurm": ("slurm-wlm", "munge", "slurmdbd", "mariadb-server"),
    "podman": ("podman", "runc", "mmdebstrap"),
    # Docker's API for Docker's clients (the SageMaker SDK's local mode): docker-compose, and a docker command.
    "docker-api": ("docker-compose", "podman-docker"),
    "nginx": ("nginx",),
    "chromium": ("chromium",),
    "shellcheck": ("shellcheck",),
    "chattr": ("e2fsprogs",),
}
LOCK_FILE = "/tmp/qboost-tests-apt.lock"
#: apt-get update runs at most once in this long (a stamp file says when it last did).
UPDATE_STAMP = "/tmp/qboost-tests-apt.updated"
UPDATE_MAX_AGE = 3600.0


def missing(packages: Iterable[str]) -> list[str]:
    """The packages of ``packages`` that dpkg does not have installed."""
    absent = []
    for package in packages:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if status.returncode != 0 or not status.stdout.endswith("install ok installed"):
            absent.append(package)
    return absent


def _run(cmd: list[str], timeout: float, progress: Callable[[str], None] | None) -> str | None:
    if progress is not None:
        progress(" ".join(cmd))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"{' '.join(cmd)} did not finish within {timeout:.0f} s"
    return None if done.returncode == 0 else f"{' '.join(cmd)} failed: {done.stderr[-2000:]}"


def install(packages: Iterable[str], progress: Callable[[str], None] | None = None, timeout: float = 1200) -> str | None:
    """Install the ``packages`` dpkg lacks (``apt-get update`` first, if not done within the hour); None, or why it failed."""
    packages = list(packages)
    if not missing(packages):
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{', '.join(missing(packages))} not installed, and apt-get cannot run here (needs root and apt-get)"
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one apt at a time across the suite's processes
        absent = missing(packages)  # another process may have installed them while this one waited
        if not absent:
            return None
        if not os.path.exists(UPDATE_STAMP) or time.time() - os.path.getmtime(UPDATE_STAMP) > UPDATE_MAX_AGE:
            error = _run(["apt-get", "update", "-q"], 600, progress)
            if error:
                return error
            with open(UPDATE_STAMP, "w"):
                pass
        lock_wait = ["-o", "DPkg::Lock::Timeout=600"]  # an apt run outside the suite (unattended upgrades)
        return _run(["apt-get", "install", "-y", "-q", *lock_wait, "--no-install-recommends", *absent], timeout, progress)


def main() -> int:
    everything = sorted({p for group in PACKAGES.values() for p in group})
    start = time.monotonic()
    error = install(everything, progress=lambda cmd: print(f"[system packages] {cmd}", flush=True))
    if error:
        print(f"[system packages] {error}", file=sys.stderr, flush=True)
        return 1
    print(f"[system packages] {len(everything)} packages ready in {time.monotonic() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
