#!/usr/bin/env python3
"""Set up and run qboost-exp with nothing but Python >= 3.10 and pip.

    python3 tasks.py run [HYDRA OVERRIDES...]   # venv + install + one training run
    python3 tasks.py test [PYTEST ARGS...]      # venv + install + the whole test suite, on every core

The virtual environment lives in .venv/ next to this file and is reinstalled
only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
EXTRAS = {"run": "", "test": "[test]"}


def ensure_env(extras: str) -> None:
    """Create .venv and install the project (editable) unless already done for this pyproject.toml."""
    if sys.version_info < (3, 10):
        sys.exit(f"qboost-exp needs Python >= 3.10; this is {sys.version.split()[0]}")
    stamp = VENV / f".installed{extras or '[run]'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "-q", "--upgrade", "pip"], check=True)
    # Not quiet: the first install takes minutes, and pip's line per package is the progress.
    print(f"installing qboost-exp{extras} into {VENV} (a few minutes the first time; pip lists each package)", flush=True)
    subprocess.run([*pip, "--progress-bar", "off", "-e", f"{ROOT}{extras}"], check=True)
    stamp.write_text(digest)


#: pytest-xdist on every core, unless the arguments choose (-n, --numprocesses, -p no:xdist) or ask for a debugger.
#: loadgroup keeps the tests that share a costly fixture on one worker (tests/conftest.py groups them and
#: orders the longest groups first, which --no-loadscope-reorder keeps).
PARALLEL = ["-n", "auto", "--dist", "loadgroup", "--no-loadscope-reorder"]


def parallel(args: list[str]) -> list[str]:
    chosen = any(a in ("-n", "--pdb", "--trace") or a.startswith(("-n", "--numprocesses", "--dist")) for a in args)
    return [] if chosen or "no:xdist" in args else PARALLEL


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    task, rest = argv[0], argv[1:]
    ensure_env(EXTRAS[task])
    if task == "run":
        command = [str(PYTHON), "-m", "qboost_exp", *rest]
    else:
        command = [str(PYTHON), "-m", "pytest", *parallel(rest), *rest]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
