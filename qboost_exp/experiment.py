"""The run layer: a composed config read once into a spec, a fitted model and its scores out, handed to tracking.

This is the CLI's work without the CLI, so tests, sweeps and the SageMaker
``train`` program all run the very same steps. :func:`run_tracked` and
:func:`run_experiment` read the config once (:func:`qboost_exp.config.read`:
a checked, frozen :class:`~qboost_exp.config.RunSpec`); the builders below
compose the domain (estimator, samplers, weak learners) and the data from
that spec, and the result goes to :mod:`qboost_exp.tracking`; nothing below
it imports it.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, Union

import dimod
import numpy as np

from ._match import resolve_match
from .config import DataSpec, ModelSpec, RunSpec, SamplerSpec, WeakLearnersSpec, as_plain, check_config, read, read_lam, thawed
from .config import to_plain  # noqa: F401 - public here since before the config read once (serving's train program uses it)
from .domain.qboost import QBoostClassifier
from .data import Dataset, load_dataset
from .errors import ConfigError
from .tracking import QBOOST_MODEL as QBOOST  # the runs API owns the model names' tag values
from .domain.plugins import make_sampler, make_weak_learner_set
from .domain.weak_learners import WeakLearnerSet


@dataclass
class ExperimentResult:
    """What one run produced (tracking takes it as a :class:`qboost_exp.tracking.Trained`)."""

    model: Any  # a fitted QBoostClassifier, or a baseline (any scikit-learn classifier): see model_name
    dataset: Dataset
    metrics: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)
    #: The ``model`` config option that built it: ``qboost``, or a baseline (``lasso``, ``adaboost``, ...).
    model_name: str = "qboost"

    def frame(self, split: str) -> "pd.DataFrame":
        """The features of ``split`` ("train", "val" or "test") as a DataFrame, see :func:`as_frame`."""
        return as_frame(self.dataset, split)

    def all_metrics(self) -> dict[str, float]:
        """Every number worth comparing across runs, flat: the scores, the phase timings
        (``time_*`` and ``time_total``) and what the sampler reported; finite values only."""
        metrics = dict(self.metrics)
        metrics.update({f"time_{phase}": float(seconds) for phase, seconds in self.timings.items()})
        metrics["time_total"] = float(sum(self.timings.values()))
        info = getattr(self.model, "sampler_info_", None) or {}
        if "chain_break_fraction" in info:
            metrics["chain_break_fraction"] = float(info["chain_break_fraction"])
        timing = info.get("timing") or {}
        if "qpu_access_time" in timing:
            metrics["qpu_access_time"] = float(timing["qpu_access_time"])  # microseconds, as D-Wave reports it
        return {k: v for k, v in metrics.items() if np.isfinite(v)}


def _deprecated(old: str, new: str, depth: int = 1) -> None:
    """Warn that ``old`` (a call's old form) goes away in the next release, naming ``new``.

    The warning points at the code that called the public function ``depth``
    frames above this one.
    """
    warnings.warn(f"{old} is deprecated and goes away in the next release: use {new}", DeprecationWarning, stacklevel=2 + depth)


def _run_spec(spec: Any, function: str) -> RunSpec:
    """``spec`` if it is a RunSpec; a config (``function``'s old form, deprecated) is read into one."""
    if isinstance(spec, RunSpec):
        return spec
    _deprecated(f"{function}(cfg) with a config", f"{function}(spec), spec = qboost_exp.config.read(cfg)", depth=2)
    return read(spec)


def read_lambda(cfg: Mapping[str, Any]) -> float | str:
    """Deprecated: the top-level ``lambda`` of a config, checked; :func:`qboost_exp.config.read` gives it as ``spec.qubo.lam``."""
    _deprecated("read_lambda(cfg)", "qboost_exp.config.read(cfg).qubo.lam")
    lam = read_lam(cfg)
    check_config({"lambda": cfg["lambda"]})
    return lam


def model_name(cfg: Mapping[str, Any]) -> str:
    """Deprecated: the ``model`` option of a config; :func:`qboost_exp.config.read` gives it as ``spec.model.name``."""
    _deprecated("model_name(cfg)", "qboost_exp.config.read(cfg).model.name")
    return ModelSpec.from_config(cfg.get("model") if hasattr(cfg, "get") else None).name


def _instantiate_targets(node: Any, where: str = "") -> Any:
    """Turn every ``_target_`` mapping inside a plain config into its object (Hydra's instantiate).

    A target that cannot be instantiated raises one line: ``cannot instantiate
    TARGET (at WHERE): REASON`` (the first line of Hydra's message).
    """
    from hydra.utils import instantiate

    if isinstance(node, Mapping):
        if "_target_" in node:
            try:
                return instantiate(dict(node))
            except Exception as exc:
                reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
                at = f" (at {where})" if where else ""
                raise ConfigError(f"cannot instantiate {node['_target_']}{at}: {reason}") from None
        return {k: _instantiate_targets(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_instantiate_targets(v, f"{where}[{i}]") for i, v in enumerate(node)]
    return node


def build_sampler(sampler: SamplerSpec) -> dimod.Sampler:
    """The sampler a spec names (fails fast, e.g. on missing credentials).

    Parameters
    ----------
    sampler : SamplerSpec
        ``spec.sampler`` of :func:`qboost_exp.config.read`. A ``sampler``
        config node, the old form, still works this release, with a
        DeprecationWarning.
    """
    if not isinstance(sampler, SamplerSpec):
        _deprecated("build_sampler(sampler_cfg) with a config node", "build_sampler(qboost_exp.config.read(cfg).sampler)")
        sampler = SamplerSpec.from_config(sampler)
    return make_sampler(sampler.name, **thawed(sampler.init))


def build_weak_learners(learners: WeakLearnersSpec) -> WeakLearnerSet:
    """The weak-learner set a spec names, its parameters checked before any data is loaded.

    Parameters
    ----------
    learners : WeakLearnersSpec
        ``spec.weak_learners`` of :func:`qboost_exp.config.read`. A
        ``weak_learners`` config node, the old form, still works this
        release, with a DeprecationWarning.
    """
    from .domain.weak_learners import check_parameters

    if not isinstance(learners, WeakLearnersSpec):
        _deprecated("build_weak_learners(learners_cfg) with a config node", "build_weak_learners(qboost_exp.config.read(cfg).weak_learners)")
        learners = WeakLearnersSpec.from_config(learners)
    params = _instantiate_targets(thawed(learners.params))
    learner_set = make_weak_learner_set(learners.name, **params)
    check_parameters(learner_set)  # before any data is loaded, not when fit starts
    return learner_set


def sample_params(sampler_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Deprecated: options for ``sample()`` of a ``sampler`` config node; ``spec.sampler.params`` holds them."""
    _deprecated("sample_params(sampler_cfg)", "qboost_exp.config.read(cfg).sampler.params")
    return thawed(SamplerSpec.from_config(sampler_cfg).params)


def _cv_splitter(cv: int | float, seed: int) -> Any:
    """A checked ``qubo.cv`` as the estimator takes it: k folds, or one stratified validation split of that fraction."""
    from sklearn.model_selection import StratifiedShuffleSplit

    if isinstance(cv, int):
        return cv
    return StratifiedShuffleSplit(n_splits=1, test_size=cv, random_state=seed)


def make_estimator(spec: RunSpec, sampler: dimod.Sampler | None = None) -> QBoostClassifier:
    """The QBoostClassifier a run's spec describes.

    Parameters
    ----------
    spec : RunSpec
        :func:`qboost_exp.config.read` of a config whose ``model`` is
        ``qboost``. A config, the old form, still works this release (read as
        QBoost's, whatever its ``model``), with a DeprecationWarning.
    sampler : dimod.Sampler, optional
        An already built sampler (default: built from ``spec.sampler``).

    Raises
    ------
    ConfigError
        The sampler or the weak-learner set refuses its options.
    ValueError
        ``spec`` is a baseline's (build it with :func:`make_baseline_model`).
    """
    if not isinstance(spec, RunSpec):
        _deprecated("make_estimator(cfg) with a config", "make_estimator(spec), spec = qboost_exp.config.read(cfg)")
        spec = read({**as_plain(spec), "model": {"name": QBOOST}})
    if spec.qubo is None:
        raise ValueError(f"make_estimator builds QBoost; this spec's model is {spec.model.name}: use make_baseline_model")
    return QBoostClassifier(
        weak_learners=build_weak_learners(spec.weak_learners),
        sampler=sampler if sampler is not None else build_sampler(spec.sampler),
        sampler_params=thawed(spec.sampler.params),
        cv=_cv_splitter(spec.qubo.cv, spec.seed),
        random_state=spec.seed,
        verbose=spec.verbose,
        **spec.qubo.estimator_params(),
    )


def make_baseline_model(spec: RunSpec) -> Any:
    """The unfitted baseline classifier a run's spec describes (its ``model`` other than ``qboost``).

    ``spec.model.name`` picks it (:data:`qboost_exp.domain.baselines.BASELINES`);
    ``spec.model.options`` are its constructor arguments. The dictionary
    baselines (``lasso``, ``l1_logistic``, ``abess``, a plugin whose factory
    takes ``weak_learners``) take their candidates from ``spec.weak_learners``,
    as QBoost does; ``sklearn`` instantiates
    ``model._target_`` with Hydra. ``random_state`` is the top-level ``seed``
    unless the model node sets it.

    Parameters
    ----------
    spec : RunSpec
        :func:`qboost_exp.config.read` of the config. A config, the old form,
        still works this release, with a DeprecationWarning.

    Raises
    ------
    ConfigError
        An unknown option, a target that cannot be instantiated or is no
        classifier, an argument the estimator does not take or a value it refuses.
    """
    from .domain.baselines import make_baseline

    spec = _run_spec(spec, "make_baseline_model")
    name, options = spec.model.name, thawed(spec.model.options)
    if name == "sklearn":
        return _scikit_learn_model(options, spec.seed)
    if spec.weak_learners is not None:  # read() keeps it for a baseline that selects from the dictionary
        options["weak_learners"] = build_weak_learners(spec.weak_learners)
        if "cv" in options:
            options["cv"] = _cv_splitter(options["cv"], spec.seed)
    options.setdefault("random_state", spec.seed)
    return make_baseline(name, **options)


def _scikit_learn_model(options: dict[str, Any], seed: int) -> Any:
    """``model=sklearn``: the classifier ``model._target_`` names, built with the node's other keys; seeded unless they seed it."""
    from .domain.baselines import check_estimator_parameters

    given = {k for k in options if k != "_target_"}
    estimator = _instantiate_targets(options, "model")
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict") and hasattr(estimator, "get_params")):
        raise ConfigError(f"model._target_={options['_target_']} is not a scikit-learn classifier (it needs fit, predict and get_params)")
    if "random_state" in estimator.get_params(deep=False) and "random_state" not in given:
        estimator.set_params(random_state=seed)
    return check_estimator_parameters(estimator, prefix="model")


def load_data(spec: RunSpec, base_dir: str | None = None) -> Dataset:
    """The dataset and its splits a run's spec names; relative paths resolve against ``base_dir`` (the launch directory).

    Parameters
    ----------
    spec : RunSpec
        :func:`qboost_exp.config.read` of the config. A config, the old form,
        still works this release (only its ``dataset``, ``split`` and
        ``seed`` are read), with a DeprecationWarning.
    base_dir : str, optional
        Default: the current directory.
    """
    if isinstance(spec, RunSpec):
        data, seed = spec.data, spec.seed
    else:
        _deprecated("load_data(cfg) with a config", "load_data(spec), spec = qboost_exp.config.read(cfg)")
        data, seed = DataSpec.from_config(spec), int(spec.get("seed", 0))
    for key in ("dataset", "split"):
        if getattr(data, key) is None:
            raise ConfigError(f"the config has no `{key}` node; choose one, e.g. {key}={'wisc' if key == 'dataset' else 'default'}")
    dataset = thawed(data.dataset)
    dataset.setdefault("base_dir", base_dir or os.getcwd())
    return load_dataset(dataset, thawed(data.split), seed)


def as_frame(data: Dataset, split: str) -> "pd.DataFrame":
    """A split's features as a DataFrame with the dataset's column names.

    Fitting on named columns gives the model ``feature_names_in_`` and its
    MLflow signature named inputs.
    """
    import pandas as pd

    return pd.DataFrame(getattr(data, f"X_{split}"), columns=list(data.feature_names))


def evaluate(model: Any, data: Dataset) -> dict[str, float]:
    """Accuracy, balanced accuracy, F1 and ROC AUC (of :func:`qboost_exp.domain.baselines.ranking_scores`) on each non-empty split.

    Works for any fitted binary classifier: the labels are its ``predict``. F1 treats
    ``classes_[1]`` as the positive class. ROC AUC is left out for a split
    that holds a single class, and for a model with neither
    ``decision_function`` nor ``predict_proba``.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

    from .domain.baselines import ranking_scores

    metrics = {}
    for split, prefix in (("train", "train"), ("val", "validation"), ("test", "test")):
        X, y = as_frame(data, split), getattr(data, f"y_{split}")
        if not len(y):
            continue
        predicted, margin = np.asarray(model.predict(X)), ranking_scores(model, X)
        metrics[f"{prefix}_accuracy"] = float(accuracy_score(y, predicted))
        metrics[f"{prefix}_balanced_accuracy"] = float(balanced_accuracy_score(y, predicted))
        metrics[f"{prefix}_f1"] = float(f1_score(y, predicted, pos_label=model.classes_[1], zero_division=0.0))
        if len(np.unique(y)) == 2 and margin is not None:
            metrics[f"{prefix}_roc_auc"] = float(roc_auc_score(y == model.classes_[1], margin))
    return metrics


def fit_and_score(model: Any, data: Dataset, load_seconds: float = 0.0, name: str | None = None) -> ExperimentResult:
    """Fit ``model`` on the training split and score it on every split.

    A QBoost model adds its QUBO metrics (``best_energy``, ``lambda_value``,
    ``qubos``, ...) and phase timings; a baseline (``name`` its ``model``
    option) adds ``selected`` (:func:`qboost_exp.domain.baselines.n_learners`, when it
    has learners), ``candidates`` (dictionary baselines) and ``time_fit``.
    QBoost and the dictionary baselines (a
    :class:`~qboost_exp.domain.vote.WeightedVote`) add ``selected_varying``:
    how many of the ``selected`` learners vary on the training data
    (``n_selected_varying_``), the count ``model.max_learners=match`` matches.
    """
    t0 = time.perf_counter()
    model.fit(as_frame(data, "train"), data.y_train)
    fit_seconds = time.perf_counter() - t0
    metrics = evaluate(model, data)
    if hasattr(model, "n_selected_varying_"):
        metrics["selected_varying"] = float(model.n_selected_varying_)
    if not isinstance(model, QBoostClassifier):
        from .domain.baselines import n_learners

        learners = n_learners(model)
        if learners is not None:
            metrics["selected"] = float(learners)
        if hasattr(model, "n_candidates_"):
            metrics["candidates"] = float(model.n_candidates_)
        timings = {"data": load_seconds, "fit": fit_seconds}
        return ExperimentResult(model=model, dataset=data, metrics=metrics, timings=timings, model_name=name or type(model).__name__)
    # The metric names are the runs' public names (MLflow, compare, README): λ chosen is lambda_value, λ·W penalty.
    metrics.update(
        candidates=float(model.n_candidates_),
        duplicate_candidates=float(model.n_duplicates_),
        selected=float(len(model.selected_indices_)),
        best_energy=model.best_energy_,
        lambda_value=model.lam_,
        max_weight_value=model.max_weight_,
        penalty=model.penalty_,
        qubos=float(model.n_qubos_),
    )
    timings = {"data": load_seconds, **model.timings_}
    return ExperimentResult(model=model, dataset=data, metrics=metrics, timings=timings)


#: What an experiment trains on: the config's ``dataset`` (None), a split Dataset, or a
#: function returning one (called after the sampler is built, see :func:`run_experiment`).
DataSource = Union[Dataset, Callable[[], Dataset], None]


@dataclass
class PreparedExperiment:
    """Everything a config names, built and checked, before any training work: what :func:`prepare` returns."""

    model: Any  # a QBoostClassifier, or a baseline classifier
    data: Dataset
    load_seconds: float
    model_name: str = QBOOST

    def run(self) -> ExperimentResult:
        """Fit the model on the training split and score it on every split."""
        return fit_and_score(self.model, self.data, self.load_seconds, name=self.model_name)


def prepare(spec: RunSpec, base_dir: str | None = None, data: DataSource = None, sampler: dimod.Sampler | None = None) -> PreparedExperiment:
    """Build everything a run's spec names: sampler, estimator, data.

    Every user mistake that can be found without training (a bad value, an
    unknown plugin, missing D-Wave credentials, a missing data file) raises
    by the end of it, before a tracked run is opened: reading the config
    (:func:`qboost_exp.config.read`) finds the bad values, building finds
    the rest. The sampler is built first, so a missing D-Wave token stops
    the run before any data is loaded. A baseline (``model`` other than
    ``qboost``) builds no sampler.

    Parameters
    ----------
    spec : RunSpec
        :func:`qboost_exp.config.read` of the composed config. A config, the
        old form, still works this release, with a DeprecationWarning.
    base_dir : str, optional
        Where relative dataset paths resolve (the launch directory).
    data : Dataset or callable, optional
        The splits to train on instead of the config's ``dataset`` (e.g. the
        SageMaker training channels), or a function returning them; a
        function is called only once the sampler is built.
    sampler : dimod.Sampler, optional
        An already built sampler (default: built from ``spec.sampler``).

    Raises
    ------
    QBoostError
        For any such mistake, with a message naming the config key.
    """
    spec = _run_spec(spec, "prepare")
    # The one guard every path passes: an unresolved max_learners=match (untracked, or a single run) is one line.
    # run_tracked resolves it for a tracked sweep's job before calling here.
    resolve_match(spec, {}, None)
    if spec.model.is_qboost:
        model = make_estimator(spec, sampler=sampler if sampler is not None else build_sampler(spec.sampler))
    else:
        model = make_baseline_model(spec)
    t0 = time.perf_counter()
    if data is None:
        data = load_data(spec, base_dir)
    elif callable(data):
        data = data()
    return PreparedExperiment(model=model, data=data, load_seconds=time.perf_counter() - t0, model_name=spec.model.name)


def run_experiment(
    cfg: Any, base_dir: str | None = None, data: DataSource = None, sampler: dimod.Sampler | None = None
) -> ExperimentResult:
    """Read the config once, build everything it names, train, and score (untracked): :func:`prepare`, then run it.

    ``cfg`` is the composed config (or its :class:`~qboost_exp.config.RunSpec`);
    the other parameters are those of :func:`prepare`.
    """
    return prepare(read(cfg), base_dir=base_dir, data=data, sampler=sampler).run()


def run_tracked(
    cfg: Any,
    data: DataSource = None,
    *,
    sampler: dimod.Sampler | None = None,
    base_dir: str | None = None,
    overrides: Sequence[str] = (),
    output_dir: str | None = None,
    sweep_dir: str | None = None,
    job_num: int | None = None,
    config_digest: str | None = None,
) -> tuple[ExperimentResult, list[str]]:
    """One configured experiment, as ``python -m qboost_exp`` runs it: tracked in MLflow unless ``mlflow.enabled`` is false.

    The one way to run a configured experiment (the CLI's jobs and the
    SageMaker ``train`` program both call it): the config is converted to
    plain Python and read once (:func:`qboost_exp.config.read`), then
    :func:`prepare`, then the training inside
    :func:`qboost_exp.tracking.tracked_run`, then the run's metrics, plots
    and model are logged. A mistake found before training opens no run in a
    single run; in a sweep it is recorded as the job's FAILED run, so that
    the sweep's summary counts it.

    Parameters
    ----------
    cfg : DictConfig or mapping
        The composed experiment config.
    data, sampler
        As for :func:`prepare` (build the sampler first to fail before a run is opened).
    base_dir, overrides, output_dir, sweep_dir, job_num, config_digest
        The job's :class:`~qboost_exp.tracking.RunContext`: the launch
        directory, the overrides given, Hydra's output directory, for a
        sweep job its sweep directory and job number, and the digest of the
        composed config (:func:`qboost_exp.config.config_digest`).

    A baseline with ``model.max_learners=match`` takes k from its QBoost
    sibling in the same tracked sweep (:func:`qboost_exp._match.resolve_match`)
    before its model is built; anywhere else it is a usage error.

    Returns
    -------
    (ExperimentResult, list of str)
        The result and the lines saying where it was logged (empty when not tracked).
    """
    from . import tracking
    from .errors import QBoostError

    plain = as_plain(cfg)  # the run's one conversion: read checks it, tracking logs it
    job = dict(output_dir=output_dir, overrides=tuple(overrides), sweep_dir=sweep_dir, job_num=job_num, config_digest=config_digest)
    context = _job_context(plain, base_dir or os.getcwd(), **job)
    try:
        spec = read(plain)  # before anything else reads the config
        if not spec.tracking.enabled:
            return prepare(spec, base_dir=base_dir, data=data, sampler=sampler).run(), []
        spec, matched = resolve_match(spec, plain, context)  # max_learners=match: k from the sweep's QBoost run
        if matched and context is not None:
            context = dataclasses.replace(context, tags={**context.tags, **matched})
        prepared = prepare(spec, base_dir=base_dir, data=data, sampler=sampler)
    except QBoostError:
        if sweep_dir is None or context is None:
            raise  # a usage error of a single run leaves the store as it was
        with tracking.tracked_run(plain, context):  # a sweep's job: its FAILED run is what the summary counts
            raise
    assert context is not None  # tracked, and read accepted the mlflow node
    return _train_tracked(prepared, plain, context)


def _job_context(plain: Mapping[str, Any], base_dir: str, **job: Any) -> Any:
    """The job's :class:`~qboost_exp.tracking.RunContext`; None when it is not tracked or its ``mlflow`` node gives none.

    Made before the config is read, so that a sweep's job whose config is
    refused still gets its FAILED run (a broken ``mlflow`` node: the read says what is wrong).
    """
    from . import tracking

    mlflow_node = plain.get("mlflow")
    if not isinstance(mlflow_node, Mapping) or mlflow_node.get("enabled", True) is False:
        return None
    try:
        return tracking.RunContext.for_job(plain, base_dir, **job)
    except Exception:  # noqa: BLE001 - an mlflow node of the wrong types: read() says what is wrong
        return None


def _train_tracked(prepared: PreparedExperiment, plain: Mapping[str, Any], context: Any) -> tuple[ExperimentResult, list[str]]:
    """Train inside the job's tracked run and log the result: the lines saying where it went, its UI link among them."""
    from . import tracking
    from .cosmetic import attempt

    with tracking.tracked_run(plain, context) as run:
        result = prepared.run()
        lines = tracking.log_result(result, result.all_metrics(), plain, context.tracking_uri)
        lines.insert(0, f"MLflow run {run.info.run_id} (experiment {run.info.experiment_id}) at {context.tracking_uri}")
        link = attempt("MLflow UI link", tracking.ui_line, context.tracking_uri, run.info.experiment_id)
        if link is not None:
            lines.insert(1, link)
    return result, lines
