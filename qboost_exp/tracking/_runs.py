"""The runs API: the tags that say what a run is, the queries that find runs again, and the one rule for "best".

Every reader and writer of runs (the run layer, the sweep callback, the
Optuna sweeper, ``python -m qboost_exp.compare``, ``python -m serving package
--best``) takes its tag names, its queries and its ranking from here.

One rule for "best", used by the sweep summary, compare and ``package
--best``: the metric's direction comes from :func:`higher_is_better`
(accuracy-like scores up, everything else down), runs without a finite value
are never best, and among runs level on the metric the sparser wins: fewer
selected learners (metric ``selected``), then the larger λ (metric
``lambda_value``, else the numeric ``lambda`` param), then the run that
started first (:func:`rank_key`). A run that logged no ``selected`` or no λ
(a baseline) yields on that step to one that did. Champion promotion compares
one new run with the champion's metric only (:func:`is_better`: a tie keeps
the champion).

Every query takes an explicit tracking URI (or an explicit client): nothing
here relies on a process-wide URI set elsewhere.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

#: The experiment runs go to unless ``mlflow.experiment`` says otherwise.
DEFAULT_EXPERIMENT = "qboost"
#: The metric sweeps optimise and "best" means unless ``objective`` says otherwise.
DEFAULT_OBJECTIVE = "validation_accuracy"

# The tag that says what a run is, and its values.
ROLE_TAG = "qboost.role"
SINGLE_ROLE = "single"  # one CLI run
PARENT_ROLE = "parent"  # a sweep's summary: no model, the best child's metrics
CHILD_ROLE = "child"  # one job of a sweep
TRAINING_ROLES = (SINGLE_ROLE, CHILD_ROLE)
PARENT_RUN_TAG = "mlflow.parentRunId"
JOB_NUM_TAG = "qboost.job_num"
#: Tag of a sweep's parent run: the sweep directory, by which its jobs find it.
SWEEP_DIR_TAG = "qboost.sweep_dir"
#: Tag of a sweep's parent run: the config keys its jobs vary, space-separated.
SWEPT_TAG = "qboost.swept"
#: Tag of a sweep's parent run: how many jobs it will run (a sweeper may correct it).
JOBS_TAG = "qboost.jobs"
FAILED_STATUSES = ("FAILED", "KILLED")
#: Run tag: a digest of the job's composed config (``hydra`` excluded), by which a resumed sweep knows a job it already ran.
CONFIG_DIGEST_TAG = "qboost.config_digest"
#: Run tag: ``host:pid:start`` of the process that opened the run, by which a later command knows the run's process is gone.
DRIVER_TAG = "qboost.driver"
#: Run tag: why a run was ended by someone other than its own process (a resume, the sweep's end).
CLOSED_BY_TAG = "qboost.closed_by"
#: Run tag: the ``model`` config option that trained the run (``qboost``, ``lasso``, ``adaboost``, ...).
MODEL_TAG = "model"
#: Run tag: ``true`` for a baseline (any model but QBoost), ``false`` for QBoost.
BASELINE_TAG = "qboost.baseline"
#: Run tag: :attr:`qboost_exp.data.Dataset.source_digest` of the run's data, the whole data before splitting:
#: runs that differ only in ``seed`` (hence in their split) of the same data share it.
SOURCE_DIGEST_TAG = "qboost.source_digest"
#: The ``model`` option of QBoost itself (runs without the tag are QBoost runs too).
QBOOST_MODEL = "qboost"
#: Run tag: the method a benchmark compares, :func:`method_name` (``qboost``, ``lasso``, ``lasso@k``, ``abess@15``).
METHOD_TAG = "qboost.method"
#: ``model.max_learners=match``: a baseline takes as many learners as its QBoost sibling of the same sweep selected.
MATCH_LEARNERS = "match"
#: Run tag of a ``max_learners=match`` run: the QBoost run whose k it took.
MATCHED_RUN_TAG = "qboost.matched_run"
#: Run tag of a ``max_learners=match`` run: the k it took (that run's :data:`SELECTED_VARYING_METRIC`,
#: its ``selected`` for a run from before that metric).
MATCHED_K_TAG = "qboost.matched_k"
#: The metrics the tie rule reads: the number of selected learners and the λ used.
SELECTED_METRIC = "selected"
#: Metric of QBoost and the dictionary baselines: how many of the selected learners vary on the training data
#: (``n_selected_varying_``); the rest are constant there and act as an intercept. What ``match`` matches.
SELECTED_VARYING_METRIC = "selected_varying"
LAMBDA_METRIC = "lambda_value"


def model_tags(model_name: str | None) -> dict[str, str]:
    """The tags that tell QBoost runs and baselines apart: :data:`MODEL_TAG` and :data:`BASELINE_TAG`."""
    name = str(model_name or QBOOST_MODEL)
    return {MODEL_TAG: name, BASELINE_TAG: "false" if name == QBOOST_MODEL else "true"}


#: Params a QBoost run must share with a ``model.max_learners=match`` job for its count to be the job's k: the data and the dictionary.
MATCHED_PREFIXES = ("dataset.", "split.", "weak_learners.")
MATCHED_PARAMS = ("seed",)


def matched_params(params: Mapping[str, str]) -> dict[str, str]:
    """The params that must agree between a ``match`` job and its QBoost run: ``dataset.*``, ``split.*``, ``weak_learners.*``, ``seed``."""
    return {key: value for key, value in params.items() if key.startswith(MATCHED_PREFIXES) or key in MATCHED_PARAMS}


#: The ``model`` option of any scikit-learn classifier given by ``_target_``.
SKLEARN_MODEL = "sklearn"


def method_name(model_name: str | None, max_learners: Any = None, target: Any = None) -> str:
    """The value of :data:`METHOD_TAG`: the one rule, for the run's config and its spec alike.

    ``qboost`` for QBoost; a baseline's ``model`` option (``lasso``,
    ``adaboost``, ...), suffixed ``@k`` under ``model.max_learners=match``
    and ``@<int>`` under a fixed ``model.max_learners`` (``lasso@k``, ``abess@15``);
    a ``model=sklearn`` classifier goes by its class (``model._target_``'s
    last part: ``AdaBoostClassifier``).
    """
    name = str(model_name or QBOOST_MODEL)
    if name == SKLEARN_MODEL and isinstance(target, str) and target.strip():
        return target.strip().rsplit(".", 1)[-1]
    if name == QBOOST_MODEL or max_learners is None:
        return name
    if max_learners == MATCH_LEARNERS:
        return f"{name}@k"
    if isinstance(max_learners, float) and max_learners.is_integer():
        max_learners = int(max_learners)
    return f"{name}@{max_learners}"

# Quality scores; every other metric (time_*, selected, best_energy,
# chain_break_fraction, qpu_access_time, ...) is better when smaller.
_HIGHER_IS_BETTER = ("accuracy", "auc", "f1", "precision", "recall")


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better (accuracy, AUC, F1); else smaller is better."""
    name = metric.removeprefix("metrics.").lower()
    return any(word in name for word in _HIGHER_IS_BETTER)


#: Metrics measured on the test split start so: they are shown, never used to choose.
TEST_PREFIX = "test_"


def is_test_metric(metric: str) -> bool:
    """Whether ``metric`` is measured on the test split (``test_accuracy``, ``test_f1``, ...): never a basis for choosing."""
    return metric.removeprefix("metrics.").lower().startswith(TEST_PREFIX)


def client_for(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for exactly ``tracking_uri`` (never the process-wide default)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def get_experiment(client: Any, name: str) -> Any:
    """The live experiment called ``name``.

    Raises
    ------
    TrackingStoreError
        No such experiment, or it is deleted (the message lists the existing ones).
    """
    from ._store import TrackingStoreError

    found = client.get_experiment_by_name(name)
    if found is None or found.lifecycle_stage == "deleted":
        names = sorted(e.name for e in client.search_experiments())
        raise TrackingStoreError(f"no experiment named {name!r} in the tracking store; existing experiments: {', '.join(names) or '(none)'}")
    return found


def search_all(client: Any, experiment_ids: Sequence[str], filter_string: str = "", order_by: Sequence[str] = ("attributes.start_time ASC",)) -> list[Any]:
    """Every run matching ``filter_string``, all pages (MLflow returns at most 1000 a page)."""
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(list(experiment_ids), filter_string=filter_string, max_results=1000, order_by=list(order_by), page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def children_filter(parent_run_id: str) -> str:
    """The search filter for the child runs of a sweep's parent run."""
    return f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'"


def child_runs(client: Any, parent_run_id: str, *, finished_only: bool = False, where: str = "") -> list[Any]:
    """The child runs of the parent run ``parent_run_id``, oldest first (any role, any status unless ``finished_only``).

    ``where``: more of MLflow's search filter (``tags.dataset = 'wisc'``), ANDed,
    so that the store, not this process, narrows a large sweep's children.
    """
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    query = children_filter(parent_run_id) + (" AND attributes.status != 'RUNNING'" if finished_only else "") + (f" AND {where}" if where else "")
    return search_all(client, [experiment_id], query)


def find_parent_run(client: Any, experiment_id: str, sweep_dir: str) -> Any | None:
    """The RUNNING parent run (``mlflow.entities.Run``) of the sweep that owns ``sweep_dir``, or None."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = '{PARENT_ROLE}' AND tags.`{SWEEP_DIR_TAG}` = '{sweep_dir}' AND attributes.status = 'RUNNING'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def driver_id() -> str:
    """``host:pid:start`` of this process: the value of :data:`DRIVER_TAG` on the runs it opens.

    The start (clock ticks since boot, from /proc) tells a live process from a
    later one that was given the same pid.
    """
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _process_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # Field 22, counted after the command name in parentheses (which may hold spaces).
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def driver_alive(tag: str | None) -> bool | None:
    """Whether the process a :data:`DRIVER_TAG` value names still runs: None when it ran on another host (unknowable here)."""
    import os
    import socket

    try:
        host, pid, start = str(tag).rsplit(":", 2)
        number = int(pid)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    return start == "?" or _process_start(number) == start


def swept_keys(parent: Any) -> list[str] | None:
    """The keys a sweep varies, from its parent run's tag (None for a parent without it)."""
    text = parent.data.tags.get(SWEPT_TAG)
    return None if text is None else text.split()


def metric_value(run: Any, metric: str) -> float | None:
    """``run``'s value of ``metric`` if it logged a finite one, else None."""
    value = run.data.metrics.get(metric.removeprefix("metrics."))
    return value if value is not None and math.isfinite(value) else None


def is_better(new: float, old: float, metric: str) -> bool:
    """Whether ``new`` strictly beats ``old`` on ``metric`` (equal is not better: the earlier run keeps it)."""
    return new > old if higher_is_better_for(metric) else new < old


def higher_is_better_for(metric: str, order: str | None = None) -> bool:
    """The direction of ``metric``: ``order`` ("max"/"min") when given, else the project's rule by name."""
    if order is None:
        return higher_is_better(metric)
    if order not in ("max", "min"):
        raise ValueError(f"order must be 'max' or 'min', got {order!r}")
    return order == "max"


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def sparsity(run: Any) -> tuple[float | None, float | None]:
    """``(selected learners, λ)`` of ``run`` (an ``mlflow.entities.Run``): the tie-breakers of :func:`rank_key`.

    λ is the ``lambda_value`` metric (the λ actually used, also for
    ``lambda=auto``), else the numeric ``lambda`` param; None where the run
    logged none. A baseline (tag :data:`BASELINE_TAG` ``true``, or a
    :data:`MODEL_TAG` other than QBoost) has no λ: its ``lambda`` param is
    unused config.
    """
    metrics = getattr(run.data, "metrics", None) or {}
    params = getattr(run.data, "params", None) or {}
    tags = getattr(run.data, "tags", None) or {}
    selected = _finite(metrics.get(SELECTED_METRIC))
    if str(tags.get(BASELINE_TAG, "")).lower() == "true" or tags.get(MODEL_TAG, QBOOST_MODEL) != QBOOST_MODEL:
        return selected, None
    lam = _finite(metrics.get(LAMBDA_METRIC))
    return selected, lam if lam is not None else _finite(params.get("lambda"))


def rank_key(
    value: float,
    start_time: int | None,
    metric: str,
    order: str | None = None,
    *,
    selected: float | None = None,
    lam: float | None = None,
) -> tuple[float, float, float, int]:
    """Sort key, smallest first = best first: the one rule for "best".

    By ``metric`` in its direction; among runs level on it the sparser wins:
    fewer ``selected`` learners, then the larger ``lam``, then the earlier
    ``start_time``. A missing ``selected`` or ``lam`` (None or NaN) sorts
    after every value on its step.
    """
    primary = -value if higher_is_better_for(metric, order) else value
    fewer = _finite(selected)
    larger = _finite(lam)
    return (primary, math.inf if fewer is None else fewer, math.inf if larger is None else -larger, start_time or 0)


def best_run(runs: Iterable[Any], metric: str, order: str | None = None) -> Any | None:
    """The best of ``runs`` (``mlflow.entities.Run``) by ``metric``, under the one rule; None if none has it.

    Level runs: the fewer selected learners, then the larger λ, then the
    earlier start wins (:func:`rank_key`, :func:`sparsity`).

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

    def key(pair: tuple[float, Any]) -> tuple[float, float, float, int]:
        selected, lam = sparsity(pair[1])
        return rank_key(pair[0], pair[1].info.start_time, metric, order, selected=selected, lam=lam)

    return min(scored, key=key)[1]


def training_runs(
    experiment: str,
    *,
    tracking_uri: str,
    parent_run_id: str | None = None,
    statuses: Sequence[str] | None = ("FINISHED",),
    with_model: bool = False,
) -> list[Any]:
    """The training runs (tagged ``qboost.role`` single or child) of ``experiment``, oldest first.

    Parameters
    ----------
    experiment : str
        MLflow experiment name.
    tracking_uri : str
        The store to read (see :func:`resolve_tracking_uri`).
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
    client = client_for(tracking_uri)
    found = get_experiment(client, experiment)
    filters = []
    if parent_run_id is not None:
        filters.append(children_filter(parent_run_id))
    if statuses is not None and len(statuses) == 1:
        filters.append(f"attributes.status = '{statuses[0]}'")
    runs = [run for run in search_all(client, [found.experiment_id], " AND ".join(filters)) if run.data.tags.get(ROLE_TAG) in TRAINING_ROLES]
    if statuses is not None:
        runs = [run for run in runs if run.info.status in statuses]
    if with_model:
        runs = [run for run in runs if _has_model(run)]
    return runs


def _has_model(run: Any) -> bool:
    outputs = getattr(run, "outputs", None)
    return outputs is None or bool(getattr(outputs, "model_outputs", None))
