"""What a finished training job logs: metrics, data inputs, figures, the model.

The run layer (:mod:`qboost_exp.experiment`) hands over what a job produced
as any object with the attributes of :class:`Trained`; tracking never
imports the run layer.
"""

from __future__ import annotations

import copy
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol

from . import _plots
import numpy as np

from ._runs import BASELINE_TAG, DEFAULT_OBJECTIVE, MODEL_TAG, QBOOST_MODEL, SOURCE_DIGEST_TAG, client_for, is_better, model_tags
from ._store import quiet

CHAMPION = "champion"
DEFAULT_MODEL_NAME = "qboost"
#: Tags of a registered model version: what it was trained on and the metric that promoted (or would promote) it.
VERSION_TAGS = ("qboost.dataset", "qboost.dataset_digest", "qboost.model", "qboost.metric", "qboost.metric_value", "qboost.run_id")


class Trained(Protocol):
    """What tracking needs of a finished job (:class:`qboost_exp.experiment.ExperimentResult` is one)."""

    model: Any  # a fitted QBoostClassifier (or any fitted scikit-learn classifier)
    dataset: Any  # the qboost_exp.data.Dataset it was trained and scored on
    model_name: str  # the ``model`` config option: "qboost" or a baseline's name

    def frame(self, split: str) -> Any:
        """The features of ``split`` ("train", "val" or "test") as a DataFrame with the dataset's column names."""


def log_inputs(result: Trained) -> None:
    import mlflow

    data = result.dataset
    for split, context in (("train", "training"), ("val", "validation"), ("test", "test")):
        X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
        if len(y) == 0:
            continue
        # No `source`: a plain string is ambiguous to MLflow's source registry
        # (it warns); where the data came from is in the params and this name.
        dataset = mlflow.data.from_numpy(X, targets=y, name=f"{data.name}-{split}", digest=f"{data.digest}-{split}")
        _log_input_once_registered(dataset, context)


def _log_input_once_registered(dataset: Any, context: str, attempts: int = 3) -> None:
    """``mlflow.log_input``, tolerant of parallel jobs registering the same dataset.

    The tracking store checks whether a dataset exists and then inserts it;
    two jobs of a sweep logging the same split at once can both miss it, and
    the second insert fails on the unique key. By then the dataset exists, so
    logging again links it to this run.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    for attempt in range(attempts):
        try:
            mlflow.log_input(dataset, context=context)
            return
        except MlflowException as exc:
            text = str(exc).lower()
            if attempt == attempts - 1 or not ("unique" in text or "already exists" in text):
                raise
            time.sleep(0.2 * (attempt + 1))


def _weights_figure(model: Any) -> tuple[Any, str] | None:
    """``(every candidate's or stage's weight, title)`` for the weights plot, or None for a model without weights."""
    weights = getattr(model, "weights_", None)
    if weights is not None:  # QBoost and the dictionary baselines: every candidate
        selected = int(len(model.selected_indices_))
        if hasattr(model, "lam_"):
            chosen = f"λ={model.lam_:g}"
        elif hasattr(model, "alpha_"):
            chosen = f"α={model.alpha_:.3g}"
        else:
            chosen = ""
        return weights, f"Learner weights: {selected} of {len(weights)} selected" + (f" ({chosen})" if chosen else "")
    stages = getattr(model, "estimator_weights_", None)
    if stages is not None and getattr(model, "estimators_", None) is not None:  # AdaBoost: its stages
        stages = np.asarray(stages)[: len(model.estimators_)]
        return stages, f"Stage weights: {len(stages)} stages"
    return None


def _energies(model: Any) -> tuple[Any, Any] | None:
    """The sampleset's energies and occurrences of a QBoost model, or None for any other model."""
    if not hasattr(model, "best_energy_"):
        return None
    summary = getattr(model, "sampleset_summary_", None)
    if summary is not None:
        return summary["energies"], summary["num_occurrences"]
    sampleset = getattr(model, "sampleset_", None)  # models fitted before the summary existed keep the whole sampleset
    return (sampleset.record.energy, sampleset.record.num_occurrences) if sampleset is not None else None


def render_figures(result: Trained, out: Path) -> list[dict[str, Any]] | None:
    """Draw the run's figures into the directory ``out``; returns the rows of ``selected_learners.json``.

    The figures: ``weights.png``, ``confusion_matrix.png``, ``roc_curve.png``
    and ``energy_histogram.png``, each where the model has what it shows (a
    baseline has no sampleset; a model without weights no weights plot).
    Each is a cosmetic step (:mod:`qboost_exp.cosmetic`): one that fails is
    one warning line and is missing from ``out``. Only matplotlib and the
    model are used, no MLflow, so this may run in a thread of its own while
    the run's other records are written.

    Returns
    -------
    list of dict or None
        The table's rows; None for a model without selected learners, or when the table failed.
    """
    from ..cosmetic import attempt

    # Each step does all of its own work (reading the model included): whatever fails, fails inside its step.
    attempt("figure weights.png", _weights_png, result.model, out / "weights.png")
    attempt("figure confusion_matrix.png", _confusion_png, result, out / "confusion_matrix.png")
    attempt("figure roc_curve.png", _roc_png, result, out / "roc_curve.png")
    attempt("figure energy_histogram.png", _energy_png, result.model, out / "energy_histogram.png")
    if not _has_learners(result.model):
        return None
    return attempt("selected_learners.json", _learner_rows, result.model)


def _scored_split(result: Trained) -> tuple[str, Any, Any]:
    """The split the figures score (test, or train when there is no test split): its name, features and labels."""
    data = result.dataset
    split = "test" if len(data.y_test) else "train"
    return split, result.frame(split), getattr(data, f"y_{split}")


def _weights_png(model: Any, path: Path) -> Path | None:
    weights = _weights_figure(model)
    return None if weights is None else _plots.plot_weights(weights[0], weights[1], path)


def _confusion_png(result: Trained, path: Path) -> Path:
    split, X, y = _scored_split(result)
    return _plots.plot_confusion(y, result.model.predict(X), result.model.classes_, split, path)


def _roc_png(result: Trained, path: Path) -> Path | None:
    """The ROC curve of a model that ranks (``decision_function`` or ``predict_proba``); None for one that does not."""
    from ..domain.baselines import ranking_scores

    model = result.model
    split, X, y = _scored_split(result)
    scores = ranking_scores(model, X)
    if scores is None:
        return None
    name = "QBoost margin" if getattr(result, "model_name", QBOOST_MODEL) == QBOOST_MODEL else type(model).__name__
    return _plots.plot_roc(y, scores, model.classes_[-1], name, split, path)


def _energy_png(model: Any, path: Path) -> Path | None:
    energies = _energies(model)
    return None if energies is None else _plots.plot_energies(energies[0], energies[1], model.best_energy_, path)


def _learner_rows(model: Any) -> list[dict[str, Any]]:
    """The rows of ``selected_learners.json``: each selected learner, its weight and its features."""
    return [
        {"candidate": int(i), "weight": float(w), "learner": repr(learner), "features": str(list(getattr(learner, "features", [])))}
        for i, w, learner in zip(model.selected_indices_, model.estimator_weights_, model.estimators_)
    ]


#: The columns of ``selected_learners.json``.
TABLE_COLUMNS = ["candidate", "weight", "learner", "features"]


def _log_rendered(out: Path, rows: list[dict[str, Any]] | None) -> None:
    """Upload what :func:`render_figures` drew, and its table, each a cosmetic step."""
    import mlflow
    import pandas as pd

    from ..cosmetic import attempt

    if any(out.iterdir()):
        attempt("plots upload", mlflow.log_artifacts, str(out), "plots")
    if rows is not None:
        attempt("selected_learners.json", lambda: mlflow.log_table(pd.DataFrame(rows, columns=TABLE_COLUMNS), "selected_learners.json"))


def _has_learners(model: Any) -> bool:
    return all(hasattr(model, a) for a in ("selected_indices_", "estimator_weights_", "estimators_"))


def log_figures(result: Trained) -> None:
    """Log ``plots/`` (see :func:`render_figures`) and, for a model with selected learners, ``selected_learners.json``."""
    with tempfile.TemporaryDirectory() as tmp:
        _log_rendered(Path(tmp), render_figures(result, Path(tmp)))


def _requirements() -> list[str]:
    pins = []
    for dist in ("numpy", "scipy", "scikit-learn", "pandas", "dimod", "cloudpickle"):
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            pass
    return pins


def _input_example(example: Any) -> Any:
    """The model's input example, checked the way MLflow stores it (JSON, split orient), so that MLflow cannot fail on it."""
    example.to_json(orient="split")
    return example


def model_flavor_kwargs(result: Trained, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """How every QBoost model is written in MLflow format (shared by logging and saving).

    Serialisation is cloudpickle: MLflow's default, skops, refuses tree models
    unless each type is trusted by hand, and the learners here are trees and
    any classifier a config names. A pickle is only as trustworthy as the run
    that wrote it; the registry is where that trust is decided. The qboost_exp
    package itself is stored with the model (``code_paths``), so the model
    loads with the very code it was trained with.
    """
    import pandas as pd
    from mlflow.models import infer_signature

    import qboost_exp

    from ..cosmetic import attempt

    data = result.dataset
    # The trained model is independent of the live sampler (on QPU paths a
    # cloud client that cannot be pickled): the logged copy keeps the
    # sampler's name only. A shallow copy, so the caller's model is untouched.
    model = result.model
    if hasattr(model, "sampler") and hasattr(model, "sampler_info_"):  # QBoost
        model = copy.copy(model)
        model.sampler = str(cfg["sampler"]["name"])
    example = pd.DataFrame(data.X_train[:5], columns=data.feature_names)
    return {
        "sk_model": model,
        "serialization_format": "cloudpickle",
        "signature": infer_signature(example, model.predict(example)),
        "input_example": attempt("input example", _input_example, example),
        "pip_requirements": _requirements(),
        "code_paths": [str(Path(qboost_exp.__file__).parent)],
    }


@contextmanager
def _pins_trusted() -> Iterator[None]:
    """Skip MLflow's check that the model's pins match this environment, for the pins :func:`_requirements` wrote.

    Saving a model (and loading it back to validate the input example),
    MLflow checks every requirement against the installed packages, and to
    do so maps every installed distribution to its modules by reading each
    one's file list: 0.5 to 1.5 s once per process, the largest single cost
    of logging a run. The pins here are the installed versions themselves,
    so the check can only pass. Where MLflow has no such function (a later
    release), nothing is skipped and nothing breaks.
    """
    import importlib

    name = "warn_dependency_requirement_mismatches"
    patched = []
    for module_name in ("mlflow.utils.environment", "mlflow.pyfunc"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        original = getattr(module, name, None)
        if callable(original):
            patched.append((module, original))
            setattr(module, name, lambda requirements: None)
    try:
        yield
    finally:
        for module, original in patched:
            setattr(module, name, original)


def log_model(result: Trained, cfg: Mapping[str, Any]) -> Any:
    """Log the fitted estimator as the run's MLflow model (sklearn flavour, pyfunc-loadable)."""
    import mlflow

    mlflow_cfg = cfg.get("mlflow") or {}
    register = bool(cfg.get("register") or cfg.get("promote"))
    # mlflow.sklearn warns on every pickle-based save; the choice is documented in model_flavor_kwargs.
    with quiet("mlflow.sklearn"), _pins_trusted():
        return mlflow.sklearn.log_model(
            name="model",
            registered_model_name=(mlflow_cfg.get("model_name") or DEFAULT_MODEL_NAME) if register else None,
            **model_flavor_kwargs(result, cfg),
        )


def save_model(result: Trained, cfg: Mapping[str, Any], path: str | Path) -> Path:
    """Write the fitted estimator as an MLflow model directory at ``path`` (which must not exist)."""
    import mlflow

    with quiet("mlflow.sklearn"), _pins_trusted():
        mlflow.sklearn.save_model(path=str(path), **model_flavor_kwargs(result, cfg))
    return Path(path)


def describe_version(result: Trained, metrics: Mapping[str, float], cfg: Mapping[str, Any], model_info: Any, tracking_uri: str) -> None:
    """Give a newly registered model version its tags (:data:`VERSION_TAGS`) and a one-line description.

    The tags: the dataset (name and digest), the ``model`` option, the
    promotion metric (``mlflow.promote_metric``) and its value, the run.
    """
    mlflow_cfg = cfg.get("mlflow") or {}
    name = mlflow_cfg.get("model_name") or DEFAULT_MODEL_NAME
    version = str(model_info.registered_model_version)
    metric = mlflow_cfg.get("promote_metric") or DEFAULT_OBJECTIVE
    data = result.dataset
    model = str(getattr(result, "model_name", QBOOST_MODEL) or QBOOST_MODEL)
    run_id = getattr(model_info, "run_id", None) or ""
    tags = {
        "qboost.dataset": str(data.name),
        "qboost.dataset_digest": str(getattr(data, "digest", "")),
        "qboost.model": model,
        "qboost.metric": metric,
        "qboost.run_id": str(run_id),
    }
    value = metrics.get(metric)
    if value is not None:
        tags["qboost.metric_value"] = f"{value:.6g}"
    client = client_for(tracking_uri)
    for key, text in tags.items():
        client.set_model_version_tag(name, version, key, text)
    score = f"{metric} {value:.4g}" if value is not None else f"no {metric}"
    client.update_model_version(name, version, description=f"{model} on {data.name}: {score} (run {run_id})")


def maybe_promote(model_info: Any, metrics: Mapping[str, float], cfg: Mapping[str, Any], tracking_uri: str) -> str | None:
    """Move the ``champion`` alias to the new version if it beats the current champion.

    A promoted version gets the tag ``qboost.promoted_by`` (the metric, its
    value and the champion it beat) and the same words in its description.
    Returns a one-line account of what happened, or None when promotion is off.
    """
    if not cfg.get("promote"):
        return None
    from mlflow.exceptions import MlflowException

    mlflow_cfg = cfg.get("mlflow") or {}
    name = mlflow_cfg.get("model_name") or DEFAULT_MODEL_NAME
    metric = mlflow_cfg.get("promote_metric") or DEFAULT_OBJECTIVE
    new_version = str(model_info.registered_model_version)
    if metric not in metrics:
        return f"not promoted: this run has no metric '{metric}' (mlflow.promote_metric)"
    new = metrics[metric]
    client = client_for(tracking_uri)
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        current = None
    beaten = "the first champion"
    if current is not None:
        old = client.get_run(current.run_id).data.metrics.get(metric)
        # The one "best" rule: a tie keeps the earlier run, the current champion.
        if old is not None and not is_better(new, old, metric):
            return f"{name} v{new_version} not promoted: {metric} {new:.4g} does not beat champion v{current.version} ({old:.4g})"
        beaten = f"beat champion v{current.version} ({old:.4g})" if old is not None else f"replaced champion v{current.version} (no {metric})"
    client.set_registered_model_alias(name, CHAMPION, new_version)
    reason = f"{metric} {new:.6g}, {beaten}"
    client.set_model_version_tag(name, new_version, "qboost.promoted_by", reason)
    description = client.get_model_version(name, new_version).description or ""
    client.update_model_version(name, new_version, description=f"{description} Promoted to @{CHAMPION}: {reason}.".strip())
    return f"{name} v{new_version} is now @{CHAMPION} ({metric} {new:.4g})"


def data_tags(data: Any) -> dict[str, str]:
    """The run's tags about its data: :data:`SOURCE_DIGEST_TAG` (the whole data before splitting), when the data have one."""
    digest = getattr(data, "source_digest", None)
    return {SOURCE_DIGEST_TAG: str(digest)} if digest else {}


def log_result(result: Trained, metrics: Mapping[str, float], cfg: Mapping[str, Any], tracking_uri: str) -> list[str]:
    """Log everything about a finished job into the active run (of the store ``tracking_uri``); returns report lines.

    ``metrics`` are the job's flat metrics (finite numbers only); they go in
    one batch with the run's :func:`model_tags` and :func:`data_tags`.

    Inside :func:`~qboost_exp.tracking.tracked_run`, the job counts as
    finished from here on: if the store fails now, the run's full record is
    kept on local disk (see :class:`~qboost_exp.tracking.StoreFailure`).
    """
    import mlflow
    from mlflow.entities import Metric, RunTag

    from ..cosmetic import attempt
    from ._open import note_trained

    tags = {**model_tags(getattr(result, "model_name", QBOOST_MODEL)), **data_tags(result.dataset)}
    note_trained(result, metrics, cfg, tags)  # the local record, if the store fails, keeps the same tags
    run = mlflow.active_run()
    now = int(time.time() * 1000)
    client_for(tracking_uri).log_batch(
        run.info.run_id,
        metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()],
        tags=[RunTag(key, value) for key, value in tags.items()],
    )
    lines = []
    if (cfg.get("mlflow") or {}).get("log_model", True):
        info = log_model(result, cfg)
        if info.registered_model_version is not None:
            describe_version(result, metrics, cfg, info, tracking_uri)
            lines.append(f"registered {(cfg.get('mlflow') or {}).get('model_name') or DEFAULT_MODEL_NAME} v{info.registered_model_version}")
        promoted = maybe_promote(info, metrics, cfg, tracking_uri)
        if promoted:
            lines.append(promoted)
    # The result (params, metrics, tags, the model) is in the store: what follows is cosmetic
    # (qboost_exp.cosmetic), each step a warning at worst. The figures are drawn in a thread
    # while the inputs are written (MLflow's store and file I/O leave the interpreter free);
    # they are uploaded from this thread, which holds the active run.
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=1, thread_name_prefix="qboost-figures") as pool:
        figures = pool.submit(render_figures, result, Path(tmp))
        attempt("dataset inputs", log_inputs, result)
        _log_rendered(Path(tmp), figures.result())
    return lines
