"""The grid sweep itself: Hydra's batches, an account of every job, and the resume."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf

from qboost_exp.errors import ConfigError, QBoostError

#: What the summary tells a user whose sweep did not finish.
RESUME_HINT = "the same command with hydra.sweeper.resume=true"


def sweep(sweeper: Any, arguments: Sequence[str]) -> Any:
    """Run the grid sweep of ``sweeper`` (a :class:`QBoostBasicSweeper`); see its docstring."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from qboost_exp.sweep import SweepAccount, forget_records, run_launch, store_of, tracking_enabled

    config = sweeper.config
    parser = OverridesParser.create(config_loader=sweeper.hydra_context.config_loader)
    batches = sweeper.split_arguments(parser.parse_overrides([*sweeper._parse_config(), *arguments]), sweeper.max_batch_size)
    jobs = [list(job) for batch in batches for job in batch]
    # Every job composes, or nothing starts: Hydra's config error is the command's one error line (qboost_exp.cli).
    for batch in batches:
        sweeper.validate_batch_is_legal(batch)
    uri = store_of(config)[0] if tracking_enabled(config) else None
    from qboost_exp.sweep import bounded_store, open_parent

    try:
        _check_values(sweeper, jobs)
        with bounded_store(config):
            skip, parent_run_id = _resume(sweeper, jobs) if sweeper.resume else ({}, None)
        sweep_dir = _make_sweep_dir(config)  # before a new parent run: a sweep that cannot start opens none
        from qboost_exp.sweep import claim_sweep_dir
        from qboost_exp.tracking import driver_id

        busy = claim_sweep_dir(sweep_dir, driver_id(), takeover=sweeper.takeover)
        if busy:
            raise ConfigError(busy)
        if uri and parent_run_id is None:
            with bounded_store(config):
                parent_run_id = open_parent(config, jobs=len(jobs))
    except QBoostError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        print(f"[sweep] {len(jobs)} jobs: 0 finished, 0 failed, {len(jobs)} not started", flush=True)
        sys.exit(2)
    forget_records(sweep_dir, [n for n in range(len(jobs)) if n not in skip] if skip else None)
    account = SweepAccount(str(sweep_dir), jobs)
    for number, run_id in skip.items():
        account.skip(number, run_id)

    def launch(batch: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[Any]:
        return sweeper.launcher.launch(batch, initial_job_idx=initial_job_idx)

    return run_launch(config, account, launch, _segments(batches, skip), uri=uri, parent_run_id=parent_run_id, resume_hint=RESUME_HINT)


def _check_values(sweeper: Any, jobs: list[list[str]]) -> None:
    """Every job's values checked as a single run checks them (``check_config``), before any job starts.

    A sweep with ``lambda=0.05,-1,0.1`` would otherwise launch, and its bad
    job end as a FAILED, empty run that a resume would only fail again.
    """
    from qboost_exp.config import check_config

    for number, overrides in enumerate(jobs):
        composed = sweeper.hydra_context.config_loader.load_sweep_config(sweeper.config, list(overrides))
        plain = OmegaConf.to_container(composed, resolve=False)
        plain.pop("hydra", None)
        try:
            check_config(OmegaConf.to_container(OmegaConf.create(plain), resolve=True, throw_on_missing=False))
        except ConfigError as exc:
            raise ConfigError(f"job {number} ({' '.join(overrides)}): {str(exc).rstrip('.')}; nothing was started") from None


def _make_sweep_dir(config: DictConfig) -> Path:
    """``hydra.sweep.dir`` with the sweep's ``multirun.yaml`` (as Hydra's sweeper writes it); a ConfigError if it cannot be written."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, sweep_dir / "multirun.yaml")
    except OSError as exc:
        raise ConfigError(
            f"cannot create the sweep directory {sweep_dir.absolute()} ({exc.strerror or exc}): run from a writable directory, "
            "or set hydra.sweep.dir=/writable/dir"
        ) from None
    return sweep_dir


def _segments(batches: Sequence[Sequence[Sequence[str]]], skip: dict[int, Any]) -> Iterator[tuple[int, list[list[str]]]]:
    """``(first job number, jobs)`` to launch: Hydra's batches, less the skipped jobs, cut where a skipped job was.

    The launcher numbers a batch's jobs from its first job number on, so a
    batch with a gap is launched as two: every job keeps its number (and
    its directory) across launches.
    """
    number = 0
    for batch in batches:
        start, run = None, []
        for job in batch:
            if number in skip:
                if run:
                    yield start, run
                start, run = None, []
            else:
                start = number if start is None else start
                run.append(list(job))
            number += 1
        if run:
            yield start, run


def _resume(sweeper: Any, jobs: list[list[str]]) -> tuple[dict[int, str | None], str | None]:
    """The jobs to skip ({job number: its FINISHED run}) and the parent run to continue, or ({}, None) for a fresh start."""
    from qboost_exp.sweep import store_of, tracking_enabled

    config = sweeper.config
    if not tracking_enabled(config):
        return _resume_from_records(sweeper, jobs), None
    from qboost_exp.sweep import abandoned, adopt_sweep_dir, close_abandoned, previous_sweep, reopen_parent
    from qboost_exp.tracking import CONFIG_DIGEST_TAG, DRIVER_TAG, SWEEP_DIR_TAG, child_runs, client_for, driver_alive

    uri, experiment = store_of(config)
    previous = previous_sweep(config)
    if previous is None:
        print(
            f"[sweep] hydra.sweeper.resume=true: no earlier sweep of these overrides in experiment {experiment!r} at {uri}; "
            "running all of it",
            flush=True,
        )
        return {}, None
    if previous.info.status == "RUNNING" and not abandoned(previous):
        driver = previous.data.tags.get(DRIVER_TAG, "?")
        if driver_alive(driver):
            raise ConfigError(
                f"the sweep to resume (parent run {previous.info.run_id}) is still running (driver {driver}): "
                "wait for it to end or stop it, then resume"
            )
        if not sweeper.takeover:
            # Its jobs may be running there right now: resuming would close them and run them twice.
            raise ConfigError(
                f"the sweep to resume (parent run {previous.info.run_id}) is RUNNING, driven from another machine ({driver}), "
                "which cannot be checked from here: if that driver is gone, resume with hydra.sweeper.takeover=true"
            )
        print(f"[sweep] the sweep's parent run {previous.info.run_id} is RUNNING from another machine ({driver}); taking it over", flush=True)
    adopt_sweep_dir(config, previous.data.tags.get(SWEEP_DIR_TAG) or str(config.hydra.sweep.dir))
    _refuse_live_cluster_jobs(config)
    client = client_for(uri)
    closed = close_abandoned(client, previous.info.experiment_id, parent=previous)
    finished = {
        run.data.tags[CONFIG_DIGEST_TAG]: run.info.run_id
        for run in child_runs(client, previous.info.run_id)
        if run.info.status == "FINISHED" and CONFIG_DIGEST_TAG in run.data.tags
    }
    skip = {}
    for number, overrides in enumerate(jobs):
        run_id = finished.get(_digest(sweeper, overrides))
        if run_id is not None:
            skip[number] = run_id
    parent_run_id = reopen_parent(config, previous, jobs=len(jobs))
    note = f"; closed {closed} run{'s' if closed != 1 else ''} its dead driver left RUNNING" if closed else ""
    print(
        f"[sweep] resuming {config.hydra.sweep.dir}: {len(skip)} of {len(jobs)} jobs finished earlier, "
        f"running {len(jobs) - len(skip)}{note}",
        flush=True,
    )
    return skip, parent_run_id


def _resume_from_records(sweeper: Any, jobs: list[list[str]]) -> dict[int, str | None]:
    """Untracked: the jobs whose record in ``hydra.sweep.dir`` says they finished with the same composed config."""
    from qboost_exp.sweep import FINISHED, job_records

    config = sweeper.config
    _refuse_live_cluster_jobs(config)
    records = job_records(str(config.hydra.sweep.dir))
    skip = {}
    for number, overrides in enumerate(jobs):
        record = records.get(number)
        if record and record.get("state") == FINISHED and record.get("config_digest") == _digest(sweeper, overrides):
            skip[number] = None
    if not records:
        print(
            f"[sweep] hydra.sweeper.resume=true: no job records in {config.hydra.sweep.dir} (without tracking, resume the same "
            "hydra.sweep.dir); running all of it",
            flush=True,
        )
    else:
        print(f"[sweep] resuming {config.hydra.sweep.dir}: {len(skip)} of {len(jobs)} jobs finished earlier, running {len(jobs) - len(skip)}", flush=True)
    return skip


def _refuse_live_cluster_jobs(config: DictConfig) -> None:
    """A job of the sweep still on SLURM (its driver was killed) would run twice: wait for it or cancel it first."""
    from qboost_exp.sweep import still_running

    live = still_running(str(config.hydra.sweep.dir))
    if live:
        jobs = ", ".join(f"job {n} (SLURM job {slurm})" for n, slurm in sorted(live.items()))
        raise ConfigError(f"the sweep to resume still runs on SLURM: {jobs}; wait for them to end or scancel them, then resume")


def _digest(sweeper: Any, overrides: Sequence[str]) -> str:
    """The digest of a job's composed config, as the job itself computes it (qboost_exp.config.config_digest)."""
    from qboost_exp.config import config_digest

    return config_digest(sweeper.hydra_context.config_loader.load_sweep_config(sweeper.config, list(overrides)))
