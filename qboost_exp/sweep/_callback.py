"""The Hydra callback that ties a multirun to MLflow (``hydra.callbacks.mlflow_sweep``).

:class:`MLflowSweepCallback` runs in the launching process and in every
job. In the launching process it creates the tracking store before any job
starts (so parallel jobs never race on a fresh SQLite schema), opens the
parent run unless the sweeper does (our grid and Optuna sweepers do: they
know whether and what they will run), and ends the sweep with its summary
(:func:`._summary.finish_sweep`). In each job, wherever the launcher runs
it, it leaves the job's record (:mod:`._jobs`) when the job starts and ends,
and prints a progress line.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ..errors import QBoostError
from ..tracking import FAILED_STATUSES, JOB_NUM_TAG, JOBS_TAG, child_runs, client_for, driver_id, prepare_store, training_runs
from ._jobs import (
    ACCOUNT_FILE,
    EARLIER,
    FAILED,
    FINISHED,
    KILLED,
    NOT_STARTED,
    JobOutcome,
    SweepAccount,
    forget_records,
    job_failed,
    job_records,
    killed_reason,
    load_account,
    record_job_end,
    record_job_start,
)
from ._parent import CONVENIENCE_SECONDS, LAUNCHED_TAG, bounded_store, count_jobs, open_parent, parent_run_of, store_of, sweeper_opens_parent, tracking_enabled
from ._summary import exit_with, finish_sweep
from ._time_limit import watch_time_limit


class MLflowSweepCallback(Callback):
    """Hydra callback (configured under ``hydra.callbacks``) that manages the sweep's parent run and its jobs' records.

    When a job did not finish, :meth:`on_multirun_end` ends the process with
    exit status 1 after the summary: Hydra gives callbacks no other way to
    say that a sweep failed, and its own status would be 0.
    """

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.uri: str | None = None
        # Progress without a tracking store: counted by this instance, which the
        # basic launcher keeps for every job of the sweep.
        self._started = time.time()
        self._total: int | None = None
        self._done_here = 0

    # -- launching process ---------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        try:
            with bounded_store(config):
                self._open_parent(config)
        except (QBoostError, HydraException, OmegaConfBaseException) as exc:
            # Hydra turns a callback's exception into a warning and runs every
            # job anyway, each failing the same way: stop here, in one line.
            message = " ".join(str(exc).split())
            print(f"error: {message}", file=sys.stderr, flush=True)
            if self._total:
                print(f"[sweep] {self._total} jobs: 0 finished, 0 failed, {self._total} not started", flush=True)
            sys.exit(2)

    def _open_parent(self, config: DictConfig) -> None:
        # ${hydra:...} only resolves here once the singleton holds this config.
        HydraConfig.instance().set_config(config)
        self._started = time.time()
        self._total = count_jobs(config)
        opens = sweeper_opens_parent(config)
        if not opens:  # our sweepers keep the records of earlier launches they resume
            forget_records(str(config.hydra.sweep.dir))
            _remove(Path(str(config.hydra.sweep.dir)) / ACCOUNT_FILE)
        if not tracking_enabled(config):
            return
        self.uri, experiment = store_of(config)
        if opens:
            # The store now, before any job; the parent when the sweeper knows there is something to run.
            prepare_store(self.uri, experiment)
            return
        self.parent_run_id = open_parent(config, jobs=self._total)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = str(config.hydra.sweep.dir)
        saved = load_account(sweep_dir)
        if saved is not None and saved.get("driver") == driver_id() and saved.get("pending"):
            # Our sweeper counted every job from what the launcher returned.
            account = SweepAccount(sweep_dir, jobs=[o.overrides.split() for o in saved["outcomes"]])
            status = finish_sweep(
                config, account, saved["outcomes"], uri=saved.get("tracking_uri"), parent_run_id=saved.get("parent_run_id"),
                resume_hint=saved.get("resume_hint")
            )
        else:
            status = self._finish_from_records(config, sweep_dir)
        exit_with(status)

    def _finish_from_records(self, config: DictConfig, sweep_dir: str) -> int:
        """The summary of a sweeper that gives no account (Hydra's own, a third party's): the jobs' records and the store."""
        if self.uri and not self.parent_run_id:
            # The sweeper opened the parent (or, having nothing to run, none).
            found = parent_run_of(config)
            self.parent_run_id = found[1].info.run_id if found is not None else None
        records = job_records(sweep_dir)
        runs: list[Any] = []
        if self.uri and self.parent_run_id:
            client = client_for(self.uri)
            experiment = client.get_experiment(client.get_run(self.parent_run_id).info.experiment_id).name
            runs = training_runs(experiment, tracking_uri=self.uri, parent_run_id=self.parent_run_id, statuses=None)
        outcomes = outcomes_from(records, runs, self._total)
        if not outcomes and not self.parent_run_id:
            return 0  # nothing ran (a finished study): nothing to say
        account = SweepAccount(sweep_dir, jobs=[o.overrides.split() for o in outcomes])
        return finish_sweep(config, account, outcomes, uri=self.uri, parent_run_id=self.parent_run_id, resume_hint=None)

    # -- job process (wherever the launcher runs it) --------------------------
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        hydra_cfg = _multirun_job()
        if hydra_cfg is not None:
            from ..config import config_digest

            sweep_dir, job, overrides = str(hydra_cfg.sweep.dir), int(hydra_cfg.job.num), list(hydra_cfg.overrides.task)
            record_job_start(sweep_dir, job, overrides, config_digest(config))
            # Under SLURM: the time limit's warning signal ends the job KILLED, with the reason, not as a crash.
            watch_time_limit(lambda reason: record_job_end(sweep_dir, job, overrides, reason, _last_run_id(job), killed=True))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        hydra_cfg = _multirun_job()
        if hydra_cfg is None:
            return
        failure = job_failed(job_return)
        with bounded_store(config, CONVENIENCE_SECONDS):
            run_id = _last_run_id(int(hydra_cfg.job.num))
        record_job_end(str(hydra_cfg.sweep.dir), int(hydra_cfg.job.num), list(hydra_cfg.overrides.task), failure, run_id)
        self._done_here += 1
        with bounded_store(config, CONVENIENCE_SECONDS):
            total, started, done, here = self._progress(config)
        status = "failed" if failure is not None else "completed"
        text = f"[sweep] job {hydra_cfg.job.num} {status} ({' '.join(hydra_cfg.overrides.task)})"
        if total and done and here:
            elapsed = time.time() - started
            remaining = max(0, total - done)
            text += f" | {done}/{total} done, {elapsed:.0f} s elapsed, ETA {math.ceil(elapsed / here * remaining)} s"
        print(text, flush=True)

    def _progress(self, config: DictConfig) -> tuple[int | None, float, int, int]:
        """(jobs in the sweep, when this launch started, jobs done in all, jobs done in this launch).

        From the parent run when the sweep is tracked, so that jobs running in
        other processes or on other machines count too; else this instance's
        own count (exact for the basic launcher). A job run again by a resume
        counts once.
        """
        try:
            found = parent_run_of(config)
        except Exception:  # noqa: BLE001 - progress is a convenience; the job's result does not depend on it
            found = None
        if found is None:
            return self._total, self._started, self._done_here, self._done_here
        client, parent = found
        total = parent.data.tags.get(JOBS_TAG)
        launched = int(parent.data.tags.get(LAUNCHED_TAG) or parent.info.start_time)
        ended = child_runs(client, parent.info.run_id, finished_only=True)
        done = {run.data.tags.get(JOB_NUM_TAG) for run in ended if run.info.status == "FINISHED" or run.info.start_time >= launched}
        here = {run.data.tags.get(JOB_NUM_TAG) for run in ended if run.info.start_time >= launched}
        return (int(total) if total else None), launched / 1000.0, len(done), len(here)


def _multirun_job() -> Any | None:
    """Hydra's config of the running job, if it is a job of a multirun."""
    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    if hydra_cfg is None or str(hydra_cfg.mode) != "RunMode.MULTIRUN":
        return None
    return hydra_cfg


def _last_run_id(job_num: int) -> str | None:
    """The MLflow run this job process opened for job ``job_num``, if it opened one."""
    if "mlflow" not in sys.modules:
        return None
    try:
        import mlflow

        run = mlflow.last_active_run()
    except Exception:  # noqa: BLE001 - the store may be what failed; the record still says how the job ended
        return None
    if run is None or run.data.tags.get(JOB_NUM_TAG) != str(job_num):
        return None
    return run.info.run_id


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def outcomes_from(records: dict[int, dict[str, Any]], runs: list[Any], total: int | None) -> list[JobOutcome]:
    """Every job's outcome from the jobs' records and their child runs (for a sweeper that returns no account)."""
    by_job: dict[int, Any] = {}
    for run in runs:
        try:
            by_job[int(run.data.tags.get(JOB_NUM_TAG, ""))] = run
        except ValueError:
            continue
    numbers = set(records) | set(by_job)
    last = max(numbers, default=-1)
    if total:
        last = max(last, total - 1)
    out = []
    for number in range(last + 1):
        record, run = records.get(number), by_job.get(number)
        overrides = (record or {}).get("overrides") or (run.data.tags.get("hydra.overrides", "") if run is not None else "")
        run_id = run.info.run_id if run is not None else (record or {}).get("run_id")
        if record is not None and record.get("state") in (FINISHED, FAILED):
            out.append(JobOutcome(number, overrides, record["state"], record.get("error"), run_id))
        elif record is not None:
            out.append(JobOutcome(number, overrides, KILLED, killed_reason(record), run_id))
        elif run is not None and run.info.status == "FINISHED":
            out.append(JobOutcome(number, overrides, FINISHED, None, run_id))
        elif run is not None and run.info.status in FAILED_STATUSES:
            out.append(JobOutcome(number, overrides, FAILED if run.info.status == "FAILED" else KILLED, run.data.tags.get("error"), run_id))
        elif run is not None:
            out.append(JobOutcome(number, overrides, KILLED, "the job ended without closing its run (killed from outside)", run_id))
        else:
            out.append(JobOutcome(number, overrides, NOT_STARTED, None))
    return out
