"""The requirements the image installs: ``NAME==VERSION`` for everything train and serve need, as installed here.

The pins are the closure of qboost-exp's requirements (and Flask and
gunicorn, which the container's web server needs) over the distributions
installed in this environment -- the set this code was tested with -- so the
image installs exactly that at build time and nothing at container start.
The optional extras (launchers, sweepers, the SageMaker SDK) are not part of it, and full
MLflow is replaced by ``mlflow-skinny``.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import sys
from pathlib import Path
from typing import Any, Iterable

from .._errors import ServingError
from .sources import PROJECT_DIST, PROJECT_ROOT

__all__ = ["SERVING_REQUIREMENTS", "OPTIONAL_REQUIREMENTS", "IMAGE_SUBSTITUTES", "pinned_requirements"]

#: What serving/container needs beyond qboost-exp's own requirements: the
#: Flask app runs under gunicorn (behind nginx, which comes from apt).
SERVING_REQUIREMENTS = ("flask", "gunicorn")
#: Pinned when installed here, with a warning when not: ``train`` reads a D-Wave
#: token from Secrets Manager with boto3 (``DWAVE_API_TOKEN_SECRET``). The full
#: image only: the lean one installs numpy, Flask and gunicorn of these pins.
OPTIONAL_REQUIREMENTS = {"boto3": "the image's train cannot read a D-Wave token from Secrets Manager "
                                  "(train-job --dwave-token-secret); pip install 'qboost-exp[sagemaker]' before packaging"}
#: Requirements the image takes in a smaller form: the programs need MLflow's
#: model format (mlflow-skinny, which full MLflow is built on, at the same
#: version), not its tracking server, UI, SQL stores or docker SDK.
IMAGE_SUBSTITUTES = {"mlflow": "mlflow-skinny"}


def _installed() -> dict[str, metadata.Distribution]:
    """Installed distributions by canonical name (the first on sys.path wins, as for imports)."""
    from packaging.utils import canonicalize_name

    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist)
    return found


def _substituted(requirement: Any) -> Any:
    """``requirement`` with its name replaced per :data:`IMAGE_SUBSTITUTES` (extras dropped with it)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    name = IMAGE_SUBSTITUTES.get(canonicalize_name(requirement.name))
    if name is None:
        return requirement
    marker = f"; {requirement.marker}" if requirement.marker else ""
    return Requirement(f"{name}{requirement.specifier}{marker}")


def _applies(requirement: Any, extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras))


def _model_requirements(path: Path | None) -> tuple[list[Any], list[str]]:
    """Parsed lines of an MLflow model's requirements.txt (options and bad lines skipped, with a warning)."""
    from packaging.requirements import InvalidRequirement, Requirement

    if path is None or not path.is_file():
        return [], []
    requirements, warnings = [], []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirements.append(Requirement(line))
        except InvalidRequirement:
            warnings.append(f"model requirements.txt: ignored {line!r} (not a requirement)")
    return requirements, warnings


def _closure(roots: list[Any], installed: dict[str, metadata.Distribution], project: str) -> dict[str, str]:
    """``NAME==VERSION`` of every distribution ``roots`` need, recursively, by canonical name (the project itself left out).

    Raises
    ------
    ServingError
        If one of them is not installed (the set would be incomplete).
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    todo = [_substituted(r) for r in roots if _applies(r, ())]
    done: set[tuple[str, frozenset[str]]] = set()
    missing: list[str] = []
    pins: dict[str, str] = {}
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        dist = installed.get(name)
        if dist is None:
            missing.append(str(req))
            continue
        if name != project:
            pins[name] = f"{dist.metadata['Name']}=={dist.version}"
        todo.extend(_substituted(child) for child in map(Requirement, dist.requires or []) if _applies(child, req.extras))
    if missing:
        raise ServingError(
            f"required but not installed here: {', '.join(sorted(set(missing)))}; install them (pip install -e {PROJECT_ROOT}) "
            "so that the image gets a complete, pinned set"
        )
    return pins


def _model_version_warnings(model_reqs: list[Any], installed: dict[str, metadata.Distribution]) -> list[str]:
    """A warning for each requirement of the model that this environment's version does not satisfy."""
    from packaging.utils import canonicalize_name

    warnings = []
    for req in map(_substituted, model_reqs):
        dist = installed.get(canonicalize_name(req.name))
        if dist is None:
            continue  # its marker excludes it here (anything else missing was refused already)
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            warnings.append(
                f"the model was logged with {req}, this environment (and so the image) has {dist.metadata['Name']}=={dist.version}"
            )
    return warnings


def _local_install_warnings(pins: dict[str, str], installed: dict[str, metadata.Distribution]) -> list[str]:
    """A warning for each pin installed here from a local path: PyPI may not have that version."""
    warnings = []
    for name in pins:
        try:
            direct = json.loads(installed[name].read_text("direct_url.json") or "{}")
        except ValueError:
            direct = {}
        if str(direct.get("url", "")).startswith("file:"):
            warnings.append(f"{pins[name]} is installed from a local path here; that version may not exist on PyPI")
    return warnings


def pinned_requirements(model_requirements: Path | None = None, extra: Iterable[str] = SERVING_REQUIREMENTS) -> tuple[list[str], list[str]]:
    """``name==version`` for qboost-exp's runtime dependencies, recursively, plus ``extra``, as installed here.

    Optional extras are left out, and each requirement named in
    :data:`IMAGE_SUBSTITUTES` is replaced by its smaller form (``mlflow`` by
    ``mlflow-skinny``) wherever it occurs, so nothing pulls the full one back in.

    Markers are evaluated for this interpreter (the image's Python should be
    the same minor version, which :func:`serving.package.package` checks). The
    requirements in the MLflow model's requirements.txt are added; where it
    pins a different version than this environment has, the environment's
    version is kept (it is the consistent, tested set) and a warning says so.

    Returns
    -------
    (list of str, list of str)
        The sorted pins and the warnings.

    Raises
    ------
    ServingError
        If a required distribution is not installed (the set would be incomplete).
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    installed = _installed()
    project = canonicalize_name(PROJECT_DIST)
    if project not in installed:
        raise ServingError(f"{PROJECT_DIST} is not installed in this environment ({sys.executable}): pip install -e {PROJECT_ROOT}")
    model_reqs, warnings = _model_requirements(model_requirements)
    roots = [Requirement(r) for r in installed[project].requires or []]
    roots += [Requirement(name) for name in extra] + model_reqs
    for name, without in OPTIONAL_REQUIREMENTS.items():
        if canonicalize_name(name) in installed:
            roots.append(Requirement(name))
        else:
            warnings.append(f"{name} is not installed here: {without}")
    pins = _closure(roots, installed, project)
    warnings += _model_version_warnings(model_reqs, installed)
    warnings += _local_install_warnings(pins, installed)
    return sorted(pins.values(), key=str.lower), warnings
