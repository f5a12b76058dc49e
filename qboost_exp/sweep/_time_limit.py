"""A sweep job at its SLURM time limit: reported KILLED with the reason, and left for SLURM to end (sacct: TIMEOUT).

submitit asks SLURM for a warning signal (``--signal=USR2@<signal_delay_s>``)
before the time limit. Its handler requeues a checkpointable job while the
launcher's ``max_num_timeout`` allows, else raises ``UncompletedJobError``
wherever the job happens to be: inside training, where it would read as a
crash. :func:`watch_time_limit` wraps that handler so that the job instead

- records itself KILLED, with the reason, in the sweep directory (the
  driver's summary counts it even if nothing else reaches the store);
- unwinds as for Ctrl-C (:class:`~qboost_exp.errors.TimeLimit` is a
  KeyboardInterrupt), so its MLflow run ends KILLED with the reason;
- then waits for SLURM to end it at the limit, so that SLURM's accounting
  says TIMEOUT, as it does for any job that runs out of time (this holds
  the allocation for at most ``signal_delay_s``, 120 s by default; a
  smaller ``hydra.launcher.signal_delay_s`` shortens it).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import time
from typing import Any, Callable

from ..errors import TimeLimit
from ._jobs import scheduler_job

#: Longest wait for SLURM to end a job past its warning signal, should the limit never come (a scheduler that only warns).
_LONGEST_WAIT = 15 * 60


def watch_time_limit(on_limit: Callable[[str], None]) -> bool:
    """In a submitit job, turn its time-limit signal into :class:`TimeLimit` after ``on_limit(reason)``; False elsewhere."""
    if not os.environ.get("SUBMITIT_FOLDER") or "submitit" not in sys.modules:
        return False
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")  # submitit's own variable for the signal it asks for
    signum = getattr(signal, f"SIG{name}", None)
    if signum is None:
        return False
    submitit_handler = signal.getsignal(signum)
    if not callable(submitit_handler):
        return False

    def handler(number: int, frame: Any) -> None:
        try:
            submitit_handler(number, frame)  # requeues (and exits) while the launcher's max_num_timeout allows
        except Exception as exc:  # noqa: BLE001 - only submitit's "not requeued" error is ours to translate
            if type(exc).__name__ != "UncompletedJobError":
                raise
            slurm_job = scheduler_job()
            reason = "stopped at SLURM's time limit (hydra.launcher.timeout_min)" + (f", job {slurm_job}" if slurm_job else "")
            on_limit(reason)
            if slurm_job:
                atexit.register(_await_scheduler)
            raise TimeLimit(reason) from None

    signal.signal(signum, handler)
    return True


def _await_scheduler() -> None:
    """Sleep until SLURM ends the job at its limit (it sends SIGTERM, which submitit ignores, then SIGKILL)."""
    sys.stdout.flush()
    sys.stderr.flush()
    deadline = time.monotonic() + _LONGEST_WAIT
    while time.monotonic() < deadline:
        time.sleep(5)
