"""Loading: the training runs of an experiment as a DataFrame, as ``mlflow.search_runs`` returns them."""

from __future__ import annotations

import warnings

import pandas as pd

from ..tracking import (
    BASELINE_TAG,
    DEFAULT_EXPERIMENT,
    MODEL_TAG,
    QBOOST_MODEL,
    FAILED_STATUSES,
    PARENT_ROLE,
    PARENT_RUN_TAG,
    ROLE_TAG,
    TRAINING_ROLES,
    TrackingStoreError,
    client_for,
    get_experiment,
    resolve_tracking_uri,
    search_all,
)
from ._select import DATASET_TAG, CompareError, DatasetId, training_digest

# mlflow.search_runs pages through the store itself (1000 runs per request);
# this only bounds memory for a pathological experiment.
_MAX_RUNS = 100_000
_ROLE_TAG = f"tags.{ROLE_TAG}"
_PARENT_TAG = f"tags.{PARENT_RUN_TAG}"


def _one_line(exc: BaseException) -> str:
    # MLflow messages can span lines; the CLI promises exactly one error line.
    return " ".join(str(getattr(exc, "message", None) or exc).split())


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    """A column of ``runs``, or all-missing if no run logged it (search_runs omits such columns)."""
    if name in runs.columns:
        return runs[name]
    return pd.Series([None] * len(runs), index=runs.index, dtype=object)


def _metric_column(metric: str) -> str:
    return metric if metric.startswith("metrics.") else f"metrics.{metric}"


def _lambda_values(runs: pd.DataFrame) -> pd.Series:
    """λ per run: the ``lambda_value`` metric (the λ actually used), else the numeric ``lambda`` param."""
    from_param = pd.to_numeric(_column(runs, "params.lambda"), errors="coerce")  # "auto" -> NaN
    from_metric = pd.to_numeric(_column(runs, "metrics.lambda_value"), errors="coerce")
    return from_metric.where(from_metric.notna(), from_param).astype(float)


def _is_baseline(runs: pd.DataFrame, model: pd.Series) -> pd.Series:
    flagged = _column(runs, f"tags.{BASELINE_TAG}").astype(str).str.lower() == "true"
    return flagged | (model.notna() & (model.astype(str) != QBOOST_MODEL))


def own_lambda(data: pd.DataFrame) -> pd.Series:
    """Each run's λ, NaN for a baseline: its ``lambda`` param is unused config (``data`` with :func:`_with_derived_columns`' columns)."""
    return data["lambda"].where(~data["baseline"].astype(bool))


def _dataset_labels(runs: pd.DataFrame) -> pd.Series:
    return pd.Series([d.label for d in dataset_ids(runs)], index=runs.index, dtype=object)


def dataset_ids(runs: pd.DataFrame) -> list[DatasetId]:
    """Each row's :class:`DatasetId`, from the ``dataset_name`` and ``dataset_digest`` columns (see :func:`load_runs`)."""
    runs = runs if "dataset_name" in runs.columns else _with_derived_columns(runs)
    return [
        DatasetId(None if pd.isna(name) else str(name), None if pd.isna(digest) else str(digest))
        for name, digest in zip(runs["dataset_name"], _column(runs, "dataset_digest"))
    ]


def _with_derived_columns(runs: pd.DataFrame, experiment: str | None = None) -> pd.DataFrame:
    """Add the convenience columns the table and plots use, keeping every raw MLflow column.

    Columns added: ``experiment``, ``run_name``, ``sampler``, ``weak_learners``
    (tag, else the config param), ``lambda`` (float), ``weight_bits`` (the
    param string), ``dataset_name`` (tag ``dataset``, else the param),
    ``dataset_digest`` (None unless the loader read the training input),
    ``dataset`` (``name@digest``, see :class:`DatasetId`), ``model`` (tag,
    else the param, else ``qboost``) and ``baseline`` (bool). Existing columns
    of those names are left alone, so frames built elsewhere can be passed to
    the plotting functions.
    """
    runs = runs.copy()

    def tag_else_param(tag: str, param: str) -> pd.Series:
        tagged = _column(runs, f"tags.{tag}")
        return tagged.where(tagged.notna(), _column(runs, f"params.{param}"))

    derived = {
        "run_name": lambda: _column(runs, "tags.mlflow.runName"),
        "sampler": lambda: tag_else_param("sampler", "sampler.name"),
        "weak_learners": lambda: tag_else_param("weak_learners", "weak_learners.name"),
        "lambda": lambda: _lambda_values(runs),
        "weight_bits": lambda: _column(runs, "params.qubo.weight_bits"),
        "dataset_name": lambda: tag_else_param(DATASET_TAG, "dataset.name"),
        "dataset_digest": lambda: _column(runs, "dataset_digest"),
        "dataset": lambda: _dataset_labels(runs),
        "model": lambda: tag_else_param(MODEL_TAG, "model.name").where(lambda m: m.notna(), QBOOST_MODEL),
        "baseline": lambda: _is_baseline(runs, tag_else_param(MODEL_TAG, "model.name")),
    }
    if experiment is not None and "experiment" not in runs.columns:
        runs["experiment"] = experiment
    for name, make in derived.items():
        if name not in runs.columns:
            runs[name] = make()
    return runs


def _load(experiment: str, tracking_uri: str | None, parent: str | None, include_failed: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    """:func:`load_runs`, plus how many runs each filter dropped (for a helpful "no runs" message)."""
    try:
        uri = resolve_tracking_uri(tracking_uri, must_exist=True)
    except TrackingStoreError as exc:
        raise CompareError(str(exc)) from None
    import mlflow
    from mlflow.exceptions import MlflowException

    # mlflow.search_runs (the one call that returns runs as a DataFrame) has no
    # URI argument and reads the process-wide one: set it, explicitly, here.
    mlflow.set_tracking_uri(uri)
    try:
        try:
            exp = get_experiment(client_for(uri), experiment)
        except TrackingStoreError as exc:
            raise CompareError(f"{exc} ({uri})") from None
        runs = mlflow.search_runs(
            experiment_ids=[exp.experiment_id],
            max_results=_MAX_RUNS,
            order_by=["attributes.start_time ASC"],  # stable tie order for the sort
            output_format="pandas",
        )
        # search_runs' DataFrame has no dataset inputs: the training split's digest comes from the runs themselves.
        digests = {run.info.run_id: training_digest(run) for run in search_all(client_for(uri), [exp.experiment_id])} if len(runs) else {}
    except MlflowException as exc:
        raise CompareError(f"cannot read runs from {uri}: {_one_line(exc)}") from exc
    runs["dataset_digest"] = pd.Series([digests.get(run_id) for run_id in _column(runs, "run_id")], index=runs.index, dtype=object)
    if len(runs) >= _MAX_RUNS:
        warnings.warn(f"experiment {experiment!r} has at least {_MAX_RUNS} runs; only the oldest {_MAX_RUNS} are compared", stacklevel=3)

    dropped = {"total": len(runs), "parent": 0, "untagged": 0, "failed": 0}
    if parent is not None:
        runs = runs[_column(runs, _PARENT_TAG) == _resolve_parent(runs, parent, experiment)]
    role = _column(runs, _ROLE_TAG)
    # Parent runs only summarise their children; counting them would show each sweep twice.
    dropped["parent"] = int((role == PARENT_ROLE).sum())
    dropped["untagged"] = int((~role.isin(TRAINING_ROLES) & (role != PARENT_ROLE)).sum())
    runs = runs[role.isin(TRAINING_ROLES)]
    failed = _column(runs, "status").isin(FAILED_STATUSES)
    if not include_failed:
        dropped["failed"] = int(failed.sum())
        runs = runs[~failed]
    return _with_derived_columns(runs.reset_index(drop=True), experiment), dropped


def _resolve_parent(runs: pd.DataFrame, parent: str, experiment: str) -> str:
    """The full id of the sweep's parent run; a unique prefix (the table's 8 characters) is enough."""
    role = _column(runs, _ROLE_TAG)
    known = set(runs.loc[role == PARENT_ROLE, "run_id"]) | set(_column(runs, _PARENT_TAG).dropna())
    matches = sorted(run_id for run_id in known if run_id.startswith(parent))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CompareError(f"--parent {parent!r} matches several parent runs: {', '.join(m[:12] for m in matches)}; give more characters")
    names = dict(zip(runs["run_id"], _column(runs, "tags.mlflow.runName")))
    listing = ", ".join(f"{run_id[:8]} ({names.get(run_id) or '?'})" for run_id in sorted(known)) or "(none)"
    raise CompareError(f"no parent run {parent!r} in experiment {experiment!r}; parent runs: {listing}")


def load_runs(
    experiment: str,
    tracking_uri: str | None = None,
    parent: str | None = None,
    include_failed: bool = False,
) -> pd.DataFrame:
    """The training runs of an experiment, as ``mlflow.search_runs`` returns them.

    Parent runs of sweeps (tag ``qboost.role=parent``) are left out; only runs
    tagged ``single`` or ``child`` are training runs.

    Parameters
    ----------
    experiment : str
        MLflow experiment name.
    tracking_uri : str or None
        Store to read. None means ``MLFLOW_TRACKING_URI``, else
        ``sqlite:///mlflow.db`` (in the current directory); pass
        ``mlflow.get_tracking_uri()`` to use the URI this process already set.
        It becomes the process-wide URI (``mlflow.set_tracking_uri``), since
        ``mlflow.search_runs`` has no URI argument.
    parent : str or None
        Keep only the children of this sweep's parent run (a unique prefix of
        its id suffices).
    include_failed : bool
        Keep runs whose status is FAILED or KILLED.

    Returns
    -------
    pandas.DataFrame
        One row per run, oldest first, with every ``metrics.*``, ``params.*``
        and ``tags.*`` column MLflow returns (values untouched) plus the
        columns ``experiment``, ``run_name``, ``sampler``, ``weak_learners``,
        ``lambda`` (float: the ``lambda_value`` metric, else the numeric
        ``lambda`` param, else NaN), ``weight_bits``, ``dataset_name``,
        ``dataset_digest`` (of the training split's MLflow dataset input; None
        for a run without inputs), ``dataset`` (``name@digest``), ``model`` and
        ``baseline``. Empty if no run matches.

    Raises
    ------
    CompareError
        The local store does not exist, the experiment or parent run is
        unknown, or the store cannot be read.
    """
    return _load(experiment, tracking_uri, parent, include_failed)[0]
