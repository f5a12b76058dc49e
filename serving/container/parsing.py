"""Request bodies (CSV or JSON) to a float64 feature matrix, with errors a client can act on.

Both parsers have a fast path for well-formed input and a slow path that
runs only when the fast one gives up: it either parses an unusual but valid
body (blank lines, quoted cells, non-ASCII header names) or raises a
:class:`~serving.container.errors.RequestError` naming the row and column
(1-based) of the first problem.

pandas is not used. Measured on this project's 2-core machine (30 features):
``pd.read_csv`` costs ~1.5 ms for a single row, against ~11 us for
``np.fromstring``. For 1000 rows its C parser is faster (~3 ms against
~9 ms), but a 1000-row body is answered well within its 20 ms budget
either way, and single rows are the common case.

CSV: one row per line, the model's features in its order, no label column.
The first line is a header if none of its cells is a number, or if its
cells are the model's feature names (a data row with a typo is reported as
a bad cell, not as a wrong header); a header must name exactly the model's
features (``feature_names_in_``) and may list them in any order. A cell is a
number only in the strict ASCII grammar ``[+-]digits[.digits][e[+-]digits]``
(:data:`qboost_exp.data.cells.NUMBER`; surrounding spaces allowed): no
``1_000``, no non-ASCII digits, no hexadecimal, ``inf`` or ``nan``. Training
reads its CSV files with the same grammar (:mod:`qboost_exp.data.cells`), so
a value the model was trained on is never refused here. Numbers are parsed
with ``np.fromstring`` (C ``strtod``, the same correctly rounded values as
Python's ``float``) once the body is known to hold only the characters that
grammar uses.

JSON: MLflow's scoring formats (``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``) and a plain list of rows. Feature values are JSON
numbers only: booleans, strings (also numeric ones) and null are refused in
every form. Nesting deeper than :data:`MAX_JSON_DEPTH` and integer literals
longer than :data:`MAX_NUMBER_DIGITS` digits are refused before they can
cost the parser its stack or Python's integer conversion its limit.
"""

from __future__ import annotations

import csv
import io
import json
import operator
from itertools import repeat
from typing import Any, Sequence

import numpy as np

# The cell grammar is qboost_exp's, so training refuses what this endpoint refuses.
# NUMBER is re-exported: it was defined here before and is documented as this module's.
from qboost_exp.data.cells import NUMBER  # noqa: F401
from qboost_exp.data.cells import INFINITE_REASON, NAN_REASON, NUMERIC_BYTES, is_number, parse_numeric_bytes, reason

from .errors import RequestError

_BOM = b"\xef\xbb\xbf"
_CHARSETS = {"utf-8", "utf8", "us-ascii", "ascii"}
_JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_MAX_NAMES = 5  # names listed in one message
#: Deepest JSON nesting accepted; MLflow's deepest form, dataframe_split, needs 4.
MAX_JSON_DEPTH = 32
#: Longest JSON integer literal accepted (a float64 holds at most 309 integer digits).
MAX_NUMBER_DIGITS = 400


class Schema:
    """What the model expects: the number of features and, if known, their names.

    Parameters
    ----------
    n_features : int
    feature_names : sequence of str or None
    """

    def __init__(self, n_features: int, feature_names: Sequence[str] | None, *, fast: bool = True) -> None:
        self.n_features = n_features
        self.feature_names = tuple(feature_names) if feature_names is not None else None
        #: Whether a list of numbers may become a matrix in one numpy call (False when the body may hold booleans).
        self.fast = fast

    def checking_each_value(self) -> "Schema":
        """The same schema, with every JSON value checked one by one (numpy would read booleans as 1 and 0)."""
        return Schema(self.n_features, self.feature_names, fast=False)

    def order_of(self, columns: Sequence[Any], what: str) -> list[int] | None:
        """Positions of the model's features among ``columns`` (None if already in order).

        Raises
        ------
        RequestError
            (400) If ``columns`` are not exactly the model's feature names.
        """
        names = [str(c) for c in columns]
        if self.feature_names is None:
            raise RequestError(400, f"{what} names columns, but this model was trained without feature names; send unnamed rows in training order")
        if names == list(self.feature_names):
            return None
        duplicated = sorted({n for n in names if names.count(n) > 1})
        missing = [n for n in self.feature_names if n not in names]
        unknown = [n for n in names if n not in self.feature_names]
        if duplicated or missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing {_listed(missing)}")
            if unknown:
                parts.append(f"unknown {_listed(unknown)}")
            if duplicated:
                parts.append(f"repeated {_listed(duplicated)}")
            raise RequestError(400, f"{what} does not match the model's {self.n_features} features: {'; '.join(parts)}")
        return [names.index(n) for n in self.feature_names]


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES])
    return shown + (f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else "")


def check_charset(charset: str | None) -> None:
    """Accept UTF-8 (and its subset ASCII) only."""
    if charset is not None and charset.strip().strip('"').lower() not in _CHARSETS:
        raise RequestError(415, f"charset {charset!r} is not supported; send the body as UTF-8")


def _is_header(cells: Sequence[str | bytes], schema: Schema) -> bool:
    """Whether a first row names columns rather than holding values.

    A header when no cell is a number, or when the cells are the model's
    feature names (which may look like numbers). A row with some numbers and
    some text is a data row with bad cells: reporting the bad cell is more
    useful than reporting a header that names no feature.
    """
    texts = [c.decode(errors="replace").strip() if isinstance(c, bytes) else c.strip() for c in cells]
    if schema.feature_names is not None and sorted(texts) == sorted(schema.feature_names):
        return True
    return any(texts) and not any(is_number(t) for t in texts if t)


def _cell_error(cell: str, where: str) -> RequestError:
    return RequestError(400, f"{where}: {reason(cell)}")


def _width_error(got: int, expected: int, where: str) -> RequestError:
    hint = " (send the features only, without a label column)" if got == expected + 1 else ""
    return RequestError(400, f"expected {expected} feature values per row, got {got} on {where}{hint}")


def _finite(X: np.ndarray, where: Any) -> np.ndarray:
    """Refuse NaN and infinity, naming the first such cell; ``where(r)`` describes row ``r`` (0-based)."""
    if not np.isfinite(X).all():
        r, c = (int(i[0]) for i in np.nonzero(~np.isfinite(X)))
        why = NAN_REASON if np.isnan(X[r, c]) else INFINITE_REASON
        raise RequestError(400, f"{where(r)}, column {c + 1}: {why}")
    return X


# ----------------------------------------------------------------------------------- CSV


def parse_csv(body: bytes, schema: Schema) -> np.ndarray:
    """Rows of a CSV body as an array of shape (n_rows, n_features).

    Parameters
    ----------
    body : bytes
        UTF-8 (a byte-order mark is allowed), LF or CRLF line ends.
    schema : Schema

    Raises
    ------
    RequestError
        (400) Empty body, header without rows, a header that does not name
        the model's features, ragged rows, a wrong number of columns, a cell
        that is empty or not a number, NaN or infinity, invalid UTF-8.
    """
    data = body[len(_BOM):] if body.startswith(_BOM) else body
    data = data.strip()
    if not data:
        raise RequestError(400, "the request body is empty; send one CSV row of feature values per line")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if not data.translate(None, NUMERIC_BYTES) or (data.isascii() and b'"' not in data and b"\n" in data):
        X = _csv_fast(data, schema)
        if X is not None:
            return X
    return _csv_slow(data, schema)


def _csv_fast(data: bytes, schema: Schema) -> np.ndarray | None:
    """Plain numeric CSV at C speed; None hands over to :func:`_csv_slow`."""
    lines = data.split(b"\n")
    if len(set(map(bytes.count, lines, repeat(b",")))) != 1:
        return None  # ragged, blank lines, or a header of another width: the slow path says which
    width = lines[0].count(b",") + 1
    header = False
    if data.translate(None, NUMERIC_BYTES):
        # Other characters than numbers use: a header line over numeric rows is the only
        # form handled here; anything else (a bad cell) goes to the slow path, which names it.
        rest = data[len(lines[0]) + 1 :]
        if len(lines) == 1 or rest.translate(None, NUMERIC_BYTES) or not _is_header(lines[0].split(b","), schema):
            return None
        header, names = True, [c.strip().decode() for c in lines[0].split(b",")]
        lines = lines[1:]
        data = rest
    X = parse_numeric_bytes(data, len(lines) * width)
    if X is None:
        return None
    X = X.reshape(len(lines), width)
    order = schema.order_of(names, "the CSV header") if header else None
    if width != schema.n_features:
        raise _width_error(width, schema.n_features, f"row 1 (line {1 + header})")
    if order is not None:
        X = X[:, order]
    return _finite(X, lambda r: f"row {r + 1} (line {r + 1 + header})")


def _csv_slow(data: bytes, schema: Schema) -> np.ndarray:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RequestError(400, f"line {line}: byte 0x{data[exc.start]:02x} is not valid UTF-8; send the body as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if row and not (len(row) == 1 and not row[0].strip()):
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise RequestError(400, f"line {reader.line_num}: cannot parse the CSV: {exc}") from None
    if not rows:
        raise RequestError(400, "the request body holds no CSV rows")
    header = _is_header(rows[0][1], schema)
    order = None
    if header:
        if len(rows) == 1:
            raise RequestError(400, "the CSV has a header line but no data rows; send feature values, one row per line")
        order = schema.order_of([c.strip() for c in rows[0][1]], "the CSV header")
        rows = rows[1:]
    width = len(rows[0][1])
    for r, (line, row) in enumerate(rows):
        if len(row) != width:
            raise RequestError(
                400, f"ragged CSV: row {r + 1} (line {line}) has {len(row)} fields but row 1 (line {rows[0][0]}) has {width}"
            )
    if width != schema.n_features:
        raise _width_error(width, schema.n_features, f"row 1 (line {rows[0][0]})")
    X = np.empty((len(rows), width))
    for r, (line, row) in enumerate(rows):
        for c, cell in enumerate(row):
            if not is_number(cell):
                raise _cell_error(cell, f"row {r + 1} (line {line}), column {c + 1}")
            X[r, c] = float(cell)
    if order is not None:
        X = X[:, order]
    return _finite(X, lambda r: f"row {r + 1} (line {rows[r][0]})")


# ---------------------------------------------------------------------------------- JSON


def parse_json(body: bytes, schema: Schema) -> np.ndarray:
    """Rows of a JSON body as an array of shape (n_rows, n_features).

    Accepted shapes (MLflow's scoring formats, plus a bare list)::

        {"dataframe_split": {"columns": [...], "data": [[...], ...]}}   columns optional
        {"dataframe_records": [{"name": value, ...}, ...]}
        {"instances": [[...], ...]}   or   {"instances": [{...}, ...]}
        {"inputs": [[...], ...]}      or   {"inputs": {"name": [values...], ...}}
        [[...], ...]                  or   [{...}, ...]

    A flat list of numbers is one row. Named values must name exactly the
    model's features, in any order.

    Raises
    ------
    RequestError
        (400) Malformed JSON, an unknown shape, wrong row lengths, values that
        are not numbers (strings, null, booleans), NaN or infinity.
    """
    if not body.strip():
        raise RequestError(400, "the request body is empty; send a JSON object such as {\"instances\": [[...], ...]}")
    _check_depth(body)
    if b"true" in body or b"false" in body:
        schema = schema.checking_each_value()  # booleans are refused wherever they are
    try:
        obj = json.loads(body, parse_int=_json_int, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError:
        raise RequestError(400, "malformed JSON: the body is not valid UTF-8") from None
    if isinstance(obj, list):
        return _items(obj, schema, "the JSON list")
    if not isinstance(obj, dict):
        raise RequestError(400, f"the JSON body is a {_json_type(obj)}; send an object with one of {', '.join(_JSON_FORMATS)}, or a list of rows")
    found = [k for k in _JSON_FORMATS if k in obj]
    if len(found) != 1:
        which = "none" if not found else " and ".join(found)
        raise RequestError(
            400, f"the JSON object must have exactly one of the keys {', '.join(_JSON_FORMATS)} (MLflow's formats); it has {which}"
        )
    key = found[0]
    value = obj[key]
    if key == "dataframe_split":
        return _dataframe_split(value, schema)
    if key == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise RequestError(400, "dataframe_records must be a list of objects {feature name: value}")
        return _items(value, schema, key)
    if key == "inputs" and isinstance(value, dict):
        return _columns(value, schema)
    if not isinstance(value, list):
        raise RequestError(400, f"{key} must be a list of rows, got a {_json_type(value)}")
    return _items(value, schema, key)


def _check_depth(body: bytes) -> None:
    """Refuse nesting deeper than :data:`MAX_JSON_DEPTH` before the recursive parser sees it.

    Brackets inside strings are counted too; only a body with dozens of
    unbalanced brackets in its strings could be refused wrongly, and feature
    names are not written that way.
    """
    opens = body.count(b"[") + body.count(b"{")
    if opens <= MAX_JSON_DEPTH:
        return
    codes = np.frombuffer(body, dtype=np.uint8)
    step = (codes == ord("[")).astype(np.int32) + (codes == ord("{"))
    step -= (codes == ord("]")).astype(np.int32) + (codes == ord("}"))
    if int(np.cumsum(step).max()) > MAX_JSON_DEPTH:
        raise RequestError(400, f"malformed JSON: nested more than {MAX_JSON_DEPTH} levels deep; MLflow's formats need at most 4")


def _json_int(text: str) -> int | float:
    """A JSON integer literal, refused when longer than any float64 (Python's int() would refuse past 4300 digits)."""
    digits = len(text) - (text[0] == "-")
    if digits > MAX_NUMBER_DIGITS:
        raise RequestError(400, f"an integer with {digits} digits is out of range; feature values must fit a float64 (about 1.8e308)")
    return int(text)


def _json_constant(name: str) -> float:
    """``NaN``, ``Infinity``, ``-Infinity``: not JSON numbers; refused by the finiteness check with their position."""
    return float(name)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    return {dict: "object", list: "list", str: "string", int: "number", float: "number"}.get(type(v), type(v).__name__)


def _dataframe_split(value: Any, schema: Schema) -> np.ndarray:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise RequestError(400, 'dataframe_split must be an object {"columns": [...], "data": [[...], ...]}')
    rows = value["data"]
    columns = value.get("columns")
    if columns is None:
        return _rows(rows, schema, "dataframe_split.data")
    if not isinstance(columns, list):
        raise RequestError(400, "dataframe_split.columns must be a list of feature names")
    order = schema.order_of(columns, "dataframe_split.columns")
    if not rows:
        raise RequestError(400, "dataframe_split.data holds no rows")
    X = _matrix(rows, len(columns), "dataframe_split.data", schema.fast)
    if len(columns) != schema.n_features:
        raise _width_error(len(columns), schema.n_features, "row 1")
    return X if order is None else X[:, order]


def _items(items: list, schema: Schema, what: str) -> np.ndarray:
    """A list of rows, of records, or of scalars (one row)."""
    if not items:
        raise RequestError(400, f"{what} holds no rows")
    first = items[0]
    if isinstance(first, dict):
        return _records(items, schema, what)
    if isinstance(first, list):
        return _rows(items, schema, what)
    if all(not isinstance(v, (list, dict)) for v in items):
        return _rows([items], schema, what)
    raise RequestError(400, f"{what} mixes rows of different kinds; send a list of lists or a list of objects")


def _rows(rows: list, schema: Schema, what: str) -> np.ndarray:
    if not rows:
        raise RequestError(400, f"{what} holds no rows")
    return _matrix(rows, schema.n_features, what, schema.fast)


def _matrix(rows: list, width: int, what: str, fast: bool = True) -> np.ndarray:
    """A list of equally long lists of numbers as a float64 matrix."""
    try:
        X = np.array(rows)
        # numpy turns booleans among numbers into 1 and 0: only a matrix without any is fast.
        fast = fast and X.ndim == 2 and X.dtype.kind in "iuf"
    except (ValueError, TypeError, OverflowError):
        fast = False  # ragged or mixed: the checks below say where
    if fast:
        if X.shape[1] != width:
            raise _width_error(X.shape[1], width, "row 1")
        return _finite(X.astype(np.float64, copy=False), lambda r: f"row {r + 1}")
    X = np.empty((len(rows), width))
    for r, row in enumerate(rows):
        if not isinstance(row, (list, tuple)):
            raise RequestError(400, f"{what}: row {r + 1} is a {_json_type(row)}, not a list of feature values")
        if len(row) != width:
            raise _width_error(len(row), width, f"row {r + 1}")
        for c, v in enumerate(row):
            X[r, c] = _number(v, f"row {r + 1}, column {c + 1}")
    return _finite(X, lambda r: f"row {r + 1}")


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        shown = f" {v[:40]!r}" if isinstance(v, str) else ""
        raise RequestError(400, f"{where}: a {_json_type(v)}{shown} is not a number; send numbers (missing values are not supported)")
    try:
        return float(v)
    except OverflowError:
        digits = len(str(abs(v)))
        raise RequestError(400, f"{where}: an integer with {digits} digits is out of range for a float64 (about 1.8e308)") from None


def _records(records: list, schema: Schema, what: str) -> np.ndarray:
    names = schema.feature_names
    if names is None:
        raise RequestError(400, f"{what} names features, but this model was trained without feature names; send rows as lists in training order")
    n = len(names)
    get = operator.itemgetter(*names)
    try:
        rows = [get(rec) for rec in records]
        exact = sum(map(len, records)) == n * len(records)
    except (KeyError, TypeError):
        exact = False
    if exact:
        return _matrix(rows if n > 1 else [(r,) for r in rows], n, what, schema.fast)
    for r, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise RequestError(400, f"{what}: record {r + 1} is a {_json_type(rec)}, not an object {{feature name: value}}")
        missing = [k for k in names if k not in rec]
        unknown = [k for k in rec if k not in names]
        if missing or unknown:
            parts = ([f"missing {_listed(missing)}"] if missing else []) + ([f"unknown {_listed(unknown)}"] if unknown else [])
            raise RequestError(400, f"{what}: record {r + 1} does not match the model's {n} features: {'; '.join(parts)}")
    raise AssertionError("unreachable: every record has exactly the model's features")  # pragma: no cover


def _columns(columns: dict, schema: Schema) -> np.ndarray:
    """``{"inputs": {name: [values...]}}`` (or ``{name: value}`` for one row)."""
    order = schema.order_of(list(columns), "inputs")
    values = list(columns.values())
    if all(isinstance(v, list) for v in values):
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise RequestError(400, f"inputs: the feature columns have different lengths ({', '.join(map(str, sorted(lengths)))})")
        rows = [list(r) for r in zip(*values)]
    elif not any(isinstance(v, (list, dict)) for v in values):
        rows = [values]
    else:
        raise RequestError(400, "inputs: give every feature a list of values (or every feature one value)")
    if not rows:
        raise RequestError(400, "inputs holds no rows")
    X = _matrix(rows, len(values), "inputs", schema.fast)
    return X if order is None else X[:, order]
