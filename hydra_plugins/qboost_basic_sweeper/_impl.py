"""The grid sweep itself: Hydra's batches, every job's config checked before any starts, and what a resume skips.

The rest (the sweep directory, the parent run, the launch and its summary)
is :class:`qboost_exp.sweep.SweepSession`'s, as for the Optuna sweeper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from omegaconf import DictConfig, OmegaConf

from qboost_exp.errors import ConfigError
from qboost_exp.sweep import JobBatches, SweepSession

#: What the summary tells a user whose sweep did not finish.
RESUME_HINT = "the same command with hydra.sweeper.resume=true"


def sweep(sweeper: Any, arguments: Sequence[str]) -> Any:
    """Run the grid sweep of ``sweeper`` (a :class:`QBoostBasicSweeper`); see its docstring."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create(config_loader=sweeper.hydra_context.config_loader)
    batches = sweeper.split_arguments(parser.parse_overrides([*sweeper._parse_config(), *arguments]), sweeper.max_batch_size)
    jobs = [list(job) for batch in batches for job in batch]
    # Every job composes, or nothing starts: Hydra's config error is the command's one error line (qboost_exp.cli).
    composed = _compose(sweeper, jobs, digests=sweeper.resume)
    session = SweepSession(sweeper.config, sweeper.launcher, resume_hint=RESUME_HINT, takeover=sweeper.takeover)
    with session.refusing(jobs=len(jobs)):
        composed.check()
        previous, earlier = _earlier_launch(session, composed.digests) if sweeper.resume else (None, {})
        session.start(len(jobs) - len(earlier), previous=previous, earlier=earlier)
        if previous is not None:
            note = f"; closed {session.closed} run{'s' if session.closed != 1 else ''} its dead driver left RUNNING" if session.closed else ""
            _say_resuming(session.config, len(earlier), len(jobs), note)
    return session.launch(_GridBatches(batches, session.earlier), jobs=jobs)


@dataclass
class _Composed:
    """What composing every job found: each job's config digest (for a resume), and the first job whose values are wrong."""

    digests: list[str] = field(default_factory=list)
    error: BaseException | None = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _compose(sweeper: Any, jobs: list[list[str]], *, digests: bool) -> _Composed:
    """Compose every job once, as its launch will: Hydra's error for a job that does not compose, at once; then its values.

    Every job's values are checked as a single run checks them
    (``check_config``), before any job starts: a sweep with
    ``lambda=0.05,-1,0.1`` would otherwise launch, and its bad job end as a
    FAILED, empty run that a resume would only fail again. That error is
    kept for :meth:`_Composed.check` until every job has composed (a job that
    does not compose says so first, as Hydra's sweeper would).
    """
    from qboost_exp.config import config_digest

    loader = sweeper.hydra_context.config_loader
    found = _Composed()
    for number, overrides in enumerate(jobs):
        config = loader.load_sweep_config(sweeper.config, list(overrides))
        if digests:
            # As the job itself computes it (qboost_exp.config.config_digest): what a resume matches its runs by.
            found.digests.append(config_digest(config))
        if found.error is None:
            try:
                _check_values(config, number, overrides)
            except Exception as exc:  # noqa: BLE001 - raised by check(), after every job composed
                found.error = exc
    return found


def _check_values(config: DictConfig, number: int, overrides: Sequence[str]) -> None:
    from qboost_exp.config import check_config

    plain = OmegaConf.to_container(config, resolve=False)
    plain.pop("hydra", None)
    try:
        check_config(OmegaConf.to_container(OmegaConf.create(plain), resolve=True, throw_on_missing=False))
    except ConfigError as exc:
        raise ConfigError(f"job {number} ({' '.join(overrides)}): {str(exc).rstrip('.')}; nothing was started") from None


class _GridBatches(JobBatches):
    """Hydra's batches, with Hydra's job numbers, less the jobs that finished in an earlier launch."""

    def __init__(self, batches: Sequence[Sequence[Sequence[str]]], earlier: Mapping[int, Any]) -> None:
        self._batches = iter(batches)
        self._earlier = earlier
        self._next = 0

    def next_batch(self) -> dict[int, list[str]] | None:
        batch = next(self._batches, None)
        if batch is None:
            return None
        first, self._next = self._next, self._next + len(batch)
        return {number: list(job) for number, job in enumerate(batch, start=first) if number not in self._earlier}


def _earlier_launch(session: SweepSession, digests: list[str]) -> tuple[Any | None, dict[int, str | None]]:
    """The launch a resume continues (its parent run; None untracked or if there is none) and {job: FINISHED run} of the jobs it skips."""
    if session.uri is None:
        return None, _earlier_records(session, digests)
    previous = session.latest_parent()
    if previous is None:
        uri, experiment = session.store
        print(
            f"[sweep] hydra.sweeper.resume=true: no earlier sweep of these overrides in experiment {experiment!r} at {uri}; "
            "running all of it",
            flush=True,
        )
        return None, {}
    _check_driver(session, previous)
    session.refuse_live_jobs(previous)
    finished = session.earlier_by_digest(previous)
    return previous, {number: finished[digest] for number, digest in enumerate(digests) if digest in finished}


def _check_driver(session: SweepSession, previous: Any) -> None:
    """Refuse to resume a sweep whose parent run is RUNNING while its driver may live; take it over only when asked."""
    if previous.info.status != "RUNNING":
        return
    driver, alive = session.driver_of(previous)
    if alive is False:
        return  # its driver died on this machine: the resume closes what it left
    if alive:
        raise ConfigError(
            f"the sweep to resume (parent run {previous.info.run_id}) is still running (driver {driver}): "
            "wait for it to end or stop it, then resume"
        )
    if not session.takeover:
        # Its jobs may be running there right now: resuming would close them and run them twice.
        raise ConfigError(
            f"the sweep to resume (parent run {previous.info.run_id}) is RUNNING, driven from another machine ({driver}), "
            "which cannot be checked from here: if that driver is gone, resume with hydra.sweeper.takeover=true"
        )
    print(f"[sweep] the sweep's parent run {previous.info.run_id} is RUNNING from another machine ({driver}); taking it over", flush=True)


def _earlier_records(session: SweepSession, digests: list[str]) -> dict[int, str | None]:
    """Untracked: the jobs whose record in ``hydra.sweep.dir`` says they finished with the same composed config."""
    from qboost_exp.sweep import FINISHED

    session.refuse_live_jobs()
    records = session.job_records()
    skip: dict[int, str | None] = {}
    for number, digest in enumerate(digests):
        record = records.get(number)
        if record and record.get("state") == FINISHED and record.get("config_digest") == digest:
            skip[number] = None
    if not records:
        print(
            f"[sweep] hydra.sweeper.resume=true: no job records in {session.config.hydra.sweep.dir} (without tracking, resume the same "
            "hydra.sweep.dir); running all of it",
            flush=True,
        )
    else:
        _say_resuming(session.config, len(skip), len(digests), "")
    return skip


def _say_resuming(config: DictConfig, earlier: int, jobs: int, note: str) -> None:
    print(f"[sweep] resuming {config.hydra.sweep.dir}: {earlier} of {jobs} jobs finished earlier, running {jobs - earlier}{note}", flush=True)
