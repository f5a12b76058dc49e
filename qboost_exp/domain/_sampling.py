"""Solving QBoost QUBOs: build, sample, refine, decode into learner weights; one QUBO or a λ path.

The sampler call itself is :mod:`._sampler_call`, the descent
:mod:`._local_search`, what is kept of a sampleset :mod:`._sampleset_summary`,
and what kind of sampler it is (local, QPU, remote) :mod:`._sampler_kind`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import dimod
import numpy as np

from ..errors import QBoostError, SamplerError
from ._local_search import IMPROVEMENT, PAIR_DESCENT_STARTS, local_search
from ._qubo import GramStatistics, penalty_units, qubo_matrix
from ._sampler_call import sample
from ._sampleset_summary import summarize

#: Learners in a QUBO (a window of iterative QBoost) for samplers that state no
#: limit of their own: dense QUBOs of this size anneal in well under a second.
DEFAULT_CLASSICAL_CAPACITY = 100
#: The lowest-energy samples of one sampleset that the local search starts from.
MAX_DESCENT_STARTS = 1024


@dataclass
class Solution:
    """The best assignment of one QUBO, as learner weights, and what the sampler reported."""

    weights: np.ndarray
    energy: float
    n_variables: int
    n_interactions: int
    build_seconds: float
    sampling_seconds: float
    summary: dict[str, Any]


def solve(
    stats: GramStatistics,
    penalty: float | np.ndarray,
    weight_bits: int,
    max_weight: float,
    sampler: dimod.Sampler,
    kwargs: dict[str, Any],
    verbose: int = 0,
    refine: str = "none",
    stop: threading.Event | None = None,
) -> Solution:
    """Build the BQM, sample it, and decode the lowest-energy sample into weights.

    Parameters
    ----------
    stats, weight_bits, max_weight : GramStatistics, int, float
        The QUBO's data, bits per weight and largest weight ``W`` (:func:`~._qubo.qubo_matrix`).
    penalty : float or ndarray
        The energy a selected learner costs (``lam * max_weight``).
    sampler, kwargs : dimod.Sampler, dict
        The sampler and the keyword arguments of its ``sample``.
    verbose : int, default=0
        ``> 0`` reports the reads' progress.
    refine : {"none", "flips", "pairs"}, default="none"
        A deterministic :func:`local_search` from the sampler's answers; the
        best of the answers and their descents is decoded (never worse than
        the sampler's best). ``summary["refined_energy"]`` holds it.
    stop : threading.Event, default=None
        Set by another thread to stop the sampler (see :func:`sample`).

    Returns
    -------
    Solution
    """
    t0 = time.perf_counter()
    qubo = qubo_matrix(stats, penalty, weight_bits, max_weight)
    bqm = _bqm(qubo)
    build_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    sampleset = run_sampler(sampler, bqm, kwargs, verbose, stop)
    states, energies, exhaustive = states_of(sampleset, qubo.layout.n_variables, limit=MAX_DESCENT_STARTS)
    summary = summarize(sampleset)
    first = int(np.argmin(energies))
    best, energy = states[first], float(energies[first])
    if refine != "none" and not exhaustive:  # an exhaustive answer holds the minimum already
        refined, energies = local_search(qubo, states, pairs=refine == "pairs")
        if energies[0] < energy - IMPROVEMENT:
            best, energy = refined[0], float(energies[0])
        summary["refined_energy"] = energy
    sampling_seconds = time.perf_counter() - t0
    return Solution(
        weights=qubo.layout.weights(best),
        energy=energy,
        n_variables=bqm.num_variables,
        n_interactions=bqm.num_interactions,
        build_seconds=build_seconds,
        sampling_seconds=sampling_seconds,
        summary=summary,
    )


def _bqm(qubo: Any) -> dimod.BinaryQuadraticModel:
    """The QUBO matrix as the BQM a sampler takes (upper-triangular couplings, the offset kept)."""
    bqm = dimod.BinaryQuadraticModel(qubo.matrix, "BINARY")
    bqm.offset = qubo.offset
    return bqm


def run_sampler(
    sampler: dimod.Sampler,
    bqm: dimod.BinaryQuadraticModel,
    kwargs: dict[str, Any],
    verbose: int = 0,
    stop: threading.Event | None = None,
) -> dimod.SampleSet:
    """:func:`sample`, with a sampler's failure turned into one :class:`SamplerError` and an empty answer refused."""
    try:
        sampleset = sample(sampler, bqm, kwargs, verbose, stop)
    except (QBoostError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise SamplerError(
            f"{type(sampler).__name__} failed on a QUBO of {bqm.num_variables} variables and "
            f"{bqm.num_interactions} interactions: {type(exc).__name__}: {exc}"
        ) from exc
    if len(sampleset) == 0:
        raise SamplerError(f"{type(sampler).__name__} returned no samples")
    return sampleset


def states_of(sampleset: dimod.SampleSet, n_variables: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """The samples as 0/1 ``int8`` rows over variables ``0 .. n_variables - 1``, their energies, and
    whether the sampleset holds every one of the ``2**n`` states (an exhaustive solver's answer).

    With ``limit``, only the ``limit`` lowest-energy records are converted
    (not when the answer is exhaustive: every state is then kept).
    """
    record = sampleset.record
    exhaustive = n_variables < 63 and len(record) == 2**n_variables
    rows = slice(None) if limit is None or exhaustive or len(record) <= limit else np.argsort(record.energy, kind="stable")[:limit]
    order = [sampleset.variables.index(v) for v in range(n_variables)]
    states = np.asarray(record.sample[rows][:, order], dtype=np.int8)
    if sampleset.vartype is dimod.SPIN:
        states = ((states + 1) // 2).astype(np.int8)
    return states, np.asarray(record.energy[rows], dtype=np.float64), exhaustive


@dataclass
class PathSolution:
    """The best assignment found for one penalty of a λ path (see :func:`solve_path`)."""

    weights: np.ndarray
    energy: float
    state: np.ndarray  # 0/1 over the QUBO's variables


def solve_path(
    stats: GramStatistics,
    penalties: Sequence[float],
    weight_bits: int,
    max_weight: float,
    draw_at: Sequence[int],
    draw: Callable[[dimod.BinaryQuadraticModel], dimod.SampleSet],
    refine: str = "pairs",
) -> tuple[list[PathSolution], int]:
    """The QUBOs of one Gram statistics and largest weight at every penalty, from a few sampler calls.

    The penalty enters the energy linearly (:func:`~._qubo.penalty_units`),
    so a sample drawn at one penalty is re-scored exactly at every other.
    The sampler is called (``draw``) only at the penalties ``penalties[i]``
    for ``i`` in ``draw_at``, and all its answers form one pool. Then, for
    each penalty in increasing order, the pool re-scored at that penalty is
    the set of candidates: with ``refine`` (``"flips"`` or ``"pairs"``) they
    descend by :func:`local_search` at that penalty, together with the
    previous penalty's best (a warm start along the path), and the minima
    found join the pool; a backward pass then starts each penalty's descent
    from the next one's best as well. Drawing stops early once the pool holds
    all ``2**n`` states (an exhaustive solver): every penalty's minimum is then exact.

    Returns the best solution of each penalty (in the order of ``penalties``)
    and the number of sampler calls made.
    """
    qubos = [qubo_matrix(stats, p, weight_bits, max_weight) for p in penalties]
    pool, calls = _draw_pool(qubos, penalties, draw_at, draw)
    order = np.argsort(np.asarray(penalties, dtype=np.float64), kind="stable")
    layout = qubos[0].layout
    best: list[PathSolution] = [None] * len(penalties)  # type: ignore[list-item]
    previous: np.ndarray | None = None
    states = pool.states
    for k in order:
        if pool.exhaustive or refine == "none":
            energies = pool.zero + float(penalties[k]) * pool.units
            j = int(np.argmin(energies))
            state, energy = states[j], float(energies[j])
        else:
            starts = states if previous is None else np.vstack([states, previous[None]])
            found, energies = local_search(qubos[k], starts, pairs=refine == "pairs")
            state, energy = found[0], float(energies[0])
            states = np.unique(np.vstack([states, found[:PAIR_DESCENT_STARTS]]), axis=0)  # minima serve the next penalties
        best[k] = PathSolution(weights=layout.weights(state), energy=energy, state=state)
        previous = state
    if not pool.exhaustive and refine != "none":
        _descend_backwards(qubos, order, best, refine)
    return best, calls


@dataclass
class _Pool:
    """The distinct states a λ path's sampler calls returned, and how to re-score them at any penalty.

    The energy at penalty ``p`` is ``zero + p * units`` (the penalty enters linearly).
    """

    states: np.ndarray
    zero: np.ndarray
    units: np.ndarray
    exhaustive: bool


def _draw_pool(qubos: list, penalties: Sequence[float], draw_at: Sequence[int], draw: Callable) -> tuple[_Pool, int]:
    """The sampler's answers at ``penalties[i]`` for ``i`` in ``draw_at``, as one pool; and the calls made."""
    layout = qubos[0].layout
    pools, calls = [], 0
    for i in draw_at:
        states, energies, exhaustive = states_of(draw(_bqm(qubos[i])), layout.n_variables, limit=MAX_DESCENT_STARTS)
        calls += 1
        if exhaustive:  # every state, with its energy at penalties[i]: re-score them all
            units = penalty_units(states, layout)
            return _Pool(states, energies - float(penalties[i]) * units, units, True), calls
        pools.append(states)
    pool = np.unique(np.vstack(pools), axis=0)
    units = penalty_units(pool, layout)
    zero = qubos[0].energies(pool) - float(penalties[0]) * units  # E at penalty 0: every pool energy re-scores from it
    return _Pool(pool, zero, units, False), calls


def _descend_backwards(qubos: list, order: np.ndarray, best: list[PathSolution], refine: str) -> None:
    """Start each penalty's descent from the next larger penalty's best too; keep what improves."""
    layout = qubos[0].layout
    for pos in range(len(order) - 2, -1, -1):
        k, after = order[pos], best[order[pos + 1]]
        found, energies = local_search(qubos[k], after.state[None], pairs=refine == "pairs")
        if energies[0] < best[k].energy - IMPROVEMENT:
            best[k] = PathSolution(weights=layout.weights(found[0]), energy=float(energies[0]), state=found[0])


