"""Reading a labelled CSV file into ``(X, y, feature_names)``.

Every problem with the file stops with one :class:`~qboost_exp.errors.DataError`
that names the file and, where it applies, the 1-based line and column (by
number, and by name when the file has a header), so a user can open the file
at the right place. Feature cells follow the serving endpoint's grammar
(:mod:`qboost_exp.data.cells`): a value that trains is a value the endpoint
accepts. The stdlib :mod:`csv` module is used because it reports exact line
numbers and parses 100k x 30 cells in about a second.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from ..errors import DataError
from . import cells
from ._options import DEFAULT_OPTIONS, CsvOptions, Label

PathLike = Union[str, "os.PathLike[str]"]

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


@dataclass(frozen=True)
class _Layout:
    """What the first row says about a file: its width, label column and header, for parsing and messages."""

    name: str
    width: int
    label_column: int
    first_line: int
    header: Optional[list[str]]  # the header's cells (stripped), None without a header

    def where(self, line: int, column: int) -> str:
        """``"FILE: line L, column C"`` (1-based), with the column's header name when it has one."""
        named = self.header is not None and self.header[column - 1]
        return f"{self.name}: line {line}, column {column}" + (f" ({self.header[column - 1]!r})" if named else "")

    def file_column(self, feature: int) -> int:
        """1-based file column of feature ``feature`` (the label column is not a feature)."""
        return feature + 1 + (feature >= self.label_column)


def load_csv(
    path: PathLike,
    label: Label = DEFAULT_OPTIONS.label,
    header: Union[bool, str] = DEFAULT_OPTIONS.header,
    delimiter: str = DEFAULT_OPTIONS.delimiter,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a CSV file with one label column and numeric feature columns.

    Parameters
    ----------
    path : str or path-like
        The file. UTF-8, optionally with a byte-order mark; LF or CRLF line
        ends; blank lines (e.g. trailing ones) are skipped. Feature cells are
        numbers in the grammar of :mod:`qboost_exp.data.cells` (ASCII
        decimals such as ``-12``, ``0.5``, ``1.5e-3``), the same the serving
        endpoint accepts.
    label : int or str, default 0
        The label column: a 0-based index (negative counts from the end, so
        -1 is the last column) or a column name, which requires a header.
    header : bool or "auto", default "auto"
        Whether the first row holds column names. ``"auto"``: the first row
        is a header if and only if at least one of its cells outside the
        label column does not look like a number. A label given by name
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
        not a finite number of the grammar, has no such label column, or
        holds a single class. The message names the file and the line (and
        column).
    """
    table = read_table(path, CsvOptions(label, header, delimiter))
    y = decode_labels(table.labels)
    check_two_classes(y, path, table)
    return table.X, y, table.feature_names


def read_table(path: PathLike, options: CsvOptions = DEFAULT_OPTIONS) -> RawTable:
    """Parse a CSV file into features and raw label strings (see :func:`load_csv`)."""
    name = str(path)
    rows = _rows(Path(path), name, options.delimiter)
    first_line, first = _first_row(rows, name)
    layout = _layout(first, first_line, options, name)
    data_rows = rows if layout.header is not None else itertools.chain([(first_line, first)], rows)
    X, labels, lines = _parse_rows(data_rows, layout)
    if not labels:
        raise DataError(f"{name}: the file has only a header (line {first_line}) and no data rows")
    return RawTable(
        X=X,
        labels=labels,
        label_lines=lines,
        feature_names=_feature_names(layout),
        label_column=layout.label_column,
        has_header=layout.header is not None,
    )


def decode_labels(labels: Sequence[str]) -> np.ndarray:
    """Turn label strings into an array: int if all integral numbers, float if all numbers, else str.

    A label is a number only in the grammar of :mod:`qboost_exp.data.cells`
    (so ``1_000`` or ``\u0661`` is a class name, not a number), finite.

    Parameters
    ----------
    labels : sequence of str

    Returns
    -------
    ndarray of shape (len(labels),)
    """
    if not all(map(cells.is_number, labels)):
        return np.array(labels, dtype=str)
    try:
        return np.array([int(s) for s in labels], dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    values = [float(s) for s in labels]
    if not all(math.isfinite(v) for v in values):
        # 1e999 overflows: keep the class names as written.
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


def _where_to_look(path: Path) -> str:
    """What a user whose file is missing needs: where it was looked for, and the CSV files that are there."""
    import difflib

    where = path.absolute()
    folder = where.parent
    if not folder.is_dir():
        return f" (looked for {where}; the directory {folder} does not exist either)"
    found = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".csv", ".txt", ".tsv") and p.is_file())
    close = difflib.get_close_matches(where.name, found, n=1)
    there = f"; CSV files in {folder}: {', '.join(found[:10])}{', ...' if len(found) > 10 else ''}" if found else f"; {folder} holds no CSV file"
    advice = f"; did you mean {folder / close[0]}?" if close else "; a relative path is read from the directory the command was launched from"
    return f" (looked for {where}{there}){advice}"


def _rows(path: Path, name: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows of the file, each with its 1-based (last) line number.

    The file is checked and decoded at the call; the rows are yielded one by
    one because holding 100k row lists at once makes the garbage collector
    rescan them over and over (several times slower).
    """
    if not path.exists():
        raise DataError(f"{name}: no such file{_where_to_look(path)}")
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


def _first_row(rows: Iterator[tuple[int, list[str]]], name: str) -> tuple[int, list[str]]:
    head = next(rows, None)
    if head is None:
        raise DataError(f"{name}: the file is empty (no rows); expected a label column and feature columns")
    return head


def _layout(first: list[str], line: int, options: CsvOptions, name: str) -> _Layout:
    """The label column and header of a file, from its first row and the options."""
    width = len(first)
    if isinstance(options.label, str):
        if options.header is False:
            raise DataError(
                f"{name}: label {options.label!r} is a column name but header is false; "
                "set header: true or give the label as a column index"
            )
        label_col, has_header = _label_by_name(first, options.label, name, line), True
    else:
        label_col = _label_by_index(width, options.label, name, line)
        has_header = options.header is True or (options.header == "auto" and _looks_like_header(first, label_col))
    if width < 2:
        raise DataError(
            f"{name}: line {line} has {width} field; expected a label column and at least one feature column "
            f"(is the delimiter {options.delimiter!r} right?)"
        )
    header = [cell.strip() for cell in first] if has_header else None
    return _Layout(name=name, width=width, label_column=label_col, first_line=line, header=header)


def _feature_names(layout: _Layout) -> list[str]:
    """The header's names of the feature columns (``f<i>`` for a blank one), or ``f0, f1, ...``."""
    if layout.header is None:
        return [f"f{i}" for i in range(layout.width - 1)]
    names = (c for j, c in enumerate(layout.header) if j != layout.label_column)
    return [name or f"f{i}" for i, name in enumerate(names)]


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


def _number_like(cell: str) -> bool:
    """Whether ``cell`` reads as a number to Python, a looser test than the grammar.

    Only for telling a header from a data row: ``1_000`` or ``nan`` in a
    first row makes it a data row, whose bad cell is then reported, rather
    than a header that would silently drop the row.
    """
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _looks_like_header(first: list[str], label_col: int) -> bool:
    # The label column is skipped: a numeric table may have word labels.
    return any(not _number_like(cell) for j, cell in enumerate(first) if j != label_col)


def _parse_rows(rows: Iterable[tuple[int, list[str]]], layout: _Layout) -> tuple[np.ndarray, list[str], list[int]]:
    # A flat array('d') keeps 100k x 30 values compact and is fast to fill.
    values = array("d")
    labels: list[str] = []
    lines: list[int] = []
    label_col = layout.label_column
    for line, row in rows:
        if len(row) != layout.width:
            raise DataError(f"{layout.name}: line {line} has {len(row)} fields, expected {layout.width} (as on line {layout.first_line})")
        label = row[label_col].strip()
        if not label:
            raise DataError(f"{layout.where(line, label_col + 1)}: the label cell is empty; every row needs a label")
        feats = row[1:] if label_col == 0 else row[:label_col] + row[label_col + 1 :]
        try:
            values.extend(cells.parse_row(feats))
        except cells.RefusedCell as bad:
            raise DataError(_refusal(bad.cell, layout.where(line, layout.file_column(bad.index)))) from None
        labels.append(label)
        lines.append(line)

    X = np.frombuffer(values, dtype=np.float64).reshape(len(labels), layout.width - 1).copy()
    _check_finite(X, lines, layout)
    return X, labels, lines


def _check_finite(X: np.ndarray, lines: list[int], layout: _Layout) -> None:
    """Refuse numbers of the grammar beyond float64's range (``1e999`` reads as infinity)."""
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise DataError(
            f"{layout.where(lines[r], layout.file_column(c))}: the feature value is beyond float64's range "
            "(magnitude above about 1.8e308) and reads as infinite; every feature value must be a finite number"
        )


def _refusal(cell: str, where: str) -> str:
    """The message for a feature cell outside the grammar: what it is and what to do."""
    kind = cells.verdict(cell)
    shown = repr(cell if len(cell) <= 40 else cell[:40] + "...")
    if kind is cells.Verdict.EMPTY:
        return f"{where}: the feature cell is empty; remove or impute missing values first"
    if kind is cells.Verdict.NAN:
        return f"{where}: feature value {shown} is NaN (a missing value); remove or impute missing values first"
    if kind is cells.Verdict.INFINITE:
        return f"{where}: feature value {shown} is infinite; every feature value must be a finite number (clip or drop it)"
    if cells.is_number(cell.strip()):
        return f"{where}: feature value {shown} is a number surrounded by other blanks than spaces; remove the tabs or other blanks"
    return (
        f"{where}: feature value {shown} is not a number; {cells.HOW_TO_WRITE} "
        "(no digit separators, non-ASCII digits, hexadecimal or words: the serving endpoint refuses them too)"
    )
