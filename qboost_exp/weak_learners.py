"""Weak-learner sets: the candidates among which QBoost chooses.

A set is a small object whose constructor stores parameters and whose
:meth:`WeakLearnerSet.fit_candidates` returns fitted learners. Every learner
is trained on labels in ``{-1, +1}`` and must predict in ``{-1, +1}``.

Built-in sets: ``adaboost`` (the default), ``trees``, ``stumps``,
``estimators`` and ``mixed``. Third-party sets register a factory under the
entry-point group ``qboost_exp.weak_learners`` (see :mod:`qboost_exp.plugins`).

This module depends on nothing else in the package but its errors: the
registry (:mod:`qboost_exp.plugins`) imports it, never the other way round,
so ``mixed`` members given by name are resolved by the registry before they
reach :class:`Mixed`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

from .errors import ConfigError

try:  # where scikit-learn raises its parameter-validation errors (a ValueError and TypeError subclass)
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:  # pragma: no cover - scikit-learn < 1.2
    InvalidParameterError = ValueError  # type: ignore[misc,assignment]


class WeakLearnerSet(ABC):
    """The contract of a weak-learner set (subclass it in a plugin).

    Constructors only store their parameters, as scikit-learn estimators do.
    """

    @abstractmethod
    def fit_candidates(self, X: np.ndarray, y: np.ndarray, random_state: np.random.RandomState) -> list[Any]:
        """Fit and return candidate learners.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,), values in {-1, +1}
        random_state : numpy RandomState
            The only source of randomness, so seeded runs repeat exactly.

        Returns
        -------
        list
            Fitted objects with ``predict(X) -> ndarray`` of values in {-1, +1}.
        """

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def fit_candidates(learner_set: Any, X: np.ndarray, y: np.ndarray, random_state: np.random.RandomState) -> list[Any]:
    """``learner_set.fit_candidates(...)``, with scikit-learn's parameter errors made config errors.

    A learner parameter that scikit-learn rejects (``max_depth=0``,
    ``n_estimators=-1``, ``max_depth='abc'``) surfaces when the learners are
    fitted; the message names the set and, where the set has a parameter of
    that name, the key to fix: ``weak_learners.params.NAME``.
    """
    try:
        return learner_set.fit_candidates(X, y, random_state)
    except InvalidParameterError as exc:
        import re

        found = re.search(r"The '(\w+)' parameter", str(exc))
        params = vars(learner_set) if hasattr(learner_set, "__dict__") else {}
        if found and found.group(1) in params:
            key = found.group(1)
            raise ConfigError(f"weak_learners.params.{key}={params[key]!r} is invalid: {exc}") from None
        raise ConfigError(f"weak-learner set {learner_set!r}: {exc}") from None


def _positive_int(set_name: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"weak_learners.params.{key}={value!r} is invalid: {set_name} needs an integer >= 1")
    return int(value)


class SubspaceLearner(ClassifierMixin, BaseEstimator):
    """A fitted classifier that looks only at some columns of ``X``.

    Parameters
    ----------
    estimator : fitted classifier
    features : sequence of int
        The columns of ``X`` the estimator was trained on.
    """

    def __init__(self, estimator: Any, features: Sequence[int]) -> None:
        self.estimator = estimator
        self.features = features

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.estimator.predict(X[:, self.features])


def _stump() -> DecisionTreeClassifier:
    return DecisionTreeClassifier(max_depth=1)


class Stumps(WeakLearnerSet):
    """One depth-1 decision tree per feature (the learners of D-Wave's current QBoost demo)."""

    def fit_candidates(self, X, y, random_state):
        return [
            SubspaceLearner(_stump().fit(X[:, [j]], y), [j]) for j in range(X.shape[1])
        ]


class Trees(WeakLearnerSet):
    """Shallow trees, each on a bootstrap sample and a random subset of the features.

    Parameters
    ----------
    n_estimators : int, default=50
    max_depth : int, default=2
    max_features : float or int, default=0.5
        Features per tree: a fraction of the features (float in (0, 1]) or a count (int).
    bootstrap : bool, default=True
        Draw each tree's samples with replacement; otherwise every tree sees all samples.
    """

    def __init__(self, n_estimators: int = 50, max_depth: int = 2, max_features: float | int = 0.5, bootstrap: bool = True) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.max_features = max_features
        self.bootstrap = bootstrap

    def _n_features(self, n_total: int) -> int:
        mf = self.max_features
        if isinstance(mf, bool) or not isinstance(mf, (int, float, np.integer, np.floating)):
            raise ConfigError(f"trees: max_features must be a fraction in (0, 1] or a count >= 1, got {mf!r}")
        if isinstance(mf, (float, np.floating)):
            if not 0.0 < mf <= 1.0:
                raise ConfigError(f"trees: max_features={mf} is not a fraction in (0, 1]")
            return max(1, int(round(mf * n_total)))
        if not 1 <= mf:
            raise ConfigError(f"trees: max_features={mf} must be >= 1")
        return min(int(mf), n_total)

    def fit_candidates(self, X, y, random_state):
        n_estimators = _positive_int("trees", "n_estimators", self.n_estimators)
        n_samples, n_total = X.shape
        k = self._n_features(n_total)
        learners = []
        for _ in range(n_estimators):
            features = np.sort(random_state.choice(n_total, size=k, replace=False))
            rows = random_state.randint(0, n_samples, n_samples) if self.bootstrap else slice(None)
            tree = DecisionTreeClassifier(max_depth=self.max_depth, random_state=random_state.randint(2**31 - 1))
            tree.fit(X[rows][:, features], y[rows])
            learners.append(SubspaceLearner(tree, features.tolist()))
        return learners


class AdaBoostLearners(WeakLearnerSet):
    """The learners of an AdaBoost run: the default dictionary (and the candidates of D-Wave's original demo).

    Boosting makes the candidates complementary: each is trained where the
    ones before it are wrong, so a sparse subset covers the data. Depth-2 trees
    capture pairwise interactions and suit any tabular data.

    Parameters
    ----------
    n_estimators : int, default=60
    max_depth : int, default=2
    learning_rate : float, default=1.0
    """

    def __init__(self, n_estimators: int = 60, max_depth: int = 2, learning_rate: float = 1.0) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate

    def fit_candidates(self, X, y, random_state):
        boost = AdaBoostClassifier(
            DecisionTreeClassifier(max_depth=self.max_depth),
            n_estimators=_positive_int("adaboost", "n_estimators", self.n_estimators),
            learning_rate=self.learning_rate,
            random_state=random_state.randint(2**31 - 1),
        ).fit(X, y)
        # AdaBoost fits its learners on the labels it is given, here +-1.
        return list(boost.estimators_)


class Estimators(WeakLearnerSet):
    """Any scikit-learn classifiers, each cloned and fitted on the whole training set.

    Parameters
    ----------
    estimators : list of classifiers
        Unfitted scikit-learn classifiers (in configs, ``_target_`` nodes).
    """

    def __init__(self, estimators: Sequence[Any] = ()) -> None:
        self.estimators = estimators

    def fit_candidates(self, X, y, random_state):
        learners = []
        for est in self.estimators:
            if not hasattr(est, "fit") or not hasattr(est, "predict"):
                raise ConfigError(f"estimators: {est!r} is not a scikit-learn classifier (needs fit and predict)")
            learner = clone(est)
            if "random_state" in learner.get_params():
                learner.set_params(random_state=random_state.randint(2**31 - 1))
            learners.append(learner.fit(X, y))
        return learners


class Mixed(WeakLearnerSet):
    """The union of several sets, in order.

    Parameters
    ----------
    members : list
        Each a :class:`WeakLearnerSet` or a scikit-learn classifier (fitted
        once on the whole training set). Built by name (``weak_learners=mixed``,
        or ``{"name": "mixed", "params": {"members": [...]}}``), members may
        also be registered set names or ``{name, params}`` mappings: the
        registry resolves them first.
    """

    def __init__(self, members: Sequence[Any] = ()) -> None:
        self.members = members

    def fit_candidates(self, X, y, random_state):
        learners: list[Any] = []
        for member in self.members:
            if hasattr(member, "fit") and hasattr(member, "predict"):
                member = Estimators([member])
            if not callable(getattr(member, "fit_candidates", None)):
                raise ConfigError(
                    f"mixed: member {member!r} is neither a WeakLearnerSet nor a classifier; give set names as "
                    "QBoostClassifier(weak_learners={'name': 'mixed', 'params': {'members': [...]}}) so the registry resolves them"
                )
            learners.extend(fit_candidates(member, X, y, random_state))
        return learners


BUILTIN_WEAK_LEARNER_SETS = {
    "stumps": Stumps,
    "trees": Trees,
    "adaboost": AdaBoostLearners,
    "estimators": Estimators,
    "mixed": Mixed,
}
