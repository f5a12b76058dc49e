"""Hydra multirun <-> MLflow: one parent run per sweep, one nested child run per job, every job accounted for.

- :class:`MLflowSweepCallback` (``hydra.callbacks.mlflow_sweep``): the
  tracking store before any job, the jobs' records, the summary at the end.
- The jobs' outcomes (:class:`SweepAccount`, :class:`JobOutcome`): counted
  from what the launcher returned and what each job recorded in the sweep
  directory, never from the store alone, so that a job that failed before
  its run existed, was killed, or never started counts too.
- The parent run (:func:`open_parent`, :func:`reopen_parent`,
  :func:`close_abandoned`, ...): sweepers that know whether and what they
  will run (our grid sweeper, ``hydra/sweeper=basic``, and our Optuna
  sweeper) declare ``opens_parent_run = True`` and open it themselves
  (through their :class:`SweepSession`).
- :class:`SweepSession`: one launch of a sweep by one of our sweepers: it
  claims the sweep directory, resumes an earlier launch or opens the parent
  run, and launches the sweeper's batches (:class:`JobBatches`) through
  :func:`run_launch`, so that Ctrl-C, SIGTERM or a launcher error still ends
  in the summary, with the parent run KILLED and what finished recorded.
  The sweeper only gives its next batch of jobs and takes their results.

This package is orchestration (above tracking and compare; it uses only their
public APIs). What a job or the callback needs to know travels explicitly:
the config, the parent run's tags, the records in the sweep directory; never
module globals or environment variables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("MLflowSweepCallback", "outcomes_from"), "._callback"),
    **dict.fromkeys(
        (
            "ACCOUNT_FILE", "EARLIER", "FAILED", "FINISHED", "JOBS_DIR", "LOCK_FILE", "KILLED", "NOT_STARTED", "BudgetAccount", "JobFailure",
            "JobOutcome", "SweepAccount", "claim_sweep_dir", "counts", "forget_records", "job_failed", "job_records", "killed_reason",
            "load_account", "record_job_end", "record_job_start", "scheduler_state",
        ),
        "._jobs",
    ),
    **dict.fromkeys(("CTRL_C_EXIT", "SIGTERM_EXIT", "run_launch", "stop_of", "stopping_on_signals"), "._launch"),
    **dict.fromkeys(
        (
            "OPENS_PARENT_ATTR", "RESUMES_TAG", "abandoned", "adopt_sweep_dir", "annotate_parent", "bounded_store", "close_abandoned",
            "close_parent", "close_run", "count_jobs", "open_parent", "parent_run_of", "previous_sweep", "reopen_parent", "store_of",
            "swept_keys_of", "sweeper_opens_parent", "tracking_enabled",
        ),
        "._parent",
    ),
    "still_running": "._scheduler",
    **dict.fromkeys(("JobBatches", "SweepSession"), "._session"),
    **dict.fromkeys(("FAILED_SWEEP_EXIT", "exit_with", "finish_sweep"), "._summary"),
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ._callback import MLflowSweepCallback, outcomes_from
    from ._jobs import (
        ACCOUNT_FILE, EARLIER, FAILED, FINISHED, JOBS_DIR, KILLED, LOCK_FILE, NOT_STARTED, BudgetAccount, JobFailure, JobOutcome, SweepAccount,
        claim_sweep_dir, counts, forget_records, job_failed, job_records, killed_reason, load_account, record_job_end, record_job_start,
        scheduler_state,
    )
    from ._launch import CTRL_C_EXIT, SIGTERM_EXIT, run_launch, stop_of, stopping_on_signals
    from ._parent import (
        OPENS_PARENT_ATTR, RESUMES_TAG, abandoned, adopt_sweep_dir, annotate_parent, bounded_store, close_abandoned, close_parent, close_run,
        count_jobs, open_parent, parent_run_of, previous_sweep, reopen_parent, store_of, swept_keys_of, sweeper_opens_parent, tracking_enabled,
    )
    from ._scheduler import still_running
    from ._session import JobBatches, SweepSession
    from ._summary import FAILED_SWEEP_EXIT, exit_with, finish_sweep


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
