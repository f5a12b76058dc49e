"""The built-in data sets: wisc, digits and synthetic (all offline, no download).

Each loader takes its validated options and returns
``(X, y, feature_names, source)`` for the whole data set; splitting is done
by the caller. The benchmark suite's data sets are in :mod:`._suite`, which
shares the helpers here (:func:`random_state`, :func:`make_two_class`).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from sklearn import datasets

from ..errors import DataError

Loaded = tuple[np.ndarray, np.ndarray, list[str], str]
Loader = Callable[[Mapping[str, Any], int], Loaded]
_MAX_RANDOM_STATE = 2**32 - 1  # numpy's RandomState takes seeds up to this

# Defaults of each data set's keys (besides `name`); conf/dataset/*.yaml holds
# the same values, which tests/test_data.py checks.
DEFAULTS: dict[str, dict[str, Any]] = {
    "wisc": {},
    "digits": {"classes": [3, 8]},
    "synthetic": {
        "n_samples": 1000,
        "n_features": 20,
        "n_informative": 5,
        "n_redundant": 2,
        "class_sep": 1.0,
        "flip_y": 0.01,
        "weights": None,
        "random_state": None,
    },
}


def load_wisc(options: Mapping[str, Any], seed: int) -> Loaded:
    """The Wisconsin breast-cancer data: 569 samples, 30 features, labels 0 (malignant) and 1 (benign)."""
    bunch = datasets.load_breast_cancer()
    return (
        np.asarray(bunch.data, dtype=np.float64),
        np.asarray(bunch.target, dtype=np.int64),
        [str(n) for n in bunch.feature_names],
        "sklearn.datasets.load_breast_cancer",
    )


def load_digits(options: Mapping[str, Any], seed: int) -> Loaded:
    """Two classes of the 8x8 digits data, e.g. 3 versus 8; labels are the digits themselves."""
    classes = options["classes"]
    ok = (
        isinstance(classes, Sequence)
        and not isinstance(classes, str)
        and len(classes) == 2
        and all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and 0 <= c <= 9 for c in classes)
        and classes[0] != classes[1]
    )
    if not ok:
        raise DataError(f"dataset digits: classes must be two different digits 0-9, e.g. [3, 8]; got {classes!r}")
    bunch = datasets.load_digits()
    keep = np.isin(bunch.target, classes)
    return (
        np.asarray(bunch.data[keep], dtype=np.float64),
        np.asarray(bunch.target[keep], dtype=np.int64),
        [str(n) for n in bunch.feature_names],
        f"sklearn.datasets.load_digits (classes {int(classes[0])}, {int(classes[1])})",
    )


def random_state(value: Any, seed: int, name: str) -> int:
    """A generator's seed: the key ``random_state`` when it is an integer, the run's ``seed`` when it is null."""
    if value is None:
        return seed
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= _MAX_RANDOM_STATE:
        raise DataError(
            f"dataset {name}: random_state must be null (use the run's seed) or an integer 0 to {_MAX_RANDOM_STATE}; got {value!r}"
        )
    return int(value)


def numbered(n: int) -> list[str]:
    """Feature names of generated data: x0, x1, ..."""
    return [f"x{i}" for i in range(n)]


def make_two_class(name: str, options: Mapping[str, Any], seed: int) -> Loaded:
    """:func:`sklearn.datasets.make_classification` with two classes (labels 0 and 1) and ``options`` as its arguments."""
    params = {**options, "random_state": random_state(options.get("random_state"), seed, name)}
    try:
        X, y = datasets.make_classification(n_classes=2, shuffle=True, **params)
    except (ValueError, TypeError) as exc:
        # sklearn's message names the bad parameter; say which config it was.
        raise DataError(f"dataset {name}: {exc}") from None
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64), numbered(X.shape[1]), f"sklearn.datasets.make_classification({args})"


def load_synthetic(options: Mapping[str, Any], seed: int) -> Loaded:
    """A two-class problem from :func:`sklearn.datasets.make_classification`.

    ``random_state: null`` uses the run seed, so the data changes with it.
    """
    return make_two_class("synthetic", options, seed)


LOADERS: dict[str, Loader] = {"wisc": load_wisc, "digits": load_digits, "synthetic": load_synthetic}
