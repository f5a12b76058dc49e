"""Writing splits as SageMaker-style CSV: label first, no header, exact numbers.

Files are written to a temporary name in the target directory and renamed
into place with :func:`os.replace`, so a reader (or a crash) never sees half
a file. :func:`write_files` stages several files before renaming any, so an
error leaves none of them behind.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from ..errors import DataError

PathLike = Union[str, "os.PathLike[str]"]


def _read_umask() -> int:
    # Python has no getter; set and restore it once, at import time.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; the CSV files should get
# the usual permissions, as if created with open().
_FILE_MODE = 0o666 & ~_read_umask()


def write_sagemaker_csv(path: PathLike, X: np.ndarray, y: np.ndarray) -> None:
    """Write ``y`` and ``X`` as CSV with the label in the first column and no header.

    Numbers are written with ``repr`` precision, so reading the file back
    gives exactly the same float64 values. The write is atomic: the file is
    written under a temporary name in the same directory, then renamed.

    Parameters
    ----------
    path : str or path-like
        The file to (over)write; its directory must exist.
    X : array-like of shape (n_samples, n_features)
        Finite numbers.
    y : array-like of shape (n_samples,)
        Labels (numbers or strings).

    Raises
    ------
    DataError
        If the shapes disagree or ``X`` holds NaN or infinity.
    """
    write_files([(path, X, y)])


def write_files(files: Sequence[tuple[PathLike, np.ndarray, np.ndarray]]) -> None:
    """Write several label-first CSV files, all or none.

    Parameters
    ----------
    files : sequence of (path, X, y)

    Raises
    ------
    DataError
        If an array is unusable; no file is written.
    OSError
        If a file cannot be written; no file of this call is left behind.
    """
    checked = [(Path(p), *_check(X, y, p)) for p, X, y in files]
    staged: list[tuple[str, Path]] = []
    done: list[Path] = []
    try:
        for path, X, y in checked:
            staged.append((_stage(path, X, y), path))
        for tmp, path in staged:
            os.replace(tmp, path)
            done.append(path)
    except BaseException:
        for tmp, _ in staged:
            _unlink(tmp)
        # A rename that failed half way: the earlier targets of this call
        # would be a mix of old and new splits, which is worse than none.
        for path in done:
            _unlink(path)
        raise


def _check(X: np.ndarray, y: np.ndarray, path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise DataError(f"{path}: X must be 2-D and y 1-D with as many rows; got X {X.shape} and y {y.shape}")
    if not np.isfinite(X).all():
        raise DataError(f"{path}: X holds NaN or infinity, which the CSV could not be read back with")
    return X, y


def _stage(path: Path, X: np.ndarray, y: np.ndarray) -> str:
    """Write to a temporary file next to ``path`` and return its name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # not on Windows before Python 3.13
            os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            # tolist() gives Python floats and ints, whose str() is the
            # shortest repr that round-trips exactly (numpy scalars would
            # print as "np.float64(...)").
            writer.writerows([label, *row] for label, row in zip(y.tolist(), X.tolist()))
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path: PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
