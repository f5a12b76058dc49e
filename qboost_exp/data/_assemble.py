"""``load_csv_splits``: labelled CSV files, grouped as train (and optionally validation and test), into a split Dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import DataError
from ._csv import RawTable, decode_labels, read_table
from ._dataset import Dataset
from ._split import split_fractions, stratified_split

GROUPS = ("train", "validation", "test")


@dataclass(frozen=True)
class CsvGroup:
    """The files of one split: read in the order given, stacked into one table.

    Parameters
    ----------
    files : sequence of Path
    description : str
        How messages name the group, e.g. ``"the training channel (/opt/ml/input/data/training)"``.
    """

    files: Sequence[Path]
    description: str


def load_csv_splits(
    train: CsvGroup,
    validation: CsvGroup | None = None,
    test: CsvGroup | None = None,
    *,
    split: Mapping[str, Any],
    seed: int,
    label: int | str = 0,
    header: bool | str = "auto",
    delimiter: str = ",",
    name: str = "csv",
) -> tuple[Dataset, dict[str, int]]:
    """Read labelled CSV files and return train, validation and test splits.

    A group that is given is that split; a split without a group is cut from
    ``train`` by a stratified split of ``split.validation_size`` /
    ``split.test_size`` (fractions of train's rows). Labels of all groups
    are decoded together, so ``1`` is the same class in every file.

    Parameters
    ----------
    train, validation, test : CsvGroup
    split : mapping
        ``test_size`` and ``validation_size``.
    seed : int
        Seeds the stratified split.
    label, header, delimiter
        The CSV format of every file (see :func:`qboost_exp.data.load_csv`).
    name : str
        The Dataset's name.

    Returns
    -------
    (Dataset, dict)
        The splits, and the number of rows read per group (``train``, ``validation``, ``test``).

    Raises
    ------
    DataError
        A group without files, an unusable file (its message names the file,
        line and column), files disagreeing on the number or names of the
        feature columns, fewer or more than two classes in ``train``, or
        validation/test labels that ``train`` does not have.
    """
    groups = {"train": train, "validation": validation, "test": test}
    given = {key: group for key, group in groups.items() if group is not None}
    tables: dict[str, list[tuple[Path, RawTable]]] = {}
    for key, group in given.items():
        if not group.files:
            raise DataError(f"{group.description} holds no files")
        tables[key] = [(Path(path), read_table(path, label=label, header=header, delimiter=delimiter)) for path in group.files]
    first_path, first = tables["train"][0]
    for key, entries in tables.items():
        for path, table in entries:
            if (path, table) is tables["train"][0]:
                continue
            if table.X.shape[1] != first.X.shape[1]:
                where = "" if key == "train" else f"{given[key].description}: "
                raise DataError(f"{path}: {where}has {table.X.shape[1]} feature columns but {first_path} has {first.X.shape[1]}")
            if table.has_header and first.has_header and table.feature_names != first.feature_names:
                raise DataError(f"{path}: its column names differ from those of {first_path}")

    stacked = {}
    for key, entries in tables.items():
        X = np.vstack([t.X for _, t in entries])
        labels = [value for _, t in entries for value in t.labels]
        where = [f"{path}: line {line}" for path, t in entries for line in t.label_lines]
        stacked[key] = (X, labels, where)
    decoded = decode_labels([value for _, labels, _ in stacked.values() for value in labels])
    y_by, start = {}, 0
    for key, (_, labels, _) in stacked.items():
        y_by[key] = decoded[start : start + len(labels)]
        start += len(labels)

    y = y_by["train"]
    classes = np.unique(y)
    if len(classes) != 2:
        what = (
            f"a single class, {classes[0].item()!r}" if len(classes) < 2
            else f"{len(classes)} classes ({', '.join(repr(c.item()) for c in classes[:5])}{', ...' if len(classes) > 5 else ''})"
        )
        raise DataError(
            f"{train.description} holds {what} in its label column (column {first.label_column + 1}); "
            "QBoost is a binary classifier: it needs exactly two classes (is dataset.label the right column?)"
        )
    for key in ("validation", "test"):
        if key in y_by:
            unseen = ~np.isin(y_by[key], classes)
            if unseen.any():
                i = int(np.argmax(unseen))
                raise DataError(f"{stacked[key][2][i]}: label {y_by[key][i].item()!r} does not occur in {train.description}")

    test_size, validation_size = split_fractions(split)
    rows_train, rows_val, rows_test = stratified_split(
        y, 0.0 if "test" in given else test_size, 0.0 if "validation" in given else validation_size, seed, train.description
    )
    X = stacked["train"][0]
    X_val, y_val = (stacked["validation"][0], y_by["validation"]) if "validation" in given else (X[rows_val], y[rows_val])
    X_test, y_test = (stacked["test"][0], y_by["test"]) if "test" in given else (X[rows_test], y[rows_test])
    names = next((list(t.feature_names) for entries in tables.values() for _, t in entries if t.has_header), list(first.feature_names))
    source = "; ".join(f"{given[key].description}: {len(stacked[key][1])} rows" for key in given)
    dataset = Dataset(name, X[rows_train], y[rows_train], X_val, y_val, X_test, y_test, names, source)
    return dataset, {key: len(stacked[key][1]) for key in given}
