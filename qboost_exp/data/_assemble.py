"""``load_csv_splits``: labelled CSV files, grouped as train (and optionally validation and test), into a split Dataset.

This is the one loader of labelled CSV data: the ``dataset=csv`` config
(:func:`~qboost_exp.data.load_dataset`) and the SageMaker training channels
both call it, so they check the same things with the same messages. Each
step below has one job: read the groups, check their columns agree, decode
the labels of all groups together, check the classes, then split.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..errors import DataError
from ._csv import RawTable, decode_labels, read_table
from ._dataset import Dataset, source_digest
from ._options import DEFAULT_OPTIONS, CsvOptions
from ._split import split_fractions, stratified_split

GROUPS = ("train", "validation", "test")
_SHOWN_CLASSES = 5  # classes listed in one message


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


@dataclass
class _Part:
    """One given group, read: its files' tables and, once decoded, its labels.

    The stacked views are computed on first use, after the columns of all
    files were checked to agree.
    """

    group: CsvGroup
    tables: list[tuple[Path, RawTable]]
    y: Optional[np.ndarray] = None

    @cached_property
    def X(self) -> np.ndarray:
        return np.vstack([t.X for _, t in self.tables])

    @cached_property
    def labels(self) -> list[str]:
        return [value for _, t in self.tables for value in t.labels]

    @cached_property
    def where(self) -> list[str]:
        """``"FILE: line L"`` of each row, for messages about its label."""
        return [f"{path}: line {line}" for path, t in self.tables for line in t.label_lines]


def load_csv_splits(
    train: CsvGroup,
    validation: CsvGroup | None = None,
    test: CsvGroup | None = None,
    *,
    split: Mapping[str, Any],
    seed: int,
    options: CsvOptions = DEFAULT_OPTIONS,
    name: str = "csv",
    binary: bool = True,
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
    options : CsvOptions, default CsvOptions()
        The layout of every file (label column, header, delimiter). Feature
        cells follow the grammar of :mod:`qboost_exp.data.cells`.
    name : str
        The Dataset's name.
    binary : bool, default True
        Require exactly two classes in ``train`` (what QBoost trains on);
        False requires at least two.

    Returns
    -------
    (Dataset, dict)
        The splits, and the number of rows read per group (``train``, ``validation``, ``test``).

    Raises
    ------
    DataError
        An invalid ``split``, a group without files, an unusable file (its
        message names the file, line and column), files disagreeing on the
        number or names of the feature columns, a wrong number of classes in
        ``train``, or validation/test labels that ``train`` does not have.
    """
    test_size, validation_size = split_fractions(split)
    groups = {"train": train, "validation": validation, "test": test}
    parts = {key: _read_part(group, options) for key, group in groups.items() if group is not None}
    _check_columns(parts)
    _decode_together(parts)
    classes = _check_classes(parts["train"], binary)
    _check_known_labels(parts, classes, train)
    sizes = {"test": test_size, "validation": validation_size}
    return _split(parts, sizes, seed, name), {key: len(part.labels) for key, part in parts.items()}


def _read_part(group: CsvGroup, options: CsvOptions) -> _Part:
    """Read the files of one group."""
    if not group.files:
        raise DataError(f"{group.description} holds no files")
    return _Part(group=group, tables=[(Path(path), read_table(path, options)) for path in group.files])


def _check_columns(parts: dict[str, _Part]) -> None:
    """Every file has the feature columns of train's first file: as many, and the same names when both have a header."""
    first = parts["train"].tables[0]
    for key, part in parts.items():
        for path, table in part.tables:
            if table is first[1]:
                continue
            # Name the group unless it is train or its description already names the file.
            where = "" if key == "train" or str(path) in part.group.description else f"{part.group.description}: "
            _check_same_columns(f"{path}: {where}", table, first)


def _check_same_columns(where: str, table: RawTable, first: tuple[Path, RawTable]) -> None:
    first_path, reference = first
    if table.X.shape[1] != reference.X.shape[1]:
        raise DataError(f"{where}has {table.X.shape[1]} feature columns but {first_path} has {reference.X.shape[1]}")
    if table.has_header and reference.has_header and table.feature_names != reference.feature_names:
        i = next(i for i, (a, b) in enumerate(zip(table.feature_names, reference.feature_names)) if a != b)
        raise DataError(
            f"{where}its column names differ from those of {first_path}: feature {i + 1} is "
            f"{table.feature_names[i]!r} here but {reference.feature_names[i]!r} there; give every file the same header"
        )


def _decode_together(parts: dict[str, _Part]) -> None:
    """Set each part's ``y``, decoding all labels at once so that a class is the same value in every group."""
    decoded = decode_labels([value for part in parts.values() for value in part.labels])
    start = 0
    for part in parts.values():
        part.y = decoded[start : start + len(part.labels)]
        start += len(part.labels)


def _check_classes(train: _Part, binary: bool) -> np.ndarray:
    """Train's classes: exactly two (``binary``) or at least two."""
    classes = np.unique(train.y)
    if len(classes) == 2 or (len(classes) > 2 and not binary):
        return classes
    if len(classes) < 2:
        what = f"a single class, {classes[0].item()!r},"
    else:
        shown = ", ".join(repr(c.item()) for c in classes[:_SHOWN_CLASSES])
        what = f"{len(classes)} classes ({shown}{', ...' if len(classes) > _SHOWN_CLASSES else ''})"
    need = "QBoost is a binary classifier: it needs exactly two classes" if binary else "a classifier needs at least two classes"
    column = train.tables[0][1].label_column + 1
    raise DataError(f"{train.group.description} holds {what} in its label column (column {column}); {need} (is dataset.label the right column?)")


def _check_known_labels(parts: dict[str, _Part], classes: np.ndarray, train: CsvGroup) -> None:
    """Validation and test labels are classes of train (a model cannot predict others)."""
    for key in ("validation", "test"):
        if key not in parts:
            continue
        part = parts[key]
        unseen = ~np.isin(part.y, classes)
        if unseen.any():
            i = int(np.argmax(unseen))
            raise DataError(f"{part.where[i]}: label {part.y[i].item()!r} does not occur in {train.description}")


def _split(parts: dict[str, _Part], sizes: dict[str, float], seed: int, name: str) -> Dataset:
    """The Dataset: given groups as they are, the other splits cut from train (stratified, seeded)."""
    train = parts["train"]
    X, y = train.X, train.y
    rows_train, rows_val, rows_test = stratified_split(
        y,
        0.0 if "test" in parts else sizes["test"],
        0.0 if "validation" in parts else sizes["validation"],
        seed,
        train.group.description,
    )
    X_val, y_val = (parts["validation"].X, parts["validation"].y) if "validation" in parts else (X[rows_val], y[rows_val])
    X_test, y_test = (parts["test"].X, parts["test"].y) if "test" in parts else (X[rows_test], y[rows_test])
    tables = [table for part in parts.values() for _, table in part.tables]
    names = next((list(t.feature_names) for t in tables if t.has_header), list(tables[0].feature_names))
    source = "; ".join(f"{part.group.description}: {len(part.labels)} rows" for part in parts.values())
    # The files' rows as read (train, validation, test), before any cut: the same for every seed.
    digest = source_digest(np.vstack([p.X for p in parts.values()]), np.concatenate([p.y for p in parts.values()]), names)
    return Dataset(name, X[rows_train], y[rows_train], X_val, y_val, X_test, y_test, names, source, digest)
