"""The :class:`Dataset` record: one data set, already split."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Characters of a digest (of SHA-256's hex digest): :attr:`Dataset.digest` and :attr:`Dataset.source_digest`.
DIGEST_CHARS = 16


def source_digest(X: np.ndarray, y: np.ndarray, feature_names: Sequence[str]) -> str:
    """16 hex characters of SHA-256 over a whole data set as loaded, before any split.

    Hashes the feature names, the features (dtype, shape and bytes) and the
    labels (numbers: dtype, shape and bytes; strings: their text, so the
    width numpy gave them does not matter). The same data in the same row
    order give the same digest whatever the run's seed splits them into.
    """
    h = hashlib.sha256()
    h.update(json.dumps([str(n) for n in feature_names]).encode())
    X = np.ascontiguousarray(X)
    h.update(f";X:{X.dtype.str}:{X.shape};".encode())
    h.update(X.tobytes())
    y = np.asarray(y)
    if y.dtype.kind in "OUS":
        h.update(f";y:str:{y.shape};".encode())
        h.update("\x1f".join(map(str, y.tolist())).encode())
    else:
        y = np.ascontiguousarray(y)
        h.update(f";y:{y.dtype.str}:{y.shape};".encode())
        h.update(y.tobytes())
    return h.hexdigest()[:DIGEST_CHARS]


# eq=False: the generated __eq__/__hash__ would compare numpy arrays, which
# raises; datasets compare by identity and by `digest` (or
# `source_digest`, the data before splitting).
@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled data set split into training, validation and test parts.

    Attributes
    ----------
    name : str
        The data set's config name (conf/dataset/NAME.yaml: ``wisc``, ``iris``, ..., ``csv``).
    X_train, X_val, X_test : ndarray of shape (n, n_features), float64
        ``X_val`` has 0 rows when ``split.validation_size`` is 0.
    y_train, y_val, y_test : ndarray of shape (n,)
        The original labels (int, float or str).
    feature_names : list of str
    source : str
        Where the data came from: file path(s) or the scikit-learn function.
    source_digest : str, optional
        :func:`source_digest` of the whole data before splitting (the loaders
        give it: for CSV files, all given files' rows stacked as train,
        validation, test), so runs that differ only in their seed, hence
        their split, share it; :attr:`digest` tells the splits apart. When not
        given it is computed from the splits stacked in order (train,
        validation, test).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    source: str
    source_digest: str = ""

    def __post_init__(self) -> None:
        if not self.source_digest:
            X = np.concatenate([self.X_train, self.X_val, self.X_test])
            y = np.concatenate([self.y_train, self.y_val, self.y_test])
            object.__setattr__(self, "source_digest", source_digest(X, y, self.feature_names))

    @property
    def digest(self) -> str:
        """A short hex digest (16 characters of SHA-256) of the six arrays.

        Dtype and shape are hashed with the bytes, so equal digests mean equal
        splits; use it to tell data sets apart in experiment logs.
        """
        h = hashlib.sha256()
        for key in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
            arr = np.ascontiguousarray(getattr(self, key))
            h.update(f"{key}:{arr.dtype.str}:{arr.shape};".encode())
            h.update(arr.tobytes())
        return h.hexdigest()[:DIGEST_CHARS]
