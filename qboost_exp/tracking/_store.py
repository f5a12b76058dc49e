"""Where MLflow runs are stored, and creating the store before anyone races for it."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import unquote, urlparse

from ..errors import ConfigError, QBoostError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # MLflow 3's own default, relative to the launch directory

# MLflow 3's UI opens an experiment in the mode this tag names; without it, in
# GenAI mode on an (empty) Traces page. Ours are classic training runs.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

# Reaching a tracking server at all: one attempt, a short timeout. MLflow's
# defaults (7 retries with exponential backoff, 120 s timeout) spend minutes
# on a wrong URL; once the server has answered, MLflow's retries apply again.
_PROBE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


class TrackingStoreError(QBoostError):
    """The tracking store does not exist, cannot be reached or cannot be read."""


@contextmanager
def quiet(logger_name: str) -> Iterator[None]:
    """Hide a library logger's messages below ERROR for a moment."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _local_store_path(uri: str) -> tuple[Path, str] | None:
    """The file (SQLite) or directory (file store) a local URI points at; None for servers and databases."""
    if uri.startswith("sqlite:"):
        # SQLAlchemy: sqlite:///relative.db, sqlite:////absolute.db, sqlite:// = in memory.
        rest = uri[len("sqlite:"):].split("?", 1)[0]
        if not rest.startswith("///"):
            return None
        path = unquote(rest[3:])
        return None if path in ("", ":memory:") else (Path(path), "file")
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)), "dir"
    if parsed.scheme == "":
        return Path(uri), "dir"
    return None


def resolve_tracking_uri(
    explicit: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    *,
    must_exist: bool = False,
) -> str:
    """The tracking URI: ``explicit``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``.

    Local paths (SQLite files, file stores) are made absolute against
    ``base_dir`` (default: the current directory), so every job of a sweep,
    whatever its working directory, uses the same store. Resolved here rather
    than by ``mlflow.get_tracking_uri()``, which caches a URI set earlier in
    the process.

    Parameters
    ----------
    explicit : str or None
        A URI given on the command line or in the config; empty means "not given".
    base_dir : path-like or None
        What relative paths are relative to.
    must_exist : bool
        For readers (``compare``, ``package``): refuse a local store that does
        not exist, because MLflow would silently create an empty one and
        "nothing found" would hide the real mistake (the wrong directory).

    Returns
    -------
    str

    Raises
    ------
    TrackingStoreError
        ``must_exist`` and the local store does not exist.
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    uri = explicit or from_env or DEFAULT_TRACKING_URI
    local = _local_store_path(uri)
    if local is None:
        return uri
    path, kind = local
    path = path if path.is_absolute() else (base / path).resolve()
    if must_exist and not (path.is_file() if kind == "file" else path.is_dir()):
        origin = "given" if explicit else ("from MLFLOW_TRACKING_URI" if from_env else "the default")
        raise TrackingStoreError(
            f"no MLflow store at {path} (tracking URI {uri}, {origin}): run this where `python -m qboost_exp` "
            "logged its runs, or point --tracking-uri / MLFLOW_TRACKING_URI at an existing store"
        )
    if kind == "file":
        query = uri.partition("?")[2]
        return f"sqlite:///{path}" + (f"?{query}" if query else "")
    return path.as_uri()


def tracking_uri(mlflow_cfg: Mapping[str, Any], base_dir: str | os.PathLike[str]) -> str:
    """Where a training job logs: ``mlflow.tracking_uri`` if set, else ``MLFLOW_TRACKING_URI``,
    else ``sqlite:///mlflow.db`` in ``base_dir`` (the directory the command was launched from)."""
    return resolve_tracking_uri(mlflow_cfg.get("tracking_uri"), base_dir)


def check_reachable(uri: str) -> None:
    """Fail fast, in one line, when ``uri`` is a tracking server that does not answer.

    Raises
    ------
    TrackingStoreError
    """
    if not uri.startswith(("http://", "https://")):
        return
    import socket

    from mlflow import MlflowClient

    parsed = urlparse(uri)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        # Nothing listening, no route, no such host: known in milliseconds, without MLflow's machinery.
        socket.create_connection((parsed.hostname or "", port), timeout=5).close()
    except OSError as exc:
        raise TrackingStoreError(
            f"cannot reach the MLflow tracking server at {uri}: {exc.strerror or exc}; start it (mlflow server ...) or fix "
            "mlflow.tracking_uri / MLFLOW_TRACKING_URI"
        ) from None
    # Something listens: one MLflow request, without retries, proves it is a tracking server.
    saved = {name: os.environ.get(name) for name in _PROBE_ENV}
    os.environ.update(_PROBE_ENV)
    try:
        with quiet("urllib3.connectionpool"):
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - any failure to answer means the same to the user
        reason = " ".join(str(getattr(exc, "message", None) or exc).split())
        if len(reason) > 300:
            reason = reason[:300] + "..."
        raise TrackingStoreError(
            f"cannot reach the MLflow tracking server at {uri}: {reason}; start it (mlflow server ...) or fix "
            "mlflow.tracking_uri / MLFLOW_TRACKING_URI"
        ) from None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def prepare_store(uri: str, experiment: str) -> str:
    """Create the store at ``uri`` and the experiment if needed, return the experiment's id.

    Creating a fresh SQLite store runs MLflow's schema migrations; parallel jobs
    doing that at once race. The CLI and the sweep callback call this once,
    before any job starts. The experiment carries
    ``mlflow.experimentKind=custom_model_development`` (added to an existing
    experiment that has no kind), so MLflow's UI opens it on its training runs.

    Raises
    ------
    ConfigError
        The experiment is deleted, or the store cannot be reached or used.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    check_reachable(uri)
    try:
        # A fresh SQLite store announces its schema migration at INFO level, when the client first opens it.
        with quiet("mlflow.store.db.utils"):
            client = MlflowClient(tracking_uri=uri)
            found = client.get_experiment_by_name(experiment)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise ConfigError(
                    f"MLflow experiment '{experiment}' at {uri} is deleted; restore it "
                    f"(`mlflow experiments restore`) or choose another with mlflow.experiment=NAME"
                )
            if EXPERIMENT_KIND_TAG not in (found.tags or {}):
                client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
            return found.experiment_id
        try:
            return client.create_experiment(experiment, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except MlflowException:
            # another process created it between our lookup and our create
            return client.get_experiment_by_name(experiment).experiment_id
    except QBoostError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot use the MLflow tracking store {uri}: {type(exc).__name__}: {exc}") from None
