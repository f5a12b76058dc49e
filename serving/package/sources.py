"""Where the build context's files come from: this source checkout, or the installed wheel.

A checkout has ``docker/`` beside ``serving/``; the installed wheel carries
it as ``qboost_serving/_docker``. The serving package itself (with the
container programs) is copied into every build context whole.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .._errors import ServingError

__all__ = ["SERVING_DIR", "PROJECT_ROOT", "DOCKER_DIR", "PROJECT_DIST", "CONTAINER_PROGRAMS", "checked_dockerfile", "python_version_warnings"]

#: The serving package (``serving/`` in a checkout, ``qboost_serving/`` installed).
SERVING_DIR = Path(__file__).resolve().parents[1]
PROJECT_ROOT = SERVING_DIR.parent
#: docker/ of a source checkout; an installed wheel carries it as serving/_docker.
DOCKER_DIR = SERVING_DIR / "_docker" if (SERVING_DIR / "_docker").is_dir() else PROJECT_ROOT / "docker"
PROJECT_DIST = "qboost-exp"
#: The programs SageMaker runs (`docker run IMAGE train|serve`); without them the image is useless.
CONTAINER_PROGRAMS = ("container/bin/train", "container/bin/serve", "container/bin/start")


def checked_dockerfile() -> Path:
    """The Dockerfile to copy, once it and the container programs are known to be there.

    Raises
    ------
    ServingError
        If the Dockerfile or a container program is missing (a broken checkout or installation).
    """
    dockerfile = DOCKER_DIR / "Dockerfile"
    if not dockerfile.is_file():
        raise ServingError(f"{dockerfile} is missing: the build context needs it")
    for program in CONTAINER_PROGRAMS:
        if not (SERVING_DIR / program).is_file():
            raise ServingError(f"{SERVING_DIR / program} is missing: the image would have no `{Path(program).name}` program")
    return dockerfile


def _dockerfile_python(dockerfile: Path) -> str | None:
    """The Python version of the Dockerfile's default base image (``ARG BASE_IMAGE=python:3.11-slim``)."""
    match = re.search(r"^ARG\s+BASE_IMAGE=\S*python:(\d+\.\d+)", dockerfile.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def python_version_warnings(dockerfile: Path) -> list[str]:
    """A warning when the image's Python differs from this one (the pins are resolved for this one)."""
    wanted = _dockerfile_python(dockerfile)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wanted and wanted != here:
        return [f"the image uses Python {wanted} but these pins were resolved under Python {here}"]
    return []
