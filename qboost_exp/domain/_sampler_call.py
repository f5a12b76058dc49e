"""One call of a sampler: stoppable with Ctrl-C, in batches where that helps, with progress.

How a call runs depends on the sampler's kind (:mod:`._sampler_kind`): a
remote solver gets one call; the QPU path run here (the mock QPU) one call in
an interruptible worker thread; local samplers their reads in batches.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

import dimod

from .._seeds import MAX_SEED
from ._sampler_kind import sampler_kind
from ._sampleset_summary import sum_timings


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
    kind = sampler_kind(sampler)
    if "num_reads" in accepted and kind != "remote":
        if kind == "qpu":  # the mock QPU: one call, as a QPU gets, in an interruptible worker thread
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
