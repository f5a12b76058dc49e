"""A run's full record on local disk, for when its tracking store fails at the end of the run.

:func:`~qboost_exp.tracking.tracked_run` keeps what it logged (params, tags,
run name, where it was going) in an :class:`~qboost_exp.tracking._open.OpenRun`;
:func:`log_result` adds the finished job to it (``note_trained``). When the store then
fails, :func:`keep_locally` writes everything the run would have held into
``<output_dir>/mlflow-record/``, cleans up what it can in the store (a
half-written model, the run's status) with one quick attempt, and returns
the :class:`~qboost_exp.tracking.StoreFailure` to raise.

The layout of a record (``python -m qboost_exp.tracking sync`` reads it)::

    mlflow-record/
      record.json        params, metrics, tags, inputs, run name, experiment,
                         tracking URI, the run's status left in the store,
                         and the list of files (a record is checked against it)
      model/             the MLflow model, saved as logging saves it
      artifacts/         .hydra/, plots/, selected_learners.json
      uploaded.json      written by sync: the run it was uploaded as

It is written in a staging directory next to it and renamed into place, so
a record is either whole or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ._faults import StoreFailure
from ._open import OpenRun

RECORD_DIRNAME = "mlflow-record"
RECORD_FILE = "record.json"
UPLOADED_FILE = "uploaded.json"
RECORD_FORMAT = 1
#: Run tag on a run whose store failed at its end: the directory of its local record.
LOCAL_RECORD_TAG = "qboost.local_record"
TABLE_FILE = "selected_learners.json"


def _record_dir(run: OpenRun) -> Path:
    base = Path(run.output_dir) if run.output_dir else Path(run.base_dir)
    target = base / RECORD_DIRNAME
    if target.exists():  # a fixed hydra.run.dir used again: never overwrite an earlier record
        target = base / f"{RECORD_DIRNAME}-{run.run_id}"
    return target.resolve()


def _dataset_inputs(result: Any) -> list[dict[str, Any]]:
    """The run's data inputs as :func:`log_inputs` logs them: MLflow's dataset dicts and their context."""
    import mlflow

    data = result.dataset
    inputs = []
    for split, context in (("train", "training"), ("val", "validation"), ("test", "test")):
        X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
        if len(y) == 0:
            continue
        dataset = mlflow.data.from_numpy(X, targets=y, name=f"{data.name}-{split}", digest=f"{data.digest}-{split}")
        inputs.append({"dataset": dataset.to_dict(), "context": context})
    return inputs


def _write_contents(run: OpenRun, staging: Path) -> dict[str, Any]:
    """Everything but the store's state into ``staging``; returns the record's fields."""
    import pandas as pd

    from ..cosmetic import attempt
    from ._log import TABLE_COLUMNS, render_figures, save_model

    result, metrics, cfg = run.trained  # type: ignore[misc]
    artifacts = staging / "artifacts"
    artifacts.mkdir(parents=True)
    hydra_dir = Path(run.output_dir) / ".hydra" if run.output_dir else None
    if hydra_dir is not None and hydra_dir.is_dir():
        shutil.copytree(hydra_dir, artifacts / ".hydra")
    plots = artifacts / "plots"
    plots.mkdir()
    rows = render_figures(result, plots)  # each figure and the table are cosmetic: a warning at worst
    if rows is not None:
        # The very file mlflow.log_table writes (orient="split", no index).
        attempt("selected_learners.json", lambda: pd.DataFrame(rows, columns=TABLE_COLUMNS).to_json(
            artifacts / TABLE_FILE, orient="split", index=False, date_format="iso"
        ))
    log_model = bool((cfg.get("mlflow") or {}).get("log_model", True))
    if log_model:
        save_model(result, cfg, staging / "model")
    tags = {**run.tags, **run.extra_tags}
    return {
        "format": RECORD_FORMAT,
        "tracking_uri": run.tracking_uri,
        "experiment": run.experiment,
        "experiment_id": run.experiment_id,
        "run_id": run.run_id,
        "run_name": run.run_name,
        "parent_run_id": tags.get("mlflow.parentRunId"),
        "start_time": run.start_time,
        "trained_time": run.trained_time,  # the end of training
        "end_time": int(time.time() * 1000),
        "params": run.params,
        "metrics": {key: float(value) for key, value in metrics.items()},
        "tags": tags,
        "inputs": _dataset_inputs(result),
        "model": "model" if log_model else None,
    }


def _forget_active_run(run_id: str) -> None:
    """Take the run off MLflow's stack of active runs without a request (its end could not be sent).

    Otherwise the next job of a sweep in this process would find it "already active".
    """
    import mlflow

    try:
        from mlflow.tracking import fluent

        stack = fluent._active_run_stack.get()
        if stack and stack[-1].info.run_id == run_id:
            stack.pop()
            os.environ.pop("MLFLOW_RUN_ID", None)
        return
    except Exception:  # noqa: BLE001 - MLflow's internals moved: end the run the public way (one quick attempt)
        pass
    try:
        mlflow.end_run(status="FAILED")
    except Exception:  # noqa: BLE001
        pass


def _clean_store(run: OpenRun, record_dir: Path | None, reason: str) -> dict[str, Any]:
    """Best effort, after the store failed: no half-written model, the run FAILED with an ``error`` tag.

    For a tracking server, the first request that fails ends the cleanup (the
    breaker gives each request one short attempt). A local store fails at
    once, so every step is tried: deleting a partial model's files may free
    the very space the database needs to record the rest.
    """
    from mlflow import MlflowClient

    from ._uris import is_remote_store

    run.breaker.trip("cleanup after a store failure")
    cleanup = _Cleanup(MlflowClient(tracking_uri=run.tracking_uri), stop_early=is_remote_store(run.tracking_uri))
    cleanup.remove_partial_models(run)
    cleanup.end_failed(run, record_dir, reason)
    _forget_active_run(run.run_id)
    return cleanup.state


class _Cleanup:
    """The steps of :func:`_clean_store`, each one attempt; what could not be done goes to ``state["notes"]``."""

    def __init__(self, client: Any, stop_early: bool) -> None:
        self.client, self.stop_early, self.failed = client, stop_early, False
        self.state: dict[str, Any] = {"status": "RUNNING", "models_removed": [], "models_left": [], "notes": []}

    def attempt(self, what: str, action: Any) -> Any:
        if self.failed and self.stop_early:
            return None
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - the store is failing; say what could not be done
            self.failed = True
            from ._faults import store_failure_reason

            self.state["notes"].append(f"{what}: {store_failure_reason(exc) or type(exc).__name__}")
            return None

    def remove_partial_models(self, run: OpenRun) -> None:
        """A model whose logging broke off: its files, then its entry (a LoggedModel left PENDING or FAILED)."""
        client = self.client
        models = self.attempt(
            "finding the run's models",
            lambda: client.search_logged_models(experiment_ids=[run.experiment_id], filter_string=f"source_run_id = '{run.run_id}'"),
        )
        for model in models or []:
            status = str(getattr(model.status, "name", model.status)).upper()
            if status.endswith("READY"):
                continue  # complete in the store: it stays

            def remove_files(location: str = model.artifact_location) -> None:
                from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

                get_artifact_repository(location).delete_artifacts()

            self.attempt(f"deleting the files of model {model.model_id}", remove_files)
            done = self.attempt(f"deleting model {model.model_id}", lambda model_id=model.model_id: client.delete_logged_model(model_id) or True)
            (self.state["models_removed"] if done else self.state["models_left"]).append(model.model_id)

    def end_failed(self, run: OpenRun, record_dir: Path | None, reason: str) -> None:
        """The run: FAILED, saying where its record is."""
        if not self.attempt("ending the run FAILED", lambda: self.client.set_terminated(run.run_id, "FAILED") or True):
            return
        self.state["status"] = "FAILED"
        where = f"its full record is in {record_dir}" if record_dir else "its record could not be written"
        tags = [
            _tag("error", f"the tracking store failed at the end of the run ({reason}): {where}"),
            *([_tag(LOCAL_RECORD_TAG, str(record_dir))] if record_dir else []),
        ]
        self.attempt("tagging the run", lambda: self.client.log_batch(run.run_id, tags=tags))


def _tag(key: str, value: str) -> Any:
    from mlflow.entities import RunTag

    return RunTag(key, value[:5000])


def keep_locally(run: OpenRun, reason: str) -> StoreFailure:
    """Write the finished run's full record to local disk, clean up in the store; the error to raise.

    Parameters
    ----------
    run : OpenRun
        The run, with its finished job (:func:`note_trained`).
    reason : str
        How the store failed (:func:`~qboost_exp.tracking._faults.store_failure_reason`).

    Returns
    -------
    StoreFailure
        Naming the record (or saying it could not be written either).
    """
    run.breaker.trip(reason)  # from here on, no request waits for retries
    result = run.trained[0] if run.trained else None
    target = _record_dir(run)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    fields: dict[str, Any] | None = None
    record_error = None
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        fields = _write_contents(run, staging)
    except Exception as exc:  # noqa: BLE001 - the local disk failed too: say so in the one line
        from ._faults import store_failure_reason

        record_error = store_failure_reason(exc) or f"{type(exc).__name__}: {exc}"
        shutil.rmtree(staging, ignore_errors=True)
    state = _clean_store(run, target if fields is not None else None, reason)
    if fields is None:
        return StoreFailure(run.tracking_uri, reason, None, result, run.run_id, state["status"] == "RUNNING", record_error)
    fields["store"] = {
        "reason": reason,
        "status": state["status"],  # "RUNNING": the store could not even be told the run failed
        "left_running": state["status"] == "RUNNING",
        "models_removed": state["models_removed"],
        "models_left": state["models_left"],
        "notes": state["notes"],
    }
    try:
        fields["files"] = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        (staging / RECORD_FILE).write_text(json.dumps(fields, indent=2, sort_keys=True))
        _fsync_tree(staging)
        os.rename(staging, target)  # atomic: the record is whole or absent
    except Exception as exc:  # noqa: BLE001
        from ._faults import store_failure_reason

        shutil.rmtree(staging, ignore_errors=True)
        record_error = store_failure_reason(exc) or f"{type(exc).__name__}: {exc}"
        return StoreFailure(run.tracking_uri, reason, None, result, run.run_id, state["status"] == "RUNNING", record_error)
    return StoreFailure(run.tracking_uri, reason, str(target), result, run.run_id, state["status"] == "RUNNING")


def _fsync_tree(root: Path) -> None:
    """Flush the staged files, so the rename never publishes a record whose contents are still in flight."""
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
