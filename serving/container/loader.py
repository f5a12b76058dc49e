"""Load the scikit-learn model of an MLflow model directory, without importing MLflow.

``mlflow.sklearn.load_model(dir)`` does three things: read ``MLmodel``, put the
flavour's ``code`` directory first on ``sys.path`` (so the model unpickles
with the code it was trained with; here ``code/qboost_exp``), and unpickle
``pickled_model`` with pickle or cloudpickle. This module does the same three
things. The reason is start-up time: importing MLflow alone takes about 2.4 s
on a 2-core machine, and ``/ping`` must answer within a few seconds of the
container starting. The tests check that the model loaded here predicts
exactly as ``mlflow.pyfunc.load_model`` does.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

from .messages import one_line

# MLflow's switch for refusing pickled models (default: allowed); honoured here
# so that a deployment that turned it off gets the same protection.
ALLOW_PICKLE_ENV = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


class ModelLoadError(Exception):
    """The directory is not a loadable MLflow scikit-learn model; the message says why."""


def load_sklearn_model(model_dir: str | os.PathLike[str]) -> Any:
    """The fitted estimator of the MLflow model at ``model_dir`` (sklearn flavour).

    Parameters
    ----------
    model_dir : path-like
        A directory with ``MLmodel`` at its root, as written by
        ``mlflow.sklearn.save_model`` / ``qboost_exp.tracking.save_model``.

    Returns
    -------
    object
        The unpickled estimator.

    Raises
    ------
    ModelLoadError
        If ``MLmodel`` is missing or has no ``sklearn`` flavour, the
        serialisation format is not pickle/cloudpickle, or unpickling fails.
    """
    import yaml  # PyYAML: cheap to import, unlike mlflow

    root = Path(model_dir)
    mlmodel = root / "MLmodel"
    if not mlmodel.is_file():
        raise ModelLoadError(f"{root} is not an MLflow model directory: it has no MLmodel file")
    try:
        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{mlmodel}: cannot be read: {one_line(exc)}") from None
    flavor = (spec.get("flavors") or {}).get("sklearn")
    if not isinstance(flavor, dict):
        names = ", ".join(spec.get("flavors") or {}) or "none"
        raise ModelLoadError(f"{mlmodel}: the model has no sklearn flavour (its flavours: {names}); this server serves scikit-learn models")
    fmt = flavor.get("serialization_format", "pickle")
    if fmt not in ("pickle", "cloudpickle"):
        raise ModelLoadError(f"{mlmodel}: serialization_format {fmt!r} is not supported here; save the model with cloudpickle")
    if os.environ.get(ALLOW_PICKLE_ENV, "true").strip().lower() in ("false", "0", "no", "off"):
        raise ModelLoadError(f"{ALLOW_PICKLE_ENV} is false: loading a pickled model is disallowed")
    if flavor.get("code"):
        # As MLflow does: the model's own code shadows any installed copy.
        sys.path.insert(0, str(root / flavor["code"]))
    path = root / flavor.get("pickled_model", "model.pkl")
    try:
        with open(path, "rb") as fh:
            if fmt == "cloudpickle":
                import cloudpickle

                return cloudpickle.load(fh)
            return pickle.load(fh)
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot unpickle the model: {one_line(exc, with_type=True)}") from None
