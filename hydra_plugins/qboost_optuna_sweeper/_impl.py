"""The Optuna sweep itself: storage, study, batches of trials through Hydra's launcher."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from omegaconf import DictConfig, OmegaConf

from qboost_exp.errors import ConfigError, QBoostError

from ._search_space import format_value, search_space

STORAGE_FILE = "optuna.db"
# Study attributes that say what the study optimises; a resumed study must agree.
_OBJECTIVE_ATTR = "objective"


def default_storage(config: DictConfig, base_dir: str | os.PathLike[str]) -> str:
    """``sqlite:///optuna.db`` beside the MLflow SQLite store, else in ``base_dir`` (the launch directory)."""
    from qboost_exp.tracking import tracking_uri

    mlflow_cfg = OmegaConf.to_container(config.mlflow, resolve=True) if "mlflow" in config else {}
    uri = tracking_uri(mlflow_cfg or {}, base_dir)
    if uri.startswith("sqlite:///"):
        directory = Path(uri[len("sqlite:///"):].split("?", 1)[0]).parent
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
    from qboost_exp.tracking import higher_is_better

    return "maximize" if higher_is_better(objective) else "minimize"


class OptunaSweep:
    """See :class:`hydra_plugins.qboost_optuna_sweeper.optuna_sweeper.OptunaSweeper`."""

    def __init__(self, *, study_name: str, storage: str | None, n_trials: int, n_jobs: int, sampler: Any, params: Any) -> None:
        self.study_name = study_name
        self.storage = storage
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.sampler_cfg = sampler
        self.params = OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) else dict(params or {})
        self.launcher: Any = None
        self.config: DictConfig | None = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context, task_function=task_function, config=config)

    # -- the sweep -------------------------------------------------------------
    def sweep(self, arguments: Sequence[str], *, validate: Callable[[Sequence[Sequence[str]]], None]) -> list[Any]:
        try:
            return self._sweep(arguments, validate)
        except QBoostError as exc:
            self._abort(str(exc))
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(2)

    def _abort(self, message: str) -> None:
        """Close the sweep's MLflow parent run as FAILED (on_multirun_end never runs after an error)."""
        from qboost_exp.sweep import close_parent

        try:
            close_parent(self.config, "FAILED", error=message)
        except Exception:  # noqa: BLE001 - the store may be what failed; the error line still prints
            pass

    def _sweep(self, arguments: Sequence[str], validate: Callable[[Sequence[Sequence[str]]], None]) -> list[Any]:
        import optuna
        from hydra.utils import instantiate

        from qboost_exp.sweep import open_parent
        from qboost_exp.tracking import DEFAULT_OBJECTIVE

        assert self.config is not None
        if self.n_trials < 1 or self.n_jobs < 1:
            raise ConfigError(f"hydra.sweeper.n_trials and hydra.sweeper.n_jobs must be >= 1, got {self.n_trials} and {self.n_jobs}")
        objective = str(OmegaConf.select(self.config, "objective", default=DEFAULT_OBJECTIVE))
        direction = direction_of(objective)
        space, fixed = search_space(self.params, arguments)
        if not space:
            raise ConfigError("the Optuna search space is empty: set hydra.sweeper.params (see conf/hparams_search/optuna.yaml)")
        storage_url = self.storage or default_storage(self.config, os.getcwd())
        shown = redacted(storage_url)
        try:
            sampler = instantiate(self.sampler_cfg) if self.sampler_cfg else None
        except Exception as exc:  # noqa: BLE001 - a bad _target_ or argument
            raise ConfigError(f"hydra.sweeper.sampler cannot be built: {' '.join(str(exc).split())}") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happens
        try:
            storage = optuna.storages.RDBStorage(storage_url)
            study = optuna.create_study(study_name=self.study_name, storage=storage, sampler=sampler, direction=direction, load_if_exists=True)
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

        from optuna.trial import TrialState

        finished = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
        done = len(study.get_trials(deepcopy=False, states=finished))
        remaining = max(0, self.n_trials - done)
        print(
            f"[optuna] study {self.study_name!r} in {shown}: {direction} {objective}; {done} of n_trials={self.n_trials} trials done, "
            f"{remaining} to run in batches of {self.n_jobs}",
            flush=True,
        )
        if remaining == 0:
            # No parent run either: a re-run of a finished study leaves the MLflow experiment as it was.
            print(f"[optuna] nothing to run: raise hydra.sweeper.n_trials above {done} to continue the study", flush=True)
        else:
            # This sweeper opens the parent (OptunaSweeper.opens_parent_run), now that there is something to run.
            open_parent(
                self.config,
                run_name=f"optuna study {self.study_name} ({shown})",
                tags={"optuna.study_name": self.study_name, "optuna.storage": shown, "optuna.direction": direction},
                jobs=remaining,
            )
        returns: list[Any] = []
        while remaining > 0:
            batch = [study.ask(space) for _ in range(min(self.n_jobs, remaining))]
            try:
                overrides = [[*fixed, *(f"{k}={format_value(v)}" for k, v in trial.params.items())] for trial in batch]
                try:
                    validate(overrides)
                except Exception as exc:  # noqa: BLE001 - Hydra's composition error, for a user's search space
                    raise ConfigError(
                        f"the trial overrides do not compose ({' '.join(overrides[0])}): {' '.join(str(exc).split())}; "
                        "check that hydra.sweeper.params names keys this config has"
                    ) from None
                # Job numbers continue the trial numbers, so MLflow's job N is Optuna's trial N.
                results = self.launcher.launch(overrides, initial_job_idx=batch[0].number)
                self._tell(study, batch, results, objective)
            except BaseException:
                # Never leave a trial RUNNING in the stored study.
                running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
                for trial in batch:
                    if trial.number in running:
                        study.tell(trial, state=TrialState.FAIL)
                raise
            returns.append(results)
            remaining -= len(batch)
        self._report(study, objective)
        return returns

    def _tell(self, study: Any, batch: Sequence[Any], results: Sequence[Any], objective: str) -> None:
        from optuna.trial import TrialState

        from qboost_exp.sweep import job_failed

        runs = self._child_runs()
        for trial, result in zip(batch, results):
            trial.set_user_attr("overrides", " ".join(result.overrides))
            run_id = runs.get(trial.number)
            if run_id:
                trial.set_user_attr("mlflow_run_id", run_id)
            failure = job_failed(result)
            value = None if failure else result.return_value
            if failure is None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                failure = f"the job logged no finite {objective!r}"
            if failure is not None:
                trial.set_user_attr("failure", failure[:1000])
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, float(value))

    def _child_runs(self) -> dict[int, str]:
        """{job number: MLflow run id} of this sweep's child runs so far (empty without tracking)."""
        from qboost_exp.sweep import parent_run_of
        from qboost_exp.tracking import JOB_NUM_TAG, child_runs

        try:
            found = parent_run_of(self.config)
            if found is None:
                return {}
            client, parent = found
            children = child_runs(client, parent.info.run_id)
            return {int(r.data.tags[JOB_NUM_TAG]): r.info.run_id for r in children if JOB_NUM_TAG in r.data.tags}
        except Exception:  # noqa: BLE001 - the link is a convenience; the trial's result does not depend on it
            return {}

    def _report(self, study: Any, objective: str) -> None:
        from optuna.trial import TrialState

        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
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
