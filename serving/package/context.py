"""Write the build context at ``--out``: whole or not at all.

The context is built in a hidden directory beside ``--out`` and renamed
into place only once complete; a failure removes it and leaves any earlier
``--out`` as it was.
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .._errors import ServingError
from .sources import DOCKER_DIR, SERVING_DIR

__all__ = ["check_out", "staging_directory", "write_requirements", "copy_sources", "write_model_tarball", "write_build_info"]

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache")


def check_out(out: Path, force: bool) -> None:
    """Refuse an ``--out`` that is a file, or a non-empty directory without ``force``."""
    if out.exists() and not out.is_dir():
        raise ServingError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ServingError(f"--out {out} exists and is not empty: pass --force to replace it")


@contextmanager
def staging_directory(out: Path) -> Iterator[Path]:
    """A new directory beside ``out`` to build in; renamed to ``out`` when the block ends, removed if it raises."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp made it 0700
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` to ``out``; an existing ``out`` is moved aside first and removed after."""
    if not out.exists():
        tmp.rename(out)
        return
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        old.rename(out)  # put the previous build back
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_requirements(context: Path, requirements: list[str]) -> Path:
    """``requirements.txt``: one pin a line."""
    path = context / "requirements.txt"
    path.write_text("\n".join(requirements) + "\n")
    return path


def copy_sources(context: Path, dockerfile: Path) -> None:
    """The Dockerfile, its .dockerignore (which keeps model.tar.gz out of the image) and the serving package."""
    shutil.copy2(dockerfile, context / "Dockerfile")
    if (DOCKER_DIR / ".dockerignore").is_file():
        shutil.copy2(DOCKER_DIR / ".dockerignore", context / ".dockerignore")
    shutil.copytree(SERVING_DIR, context / "serving", ignore=_IGNORED)


def _tar_entry(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Owner of the build machine means nothing in the container.
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def write_model_tarball(model_dir: Path, path: Path) -> Path:
    """Write ``model_dir``'s files into the gzipped tar ``path`` with MLmodel at the archive root.

    SageMaker extracts ModelDataUrl into /opt/ml/model, so the archive has no
    leading directory: ``MLmodel``, ``model.pkl``, ``code/...``.
    """
    with tarfile.open(path, "w:gz") as tar:
        for entry in sorted(model_dir.rglob("*")):
            relative = entry.relative_to(model_dir)
            if "__pycache__" in relative.parts:
                continue
            tar.add(entry, arcname=relative.as_posix(), recursive=False, filter=_tar_entry)
    return path


def write_build_info(context: Path, source: dict[str, Any], built: dict[str, Any]) -> Path:
    """``build-info.json``: where the model came from, when and under which Python, and what was built."""
    when = {"created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": sys.version.split()[0]}
    path = context / "build-info.json"
    path.write_text(json.dumps({**source, **when, **built}, indent=2) + "\n")
    return path
