"""Running a sampler on one QBoost QUBO: interruptible, with progress, and with a plain summary.

Everything the estimator keeps from a sampleset is plain Python and numpy
(:func:`summarize`): Ocean objects such as an embedding context refuse to be
pickled or unpickled, and a fitted model must load anywhere.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import dimod
import numpy as np

from ._qubo import GramStatistics, QuboMatrix, penalty_units, qubo_matrix
from .._seeds import MAX_SEED
from ..errors import QBoostError, SamplerError

#: Learners in a QUBO (a window of iterative QBoost) for samplers that state no
#: limit of their own: dense QUBOs of this size anneal in well under a second.
DEFAULT_CLASSICAL_CAPACITY = 100
#: Distinct samples a summary keeps (the lowest energies).
SUMMARY_MAX_SAMPLES = 4096
#: What :func:`local_search` does to a sampler's answers: ``pairs`` (default) descends
#: by the best single or pair flip, ``flips`` by single flips only, ``none`` keeps them.
LOCAL_SEARCHES = ("pairs", "flips", "none")
#: The lowest-energy distinct single-flip minima that the pair-flip descent starts from.
PAIR_DESCENT_STARTS = 30
#: The lowest-energy samples of one sampleset that the local search starts from.
MAX_DESCENT_STARTS = 1024
# A move must lower the energy by more than this to be taken (energies are O(1)).
_IMPROVEMENT = 1e-12
# Elements of the (starts x n x n) pair-move array handled at once.
_PAIR_BLOCK = 1 << 22


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
    stats : GramStatistics
    penalty : float or ndarray
        The energy a selected learner costs (``lam * max_weight``), see :func:`~._qubo.build_bqm`.
    weight_bits : int
    max_weight : float
        The largest weight ``W``.
    sampler : dimod.Sampler
    kwargs : dict
        Keyword arguments of ``sampler.sample``.
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
    bqm = dimod.BinaryQuadraticModel(qubo.matrix, "BINARY")
    bqm.offset = qubo.offset
    build_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    sampleset = run_sampler(sampler, bqm, kwargs, verbose, stop)
    states, energies, exhaustive = states_of(sampleset, qubo.layout.n_variables, limit=MAX_DESCENT_STARTS)
    summary = summarize(sampleset)
    first = int(np.argmin(energies))
    best, energy = states[first], float(energies[first])
    if refine != "none" and not exhaustive:  # an exhaustive answer holds the minimum already
        refined, energies = local_search(qubo, states, pairs=refine == "pairs")
        if energies[0] < energy - _IMPROVEMENT:
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
        go = delta[np.arange(len(active)), j] < -_IMPROVEMENT
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
            go = flat[np.arange(len(active)), k] < -_IMPROVEMENT
            active, k = active[go], k[go]
            if not len(active):
                break
            i, j = np.divmod(k, n)
            for rows, var in ((active, i), (active[i != j], j[i != j])):
                step = 1.0 - 2.0 * x[rows, var]
                x[rows, var] += step
                field[rows] += step[:, None] * coupling[var]
    return x.astype(np.int8)


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
    layout = qubos[0].layout
    n = layout.n_variables
    pools, calls = [], 0
    for i in draw_at:
        bqm = dimod.BinaryQuadraticModel(qubos[i].matrix, "BINARY")
        bqm.offset = qubos[i].offset
        states, energies, exhaustive = states_of(draw(bqm), n, limit=MAX_DESCENT_STARTS)
        calls += 1
        if exhaustive:  # every state, with its energy at penalties[i]: re-score them all
            units = penalty_units(states, layout)
            zero, pool = energies - float(penalties[i]) * units, states
            break
        pools.append(states)
    else:
        pool = np.unique(np.vstack(pools), axis=0)
        units = penalty_units(pool, layout)
        zero = qubos[0].energies(pool) - float(penalties[0]) * units  # E at penalty 0: every pool energy re-scores from it
    order = np.argsort(np.asarray(penalties, dtype=np.float64), kind="stable")
    best: list[PathSolution | None] = [None] * len(penalties)
    previous: np.ndarray | None = None
    for k in order:
        if exhaustive or refine == "none":
            energies = zero + float(penalties[k]) * units
            j = int(np.argmin(energies))
            state, energy = pool[j], float(energies[j])
        else:
            starts = pool if previous is None else np.vstack([pool, previous[None]])
            found, energies = local_search(qubos[k], starts, pairs=refine == "pairs")
            state, energy = found[0], float(energies[0])
            pool = np.unique(np.vstack([pool, found[:PAIR_DESCENT_STARTS]]), axis=0)  # minima serve the next penalties
        best[k] = PathSolution(weights=layout.weights(state), energy=energy, state=state)
        previous = state
    if not exhaustive and refine != "none":
        for pos in range(len(order) - 2, -1, -1):
            k, after = order[pos], best[order[pos + 1]]
            found, energies = local_search(qubos[k], after.state[None], pairs=refine == "pairs")
            if energies[0] < best[k].energy - _IMPROVEMENT:
                best[k] = PathSolution(weights=layout.weights(found[0]), energy=float(energies[0]), state=found[0])
    return [b for b in best if b is not None], calls


def sample(
    sampler: dimod.Sampler,
    bqm: dimod.BinaryQuadraticModel,
    kwargs: dict[str, Any],
    verbose: int = 0,
    stop: threading.Event | None = None,
) -> dimod.SampleSet:
    """``sampler.sample(bqm, **kwargs)``, stoppable with Ctrl-C and reporting progress.

    Python delivers SIGINT only between bytecodes, so a sampler looping in
    compiled code would ignore Ctrl-C until it is done. Two ways around it:

    * samplers that take an ``interrupt_function`` (dwave-samplers' annealer)
      call it between reads: a SIGINT handler sets a flag, the sampler stops
      at the next read, and KeyboardInterrupt is raised once it has returned;
    * other local samplers that take ``num_reads`` (tabu, steepest descent)
      run their reads in batches of about a second, each in a worker thread
      (their compiled loops release the GIL) that the main thread waits for,
      so KeyboardInterrupt arrives at once, even inside a read of tabu's
      ``timeout``. The interrupted read finishes in its daemon thread, or
      ends with the process. The mock QPU gets one call, as a QPU does
      (:func:`is_qpu_path`), in such a worker thread.

    Outside the main thread (the search's worker threads) SIGINT cannot be
    caught; there ``stop``, an event the main thread sets on Ctrl-C, plays the
    flag's part: the annealer stops at its next read, batched samplers after
    their current batch, and KeyboardInterrupt is raised in the worker.

    Both report ``reads done / total`` with an ETA when ``verbose``. Remote
    samplers (a QPU, the hybrid solver) get one call: a cloud job is already
    interruptible while Python waits for it, and splitting it would cost
    QPU access time.
    """
    accepted = getattr(sampler, "parameters", None) or {}
    total = int(kwargs.get("num_reads") or 1)
    progress = _ReadProgress(total, verbose)
    main_thread = threading.current_thread() is threading.main_thread()
    if "interrupt_function" in accepted and "interrupt_function" not in kwargs and (main_thread or stop is not None):
        with (_sigint_flag() if main_thread else nullcontext(stop)) as hit:

            def interrupt() -> bool:
                progress.tick()
                return hit.is_set()

            sampleset = sampler.sample(bqm, **kwargs, interrupt_function=interrupt)
            sampleset.resolve()
        if hit.is_set():
            raise KeyboardInterrupt
        return sampleset
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt
    if "num_reads" in accepted and not is_remote(sampler):
        if is_qpu_path(sampler):  # the mock QPU: one call, as a QPU gets, in an interruptible worker thread
            sampleset = _in_worker_thread(lambda: _resolved(sampler.sample(bqm, **kwargs)), stop)
            progress.tick(total)
            return sampleset
        return _sample_in_batches(sampler, bqm, kwargs, total, progress, stop)
    sampleset = sampler.sample(bqm, **kwargs)
    sampleset.resolve()
    return sampleset


@contextmanager
def _sigint_flag() -> Iterator[threading.Event]:
    hit = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: hit.set())
    try:
        yield hit
    finally:
        signal.signal(signal.SIGINT, previous)


_BATCH_SECONDS = 1.0


def _sample_in_batches(
    sampler: dimod.Sampler,
    bqm: dimod.BinaryQuadraticModel,
    kwargs: dict[str, Any],
    total: int,
    progress: "_ReadProgress",
    stop: threading.Event | None = None,
) -> dimod.SampleSet:
    """The reads in batches sized to take about a second; batch ``k`` uses seed ``seed + k``."""
    seed = kwargs.get("seed")
    done, batch, parts = 0, 1, []
    while done < total:
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        size = min(batch, total - done)
        call = {**kwargs, "num_reads": size}
        if seed is not None:
            call["seed"] = (int(seed) + len(parts)) % MAX_SEED
        t0 = time.perf_counter()
        part = _in_worker_thread(lambda: _resolved(sampler.sample(bqm, **call)), stop)
        elapsed = time.perf_counter() - t0
        parts.append(part)
        done += size
        progress.tick(size)
        per_read = elapsed / size
        batch = max(1, int(_BATCH_SECONDS / per_read)) if per_read > 0 else total
    if len(parts) == 1:
        return parts[0]
    merged = dimod.concatenate(parts)
    merged.info.update(_merge_info([p.info for p in parts]))
    return merged


def _resolved(sampleset: dimod.SampleSet) -> dimod.SampleSet:
    sampleset.resolve()
    return sampleset


def _in_worker_thread(work: Any, stop: threading.Event | None = None) -> Any:
    """``work()`` in a daemon thread; the caller waits in short, interruptible steps.

    In the main thread Ctrl-C arrives as KeyboardInterrupt between two steps;
    in a worker thread (the search's) the main thread sets ``stop`` instead,
    and the wait ends the same way. The interrupted call finishes in its
    daemon thread, or ends with the process.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="qboost-sampler", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _merge_info(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """The first batch's info, with the timing of every batch added up."""
    out = dict(infos[0])
    timings = [i["timing"] for i in infos if isinstance(i.get("timing"), dict)]
    if timings:
        out["timing"] = sum_timings(timings)
    return out


def sum_timings(timings: list[dict[str, Any]]) -> dict[str, Any]:
    """Timing dicts of several QPU calls as one: totals add up, ``*_per_sample`` entries are averaged."""
    out: dict[str, Any] = {}
    for key, value in timings[-1].items():
        values = [t[key] for t in timings if isinstance(t.get(key), (int, float))]
        if not isinstance(value, (int, float)) or not values:
            out[key] = value
        elif key.endswith("_per_sample"):
            out[key] = sum(values) / len(values)
        else:
            out[key] = sum(values)
    return out


def is_remote(sampler: Any) -> bool:
    """Whether ``sampler`` (or a child of its composites) is a D-Wave cloud solver."""
    system = sys.modules.get("dwave.system")
    if system is None:  # nothing from dwave.system has been built
        return False
    remote = tuple(
        cls for cls in (getattr(system, name, None) for name in ("DWaveSampler", "LeapHybridSampler")) if isinstance(cls, type)
    )
    seen = 0
    while sampler is not None and seen < 16:
        if remote and isinstance(sampler, remote):
            return True
        sampler = getattr(sampler, "child", None)
        seen += 1
    return False


def is_qpu_path(sampler: Any) -> bool:
    """Whether ``sampler`` is a QPU path: a cloud solver (:func:`is_remote`), or dwave-system's mock QPU
    (or an embedding composite) anywhere among its composites' children.

    On a QPU path each sampler call costs access time (or stands in for a call
    that would), so the λ search makes one call per (split, largest weight).
    """
    if is_remote(sampler):
        return True
    classes = []
    for module, names in (("dwave.system.testing", ("MockDWaveSampler",)), ("dwave.system", ("EmbeddingComposite",))):
        loaded = sys.modules.get(module)
        classes += [c for c in (getattr(loaded, n, None) for n in names) if isinstance(c, type)]
    seen = 0
    while sampler is not None and seen < 16:
        if (classes and isinstance(sampler, tuple(classes))) or getattr(type(sampler), "largest_clique_size", None) is not None:
            return True
        sampler = getattr(sampler, "child", None)
        seen += 1
    return False


def capacity(sampler: Any) -> int | None:
    """The most QUBO variables ``sampler`` takes, where it states a limit.

    The clique-embedding QPU samplers report their largest clique
    (``largest_clique_size``); the bounded exact solver its ``max_variables``.
    """
    for key in ("largest_clique_size", "max_variables"):
        value = getattr(sampler, key, None)
        if value is None:
            value = (getattr(sampler, "properties", None) or {}).get(key)
        if value is not None:
            return int(value)
    return None


class _ReadProgress:
    """Prints ``reads done / total`` with an ETA, at most every few seconds."""

    EVERY_SECONDS = 5.0

    def __init__(self, total: int, verbose: int) -> None:
        self.total, self.verbose = total, verbose
        self.done = 0
        self.start = self.last = time.perf_counter()

    def tick(self, reads: int = 1) -> None:
        self.done += reads
        now = time.perf_counter()
        if self.verbose and now - self.last >= self.EVERY_SECONDS and self.done < self.total:
            self.last = now
            elapsed = now - self.start
            eta = elapsed / self.done * (self.total - self.done)
            print(f"  sampling: {self.done}/{self.total} reads, {elapsed:.0f} s elapsed, ETA {eta:.0f} s", flush=True)


def summarize(sampleset: dimod.SampleSet) -> dict[str, Any]:
    """What a fitted model keeps of a sampleset: plain numbers and arrays only.

    Keys: ``energies`` and ``num_occurrences`` (one entry per distinct sample,
    the ``SUMMARY_MAX_SAMPLES`` lowest),
    ``num_reads``, ``chain_break_fraction`` (the read-weighted mean, where the
    sampler embeds), ``max_chain_length``, ``qubits`` and ``chain_strength``
    (from the embedding context), ``timing`` (``sampleset.info["timing"]``,
    on QPU paths) and ``problem_id`` / ``problem_label`` where given.
    """
    record = sampleset.record
    # The lowest-energy distinct samples only: an exact solver returns all 2**n states.
    keep = np.argsort(record.energy, kind="stable")[:SUMMARY_MAX_SAMPLES]
    out: dict[str, Any] = {
        "energies": np.asarray(record.energy[keep], dtype=np.float64),
        "num_occurrences": np.asarray(record.num_occurrences[keep], dtype=np.int64),
        "num_reads": int(record.num_occurrences.sum()),
    }
    if "chain_break_fraction" in record.dtype.names:
        out["chain_break_fraction"] = float(np.average(record.chain_break_fraction, weights=record.num_occurrences))
    info = sampleset.info
    context = info.get("embedding_context") or {}
    if "embedding" in context:
        lengths = [len(chain) for chain in context["embedding"].values()]
        out["max_chain_length"] = max(lengths)
        out["qubits"] = sum(lengths)
        strength = context.get("chain_strength")
        out["chain_strength"] = float(strength) if isinstance(strength, (int, float, np.number)) else None
    if isinstance(info.get("timing"), dict):
        out["timing"] = {str(k): _plain(v) for k, v in info["timing"].items()}
    for key in ("problem_id", "problem_label"):
        if key in info:
            out[key] = str(info[key])
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
