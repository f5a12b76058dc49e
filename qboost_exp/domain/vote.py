"""The sparse weighted vote: what QBoost and the dictionary baselines have in common.

A :class:`WeightedVote` fits a dictionary of candidate weak learners (a
weak-learner set, on labels in {-1, +1}), lets its subclass choose weights for
them, and then votes: ``decision(x) = intercept + sum_i w_i h_i(x)`` over the
learners with a non-zero weight, ``predict`` is ``classes_[1]`` where the
decision is > 0 and ``predict_proba`` a sigmoid of the decision with no
offset. The base class owns ``fit`` and everything after the choice (the
fitted attributes, the prediction methods, the tags); a subclass supplies one
step, :meth:`WeightedVote._choose_weights`, as scikit-learn's boosting
estimators supply ``_boost``.

:func:`qboost_exp.domain.compiled.compile_model` compiles any fitted
``WeightedVote`` that keeps these prediction methods.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..errors import ConfigError
from .._seeds import draw_seed
from .._sklearn_private import HasMethods, StrOptions
from . import _decision
from ._search import CV_RULES
from ._targets import binary_classes
from .plugins import resolve_weak_learner_set
from .weak_learners import fit_candidates

__all__ = ["PREDICTION_METHODS", "Choice", "WeightedVote"]

#: The methods whose results a compiled model reproduces; a subclass that
#: overrides one of them may predict differently, so it does not compile.
PREDICTION_METHODS = ("decision_function", "predict", "predict_proba", "proba_from_decision", "_decision")


@dataclass(frozen=True)
class Choice:
    """What a subclass's :meth:`WeightedVote._choose_weights` returns.

    Attributes
    ----------
    candidates : list
        The fitted candidate learners (the final fit's dictionary).
    weights : ndarray of shape (len(candidates),)
        Every candidate's weight, 0 for the unselected.
    intercept : float
    selected : ndarray of int or None
        The candidates that were chosen, where that is not simply the
        non-zero weights (QBoost after a refit: the annealer's choice).
    """

    candidates: list
    weights: np.ndarray
    intercept: float
    selected: np.ndarray | None = None


class WeightedVote(ClassifierMixin, BaseEstimator):
    """Base class: a binary classifier voting with a sparse, weighted subset of fitted weak learners.

    Not used directly. Subclasses define ``__init__`` (storing at least
    ``weak_learners`` and ``random_state``, plus ``cv`` and ``cv_rule`` if they
    search), extend :attr:`_parameter_constraints` and implement
    :meth:`_choose_weights`.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels; ``classes_[1]`` is the positive class (decision > 0).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    n_candidates_ : int
        Candidate learners in the final fit's dictionary.
    weights_ : ndarray of shape (n_candidates_,)
        Every candidate's weight (0 for the unselected).
    selected_indices_ : ndarray of int
        The chosen candidates.
    estimators_ : list
        The chosen learners, in the order of ``selected_indices_``.
    estimator_weights_ : ndarray
        Their weights.
    n_selected_varying_ : int
        How many of the chosen learners vary on the training data (their
        output takes more than one value on the ``X`` of :meth:`fit`). A
        learner constant there only shifts the vote on the training data, as
        an intercept would: QBoost, which has no intercept of its own, may
        select such learners, the baselines (with an intercept) never need
        them. Logged as the metric ``selected_varying``; the count that
        ``model.max_learners=match`` matches.
    intercept_ : float
        Added to the weighted vote.
    proba_slope_ : float
        The slope ``a >= 0`` of :meth:`predict_proba` (Platt scaling on the
        training data, no offset).
    """

    #: Shared by every subclass; subclasses add their own with ``{**WeightedVote._parameter_constraints, ...}``.
    _parameter_constraints: dict[str, list[Any]] = {
        "weak_learners": [str, Mapping, HasMethods(["fit_candidates"])],
        "cv": ["cv_object"],
        "cv_rule": [StrOptions(set(CV_RULES))],
        "random_state": ["random_state"],
    }

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any) -> "WeightedVote":
        """Fit the candidate learners, choose their weights and keep the chosen ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Exactly two distinct labels (any type).

        Returns
        -------
        self

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A parameter is invalid (before any work is done).
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        self.classes_, y_pm = binary_classes(y, type(self).__name__)
        rng = check_random_state(self.random_state)
        choice = self._choose_weights(X, y_pm, resolve_weak_learner_set(self.weak_learners), rng)
        weights = np.asarray(choice.weights, dtype=np.float64)
        selected = np.flatnonzero(weights) if choice.selected is None else np.asarray(choice.selected, dtype=np.intp)
        self.n_candidates_ = len(choice.candidates)
        self.weights_ = weights
        self.selected_indices_ = selected
        self.estimators_ = [choice.candidates[i] for i in selected]
        self.estimator_weights_ = weights[selected]
        self.intercept_ = float(choice.intercept)
        self.n_selected_varying_ = sum(_varies(learner.predict(X)) for learner in self.estimators_)
        self._after_fit(X, y_pm)
        self.proba_slope_ = _decision.fit_sigmoid(self._decision(X), y_pm)
        return self

    def _choose_weights(self, X: np.ndarray, y_pm: np.ndarray, learner_set: Any, rng: np.random.RandomState) -> Choice:
        """Fit the dictionary on ``(X, y_pm)`` (labels in {-1, +1}) and choose its weights; set any extra fitted attributes."""
        raise NotImplementedError

    def _after_fit(self, X: np.ndarray, y_pm: np.ndarray) -> None:
        """A hook once the vote's attributes are set (QBoost warns of an empty model here)."""

    @staticmethod
    def _fit_candidates(learner_set: Any, X: np.ndarray, y_pm: np.ndarray, rng: np.random.RandomState) -> list:
        """The candidates of ``learner_set`` fitted on ``(X, y_pm)``; a set that yields none is a config error."""
        candidates = fit_candidates(learner_set, X, y_pm, rng)
        if not candidates:
            raise ConfigError(f"weak-learner set {learner_set!r} produced no candidate learners")
        return candidates

    def _splits(self, X: np.ndarray, y_pm: np.ndarray, rng: np.random.RandomState) -> list[tuple[np.ndarray, np.ndarray]]:
        """The search's ``(train, validation)`` splits of ``cv``; a shuffling splitter without a seed gets one from ``rng``."""
        splitter = check_cv(self.cv, y_pm, classifier=True)
        if hasattr(splitter, "random_state") and getattr(splitter, "shuffle", True) and splitter.random_state is None:
            splitter = copy.deepcopy(splitter)  # fit must not change the caller's splitter
            splitter.random_state = draw_seed(rng)
        return list(splitter.split(X, y_pm))

    # ------------------------------------------------------------- predict
    def _decision(self, X: np.ndarray) -> np.ndarray:
        # Learner by learner from the intercept, in the model's order, as the compiled model adds them: equal bit for bit.
        decision = np.full(X.shape[0], self.intercept_)
        for learner, w in zip(self.estimators_, self.estimator_weights_):
            decision += w * np.asarray(learner.predict(X), dtype=float)
        return decision

    def decision_function(self, X: Any) -> np.ndarray:
        """The decision :math:`\\sum_i w_i h_i(x) + b`; positive means ``classes_[1]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._decision(X)

    def predict(self, X: Any) -> np.ndarray:
        """Labels: ``classes_[1]`` where the decision is positive, else ``classes_[0]``.

        Equal to ``classes_[argmax(predict_proba(X), axis=1)]`` on every row.
        """
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities from a sigmoid of the decision.

        ``P(classes_[1] | x) = 1 / (1 + exp(-a * decision(x)))`` with ``a >= 0``
        fitted at the end of :meth:`fit` by Platt scaling on the training data
        (Platt's smoothed targets, so a separable training set does not give
        probabilities of exactly 0 or 1). There is no offset: the probability
        is above 1/2 exactly where :meth:`predict` says ``classes_[1]``, and it
        ranks samples as :meth:`decision_function` does.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Columns in the order of ``classes_``.
        """
        return self.proba_from_decision(self.decision_function(X))

    def proba_from_decision(self, decision: np.ndarray) -> np.ndarray:
        """:meth:`predict_proba` for decision values already computed (e.g. by a compiled predictor)."""
        check_is_fitted(self)
        p = _decision.probabilities(np.asarray(decision, dtype=np.float64), self.proba_slope_)
        return np.column_stack([1.0 - p, p])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


def _varies(outputs: Any) -> bool:
    """Whether a learner's outputs (one per training sample) take more than one value."""
    outputs = np.asarray(outputs)
    return bool(outputs.size) and bool(np.any(outputs != outputs.flat[0]))
