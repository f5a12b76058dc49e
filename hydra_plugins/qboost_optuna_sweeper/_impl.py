"""The Optuna sweep itself: storage, study, batches of trials through Hydra's launcher, every trial accounted for.

A launch of a study, in order:

1. open the study (an RDB storage with heartbeats) and check its direction;
2. close what dead drivers left: a RUNNING trial whose driver is gone is
   told FAIL with the reason, a RUNNING trial whose heartbeat stopped is
   failed by Optuna (``fail_stale_trials``); both run again (Optuna's
   ``RetryHeartbeatStaleTrialCallback`` queues the same parameters);
3. build the sampler, seeded from the configured seed and the study's size
   (a resumed study must not replay its earlier draws);
4. start the sweep's session (:class:`qboost_exp.sweep.SweepSession`): claim
   the sweep directory, open the MLflow parent run, or re-open the one an
   interrupted or killed launch of this study left, closing the child runs
   it left RUNNING;
5. ask for batches (:class:`_Trials`: never a parameter set the study
   already has COMPLETE), which the session launches, and tell the results;
   Ctrl-C, SIGTERM or a launcher error tell the open trials FAIL (to run
   again) before the summary, the parent KILLED and exit 130/143/1.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from omegaconf import DictConfig, OmegaConf

from qboost_exp.errors import ConfigError
from qboost_exp.sweep import JobBatches, SweepSession, job_failed
from qboost_exp.tracking import driver_alive, driver_id, higher_is_better

from ._search_space import format_value, search_space
from ._study import (
    DRIVER_ATTR,
    FAILURE_ATTR,
    FIXED_ATTR,
    NOT_RUN_ATTR,
    STOPPED_ATTR,
    completed_sets,
    counts_toward_budget,
    in_space,
    launch_seed,
    params_key,
    retried,
    space_size,
    untried_point,
)

STORAGE_FILE = "optuna.db"
#: What the summary tells a user whose study did not finish: the same command continues it.
RESUME_HINT = "the same command (the study continues; its stopped trials run again)"
# Study attributes that say what the study optimises; a resumed study must agree.
_OBJECTIVE_ATTR = "objective"
# Asks for a parameter set the study has not completed, with the configured sampler and then with
# a RandomSampler, before the launch gives up (a converged TPE keeps proposing its best point).
_REASKS = 10
# MLflow parent run statuses a launch of the same study continues (they ended without the study's end).
_CONTINUED = ("KILLED",)


def default_storage(store_uri: str, base_dir: str | os.PathLike[str]) -> str:
    """``sqlite:///optuna.db`` beside the MLflow SQLite store (``store_uri``), else in ``base_dir`` (the launch directory)."""
    if store_uri.startswith("sqlite:///"):
        directory = Path(store_uri[len("sqlite:///"):].split("?", 1)[0]).parent
    else:
        directory = Path(base_dir).resolve()
    return f"sqlite:///{directory / STORAGE_FILE}"


def redacted(url: str) -> str:
    """``url`` without its password (it goes into MLflow tags and the console)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: nothing to hide we know of
        return url


def direction_of(objective: str) -> str:
    """Optuna's direction for ``objective``, by the project's one rule."""
    return "maximize" if higher_is_better(objective) else "minimize"


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Without Optuna's experimental/heartbeat warnings: heartbeats with ask/tell are what this sweeper means to do."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class _Heartbeats:
    """Record Optuna heartbeats for the trials a launch has open, from a thread, while the launcher runs them.

    Optuna records heartbeats only inside ``study.optimize``; with ask and
    tell the sweeper records them itself. A trial whose heartbeats stop (its
    driver died on another machine, where its process cannot be looked up)
    is failed and run again by the next launch (``fail_stale_trials``).
    """

    def __init__(self, storage: Any, interval: int | None) -> None:
        self._storage = storage
        self._interval = interval
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        if self._interval is None:
            return
        with self._lock:
            self._ids.add(trial_id)
        self._beat(trial_id)  # at once: a trial without heartbeat is never found stale

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self._ids.discard(trial_id)

    def __enter__(self) -> "_Heartbeats":
        if self._interval is not None:
            self._thread = threading.Thread(target=self._run, name="optuna-heartbeats", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        assert self._interval is not None
        while not self._stop.wait(self._interval):
            with self._lock:
                ids = list(self._ids)
            for trial_id in ids:
                self._beat(trial_id)

    def _beat(self, trial_id: int) -> None:
        try:
            self._storage.record_heartbeat(trial_id)
        except Exception:  # noqa: BLE001 - a missed heartbeat costs at most a retry of a live trial after the grace period
            pass


class _Retry:
    """Optuna's ``RetryHeartbeatStaleTrialCallback``: queue a stopped trial's parameters again, without its user attributes.

    The retry would otherwise inherit the dead trial's MLflow run id, overrides
    and failure; Optuna's own callback writes the retry history
    (``failed_trial``, ``retry_history`` system attributes) that the budget
    reads (:func:`._study.retried`).
    """

    def __init__(self, max_retry: int | None) -> None:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        self.max_retry = max_retry
        with _quiet_optuna():
            self._optuna = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: Any, trial: Any) -> None:
        clean = copy.deepcopy(trial)
        clean.user_attrs = {}
        with _quiet_optuna():
            self._optuna(study, clean)




@dataclass
class _Plan:
    """What this launch of the study runs, found before it touches the sweep directory or MLflow."""

    study: Any
    objective: str
    direction: str
    #: The storage URL without its password (MLflow tags, the console).
    shown: str
    space: Mapping[str, Any]
    fixed: list[str]
    #: The parameter sets the study has COMPLETE (and, as the launch goes, asked for).
    tried: set[Any]
    #: How many parameter sets the space holds; None when it is not finite.
    size: int | None
    #: Trials this launch runs: n_trials less those that count already.
    remaining: int


class OptunaSweep:
    """See :class:`hydra_plugins.qboost_optuna_sweeper.optuna_sweeper.OptunaSweeper`."""

    def __init__(
        self,
        *,
        study_name: str,
        storage: str | None,
        n_trials: int,
        n_jobs: int,
        sampler: Any,
        params: Any,
        heartbeat_interval: int | None = 60,
        grace_period: int | None = None,
        max_retry: int | None = 3,
    ) -> None:
        self.study_name = study_name
        self.storage = storage
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.sampler_cfg = sampler
        self.params = OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) else dict(params or {})
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.max_retry = max_retry
        self.launcher: Any = None
        self.config: DictConfig | None = None
        self.hydra_context: Any = None
        self._storage: Any = None  # the study's RDBStorage, once opened

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context, task_function=task_function, config=config)

    # -- the sweep -------------------------------------------------------------
    def sweep(self, arguments: Sequence[str], *, validate: Callable[[Sequence[Sequence[str]]], None]) -> list[Any]:
        assert self.config is not None
        session = SweepSession(self.config, self.launcher, resume_hint=RESUME_HINT, validate=validate)
        with session.refusing():
            plan = self._plan(session, arguments, validate)
            previous, earlier = self._earlier_launch(session, plan.shown) if session.uri else (None, {})
            session.start(
                plan.remaining, previous=previous, earlier=earlier, run_name=f"optuna study {self.study_name} ({plan.shown})",
                tags={"optuna.study_name": self.study_name, "optuna.storage": plan.shown, "optuna.direction": plan.direction},
            )
            if session.closed:
                print(f"[optuna] closed {session.closed} child run{'s' if session.closed != 1 else ''} the stopped launch left RUNNING (KILLED)", flush=True)
            trials = _Trials(self, session, plan)
            with _Heartbeats(self._storage, self.heartbeat_interval) as trials.heartbeats:
                returns = session.launch(trials, planned=plan.remaining)
            self._report(plan.study, plan.objective)
            return returns

    # -- before the first trial -------------------------------------------------
    def _plan(self, session: SweepSession, arguments: Sequence[str], validate: Callable[[Sequence[Sequence[str]]], None]) -> _Plan:
        """Check the settings, open the study, close what dead drivers left, and count what is left to run."""
        import optuna

        if self.n_trials < 1 or self.n_jobs < 1:
            raise ConfigError(f"hydra.sweeper.n_trials and hydra.sweeper.n_jobs must be >= 1, got {self.n_trials} and {self.n_jobs}")
        if self.max_retry is not None and self.max_retry < 0:
            raise ConfigError(f"hydra.sweeper.max_retry must be >= 0 or null, got {self.max_retry}")
        objective = session.objective
        direction = direction_of(objective)
        space, fixed = search_space(self.params, arguments)
        if not space:
            raise ConfigError("the Optuna search space is empty: set hydra.sweeper.params (see conf/hparams_search/optuna.yaml)")
        self._check_composes(space, fixed, validate)
        storage_url = self.storage or default_storage(session.store[0], os.getcwd())
        shown = redacted(storage_url)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happens
        study = self._open_study(storage_url, shown, direction, objective)
        self._recover(study)
        trials = study.get_trials(deepcopy=False)
        study.sampler, seed_note = self._sampler(len(trials))
        tried = {key for key in completed_sets(trials, fixed) if in_space(dict(key), space)}
        plan = _Plan(study, objective, direction, shown, space, list(fixed), tried, space_size(space), 0)
        self._budget(plan, trials, seed_note)
        return plan

    def _budget(self, plan: _Plan, trials: Sequence[Any], seed_note: str | None) -> None:
        """Set how many trials this launch runs, and say so; with none to run, report the study and exit 0."""
        again = retried(trials)
        done = sum(counts_toward_budget(t, again) for t in trials)
        plan.remaining = max(0, self.n_trials - done)
        print(
            f"[optuna] study {self.study_name!r} in {plan.shown}: {plan.direction} {plan.objective}; {done} of n_trials={self.n_trials} "
            f"trials done, {plan.remaining} to run in batches of {self.n_jobs}",
            flush=True,
        )
        if seed_note:
            print(seed_note, flush=True)
        if plan.remaining and plan.size is not None and len(plan.tried) >= plan.size:
            print(f"[optuna] the search space holds {plan.size} parameter sets and the study has completed all of them: nothing left to try", flush=True)
            plan.remaining = 0
        if plan.remaining == 0:
            if done >= self.n_trials:
                print(f"[optuna] nothing to run: raise hydra.sweeper.n_trials above {done} to continue the study", flush=True)
            self._report(plan.study, plan.objective)
            # No parent run, no summary: a re-run of a finished study leaves the MLflow experiment as it was.
            sys.stdout.flush()
            sys.exit(0)

    def _open_study(self, storage_url: str, shown: str, direction: str, objective: str) -> Any:
        import optuna

        try:
            with _quiet_optuna():
                self._storage = optuna.storages.RDBStorage(
                    storage_url,
                    heartbeat_interval=self.heartbeat_interval,
                    grace_period=self.grace_period,
                    heartbeat_stale_trial_callback=_Retry(self.max_retry),
                )
            study = optuna.create_study(study_name=self.study_name, storage=self._storage, direction=direction, load_if_exists=True)
        except ValueError as exc:  # heartbeat_interval / grace_period not positive
            raise ConfigError(f"hydra.sweeper.heartbeat_interval and grace_period must be positive integers or null: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - bad URL, unreachable database, missing driver
            raise ConfigError(f"cannot open the Optuna storage {shown} (hydra.sweeper.storage): {' '.join(str(exc).split())}") from None
        stored_direction = study.direction.name.lower()
        recorded = study.user_attrs.get(_OBJECTIVE_ATTR)
        if stored_direction != direction or (recorded is not None and recorded != objective):
            raise ConfigError(
                f"study {self.study_name!r} in {shown} optimises {recorded or '?'} ({stored_direction}), but objective={objective} "
                f"({direction}): choose another hydra.sweeper.study_name"
            )
        if recorded is None:
            study.set_user_attr(_OBJECTIVE_ATTR, objective)
        return study


    def _check_composes(self, space: Mapping[str, Any], fixed: Sequence[str], validate: Callable[[Sequence[Sequence[str]]], None]) -> None:
        """Compose one job with a value of every searched key, before the study is touched: a wrong key is one error line."""
        from optuna.distributions import CategoricalDistribution

        probe = [*fixed]
        for key, distribution in space.items():
            value = distribution.choices[0] if isinstance(distribution, CategoricalDistribution) else distribution.low
            probe.append(f"{key}={format_value(value)}")
        try:
            validate([probe])
        except Exception as exc:  # noqa: BLE001 - Hydra's composition error, for a user's search space
            raise ConfigError(
                f"the trial overrides do not compose ({' '.join(probe)}): {' '.join(str(exc).split())}; "
                "check that hydra.sweeper.params names keys this config has"
            ) from None

    def _sampler(self, trials_in_study: int) -> tuple[Any, str | None]:
        """The configured sampler, its seed (if it has one) moved on by the study's size (see ``launch_seed``); and a line saying so."""
        import optuna
        from hydra.utils import instantiate

        if not self.sampler_cfg:
            return optuna.samplers.TPESampler(), None
        try:
            seed = self.sampler_cfg.get("seed") if hasattr(self.sampler_cfg, "get") else None
            if isinstance(seed, int) and not isinstance(seed, bool):
                derived = launch_seed(seed, trials_in_study)
                note = None if derived == seed else (
                    f"[optuna] sampler seed {derived}, from seed {seed} and the study's {trials_in_study} trials: no replay of earlier draws"
                )
                with _quiet_optuna():
                    return instantiate(self.sampler_cfg, seed=derived), note
            with _quiet_optuna():
                return instantiate(self.sampler_cfg), None
        except Exception as exc:  # noqa: BLE001 - a bad _target_ or argument
            raise ConfigError(f"hydra.sweeper.sampler cannot be built: {' '.join(str(exc).split())}") from None

    def _recover(self, study: Any) -> None:
        """Close what earlier drivers left: trials RUNNING without a live driver are told FAIL and queued again.

        A trial asked for on this machine by a process that is gone is failed
        at once, with the reason; a trial whose driver cannot be looked up (it
        ran on another machine) is failed by Optuna when its heartbeats
        stopped longer than the grace period ago. Trials told FAIL because
        their driver was stopped (Ctrl-C, SIGTERM, a launcher error) and not
        queued yet are queued now: a stop must not cost the study a trial.
        """
        import optuna
        from optuna.trial import TrialState

        retry = _Retry(self.max_retry)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        study_id = self._storage.get_study_id_from_name(self.study_name)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            driver = trial.user_attrs.get(DRIVER_ATTR)
            if not driver or driver_alive(driver) is not False:
                continue
            why = f"its driver ({driver}) died before the trial ended; told FAIL at {stamp} by the next launch of the study (driver {driver_id()})"
            trial_id = self._storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            try:
                self._storage.set_trial_user_attr(trial_id, FAILURE_ATTR, why)
                self._storage.set_trial_user_attr(trial_id, STOPPED_ATTR, why)
                study.tell(trial.number, state=TrialState.FAIL)
            except Exception:  # noqa: BLE001 - another launch got there first (UpdateFinishedTrialError)
                continue
            print(f"[optuna] trial {trial.number} was left RUNNING: {why}", flush=True)
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        with _quiet_optuna():
            optuna.storages.fail_stale_trials(study)  # queues its retries through the storage's callback (_Retry)
        stale = before - {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        if stale:
            grace = self.grace_period or 2 * (self.heartbeat_interval or 0)
            print(f"[optuna] trials {sorted(stale)} sent no heartbeat for more than {grace} s: told FAIL (their driver is gone), queued again", flush=True)
        trials = study.get_trials(deepcopy=False)
        again = retried(trials)
        for trial in trials:
            if trial.state != TrialState.FAIL or STOPPED_ATTR not in trial.user_attrs or trial.number in again:
                continue
            history = len(trial.system_attrs.get("retry_history", []) or [])
            if self.max_retry is not None and history >= self.max_retry:
                continue  # stopped max_retry times: it counts as a failed trial
            count = len(study.get_trials(deepcopy=False))
            retry(study, trial)
            print(f"[optuna] trial {trial.number}'s parameters queued again as trial {count} ({trial.user_attrs[STOPPED_ATTR]})", flush=True)

    def _earlier_launch(self, session: SweepSession, shown: str) -> tuple[Any | None, dict[int, str]]:
        """The MLflow parent run to continue, and {job: FINISHED run} under it; (None, {}) for a parent of this launch's own.

        A launch that was stopped or died leaves its parent run KILLED or
        RUNNING: continuing it keeps the study's trials under one parent.
        """
        previous = session.latest_parent({"optuna.study_name": self.study_name, "optuna.storage": shown})
        if previous is None:
            return None, {}
        status = previous.info.status
        if not (status in _CONTINUED or (status == "RUNNING" and session.driver_of(previous)[1] is False)):
            # Its last launch ended (or another driver runs it now): a parent of this launch's own.
            return None, {}
        return previous, session.earlier_by_job(previous)

    # -- the end -------------------------------------------------------------------
    def _report(self, study: Any, objective: str) -> None:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        again = retried(trials)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        failed = [t for t in trials if t.state == TrialState.FAIL and counts_toward_budget(t, again)]
        print(f"[optuna] study {self.study_name!r}: {len(complete)} complete, {len(failed)} failed trials", flush=True)
        if complete:
            best = study.best_trial
            params = " ".join(f"{k}={format_value(v)}" for k, v in best.params.items())
            print(f"[optuna] best trial {best.number}: {objective} {best.value:.6g} ({params})", flush=True)
            self._write_results(best, objective)

    def _write_results(self, best: Any, objective: str) -> None:
        """``optimization_results.yaml`` in the sweep directory, as Hydra's sweepers write it."""
        assert self.config is not None
        directory = Path(str(self.config.hydra.sweep.dir))
        directory.mkdir(parents=True, exist_ok=True)
        results: Mapping[str, Any] = {
            "name": "optuna",
            "study_name": self.study_name,
            "objective": objective,
            "best_trial": best.number,
            "best_value": float(best.value),
            "best_params": {k: v for k, v in best.params.items()},
        }
        OmegaConf.save(OmegaConf.create(dict(results)), directory / "optimization_results.yaml")




class _Trials(JobBatches):
    """The study's side of a launch: batches of trials asked for, their results told, the open ones settled on a stop."""

    def __init__(self, sweep: OptunaSweep, session: SweepSession, plan: _Plan) -> None:
        self._sweep = sweep
        self._session = session
        self._plan = plan
        self._remaining = plan.remaining
        self._exhausted = False  # the last batch came short: the study has nothing more to try
        # Trials this launch asked for and has not told yet: {trial number: optuna.Trial}.
        self._open: dict[int, Any] = {}
        self._ids: dict[int, int] = {}  # trial number -> trial id (for heartbeats)
        self.heartbeats: _Heartbeats | None = None

    # -- asking ------------------------------------------------------------------
    def next_batch(self) -> dict[int, list[str]] | None:
        """Up to ``n_jobs`` trials' overrides, asked for only when the previous batch is told; None when the launch is done."""
        wanted = min(self._sweep.n_jobs, self._remaining)
        if wanted <= 0 or self._exhausted:
            return None
        batch = []
        for _ in range(wanted):
            trial = self._ask()
            if trial is None:
                break
            batch.append(trial)
        self._remaining -= len(batch)
        self._exhausted = len(batch) < wanted
        fixed = self._plan.fixed
        return {t.number: [*fixed, *(f"{k}={format_value(v)}" for k, v in t.params.items())] for t in batch} or None

    def _ask(self) -> Any | None:
        """A trial whose parameters the study has not completed (nor this launch asked for); None when there is none to find."""
        import optuna
        from optuna.trial import TrialState

        study, space, tried, size = self._plan.study, self._plan.space, self._plan.tried, self._plan.size
        if size is not None and len(tried) >= size:
            print(f"[optuna] the search space holds {size} parameter sets and the study has tried all of them: stopping here", flush=True)
            return None
        configured = study.sampler
        try:
            for attempt in range(2 * _REASKS):
                if attempt == _REASKS:
                    # The configured sampler keeps proposing known points (a converged TPE): draw uniformly instead.
                    study.sampler = optuna.samplers.RandomSampler(seed=launch_seed(attempt, len(study.get_trials(deepcopy=False))))
                with _quiet_optuna():
                    trial = study.ask(dict(space))
                key = params_key(trial.params)
                if key in tried:
                    trial.set_user_attr(NOT_RUN_ATTR, "the sampler proposed a parameter set the study already has COMPLETE")
                    trial.set_user_attr(FAILURE_ATTR, "not run: the study already has this parameter set COMPLETE")
                    study.tell(trial, state=TrialState.FAIL)
                    # A finite space: queue a point not tried yet, so that the next ask is new (one trial not run, not many).
                    point = untried_point(space, tried, seed=trial.number)
                    if point is not None:
                        study.enqueue_trial(point, skip_if_exists=False)
                    continue
                tried.add(key)
                self._open_trial(trial)
                return trial
        finally:
            study.sampler = configured
        print(f"[optuna] {2 * _REASKS} asks gave only parameter sets the study already has COMPLETE: stopping here", flush=True)
        return None

    def _open_trial(self, trial: Any) -> None:
        """``trial`` runs in this launch: its driver and fixed overrides recorded, its heartbeats begun."""
        trial.set_user_attr(DRIVER_ATTR, driver_id())
        trial.set_user_attr(FIXED_ATTR, list(self._plan.fixed))
        self._open[trial.number] = trial
        storage = self._sweep._storage
        study_id = storage.get_study_id_from_name(self._sweep.study_name)
        self._ids[trial.number] = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        if self.heartbeats is not None:
            self.heartbeats.add(self._ids[trial.number])

    # -- telling -----------------------------------------------------------------
    def _close(self, number: int) -> None:
        self._open.pop(number, None)
        if self.heartbeats is not None and number in self._ids:
            self.heartbeats.discard(self._ids[number])

    def tell(self, results: Mapping[int, Any]) -> None:
        from optuna.trial import TrialState

        study, objective = self._plan.study, self._plan.objective
        trials = {number: self._open[number] for number in results}
        runs = self._session.run_ids()
        for number, result in results.items():
            trial = trials[number]
            trial.set_user_attr("overrides", " ".join(result.overrides))
            run_id = runs.get(number)
            if run_id:
                trial.set_user_attr("mlflow_run_id", run_id)
            failure = job_failed(result)
            value = None if failure else result.return_value
            if failure is None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                failure = f"the job logged no finite {objective!r}"
            if failure is not None:
                trial.set_user_attr(FAILURE_ATTR, failure[:1000])
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, float(value))
            self._close(number)

    def stop(self, reason: str, finished: Mapping[int, str | None]) -> None:
        """Tell every open trial how it ended: COMPLETE if its job finished (its record and run say so), else FAIL, to run again.

        No trial may stay RUNNING in the study, and a trial whose job did not
        finish is marked :data:`STOPPED_ATTR`, so the next launch runs its
        parameters again instead of counting it.
        """
        from optuna.trial import TrialState

        study = self._plan.study
        for number, trial in list(self._open.items()):
            try:
                value = self._session.objective_value(finished[number]) if number in finished else None
                if value is not None:
                    trial.set_user_attr("mlflow_run_id", finished[number])
                    study.tell(trial, value)
                else:
                    why = f"{reason}: the driver stopped before the trial's job ended; the next launch runs it again"
                    trial.set_user_attr(FAILURE_ATTR, why[:1000])
                    trial.set_user_attr(STOPPED_ATTR, reason[:1000])
                    study.tell(trial, state=TrialState.FAIL)
            except BaseException:  # noqa: BLE001 - one trial's store error (or a second Ctrl-C) must not leave the others RUNNING
                try:
                    study.tell(trial, state=TrialState.FAIL)
                except BaseException:  # noqa: BLE001 - the next launch fails it (dead driver)
                    pass
            finally:
                self._close(number)
