"""Local SQLite stores for fault tests: one created as the CLI would, paths even root cannot write."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_process import cli_env


def immutable(path: Path) -> None:
    """``chattr +i``: even root cannot write it (permission bits do not stop root); skip where unsupported."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: cannot make a path read-only for root")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i {path} failed ({done.stderr.strip()}): this file system or container does not allow it")


def mutable(path: Path) -> None:
    subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def create_store(db: Path) -> None:
    """A SQLite store with the experiment, created in a fresh process (as the CLI would)."""
    code = f"from qboost_exp.tracking import prepare_store; prepare_store('sqlite:///{db}', 'qboost')"
    subprocess.run([sys.executable, "-c", code], cwd=db.parent, env=cli_env(), check=True, capture_output=True, timeout=120)
