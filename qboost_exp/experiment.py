"""The run layer: a composed config in, a fitted model and its scores out, handed to tracking.

This is the CLI's work without the CLI, so tests, sweeps and the SageMaker
``train`` program all run the very same steps. It composes the domain
(estimator, samplers, weak learners) and the data from a config, and gives
the result to :mod:`qboost_exp.tracking`; nothing below it imports it.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, Union

import dimod
import numpy as np
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

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


def to_plain(cfg: Any, where: str) -> Any:
    """A resolved plain-Python copy of a config node, with config errors made readable."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True) if isinstance(cfg, DictConfig) or OmegaConf.is_config(cfg) else cfg
    except MissingMandatoryValue as exc:
        if not where:
            key = exc.full_key or "?"
        else:
            key = f"{where}.{exc.full_key}" if exc.full_key and not exc.full_key.startswith(where) else (exc.full_key or where)
        raise ConfigError(f"the config value {key} is required but not set; add `{key}=...` to the command line") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"the config under '{where or '(top level)'}' cannot be resolved: {exc}") from None


def read_lambda(cfg: Mapping[str, Any]) -> float | str:
    """The top-level ``lambda`` (a Python keyword, hence ``cfg["lambda"]``), checked: a number >= 0 or "auto"."""
    from .config import _as_number, check_config

    if "lambda" not in cfg:
        raise ConfigError("the config has no top-level `lambda`; set it, e.g. lambda=0.01 or lambda=auto")
    check_config({"lambda": cfg["lambda"]})
    lam = _as_number(cfg["lambda"])
    return lam if isinstance(lam, str) else float(lam)


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


def build_sampler(sampler_cfg: Mapping[str, Any]) -> dimod.Sampler:
    """The sampler a ``sampler`` config node names (fails fast, e.g. on missing credentials)."""
    node = to_plain(sampler_cfg, "sampler")
    init = {k: v for k, v in (node.get("init") or {}).items() if v is not None}
    return make_sampler(_require_name(node, "sampler"), **init)


def build_weak_learners(learners_cfg: Mapping[str, Any]) -> WeakLearnerSet:
    """The weak-learner set a ``weak_learners`` config node names."""
    from .domain.weak_learners import check_parameters

    node = to_plain(learners_cfg, "weak_learners")
    params = _instantiate_targets(node.get("params") or {})
    learner_set = make_weak_learner_set(_require_name(node, "weak_learners"), **params)
    check_parameters(learner_set)  # before any data is loaded, not when fit starts
    return learner_set


def _require_name(node: Mapping[str, Any], group: str) -> str:
    name = node.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"the {group} config has no `name`; every {group} option must name a registered plugin")
    return name


def sample_params(sampler_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Options for ``sample()``; ``null`` values mean "the sampler's default" and are dropped."""
    node = to_plain(sampler_cfg, "sampler")
    return {k: v for k, v in (node.get("params") or {}).items() if v is not None}


def _read_cv(value: Any, seed: int) -> Any:
    """``qubo.cv``: k folds (an integer >= 2) or one held-out split of that fraction."""
    from sklearn.model_selection import StratifiedShuffleSplit

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"qubo.cv must be an integer >= 2 (folds) or a fraction in (0, 1) (one validation split), got {value!r}")
    if isinstance(value, int):
        if value < 2:
            raise ConfigError(f"qubo.cv must be an integer >= 2 (folds) or a fraction in (0, 1) (one validation split), got {value}")
        return value
    if not 0 < value < 1:
        raise ConfigError(f"qubo.cv must be an integer >= 2 (folds) or a fraction in (0, 1) (one validation split), got {value}")
    return StratifiedShuffleSplit(n_splits=1, test_size=value, random_state=seed)


def make_estimator(cfg: Mapping[str, Any], sampler: dimod.Sampler | None = None) -> QBoostClassifier:
    """The QBoostClassifier a composed config describes, the config checked first (errors name config keys).

    Raises
    ------
    ConfigError
        A key holds a value it cannot take (see :func:`qboost_exp.config.check_config`).
    """
    from .config import ESTIMATOR_KEYS, _lookup, check_config

    plain = dict(to_plain(cfg, ""))
    qubo = dict(plain.get("qubo") or {})
    deprecated_grid = qubo.pop("lambda_grid", None)
    if deprecated_grid is not None:
        warnings.warn(
            "qubo.lambda_grid is deprecated and goes away in the next release: the grid lives beside lambda, "
            "as the top-level lambda_grid (lambda_grid=[0.01,0.1] on the command line); until then it overrides lambda_grid",
            DeprecationWarning,
            stacklevel=2,
        )
        plain["lambda_grid"] = deprecated_grid
    plain["qubo"] = qubo
    check_config(plain)
    options = {param: _lookup(plain, key)[1] for key, param in ESTIMATOR_KEYS.items() if key != "lambda" and _lookup(plain, key)[0]}
    seed = int(plain.get("seed", 0))
    return QBoostClassifier(
        weak_learners=build_weak_learners(cfg["weak_learners"]),
        sampler=sampler if sampler is not None else build_sampler(cfg["sampler"]),
        sampler_params=sample_params(cfg["sampler"]),
        lam=read_lambda(plain),
        cv=_read_cv(qubo.get("cv", 5), seed),
        random_state=seed,
        verbose=int(plain.get("verbose", 1)),
        **options,
    )


def model_name(cfg: Mapping[str, Any]) -> str:
    """The ``model`` config option of ``cfg``: ``qboost`` (also when the config has no ``model`` node) or a baseline."""
    node = cfg.get("model") if hasattr(cfg, "get") else None
    if node is None:
        return QBOOST
    name = node.get("name") if hasattr(node, "get") else None
    if not isinstance(name, str) or not name:
        raise ConfigError("the model config has no `name`; choose an option: model=qboost, model=lasso, model=adaboost, ...")
    return name


def make_baseline_model(cfg: Mapping[str, Any]) -> Any:
    """The unfitted baseline classifier the ``model`` node of a composed config describes.

    ``model.name`` picks it (:data:`qboost_exp.domain.baselines.BASELINES`); every
    other key of the node is a constructor argument. The dictionary baselines
    (``lasso``, ``l1_logistic``) take their candidates from the ``weak_learners``
    group, as QBoost does; ``sklearn`` instantiates ``model._target_`` with Hydra.
    ``random_state`` is the top-level ``seed`` unless the node sets it.

    Raises
    ------
    ConfigError
        An unknown option, a target that cannot be instantiated or is no
        classifier, an argument the estimator does not take or a value it refuses.
    """
    from .domain.baselines import DICTIONARY_BASELINES, check_estimator_parameters, make_baseline
    from .config import check_config

    plain = dict(to_plain(cfg, ""))
    check_config(plain)
    node = dict(plain.get("model") or {})
    name = str(node.pop("name", ""))
    seed = int(plain.get("seed", 0))
    if name == "sklearn":
        target = node.get("_target_")
        if not isinstance(target, str) or not target:
            raise ConfigError("model=sklearn needs a classifier: model._target_=sklearn.ensemble.RandomForestClassifier (for example)")
        given = {k for k in node if k != "_target_"}
        estimator = _instantiate_targets(node, "model")
        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict") and hasattr(estimator, "get_params")):
            raise ConfigError(f"model._target_={target} is not a scikit-learn classifier (it needs fit, predict and get_params)")
        if "random_state" in estimator.get_params(deep=False) and "random_state" not in given:
            estimator.set_params(random_state=seed)
        return check_estimator_parameters(estimator, prefix="model")
    if name in DICTIONARY_BASELINES:
        node["weak_learners"] = build_weak_learners(cfg["weak_learners"])
        if "cv" in node:
            node["cv"] = _read_cv(node["cv"], seed)
    node.setdefault("random_state", seed)
    return make_baseline(name, **node)


def make_model(cfg: Mapping[str, Any], sampler: dimod.Sampler | None = None) -> Any:
    """The unfitted model a composed config describes: :func:`make_estimator` for ``model=qboost``, else :func:`make_baseline_model`."""
    if model_name(cfg) == QBOOST:
        return make_estimator(cfg, sampler=sampler)
    return make_baseline_model(cfg)


def load_data(cfg: Mapping[str, Any], base_dir: str | None = None) -> Dataset:
    """The dataset and its splits; relative paths resolve against ``base_dir`` (the launch directory)."""
    dataset = dict(to_plain(cfg["dataset"], "dataset"))
    dataset.setdefault("base_dir", base_dir or os.getcwd())
    return load_dataset(dataset, to_plain(cfg["split"], "split"), int(cfg.get("seed", 0)))


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
    """
    t0 = time.perf_counter()
    model.fit(as_frame(data, "train"), data.y_train)
    fit_seconds = time.perf_counter() - t0
    metrics = evaluate(model, data)
    if not isinstance(model, QBoostClassifier):
        from .domain.baselines import n_learners

        learners = n_learners(model)
        if learners is not None:
            metrics["selected"] = float(learners)
        if hasattr(model, "n_candidates_"):
            metrics["candidates"] = float(model.n_candidates_)
        timings = {"data": load_seconds, "fit": fit_seconds}
        return ExperimentResult(model=model, dataset=data, metrics=metrics, timings=timings, model_name=name or type(model).__name__)
    metrics.update(
        candidates=float(model.n_candidates_),
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


def prepare(
    cfg: Mapping[str, Any], base_dir: str | None = None, data: DataSource = None, sampler: dimod.Sampler | None = None
) -> PreparedExperiment:
    """Build and check everything the config names: sampler, estimator, data.

    Every user mistake that can be found without training (a bad value, an
    unknown plugin, missing D-Wave credentials, a missing data file) raises
    here, before a tracked run is opened. The sampler is built first, so a
    missing D-Wave token stops the run before any data is loaded. A baseline
    (``model`` other than ``qboost``) builds no sampler.

    Parameters
    ----------
    cfg : mapping
        The composed experiment config.
    base_dir : str, optional
        Where relative dataset paths resolve (the launch directory).
    data : Dataset or callable, optional
        The splits to train on instead of the config's ``dataset`` (e.g. the
        SageMaker training channels), or a function returning them; a
        function is called only once the sampler is built.
    sampler : dimod.Sampler, optional
        An already built sampler (default: built from ``cfg.sampler``).

    Raises
    ------
    QBoostError
        For any such mistake, with a message naming the config key.
    """
    name = model_name(cfg)
    if name == QBOOST:
        sampler = sampler if sampler is not None else build_sampler(cfg["sampler"])
        model = make_estimator(cfg, sampler=sampler)
    else:
        model = make_baseline_model(cfg)
    t0 = time.perf_counter()
    if data is None:
        data = load_data(cfg, base_dir)
    elif callable(data):
        data = data()
    return PreparedExperiment(model=model, data=data, load_seconds=time.perf_counter() - t0, model_name=name)


def run_experiment(
    cfg: Mapping[str, Any], base_dir: str | None = None, data: DataSource = None, sampler: dimod.Sampler | None = None
) -> ExperimentResult:
    """Build everything the config names, train, and score (untracked): :func:`prepare`, then run it.

    Parameters are those of :func:`prepare`.
    """
    return prepare(cfg, base_dir=base_dir, data=data, sampler=sampler).run()


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
    SageMaker ``train`` program both call it): :func:`prepare`, then the
    training inside :func:`qboost_exp.tracking.tracked_run`, then the run's
    metrics, plots and model are logged. A mistake :func:`prepare` finds
    opens no run in a single run; in a sweep it is recorded as the job's
    FAILED run, so that the sweep's summary counts it.

    Parameters
    ----------
    cfg : DictConfig or mapping
        The composed experiment config.
    data : Dataset or callable, optional
        As for :func:`run_experiment`.
    sampler : dimod.Sampler, optional
        As for :func:`run_experiment` (build it first to fail before a run is opened).
    base_dir, overrides, output_dir, sweep_dir, job_num, config_digest
        The job's :class:`~qboost_exp.tracking.RunContext`: the launch
        directory, the overrides given, Hydra's output directory, for a
        sweep job its sweep directory and job number, and the digest of the
        composed config (:func:`qboost_exp.config.config_digest`).

    Returns
    -------
    (ExperimentResult, list of str)
        The result and the lines saying where it was logged (empty when not tracked).
    """
    from . import tracking
    from .config import check_config
    from .cosmetic import attempt
    from .errors import QBoostError

    plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False) if isinstance(cfg, DictConfig) else dict(cfg)
    mlflow_cfg = plain.get("mlflow")
    tracked = not isinstance(mlflow_cfg, Mapping) or mlflow_cfg.get("enabled", True) is not False
    context = None
    if tracked and isinstance(mlflow_cfg, Mapping):
        try:
            context = tracking.RunContext.for_job(
                plain, base_dir or os.getcwd(), output_dir=output_dir, overrides=tuple(overrides), sweep_dir=sweep_dir, job_num=job_num,
                config_digest=config_digest,
            )
        except Exception:  # noqa: BLE001 - an mlflow node of the wrong types: check_config below says what is wrong
            context = None
    try:
        check_config(plain)  # before anything else reads it
        if not tracked:
            return run_experiment(cfg, base_dir=base_dir, data=data, sampler=sampler), []
        prepared = prepare(cfg, base_dir=base_dir, data=data, sampler=sampler)
    except QBoostError:
        if sweep_dir is None or context is None:
            raise  # a usage error of a single run leaves the store as it was
        with tracking.tracked_run(plain, context):  # a sweep's job: its FAILED run is what the summary counts
            raise
    assert context is not None  # tracked, and check_config accepted the mlflow node
    with tracking.tracked_run(plain, context) as run:
        result = prepared.run()
        lines = tracking.log_result(result, result.all_metrics(), plain, context.tracking_uri)
        lines.insert(0, f"MLflow run {run.info.run_id} (experiment {run.info.experiment_id}) at {context.tracking_uri}")
        link = attempt("MLflow UI link", tracking.ui_line, context.tracking_uri, run.info.experiment_id)
        if link is not None:
            lines.insert(1, link)
    return result, lines
