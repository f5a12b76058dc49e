"""``model.max_learners=match``: a baseline at QBoost's sparsity, k taken from its QBoost sibling in the same sweep.

When a job starts, before its model is built, :func:`resolve_match` turns
``max_learners: match`` into k, the number of learners the one FINISHED
QBoost run (tag ``qboost.method`` = ``qboost``) of the same sweep (a child of
the same parent run) selected that VARY on the training data: its metric
``selected_varying`` (:data:`~qboost_exp.tracking.SELECTED_VARYING_METRIC`;
its ``selected`` for a run from before that metric). That run is the one
trained on the same data and dictionary: the same params ``dataset.*``,
``split.*``, ``weak_learners.*`` and ``seed``.

Why not ``selected``: a dictionary may hold candidates whose output is
constant on the training data (20 to 24 of AdaBoost's 60 depth-2 trees on
``hastie``). QBoost has no intercept in its QUBO and may select such a
learner as its bias, and ``selected`` counts it; ``lasso`` and ``abess``
have an intercept and never select one. Equal k means as many learners
that vary. ``adaboost@k`` takes the same k as its number of stages (its
``selected``), constant trees among them if boosting fits any.

Our grid sweeper launches every ``match`` job after all the others, so that
sibling has finished, and refuses up front a sweep in which a ``match`` job
would find several; a resumed sweep reopens the same parent run, so the
QBoost runs of the earlier launch count too (a QBoost job run again keeps
only its latest FINISHED run).

No such run, several (a sweep over λ), one whose k is 0, or a run outside
a tracked multirun: a :class:`~qboost_exp.errors.ConfigError` that says so
in one line (the job's run then ends FAILED).

The run records where k came from: the tags ``qboost.matched_run`` (the
QBoost run) and ``qboost.matched_k``; its param ``model.max_learners`` stays
``match``, as written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from .config import FrozenDict, RunSpec
from .errors import ConfigError

#: The example command every message ends with.
_EXAMPLE = "python -m qboost_exp -m model=qboost,lasso_at_k seed=0,1"


@dataclass(frozen=True)
class Match:
    """The QBoost run a ``match`` job takes its k from."""

    run_id: str
    k: int

    def tags(self) -> dict[str, str]:
        """The provenance tags the job's run opens with."""
        from .tracking import MATCHED_K_TAG, MATCHED_RUN_TAG

        return {MATCHED_RUN_TAG: self.run_id, MATCHED_K_TAG: str(self.k)}


def resolve_match(spec: RunSpec, plain: Mapping[str, Any], context: Any | None) -> tuple[RunSpec, dict[str, str]]:
    """``spec`` with ``max_learners`` = k of its QBoost sibling, and the run's provenance tags; ``spec`` as it is (no tags) without ``match``.

    Parameters
    ----------
    spec : RunSpec
        The job's spec (:func:`qboost_exp.config.read`).
    plain : mapping
        The job's plain config, as its run logs it (its params are compared).
    context : RunContext or None
        The job's tracking context; None when it is not tracked.

    Raises
    ------
    ConfigError
        Not a job of a tracked multirun; no QBoost sibling, several, or one that selected no varying learner.
    """
    if not spec.model.matches_qboost:
        return spec, {}
    if context is None or context.sweep_dir is None:
        where = "tracking is off (mlflow.enabled=false)" if context is None else "this is a single run"
        raise ConfigError(
            f"model.max_learners=match takes k from the QBoost run of the same tracked multirun, and {where}: "
            f"run it in a sweep beside model=qboost, e.g. {_EXAMPLE}"
        )
    match = find_match(plain, context)
    options = FrozenDict({**spec.model.options, "max_learners": match.k})
    return replace(spec, model=replace(spec.model, options=options)), match.tags()


def find_match(plain: Mapping[str, Any], context: Any) -> Match:
    """The QBoost run of the job's sweep (``context.sweep_dir``) with the job's data and dictionary, and its k (:func:`matched_k`)."""
    from . import tracking

    wanted = tracking.matched_params(tracking.flatten({key: value for key, value in plain.items() if key != "hydra"}))
    what = _describe(plain)
    with tracking.bounded_retries(context.tracking_uri, context.retry_seconds):
        client = tracking.client_for(context.tracking_uri)
        experiment = tracking.get_experiment(client, context.experiment)
        parent = tracking.find_parent_run(client, experiment.experiment_id, context.sweep_dir)
        if parent is None:
            raise ConfigError(
                f"model.max_learners=match: no running sweep owns {context.sweep_dir} in experiment {context.experiment!r}, "
                f"so there is no QBoost run to match; run it in a tracked multirun beside model=qboost, e.g. {_EXAMPLE}"
            )
        parent_id = parent.info.run_id
        # The store narrows the sweep's children to this dataset and seed: a benchmark has hundreds.
        children = tracking.child_runs(client, parent_id, where=_same_data_filter(plain))
    found = _latest_per_job([run for run in children if _is_qboost(run) and tracking.matched_params(run.data.params) == wanted])
    if not found:
        raise ConfigError(
            f"model.max_learners=match: no finished QBoost run of {what} in this sweep (parent run {parent_id}): "
            f"run model=qboost on the same data in the same multirun (it runs before the match jobs), e.g. {_EXAMPLE}"
        )
    if len(found) > 1:
        listing = ", ".join(f"run {run.info.run_id} (lambda={run.data.params.get('lambda', '?')})" for run in found)
        raise ConfigError(
            f"model.max_learners=match: {len(found)} finished QBoost runs of {what} in this sweep (parent run {parent_id}): "
            f"{listing}; k would be ambiguous: sweep one QBoost config beside the match models (one multirun per lambda)"
        )
    (run,) = found
    k = matched_k(run)
    if k is None:
        raise ConfigError(f"model.max_learners=match: the QBoost run {run.info.run_id} of {what} logged no `selected`; run it again")
    if k < 1:
        raise ConfigError(
            f"model.max_learners=match: the QBoost run {run.info.run_id} of {what} selected no learner that varies on the "
            "training data, so there is no k >= 1 to match; give QBoost a smaller lambda"
        )
    return Match(run_id=run.info.run_id, k=k)


def matched_k(run: Any) -> int | None:
    """The k a ``match`` job takes from the QBoost ``run``: its ``selected_varying``, else (an older run) its ``selected``; None without either.

    ``selected_varying`` counts the selected learners that vary on the
    training data: QBoost may select learners constant there (its bias), which
    the baselines with an intercept never select.
    """
    from . import tracking

    for metric in (tracking.SELECTED_VARYING_METRIC, tracking.SELECTED_METRIC):
        value = tracking.metric_value(run, metric)
        if value is not None:
            return int(round(value))
    return None


def _is_qboost(run: Any) -> bool:
    """A FINISHED QBoost run (a run from before :data:`~qboost_exp.tracking.METHOD_TAG` by its ``model`` tag)."""
    from .tracking import METHOD_TAG, MODEL_TAG, QBOOST_MODEL

    tags = run.data.tags
    return run.info.status == "FINISHED" and tags.get(METHOD_TAG, tags.get(MODEL_TAG, QBOOST_MODEL)) == QBOOST_MODEL


def _latest_per_job(runs: list[Any]) -> list[Any]:
    """One run per job number, its latest (a QBoost job run again by a resume); runs without a number stay."""
    from .tracking import JOB_NUM_TAG

    latest: dict[str, Any] = {}
    loose = []
    for run in runs:
        number = run.data.tags.get(JOB_NUM_TAG)
        if number is None:
            loose.append(run)
        elif number not in latest or (run.info.start_time or 0) >= (latest[number].info.start_time or 0):
            latest[number] = run
    return [*latest.values(), *loose]


def _same_data_filter(plain: Mapping[str, Any]) -> str:
    """MLflow's filter for runs of the job's dataset name and seed (the params then decide).

    MLflow's filter grammar has no escape inside a string literal (``'it\\'s'``
    is read with its backslash), so a name holding a single quote is quoted with
    double quotes; a name holding both kinds of quote (or a seed that is not an
    int) is left out of the filter, to the params.
    """
    clauses = []
    dataset = str((plain.get("dataset") or {}).get("name", ""))
    if "'" not in dataset:
        clauses.append(f"tags.dataset = '{dataset}'")
    elif '"' not in dataset:
        clauses.append(f'tags.dataset = "{dataset}"')
    seed = plain.get("seed", 0)
    if isinstance(seed, int) and not isinstance(seed, bool):
        clauses.append(f"params.seed = '{seed}'")
    return " AND ".join(clauses)


def _describe(plain: Mapping[str, Any]) -> str:
    """``dataset wisc, seed 3`` (and the weak-learner set) for the messages."""
    dataset = (plain.get("dataset") or {}).get("name", "?")
    learners = (plain.get("weak_learners") or {}).get("name")
    return f"dataset {dataset}, seed {plain.get('seed', 0)}" + (f", weak_learners {learners}" if learners else "")
