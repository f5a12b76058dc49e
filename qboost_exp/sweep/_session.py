"""One launch of a sweep by one of our sweepers, from its sweep directory to its summary.

A sweeper says what to run; its :class:`SweepSession` does the rest, the
same way for the grid sweeper and the Optuna sweeper:

- **claim** the sweep directory: one driver at a time, its ``multirun.yaml``
  written (:meth:`SweepSession.start`);
- **resume**: continue the earlier launch the sweeper found (its directory
  adopted, the child runs its dead driver left RUNNING closed KILLED, the
  jobs that finished there not run again), or
- open a new **parent** run;
- **segments**: each batch the sweeper gives (:class:`JobBatches`) is cut
  into runs of consecutive job numbers, since a launcher numbers a batch's
  jobs from its first one on (:meth:`SweepSession.launch`);
- **launch** them through Hydra's launcher so that Ctrl-C, SIGTERM and a
  launcher error end in the summary (:func:`._launch.run_launch`), and hand
  the results back to the sweeper.

Until the launch, :meth:`SweepSession.refusing` turns a usage error into one
``error:`` line and exit status 2.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from omegaconf import DictConfig, OmegaConf

from ..errors import ConfigError, QBoostError
from ..tracking import CONFIG_DIGEST_TAG, DRIVER_TAG, JOB_NUM_TAG, SWEEP_DIR_TAG, child_runs, client_for, driver_alive, driver_id, metric_value
from ._jobs import FINISHED, BudgetAccount, SweepAccount, claim_sweep_dir, forget_records, job_records
from ._launch import run_launch, stop_of
from ._parent import adopt_sweep_dir, bounded_store, close_abandoned, objective_of, open_parent, previous_sweep, reopen_parent, store_of, tracking_enabled
from ._scheduler import still_running

#: A batch of jobs: {job number: overrides}.
Batch = Mapping[int, Sequence[str]]


class JobBatches:
    """A sweeper's side of a launch: its jobs, a batch at a time, and what it learns from their results.

    Subclasses implement :meth:`next_batch`; a sweeper that learns from the
    results (Optuna's ask and tell) implements :meth:`tell` and :meth:`stop` too.
    """

    def next_batch(self) -> Batch | None:
        """The next jobs to launch together (empty: none in this batch); None when there are no more.

        Asked for only once the previous batch's results are told.
        """
        raise NotImplementedError

    def tell(self, results: Mapping[int, Any]) -> None:
        """What the launcher returned (Hydra's ``JobReturn``) for jobs of the batch, by job number."""

    def stop(self, reason: str, finished: Mapping[int, str | None]) -> None:
        """The launch stopped early (``reason``: Ctrl-C, SIGTERM, a launcher error): settle the jobs asked for and not told.

        Called when a launch raised, before the summary, and again when the
        sweep ends early, after it. ``finished``: {job number: its run} of the
        jobs whose record in the sweep directory says they finished.
        """


class SweepSession:
    """One launch of a sweep by one of our sweepers (see the module's docstring).

    Parameters
    ----------
    config : DictConfig
        The sweep's config, with its ``hydra`` node.
    launcher : Launcher
        Hydra's configured launcher.
    resume_hint : str
        How the user runs only what did not finish (the summary says it).
    takeover : bool
        Take over a sweep directory whose lock names a driver on another
        machine (``hydra.sweeper.takeover``).
    validate : callable, optional
        Hydra's check that a batch composes (``Sweeper.validate_batch_is_legal``),
        run on each batch before it launches; None when the sweeper composed
        every job before the start (the grid).
    """

    def __init__(
        self,
        config: DictConfig,
        launcher: Any,
        *,
        resume_hint: str,
        takeover: bool = False,
        validate: Callable[[Sequence[Sequence[str]]], None] | None = None,
    ) -> None:
        self.config = config
        self.launcher = launcher
        self.resume_hint = resume_hint
        self.takeover = takeover
        self._validate = validate
        #: The tracking store; None for an untracked sweep.
        self.uri: str | None = store_of(config)[0] if tracking_enabled(config) else None
        #: The parent run, once :meth:`start` opened or re-opened it.
        self.parent_run_id: str | None = None
        #: {job number: its FINISHED run (None untracked)} of the jobs that finished in an earlier launch: not run again.
        self.earlier: dict[int, str | None] = {}
        #: How many child runs of the continued launch :meth:`start` closed KILLED (its driver died with them RUNNING).
        self.closed = 0

    @property
    def sweep_dir(self) -> Path:
        """The sweep directory: the continued launch's, once :meth:`start` adopted it."""
        return Path(str(self.config.hydra.sweep.dir))

    @property
    def store(self) -> tuple[str, str]:
        """(tracking URI, experiment) the config names, tracked or not."""
        return store_of(self.config)

    @property
    def objective(self) -> str:
        """The metric the sweep optimises (``objective``)."""
        return objective_of(self.config)

    # -- before the start ---------------------------------------------------------
    @contextmanager
    def refusing(self, jobs: int | None = None) -> Iterator[None]:
        """End the sweep on a usage error (:class:`~qboost_exp.errors.QBoostError`) raised inside: one ``error:`` line, exit 2.

        With ``jobs``, a summary line says that none of them started. A parent
        run :meth:`start` opened or re-opened is closed FAILED: Hydra runs the
        callback's ``on_multirun_end`` only when the sweeper returns.
        """
        try:
            yield
        except QBoostError as exc:
            message = " ".join(str(exc).split())
            self._fail_parent(message)
            print(f"error: {message}", file=sys.stderr, flush=True)
            if jobs is not None:
                print(f"[sweep] {jobs} jobs: 0 finished, 0 failed, {jobs} not started", flush=True)
            sys.exit(2)

    def latest_parent(self, tags: Mapping[str, str] | None = None) -> Any | None:
        """The latest parent run of this sweep in its experiment, any status; None untracked or if there is none.

        This sweep is the one with the same command-line overrides and
        sweeper, or (``tags``) whose parent run has these tags.
        """
        if self.uri is None:
            return None
        with bounded_store(self.config):
            return previous_sweep(self.config, dict(tags) if tags else None)

    @staticmethod
    def driver_of(run: Any) -> tuple[str, bool | None]:
        """(The driver of ``run``, whether it still runs: None when this machine cannot tell, the driver being on another.)"""
        driver = run.data.tags.get(DRIVER_TAG, "?")
        return driver, driver_alive(driver)

    def earlier_by_digest(self, parent: Any) -> dict[str, str]:
        """{composed config's digest: run id} of ``parent``'s FINISHED child runs (what a grid's jobs are matched by)."""
        return {run.data.tags[CONFIG_DIGEST_TAG]: run.info.run_id for run in self._finished_children(parent) if CONFIG_DIGEST_TAG in run.data.tags}

    def earlier_by_job(self, parent: Any) -> dict[int, str]:
        """{job number: run id} of ``parent``'s FINISHED child runs."""
        children = self._finished_children(parent)
        return {int(run.data.tags[JOB_NUM_TAG]): run.info.run_id for run in children if run.data.tags.get(JOB_NUM_TAG, "").isdigit()}

    def _finished_children(self, parent: Any) -> list[Any]:
        assert self.uri is not None
        with bounded_store(self.config):
            return [run for run in child_runs(client_for(self.uri), parent.info.run_id) if run.info.status == "FINISHED"]

    def job_records(self) -> dict[int, dict[str, Any]]:
        """The records the jobs left in the sweep directory, by job number."""
        return job_records(str(self.sweep_dir))

    def refuse_live_jobs(self, parent: Any | None = None) -> None:
        """Refuse to continue a sweep while jobs of it still run on SLURM (its driver was killed): they would run twice.

        The sweep directory is ``parent``'s (a tracked resume), else this launch's.
        """
        live = still_running(self._dir_of(parent) if parent is not None else str(self.config.hydra.sweep.dir))
        if live:
            jobs = ", ".join(f"job {n} (SLURM job {slurm})" for n, slurm in sorted(live.items()))
            raise ConfigError(f"the sweep to resume still runs on SLURM: {jobs}; wait for them to end or scancel them, then resume")

    # -- the start ------------------------------------------------------------------
    def start(
        self,
        jobs: int,
        *,
        previous: Any | None = None,
        earlier: Mapping[int, str | None] | None = None,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Claim the sweep directory, then open a parent run for ``jobs`` jobs, or continue ``previous``.

        Parameters
        ----------
        jobs : int
            How many jobs this launch runs (besides those that finished earlier).
        previous : Run, optional
            The parent run of the earlier launch this one continues
            (:meth:`latest_parent`): its sweep directory is adopted, the child
            runs its driver left RUNNING are closed KILLED (:attr:`closed`),
            and it is RUNNING again, its ``qboost.jobs`` the earlier jobs and ``jobs``.
        earlier : mapping, optional
            {job number: its FINISHED run, None untracked} of the jobs that
            finished in an earlier launch: not launched again (:attr:`earlier`).
        run_name, tags : optional
            A new parent run's name and extra tags.

        Raises
        ------
        ConfigError
            The sweep directory cannot be written, or is another driver's.
        """
        if previous is not None:
            adopt_sweep_dir(self.config, self._dir_of(previous))
        self._claim()  # before the parent run: a sweep that cannot start opens none
        self.earlier = dict(earlier or {})
        if self.uri is None:
            return
        with bounded_store(self.config):
            if previous is None:
                self.parent_run_id = open_parent(self.config, run_name=run_name, tags=dict(tags) if tags else None, jobs=jobs)
            else:
                self.closed = close_abandoned(client_for(self.uri), previous.info.experiment_id, parent=previous)
                self.parent_run_id = reopen_parent(self.config, previous, jobs=len(self.earlier) + jobs)

    def _claim(self) -> None:
        """Make this driver the only one of the sweep directory (another's job records must not mix with this launch's)."""
        sweep_dir = self.sweep_dir
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            busy = claim_sweep_dir(sweep_dir, driver_id(), takeover=self.takeover)
            if busy:
                raise ConfigError(busy)
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")  # as Hydra's sweepers write it
        except OSError as exc:
            raise ConfigError(
                f"cannot create the sweep directory {sweep_dir.absolute()} ({exc.strerror or exc}): run from a writable directory, "
                "or set hydra.sweep.dir=/writable/dir"
            ) from None

    def _dir_of(self, parent: Any) -> str:
        return parent.data.tags.get(SWEEP_DIR_TAG) or str(self.config.hydra.sweep.dir)

    def _fail_parent(self, message: str) -> None:
        if not (self.uri and self.parent_run_id):
            return
        try:
            with bounded_store(self.config):
                client = client_for(self.uri)
                client.set_tag(self.parent_run_id, "error", message[:5000])
                client.set_terminated(self.parent_run_id, status="FAILED")
        except Exception:  # noqa: BLE001 - the store may be what failed; the error line still prints
            pass

    # -- the launch -------------------------------------------------------------------
    def launch(self, batches: JobBatches, *, jobs: Sequence[Sequence[str]] | None = None, planned: int = 0) -> list[Sequence[Any]]:
        """Launch the sweeper's batches, each in runs of consecutive job numbers, and hand their results back.

        Parameters
        ----------
        batches : JobBatches
            The sweeper's jobs and its ear for their results.
        jobs : sequence of overrides, optional
            Every job's overrides by job number, for a sweep that knows them
            before the launch (a grid): what an earlier launch recorded for
            them is forgotten now, so that a job not launched yet never
            counts as done (the jobs that finished earlier keep theirs).
        planned : int
            Otherwise, how many jobs the sweeper means to ask for.

        Ctrl-C, SIGTERM and a launcher error end the sweep with its summary,
        the parent run KILLED (:func:`._launch.run_launch`), after the
        sweeper's :meth:`JobBatches.stop`. Returns the launcher's results, run by run.
        """
        account = self._account(jobs, planned)
        try:
            return run_launch(
                self.config, account, self._launcher(batches), self._segments(batches, account),
                uri=self.uri, parent_run_id=self.parent_run_id, resume_hint=self.resume_hint,
            )
        except BaseException as exc:
            # Jobs asked for and never launched (a stop between batches), after the summary.
            batches.stop(account.interrupted or account.launcher_error or _why(exc), self._finished())
            raise

    def _account(self, jobs: Sequence[Sequence[str]] | None, planned: int) -> SweepAccount:
        directory = str(self.sweep_dir)
        if jobs is None:
            account: SweepAccount = BudgetAccount(directory, [], planned=planned)
        else:
            account = SweepAccount(directory, [list(job) for job in jobs])
            forget_records(directory, [n for n in range(len(account.jobs)) if n not in self.earlier] if self.earlier else None)
        for number, run_id in self.earlier.items():
            account.skip(number, run_id)
        return account

    def _launcher(self, batches: JobBatches) -> Callable[[Sequence[Sequence[str]], int], Sequence[Any]]:
        def launch(run: Sequence[Sequence[str]], first: int) -> Sequence[Any]:
            try:
                results = self.launcher.launch(run, initial_job_idx=first)
                batches.tell(dict(zip(range(first, first + len(run)), results)))
            except BaseException as exc:
                # Before run_launch's summary: no job of the stopped batch is left unsettled.
                batches.stop(_why(exc), self._finished())
                raise
            return results

        return launch

    def _segments(self, batches: JobBatches, account: SweepAccount) -> Iterator[tuple[int, list[list[str]]]]:
        """``(first job number, jobs)`` to launch, batch by batch, each batch asked for once the previous one is told.

        The launcher numbers a batch's jobs from its first job number on, so a
        batch whose numbers have a gap (a job that finished earlier, a trial of
        another driver) is launched as several runs: every job keeps its
        number (and its directory) across launches.
        """
        while (batch := batches.next_batch()) is not None:
            numbers = sorted(batch)
            if not numbers:
                continue
            for number in numbers:
                account.launching(number, batch[number])
            if self._validate is not None:
                self._validate([list(batch[n]) for n in numbers])
            forget_records(self.sweep_dir, numbers)  # a continued or reused sweep directory may hold other launches' records
            start = 0
            for i in range(1, len(numbers) + 1):
                if i == len(numbers) or numbers[i] != numbers[i - 1] + 1:
                    yield numbers[start], [list(batch[n]) for n in numbers[start:i]]
                    start = i

    def _finished(self) -> dict[int, str | None]:
        """{job number: run} of the jobs whose record says they finished (none when the records cannot be read)."""
        try:
            records = job_records(str(self.sweep_dir))
        except Exception:  # noqa: BLE001 - no records: no job is known to have finished
            return {}
        return {number: record.get("run_id") for number, record in records.items() if record.get("state") == FINISHED}

    # -- for a sweeper that learns from the results -------------------------------------
    def run_ids(self) -> dict[int, str]:
        """{job number: MLflow run id} of the parent run's child runs so far (empty untracked, or when the store cannot tell)."""
        if not (self.uri and self.parent_run_id):
            return {}
        try:
            children = child_runs(client_for(self.uri), self.parent_run_id)
            return {int(r.data.tags[JOB_NUM_TAG]): r.info.run_id for r in children if JOB_NUM_TAG in r.data.tags}
        except Exception:  # noqa: BLE001 - the link is a convenience; a job's result does not depend on it
            return {}

    def objective_value(self, run_id: str | None) -> float | None:
        """The objective (``objective``) a job logged to its run; None untracked, or when the store cannot tell."""
        if not (self.uri and run_id):
            return None
        try:
            return metric_value(client_for(self.uri).get_run(run_id), self.objective)
        except Exception:  # noqa: BLE001 - the store is unreachable: the caller runs the job again instead
            return None


def _why(exc: BaseException) -> str:
    """How the driver was stopped, in the words of the summary."""
    stopped, error, _ = stop_of(exc)
    return stopped or f"the launcher failed: {error}"
