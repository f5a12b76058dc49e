"""Where MLflow runs are stored, and creating the store before anyone races for it."""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import quote, unquote, urlparse

from ..errors import ConfigError, QBoostError
from ._uris import is_remote_store, is_sagemaker_arn, is_server  # noqa: F401 - public here too

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # MLflow 3's own default, relative to the launch directory

# The experiment's kind: classic training runs. MLflow 3.17's UI no longer opens
# an experiment by it (its mode is a per-browser toggle, GenAI by default):
# the links of ui_url() name the mode. Kept for other readers of the tag.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

#: Where ``mlflow ui`` (and ``python -m qboost_exp.ui``) serves a local store's UI by default.
DEFAULT_UI = "http://127.0.0.1:5000"
#: The workflow mode MLflow's UI opens in when a link names it. Without it the
#: UI opens in the mode last chosen in that browser (GenAI by default: the
#: Traces overview), whatever the experiment's kind tag says.
UI_WORKFLOW = "machine_learning"

# MLflow's shared views: the experiment tag mlflow.sharedViewState.<key>, opened
# by the link parameter viewStateShareKey=<key>. MLflow 3.17's UI
# (server/js/build/static/js: the hook that reads viewStateShareKey, and the
# saved-view envelope module) reads the tag as a saved-view envelope, JSON
# {"name", "createdAt", "updatedAt" (ms), "state": "<JSON text>"}, and falls back
# to the bare state as JSON. The state holds the runs table's search facets
# (searchFilter, orderByKey, orderByAsc, ...) and its UI state (selectedColumns,
# columnOrder, ...); a column is "metrics.`name`", "params.`name`", "tags.`name`".
SHARED_VIEW_KEY = "qboost-runs"
SHARED_VIEW_TAG = f"mlflow.sharedViewState.{SHARED_VIEW_KEY}"
SHARED_VIEW_NAME = "qboost: key columns"
#: The runs table's columns in the shared view, in order: (kind, name).
KEY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("metrics", "validation_accuracy"),
    ("metrics", "test_accuracy"),
    ("metrics", "selected"),
    ("params", "lambda"),
    ("metrics", "lambda_value"),
    ("metrics", "max_weight_value"),
    ("tags", "sampler"),
    ("tags", "weak_learners"),
    ("tags", "model"),
    ("tags", "dataset"),
)


def shared_view_state() -> dict[str, Any]:
    """The runs table of the shared view: the key columns, wide enough for their names, newest runs first."""
    columns = [f"{kind}.`{name}`" for kind, name in KEY_COLUMNS]
    return {
        "searchFilter": "",
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
        "selectedColumns": columns,
        "columnOrder": columns,
        # pixels; the table's default (about 100) cuts "validation_accuracy" to "validation_ac"
        "columnWidths": {column: max(110, 7 * len(name) + 24) for column, (_, name) in zip(columns, KEY_COLUMNS)},
        "runListHidden": False,
        "viewMaximized": False,
    }


def _view_state_of(value: str | None) -> Any:
    """The state inside a shared-view tag value (envelope or bare JSON); None if unreadable."""
    try:
        data = json.loads(value or "")
        return json.loads(data["state"]) if isinstance(data, dict) and isinstance(data.get("state"), str) else data
    except (ValueError, KeyError, TypeError):
        return None


def _shared_view_tag() -> str:
    now = int(time.time() * 1000)
    return json.dumps({"name": SHARED_VIEW_NAME, "createdAt": now, "updatedAt": now, "state": json.dumps(shared_view_state())})


def _write_shared_view(client: Any, experiment_id: str, tags: Mapping[str, str] | None) -> None:
    """Tag the experiment with the shared view unless it already holds this very state."""
    if _view_state_of((tags or {}).get(SHARED_VIEW_TAG)) != shared_view_state():
        client.set_experiment_tag(experiment_id, SHARED_VIEW_TAG, _shared_view_tag())


def ensure_runs_view(tracking_uri: str, experiment_id: str) -> None:
    """Give an existing experiment the shared runs view (:func:`ui_url` opens it), if it lacks it or it changed."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    _write_shared_view(client, experiment_id, client.get_experiment(experiment_id).tags)


def ui_url(tracking_uri: str, experiment_id: str, run_id: str | None = None, ui_base: str | None = None) -> str:
    """The MLflow UI's address of an experiment's runs table (or of one run), in model-training mode.

    Parameters
    ----------
    tracking_uri : str
        The store. A tracking server (http/https) is its own UI; any other
        store is served by ``mlflow ui`` / ``python -m qboost_exp.ui`` at
        :data:`DEFAULT_UI`.
    experiment_id : str
    run_id : str or None
        The run's page instead of the experiment's runs table.
    ui_base : str or None
        Where the UI is served, when not where the URI implies.

    Returns
    -------
    str
        For the experiment, its runs table opening the shared view
        (:data:`KEY_COLUMNS`, written onto the experiment by
        :func:`prepare_store`).
    """
    base = (ui_base or (tracking_uri if is_server(tracking_uri) else DEFAULT_UI)).rstrip("/")
    experiment = quote(str(experiment_id), safe="")
    if run_id:
        return f"{base}/#/experiments/{experiment}/runs/{quote(run_id, safe='')}?workflowType={UI_WORKFLOW}"
    return f"{base}/#/experiments/{experiment}/runs?workflowType={UI_WORKFLOW}&viewStateShareKey={SHARED_VIEW_KEY}"


def ui_line(tracking_uri: str, experiment_id: str, run_id: str | None = None) -> str:
    """``MLflow UI: <link>``, and for a store without a server of its own, how to start one."""
    if is_sagemaker_arn(tracking_uri):
        name = tracking_uri.rsplit("/", 1)[1]
        return (f"MLflow UI: SageMaker's own (SageMaker Studio, or `aws sagemaker create-presigned-mlflow-tracking-server-url "
                f"--tracking-server-name {name}`), experiment {experiment_id}" + (f", run {run_id}" if run_id else ""))
    line = f"MLflow UI: {ui_url(tracking_uri, experiment_id, run_id)}"
    if is_server(tracking_uri):
        return line
    command = "python -m qboost_exp.ui"
    try:
        default = resolve_tracking_uri()
    except Exception:  # noqa: BLE001 - no default to compare with: name the store
        default = None
    if tracking_uri != default:
        command += f" --tracking-uri {shlex.quote(tracking_uri)}"
    return f"{line} (start the UI: {command})"


class _PluginHeaderNoise(logging.Filter):
    """Drop AWS's sagemaker-mlflow plugin's warning on requests to other servers.

    Its request-header provider parses the process-wide tracking URI as an
    ARN for every REST request, whatever the store, and MLflow logs the
    resulting IndexError as a warning on each request to a plain server.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "resolving request headers: list index out of range" not in record.getMessage()


logging.getLogger("mlflow.tracking.request_header.registry").addFilter(_PluginHeaderNoise())


# Reaching a tracking server at all: one attempt, a short timeout. MLflow's
# defaults (7 retries with exponential backoff, 120 s timeout) spend minutes
# on a wrong URL; once the server has answered, MLflow's retries apply again.
_PROBE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


class TrackingStoreError(QBoostError):
    """The tracking store does not exist, cannot be reached or cannot be read."""


@contextmanager
def quiet(logger_name: str, below: int = logging.ERROR) -> Iterator[None]:
    """Hide a library logger's messages below ``below`` (ERROR) for a moment."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(below)
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


def _has_arn_plugin() -> bool:
    """Whether an MLflow tracking-store plugin for ``arn:`` URIs (AWS's sagemaker-mlflow) is installed."""
    from importlib.metadata import entry_points

    return any(e.name == "arn" for e in entry_points(group="mlflow.tracking_store"))


def _check_sagemaker_store(uri: str) -> None:
    """A SageMaker ARN needs the plugin (else: the extra to install) and AWS credentials (else: how to give them)."""
    if not _has_arn_plugin():
        raise TrackingStoreError(
            f"the tracking URI {uri} is SageMaker's managed MLflow, which MLflow reaches through AWS's sagemaker-mlflow "
            "plugin: pip install 'qboost-exp[aws]' (or sagemaker-mlflow)"
        )
    import boto3
    import botocore.exceptions

    try:
        credentials = boto3.Session().get_credentials()
    except botocore.exceptions.BotoCoreError as exc:  # a named profile that does not exist, a broken config file
        raise TrackingStoreError(f"cannot reach SageMaker's managed MLflow at {uri}: AWS configuration: {exc}") from None
    if credentials is None:
        raise TrackingStoreError(
            f"cannot reach SageMaker's managed MLflow at {uri}: no AWS credentials (the sagemaker-mlflow plugin signs every "
            "request with them); set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an IAM role applies"
        )


def check_reachable(uri: str) -> None:
    """Fail fast, in one line, when ``uri`` is a tracking server that does not answer.

    A SageMaker managed MLflow ARN is a server too: it needs AWS's plugin and
    credentials, then the same one-request probe as any server.

    Raises
    ------
    TrackingStoreError
    """
    if uri.startswith("arn:") and not is_sagemaker_arn(uri):
        raise TrackingStoreError(
            f"the tracking URI {uri} is an ARN but not a SageMaker MLflow tracking server's or app's: expected "
            "arn:aws:sagemaker:REGION:ACCOUNT(12 digits):mlflow-tracking-server/NAME (or mlflow-app/NAME)"
        )
    if is_sagemaker_arn(uri):
        _check_sagemaker_store(uri)
        import mlflow

        # The plugin signs requests for the process-wide URI, not the client's: set it (the run sets it too).
        mlflow.set_tracking_uri(uri)
        _probe(uri)
        return
    if not is_server(uri):
        return
    import socket

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
    _probe(uri)


def _probe(uri: str) -> None:
    """One MLflow request, without retries: proves ``uri`` is a tracking server that answers."""
    from mlflow import MlflowClient

    saved = {name: os.environ.get(name) for name in _PROBE_ENV}
    os.environ.update(_PROBE_ENV)
    try:
        with quiet("urllib3.connectionpool"):
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - any failure to answer means the same to the user
        reason = " ".join(str(getattr(exc, "message", None) or exc).split())
        if len(reason) > 300:
            reason = reason[:300] + "..."
        fix = "check the ARN, its region and your IAM permissions" if is_sagemaker_arn(uri) else "start it (mlflow server ...)"
        raise TrackingStoreError(
            f"cannot reach the MLflow tracking server at {uri}: {reason}; {fix} or fix mlflow.tracking_uri / MLFLOW_TRACKING_URI"
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
    experiment that has no kind; MLflow 3.17's UI ignores it, its links need
    :func:`ui_url`) and the shared runs view that :func:`ui_url` opens
    (written once, rewritten when :data:`KEY_COLUMNS` change).

    Raises
    ------
    ConfigError
        The experiment is deleted, or the store cannot be reached or used.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    check_reachable(uri)
    check_writable(uri)
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
            _write_shared_view(client, found.experiment_id, found.tags)
            return found.experiment_id
        try:
            return client.create_experiment(experiment, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, SHARED_VIEW_TAG: _shared_view_tag()})
        except MlflowException:
            # another process created it between our lookup and our create
            return client.get_experiment_by_name(experiment).experiment_id
    except QBoostError:
        raise
    except Exception as exc:
        from ._faults import _short, store_failure_reason

        reason = store_failure_reason(exc) or f"{type(exc).__name__}: {_short(exc, 300)}"
        raise ConfigError(
            f"cannot use the MLflow tracking store {uri} ({reason}); nothing was trained: fix the store, or log elsewhere with "
            "mlflow.tracking_uri=URI (or MLFLOW_TRACKING_URI), or run untracked with mlflow.enabled=false"
        ) from None


def check_writable(uri: str) -> None:
    """Fail in one line, before anything is trained, when a local store (SQLite file or file store) cannot be written.

    SQLite needs the database file and its directory (for its journal)
    writable. ``os.access`` answers for the real user, and also for root on
    an immutable file (``chattr +i``) or a read-only mount, where permission
    bits alone would not stop root.

    Raises
    ------
    TrackingStoreError
    """
    local = _local_store_path(uri)
    if local is None:
        return
    path, kind = local
    directory = path.parent if kind == "file" else path
    checks = [(path, "the database file")] if kind == "file" and path.exists() else []
    if directory.exists():
        checks.append((directory, "its directory" if kind == "file" else "the store's directory"))
    for target, what in checks:
        if not os.access(target, os.W_OK):
            why = "read-only file system" if _read_only_mount(target) else "not writable"
            raise TrackingStoreError(
                f"the MLflow store {path} is read-only: {what} {target} is {why}; nothing was trained: make it writable "
                "(chmod, chattr -i, or a read-write mount), or log elsewhere with mlflow.tracking_uri=URI (or "
                "MLFLOW_TRACKING_URI), or run untracked with mlflow.enabled=false"
            )


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
