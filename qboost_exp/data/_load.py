"""``load_dataset``: from the ``dataset`` and ``split`` configs to a split :class:`Dataset`."""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any, Mapping

from ..errors import DataError
from ._assemble import CsvGroup, load_csv_splits
from ._builtin import DEFAULTS as BUILTIN_DEFAULTS
from ._builtin import LOADERS as BUILTIN_LOADERS
from ._dataset import Dataset, source_digest
from ._options import DEFAULT_OPTIONS, CsvOptions
from ._split import split_fractions, stratified_split
from ._suite import DEFAULTS as SUITE_DEFAULTS
from ._suite import LOADERS as SUITE_LOADERS

# The csv data set's keys and defaults (conf/dataset/csv.yaml holds the same,
# which tests/test_data.py checks); the format keys come from CsvOptions.
# "???" is OmegaConf's mark for a mandatory value that was not given.
CSV_DEFAULTS: dict[str, Any] = {"path": "???", **DEFAULT_OPTIONS.as_dict(), "validation_path": None, "test_path": None}

#: Every data set's keys (besides ``name``) and their defaults, by name: one per conf/dataset/NAME.yaml.
DEFAULTS: dict[str, dict[str, Any]] = {**BUILTIN_DEFAULTS, **SUITE_DEFAULTS, "csv": CSV_DEFAULTS}
#: The loader of each data set but ``csv``: ``(options, seed) -> (X, y, feature_names, source)``.
LOADERS = {**BUILTIN_LOADERS, **SUITE_LOADERS}


def load_dataset(dataset: Mapping[str, Any], split: Mapping[str, Any], seed: int) -> Dataset:
    """Load the configured data set and split it into train, validation and test.

    Parameters
    ----------
    dataset : mapping
        The ``dataset`` config node as a plain dict. ``name`` picks the data
        set (one of :data:`DEFAULTS`: ``wisc``, ``digits``, ``synthetic``,
        the benchmark suite's ``iris``, ``wine``, ``noise_features``,
        ``label_noise``, ``redundant``, ``xor``, ``hastie``, or ``csv``); the other keys
        are those of conf/dataset/NAME.yaml, and missing ones take its
        defaults. For ``csv``, relative ``path``, ``validation_path`` and
        ``test_path`` are resolved against the optional key ``base_dir``
        (the directory the user launched from), else against the current
        directory. A split given as a file (``validation_path``,
        ``test_path``) is that file; the others are cut from ``path``
        (``validation_size`` and ``test_size`` are then fractions of
        ``path``'s rows, and the size of a split given as a file is not used).
    split : mapping
        The ``split`` config node: ``test_size`` and ``validation_size``,
        fractions of the whole data set in [0, 1) with a sum below 1.
    seed : int
        Seeds the stratified split (and a generated data set when its
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
        return _load_csv(options, base_dir, split, seed)

    X, y, feature_names, source = LOADERS[name](options, seed)
    digest = source_digest(X, y, feature_names)  # the whole data, before the seeded split
    train, val, test = stratified_split(y, test_size, validation_size, seed, f"dataset {name}")
    return Dataset(name, X[train], y[train], X[val], y[val], X[test], y[test], feature_names, source, digest)


def _resolve(path: Any, base_dir: Any, key: str) -> Path:
    if not isinstance(path, (str, os.PathLike)) or str(path) in ("", "???"):
        raise DataError(
            f"dataset csv: `{key}` is not set; give the CSV file (Hydra: dataset.{key}=FILE, data CLI: --set {key}=FILE)"
        )
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = Path(base_dir if base_dir is not None else os.getcwd()) / p
    return p


def _load_csv(options: dict[str, Any], base_dir: Any, split: Mapping[str, Any], seed: int) -> Dataset:
    """The csv data set through the one CSV loader: ``path`` is train; ``validation_path`` and ``test_path`` (if set) those splits."""
    fmt = CsvOptions.from_config(options)
    path = _resolve(options["path"], base_dir, "path")
    given = {}
    for split_name, key in (("validation", "validation_path"), ("test", "test_path")):
        if options[key] is not None:
            file = _resolve(options[key], base_dir, key)
            given[split_name] = CsvGroup([file], f"the {split_name} file {file}")
    # binary=False: the data CLI writes splits of any classification data; QBoost itself refuses more than two classes.
    dataset, _ = load_csv_splits(CsvGroup([path], f"the training file {path}"), **given, split=split, seed=seed, options=fmt, binary=False)
    return dataset
