"""``load_dataset``: from the ``dataset`` and ``split`` configs to a split :class:`Dataset`."""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import DataError
from ._builtin import DEFAULTS as BUILTIN_DEFAULTS
from ._builtin import LOADERS
from ._csv import check_two_classes, decode_labels, read_table
from ._dataset import Dataset
from ._split import split_fractions, stratified_split

# The csv data set's keys and defaults (conf/dataset/csv.yaml holds the same).
# "???" is OmegaConf's mark for a mandatory value that was not given.
CSV_DEFAULTS: dict[str, Any] = {"path": "???", "label": 0, "header": "auto", "delimiter": ",", "test_path": None}

DEFAULTS: dict[str, dict[str, Any]] = {**BUILTIN_DEFAULTS, "csv": CSV_DEFAULTS}


def load_dataset(dataset: Mapping[str, Any], split: Mapping[str, Any], seed: int) -> Dataset:
    """Load the configured data set and split it into train, validation and test.

    Parameters
    ----------
    dataset : mapping
        The ``dataset`` config node as a plain dict. ``name`` picks the data
        set (``wisc``, ``digits``, ``synthetic`` or ``csv``); the other keys
        are those of conf/dataset/NAME.yaml, and missing ones take its
        defaults. For ``csv``, relative ``path`` and ``test_path`` are
        resolved against the optional key ``base_dir`` (the directory the
        user launched from), else against the current directory. With
        ``test_path`` the test split is that file and only train and
        validation are split from ``path`` (``validation_size`` is then a
        fraction of ``path``'s rows and ``test_size`` is not used).
    split : mapping
        The ``split`` config node: ``test_size`` and ``validation_size``,
        fractions of the whole data set in [0, 1) with a sum below 1.
    seed : int
        Seeds the stratified split (and ``synthetic`` when its
        ``random_state`` is null): the same seed gives the same arrays.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        For an unknown data set or key, an invalid value, an unusable CSV
        file, or too few samples of a class to split.
    """
    options = dict(dataset)
    name = options.pop("name", None)
    base_dir = options.pop("base_dir", None)
    if name not in DEFAULTS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DEFAULTS)}")
    unknown = sorted(set(options) - set(DEFAULTS[name]))
    if unknown:
        keys = ", ".join(["name", *DEFAULTS[name]])
        raise DataError(f"dataset {name}: unknown key(s) {', '.join(unknown)}; its keys are: {keys}")
    options = {**DEFAULTS[name], **options}
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise DataError(f"seed must be an integer >= 0, got {seed!r}")
    seed = int(seed)
    test_size, validation_size = split_fractions(split)

    if name == "csv":
        return _load_csv(options, base_dir, test_size, validation_size, seed)

    X, y, feature_names, source = LOADERS[name](options, seed)
    train, val, test = stratified_split(y, test_size, validation_size, seed, f"dataset {name}")
    return Dataset(name, X[train], y[train], X[val], y[val], X[test], y[test], feature_names, source)


def _resolve(path: Any, base_dir: Any, key: str) -> Path:
    if not isinstance(path, (str, os.PathLike)) or str(path) in ("", "???"):
        raise DataError(
            f"dataset csv: `{key}` is not set; give the CSV file (Hydra: dataset.{key}=FILE, data CLI: --set {key}=FILE)"
        )
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = Path(base_dir if base_dir is not None else os.getcwd()) / p
    return p


def _load_csv(options: dict[str, Any], base_dir: Any, test_size: float, validation_size: float, seed: int) -> Dataset:
    fmt = {k: options[k] for k in ("label", "header", "delimiter")}
    path = _resolve(options["path"], base_dir, "path")
    table = read_table(path, **fmt)

    if options["test_path"] is None:
        y = decode_labels(table.labels)
        check_two_classes(y, path, table)
        train, val, test = stratified_split(y, test_size, validation_size, seed, str(path))
        X = table.X
        return Dataset("csv", X[train], y[train], X[val], y[val], X[test], y[test], table.feature_names, str(path))

    test_path = _resolve(options["test_path"], base_dir, "test_path")
    test_table = read_table(test_path, **fmt)
    n_features = table.X.shape[1]
    if test_table.X.shape[1] != n_features:
        raise DataError(f"{test_path}: has {test_table.X.shape[1]} feature columns but the training file {path} has {n_features}")
    if table.has_header and test_table.has_header and test_table.feature_names != table.feature_names:
        raise DataError(f"{test_path}: its column names differ from those of the training file {path}")
    # Decode both files' labels together so "1" is the same class in each.
    y_all = decode_labels(table.labels + test_table.labels)
    y, y_test = y_all[: len(table.labels)], y_all[len(table.labels) :]
    check_two_classes(y, path, table)
    unseen = ~np.isin(y_test, np.unique(y))
    if unseen.any():
        i = int(np.argmax(unseen))
        raise DataError(
            f"{test_path}: line {test_table.label_lines[i]}: label {y_test[i].item()!r} does not occur in the training file {path}"
        )
    train, val, _ = stratified_split(y, 0.0, validation_size, seed, str(path))
    X = table.X
    return Dataset(
        "csv", X[train], y[train], X[val], y[val], test_table.X, y_test, table.feature_names, f"{path}; test: {test_path}"
    )
