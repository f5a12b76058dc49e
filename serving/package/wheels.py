"""The wheels the image installs: qboost-exp built from here, and optionally every pinned requirement (offline builds)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import subprocess
import sys
import zipfile
from pathlib import Path

from .._errors import ServingError
from .sources import PROJECT_DIST, PROJECT_ROOT

__all__ = ["build_wheel", "repack_installed", "build_wheelhouse", "fill_wheelhouse"]

#: Files the installer writes into a distribution's .dist-info: not part of the wheel.
_INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def _pip_wheel(options: list[str], what: str, minutes: int) -> subprocess.CompletedProcess[str]:
    """``pip wheel --no-deps OPTIONS``, given ``minutes`` to finish; ``what`` names the step in the errors.

    Raises
    ------
    ServingError
        If pip takes longer, or exits non-zero.
    """
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", *options]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=minutes * 60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ServingError(f"{what} took over {minutes} minutes: {' '.join(cmd)}") from None
    if done.returncode != 0:
        raise pip_failure(done, what)
    return done


def pip_failure(done: subprocess.CompletedProcess[str], what: str) -> ServingError:
    """The error for a failed ``pip wheel``: its exit status and the last lines it wrote."""
    tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
    return ServingError(f"{what} failed (pip wheel exited {done.returncode}): {tail}")


def build_wheel(dest: Path) -> Path:
    """The qboost-exp wheel for the image, in ``dest``; its path.

    From a source checkout: ``pip wheel --no-deps`` of it. From an installed
    wheel (no source tree): the installed distribution packed back into a
    wheel (:func:`repack_installed`).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if not (PROJECT_ROOT / "pyproject.toml").is_file():
        return repack_installed(dest)
    what = f"building the {PROJECT_DIST} wheel"
    done = _pip_wheel(["-q", "-w", str(dest), str(PROJECT_ROOT)], what, minutes=15)
    wheels = sorted(dest.glob("qboost_exp-*.whl"))
    if len(wheels) != 1:
        raise pip_failure(done, what)
    return wheels[0]


#: The context's digest of its ``wheels/`` folder (``sha256sum`` format). The Dockerfile copies it
#: before the RUN that installs the mounted wheels: a mounted file does not change a layer's cache
#: key, so without it a rebuild of changed code with the same version reused the old install.
WHEEL_DIGESTS = "wheels.sha256"


def write_wheel_digests(context: Path) -> Path:
    """``context/wheels.sha256``: one ``sha256sum`` line per wheel in ``context/wheels``."""
    lines = [f"{hashlib.sha256(w.read_bytes()).hexdigest()}  {w.name}\n" for w in sorted((context / "wheels").glob("*.whl"))]
    path = context / WHEEL_DIGESTS
    path.write_text("".join(lines))
    return path


def _record_line(name: str, data: bytes) -> str:
    """The RECORD entry of one file: its path, sha256 (urlsafe base64, unpadded) and size."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack_installed(dest: Path) -> Path:
    """The installed qboost-exp distribution as a wheel in ``dest`` (its files, as RECORD lists them).

    Files the installer wrote (RECORD, INSTALLER, REQUESTED, direct_url.json,
    console scripts outside site-packages, bytecode) are left out; RECORD is
    written anew with each file's hash and size, as the wheel format requires.
    """
    dist = metadata.distribution(PROJECT_DIST)
    info_dir = next((str(f.parent) for f in dist.files or [] if f.name == "METADATA"), None)
    if info_dir is None:
        raise ServingError(f"the installed {PROJECT_DIST} has no METADATA in its RECORD; reinstall it (pip install --force-reinstall ...)")
    wheel = dest / f"qboost_exp-{dist.version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(dist.files or [], key=str):
            name = file.as_posix()
            if name.startswith("..") or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            if str(file.parent) == info_dir and file.name in _INSTALLER_FILES:
                continue
            data = Path(file.locate()).read_bytes()
            archive.writestr(name, data)
            records.append(_record_line(name, data))
        records.append(f"{info_dir}/RECORD,,")
        archive.writestr(f"{info_dir}/RECORD", "\n".join(records) + "\n")
    return wheel


def build_wheelhouse(requirements: Path, dest: Path) -> list[Path]:
    """A wheel for every pin of ``requirements`` in ``dest`` (``pip wheel --no-deps``).

    pip takes each wheel from its index (or its cache) and builds one for a
    distribution published only as a source archive, so the image can install
    the whole set with ``--no-index``: offline and reproducible.
    """
    dest.mkdir(parents=True, exist_ok=True)
    _pip_wheel(["--progress-bar", "off", "-w", str(dest), "-r", str(requirements)], "filling the wheelhouse", minutes=30)
    return sorted(dest.glob("*.whl"))


def fill_wheelhouse(requirements: Path, dest: Path, count: int, wanted: bool) -> None:
    """Create ``dest``, and with ``wanted`` fill it with the ``count`` pinned wheels of ``requirements``."""
    # Always there (the Dockerfile mounts it); empty means "install from the index".
    dest.mkdir()
    if wanted:
        print(f"filling the wheelhouse: {count} wheels", flush=True)
        build_wheelhouse(requirements, dest)
