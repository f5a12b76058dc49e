"""Weak-learner sets: the candidates among which QBoost chooses.

A set is a small object whose constructor stores parameters and whose
:meth:`WeakLearnerSet.fit_candidates` returns fitted learners. Every learner
is trained on labels in ``{-1, +1}`` and must predict in ``{-1, +1}``.

Built-in sets: ``adaboost`` (the default), ``trees``, ``stumps``,
``estimators`` and ``mixed``. Third-party sets register a factory under the
entry-point group ``qboost_exp.weak_learners`` (see :mod:`qboost_exp.domain.plugins`).

A set declares the valid values of its parameters as scikit-learn estimators
do, in ``_parameter_constraints`` (a parameter passed straight to a
scikit-learn estimator declares that estimator's own constraints), and
:func:`invalid_parameter` checks them before any learner is fitted.

This module depends on nothing else in the package but its errors, seeds and
the scikit-learn validation helpers (and, for the deprecated
``BUILTIN_WEAK_LEARNER_SETS``, the registry). The registry
(:mod:`qboost_exp.domain.plugins`) names these classes without importing them, and
resolves ``mixed`` members given by name before they reach :class:`Mixed`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from numbers import Integral, Real
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

from .._seeds import draw_seed
from .._sklearn_private import Interval, InvalidParameterError, estimator_constraints, first_invalid_parameter
from ..errors import ConfigError


class WeakLearnerSet(ABC):
    """The contract of a weak-learner set (subclass it in a plugin).

    Constructors only store their parameters, as scikit-learn estimators do.
    ``_parameter_constraints`` maps parameter names to scikit-learn
    constraints (``Interval``, ``StrOptions``, ``"boolean"``, ...); a
    parameter that breaks them is reported by name before any fitting, as
    ``weak_learners.params.NAME=VALUE is invalid: ...``. Undeclared
    parameters are not checked.
    """

    _parameter_constraints: dict[str, list[Any]] = {}

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


def invalid_parameter(learner_set: Any) -> tuple[str, str] | None:
    """The first parameter of ``learner_set`` that breaks its declared constraints.

    Parameters
    ----------
    learner_set : WeakLearnerSet or any object with ``fit_candidates``
        Its ``_parameter_constraints`` (none: nothing to check) and the
        parameters its constructor stored (``vars(learner_set)``).

    Returns
    -------
    tuple of (str, str) or None
        ``(parameter name, scikit-learn's message)``, e.g. ``("max_depth",
        "The 'max_depth' parameter of Trees must be an int in the range [1, inf)
        or None. Got 0 instead.")``; ``None`` when every declared parameter is valid.
    """
    constraints = getattr(learner_set, "_parameter_constraints", None) or {}
    params = vars(learner_set) if hasattr(learner_set, "__dict__") else {}
    return first_invalid_parameter(constraints, params, caller_name=type(learner_set).__name__)


def check_parameters(learner_set: Any) -> None:
    """Raise a :class:`ConfigError` naming the key to fix if a declared parameter of ``learner_set`` is invalid.

    The key is the one a ``{"name": ..., "params": {...}}`` specification (and
    the config's ``weak_learners`` node) sets: ``weak_learners.params.NAME``.
    :class:`Mixed` checks its members the same way when it fits them.
    """
    found = invalid_parameter(learner_set)
    if found is not None:
        name, message = found
        raise ConfigError(f"weak_learners.params.{name}={vars(learner_set)[name]!r} is invalid: {message}")


def fit_candidates(learner_set: Any, X: np.ndarray, y: np.ndarray, random_state: np.random.RandomState) -> list[Any]:
    """``learner_set.fit_candidates(...)``, its parameters checked first, scikit-learn's errors made config errors.

    A declared parameter that is invalid fails before any learner is fitted
    (see :func:`check_parameters`). A parameter scikit-learn rejects while
    fitting (an undeclared one: a plugin's, or an ``estimators`` member's) is
    reported with the set it came from.
    """
    check_parameters(learner_set)
    try:
        return learner_set.fit_candidates(X, y, random_state)
    except InvalidParameterError as exc:
        raise ConfigError(f"weak-learner set {learner_set!r}: {exc}") from None


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

    _parameter_constraints = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_depth": estimator_constraints(DecisionTreeClassifier, "max_depth"),
        # a count of features, or a fraction of them (a float, so that 1 and 1.0 differ)
        "max_features": [Interval(Integral, 1, None, closed="left"), Interval(Real, 0, 1, closed="right")],
        "bootstrap": ["boolean"],
    }

    def __init__(self, n_estimators: int = 50, max_depth: int = 2, max_features: float | int = 0.5, bootstrap: bool = True) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.max_features = max_features
        self.bootstrap = bootstrap

    def _n_features(self, n_total: int) -> int:
        mf = self.max_features
        if isinstance(mf, Integral):
            return min(int(mf), n_total)
        return max(1, int(round(mf * n_total)))

    def fit_candidates(self, X, y, random_state):
        n_samples, n_total = X.shape
        k = self._n_features(n_total)
        learners = []
        for _ in range(self.n_estimators):
            features = np.sort(random_state.choice(n_total, size=k, replace=False))
            rows = random_state.randint(0, n_samples, n_samples) if self.bootstrap else slice(None)
            tree = DecisionTreeClassifier(max_depth=self.max_depth, random_state=draw_seed(random_state))
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

    _parameter_constraints = {
        "n_estimators": estimator_constraints(AdaBoostClassifier, "n_estimators"),
        "max_depth": estimator_constraints(DecisionTreeClassifier, "max_depth"),
        "learning_rate": estimator_constraints(AdaBoostClassifier, "learning_rate"),
    }

    def __init__(self, n_estimators: int = 60, max_depth: int = 2, learning_rate: float = 1.0) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate

    def fit_candidates(self, X, y, random_state):
        boost = AdaBoostClassifier(
            DecisionTreeClassifier(max_depth=self.max_depth),
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            random_state=draw_seed(random_state),
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

    _parameter_constraints = {"estimators": ["array-like"]}

    def __init__(self, estimators: Sequence[Any] = ()) -> None:
        self.estimators = estimators

    def fit_candidates(self, X, y, random_state):
        learners = []
        for est in self.estimators:
            if not hasattr(est, "fit") or not hasattr(est, "predict"):
                raise ConfigError(f"estimators: {est!r} is not a scikit-learn classifier (needs fit and predict)")
            learner = clone(est)
            if "random_state" in learner.get_params():
                learner.set_params(random_state=draw_seed(random_state))
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

    _parameter_constraints = {"members": ["array-like"]}

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


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_WEAK_LEARNER_SETS":  # moved to the registry in 0.2, which lists built-ins without importing them
        import warnings

        from .plugins import WEAK_LEARNER_GROUP, _builtin_factories

        warnings.warn(
            "qboost_exp.domain.weak_learners.BUILTIN_WEAK_LEARNER_SETS is deprecated and will be removed in the next release; "
            "use qboost_exp.domain.plugins.available_weak_learner_sets()",
            DeprecationWarning,
            stacklevel=2,
        )
        return _builtin_factories(WEAK_LEARNER_GROUP)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
