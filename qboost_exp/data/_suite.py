"""The benchmark suite's data sets: iris, wine, noise_features, label_noise, redundant, xor, hastie.

Each one is there to test one thing about choosing a sparse set of weak
learners (conf/dataset/NAME.yaml says which, in its first line). All are
offline; the generated ones give the same data for every run ``seed`` by
default (``random_state`` is an integer; null makes the data follow the
seed, as ``synthetic`` does). Loaders return ``(X, y, feature_names,
source)`` for the whole data set, as those of :mod:`._builtin` do.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping

import numpy as np
from sklearn import datasets

from ..errors import DataError
from ._builtin import Loaded, Loader, make_two_class, numbered, random_state

# Defaults of each data set's keys (besides `name`); conf/dataset/*.yaml holds
# the same values, which tests/data/test_data.py checks.
DEFAULTS: dict[str, dict[str, Any]] = {
    "iris": {},
    "wine": {"one_class": 1},
    "noise_features": {"n_samples": 600, "n_features": 50, "n_informative": 5, "class_sep": 1.0, "flip_y": 0.01, "random_state": 0},
    "label_noise": {"n_samples": 1000, "n_features": 20, "n_informative": 5, "n_redundant": 2, "flip_y": 0.2, "random_state": 0},
    "redundant": {
        "n_samples": 1000,
        "n_features": 30,
        "n_informative": 4,
        "n_redundant": 12,
        "n_repeated": 8,
        "flip_y": 0.01,
        "random_state": 0,
    },
    "xor": {"n_samples": 1500, "n_noise": 8, "offset": 0.2, "flip_y": 0.05, "random_state": 0},
    "hastie": {"n_samples": 2000, "random_state": 0},
}

_WINE_CLASSES = (0, 1, 2)


def load_iris(options: Mapping[str, Any], seed: int) -> Loaded:
    """Iris' two overlapping species: 100 samples, 4 features, labels 1 (versicolor) and 2 (virginica)."""
    bunch = datasets.load_iris()
    keep = bunch.target > 0  # setosa (0) is separable from both by one petal measurement
    return (
        np.asarray(bunch.data[keep], dtype=np.float64),
        np.asarray(bunch.target[keep], dtype=np.int64),
        [str(n) for n in bunch.feature_names],
        "sklearn.datasets.load_iris (1 = versicolor, 2 = virginica)",
    )


def load_wine(options: Mapping[str, Any], seed: int) -> Loaded:
    """Wine, one cultivar against the other two: 178 samples, 13 features, labels 1 (the class ``one_class``) and 0 (the rest)."""
    one = options["one_class"]
    if isinstance(one, bool) or not isinstance(one, numbers.Integral) or one not in _WINE_CLASSES:
        raise DataError(f"dataset wine: one_class must be 0, 1 or 2 (the cultivar labelled 1; the other two are 0); got {one!r}")
    bunch = datasets.load_wine()
    return (
        np.asarray(bunch.data, dtype=np.float64),
        (bunch.target == one).astype(np.int64),
        [str(n) for n in bunch.feature_names],
        f"sklearn.datasets.load_wine (1 = class_{int(one)}, 0 = the other two)",
    )


def _classification(name: str, **fixed: Any) -> Loader:
    """A loader of :func:`make_two_class` with the config's keys and ``fixed`` arguments the config does not set."""

    def load(options: Mapping[str, Any], seed: int) -> Loaded:
        return make_two_class(name, {**fixed, **options}, seed)

    load.__name__ = load.__qualname__ = f"load_{name}"
    load.__doc__ = f"The ``{name}`` data set: make_classification with its config's keys (and {fixed or 'nothing else'})."
    return load


def _count(name: str, key: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise DataError(f"dataset {name}: {key} must be an integer >= {least}; got {value!r}")
    return int(value)


def _fraction(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise DataError(f"dataset {name}: {key} must be a number in [0, 1); got {value!r}")
    return float(value)


def load_xor(options: Mapping[str, Any], seed: int) -> Loaded:
    """Label = (x0 > 0) XOR (x1 > 0), x1 centred at ``offset``, plus ``n_noise`` noise features and ``flip_y`` label noise.

    Features are standard normal. No single threshold on one feature does
    better than about ``max(P(x1 > 0), P(x1 <= 0))``; a depth-2 tree
    (x0, then x1) is right but for the flipped labels. The ``offset``
    gives a greedy tree's root split on x0 a little gain, without which
    its choice of root is a coin toss.
    """
    n = _count("xor", "n_samples", options["n_samples"], 1)
    n_noise = _count("xor", "n_noise", options["n_noise"], 0)
    offset = options["offset"]
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or not math.isfinite(offset):
        raise DataError(f"dataset xor: offset must be a finite number; got {offset!r}")
    flip_y = _fraction("xor", "flip_y", options["flip_y"])
    state = random_state(options["random_state"], seed, "xor")
    rng = np.random.RandomState(state)
    X = rng.standard_normal((n, 2 + n_noise))
    X[:, 1] += offset
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)
    flipped = rng.random_sample(n) < flip_y
    y[flipped] = 1 - y[flipped]
    args = f"n_samples={n}, n_noise={n_noise}, offset={offset!r}, flip_y={flip_y!r}, random_state={state}"
    return X, y, numbered(X.shape[1]), f"xor: (x0 > 0) XOR (x1 > 0) ({args})"


def load_hastie(options: Mapping[str, Any], seed: int) -> Loaded:
    """:func:`sklearn.datasets.make_hastie_10_2`: 10 standard normal features, label 1 if their squares sum above 9.34, else -1."""
    n = _count("hastie", "n_samples", options["n_samples"], 1)
    state = random_state(options["random_state"], seed, "hastie")
    X, y = datasets.make_hastie_10_2(n_samples=n, random_state=state)
    return (
        np.asarray(X, dtype=np.float64),
        np.asarray(y, dtype=np.int64),
        numbered(X.shape[1]),
        f"sklearn.datasets.make_hastie_10_2(n_samples={n}, random_state={state})",
    )


LOADERS: dict[str, Loader] = {
    "iris": load_iris,
    "wine": load_wine,
    "noise_features": _classification("noise_features", n_redundant=0, n_repeated=0),
    "label_noise": _classification("label_noise"),
    "redundant": _classification("redundant"),
    "xor": load_xor,
    "hastie": load_hastie,
}
