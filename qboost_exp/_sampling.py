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
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import dimod
import numpy as np

from ._qubo import GramStatistics, QuboLayout, build_bqm
from ._seeds import MAX_SEED
from .errors import QBoostError, SamplerError

#: Learners in a QUBO (a window of iterative QBoost) for samplers that state no
#: limit of their own: dense QUBOs of this size anneal in well under a second.
DEFAULT_CLASSICAL_CAPACITY = 100
#: Distinct samples a summary keeps (the lowest energies).
SUMMARY_MAX_SAMPLES = 4096


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

    Returns
    -------
    Solution
    """
    t0 = time.perf_counter()
    bqm, layout = build_bqm(stats, penalty, weight_bits, max_weight)
    build_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        sampleset = sample(sampler, bqm, kwargs, verbose)
    except (QBoostError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise SamplerError(
            f"{type(sampler).__name__} failed on a QUBO of {bqm.num_variables} variables and "
            f"{bqm.num_interactions} interactions: {type(exc).__name__}: {exc}"
        ) from exc
    sampling_seconds = time.perf_counter() - t0
    if len(sampleset) == 0:
        raise SamplerError(f"{type(sampler).__name__} returned no samples")
    return Solution(
        weights=_decode(sampleset, layout),
        energy=float(sampleset.first.energy),
        n_variables=bqm.num_variables,
        n_interactions=bqm.num_interactions,
        build_seconds=build_seconds,
        sampling_seconds=sampling_seconds,
        summary=summarize(sampleset),
    )


def _decode(sampleset: dimod.SampleSet, layout: QuboLayout) -> np.ndarray:
    best = sampleset.first.sample
    return layout.weights(np.array([best[v] for v in range(layout.n_variables)]))


def sample(sampler: dimod.Sampler, bqm: dimod.BinaryQuadraticModel, kwargs: dict[str, Any], verbose: int = 0) -> dimod.SampleSet:
    """``sampler.sample(bqm, **kwargs)``, stoppable with Ctrl-C and reporting progress.

    Python delivers SIGINT only between bytecodes, so a sampler looping in
    compiled code would ignore Ctrl-C until it is done. Two ways around it:

    * samplers that take an ``interrupt_function`` (dwave-samplers' annealer)
      call it between reads: a SIGINT handler sets a flag, the sampler stops
      at the next read, and KeyboardInterrupt is raised once it has returned;
    * other local samplers that take ``num_reads`` (tabu, steepest descent,
      the mock QPU) run their reads in batches of about a second, each in a
      worker thread (their compiled loops release the GIL) that the main
      thread waits for, so KeyboardInterrupt arrives at once, even inside a
      read of tabu's ``timeout``. The interrupted read finishes in its daemon
      thread, or ends with the process.

    Both report ``reads done / total`` with an ETA when ``verbose``. Remote
    samplers (a QPU, the hybrid solver) get one call: a cloud job is already
    interruptible while Python waits for it, and splitting it would cost
    QPU access time.
    """
    accepted = getattr(sampler, "parameters", None) or {}
    total = int(kwargs.get("num_reads") or 1)
    progress = _ReadProgress(total, verbose)
    main_thread = threading.current_thread() is threading.main_thread()
    if "interrupt_function" in accepted and "interrupt_function" not in kwargs and main_thread:
        with _sigint_flag() as hit:

            def interrupt() -> bool:
                progress.tick()
                return hit.is_set()

            sampleset = sampler.sample(bqm, **kwargs, interrupt_function=interrupt)
            sampleset.resolve()
        if hit.is_set():
            raise KeyboardInterrupt
        return sampleset
    if "num_reads" in accepted and not is_remote(sampler):
        return _sample_in_batches(sampler, bqm, kwargs, total, progress)
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
    sampler: dimod.Sampler, bqm: dimod.BinaryQuadraticModel, kwargs: dict[str, Any], total: int, progress: "_ReadProgress"
) -> dimod.SampleSet:
    """The reads in batches sized to take about a second; batch ``k`` uses seed ``seed + k``."""
    seed = kwargs.get("seed")
    done, batch, parts = 0, 1, []
    while done < total:
        size = min(batch, total - done)
        call = {**kwargs, "num_reads": size}
        if seed is not None:
            call["seed"] = (int(seed) + len(parts)) % MAX_SEED
        t0 = time.perf_counter()
        part = _in_worker_thread(lambda: _resolved(sampler.sample(bqm, **call)))
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


def _in_worker_thread(work: Any) -> Any:
    """``work()`` in a daemon thread; the caller waits in short, interruptible steps."""
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
