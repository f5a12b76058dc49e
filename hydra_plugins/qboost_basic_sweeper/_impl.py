"""The grid sweep itself: Hydra's batches, every job's config checked before any starts, and what a resume skips.

Jobs whose ``model.max_learners`` is ``match`` run after all the others
(:func:`match_last`): each takes its k from a QBoost run of the sweep, so a
sweep in which one would find none (no QBoost job) or several (QBoost jobs
on the same data and dictionary, e.g. a sweep over λ) is refused before any
job starts, as is a benchmark (``+benchmark=...``) whose ``benchmark.against``
is no job's method.

The rest (the sweep directory, the parent run, the launch and its summary)
is :class:`qboost_exp.sweep.SweepSession`'s, as for the Optuna sweeper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from omegaconf import DictConfig, OmegaConf

from qboost_exp.errors import ConfigError
from qboost_exp.sweep import JobBatches, SweepSession
from qboost_exp.tracking import MATCH_LEARNERS, QBOOST_MODEL, method_name

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
    ordered = match_last(batches, composed.match, sweeper.max_batch_size)
    return session.launch(_GridBatches(ordered, session.earlier), jobs=jobs)


def match_last(batches: Sequence[Sequence[Sequence[str]]], later: set[int], max_batch_size: int | None) -> list[list[tuple[int, list[str]]]]:
    """Hydra's batches as ``(job number, overrides)``, the jobs in ``later`` (``model.max_learners=match``) moved after all others.

    Without such jobs these are Hydra's batches. Otherwise the other jobs come
    first, then the ``match`` jobs, each part cut in batches of
    ``max_batch_size`` (all in one without): a launcher returns only when its
    batch is done, so every QBoost run a ``match`` job takes its k from has
    finished before it starts. Each job keeps its Hydra job number (its
    directory, and what a resume knows it by).
    """
    numbered, first = [], 0
    for batch in batches:
        numbered.append([(number, list(job)) for number, job in enumerate(batch, start=first)])
        first += len(batch)
    if not later:
        return numbered
    jobs = [job for batch in numbered for job in batch]
    ordered = []
    for part in ([job for job in jobs if job[0] not in later], [job for job in jobs if job[0] in later]):
        size = max_batch_size or len(part) or 1
        ordered.extend(part[i : i + size] for i in range(0, len(part), size))
    return ordered


@dataclass
class _Composed:
    """What composing every job found: each job's config digest (for a resume), and the first job whose values are wrong."""

    digests: list[str] = field(default_factory=list)
    error: BaseException | None = None
    #: The jobs whose ``model.max_learners`` is ``match``: launched after all the others.
    match: set[int] = field(default_factory=set)
    #: Whether some job trains QBoost (a ``match`` job needs one).
    qboost: bool = False
    #: Every job's method (``qboost.method``: ``qboost``, ``lasso@k``, ...), in job order.
    methods: list[str] = field(default_factory=list)
    #: The params a ``match`` job matches on (:func:`qboost_exp.tracking.matched_params`), of each QBoost and ``match`` job.
    matched: dict[int, frozenset] = field(default_factory=dict)

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
        model = _model_of(config)
        is_qboost = model.get("name", QBOOST_MODEL) == QBOOST_MODEL
        found.qboost = found.qboost or is_qboost
        found.methods.append(method_name(model.get("name"), model.get("max_learners"), model.get("_target_")))
        if model.get("max_learners") == MATCH_LEARNERS and not is_qboost:
            found.match.add(number)
        if is_qboost or number in found.match:
            params = _matched_params(config)
            if params is not None:
                found.matched[number] = params
        if found.error is None:
            try:
                _check_values(config, number, overrides)
            except Exception as exc:  # noqa: BLE001 - raised by check(), after every job composed
                found.error = exc
    if found.error is None and found.match and not found.qboost:
        number = min(found.match)
        found.error = ConfigError(
            f"job {number} ({' '.join(jobs[number])}): model.max_learners=match takes k from a QBoost run of the same multirun, "
            "and no job of this one trains QBoost: add model=qboost, e.g. -m model=qboost,lasso_at_k; nothing was started"
        )
    if found.error is None:
        found.error = _ambiguous_match(found, jobs) or _benchmark_without_reference(sweeper.config, found)
    return found


def _ambiguous_match(found: _Composed, jobs: list[list[str]]) -> ConfigError | None:
    """The error for the first ``match`` job that would find several QBoost runs of its data and dictionary (None if none would)."""
    qboost = [number for number, method in enumerate(found.methods) if method == QBOOST_MODEL and number in found.matched]
    for number in sorted(found.match):
        wanted = found.matched.get(number)
        same = [q for q in qboost if found.matched[q] == wanted] if wanted is not None else []
        if len(same) > 1:
            listing = ", ".join(f"{q} ({' '.join(jobs[q])})" for q in same)
            return ConfigError(
                f"job {number} ({' '.join(jobs[number])}): model.max_learners=match takes k from the one QBoost run of its data "
                f"and dictionary, and the QBoost jobs {listing} all train on them, so k would be ambiguous: sweep one QBoost "
                "config beside the match models (one multirun per lambda); nothing was started"
            )
    return None


def _benchmark_without_reference(config: DictConfig, found: _Composed) -> ConfigError | None:
    """The error for a benchmark (``benchmark.against``) whose reference method no job of the sweep runs (None otherwise)."""
    try:
        against = OmegaConf.select(config, "benchmark.against", default=None)
    except Exception:  # noqa: BLE001 - an interpolation that does not resolve: the value check reports it
        return None
    if against is None or str(against) in found.methods:
        return None
    methods = ", ".join(dict.fromkeys(found.methods))
    return ConfigError(
        f"benchmark.against={against}: no job of this sweep runs that method, so there is nothing to compare against; "
        f"the sweep's methods are {methods}: set benchmark.against to one of them or add its model; nothing was started"
    )


def _matched_params(config: DictConfig) -> frozenset | None:
    """A job's params that a ``match`` job matches on, as its run logs them (None when the config does not resolve)."""
    from qboost_exp import tracking

    plain = OmegaConf.to_container(config, resolve=False)
    plain.pop("hydra", None)
    try:
        resolved = OmegaConf.to_container(OmegaConf.create(plain), resolve=True, throw_on_missing=False)
    except Exception:  # noqa: BLE001 - the value check reports it
        return None
    return frozenset(tracking.matched_params(tracking.flatten(resolved)).items())


def _model_of(config: DictConfig) -> dict[str, Any]:
    """A job's ``model`` node's ``name``, ``max_learners`` and ``_target_`` as written (empty when they do not resolve: the job's check says why)."""
    model = {}
    for key in ("name", "max_learners", "_target_"):
        try:
            value = OmegaConf.select(config, f"model.{key}", default=None)
        except Exception:  # noqa: BLE001 - an interpolation that does not resolve is the value check's to report
            continue
        if value is not None:
            model[key] = value
    return model


def _check_values(config: DictConfig, number: int, overrides: Sequence[str]) -> None:
    from qboost_exp.config import check_config

    plain = OmegaConf.to_container(config, resolve=False)
    plain.pop("hydra", None)
    try:
        check_config(OmegaConf.to_container(OmegaConf.create(plain), resolve=True, throw_on_missing=False))
    except ConfigError as exc:
        raise ConfigError(f"job {number} ({' '.join(overrides)}): {str(exc).rstrip('.')}; nothing was started") from None


class _GridBatches(JobBatches):
    """The batches of :func:`match_last`, with Hydra's job numbers, less the jobs that finished in an earlier launch."""

    def __init__(self, batches: Sequence[Sequence[tuple[int, list[str]]]], earlier: Mapping[int, Any]) -> None:
        self._batches = iter(batches)
        self._earlier = earlier

    def next_batch(self) -> dict[int, list[str]] | None:
        batch = next(self._batches, None)
        if batch is None:
            return None
        return {number: list(job) for number, job in batch if number not in self._earlier}


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
