"""Reading a labelled CSV file into ``(X, y, feature_names)``.

Every problem with the file stops with one :class:`~qboost_exp.errors.DataError`
that names the file and, where it applies, the 1-based line and column, so a
user can open the file at the right place. The stdlib :mod:`csv` module is
used because it reports exact line numbers and parses 100k x 30 cells in
about a second.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import numbers
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence, Union

import numpy as np

from ..errors import DataError

PathLike = Union[str, "os.PathLike[str]"]
Label = Union[int, str]

_BOM = b"\xef\xbb\xbf"


@dataclass
class RawTable:
    """A parsed CSV before its labels are interpreted.

    Attributes
    ----------
    X : ndarray of shape (n_rows, n_features), float64
    labels : list of str
        The label cells, stripped of surrounding blanks.
    label_lines : list of int
        The 1-based line of each row, for messages about labels.
    feature_names : list of str
    label_column : int
        0-based index of the label column in the file.
    has_header : bool
    """

    X: np.ndarray
    labels: list[str]
    label_lines: list[int]
    feature_names: list[str]
    label_column: int
    has_header: bool


def load_csv(
    path: PathLike,
    label: Label = 0,
    header: Union[bool, str] = "auto",
    delimiter: str = ",",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a CSV file with one label column and numeric feature columns.

    Parameters
    ----------
    path : str or path-like
        The file. UTF-8, optionally with a byte-order mark; LF or CRLF line
        ends; blank lines (e.g. trailing ones) are skipped.
    label : int or str, default 0
        The label column: a 0-based index (negative counts from the end, so
        -1 is the last column) or a column name, which requires a header.
    header : bool or "auto", default "auto"
        Whether the first row holds column names. ``"auto"``: the first row
        is a header if and only if at least one of its cells outside the
        label column does not parse as a number. A label given by name
        forces ``header=True``.
    delimiter : str, default ","
        One character separating the fields.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,)
        The labels as written: int if every label is an integral number,
        float if every label is a number, else str.
    feature_names : list of str
        The header's names, or ``f0, f1, ...`` without a header.

    Raises
    ------
    DataError
        If the file is missing, empty, not UTF-8, ragged, has a cell that is
        not a finite number, has no such label column, or holds a single
        class. The message names the file and the line (and column).
    """
    table = read_table(path, label=label, header=header, delimiter=delimiter)
    y = decode_labels(table.labels)
    check_two_classes(y, path, table)
    return table.X, y, table.feature_names


def read_table(path: PathLike, label: Label = 0, header: Union[bool, str] = "auto", delimiter: str = ",") -> RawTable:
    """Parse a CSV file into features and raw label strings (see :func:`load_csv`)."""
    _check_options(label, header, delimiter)
    name = str(path)
    rows = _rows(Path(path), name, delimiter)
    head = next(rows, None)
    if head is None:
        raise DataError(f"{name}: the file is empty (no rows); expected a label column and feature columns")
    first_line, first = head
    width = len(first)
    if isinstance(label, str):
        if header is False:
            raise DataError(f"{name}: label {label!r} is a column name but header is false; set header: true or give the label as a column index")
        has_header = True
        label_col = _label_by_name(first, label, name, first_line)
    else:
        label_col = _label_by_index(width, int(label), name, first_line)
        has_header = header is True or (header == "auto" and _looks_like_header(first, label_col))

    if width < 2:
        raise DataError(f"{name}: line {first_line} has {width} field; expected a label column and at least one feature column (is the delimiter {delimiter!r} right?)")

    if has_header:
        names = [cell.strip() or f"f{i}" for i, cell in enumerate(c for j, c in enumerate(first) if j != label_col)]
        data_rows = rows
    else:
        names = [f"f{i}" for i in range(width - 1)]
        data_rows = itertools.chain([head], rows)

    X, labels, lines = _parse_rows(data_rows, width, label_col, name, first_line)
    if not labels:
        raise DataError(f"{name}: the file has only a header (line {first_line}) and no data rows")
    return RawTable(X=X, labels=labels, label_lines=lines, feature_names=names, label_column=label_col, has_header=has_header)


def decode_labels(labels: Sequence[str]) -> np.ndarray:
    """Turn label strings into an array: int if all integral numbers, float if all numbers, else str.

    Parameters
    ----------
    labels : sequence of str

    Returns
    -------
    ndarray of shape (len(labels),)
    """
    try:
        return np.array([int(s) for s in labels], dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        values = [float(s) for s in labels]
    except ValueError:
        return np.array(labels, dtype=str)
    if not all(math.isfinite(v) for v in values):
        # "nan" or "inf" as a class name is a word, not a number.
        return np.array(labels, dtype=str)
    floats = np.array(values, dtype=np.float64)
    if np.all(floats == np.round(floats)) and np.all(np.abs(floats) < 2**53):
        return floats.astype(np.int64)
    return floats


def check_two_classes(y: np.ndarray, path: PathLike, table: RawTable) -> None:
    """Raise a DataError naming the file and label column if ``y`` holds fewer than two classes."""
    classes = np.unique(y)
    if len(classes) < 2:
        raise DataError(
            f"{path}: the label column (column {table.label_column + 1}) holds a single class, "
            f"{classes[0].item()!r}, in all {len(y)} rows; a classifier needs at least two classes "
            "(is `label` the right column?)"
        )


# --------------------------------------------------------------------------- helpers


def _check_options(label: object, header: object, delimiter: object) -> None:
    # bool is an int subclass; `label: true` is a typo, not column 1.
    if isinstance(label, bool) or not isinstance(label, (numbers.Integral, str)):
        raise DataError(f"label must be a column index (int) or a column name (str), got {label!r}")
    # Identity checks: 1 == True, but `header: 1` is not a documented value.
    if not (header is True or header is False or header == "auto"):
        raise DataError(f"header must be true, false or auto, got {header!r}")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
        raise DataError(f"delimiter must be one character (not a quote or line break), got {delimiter!r}")


def _rows(path: Path, name: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows of the file, each with its 1-based (last) line number.

    The file is checked and decoded at the call; the rows are yielded one by
    one because holding 100k row lists at once makes the garbage collector
    rescan them over and over (several times slower).
    """
    if not path.exists():
        raise DataError(f"{name}: no such file (looked for {path.absolute()})")
    if path.is_dir():
        raise DataError(f"{name}: is a directory; expected a CSV file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{name}: cannot read the file: {exc.strerror or exc}") from None

    # Decode by hand rather than through open(): a decode error then gives a
    # byte offset, which we turn into the line the user must fix.
    body = data[len(_BOM):] if data.startswith(_BOM) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{name}: line {line}: byte 0x{body[exc.start]:02x} is not valid UTF-8; save the file as UTF-8"
        ) from None

    return _iter_rows(text, name, delimiter)


def _iter_rows(text: str, name: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        for row in reader:
            # Blank lines (csv gives [] or a single blank field) carry no data.
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            yield reader.line_num, row
    except csv.Error as exc:
        raise DataError(f"{name}: line {reader.line_num}: cannot parse CSV: {exc}") from None


def _label_by_index(width: int, label: int, name: str, line: int) -> int:
    if not -width <= label < width:
        raise DataError(
            f"{name}: label column {label} does not exist: line {line} has {width} columns "
            f"(indices 0..{width - 1}, or -{width}..-1 from the end)"
        )
    return label % width


def _label_by_name(first: list[str], label: str, name: str, line: int) -> int:
    names = [cell.strip() for cell in first]
    hits = [i for i, cell in enumerate(names) if cell == label]
    if not hits:
        raise DataError(f"{name}: no column named {label!r} in the header (line {line}); the columns are: {', '.join(map(repr, names))}")
    if len(hits) > 1:
        raise DataError(f"{name}: {len(hits)} columns are named {label!r} in the header (line {line}); give the label as a column index")
    return hits[0]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _looks_like_header(first: list[str], label_col: int) -> bool:
    # The label column is skipped: a numeric table may have word labels.
    return any(not _is_number(cell) for j, cell in enumerate(first) if j != label_col)


def _parse_rows(
    rows: Iterable[tuple[int, list[str]]], width: int, label_col: int, name: str, first_line: int
) -> tuple[np.ndarray, list[str], list[int]]:
    # A flat array('d') keeps 100k x 30 values compact and is fast to fill.
    values = array("d")
    labels: list[str] = []
    lines: list[int] = []
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{name}: line {line} has {len(row)} fields, expected {width} (as on line {first_line})")
        label = row[label_col].strip()
        if not label:
            raise DataError(f"{name}: line {line}, column {label_col + 1}: the label cell is empty")
        feats = row[1:] if label_col == 0 else row[:label_col] + row[label_col + 1 :]
        try:
            values.extend(map(float, feats))
        except ValueError:
            _raise_bad_cell(feats, line, label_col, name)
        labels.append(label)
        lines.append(line)

    X = np.frombuffer(values, dtype=np.float64).reshape(len(labels), width - 1).copy()
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise DataError(
            f"{name}: line {lines[r]}, column {_file_column(c, label_col)}: feature value {float(X[r, c])!r} "
            "is not a finite number; remove or impute missing values first"
        )
    return X, labels, lines


def _file_column(feature: int, label_col: int) -> int:
    """1-based file column of feature ``feature`` (the label column is not a feature)."""
    return feature + 1 + (feature >= label_col)


def _raise_bad_cell(feats: list[str], line: int, label_col: int, name: str) -> None:
    for c, cell in enumerate(feats):
        if not _is_number(cell):
            where = f"{name}: line {line}, column {_file_column(c, label_col)}"
            if not cell.strip():
                raise DataError(f"{where}: the feature cell is empty; remove or impute missing values first")
            raise DataError(f"{where}: feature value {cell!r} is not a number")
    raise AssertionError("unreachable: a cell failed float() but every cell parses")  # pragma: no cover
