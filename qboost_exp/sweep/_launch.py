"""Launching a sweep's batches so that every way of stopping still ends in the summary.

Ctrl-C, SIGTERM (a scheduler or ``kill``) and a launcher that raises (the
submitit launcher does when SLURM kills a job) used to end a sweep without
its summary and leave the parent run RUNNING: Hydra calls
``on_multirun_end`` only when the sweeper returns. :func:`run_launch` turns
each of them into an entry of the sweep's account, ends the sweep itself
(parent KILLED, summary, saved account) and exits with 130 (Ctrl-C),
143 (SIGTERM) or 1.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

from omegaconf import DictConfig

from ..errors import Terminated
from ..tracking import driver_id
from ._jobs import SweepAccount
from ._scheduler import settle_slurm_jobs
from ._summary import exit_with, finish_sweep

#: Exit statuses of a stopped sweep: 128 + the signal's number, as a shell reports it.
CTRL_C_EXIT = 130
SIGTERM_EXIT = 143




@contextmanager
def stopping_on_signals() -> Iterator[None]:
    """SIGTERM raises :class:`~qboost_exp.errors.Terminated` in the main thread (as SIGINT raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_of(exc: BaseException) -> tuple[str | None, str | None, int | None]:
    """What ended a launch early: (how the driver was stopped, or the launcher's error; the exit status, None for an error).

    The basic launcher runs jobs in the driver's process, so a job's own Ctrl-C
    or SIGTERM handling reaches it as ``SystemExit(130 / 143)``.
    """
    if isinstance(exc, Terminated):
        return "terminated (SIGTERM)", None, SIGTERM_EXIT
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)", None, CTRL_C_EXIT
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else 1
        stopped = {SIGTERM_EXIT: "terminated (SIGTERM)", CTRL_C_EXIT: "interrupted (Ctrl-C)"}.get(code)
        return stopped, None if stopped else f"a job ended the launching process (exit status {code})", code or 1
    # The first line: submitit appends the job's whole error stream to its message.
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return None, f"{type(exc).__name__}: {first}"[:500], None


def run_launch(
    config: DictConfig,
    account: SweepAccount,
    launch: Callable[[Sequence[Sequence[str]], int], Sequence[Any]],
    segments: Iterable[tuple[int, Sequence[Sequence[str]]]],
    *,
    uri: str | None,
    parent_run_id: str | None,
    resume_hint: str | None,
) -> list[Sequence[Any]]:
    """Launch each ``(initial_job_idx, batch)`` of ``segments`` with ``launch``, recording every return in ``account``.

    On a normal end the account is saved for the sweep callback, which prints
    the summary; on Ctrl-C, SIGTERM or a launcher error the sweep ends here
    (see the module's docstring). Returns the launcher's results, batch by batch.
    """
    returns: list[Sequence[Any]] = []
    with stopping_on_signals():
        try:
            for start, batch in segments:
                results = launch(batch, start)
                account.take(start, results)
                returns.append(results)
        except (KeyboardInterrupt, SystemExit, Exception) as exc:  # noqa: BLE001 - whatever ended the launch, the jobs it ran are counted
            account.interrupted, account.launcher_error, account.exit_status = stop_of(exc)
    if account.interrupted or account.launcher_error:
        # Jobs on a cluster outlive the launch: end them (a stop) or wait for them (a failed job), then count them.
        with stopping_on_signals():  # Ctrl-C or SIGTERM while waiting cancels them
            settle_slurm_jobs(config, stopped=bool(account.interrupted))
        status = finish_sweep(config, account, account.outcomes(), uri=uri, parent_run_id=parent_run_id, resume_hint=resume_hint)
        exit_with(status or 1)
    account.save(account.outcomes(), pending=True, driver=driver_id(), tracking_uri=uri, parent_run_id=parent_run_id, resume_hint=resume_hint)
    return returns
