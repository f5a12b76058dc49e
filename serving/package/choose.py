"""Which MLflow model to package: the one a URI names, or the best finished training run of an experiment.

Every check of the request runs before anything is downloaded or built, and
a tracking store must exist before it is read: MLflow would silently create
an empty one, and "no such model" would hide the real mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._errors import ServingError
from ..container.messages import one_line

__all__ = ["ModelRequest", "ChosenModel", "choose_model", "redacted"]


def redacted(uri: str) -> str:
    """``uri`` without a password (build-info.json and error messages are copied around)."""
    parts = urlsplit(uri)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def is_local_model(model_uri: str) -> bool:
    """Whether ``model_uri`` is a directory on this machine (a path or ``file:`` URI) holding an MLflow model."""
    if "://" in model_uri and not model_uri.startswith("file://"):
        return False
    if model_uri.startswith(("runs:", "models:")):
        return False
    path = Path(model_uri[len("file://"):] if model_uri.startswith("file://") else model_uri)
    return (path / "MLmodel").is_file()


def check_metric(metric: str) -> None:
    """Refuse a test metric for ``--best`` (the same rule as ``python -m qboost_exp.compare``)."""
    from qboost_exp.compare import CompareError, check_objective

    try:
        check_objective(metric, "--metric")
    except CompareError as exc:
        raise ServingError(str(exc)) from None


@dataclass(frozen=True)
class ModelRequest:
    """Which model to package, as ``python -m serving package`` was asked.

    Parameters
    ----------
    model_uri : str, optional
        Any MLflow model URI, or a model directory; exactly one of ``model_uri`` and ``best``.
    best : bool
        The best finished training run of ``experiment`` by ``metric``
        (``order`` "max"/"min", default by the metric's name; never a test
        metric), among the runs of one ``dataset`` (``NAME`` or ``NAME@DIGEST``).
    tracking_uri : str, optional
        MLflow store; default ``MLFLOW_TRACKING_URI``, else ./mlflow.db.
    """

    model_uri: str | None = None
    best: bool = False
    experiment: str = "qboost"
    metric: str = "validation_accuracy"
    order: str | None = None
    dataset: str | None = None
    tracking_uri: str | None = None

    def check_one_source(self) -> None:
        """Refuse a request naming no model, or two ways to find one."""
        if (self.model_uri is None) == (not self.best):
            raise ServingError("give either --model-uri URI or --best (with --experiment and --metric)")

    @property
    def is_local(self) -> bool:
        """A model directory on disk needs no tracking store (MLflow reads it directly)."""
        return self.model_uri is not None and self.tracking_uri is None and is_local_model(self.model_uri)

    def check(self) -> None:
        """Refuse options that contradict each other or choose on the test split (before any store is read)."""
        if self.order not in (None, "max", "min"):
            raise ServingError(f"--order must be max or min, got {self.order!r}")
        if self.dataset is not None and not self.best:
            raise ServingError("--dataset chooses among the runs for --best; --model-uri names one model already")
        if self.best:
            check_metric(self.metric)

    def store(self) -> str | None:
        """The tracking store's URI, which must exist; None for a local model directory."""
        if self.is_local:
            return None
        from qboost_exp.tracking import TrackingStoreError, resolve_tracking_uri

        try:
            return resolve_tracking_uri(self.tracking_uri, must_exist=True)
        except TrackingStoreError as exc:
            raise ServingError(str(exc)) from None


@dataclass(frozen=True)
class ChosenModel:
    """The model to download: its URI and, when known already, its run."""

    uri: str
    run_id: str | None = None


def choose_model(request: ModelRequest, store: str | None) -> ChosenModel:
    """The model ``request`` names, or its experiment's best run (announced on stdout)."""
    if not request.best:
        return ChosenModel(str(request.model_uri))
    run, chosen = best_training_run(store, request.experiment, request.metric, request.order, request.dataset)
    run_id, metric = run.info.run_id, request.metric
    from qboost_exp.tracking import higher_is_better_for

    direction = "highest" if higher_is_better_for(metric, request.order) else "lowest"
    print(f"best run of {request.experiment!r} on dataset {chosen} by {metric} ({direction}): {run_id} "
          f"({metric} {run.data.metrics[metric]:.4g})", flush=True)
    return ChosenModel(f"runs:/{run_id}/model", run_id)


def best_training_run(uri: str, experiment: str, metric: str, order: str | None, dataset: str | None = None) -> tuple[Any, Any]:
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
    from qboost_exp.tracking import best_run

    check_metric(metric)
    by_dataset: dict[Any, list[Any]] = {}
    for run in _training_runs(uri, experiment):
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


def _training_runs(uri: str, experiment: str) -> list[Any]:
    """The experiment's training runs that logged a model; a store that cannot be read is a ServingError."""
    from qboost_exp.tracking import TrackingStoreError, training_runs

    try:
        return training_runs(experiment, tracking_uri=uri, with_model=True)
    except TrackingStoreError as exc:
        raise ServingError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read
        raise ServingError(f"cannot search the runs of {experiment!r} at {redacted(uri)}: {one_line(exc, first_line=True)}") from None
