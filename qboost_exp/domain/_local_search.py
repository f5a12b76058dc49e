"""A deterministic descent from a sampler's answers: single flips, then single and pair flips.

Run at every QUBO QBoost solves (``local_search`` of the estimator): it never
returns a worse solution than the sampler's best, and escapes most single-flip
minima of a QUBO that penalises the number of selected learners.
"""

from __future__ import annotations

import numpy as np

from ._qubo import QuboMatrix

#: What :func:`local_search` does to a sampler's answers: ``pairs`` (default) descends
#: by the best single or pair flip, ``flips`` by single flips only, ``none`` keeps them.
LOCAL_SEARCHES = ("pairs", "flips", "none")
#: The lowest-energy distinct single-flip minima that the pair-flip descent starts from.
PAIR_DESCENT_STARTS = 30
#: A move must lower the energy by more than this to be taken (energies are O(1)).
IMPROVEMENT = 1e-12
# Elements of the (starts x n x n) pair-move array handled at once.
_PAIR_BLOCK = 1 << 22


def local_search(qubo: QuboMatrix, states: np.ndarray, pairs: bool = True, starts: int = PAIR_DESCENT_STARTS) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic descent from ``states``: distinct local minima, lowest energy first, and their energies.

    Every state descends by the best single-variable flip until none lowers
    the energy. With ``pairs``, the ``starts`` lowest distinct minima then
    descend by the best move among all single and pair flips (a swap of two
    learners, two added, two removed), which escapes most single-flip minima
    of a cardinality-penalised QUBO. Ties go to the lowest variable index, so
    the result depends on the states only.
    """
    upper = qubo.matrix
    linear = upper.diagonal().copy()
    coupling = upper + upper.T
    np.fill_diagonal(coupling, 0.0)
    x = np.unique(np.asarray(states, dtype=np.int8).reshape(-1, upper.shape[0]), axis=0)
    x = _unique(_descend_flips(x, linear, coupling))
    energies = qubo.energies(x)
    order = np.argsort(energies, kind="stable")
    x, energies = x[order], energies[order]
    if pairs and len(x):
        head = _unique(_descend_pairs(x[:starts], linear, coupling))
        x = _unique(np.vstack([head, x]))
        energies = qubo.energies(x)
        order = np.argsort(energies, kind="stable")
        x, energies = x[order], energies[order]
    return x, energies


def _unique(x: np.ndarray) -> np.ndarray:
    return np.unique(x, axis=0) if len(x) > 1 else x


def _descend_flips(x: np.ndarray, linear: np.ndarray, coupling: np.ndarray) -> np.ndarray:
    """Steepest single-flip descent of every row of ``x``, all rows at once."""
    x = x.astype(np.float64)
    field = x @ coupling + linear
    active = np.arange(len(x))
    while len(active):
        delta = (1.0 - 2.0 * x[active]) * field[active]
        j = np.argmin(delta, axis=1)
        go = delta[np.arange(len(active)), j] < -IMPROVEMENT
        active, j = active[go], j[go]
        if len(active):
            step = 1.0 - 2.0 * x[active, j]
            x[active, j] += step
            field[active] += step[:, None] * coupling[j]
    return x.astype(np.int8)


def _descend_pairs(x: np.ndarray, linear: np.ndarray, coupling: np.ndarray) -> np.ndarray:
    """Steepest descent over every single and pair flip, a block of rows at a time."""
    n = x.shape[1]
    x = x.astype(np.float64)
    field = x @ coupling + linear
    block = max(1, _PAIR_BLOCK // max(1, n * n))
    diagonal = np.arange(n)
    for start in range(0, len(x), block):
        active = np.arange(start, min(start + block, len(x)))
        while len(active):
            sign = 1.0 - 2.0 * x[active]
            delta = sign * field[active]
            moves = delta[:, :, None] + delta[:, None, :] + coupling[None] * sign[:, :, None] * sign[:, None, :]
            moves[:, diagonal, diagonal] = delta
            flat = moves.reshape(len(active), -1)
            k = np.argmin(flat, axis=1)
            go = flat[np.arange(len(active)), k] < -IMPROVEMENT
            active, k = active[go], k[go]
            if not len(active):
                break
            i, j = np.divmod(k, n)
            for rows, var in ((active, i), (active[i != j], j[i != j])):
                step = 1.0 - 2.0 * x[rows, var]
                x[rows, var] += step
                field[rows] += step[:, None] * coupling[var]
    return x.astype(np.int8)
