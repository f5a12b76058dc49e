"""A fitted QBoostClassifier as plain numpy arrays: its predictions without scikit-learn.

:func:`compile_model` turns a fitted :class:`~qboost_exp.QBoostClassifier`
whose selected learners are all decision trees (the ``stumps``, ``trees`` and
``adaboost`` sets, ``mixed`` sets of those, and ``DecisionTreeClassifier`` /
``ExtraTreeClassifier`` members of an ``estimators`` set) into a
:class:`CompiledModel`: the trees' node arrays, the feature subset each tree
sees, the weights, the intercept, the probability slope and the classes.
The L1 baselines over QBoost's dictionary (:mod:`qboost_exp.domain.baselines`) have
the same fitted attributes and rules, and compile the same way.
Its ``decision_function``, ``predict`` and ``predict_proba`` give exactly what
the estimator's give:

* inputs are compared as float32, as scikit-learn's trees do (a float32 value
  against a float64 threshold, compared in float64), so every split agrees;
* the decision starts from the intercept and adds ``w_i * h_i(x)`` learner by
  learner in the model's order, so it is equal bit for bit, not just to
  rounding, and no label flips on a decision near 0;
* probabilities come from :func:`probabilities`, the one definition of the
  rule (the estimator uses it too).

This module imports only numpy at module level (scikit-learn only inside
:func:`compile_model`, which reads a fitted estimator), so a numpy-only
environment can load a compiled model (:meth:`CompiledModel.load`) and predict.

File format
-----------
:meth:`CompiledModel.save` writes numpy's ``.npz`` (``np.savez``: an
uncompressed zip of ``.npy`` arrays, one per key); :meth:`CompiledModel.load`
reads it with ``allow_pickle=False``, so loading never unpickles anything and
no array may have object dtype. The serving container keeps it beside the
MLflow model as ``qboost-compiled.npz``. Format version 1 (:data:`FORMAT_VERSION`),
for ``k`` learners with ``n`` tree nodes in all (integers are numpy's ``intp``,
int64 on 64-bit platforms)::

    key                 dtype              shape                meaning
    format_version      int64              ()                   1; another version is refused
    classes             int/float/bool     (2,)                 classes_ (predict gives classes[1] where the decision > 0)
                        or unicode <U
    n_features_in       int64              ()                   input columns
    feature_names_in    unicode <U         (n_features_in,)     optional: the estimator's feature_names_in_
    estimator_weights   float64            (k,)                 w_i
    intercept           float64            ()                   decision = intercept + sum_i w_i h_i(x)
    proba_slope         float64            ()                   P(classes[1]) = probabilities(decision, slope)
    node_offsets        int64              (k + 1,)             learner i's nodes: [node_offsets[i], node_offsets[i+1])
    feature             int64              (n,)                 the tree's own column a node tests (ignored at leaves)
    threshold           float64            (n,)                 go left where float32(x) <= threshold
    children_left       int64              (n,)                 local node index, -1 at a leaf
    children_right      int64              (n,)                 local node index, -1 at a leaf
    leaf_value          float64            (n,)                 the learner's output (+1 or -1) at a leaf
    column_offsets      int64              (k + 1,)             learner i's columns: [column_offsets[i], column_offsets[i+1])
    columns             int64              (column_offsets[k],) the columns of X each tree sees, concatenated

A file with a missing or unknown key, another version, or arrays that do not
describe a valid model is refused with a :class:`~qboost_exp.errors.DataError`
naming what is wrong. A change to this layout raises :data:`FORMAT_VERSION`.

Examples
--------
>>> compiled = compile_model(model)                       # doctest: +SKIP
>>> compiled.save("model.npz")                            # doctest: +SKIP
>>> CompiledModel.load("model.npz").predict_proba(X)      # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from ..errors import DataError, QBoostError
from ._decision import probabilities  # the one probability rule, numpy only

__all__ = ["FORMAT_VERSION", "CompiledModel", "NotCompilable", "compile_model", "probabilities"]

#: Version of the array layout of :meth:`CompiledModel.to_arrays` (and so of the ``.npz`` file).
FORMAT_VERSION = 1
_F32_MAX = float(np.finfo(np.float32).max)
#: Rows evaluated at once: bounds the (rows x learners) index arrays of a large X.
_BLOCK_ROWS = 8192
_TREE_KEYS = ("node_offsets", "feature", "threshold", "children_left", "children_right", "leaf_value", "column_offsets", "columns")
_SCALAR_KEYS = ("format_version", "n_features_in", "intercept", "proba_slope")
_KEYS = frozenset(_SCALAR_KEYS + _TREE_KEYS + ("classes", "estimator_weights"))


class NotCompilable(QBoostError, TypeError):
    """The estimator, or one of its learners, has no compiled form; predict with the estimator itself."""


def _int_array(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 1 or not (array.dtype.kind in "iu" or array.size == 0):
        raise DataError(f"compiled model: {name} must be a 1-D integer array, got dtype {array.dtype} and shape {array.shape}")
    return array.astype(np.intp)


def _float_array(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 1 or not (array.dtype.kind in "fiu" or array.size == 0):
        raise DataError(f"compiled model: {name} must be a 1-D float array, got dtype {array.dtype} and shape {array.shape}")
    return array.astype(np.float64)


def _scalar(value: Any, name: str, kind: type) -> Any:
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in ("iu" if kind is int else "fiu"):
        raise DataError(f"compiled model: {name} must be a single {kind.__name__}, got {value!r}")
    return kind(array)


def _offsets(value: Any, name: str, n_learners: int, total: int) -> np.ndarray:
    offsets = _int_array(value, name)
    if len(offsets) != n_learners + 1 or offsets[0] != 0 or offsets[-1] != total or np.any(np.diff(offsets) < 0):
        raise DataError(
            f"compiled model: {name} must rise from 0 to {total} in {n_learners + 1} steps (one per learner, plus 1), got {offsets.tolist()[:10]}"
        )
    return offsets


class CompiledModel:
    """A compiled QBoost model: decision trees, weights and the probability slope as numpy arrays.

    Built by :func:`compile_model` or :meth:`from_arrays`; the parameters are
    the arrays of :meth:`to_arrays`. Learner ``i`` is the tree whose nodes are
    ``node_offsets[i]:node_offsets[i + 1]`` of the node arrays (node indices
    local to the tree, root first, children after their parent, as
    scikit-learn stores them), looking at the columns
    ``columns[column_offsets[i]:column_offsets[i + 1]]`` of ``X``.

    Parameters
    ----------
    classes : ndarray of shape (2,)
        ``classes_``: ``predict`` gives ``classes[1]`` where the decision is > 0.
    n_features_in : int
    estimator_weights : ndarray of shape (n_learners,)
    intercept : float
    proba_slope : float
    node_offsets : ndarray of int, shape (n_learners + 1,)
    feature : ndarray of int, shape (n_nodes,)
        The tree's own input column a node tests (an index into its columns; ignored at leaves).
    threshold : ndarray of float, shape (n_nodes,)
        Go left where ``float32(x) <= threshold`` (ignored at leaves).
    children_left, children_right : ndarray of int, shape (n_nodes,)
        Local node indices; ``-1`` at leaves.
    leaf_value : ndarray of float, shape (n_nodes,)
        The learner's output at a leaf (its ``classes_[argmax(value)]``: +1 or -1).
    column_offsets : ndarray of int, shape (n_learners + 1,)
    columns : ndarray of int
        Columns of ``X`` each tree sees: all of them for a bare tree, the
        subset of a ``SubspaceLearner``.
    feature_names_in : ndarray of str, optional
        The estimator's ``feature_names_in_``; a DataFrame ``X`` must have these columns.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, estimator_weights_, intercept_, proba_slope_
        As on the estimator (``feature_names_in_`` is None when it had none).
    n_learners : int

    Raises
    ------
    DataError
        If the arrays do not describe a valid model (the message names the array).
    """

    def __init__(
        self,
        *,
        classes: Any,
        n_features_in: int,
        estimator_weights: Any,
        intercept: float,
        proba_slope: float,
        node_offsets: Any,
        feature: Any,
        threshold: Any,
        children_left: Any,
        children_right: Any,
        leaf_value: Any,
        column_offsets: Any,
        columns: Any,
        feature_names_in: Any = None,
    ) -> None:
        self.classes_ = np.asarray(classes)
        if self.classes_.shape != (2,):
            raise DataError(f"compiled model: classes must hold the 2 labels, got shape {self.classes_.shape}")
        self.n_features_in_ = _scalar(n_features_in, "n_features_in", int)
        if self.n_features_in_ < 1:
            raise DataError(f"compiled model: n_features_in must be >= 1, got {self.n_features_in_}")
        self.feature_names_in_ = None if feature_names_in is None else np.asarray(feature_names_in, dtype=object)
        if self.feature_names_in_ is not None and self.feature_names_in_.shape != (self.n_features_in_,):
            raise DataError(f"compiled model: feature_names_in must name the {self.n_features_in_} features, got shape {self.feature_names_in_.shape}")
        self.estimator_weights_ = _float_array(estimator_weights, "estimator_weights")
        self.intercept_ = _scalar(intercept, "intercept", float)
        self.proba_slope_ = _scalar(proba_slope, "proba_slope", float)
        if not np.all(np.isfinite(self.estimator_weights_)) or not np.isfinite(self.intercept_) or not self.proba_slope_ >= 0:
            raise DataError("compiled model: the weights and intercept must be finite and proba_slope >= 0")
        self.n_learners = k = len(self.estimator_weights_)

        self._feature = _int_array(feature, "feature")
        n_nodes = len(self._feature)
        self._threshold = _float_array(threshold, "threshold")
        self._left = _int_array(children_left, "children_left")
        self._right = _int_array(children_right, "children_right")
        self._leaf_value = _float_array(leaf_value, "leaf_value")
        for name, array in (("threshold", self._threshold), ("children_left", self._left), ("children_right", self._right), ("leaf_value", self._leaf_value)):
            if len(array) != n_nodes:
                raise DataError(f"compiled model: {name} has {len(array)} entries, feature has {n_nodes}: one per node")
        self._columns = _int_array(columns, "columns")
        self._node_offsets = _offsets(node_offsets, "node_offsets", k, n_nodes)
        self._column_offsets = _offsets(column_offsets, "column_offsets", k, len(self._columns))
        if np.any((self._columns < 0) | (self._columns >= self.n_features_in_)):
            raise DataError(f"compiled model: columns must lie in [0, {self.n_features_in_})")
        self._compile_nodes()

    # ------------------------------------------------------------ evaluation form

    def _compile_nodes(self) -> None:
        """Check every tree and build global node arrays in which leaves point to themselves.

        With leaves as fixed points (threshold +inf, both children the leaf
        itself), ``depth`` steps of "go left if x <= threshold" bring every
        tree of every row to its leaf in lock-step, with no per-tree loop.
        """
        n_nodes = len(self._feature)
        ids = np.arange(n_nodes, dtype=np.intp)
        self._roots = self._node_offsets[:-1].copy()
        self._step_feature = np.zeros(n_nodes, dtype=np.intp)
        self._step_threshold = np.full(n_nodes, np.inf)
        self._step_left = ids.copy()
        self._step_right = ids.copy()
        self.depth = 0
        for i in range(self.n_learners):
            lo, hi = self._node_offsets[i], self._node_offsets[i + 1]
            cols = self._columns[self._column_offsets[i] : self._column_offsets[i + 1]]
            if hi == lo:
                raise DataError(f"compiled model: learner {i} has no nodes")
            left, right, feature = self._left[lo:hi], self._right[lo:hi], self._feature[lo:hi]
            leaf = left < 0
            local = np.arange(hi - lo)
            inner = ~leaf
            # Children after their parent (scikit-learn's depth-first order): no cycles, a finite depth.
            if np.any(leaf & (right >= 0)) or np.any(inner & ((left <= local) | (right <= local) | (left >= hi - lo) | (right >= hi - lo))):
                raise DataError(f"compiled model: learner {i}'s children must be later nodes of its own tree (or -1 at a leaf, both)")
            if np.any(inner & ((feature < 0) | (feature >= len(cols)))):
                raise DataError(f"compiled model: learner {i} tests a feature outside its {len(cols)} columns")
            if np.any(inner & np.isnan(self._threshold[lo:hi])) or not np.all(np.isfinite(self._leaf_value[lo:hi][leaf])):
                raise DataError(f"compiled model: learner {i} has a NaN threshold or a non-finite leaf value")
            self._step_feature[lo:hi][inner] = cols[feature[inner]]
            self._step_threshold[lo:hi][inner] = self._threshold[lo:hi][inner]
            self._step_left[lo:hi][inner] = left[inner] + lo
            self._step_right[lo:hi][inner] = right[inner] + lo
            depth = np.zeros(hi - lo, dtype=np.intp)
            for node in np.flatnonzero(inner):  # parents come first, so one pass sets every depth
                depth[left[node]] = depth[right[node]] = depth[node] + 1
            self.depth = max(self.depth, int(depth.max()))
        # The columns some tree reads: scikit-learn refuses values beyond float32 only there.
        self._tree_columns = np.unique(self._columns)

    def _check_X(self, X: Any) -> np.ndarray:
        names = getattr(X, "columns", None)
        # As scikit-learn: only string column names are feature names, and only they must match.
        named = names is not None and len(names) > 0 and all(isinstance(n, str) for n in names)
        if named and self.feature_names_in_ is not None and list(names) != [str(n) for n in self.feature_names_in_]:
            raise DataError(
                f"X's columns {list(map(str, names))[:5]}... are not the model's features {list(map(str, self.feature_names_in_))[:5]}... "
                "(the same names, in the same order)"
            )
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"X must hold numbers: {exc}") from None
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataError(f"X must be a 2-D array of shape (n_samples >= 1, {self.n_features_in_}), got shape {X.shape}")
        if X.shape[1] != self.n_features_in_:
            raise DataError(f"X has {X.shape[1]} features, but the model was fitted with {self.n_features_in_}")
        if not np.isfinite(X).all():
            r, c = (int(i[0]) for i in np.nonzero(~np.isfinite(X)))
            kind = "NaN" if np.isnan(X[r, c]) else "infinite"
            raise DataError(f"row {r + 1}, column {c + 1}: the value is {kind}; the model needs finite feature values")
        return X

    def _leaf_outputs(self, X: np.ndarray, H: np.ndarray) -> None:
        """Each learner's output on the rows of ``X`` (float64, finite) into the columns of ``H``."""
        with np.errstate(over="ignore"):  # out-of-range values become inf here and are refused below
            X32 = np.ascontiguousarray(X, dtype=np.float32)
        used = X32[:, self._tree_columns]
        if not np.isfinite(used).all():
            r, j = (int(i[0]) for i in np.nonzero(~np.isfinite(used)))
            c = int(self._tree_columns[j])
            raise DataError(
                f"row {r + 1}, column {c + 1}: value {float(X[r, c])!r} is out of range; "
                f"the model's trees compare values as float32 (|x| <= {_F32_MAX:.4g})"
            )
        n, width = X32.shape
        flat = X32.ravel()
        for start in range(0, n, _BLOCK_ROWS):
            rows = slice(start, min(n, start + _BLOCK_ROWS))
            row_start = np.arange(rows.start, rows.stop, dtype=np.intp)[:, None] * width
            node = np.broadcast_to(self._roots, (rows.stop - rows.start, self.n_learners))
            for _ in range(self.depth):
                # float32 values against float64 thresholds: numpy compares in
                # float64, exactly as scikit-learn's Cython tree does.
                go_left = flat[row_start + self._step_feature[node]] <= self._step_threshold[node]
                node = np.where(go_left, self._step_left[node], self._step_right[node])
            H[rows] = self._leaf_value[node]

    # ------------------------------------------------------------------ predictions

    def decision_function(self, X: Any) -> np.ndarray:
        """The decision ``intercept + sum_i w_i h_i(x)``; positive means ``classes_[1]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Finite numbers (a DataFrame must have the model's feature names).

        Returns
        -------
        ndarray of shape (n_samples,)

        Raises
        ------
        DataError
            If ``X`` has the wrong shape or columns, a NaN or infinite value,
            or a value beyond float32's range in a column a tree reads.
        """
        X = self._check_X(X)
        n, k = X.shape[0], self.n_learners
        # Column 0 is the intercept; the estimator starts from it and adds
        # w * h left to right, and a cumulative sum adds in the same order (a
        # matrix product or np.sum may not), so the results are bit-identical.
        H = np.empty((n, k + 1))
        H[:, 0] = self.intercept_
        if k == 0:
            return H[:, 0]
        self._leaf_outputs(X, H[:, 1:])
        H[:, 1:] *= self.estimator_weights_
        return np.cumsum(H, axis=1)[:, -1]

    def predict(self, X: Any) -> np.ndarray:
        """Labels: ``classes_[1]`` where the decision is positive, else ``classes_[0]`` (a tie, 0, too)."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``[1 - p, p]``, ``p`` = :func:`probabilities` of the decision; columns in the order of ``classes_``."""
        p = probabilities(self.decision_function(X), self.proba_slope_)
        return np.column_stack([1.0 - p, p])

    # ------------------------------------------------------------------ arrays, files

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The model as named numpy arrays, none of object dtype (so they store without pickle).

        Returns
        -------
        dict of str to ndarray
            The constructor's parameters plus ``format_version``
            (:data:`FORMAT_VERSION`); ``feature_names_in`` only when the model has them.

        Raises
        ------
        DataError
            If the classes are not all numbers or all strings (they could be stored only by pickling).
        """
        arrays = {
            "format_version": np.asarray(FORMAT_VERSION),
            "classes": _plain(self.classes_, "classes"),
            "n_features_in": np.asarray(self.n_features_in_),
            "estimator_weights": self.estimator_weights_.copy(),
            "intercept": np.asarray(self.intercept_),
            "proba_slope": np.asarray(self.proba_slope_),
            "node_offsets": self._node_offsets.copy(),
            "feature": self._feature.copy(),
            "threshold": self._threshold.copy(),
            "children_left": self._left.copy(),
            "children_right": self._right.copy(),
            "leaf_value": self._leaf_value.copy(),
            "column_offsets": self._column_offsets.copy(),
            "columns": self._columns.copy(),
        }
        if self.feature_names_in_ is not None:
            arrays["feature_names_in"] = _plain(self.feature_names_in_, "feature_names_in")
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> "CompiledModel":
        """The model :meth:`to_arrays` gave (of this :data:`FORMAT_VERSION`).

        Raises
        ------
        DataError
            If a key is missing or unknown, the format version is another, or the arrays are inconsistent.
        """
        keys = set(arrays)
        missing, unknown = _KEYS - keys, keys - _KEYS - {"feature_names_in"}
        if missing or unknown:
            raise DataError(
                "compiled model: " + "; ".join(filter(None, [
                    f"missing arrays {sorted(missing)}" if missing else "",
                    f"unknown arrays {sorted(unknown)}" if unknown else "",
                ]))
            )
        version = np.asarray(arrays["format_version"])
        if version.shape != () or version.dtype.kind not in "iu" or int(version) != FORMAT_VERSION:
            raise DataError(f"compiled model: format version {version.tolist()!r} is not {FORMAT_VERSION}, the one this qboost_exp reads")
        params = {k: arrays[k] for k in keys - {"format_version"}}
        return cls(**params)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_arrays` to the ``.npz`` file ``path`` (numpy adds ``.npz`` to a name without it)."""
        np.savez(path, **self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "CompiledModel":
        """Read a model :meth:`save` wrote; nothing is unpickled.

        Raises
        ------
        DataError
            If the file cannot be read as an ``.npz`` of a compiled model.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{os.fspath(path)}: not a compiled model file: {exc}") from None
        if not isinstance(arrays, dict) or not arrays:
            raise DataError(f"{os.fspath(path)}: not a compiled model file (no arrays)")
        return cls.from_arrays(arrays)

    def __repr__(self) -> str:
        return f"CompiledModel(n_learners={self.n_learners}, n_features_in={self.n_features_in_}, depth={self.depth}, classes={self.classes_.tolist()})"


def _plain(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` without object dtype: numbers or strings as a numpy array of their own kind."""
    if array.dtype != object:
        return array.copy()
    plain = np.asarray(array.tolist())
    # Mixed items (1 and "1") would come back as strings: only an unchanged array will do.
    if plain.dtype.kind in "biufU" and plain.shape == array.shape and all(a == b and type(a) is type(b) for a, b in zip(array.tolist(), plain.tolist())):
        return plain
    raise DataError(f"compiled model: {name} {array.tolist()[:5]} are not all numbers or all strings: they cannot be stored without pickle")


# ---------------------------------------------------------------------------- compiling


def _describe(obj: Any) -> str:
    text = " ".join(repr(obj).split())
    return text if len(text) <= 120 else text[:117] + "..."


def _tree_of(learner: Any, position: int, n_learners: int, n_features: int) -> tuple[Any, np.ndarray]:
    """``(fitted tree, columns of X it sees)`` of one selected learner; NotCompilable if it is not one."""
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

    from .weak_learners import SubspaceLearner

    where = f"learner {position} of {n_learners} ({_describe(learner)})"
    tree, columns = learner, np.arange(n_features, dtype=np.intp)
    if type(learner) is SubspaceLearner:
        tree, features = learner.estimator, np.asarray(learner.features)
        if features.ndim != 1 or features.dtype.kind not in "iu" or np.any((features < -n_features) | (features >= n_features)):
            raise NotCompilable(f"{where}: its features must be column indices of X (0 to {n_features - 1})")
        columns = np.where(features < 0, features + n_features, features).astype(np.intp)  # X[:, -1] is the last column
    # Exact types: a subclass may predict differently.
    if type(tree) not in (DecisionTreeClassifier, ExtraTreeClassifier):
        raise NotCompilable(
            f"{where} is not a decision tree: only DecisionTreeClassifier and ExtraTreeClassifier learners "
            "(bare or in a SubspaceLearner) compile; predict with the estimator itself"
        )
    if getattr(tree, "tree_", None) is None or getattr(tree, "n_outputs_", None) != 1:
        raise NotCompilable(f"{where}: the tree is not fitted or has more than one output")
    if int(tree.n_features_in_) != len(columns):
        raise NotCompilable(f"{where}: the tree takes {tree.n_features_in_} features but sees {len(columns)} columns")
    classes = np.asarray(tree.classes_)
    if classes.dtype.kind not in "biuf":
        raise NotCompilable(f"{where}: its classes {classes.tolist()} are not numbers")
    return tree, columns


def compile_model(estimator: Any) -> CompiledModel:
    """The compiled form of a fitted QBoostClassifier whose selected learners are decision trees.

    The dictionary baselines of :mod:`qboost_exp.domain.baselines` (``LassoClassifier``,
    ``L1LogisticClassifier``) compile too: they have the same fitted attributes
    and the same decision and probability rule.

    Parameters
    ----------
    estimator : QBoostClassifier or qboost_exp.domain.baselines.DictionaryClassifier
        Fitted. Its selected learners (``estimators_``) must be
        ``DecisionTreeClassifier`` or ``ExtraTreeClassifier``, bare (``adaboost``,
        an ``estimators`` member) or inside a ``SubspaceLearner`` (``stumps``, ``trees``).

    Returns
    -------
    CompiledModel
        Predicts exactly as ``estimator`` does.

    Raises
    ------
    NotCompilable
        If ``estimator`` is not a fitted QBoostClassifier or dictionary baseline (or is a subclass
        that changes how it predicts), or a selected learner is not a decision
        tree; the message names it.
    """
    # Here, not at the top: the vote's module imports scikit-learn, and a compiled model must load with numpy alone.
    from .vote import PREDICTION_METHODS, WeightedVote

    if not isinstance(estimator, WeightedVote):
        raise NotCompilable(
            f"{_describe(estimator)} is not a QBoostClassifier (nor a dictionary baseline of qboost_exp.domain.baselines); "
            "only QBoost models and the L1 baselines over its learners compile"
        )
    changed = [m for m in PREDICTION_METHODS if getattr(type(estimator), m, None) is not getattr(WeightedVote, m, None)]
    if changed:
        raise NotCompilable(f"{type(estimator).__name__} overrides {', '.join(changed)}: its predictions may differ from the compiled ones")
    fitted = ("estimators_", "estimator_weights_", "intercept_", "proba_slope_", "classes_", "n_features_in_")
    if not all(hasattr(estimator, a) for a in fitted):
        raise NotCompilable(f"{_describe(estimator)} is not fitted; fit it before compiling")
    n_features = int(estimator.n_features_in_)
    return CompiledModel(
        classes=np.asarray(estimator.classes_),
        n_features_in=n_features,
        estimator_weights=np.asarray(estimator.estimator_weights_, dtype=np.float64),
        intercept=float(estimator.intercept_),
        proba_slope=float(estimator.proba_slope_),
        feature_names_in=getattr(estimator, "feature_names_in_", None),
        **_tree_arrays(list(estimator.estimators_), n_features),
    )


def _tree_arrays(learners: list, n_features: int) -> dict[str, np.ndarray]:
    """The selected learners' trees as the concatenated node and column arrays of :class:`CompiledModel`."""
    node_offsets, column_offsets = [0], [0]
    feature, threshold, left, right, value, columns = [], [], [], [], [], []
    for position, learner in enumerate(learners):
        tree, cols = _tree_of(learner, position, len(learners), n_features)
        t = tree.tree_
        # The learner's output at each node: what DecisionTreeClassifier.predict
        # gives for a row ending there (first class on an argmax tie, as numpy).
        value.append(np.asarray(tree.classes_, dtype=np.float64)[np.argmax(t.value[:, 0, :], axis=1)])
        feature.append(t.feature)
        threshold.append(t.threshold)
        left.append(t.children_left)
        right.append(t.children_right)
        columns.append(cols)
        node_offsets.append(node_offsets[-1] + int(t.node_count))
        column_offsets.append(column_offsets[-1] + len(cols))

    def joined(parts: list, dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    return {
        "node_offsets": np.asarray(node_offsets, dtype=np.intp),
        "feature": joined(feature, np.intp),
        "threshold": joined(threshold, np.float64),
        "children_left": joined(left, np.intp),
        "children_right": joined(right, np.intp),
        "leaf_value": joined(value, np.float64),
        "column_offsets": np.asarray(column_offsets, dtype=np.intp),
        "columns": joined(columns, np.intp),
    }
