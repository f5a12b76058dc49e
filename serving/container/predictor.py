"""A fitted QBoost model compiled into a few numpy arrays, for fast predictions.

Predicting with a handful of selected learners costs microseconds, but
``QBoostClassifier.predict`` spends far more than that in scikit-learn's input
validation, once for the ensemble and once per learner. :func:`compile_model`
turns the model into a :class:`CompiledQBoost` that evaluates every selected
decision tree at once:

* each tree (a bare ``DecisionTreeClassifier`` or one inside a
  ``SubspaceLearner``) becomes rows of shared node arrays: the column of ``X``
  it tests (subspace columns mapped back to ``X``'s), the threshold, the two
  children, and the ±1 output of each leaf (``classes_[argmax(value)]``, as
  ``DecisionTreeClassifier.predict`` gives); leaves point to themselves, so
  ``max_depth`` steps of "go left if ``x[feature] <= threshold``" bring every
  tree of every row to its leaf in lock-step;
* inputs are compared as float32, as scikit-learn's trees do, so the splits
  agree bit for bit; values outside float32's range are refused, as
  scikit-learn refuses them;
* the margin is accumulated learner by learner in the model's order
  (a cumulative sum), so it equals ``decision_function`` exactly, not just to
  rounding, and labels never flip on a margin of ~0;
* any other kind of learner falls back to its own ``predict``.

Models that are not QBoost-like get :class:`GenericPredictor`, which calls the
estimator's own methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import RequestError

_F32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class _Trees:
    """Every compiled tree's nodes in shared arrays (global node indices)."""

    roots: np.ndarray  # (n_trees,) intp: the root node of each tree
    positions: np.ndarray  # (n_trees,) intp: the tree's place among the selected learners
    feature: np.ndarray  # (n_nodes,) intp: the column of X a node tests (0 at leaves)
    threshold: np.ndarray  # (n_nodes,) float64: go left if x <= threshold (+inf at leaves)
    left: np.ndarray  # (n_nodes,) intp: left child (itself at leaves)
    right: np.ndarray  # (n_nodes,) intp: right child (itself at leaves)
    output: np.ndarray  # (n_nodes,) float64: the learner's output at a leaf
    depth: int  # steps that bring every tree to a leaf

    def evaluate(self, X32: np.ndarray, H: np.ndarray) -> None:
        """Write each tree's outputs for ``X32`` into its column of ``H``."""
        n, width = X32.shape
        node = np.repeat(self.roots[None, :], n, axis=0)
        flat = X32.ravel()
        row_start = np.arange(0, n * width, width, dtype=np.intp)[:, None]
        for _ in range(self.depth):
            # float32 values against float64 thresholds: numpy compares in
            # float64, exactly as scikit-learn's Cython tree does.
            go_left = flat[row_start + self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        H[:, self.positions] = self.output[node]


def _tree_parts(learner: Any) -> tuple[Any, np.ndarray] | None:
    """``(fitted DecisionTreeClassifier, columns of X it sees)``, or None if not a plain tree learner."""
    from sklearn.tree import DecisionTreeClassifier

    tree, columns = learner, None
    # SubspaceLearner is matched by name and module, not imported: the model
    # carries its own copy of qboost_exp (MLflow code_paths), whose class is
    # not the installed one.
    cls = type(learner)
    if cls.__name__ == "SubspaceLearner" and cls.__module__.split(".")[0] == "qboost_exp":
        tree, columns = learner.estimator, np.asarray(learner.features, dtype=np.intp)
    # Exact type: a subclass may predict differently.
    if type(tree) is not DecisionTreeClassifier or getattr(tree, "n_outputs_", None) != 1:
        return None
    n_in = int(tree.n_features_in_)
    if columns is None:
        columns = np.arange(n_in, dtype=np.intp)
    if len(columns) != n_in:
        return None
    try:
        np.asarray(tree.classes_, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return tree, columns


def _compile_trees(parts: Sequence[tuple[int, Any, np.ndarray]]) -> _Trees:
    roots, feature, threshold, left, right, output = [], [], [], [], [], []
    depth, offset = 0, 0
    for _, tree, columns in parts:
        t = tree.tree_
        n_nodes = int(t.node_count)
        ids = np.arange(n_nodes, dtype=np.intp) + offset
        leaf = t.children_left < 0
        roots.append(offset)
        feature.append(np.where(leaf, 0, columns[np.where(leaf, 0, t.feature)]))
        threshold.append(np.where(leaf, np.inf, t.threshold))
        left.append(np.where(leaf, ids, t.children_left + offset))
        right.append(np.where(leaf, ids, t.children_right + offset))
        classes = np.asarray(tree.classes_, dtype=np.float64)
        output.append(np.where(leaf, classes[np.argmax(t.value[:, 0, :], axis=1)], 0.0))
        depth = max(depth, int(t.max_depth))
        offset += n_nodes
    return _Trees(
        roots=np.asarray(roots, dtype=np.intp),
        positions=np.asarray([p for p, _, _ in parts], dtype=np.intp),
        feature=np.concatenate(feature).astype(np.intp),
        threshold=np.concatenate(threshold).astype(np.float64),
        left=np.concatenate(left).astype(np.intp),
        right=np.concatenate(right).astype(np.intp),
        output=np.concatenate(output).astype(np.float64),
        depth=depth,
    )


def _feature_names(model: Any) -> tuple[str, ...] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else tuple(str(n) for n in names)


class CompiledQBoost:
    """The prediction functions of a fitted QBoost model, on plain float64 arrays.

    Parameters
    ----------
    model : QBoostClassifier
        Fitted: ``classes_``, ``n_features_in_``, ``estimators_``,
        ``estimator_weights_``, ``intercept_``, ``proba_slope_``.

    Attributes
    ----------
    n_features : int
    feature_names : tuple of str or None
    classes : ndarray of shape (2,)
    n_compiled, n_fallback : int
        How many selected learners run as compiled trees / through their own ``predict``.
    """

    def __init__(self, model: Any) -> None:
        self.n_features = int(model.n_features_in_)
        self.feature_names = _feature_names(model)
        self.classes = np.asarray(model.classes_)
        self._weights = np.asarray(model.estimator_weights_, dtype=np.float64)
        self._intercept = float(model.intercept_)
        self._model = model  # its proba_from_decision: one definition of the probabilities
        parts, self._fallback = [], []
        for position, learner in enumerate(model.estimators_):
            found = _tree_parts(learner)
            if found is None:
                self._fallback.append((position, learner))
            else:
                parts.append((position, *found))
        self._trees = _compile_trees(parts) if parts else None
        self.n_compiled, self.n_fallback = len(parts), len(self._fallback)

    def margin(self, X: np.ndarray) -> np.ndarray:
        """``decision_function``: the margin Σ w_i h_i(x), summed in the model's order.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features), float64, finite

        Raises
        ------
        RequestError
            (400) If a value lies outside float32's range, which the trees cannot compare.
        """
        n, k = X.shape[0], len(self._weights)
        # Column 0 is the intercept: the model's decision starts from it and adds
        # w * h left to right, and a cumulative sum adds in the same order (a
        # matrix product or np.sum may not), so the results are bit-identical.
        H = np.empty((n, k + 1))
        H[:, 0] = self._intercept
        if k == 0:
            return H[:, 0]
        if self._trees is not None:
            with np.errstate(over="ignore"):
                X32 = X.astype(np.float32)
            if not np.isfinite(X32).all():
                raise float32_range_error(X)
            self._trees.evaluate(X32, H[:, 1:])
        for position, learner in self._fallback:
            H[:, 1 + position] = np.asarray(learner.predict(X), dtype=np.float64)
        H[:, 1:] *= self._weights
        return np.cumsum(H, axis=1)[:, -1]

    def labels(self, X: np.ndarray) -> np.ndarray:
        """``predict``: ``classes_[1]`` where the margin is positive, else ``classes_[0]``."""
        return self.classes[(self.margin(X) > 0).astype(np.intp)]

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """``predict_proba(X)[:, 1]``: P(``classes_[1]``), a sigmoid of the decision."""
        return self._model.proba_from_decision(self.margin(X))[:, 1]


def float32_range_error(X: np.ndarray) -> RequestError:
    """The 400 for the first value of ``X`` beyond float32's range (scikit-learn's trees compare as float32)."""
    r, c = (int(i[0]) for i in np.nonzero(np.abs(X) > _F32_MAX))
    return RequestError(
        400,
        f"row {r + 1}, column {c + 1}: value {float(X[r, c])!r} is out of range; "
        f"the model's trees compare values as float32 (|x| <= {_F32_MAX:.4g})",
    )


class GenericPredictor:
    """Any other fitted scikit-learn classifier, through its own methods.

    ``X`` is passed as a DataFrame with the model's feature names when it has
    them (as MLflow's pyfunc does), else as the array.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        n = getattr(model, "n_features_in_", None)
        if n is None:
            raise TypeError(f"{type(model).__name__} has no n_features_in_; cannot check the inputs' width")
        self.n_features = int(n)
        self.feature_names = _feature_names(model)
        self.classes = np.asarray(getattr(model, "classes_", []))

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
            raise RequestError(400, f"the model refused the feature values: {' '.join(str(exc).split())[:300]}") from None

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


def compile_model(model: Any) -> CompiledQBoost | GenericPredictor:
    """The fastest faithful predictor for a fitted model: compiled if it is QBoost-like."""
    if all(hasattr(model, a) for a in ("estimators_", "estimator_weights_", "intercept_", "proba_from_decision", "classes_", "n_features_in_")):
        return CompiledQBoost(model)
    return GenericPredictor(model)
