"""Finding runs again: which runs are training runs, and which one is best.

One rule for "best", used by the sweep summary, champion promotion,
``python -m qboost_exp.compare`` and ``python -m serving package --best``:
the metric's direction comes from :func:`qboost_exp._metrics.higher_is_better`
(accuracy-like scores up, everything else down), runs without a finite value
are never best, and a tie goes to the run that started first.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

# The tag that says what a run is, and its values.
ROLE_TAG = "qboost.role"
SINGLE_ROLE = "single"  # one CLI run
PARENT_ROLE = "parent"  # a sweep's summary: no model, the best child's metrics
CHILD_ROLE = "child"  # one job of a sweep
TRAINING_ROLES = (SINGLE_ROLE, CHILD_ROLE)
PARENT_RUN_TAG = "mlflow.parentRunId"
JOB_NUM_TAG = "qboost.job_num"
FAILED_STATUSES = ("FAILED", "KILLED")


def metric_value(run: Any, metric: str) -> float | None:
    """``run``'s value of ``metric`` if it logged a finite one, else None."""
    value = run.data.metrics.get(metric.removeprefix("metrics."))
    return value if value is not None and math.isfinite(value) else None


def is_better(new: float, old: float, metric: str) -> bool:
    """Whether ``new`` strictly beats ``old`` on ``metric`` (equal is not better: the earlier run keeps it)."""
    return new > old if higher_is_better_for(metric) else new < old


def higher_is_better_for(metric: str, order: str | None = None) -> bool:
    """The direction of ``metric``: ``order`` ("max"/"min") when given, else the project's rule by name."""
    from .._metrics import higher_is_better

    if order is None:
        return higher_is_better(metric)
    if order not in ("max", "min"):
        raise ValueError(f"order must be 'max' or 'min', got {order!r}")
    return order == "max"


def rank_key(value: float, start_time: int | None, metric: str, order: str | None = None) -> tuple[float, int]:
    """Sort key, smallest first = best first: by ``metric`` in its direction, then by start time."""
    return (-value if higher_is_better_for(metric, order) else value, start_time or 0)


def best_run(runs: Iterable[Any], metric: str, order: str | None = None) -> Any | None:
    """The best of ``runs`` (``mlflow.entities.Run``) by ``metric``, under the one rule; None if none has it.

    Parameters
    ----------
    runs : iterable of mlflow.entities.Run
    metric : str
        A metric name such as ``validation_accuracy`` or ``time_total``.
    order : {"max", "min"} or None
        Override the direction the metric's name implies (``package --order``).

    Returns
    -------
    mlflow.entities.Run or None
    """
    scored = [(metric_value(run, metric), run) for run in runs]
    scored = [(value, run) for value, run in scored if value is not None]
    if not scored:
        return None
    return min(scored, key=lambda pair: rank_key(pair[0], pair[1].info.start_time, metric, order))[1]


def training_runs(
    experiment: str,
    *,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    statuses: Sequence[str] | None = ("FINISHED",),
    with_model: bool = False,
) -> list[Any]:
    """The training runs (tagged ``qboost.role`` single or child) of ``experiment``, oldest first.

    Parameters
    ----------
    experiment : str
        MLflow experiment name.
    tracking_uri : str or None
        Store to read; None: MLflow's current URI.
    parent_run_id : str or None
        Only the children of this sweep's parent run.
    statuses : sequence of str or None
        Run statuses to keep; None keeps all.
    with_model : bool
        Only runs that logged a model (``mlflow.log_model=false`` runs have none).

    Returns
    -------
    list of mlflow.entities.Run

    Raises
    ------
    TrackingStoreError
        No such experiment (the message lists the existing ones).
    """
    from mlflow import MlflowClient

    from ._store import TrackingStoreError

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None or found.lifecycle_stage == "deleted":
        names = sorted(e.name for e in client.search_experiments())
        raise TrackingStoreError(f"no experiment named {experiment!r} in the tracking store; existing experiments: {', '.join(names) or '(none)'}")
    filters = []
    if parent_run_id is not None:
        filters.append(f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'")
    if statuses is not None and len(statuses) == 1:
        filters.append(f"attributes.status = '{statuses[0]}'")
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [found.experiment_id], filter_string=" AND ".join(filters), max_results=1000,
            order_by=["attributes.start_time ASC"], page_token=token,
        )
        runs.extend(run for run in page if run.data.tags.get(ROLE_TAG) in TRAINING_ROLES)
        token = page.token
        if not token:
            break
    if statuses is not None:
        runs = [run for run in runs if run.info.status in statuses]
    if with_model:
        runs = [run for run in runs if _has_model(run)]
    return runs


def _has_model(run: Any) -> bool:
    outputs = getattr(run, "outputs", None)
    return outputs is None or bool(getattr(outputs, "model_outputs", None))
