"""The prediction functions ``/invocations`` calls, for the model the container loaded.

Predicting with a handful of selected learners costs microseconds, but
``QBoostClassifier.predict`` spends far more than that in scikit-learn's input
validation, once for the ensemble and once per learner. So a model that
compiles (:func:`qboost_exp.domain.compiled.compile_model`: a QBoost model whose
learners are all decision trees) is served by its :class:`CompiledPredictor`,
which predicts exactly as the estimator does; any other model by
:class:`ModelPredictor`, through its own ``predict`` / ``predict_proba`` /
``decision_function``, as MLflow's pyfunc would.

:func:`predictor_for` imports ``qboost_exp.domain.compiled`` only when called, after
the model is unpickled: the model directory carries its own copy of
qboost_exp (MLflow ``code_paths``, first on ``sys.path``), and the compiled
form must come from the same copy as the model's classes. A model whose copy
predates compiled models is served through its own methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import RequestError
from .messages import one_line

_F32_MAX = float(np.finfo(np.float32).max)


def _feature_names(model: Any) -> tuple[str, ...] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else tuple(str(n) for n in names)


class CompiledPredictor:
    """A :class:`qboost_exp.domain.compiled.CompiledModel` answering with plain arrays.

    Parameters
    ----------
    compiled : CompiledModel
    source : str, optional
        Where it was read from (the compiled file), for the start-up log line.
    input_error : type
        The exception the compiled model raises for values it refuses
        (``qboost_exp.errors.DataError``): those are the client's (400).

    Attributes
    ----------
    n_features : int
    feature_names : tuple of str or None
    classes : ndarray of shape (2,)
    description : str
        For the start-up log line.
    """

    def __init__(self, compiled: Any, input_error: type[Exception], source: str = "") -> None:
        self.compiled = compiled
        self._input_error = input_error
        self.n_features = int(compiled.n_features_in_)
        self.feature_names = _feature_names(compiled)
        self.classes = np.asarray(compiled.classes_)
        self.description = f"compiled: {compiled.n_learners} trees, depth {compiled.depth}" + (f", from {source}" if source else "")

    def _call(self, method: Any, X: np.ndarray) -> np.ndarray:
        try:
            return method(X)
        except self._input_error as exc:
            raise RequestError(400, str(exc)) from None

    def labels(self, X: np.ndarray) -> np.ndarray:
        """``predict``: ``classes_[1]`` where the decision is positive, else ``classes_[0]``."""
        return self._call(self.compiled.predict, X)

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """``predict_proba(X)[:, 1]``: P(``classes_[1]``)."""
        return self._call(self.compiled.predict_proba, X)[:, 1]

    def margin(self, X: np.ndarray) -> np.ndarray:
        """``decision_function``."""
        return self._call(self.compiled.decision_function, X)


def float32_range_error(X: np.ndarray) -> RequestError:
    """The 400 for the first value of ``X`` beyond float32's range (scikit-learn's trees compare as float32)."""
    r, c = (int(i[0]) for i in np.nonzero(np.abs(X) > _F32_MAX))
    return RequestError(
        400,
        f"row {r + 1}, column {c + 1}: value {float(X[r, c])!r} is out of range; "
        f"the model's trees compare values as float32 (|x| <= {_F32_MAX:.4g})",
    )


class ModelPredictor:
    """Any fitted scikit-learn classifier, through its own methods.

    ``X`` is passed as a DataFrame with the model's feature names when it has
    them (as MLflow's pyfunc does), else as the array.

    Parameters
    ----------
    model : fitted classifier
    reason : str
        Why it is not compiled (for the start-up log line).
    """

    def __init__(self, model: Any, reason: str = "") -> None:
        self._model = model
        n = getattr(model, "n_features_in_", None)
        if n is None:
            raise TypeError(f"{type(model).__name__} has no n_features_in_; cannot check the inputs' width")
        self.n_features = int(n)
        self.feature_names = _feature_names(model)
        self.classes = np.asarray(getattr(model, "classes_", []))
        self.description = f"through its own predict ({reason})" if reason else "through its own predict"

    def _frame(self, X: np.ndarray) -> Any:
        if self.feature_names is None:
            return X
        import pandas as pd

        return pd.DataFrame(X, columns=list(self.feature_names))

    def _call(self, method: str, X: np.ndarray) -> np.ndarray:
        """The model's own ``method`` on ``X``; a ValueError it raises is about the values sent (400)."""
        try:
            return np.asarray(getattr(self._model, method)(self._frame(X)))
        except ValueError as exc:
            # X is already finite, of the right width: what is left is the model's own
            # range check (scikit-learn's trees refuse values beyond float32).
            if (np.abs(X) > _F32_MAX).any():
                raise float32_range_error(X) from None
            raise RequestError(400, f"the model refused the feature values: {one_line(exc, limit=300)}") from None

    def labels(self, X: np.ndarray) -> np.ndarray:
        return self._call("predict", X)

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self._model, "predict_proba") or len(self.classes) != 2:
            raise RequestError(406, "this model gives no probabilities (it has no predict_proba for two classes)")
        return self._call("predict_proba", X)[:, 1]

    def margin(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self._model, "decision_function"):
            raise RequestError(406, "this model gives no margin (it has no decision_function)")
        return self._call("decision_function", X).astype(np.float64, copy=False)


def predictor_for(model: Any) -> CompiledPredictor | ModelPredictor:
    """The fastest faithful predictor for a fitted model: compiled if it compiles, else its own methods.

    Parameters
    ----------
    model : fitted classifier
        As unpickled from the MLflow model directory.

    Returns
    -------
    CompiledPredictor or ModelPredictor
    """
    try:
        from qboost_exp.domain.compiled import NotCompilable, compile_model
        from qboost_exp.errors import DataError
    except ImportError as exc:  # no qboost_exp here, or the model's copy predates compiled models
        return ModelPredictor(model, f"qboost_exp.domain.compiled is not importable: {exc}")
    try:
        return CompiledPredictor(compile_model(model), DataError)
    except NotCompilable as exc:
        return ModelPredictor(model, str(exc))
