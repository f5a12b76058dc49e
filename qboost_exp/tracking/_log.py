"""What a finished training job logs: metrics, data inputs, figures, the model.

The run layer (:mod:`qboost_exp.experiment`) hands over what a job produced
as any object with the attributes of :class:`Trained`; tracking never
imports the run layer.
"""

from __future__ import annotations

import copy
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Mapping, Protocol

from . import _plots
from ._runs import DEFAULT_OBJECTIVE, client_for, is_better
from ._store import quiet

CHAMPION = "champion"
DEFAULT_MODEL_NAME = "qboost"


class Trained(Protocol):
    """What tracking needs of a finished job (:class:`qboost_exp.experiment.ExperimentResult` is one)."""

    model: Any  # a fitted QBoostClassifier (or any fitted scikit-learn classifier)
    dataset: Any  # the qboost_exp.data.Dataset it was trained and scored on

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


def log_figures(result: Trained) -> None:
    import mlflow
    import pandas as pd

    model, data = result.model, result.dataset
    split = "test" if len(data.y_test) else "train"
    X, y = result.frame(split), getattr(data, f"y_{split}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _plots.plot_weights(model, out / "weights.png")
        _plots.plot_confusion(model, X, y, split, out / "confusion_matrix.png")
        _plots.plot_roc(model, X, y, split, out / "roc_curve.png")
        _plots.plot_energies(model, out / "energy_histogram.png")
        mlflow.log_artifacts(str(out), "plots")
    rows = [
        {"candidate": int(i), "weight": float(w), "learner": repr(learner), "features": str(list(getattr(learner, "features", [])))}
        for i, w, learner in zip(model.selected_indices_, model.estimator_weights_, model.estimators_)
    ]
    mlflow.log_table(pd.DataFrame(rows, columns=["candidate", "weight", "learner", "features"]), "selected_learners.json")


def _requirements() -> list[str]:
    pins = []
    for dist in ("numpy", "scipy", "scikit-learn", "pandas", "dimod", "cloudpickle"):
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            pass
    return pins


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

    data = result.dataset
    # The trained model is independent of the live sampler (on QPU paths a
    # cloud client that cannot be pickled): the logged copy keeps the
    # sampler's name only. A shallow copy, so the caller's model is untouched.
    model = copy.copy(result.model)
    model.sampler = str(cfg["sampler"]["name"])
    example = pd.DataFrame(data.X_train[:5], columns=data.feature_names)
    return {
        "sk_model": model,
        "serialization_format": "cloudpickle",
        "signature": infer_signature(example, model.predict(example)),
        "input_example": example,
        "pip_requirements": _requirements(),
        "code_paths": [str(Path(qboost_exp.__file__).parent)],
    }


def log_model(result: Trained, cfg: Mapping[str, Any]) -> Any:
    """Log the fitted estimator as the run's MLflow model (sklearn flavour, pyfunc-loadable)."""
    import mlflow

    mlflow_cfg = cfg.get("mlflow") or {}
    register = bool(cfg.get("register") or cfg.get("promote"))
    # mlflow.sklearn warns on every pickle-based save; the choice is documented in model_flavor_kwargs.
    with quiet("mlflow.sklearn"):
        return mlflow.sklearn.log_model(
            name="model",
            registered_model_name=(mlflow_cfg.get("model_name") or DEFAULT_MODEL_NAME) if register else None,
            **model_flavor_kwargs(result, cfg),
        )


def save_model(result: Trained, cfg: Mapping[str, Any], path: str | Path) -> Path:
    """Write the fitted estimator as an MLflow model directory at ``path`` (which must not exist)."""
    import mlflow

    with quiet("mlflow.sklearn"):
        mlflow.sklearn.save_model(path=str(path), **model_flavor_kwargs(result, cfg))
    return Path(path)


def maybe_promote(model_info: Any, metrics: Mapping[str, float], cfg: Mapping[str, Any], tracking_uri: str) -> str | None:
    """Move the ``champion`` alias to the new version if it beats the current champion.

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
    if current is not None:
        old = client.get_run(current.run_id).data.metrics.get(metric)
        # The one "best" rule: a tie keeps the earlier run, the current champion.
        if old is not None and not is_better(new, old, metric):
            return f"{name} v{new_version} not promoted: {metric} {new:.4g} does not beat champion v{current.version} ({old:.4g})"
    client.set_registered_model_alias(name, CHAMPION, new_version)
    return f"{name} v{new_version} is now @{CHAMPION} ({metric} {new:.4g})"


def log_result(result: Trained, metrics: Mapping[str, float], cfg: Mapping[str, Any], tracking_uri: str) -> list[str]:
    """Log everything about a finished job into the active run (of the store ``tracking_uri``); returns report lines.

    ``metrics`` are the job's flat metrics (finite numbers only).
    """
    import mlflow

    mlflow.log_metrics(dict(metrics))
    log_inputs(result)
    log_figures(result)
    lines = []
    if (cfg.get("mlflow") or {}).get("log_model", True):
        info = log_model(result, cfg)
        if info.registered_model_version is not None:
            lines.append(f"registered {(cfg.get('mlflow') or {}).get('model_name') or DEFAULT_MODEL_NAME} v{info.registered_model_version}")
        promoted = maybe_promote(info, metrics, cfg, tracking_uri)
        if promoted:
            lines.append(promoted)
    return lines
