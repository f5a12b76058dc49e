"""``python -m serving package``: a Docker build context and model.tar.gz for SageMaker.

From an MLflow model URI (``runs:/ID/model``, ``models:/NAME/VERSION``,
``models:/NAME@ALIAS``) or the best finished training run of an experiment,
this writes, at ``--out``::

    Dockerfile          docker/Dockerfile, unchanged
    .dockerignore       docker/.dockerignore (keeps model.tar.gz out of the image)
    requirements.txt    NAME==VERSION for every dependency train and serve need, as installed here
    wheels/             qboost_exp-*.whl built from this source tree (pip wheel --no-deps)
    wheelhouse/         with ``--wheelhouse``: a wheel for every line of requirements.txt,
                        so the image installs offline (``pip install --no-index``); else empty
    serving/            this package, with the container programs (serving/container)
    model/              the MLflow model, MLmodel at its root (COPY'd to /opt/ml/model), and
                        qboost-compiled.npz beside it when the model compiles
                        (serving.container.compiled_file: the lean `serve` image predicts from it)
    model.tar.gz        the same files at the archive root: SageMaker's ModelDataUrl
    build-info.json     where it all came from

The pins are the closure of qboost-exp's requirements (and Flask and gunicorn,
which the container's web server needs) over the distributions installed in
this environment -- the set this code was tested with -- so the image
installs exactly that at build time and nothing at container start. The
optional extras (launchers, sweepers, boto3) are not part of it, and full
MLflow is replaced by ``mlflow-skinny``: the container loads and saves models
but runs no tracking server or UI, so MLflow's server stack stays out. The
directory appears whole or not at all: it is built next to ``--out`` and
renamed into place.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit, urlunsplit

from ._errors import ServingError

__all__ = [
    "PackageResult",
    "package",
    "download_model",
    "pinned_requirements",
    "write_model_tarball",
]

SERVING_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = SERVING_DIR.parent
#: docker/ of a source checkout; an installed wheel carries it as serving/_docker.
DOCKER_DIR = SERVING_DIR / "_docker" if (SERVING_DIR / "_docker").is_dir() else PROJECT_ROOT / "docker"
PROJECT_DIST = "qboost-exp"
#: What serving/container needs beyond qboost-exp's own requirements: the
#: Flask app runs under gunicorn (behind nginx, which comes from apt).
SERVING_REQUIREMENTS = ("flask", "gunicorn")
#: Requirements the image takes in a smaller form: the programs need MLflow's
#: model format (mlflow-skinny, which full MLflow is built on, at the same
#: version), not its tracking server, UI, SQL stores or docker SDK.
IMAGE_SUBSTITUTES = {"mlflow": "mlflow-skinny"}
#: The programs SageMaker runs (`docker run IMAGE train|serve`); without them the image is useless.
CONTAINER_PROGRAMS = ("container/bin/train", "container/bin/serve")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache")


@dataclass
class PackageResult:
    """What :func:`package` wrote (paths inside the final ``out`` directory)."""

    out: Path
    model_uri: str
    run_id: str | None
    wheel: Path
    requirements: list[str]
    tarball: Path
    warnings: list[str] = field(default_factory=list)
    #: Wheels in ``out/wheelhouse`` (0 without ``--wheelhouse``).
    wheelhouse: int = 0
    #: The Dockerfile target the model needs: "serve" (it compiled) or "full".
    image_target: str = "full"
    #: Why the model does not compile (None when it does).
    not_compiled: str | None = None

    def summary(self) -> list[str]:
        """The lines ``python -m serving package`` prints."""
        size = self.tarball.stat().st_size
        run = f" (run {self.run_id})" if self.run_id else ""
        return [
            f"packaged {self.model_uri}{run} into {self.out}/",
            "  Dockerfile          docker/Dockerfile",
            f"  requirements.txt    {len(self.requirements)} pinned requirements (name==version, from this environment)",
            f"  wheels/{self.wheel.name}",
            "  wheelhouse/         " + (f"{self.wheelhouse} wheels: the image installs them offline (pip --no-index)" if self.wheelhouse else "empty: the image installs requirements.txt from the package index"),
            "  serving/            the serving package with the container programs (train, serve)",
            "  model/              the MLflow model (MLmodel at its root; /opt/ml/model in the image)"
            + (", and qboost-compiled.npz" if self.not_compiled is None else ""),
            f"  model.tar.gz        {size / 1024:.0f} KiB, the MLflow model files at its root (SageMaker's ModelDataUrl)",
            "  build-info.json     the model URI, run and versions this was built from",
            ("image: the lean `serve` target (the compiled model; no scikit-learn) for endpoints, and `full` for training jobs"
             if self.image_target == "serve" else
             f"image: the `full` target only (the model does not compile, so it is served from its pickle: {self.not_compiled})"),
            f"next: docker/build_and_push.sh IMAGE_NAME [REGION] {self.out}",
        ]


# ------------------------------------------------------------------ tracking store


def _redacted(uri: str) -> str:
    """``uri`` without a password (build-info.json is copied around)."""
    parts = urlsplit(uri)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def download_model(uri: str, dest: Path) -> Path:
    """Download the MLflow model at ``uri`` into the new directory ``dest``; check MLmodel is at its root."""
    import mlflow

    scratch = dest.parent / f".download-{uuid.uuid4().hex[:8]}"
    scratch.mkdir()
    try:
        try:
            path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(scratch)))
        except Exception as exc:  # noqa: BLE001 - MLflow raises several types for a bad URI
            raise ServingError(f"cannot download the model {uri}: {_first_line(exc)}") from None
        if not (path / "MLmodel").is_file():
            raise ServingError(f"{uri} is not an MLflow model: no MLmodel file at its root")
        shutil.move(str(path), str(dest))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dest


# -------------------------------------------------------------------- requirements


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


def pinned_requirements(model_requirements: Path | None = None, extra: Iterable[str] = SERVING_REQUIREMENTS) -> tuple[list[str], list[str]]:
    """``name==version`` for qboost-exp's runtime dependencies, recursively, plus ``extra``, as installed here.

    Optional extras are left out, and each requirement named in
    :data:`IMAGE_SUBSTITUTES` is replaced by its smaller form (``mlflow`` by
    ``mlflow-skinny``) wherever it occurs, so nothing pulls the full one back in.

    Markers are evaluated for this interpreter (the image's Python should be
    the same minor version, which :func:`package` checks). The requirements in
    the MLflow model's requirements.txt are added; where it pins a different
    version than this environment has, the environment's version is kept
    (it is the consistent, tested set) and a warning says so.

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
    for req in map(_substituted, model_reqs):
        dist = installed.get(canonicalize_name(req.name))
        if dist is None:
            continue  # its marker excludes it here (anything else missing was refused above)
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            warnings.append(
                f"the model was logged with {req}, this environment (and so the image) has {dist.metadata['Name']}=={dist.version}"
            )
    for name in pins:
        try:
            direct = json.loads(installed[name].read_text("direct_url.json") or "{}")
        except ValueError:
            direct = {}
        if str(direct.get("url", "")).startswith("file:"):
            warnings.append(f"{pins[name]} is installed from a local path here; that version may not exist on PyPI")
    return sorted(pins.values(), key=str.lower), warnings


# ------------------------------------------------------------------- build pieces


def build_wheel(dest: Path) -> Path:
    """The qboost-exp wheel for the image, in ``dest``; its path.

    From a source checkout: ``pip wheel --no-deps`` of it. From an installed
    wheel (no source tree): the installed distribution packed back into a
    wheel (:func:`repack_installed`).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if not (PROJECT_ROOT / "pyproject.toml").is_file():
        return repack_installed(dest)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(dest), str(PROJECT_ROOT)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ServingError(f"building the {PROJECT_DIST} wheel took over 15 minutes: {' '.join(cmd)}") from None
    wheels = sorted(dest.glob("qboost_exp-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise ServingError(f"building the {PROJECT_DIST} wheel failed (pip wheel exited {done.returncode}): {tail}")
    return wheels[0]


def repack_installed(dest: Path) -> Path:
    """The installed qboost-exp distribution as a wheel in ``dest`` (its files, as RECORD lists them).

    Files the installer wrote (RECORD, INSTALLER, REQUESTED, direct_url.json,
    console scripts outside site-packages, bytecode) are left out; RECORD is
    written anew with each file's hash and size, as the wheel format requires.
    """
    import base64
    import hashlib
    import zipfile

    dist = metadata.distribution(PROJECT_DIST)
    info_dir = next((str(f.parent) for f in dist.files or [] if f.name == "METADATA"), None)
    if info_dir is None:
        raise ServingError(f"the installed {PROJECT_DIST} has no METADATA in its RECORD; reinstall it (pip install --force-reinstall ...)")
    skipped = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    wheel = dest / f"qboost_exp-{dist.version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(dist.files or [], key=str):
            name = file.as_posix()
            if name.startswith("..") or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            if str(file.parent) == info_dir and file.name in skipped:
                continue
            data = Path(file.locate()).read_bytes()
            archive.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={digest},{len(data)}")
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
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "--progress-bar", "off",
           "-w", str(dest), "-r", str(requirements)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ServingError(f"filling the wheelhouse took over 30 minutes: {' '.join(cmd)}") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise ServingError(f"filling the wheelhouse failed (pip wheel exited {done.returncode}): {tail}")
    return sorted(dest.glob("*.whl"))


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


def _dockerfile_python(dockerfile: Path) -> str | None:
    """The Python version of the Dockerfile's default base image (``ARG BASE_IMAGE=python:3.11-slim``)."""
    match = re.search(r"^ARG\s+BASE_IMAGE=\S*python:(\d+\.\d+)", dockerfile.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def _mlmodel(model_dir: Path) -> dict[str, Any]:
    """The model's MLmodel file as a dict (empty if unreadable: it only feeds build-info.json)."""
    import yaml

    try:
        return yaml.safe_load((model_dir / "MLmodel").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


# ------------------------------------------------------------------------ package


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ServingError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ServingError(f"--out {out} exists and is not empty: pass --force to replace it")


def package(
    out: Path,
    *,
    model_uri: str | None = None,
    best: bool = False,
    experiment: str = "qboost",
    metric: str = "validation_accuracy",
    order: str | None = None,
    dataset: str | None = None,
    tracking_uri: str | None = None,
    force: bool = False,
    wheelhouse: bool = False,
) -> PackageResult:
    """Write the SageMaker build context and model.tar.gz for one MLflow model at ``out``.

    Parameters
    ----------
    out : Path
        The build context directory to create (replaced only with ``force``).
    model_uri : str, optional
        Any MLflow model URI; exactly one of ``model_uri`` and ``best``.
    best : bool
        Use the best finished training run of ``experiment`` by ``metric``
        (``order`` "max"/"min", default by the metric's name; never a test
        metric), among the runs of one dataset.
    dataset : str, optional
        With ``best``: ``NAME`` or ``NAME@DIGEST`` of the dataset to choose
        within (a run's dataset is its name and the digest of its training
        split); needed when the experiment holds runs of several datasets.
    tracking_uri : str, optional
        MLflow store; default ``MLFLOW_TRACKING_URI``, else ./mlflow.db.
    force : bool
        Replace a non-empty ``out``.
    wheelhouse : bool
        Also put a wheel of every pinned requirement into ``out/wheelhouse``
        (downloaded or built by pip here), so the image builds offline.

    Returns
    -------
    PackageResult
    """
    if (model_uri is None) == (not best):
        raise ServingError("give either --model-uri URI or --best (with --experiment and --metric)")
    out = Path(out)
    _check_out(out, force)
    # A model directory on disk needs no tracking store (MLflow reads it directly).
    local_model = model_uri is not None and tracking_uri is None and _is_local_model(model_uri)
    if order not in (None, "max", "min"):
        raise ServingError(f"--order must be max or min, got {order!r}")
    if dataset is not None and not best:
        raise ServingError("--dataset chooses among the runs for --best; --model-uri names one model already")
    if best:
        _check_metric(metric)  # before any store is read
    uri = None
    if not local_model:
        from qboost_exp.tracking import TrackingStoreError, resolve_tracking_uri

        try:
            # must_exist: MLflow would silently create an empty store, and "no such model" would hide the real mistake.
            uri = resolve_tracking_uri(tracking_uri, must_exist=True)
        except TrackingStoreError as exc:
            raise ServingError(str(exc)) from None
    dockerfile = DOCKER_DIR / "Dockerfile"
    if not dockerfile.is_file():
        raise ServingError(f"{dockerfile} is missing: the build context needs it")
    for program in CONTAINER_PROGRAMS:
        if not (SERVING_DIR / program).is_file():
            raise ServingError(f"{SERVING_DIR / program} is missing: the image would have no `{Path(program).name}` program")
    warnings: list[str] = []
    wanted = _dockerfile_python(dockerfile)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wanted and wanted != here:
        warnings.append(f"the image uses Python {wanted} but these pins were resolved under Python {here}")

    # Quiet MLflow's per-file download progress bar; the summary says what was fetched.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    if uri is not None:
        mlflow.set_tracking_uri(uri)
    run_id = None
    if best:
        run, chosen = _best_training_run(uri, experiment, metric, order, dataset)
        run_id, model_uri = run.info.run_id, f"runs:/{run.info.run_id}/model"
        from qboost_exp.tracking import higher_is_better_for

        direction = "highest" if higher_is_better_for(metric, order) else "lowest"
        print(f"best run of {experiment!r} on dataset {chosen} by {metric} ({direction}): {run_id} ({metric} {run.data.metrics[metric]:.4g})", flush=True)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        model_dir = download_model(model_uri, tmp / "model")
        mlmodel = _mlmodel(model_dir)
        run_id = run_id or mlmodel.get("run_id")
        requirements, more = pinned_requirements(model_dir / "requirements.txt")
        warnings += more
        (tmp / "requirements.txt").write_text("\n".join(requirements) + "\n")
        wheel = build_wheel(tmp / "wheels")
        # Always there (the Dockerfile mounts it); empty means "install from the index".
        (tmp / "wheelhouse").mkdir()
        if wheelhouse:
            print(f"filling the wheelhouse: {len(requirements)} wheels", flush=True)
            build_wheelhouse(tmp / "requirements.txt", tmp / "wheelhouse")
        shutil.copy2(dockerfile, tmp / "Dockerfile")
        if (DOCKER_DIR / ".dockerignore").is_file():
            shutil.copy2(DOCKER_DIR / ".dockerignore", tmp / ".dockerignore")
        shutil.copytree(SERVING_DIR, tmp / "serving", ignore=_IGNORED)
        from .container.compiled_file import compile_model_dir

        not_compiled = compile_model_dir(model_dir)  # before the tarball: it carries the compiled file too
        if not_compiled is not None:
            warnings.append(f"the model does not compile ({not_compiled}): only the full image can serve it (from its pickle)")
        image_target = "serve" if not_compiled is None else "full"
        write_model_tarball(model_dir, tmp / "model.tar.gz")
        info = {
            "model_uri": model_uri,
            "run_id": run_id,
            "model_id": mlmodel.get("model_id") or mlmodel.get("model_uuid"),
            "tracking_uri": _redacted(uri) if uri is not None else None,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": sys.version.split()[0],
            "wheel": wheel.name,
            "requirements": len(requirements),
            "wheelhouse": wheelhouse,
            "image_target": image_target,
            "compiled": not_compiled is None,
            "warnings": warnings,
        }
        (tmp / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
        tmp.chmod(0o755)  # mkdtemp made it 0700
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PackageResult(
        out=out,
        model_uri=model_uri,
        run_id=run_id,
        wheel=out / "wheels" / wheel.name,
        requirements=requirements,
        tarball=out / "model.tar.gz",
        warnings=warnings,
        wheelhouse=len(list((out / "wheelhouse").glob("*.whl"))),
        image_target=image_target,
        not_compiled=not_compiled,
    )


def _check_metric(metric: str) -> None:
    """Refuse a test metric for ``--best`` (the same rule as ``python -m qboost_exp.compare``)."""
    from qboost_exp.compare import CompareError, check_objective

    try:
        check_objective(metric, "--metric")
    except CompareError as exc:
        raise ServingError(str(exc)) from None


def _best_training_run(uri: str, experiment: str, metric: str, order: str | None, dataset: str | None = None) -> tuple[Any, Any]:
    """The best finished training run with a model, within one dataset, and that dataset; errors as ServingError.

    Training runs are those tagged ``qboost.role`` single or child (a sweep's
    parent run has no model). Runs of different datasets (name and
    training-split digest, :func:`qboost_exp.compare.dataset_of`) are never
    ranked against each other: with several, ``dataset`` must name one. The
    tracking API's one rule decides "best" among that dataset's runs
    (direction from the metric's name unless ``order``, ties to the run that
    started first).
    """
    from qboost_exp.compare import CompareError, choose_dataset, dataset_of
    from qboost_exp.tracking import TrackingStoreError, best_run, training_runs

    _check_metric(metric)
    try:
        runs = training_runs(experiment, tracking_uri=uri, with_model=True)
    except TrackingStoreError as exc:
        raise ServingError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read
        raise ServingError(f"cannot search the runs of {experiment!r} at {_redacted(uri)}: {_first_line(exc)}") from None
    by_dataset: dict[Any, list[Any]] = {}
    for run in runs:
        by_dataset.setdefault(dataset_of(run), []).append(run)
    try:
        chosen = choose_dataset({d: len(r) for d, r in by_dataset.items()}, dataset, what=f"experiment {experiment!r}")
    except CompareError as exc:
        raise ServingError(str(exc)) from None
    best = best_run(by_dataset.get(chosen, []), metric, order)
    if best is None:
        where = f" on dataset {chosen}" if chosen is not None else ""
        raise ServingError(
            f"experiment {experiment!r} has no finished training run{where} with metric {metric!r} and a logged model "
            "(metrics are e.g. validation_accuracy, selected)"
        )
    return best, chosen


def _is_local_model(model_uri: str) -> bool:
    """Whether ``model_uri`` is a directory on this machine (a path or ``file:`` URI) holding an MLflow model."""
    if "://" in model_uri and not model_uri.startswith("file://"):
        return False
    if model_uri.startswith(("runs:", "models:")):
        return False
    path = Path(model_uri[len("file://"):] if model_uri.startswith("file://") else model_uri)
    return (path / "MLmodel").is_file()


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
