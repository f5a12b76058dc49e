"""Stratified, seeded train/validation/test splitting.

Each class is spread over the splits in proportion to the split sizes, with
every per-class count rounded to the floor or the ceiling of its exact share
(so each split's class ratio is within one sample of the whole data set).
Finding such a rounding whose rows and columns still add up is a small
matrix-rounding problem, solved exactly in :func:`_round_table`.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any, Mapping

import numpy as np

from ..errors import DataError

DEFAULTS = {"test_size": 0.25, "validation_size": 0.15}


def split_fractions(split: Mapping[str, Any]) -> tuple[float, float]:
    """Validate the ``split`` config and return ``(test_size, validation_size)``.

    Parameters
    ----------
    split : mapping
        ``test_size`` and ``validation_size``: fractions of the whole data
        set, each in [0, 1) with a sum below 1. Missing keys take the
        defaults 0.25 and 0.15.

    Raises
    ------
    DataError
        On an unknown key or a fraction out of range.
    """
    unknown = sorted(set(split) - set(DEFAULTS))
    if unknown:
        raise DataError(f"split: unknown key(s) {', '.join(unknown)}; the keys are test_size and validation_size")
    sizes = {**DEFAULTS, **split}
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
            raise DataError(f"split.{key} must be a fraction of the data set in [0, 1), got {value!r}")
    test, val = float(sizes["test_size"]), float(sizes["validation_size"])
    if test + val >= 1:
        raise DataError(
            f"split.test_size + split.validation_size must be below 1 to leave training data, got {test} + {val} = {test + val:g}"
        )
    return test, val


def stratified_split(
    y: np.ndarray, test_size: float, validation_size: float, seed: int, source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of a stratified, seeded train/validation/test split.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels.
    test_size, validation_size : float
        Fractions of ``n_samples`` in [0, 1); a split with a positive
        fraction gets at least one sample.
    seed : int
        The same seed gives the same split.
    source : str
        Where the data came from, named in error messages.

    Returns
    -------
    train, validation, test : ndarray of int
        Disjoint indices covering ``range(n_samples)``, each in random order.

    Raises
    ------
    DataError
        If a class has too few samples to be split, or the training split
        would miss a class.
    """
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    table = _class_table(classes, counts, test_size, validation_size, source)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for k, (n_test, n_val, _) in enumerate(table):
        members = rng.permutation(np.flatnonzero(inverse == k))
        parts[0].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[2].append(members[n_test + n_val :])
    # Shuffle within each split so classes are interleaved, not in blocks.
    test, val, train = (rng.permutation(np.concatenate(p)).astype(np.intp) for p in parts)
    return train, val, test


def _class_table(classes: np.ndarray, counts: np.ndarray, test_size: float, validation_size: float, source: str) -> list:
    """Per class, its ``[test, validation, train]`` sample counts; DataError where a split cannot be made."""
    n = int(counts.sum())
    sizes = [_size(test_size, n), _size(validation_size, n)]
    sizes.append(n - sum(sizes))  # train takes the rest
    if sizes[2] < len(classes):
        raise DataError(
            f"{source}: {n} samples are too few for test_size={test_size} and validation_size={validation_size}: "
            f"the training split would get {max(sizes[2], 0)} samples for {len(classes)} classes; add data or use a smaller split"
        )
    if sizes[0] or sizes[1]:
        k = int(np.argmin(counts))
        if counts[k] < 2:
            raise DataError(
                f"{source}: class {classes[k].item()!r} has only {counts[k]} sample; a stratified split needs at least 2 "
                "samples of every class: add data of that class, or use a smaller split (test_size/validation_size 0)"
            )
    table = _round_table([[Fraction(int(c) * s, n) for s in sizes] for c in counts])
    for k, row in enumerate(table):
        if row[2] == 0:
            raise DataError(
                f"{source}: the training split would hold no sample of class {classes[k].item()!r} "
                f"({counts[k]} of {n} samples); add data of that class or use a smaller test_size/validation_size"
            )
    return table


def _size(fraction: float, n: int) -> int:
    return max(1, round(fraction * n)) if fraction > 0 else 0


def _round_table(table: list[list[Fraction]]) -> list[list[int]]:
    """Round each entry to its floor or ceiling, keeping every row and column sum.

    The row and column sums must be integers. While fractional entries remain,
    each row or column holding one holds at least two, so walking along them
    finds a cycle; shifting the cycle's entries by +d, -d, +d, ... keeps all
    sums and, for the largest allowed d, makes at least one entry integral.
    An entry only moves inside its current unit interval and stops moving once
    integral, so it ends at the floor or the ceiling of its start value.
    """
    a = [row[:] for row in table]
    n_rows, n_cols = len(a), len(a[0])

    def fractional(r: int, c: int) -> bool:
        return a[r][c].denominator != 1

    while True:
        start = next((r for r in range(n_rows) for c in range(n_cols) if fractional(r, c)), None)
        if start is None:
            return [[int(v) for v in row] for row in a]
        # Nodes are ("r", i) and ("c", j); an edge is a fractional cell (i, j).
        node: tuple[str, int] = ("r", start)
        seen = {node: 0}
        edges: list[tuple[int, int]] = []
        previous = None
        while True:
            kind, i = node
            if kind == "r":
                edge = next((i, j) for j in range(n_cols) if fractional(i, j) and (i, j) != previous)
                node = ("c", edge[1])
            else:
                edge = next((r, i) for r in range(n_rows) if fractional(r, i) and (r, i) != previous)
                node = ("r", edge[0])
            edges.append(edge)
            previous = edge
            if node in seen:
                cycle = edges[seen[node] :]
                break
            seen[node] = len(edges)
        up, down = cycle[0::2], cycle[1::2]
        d = min([math.ceil(a[r][c]) - a[r][c] for r, c in up] + [a[r][c] - math.floor(a[r][c]) for r, c in down])
        for r, c in up:
            a[r][c] += d
        for r, c in down:
            a[r][c] -= d
