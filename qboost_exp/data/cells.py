"""The one grammar of a numeric CSV cell, shared by training and the serving container.

A feature value written in a CSV file (training) or in a CSV request body
(the endpoint) is a number only if it matches :data:`NUMBER`::

    [spaces] [+|-] (digits [. [digits]] | . digits) [(e|E) [+|-] digits] [spaces]

with ASCII digits ``0-9`` and ASCII spaces only. So ``1``, ``-0``, ``+1``,
``.5``, ``5.``, ``1e5``, ``-1.5E-3`` and `` 1.5 `` are numbers; ``1_000``,
other scripts' digits (``١٢``, full-width ``１``), hexadecimal (``0x10``),
``nan``, ``inf``, ``infinity``, a tab or a non-breaking space around the
number and an empty cell are not. A number in the grammar whose magnitude
exceeds float64's (``1e999``) parses to infinity and is refused as not finite
by both readers.

Python's ``float()`` accepts all of the refused forms except hexadecimal and
the empty cell; reading training files with it would let a model learn from
values that its endpoint then answers with a 400. Both readers therefore use
this module, which imports only the standard library and numpy, so that the
serving container can use it without scikit-learn, pandas, Hydra or MLflow.

The values of accepted cells are those of ``float()`` (and of C ``strtod``,
which :func:`parse_numeric_bytes` uses): correctly rounded float64.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Sequence, Union

import numpy as np

__all__ = [
    "NUMBER",
    "NUMBER_TEXT",
    "NUMERIC_BYTES",
    "HOW_TO_WRITE",
    "NAN_REASON",
    "INFINITE_REASON",
    "Verdict",
    "is_number",
    "verdict",
    "reason",
    "RefusedCell",
    "parse_row",
    "parse_numeric_bytes",
]

# The grammar, written once; NUMBER and NUMBER_TEXT are this pattern compiled
# for bytes and for str. In a str pattern [0-9] and [ ] are code-point ranges,
# so they match the ASCII characters only, exactly like the bytes pattern on
# the UTF-8 encoding of the same text.
_PATTERN = r"[ ]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ ]*"

#: A feature value in CSV: optional sign, decimal digits, optional fraction and exponent (ASCII only), as bytes.
NUMBER = re.compile(_PATTERN.encode("ascii"))
#: :data:`NUMBER` for ``str`` cells.
NUMBER_TEXT = re.compile(_PATTERN)
#: Every byte a comma-separated body of numbers can hold; a body with any other byte needs the per-cell check.
NUMERIC_BYTES = b"0123456789.+-eE, \n"

#: What to tell a user whose cell is not a number.
HOW_TO_WRITE = "write numbers as ASCII decimals such as -12, 0.5 or 1.5e-3"
#: Why a NaN cell is refused.
NAN_REASON = "the value is NaN (a missing value); every feature value must be a finite number"
#: Why an infinite cell (or a number beyond float64's range) is refused.
INFINITE_REASON = "the value is infinite; every feature value must be a finite number"

# The characters of the grammar. Python's float() syntax restricted to them is
# exactly the grammar (what float() accepts beyond it needs "_", letters,
# other blanks or non-ASCII digits), so "float() reads it and no other
# character occurs" checks a whole row in two C loops.
_FOREIGN = re.compile(r"[^0-9.+\-eE ]")

# What strtod reads in a body of NUMERIC_BYTES that NUMBER refuses: an e not
# followed by a digit or sign, a sign not at a cell's start or after an e, a
# cell without any digit, a second point, a point or e after the exponent.
_LOOSE = re.compile(rb"[eE](?![+-]?[0-9])|(?<![eE, \n])[+-]|(?:^|[, \n])[+-]?\.?(?=[ ]*(?:[, \n]|$|[eE]))|\.[0-9]*\.|[eE][+-]?[0-9]+[.eE]")


class Verdict(Enum):
    """What a cell is, for the grammar: a number, or why it is refused."""

    NUMBER = "number"
    EMPTY = "empty"
    NAN = "nan"
    INFINITE = "infinite"
    NOT_A_NUMBER = "not a number"


def is_number(cell: Union[str, bytes]) -> bool:
    """Whether ``cell`` is a number in the grammar of :data:`NUMBER`.

    Parameters
    ----------
    cell : str or bytes
        One cell as written, surrounding spaces included.

    Returns
    -------
    bool
    """
    if isinstance(cell, bytes):
        return cell.isascii() and NUMBER.fullmatch(cell) is not None
    return NUMBER_TEXT.fullmatch(cell) is not None


def verdict(cell: str) -> Verdict:
    """Classify ``cell``: a number, or empty, NaN, infinite or something else.

    ``nan``, ``inf`` and ``infinity`` (any case, any sign) are told apart
    from other refused text because the fix differs: impute or drop a
    missing value, clip an infinite one, rewrite a number in another format.

    Parameters
    ----------
    cell : str

    Returns
    -------
    Verdict
    """
    if is_number(cell):
        return Verdict.NUMBER
    text = cell.strip()
    if not text:
        return Verdict.EMPTY
    word = text.lower().lstrip("+-")
    if word == "nan":
        return Verdict.NAN
    if word in ("inf", "infinity"):
        return Verdict.INFINITE
    return Verdict.NOT_A_NUMBER


def reason(cell: str) -> str:
    """Why ``cell`` is refused, in the words the endpoint answers with.

    Parameters
    ----------
    cell : str
        A cell that is not a number (see :func:`is_number`).

    Returns
    -------
    str
        E.g. ``"'1_000' is not a number; write numbers as ASCII decimals such
        as -12, 0.5 or 1.5e-3"`` or ``"the cell is empty"``.

    Raises
    ------
    ValueError
        If ``cell`` is a number: there is nothing to explain.
    """
    kind = verdict(cell)
    if kind is Verdict.NUMBER:
        raise ValueError(f"{cell!r} is a number in the CSV grammar; only a refused cell has a reason")
    if kind is Verdict.EMPTY:
        return "the cell is empty"
    if kind is Verdict.NAN:
        return NAN_REASON
    if kind is Verdict.INFINITE:
        return INFINITE_REASON
    return f"{cell.strip()[:40]!r} is not a number; {HOW_TO_WRITE}"


class RefusedCell(ValueError):
    """A cell outside the grammar, found by :func:`parse_row`.

    Attributes
    ----------
    index : int
        0-based position of the cell in the row.
    cell : str
        The cell as written.
    """

    def __init__(self, index: int, cell: str) -> None:
        super().__init__(f"cell {index + 1}: {reason(cell)}")
        self.index = index
        self.cell = cell


def parse_row(cells: Sequence[str]) -> list[float]:
    """The values of a row of cells, all of which must be numbers of the grammar.

    Parameters
    ----------
    cells : sequence of str

    Returns
    -------
    list of float
        ``float(cell)`` of each cell; a number beyond float64's range (``1e999``)
        gives infinity, which the caller refuses as not finite.

    Raises
    ------
    RefusedCell
        For the first cell that is not a number (:func:`is_number`).
    """
    try:
        values = list(map(float, cells))
    except ValueError:
        values = None
    # "".join: a cell's characters are all that matters here, not where it ends.
    if values is not None and _FOREIGN.search("".join(cells)) is None:
        return values
    for index, cell in enumerate(cells):
        if not is_number(cell):
            raise RefusedCell(index, cell)
    raise AssertionError("unreachable: float() refused a cell of the grammar, or one accepted cell holds another character")  # pragma: no cover


def parse_numeric_bytes(data: bytes, count: int) -> np.ndarray | None:
    """Exactly ``count`` numbers, separated by commas or line feeds, at C speed.

    For a body of :data:`NUMERIC_BYTES` only (the caller checks with
    ``data.translate(None, NUMERIC_BYTES)``). C ``strtod`` reads the values;
    the few shapes it accepts but :data:`NUMBER` refuses (``1e``, ``+.``,
    ``1.2.3``, a sign inside a cell, a cell without digits) are looked for
    separately.

    Parameters
    ----------
    data : bytes
    count : int
        The number of cells the body should hold.

    Returns
    -------
    ndarray of shape (count,), float64, or None
        None if ``data`` does not hold exactly ``count`` numbers of the
        grammar; the caller then checks cell by cell to say which one is bad.
    """
    try:
        values = np.fromstring(data.replace(b"\n", b",") if b"\n" in data else data, sep=",")
    except ValueError:
        return None
    # fromstring accepts a trailing comma; a count check catches it and any short read.
    if values.size != count or not _strict(data):
        return None
    return values


def _strict(data: bytes) -> bool:
    """Whether every cell of a body of numeric bytes that strtod read is in the grammar."""
    if not any(c in data for c in (b"e", b"E", b"+", b"-", b".", b" ")):
        return True  # digits and separators only: strtod and the grammar agree
    # A cell of spaces only is not an error to fromstring: it reads as -1.0, so
    # bodies with spaces always get the full check (_LOOSE finds cells without digits).
    return _LOOSE.search(data) is None
