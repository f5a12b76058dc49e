"""Convex, best-subset and classical baselines for QBoost, as scikit-learn classifiers.

Three estimators select learners from the **same dictionary** as QBoost (the
candidates of a weak-learner set, fitted with
:func:`qboost_exp.domain.weak_learners.fit_candidates` on labels in {-1, +1}):
two with a convex L1 penalty instead of QBoost's count of learners,

* :class:`LassoClassifier`: QBoost's squared loss ``(1/2S) Σ_s (Σ_i w_i h_i(x_s)
  + b − y_s)² + α Σ_i |w_i|`` over a path of ``α``;
* :class:`L1LogisticClassifier`: the logistic loss with an L1 penalty
  (``C = 1/α``) over a path;

and one with the count itself as a hard limit,

* :class:`BestSubsetClassifier` (``model=abess``): QBoost's squared loss with
  at most ``k`` learners, the subset found by the ``abess`` package.

Each takes its sparsity (``α``, or ``k``) by the cross-validation rule QBoost
uses for λ (:func:`qboost_exp.domain._search.choose`: ``one_se`` by default,
``best``), or, with ``max_learners=k``, at ``k`` learners: the L1 baselines
take the path point with at most ``k`` non-zero weights, whose learners are
then re-weighted without a penalty (least squares, or an L2-regularised
logistic regression as QBoost's ``refit="logistic"``). The
decision is ``Σ_i w_i h_i(x) + b`` and ``predict_proba`` the same sigmoid of it
as QBoost's (Platt's slope, no offset), so a fitted model has QBoost's fitted
attributes (``selected_indices_``, ``estimators_``, ``estimator_weights_``,
``intercept_``, ``proba_slope_``, ``classes_``) and compiles with
:func:`qboost_exp.domain.compiled.compile_model`.

:func:`make_baseline` builds any baseline by its ``model`` name from the
baseline registry (:mod:`qboost_exp.domain.plugins`: the three classes and the
factories ``adaboost`` and ``gradient_boosting`` below, and
plugins' under the entry-point group ``qboost_exp.baselines``), and
:func:`n_learners` counts the learners of any fitted classifier.
:func:`check_max_learners` is the config's check of ``model.max_learners``
(which may also be ``"match"``, :data:`MATCH`).
"""

from __future__ import annotations

import time
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np

from . import _decision
from ._best_subset import best_subset
from ._search import GridPoint, choose, search_record
from .._sklearn_private import Hidden, Interval, StrOptions
from ..errors import ConfigError
from .vote import Choice, WeightedVote
from .weak_learners import fit_candidates

__all__ = [
    "BASELINES", "BestSubsetClassifier", "DICTIONARY_BASELINES", "DictionaryClassifier", "L1LogisticClassifier",
    "LassoClassifier", "MATCH", "MAX_LEARNERS_BASELINES", "adaboost", "check_estimator_parameters",
    "check_max_learners", "gradient_boosting", "make_baseline", "n_learners", "ranking_scores",
]

#: The built-in ``model`` options that select learners from QBoost's dictionary
#: (their factories take ``weak_learners``; :func:`qboost_exp.domain.plugins.uses_dictionary` asks any baseline).
DICTIONARY_BASELINES = ("lasso", "l1_logistic", "abess")
#: Every built-in baseline ``model`` option (``sklearn``: any classifier given as ``_target_``).
BASELINES = (*DICTIONARY_BASELINES, "adaboost", "gradient_boosting", "sklearn")
#: The built-in baselines with a ``max_learners`` (their number of learners fixed at k), and the
#: config value that asks for QBoost's own count (resolved into an int before the model is built).
MAX_LEARNERS_BASELINES = ("lasso", "l1_logistic", "abess", "adaboost")
MATCH = "match"
#: What ``max_learners`` may be: what the estimators take (None or k >= 1).
_MAX_LEARNERS = [Interval(Integral, 1, None, closed="left"), None]


def _outputs(learners: list[Any], X: np.ndarray) -> np.ndarray:
    """The learners' ±1 outputs on ``X`` as the columns of a float64 matrix."""
    if not learners:
        return np.zeros((X.shape[0], 0))
    return np.column_stack([np.asarray(learner.predict(X), dtype=np.float64) for learner in learners])


def _reweighted(H: np.ndarray, y_pm: np.ndarray, selected: np.ndarray, kind: str) -> tuple[np.ndarray, float]:
    """Unpenalised weights (``kind``: see _decision.refit) of the ``selected`` columns of ``H`` (zeros elsewhere), and an intercept."""
    weights = np.zeros(H.shape[1])
    if not len(selected):
        return weights, float(np.mean(y_pm))  # no learner: the training majority (0 on an even split: classes_[0])
    coef, intercept = _decision.refit(H[:, selected], y_pm, kind)
    weights[selected] = coef
    return weights, float(intercept)


class DictionaryClassifier(WeightedVote):
    """The base of the L1 baselines: the dictionary, the α path, QBoost's CV rule.

    Subclasses define the path (``_alphas``, ``_path``) and how a cut's
    learners are re-weighted (``_refit``); see :class:`LassoClassifier` for the
    parameters and attributes. The vote itself (fitted attributes, prediction
    methods) is :class:`~qboost_exp.domain.vote.WeightedVote`'s, as QBoost's is.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **WeightedVote._parameter_constraints,
        "max_learners": _MAX_LEARNERS,
        "n_alphas": [Interval(Integral, 2, None, closed="left")],
        "n_penalties": [Interval(Integral, 2, None, closed="left"), Hidden(StrOptions({"deprecated"}))],
        "eps": [Interval(Real, 0, 1, closed="neither")],
    }
    #: How the learners selected at a path point are re-weighted under ``max_learners`` (see _decision.refit).
    _refit = "least_squares"

    def __init__(
        self,
        weak_learners: Any = "adaboost",
        max_learners: int | None = None,
        n_alphas: int = 50,
        eps: float = 1e-3,
        cv: Any = 5,
        cv_rule: str = "one_se",
        random_state: Any = None,
        n_penalties: Any = "deprecated",
    ) -> None:
        self.weak_learners = weak_learners
        self.max_learners = max_learners
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.cv_rule = cv_rule
        self.random_state = random_state
        self.n_penalties = n_penalties

    @property
    def penalty_(self) -> float:
        """Deprecated: ``alpha_`` (the name said λ·W in QBoost and α here)."""
        warnings.warn(f"{type(self).__name__}.penalty_ is now alpha_; penalty_ goes away in the next release", DeprecationWarning, stacklevel=2)
        return self.alpha_

    # -------------------------------------------------------------- subclasses
    def _alphas(self, H: np.ndarray, y_pm: np.ndarray, n_alphas: int) -> np.ndarray:
        """The path's ``n_alphas`` values of α, from the largest (no learner) down, for the training outputs ``H``."""
        raise NotImplementedError

    def _path(self, H: np.ndarray, y_pm: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(coefs of shape (n_candidates, len(alphas)), intercepts of shape (len(alphas),))`` along the path."""
        raise NotImplementedError

    # --------------------------------------------------------------------- fit
    def _n_alphas(self) -> int:
        if self.n_penalties == "deprecated":
            return int(self.n_alphas)
        warnings.warn(
            f"{type(self).__name__}(n_penalties=...) is now n_alphas; n_penalties goes away in the next release",
            FutureWarning,
            stacklevel=4,
        )
        return int(self.n_penalties)

    def _choose_weights(self, X: np.ndarray, y_pm: np.ndarray, learner_set: Any, rng: np.random.RandomState) -> Choice:
        """Run the L1 path over the dictionary and take a point: by QBoost's CV rule, or the cut at ``max_learners``."""
        n_alphas = self._n_alphas()
        t0 = time.perf_counter()
        candidates = self._fit_candidates(learner_set, X, y_pm, rng)
        H = _outputs(candidates, X)
        self.timings_ = {"weak_learners": time.perf_counter() - t0, "alpha_search": 0.0}
        alphas = self._alphas(H, y_pm, n_alphas)
        coefs, intercepts = self._path(H, y_pm, alphas)
        self.search_ = None
        if self.max_learners is None:
            t0 = time.perf_counter()
            chosen, self.search_ = self._search(X, y_pm, learner_set, rng, alphas)
            self.timings_["alpha_search"] = time.perf_counter() - t0
            alpha, weights, intercept = alphas[chosen], coefs[:, chosen].copy(), float(intercepts[chosen])
        else:
            # The last (least penalised) point with the most non-zero weights that are at most max_learners.
            alpha, selected = self._cut(H, y_pm, alphas, coefs, self.max_learners)
            weights, intercept = self._reweight(H, y_pm, selected)
        self.alpha_ = float(alpha)
        self.path_ = {"alpha": alphas, "n_nonzero": np.count_nonzero(coefs, axis=0)}
        return Choice(candidates, weights, intercept)

    def _cut(self, H: np.ndarray, y_pm: np.ndarray, alphas: np.ndarray, coefs: np.ndarray, k: int) -> tuple[float, np.ndarray]:
        """The path point with the most non-zero weights that are at most ``k``: ``(alpha, selected indices)``.

        Between the grid point below ``k`` and the next one above it, the
        alpha is bisected (on a log scale, at most 30 times) until a point
        with exactly ``k`` non-zero weights is found, if the path has one there.
        """
        counts = np.count_nonzero(coefs, axis=0)
        within = np.flatnonzero(counts <= k)
        if not len(within):
            return float(alphas[0]), np.zeros(0, dtype=np.intp)
        best = int(within[counts[within] == counts[within].max()][-1])
        alpha, selected = float(alphas[best]), np.flatnonzero(coefs[:, best])
        above = np.flatnonzero((counts > k) & (np.arange(len(counts)) > best))
        if len(selected) == k or not len(above):
            return alpha, selected
        high, low = alpha, float(alphas[above[0]])  # high α: fewer than k; low: more than k
        for _ in range(30):
            middle = float(np.sqrt(high * low))
            coef = self._path(H, y_pm, np.array([middle]))[0][:, 0]
            count = np.count_nonzero(coef)
            if count > k:
                low = middle
                continue
            high = middle
            if count >= len(selected):
                alpha, selected = middle, np.flatnonzero(coef)
            if count == k:
                break
        return alpha, selected

    def _reweight(self, H: np.ndarray, y_pm: np.ndarray, selected: np.ndarray) -> tuple[np.ndarray, float]:
        """Unpenalised weights of the ``selected`` learners (zeros elsewhere) and an intercept."""
        return _reweighted(H, y_pm, selected, self._refit)

    def _search(self, X, y_pm, learner_set, rng, alphas) -> tuple[int, dict[str, Any]]:
        """The path point QBoost's CV rule takes: candidates refitted per split, as QBoost's search does."""
        splits = self._splits(X, y_pm, rng)
        scores = np.zeros((len(splits), len(alphas)))
        selected = np.zeros((len(splits), len(alphas)))
        for s, (train, val) in enumerate(splits):
            candidates = fit_candidates(learner_set, X[train], y_pm[train], rng)
            coefs, intercepts = self._path(_outputs(candidates, X[train]), y_pm[train], alphas)
            predicted = np.where(_outputs(candidates, X[val]) @ coefs + intercepts > 0, 1, -1)
            scores[s] = np.mean(predicted == y_pm[val][:, None], axis=0)
            selected[s] = np.count_nonzero(coefs, axis=0)
        # QBoost's rule: the sparsest point within one standard error of the best (ties: the larger alpha).
        grid = [GridPoint(float(a), 1.0) for a in alphas]
        chosen = int(choose(scores, selected, grid, self.cv_rule))
        return chosen, search_record({"alpha": alphas}, scores, selected, self.cv_rule, chosen)


class LassoClassifier(DictionaryClassifier):
    r"""L1-penalised least squares over QBoost's dictionary: QBoost's squared loss with ``α Σ|w|`` for its count.

    The candidates are fitted exactly as QBoost fits them (the ``weak_learners``
    set, labels in {-1, +1}); their ±1 outputs are the features and the ±1
    labels the targets of a Lasso with an intercept,

    .. math::

        \min_{w, b} \; \frac{1}{2S} \sum_s \Big( \sum_i w_i h_i(x_s) + b - y_s \Big)^2 + \alpha \sum_i |w_i|,

    solved along a path of ``n_alphas`` values of ``α`` from the smallest that
    selects no learner down to ``eps`` times it (scikit-learn's ``lasso_path``).

    Parameters
    ----------
    weak_learners : str, dict or WeakLearnerSet, default="adaboost"
        The dictionary, as for :class:`~qboost_exp.QBoostClassifier`.
    max_learners : int, default=None
        ``None``: ``α`` by cross-validation (``cv``, ``cv_rule``), the Lasso
        weights kept. A number ``k``: the path point with the most non-zero
        weights that are at most ``k``, its learners then re-weighted by least
        squares (no penalty, with an intercept).
    n_alphas : int, default=50
        Points on the path (``n_penalties``, its old name, still works this
        release, with a FutureWarning).
    eps : float, default=1e-3
        The smallest ``α`` as a fraction of the largest.
    cv : int or cross-validation splitter, default=5
        How the search splits the training data (candidates are refitted on
        each split's training part, as QBoost's search does).
    cv_rule : {"one_se", "best"}, default="one_se"
        QBoost's rule (:func:`qboost_exp.domain._search.choose`): the sparsest point
        within one standard error of the best mean accuracy, or the best.
    random_state : int, RandomState or None, default=None
        Seeds the candidates and the search splits.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    n_candidates_ : int
    weights_ : ndarray of shape (n_candidates_,)
        Every candidate's weight (0 for the unselected; may be negative).
    selected_indices_ : ndarray of int
    estimators_ : list
        The selected learners, in the order of ``selected_indices_``.
    estimator_weights_ : ndarray
    intercept_ : float
    proba_slope_ : float
        The slope of :meth:`predict_proba`'s sigmoid (Platt scaling, no offset).
    alpha_ : float
        The ``α`` of the chosen path point (``penalty_``, its old name, still
        works this release, with a DeprecationWarning).
    path_ : dict
        The path's ``alpha`` values and ``n_nonzero`` weights at each.
    search_ : dict or None
        The search's per-split scores and selected counts, the rule and the chosen point.
    timings_ : dict
        Seconds in ``weak_learners`` and ``alpha_search``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = LassoClassifier(max_learners=15, random_state=0).fit(X, y)
    >>> len(model.selected_indices_) <= 15
    True
    """

    def _alphas(self, H: np.ndarray, y_pm: np.ndarray, n_alphas: int) -> np.ndarray:
        Hc = H - H.mean(axis=0)
        top = float(np.max(np.abs(Hc.T @ (y_pm - y_pm.mean())))) / len(y_pm)
        top = top if top > 0 else 1.0
        return top * np.logspace(0.0, np.log10(self.eps), n_alphas)

    def _path(self, H: np.ndarray, y_pm: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.linear_model import lasso_path

        y = y_pm.astype(np.float64)
        h_mean, y_mean = H.mean(axis=0), y.mean()
        _, coefs, _ = lasso_path(np.asfortranarray(H - h_mean), y - y_mean, alphas=alphas)
        return coefs, y_mean - h_mean @ coefs


class L1LogisticClassifier(DictionaryClassifier):
    r"""L1-penalised logistic regression over QBoost's dictionary.

    As :class:`LassoClassifier` with the logistic loss:
    ``min_{w,b} Σ_s log(1 + exp(−y_s (Σ_i w_i h_i(x_s) + b))) + (1/C) Σ_i |w_i|``
    (scikit-learn's ``LogisticRegression(l1_ratio=1, solver="liblinear")``, the
    intercept scaled so that it is hardly penalised) along a path of
    ``n_alphas`` values of ``α = 1/C`` from the smallest ``C`` that selects
    a learner (``l1_min_c``) up to ``1/eps`` times it. With ``max_learners``
    the selected learners are re-weighted by an L2-regularised logistic
    regression (``C=1``, as QBoost's ``refit="logistic"``).

    Parameters, attributes
        As :class:`LassoClassifier`; ``alpha_`` is ``1/C``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = L1LogisticClassifier(max_learners=10, random_state=0).fit(X, y)
    >>> len(model.estimators_) <= 10
    True
    """

    _refit = "logistic"
    _INTERCEPT_SCALING = 100.0

    def _alphas(self, H: np.ndarray, y_pm: np.ndarray, n_alphas: int) -> np.ndarray:
        from sklearn.svm import l1_min_c

        Hc = H - H.mean(axis=0)
        if not np.any(Hc):  # every candidate constant: any C selects nothing
            return np.logspace(0.0, np.log10(self.eps), n_alphas)
        c_min = l1_min_c(Hc, y_pm, loss="log", fit_intercept=True, intercept_scaling=self._INTERCEPT_SCALING)
        return 1.0 / (c_min * np.logspace(0.0, -np.log10(self.eps), n_alphas))

    def _path(self, H: np.ndarray, y_pm: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        coefs = np.zeros((H.shape[1], len(alphas)))
        intercepts = np.zeros(len(alphas))
        if len(np.unique(y_pm)) < 2:  # a split with one class: the constant model
            intercepts[:] = float(np.sign(np.mean(y_pm)))
            return coefs, intercepts
        for j, alpha in enumerate(alphas):
            fit = LogisticRegression(
                l1_ratio=1.0, solver="liblinear", C=1.0 / alpha, intercept_scaling=self._INTERCEPT_SCALING, max_iter=1000,
                random_state=0,  # liblinear shuffles: a fixed seed keeps fits repeatable
            ).fit(H, y_pm)
            coefs[:, j], intercepts[j] = fit.coef_[0], fit.intercept_[0]
        return coefs, intercepts


class BestSubsetClassifier(WeightedVote):
    r"""Best-subset least squares over QBoost's dictionary (``model=abess``): QBoost's squared loss at a fixed count.

    The candidates are fitted exactly as QBoost and :class:`LassoClassifier`
    fit them (the ``weak_learners`` set, labels in {-1, +1}); their ±1 outputs
    are the features and the ±1 labels the targets. For a support size ``k``
    the ``k`` learners are those of

    .. math::

        \min_{w, b} \; \frac{1}{S} \sum_s \Big( \sum_i w_i h_i(x_s) + b - y_s \Big)^2
        \quad \text{subject to} \quad \#\{i : w_i \neq 0\} \le k,

    QBoost's own objective with its count of learners as a hard constraint
    instead of a penalty, found by the ``abess`` package's splicing algorithm
    (``abess.LinearRegression(support_size=[k])``: fast and usually the best
    subset, not an exhaustive search). The selected learners are then
    weighted by least squares with an intercept (the same weights abess
    reports for its support, to rounding). Constant candidates (one output on
    every training sample) are never selected: with an intercept they explain
    nothing, and abess refuses them.

    Parameters
    ----------
    weak_learners : str, dict or WeakLearnerSet, default="adaboost"
        The dictionary, as for :class:`~qboost_exp.QBoostClassifier`.
    max_learners : int, default=None
        ``None``: the support size by cross-validation (``cv``, ``cv_rule``)
        over the sizes 0 to ``max_size``. A number ``k``: the support size is
        ``k`` (all the non-constant candidates, with a warning, if there are
        fewer than ``k``).
    max_size : int, default=None
        The largest support size the search tries; ``None``: the number of
        candidates (one abess fit per size and split: the search's cost grows
        with it).
    cv : int or cross-validation splitter, default=5
        How the search splits the training data (candidates are refitted on
        each split's training part, as QBoost's search does).
    cv_rule : {"one_se", "best"}, default="one_se"
        QBoost's rule (:func:`qboost_exp.domain._search.choose`): the smallest
        size within one standard error of the best mean accuracy, or the best.
    random_state : int, RandomState or None, default=None
        Seeds the candidates and the search splits (abess itself draws nothing).

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, n_candidates_, weights_, estimators_, estimator_weights_, intercept_, proba_slope_
        As :class:`LassoClassifier`'s.
    selected_indices_ : ndarray of int
        abess's support: ``support_size_`` candidates.
    support_size_ : int
        The number of learners selected: the size chosen by the search or
        ``max_learners``, less if fewer candidates vary.
    n_constant_ : int
        Candidates of the final dictionary that are constant on the training
        data (never selected).
    search_ : dict or None
        The search's ``support_size`` grid, per-split scores and selected
        counts, the rule and the chosen point; None with ``max_learners``.
    timings_ : dict
        Seconds in ``weak_learners``, ``size_search`` and ``selection``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = BestSubsetClassifier(max_learners=15, random_state=0).fit(X, y)
    >>> len(model.selected_indices_)
    15
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **WeightedVote._parameter_constraints,
        "max_learners": _MAX_LEARNERS,
        "max_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        weak_learners: Any = "adaboost",
        max_learners: int | None = None,
        max_size: int | None = None,
        cv: Any = 5,
        cv_rule: str = "one_se",
        random_state: Any = None,
    ) -> None:
        self.weak_learners = weak_learners
        self.max_learners = max_learners
        self.max_size = max_size
        self.cv = cv
        self.cv_rule = cv_rule
        self.random_state = random_state

    def _choose_weights(self, X: np.ndarray, y_pm: np.ndarray, learner_set: Any, rng: np.random.RandomState) -> Choice:
        """The best subset of the dictionary at the size ``max_learners`` gives or the search chooses, weighted by least squares."""
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency

        # Hundreds of small least-squares fits: BLAS threads only contend (on 2 busy cores, 60x slower each).
        with threadpool_limits(limits=1, user_api="blas"):
            return self._choose_in_one_thread(X, y_pm, learner_set, rng)

    def _choose_in_one_thread(self, X: np.ndarray, y_pm: np.ndarray, learner_set: Any, rng: np.random.RandomState) -> Choice:
        t0 = time.perf_counter()
        candidates = self._fit_candidates(learner_set, X, y_pm, rng)
        H = _outputs(candidates, X)
        self.timings_ = {"weak_learners": time.perf_counter() - t0, "size_search": 0.0, "selection": 0.0}
        size, self.search_ = self.max_learners, None
        if size is None:
            t0 = time.perf_counter()
            size, self.search_ = self._search(X, y_pm, learner_set, rng, min(self.max_size or H.shape[1], H.shape[1]))
            self.timings_["size_search"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        subset = best_subset(H, y_pm, size)
        self.timings_["selection"] = time.perf_counter() - t0
        self.n_constant_ = H.shape[1] - subset.n_varying
        self.support_size_ = len(subset.indices)
        if self.max_learners is not None and self.support_size_ < self.max_learners:
            warnings.warn(
                f"{type(self).__name__}: only {subset.n_varying} of the {H.shape[1]} candidates vary on the training data; "
                f"all {subset.n_varying} are selected (max_learners={self.max_learners})",
                UserWarning,
                stacklevel=3,
            )
        weights, intercept = _reweighted(H, y_pm, subset.indices, "least_squares")
        return Choice(candidates, weights, intercept, selected=subset.indices)

    def _search(self, X, y_pm, learner_set, rng, largest: int) -> tuple[int, dict[str, Any]]:
        """The support size QBoost's CV rule takes among 0..``largest``: candidates refitted per split, as QBoost's search does."""
        sizes = np.arange(largest + 1)
        splits = self._splits(X, y_pm, rng)
        scores = np.zeros((len(splits), len(sizes)))
        selected = np.zeros((len(splits), len(sizes)))
        for s, (train, val) in enumerate(splits):
            candidates = fit_candidates(learner_set, X[train], y_pm[train], rng)
            H_train, H_val = _outputs(candidates, X[train]), _outputs(candidates, X[val])
            for j, size in enumerate(sizes):
                subset = best_subset(H_train, y_pm[train], int(size))
                weights, intercept = _reweighted(H_train, y_pm[train], subset.indices, "least_squares")
                scores[s, j] = np.mean(np.where(H_val @ weights + intercept > 0, 1, -1) == y_pm[val])
                selected[s, j] = len(subset.indices)
        # QBoost's rule: the sparsest size within one standard error of the best; ties to the smaller size
        # (choose() breaks ties towards the larger penalty, so a size is given as the penalty -size).
        chosen = int(choose(scores, selected, [GridPoint(-float(k), 1.0) for k in sizes], self.cv_rule))
        return int(sizes[chosen]), search_record({"support_size": sizes}, scores, selected, self.cv_rule, chosen)


def adaboost(
    max_depth: int = 2, n_estimators: int = 60, learning_rate: float = 1.0, max_learners: int | None = None, **params: Any
) -> Any:
    """``model=adaboost``: ``AdaBoostClassifier(DecisionTreeClassifier(max_depth), n_estimators=60)``.

    The boosting run whose trees are QBoost's default dictionary, with all of
    them (as ``benchmarks/bench_accuracy.py``'s ``adaboost``). ``max_learners=k``
    stops it after ``min(k, n_estimators)`` stages: the classifier is built
    with that ``n_estimators``, and with the same ``random_state`` its stages
    are the first ``k`` of the full run (each stage draws its tree's seed in
    turn; tested). AdaBoost itself stops early at a perfect stage (or a stage
    no better than chance), so a run may have fewer stages than asked for:
    the ``selected`` metric counts those it has, a stage whose tree is
    constant on the training data included (under ``match`` k is QBoost's
    count of varying learners, taken as a number of stages).

    Raises
    ------
    ConfigError
        A bad ``max_depth`` or ``max_learners`` (the others are checked by
        :func:`check_estimator_parameters` as the classifier's own).
    """
    from sklearn.ensemble import AdaBoostClassifier
    from sklearn.tree import DecisionTreeClassifier

    from .._sklearn_private import first_invalid_parameter

    bad = first_invalid_parameter(DecisionTreeClassifier._parameter_constraints, {"max_depth": max_depth}, "DecisionTreeClassifier")
    if bad is not None:
        raise ConfigError(f"model.max_depth: {bad[1]} Set it on the command line as model.max_depth=VALUE.")
    check_max_learners("adaboost", max_learners, allow_match=False)
    if max_learners is not None and isinstance(n_estimators, Integral) and not isinstance(n_estimators, bool):
        n_estimators = min(max_learners, n_estimators)
    tree = DecisionTreeClassifier(max_depth=max_depth)
    return AdaBoostClassifier(estimator=tree, n_estimators=n_estimators, learning_rate=learning_rate, **params)


def check_max_learners(name: str, value: Any, *, allow_match: bool = True) -> None:
    """Refuse a ``model.max_learners`` that the baseline ``name`` would refuse (None or an int >= 1), bar ``"match"``.

    ``"match"`` (:data:`MATCH`, only while ``allow_match``) is what a config
    may say: k = the number of learners the QBoost run of the same dataset
    and seed selected in the same sweep that vary on the training data (its
    ``selected_varying``, see :mod:`qboost_exp._match`); it is resolved into an int before the
    model is built, so the estimators themselves never see it.

    Raises
    ------
    ConfigError
        With scikit-learn's message, naming ``model.max_learners``.
    """
    from .._sklearn_private import first_invalid_parameter

    allowed = [_MAX_LEARNERS[0], StrOptions({MATCH}), None] if allow_match else _MAX_LEARNERS
    callers = {"lasso": "LassoClassifier", "l1_logistic": "L1LogisticClassifier", "abess": "BestSubsetClassifier"}
    bad = first_invalid_parameter({"max_learners": allowed}, {"max_learners": value}, callers.get(name, name))
    if bad is not None:
        raise ConfigError(f"model.max_learners: {bad[1]} Set it on the command line as model.max_learners=VALUE.")


def gradient_boosting(**params: Any) -> Any:
    """``model=gradient_boosting``: scikit-learn's ``GradientBoostingClassifier`` (100 depth-3 trees by default)."""
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(**params)


def make_baseline(name: str, *, random_state: Any = None, weak_learners: Any = "adaboost", **params: Any) -> Any:
    """An unfitted baseline classifier by its ``model`` config name, from the baseline registry.

    Parameters
    ----------
    name : str
        A built-in (``lasso``, ``l1_logistic``, ``abess``, ``adaboost``,
        ``gradient_boosting``) or one registered under the entry-point group
        ``qboost_exp.baselines`` (:func:`qboost_exp.domain.plugins.available_baselines`).
    random_state : int or None
        Set where the classifier takes one.
    weak_learners : str, dict or WeakLearnerSet
        The dictionary, passed to baselines whose factory takes
        ``weak_learners`` (:func:`~qboost_exp.domain.plugins.uses_dictionary`:
        ``lasso``, ``l1_logistic``, ``abess``, a plugin's); ignored by the others.
    **params
        The factory's parameters (``max_depth`` is the AdaBoost trees' depth).

    Raises
    ------
    ConfigError
        An unknown name, a parameter the estimator does not take, or a value it refuses.
    """
    from .plugins import make_registered_baseline

    estimator = make_registered_baseline(name, weak_learners=weak_learners, **params)
    if "random_state" in estimator.get_params(deep=False):
        estimator.set_params(random_state=random_state)
    return check_estimator_parameters(estimator, prefix="model")


def check_estimator_parameters(estimator: Any, prefix: str = "model") -> Any:
    """``estimator``, once its parameters pass its own ``_parameter_constraints`` (scikit-learn's validation).

    So a value scikit-learn would refuse when ``fit`` starts stops the run
    before any work, naming the config key (``PREFIX.NAME``).

    Raises
    ------
    ConfigError
        The first invalid parameter, with scikit-learn's message.
    """
    from .._sklearn_private import first_invalid_parameter

    constraints = getattr(type(estimator), "_parameter_constraints", None) or {}
    bad = first_invalid_parameter(constraints, estimator.get_params(deep=False), caller_name=type(estimator).__name__)
    if bad is not None:
        raise ConfigError(f"{prefix}.{bad[0]}: {bad[1]} Set it on the command line as {prefix}.{bad[0]}=VALUE.")
    return estimator


def n_learners(model: Any) -> int | None:
    """How many learners a fitted classifier votes with, or None if it has no such notion.

    QBoost and the dictionary baselines: their selected learners (non-zero
    weights); gradient boosting: its trees (``n_estimators_``, after early
    stopping); any other model with ``estimators_`` (AdaBoost: its stages, a
    random forest: its trees): their number.
    """
    if hasattr(model, "selected_indices_"):
        return int(len(model.selected_indices_))
    if hasattr(model, "n_estimators_"):
        return int(model.n_estimators_)
    estimators = getattr(model, "estimators_", None)
    if estimators is None:
        return None
    return int(np.size(estimators)) if isinstance(estimators, np.ndarray) else len(estimators)


def ranking_scores(model: Any, X: Any) -> np.ndarray | None:
    """One score per sample that ranks ``classes_[1]`` highest (for ROC AUC and ROC curves), or None.

    The margin (``decision_function``) when the model has one, else
    ``P(classes_[1])`` (``predict_proba``); None for a model with neither, or
    whose scores are not one value per sample (more than two classes).
    """
    if hasattr(model, "decision_function"):
        values = model.decision_function(X)
    elif hasattr(model, "predict_proba"):
        values = np.asarray(model.predict_proba(X))
        values = values[:, 1] if values.ndim == 2 and values.shape[1] == 2 else values
    else:
        return None
    values = np.asarray(values, dtype=np.float64)
    return values if values.ndim == 1 else None
