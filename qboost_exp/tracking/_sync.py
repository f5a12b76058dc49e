"""Upload a run's local record (``<output_dir>/mlflow-record``) to a tracking store: ``python -m qboost_exp.tracking sync``.

The record (written by :func:`~qboost_exp.tracking._record.keep_locally`
when the store failed at the end of a run) becomes a new run with the same
params, metrics, tags, data inputs and artifacts, and its model is logged
again with ``mlflow.sklearn.log_model`` (same signature, input example,
requirements and code), so it is a real MLflow 3 logged model:
``mlflow.pyfunc.load_model(f"runs:/{run_id}/model")`` loads it.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NoReturn

from ..errors import QBoostError
from ._record import LOCAL_RECORD_TAG, RECORD_FILE, RECORD_FORMAT, TABLE_FILE, UPLOADED_FILE

#: Tags of an uploaded run: the record it came from and the run the store failed on.
SYNCED_FROM_TAG = "qboost.synced_from"
ORIGINAL_RUN_TAG = "qboost.original_run_id"
#: Tag of the original run, when the target store holds it: the run that replaced it.
SUPERSEDED_BY_TAG = "qboost.superseded_by"


_REQUIRED = ("tracking_uri", "experiment", "run_id", "run_name", "start_time", "params", "metrics", "tags", "files")


class SyncError(QBoostError):
    """A record that cannot be uploaded: missing, incomplete, already uploaded, or the target store failed."""


@dataclass
class Synced:
    """What :func:`sync_record` did."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    notes: list[str] = field(default_factory=list)


def load_record(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The record in ``directory``, checked: its ``record.json`` and every file it lists.

    Raises
    ------
    SyncError
        No such directory, not a record, or an incomplete one.
    """
    path = Path(directory)
    if not path.is_dir():
        raise SyncError(f"no run record at {path}: give the mlflow-record directory a failed run named in its error line")
    meta = path / RECORD_FILE
    if ".partial-" in path.name:
        raise SyncError(f"{path} is an incomplete run record (a staging directory whose writing never finished); nothing to upload")
    if not meta.is_file():
        raise SyncError(f"{path} is not a run record (it has no {RECORD_FILE}): give the mlflow-record directory named in the run's error line")
    try:
        record = json.loads(meta.read_text())
    except (OSError, ValueError) as exc:
        raise SyncError(f"{path} is an incomplete run record: {RECORD_FILE} is unreadable ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise SyncError(f"{path}: unknown record format {record.get('format') if isinstance(record, dict) else None!r} (this version reads {RECORD_FORMAT})")
    absent = [key for key in _REQUIRED if key not in record]
    if absent:
        raise SyncError(f"{path} is an incomplete run record: {RECORD_FILE} lacks {', '.join(absent)}")
    missing = [name for name in record.get("files", []) if not (path / name).is_file()]
    if missing or not record.get("files"):
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise SyncError(f"{path} is an incomplete run record: {len(missing)} of its files are missing ({shown or 'no file list'})")
    return record


def _uploaded(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / UPLOADED_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"run_id": "?"}


def sync_record(
    directory: str | os.PathLike[str],
    tracking_uri: str | None = None,
    experiment: str | None = None,
    *,
    force: bool = False,
    retry_seconds: float | None = None,
) -> Synced:
    """Log the record in ``directory`` to a tracking store as a new, FINISHED run.

    Parameters
    ----------
    directory : path-like
        The record (``<output_dir>/mlflow-record``).
    tracking_uri, experiment : str or None
        The target store and experiment; default: the ones the run was meant for.
    force : bool
        Upload a record that was uploaded before (a second run).
    retry_seconds : float or None
        How long a failing target server is retried (default 60 s).

    Returns
    -------
    Synced

    Raises
    ------
    SyncError, TrackingStoreError, ConfigError
        A missing or incomplete record, one uploaded already, an unusable target store.
    """
    path = Path(directory).resolve()
    record = load_record(path)
    if not force:
        _refuse_if_marked_uploaded(path)
    # Only now MLflow (seconds to import): a wrong directory is told at once.
    import mlflow

    from ._faults import bounded_retries, store_failure_reason
    from ._run import _quiet_store_logs
    from ._store import prepare_store, resolve_tracking_uri

    model = _load_model(path / str(record["model"])) if record.get("model") else None
    uri = resolve_tracking_uri(tracking_uri) if tracking_uri else str(record["tracking_uri"])
    experiment = experiment or str(record["experiment"])
    with bounded_retries(uri, retry_seconds) as breaker, _quiet_store_logs(), _no_run_links():
        experiment_id = prepare_store(uri, experiment)
        upload = _Upload(mlflow.MlflowClient(tracking_uri=uri), uri, experiment_id, record, path)
        try:
            upload.run(mlflow, model, force)
        except QBoostError:
            raise
        except BaseException as exc:
            upload.fail(exc, breaker, store_failure_reason)
    new_run_id, notes = upload.run_id, upload.notes
    mark = {"run_id": new_run_id, "tracking_uri": uri, "experiment": experiment, "experiment_id": experiment_id}
    try:
        _mark_uploaded(path, {**mark, "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")})
    except OSError as exc:
        notes.append(f"could not mark the record uploaded ({exc.strerror or exc}); a second sync will find run {new_run_id} and refuse")
    return Synced(new_run_id, experiment_id, uri, notes)


def _refuse_if_marked_uploaded(path: Path) -> None:
    done = _uploaded(path)
    if done is not None:
        raise SyncError(
            f"{path} was already uploaded as run {done.get('run_id')} to {done.get('tracking_uri', '?')}"
            f"{' on ' + done['time'] if done.get('time') else ''}; add --force to upload it again as another run"
        )


class _Upload:
    """One record's upload as a new run: :meth:`run` logs it; :meth:`fail` closes what a failure left."""

    def __init__(self, client: Any, uri: str, experiment_id: str, record: dict[str, Any], path: Path) -> None:
        self.client, self.uri, self.experiment_id, self.record, self.path = client, uri, experiment_id, record, path
        self.run_id: str | None = None
        self.notes: list[str] = []

    def run(self, mlflow: Any, model: Any, force: bool) -> None:
        client, record = self.client, self.record
        tags = {str(k): str(v) for k, v in record["tags"].items()}
        parent = record.get("parent_run_id")
        if parent and not _exists(client, parent):
            tags.pop("mlflow.parentRunId", None)
            self.notes.append(f"its parent run {parent} is not in {self.uri}: logged without a parent")
        original = _original_run(client, str(record["run_id"]))
        if not force:
            _refuse_uploaded_before(client, self.experiment_id, str(record["run_id"]), self.path, self.uri)
        tags[SYNCED_FROM_TAG] = str(self.path)
        tags[ORIGINAL_RUN_TAG] = str(record["run_id"])
        run = client.create_run(self.experiment_id, start_time=int(record["start_time"]), tags=tags, run_name=record.get("run_name"))
        self.run_id = run.info.run_id
        _log_content(client, self.run_id, record)
        _log_artifacts(client, self.run_id, self.path / "artifacts")
        if model is not None:
            _log_model(mlflow, self.uri, self.run_id, model)
        client.set_terminated(self.run_id, "FINISHED", end_time=int(record.get("end_time") or time.time() * 1000))
        if original is not None:
            self.notes.append(_close_original(client, original, self.run_id))

    def fail(self, exc: BaseException, breaker: Any, store_failure_reason: Any) -> NoReturn:
        """Whatever stopped the upload (the store, Ctrl-C, an answer we do not know), the new run does not stay RUNNING."""
        interrupted = not isinstance(exc, Exception)
        reason = "interrupted" if interrupted else store_failure_reason(exc) or " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        breaker.trip(reason)
        if self.run_id is not None:
            try:
                self.client.set_terminated(self.run_id, "KILLED" if interrupted else "FAILED")
            except Exception:  # noqa: BLE001 - one quick attempt
                pass
        if interrupted:
            raise exc
        partial = f" (the partial run {self.run_id} is marked FAILED if the store took it)" if self.run_id else ""
        raise SyncError(
            f"the tracking store {self.uri} failed during the upload ({reason}){partial}; the record is unchanged: sync it again later"
        ) from None


@contextmanager
def _no_run_links() -> Iterator[None]:
    # MLflow prints "View run ... / View experiment ..." to stdout whenever a run on a
    # server ends (twice here: the model's run context, then the end time); the
    # command prints its one link itself. A user's own setting wins.
    name = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
    saved = os.environ.get(name)
    if saved is None:
        os.environ[name] = "true"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)


def _refuse_uploaded_before(client: Any, experiment_id: str, original_run_id: str, path: Path, uri: str) -> None:
    """A record whose upload finished before (its ``uploaded.json`` lost or unwritable) is not uploaded twice."""
    found = client.search_runs(
        [experiment_id], f"tags.`{ORIGINAL_RUN_TAG}` = '{original_run_id}' AND attributes.status = 'FINISHED'", max_results=1
    )
    if found:
        raise SyncError(
            f"{path} was already uploaded as run {found[0].info.run_id} to {uri} (found in the store); "
            "add --force to upload it again as another run"
        )


def _exists(client: Any, run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
        return True
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise


def _original_run(client: Any, run_id: str) -> Any:
    """The run the store failed on, if the target store holds it still unfinished because of that failure."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    if run.info.status == "RUNNING" or (run.info.status == "FAILED" and LOCAL_RECORD_TAG in run.data.tags):
        return run
    return None


def _close_original(client: Any, original: Any, new_run_id: str) -> str:
    from ._runs import CLOSED_BY_TAG

    run_id = original.info.run_id
    client.set_tag(run_id, SUPERSEDED_BY_TAG, new_run_id)
    client.set_tag(run_id, CLOSED_BY_TAG, f"python -m qboost_exp.tracking sync: uploaded again as run {new_run_id}")
    if original.info.status == "RUNNING":
        client.set_terminated(run_id, "KILLED")
        return f"the original run {run_id}, left RUNNING by the failure, is now KILLED and points to {new_run_id}"
    return f"the original run {run_id} stays FAILED and points to {new_run_id}"


def _log_content(client: Any, run_id: str, record: dict[str, Any]) -> None:
    """Params, metrics and data inputs, in batches within MLflow's limits (100 params, 1000 metrics per call)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

    params = [Param(str(k), str(v)) for k, v in record["params"].items()]
    for start in range(0, len(params), 100):
        client.log_batch(run_id, params=params[start : start + 100])
    timestamp = int(record.get("end_time") or time.time() * 1000)
    metrics = [Metric(str(k), float(v), timestamp, 0) for k, v in record["metrics"].items()]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
    inputs = [
        DatasetInput(
            Dataset(**{key: item["dataset"].get(key) for key in ("name", "digest", "source_type", "source", "schema", "profile")}),
            tags=[InputTag("mlflow.data.context", item["context"])],
        )
        for item in record.get("inputs", [])
    ]
    if inputs:
        client.log_inputs(run_id, datasets=inputs)


def _log_artifacts(client: Any, run_id: str, artifacts: Path) -> None:
    import pandas as pd

    if not artifacts.is_dir():
        return
    for child in sorted(artifacts.iterdir()):
        if child.name == TABLE_FILE:
            # As log_result logs it (mlflow.log_table: the file and the run's table tag).
            table = pd.read_json(child, orient="split", dtype=False, convert_dates=False)
            client.log_table(run_id, table, TABLE_FILE)
        elif child.is_dir():
            client.log_artifacts(run_id, str(child), child.name)
        else:
            client.log_artifact(run_id, str(child))


def _load_model(model_dir: Path) -> dict[str, Any]:
    """The record's model and how it was saved, loaded before anything reaches the store: a model that does not load is one line."""
    from mlflow.models import Model

    from ._log import _pins_trusted
    from ._store import quiet

    try:
        meta = Model.load(str(model_dir))
        flavor = meta.flavors.get("sklearn", {})
        with quiet("mlflow.sklearn"), _pins_trusted():
            import mlflow.sklearn

            sk_model = mlflow.sklearn.load_model(str(model_dir))
        example = meta.load_input_example(str(model_dir))
    except Exception as exc:  # noqa: BLE001 - unpickling runs the model's own code: any error says the same
        raise SyncError(
            f"the record's model {model_dir} does not load here ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}): "
            "sync from an environment where the model's code imports (the one it was trained in); nothing was uploaded"
        ) from None
    requirements_file = model_dir / "requirements.txt"
    requirements = [
        line.strip() for line in requirements_file.read_text().splitlines() if line.strip() and not line.startswith("#")
    ] if requirements_file.is_file() else None
    code_dir = model_dir / str(flavor.get("code") or "code")
    return {
        "sk_model": sk_model,
        "serialization_format": flavor.get("serialization_format", "cloudpickle"),
        "signature": meta.signature,
        "input_example": example,
        "pip_requirements": requirements,
        "code_paths": [str(p) for p in sorted(code_dir.iterdir())] if code_dir.is_dir() else None,
    }


def _log_model(mlflow: Any, uri: str, run_id: str, model: dict[str, Any]) -> None:
    """Log the record's model (:func:`_load_model`) into the run as logging does: same flavour settings, signature, example, requirements, code."""
    from ._log import _pins_trusted
    from ._store import quiet

    with quiet("mlflow.sklearn"), _pins_trusted():
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run(run_id=run_id):
            mlflow.sklearn.log_model(name="model", **model)


def _mark_uploaded(path: Path, info: dict[str, Any]) -> None:
    staging = path / f".{UPLOADED_FILE}.tmp"
    staging.write_text(json.dumps(info, indent=2))
    os.replace(staging, path / UPLOADED_FILE)
