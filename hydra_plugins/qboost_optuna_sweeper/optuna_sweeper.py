"""The ``hydra/sweeper=optuna`` plugin class and its config node."""

# No `from __future__ import annotations`: Hydra loads this module outside sys.modules, where dataclasses cannot resolve string annotations.

from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class OptunaSweeperConf:
    """``hydra.sweeper`` for ``hydra/sweeper=optuna`` (conf/hparams_search/optuna.yaml sets it up)."""

    _target_: str = "hydra_plugins.qboost_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    # The sampler node is instantiated when the sweep starts, not by Hydra.
    _recursive_: bool = False
    #: Re-running with the same study_name (and storage) continues the study.
    study_name: str = "qboost"
    #: An SQLAlchemy URL; null: sqlite:///optuna.db beside the MLflow SQLite store
    #: (in the launch directory when tracking goes to a server).
    storage: Optional[str] = None
    #: Trials the study should have in total: a resumed study runs only the rest.
    n_trials: int = 20
    #: Trials asked for and launched together (one launcher batch).
    n_jobs: int = 1
    #: An Optuna sampler as a Hydra node (``_target_`` and its arguments).
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": None})
    #: Search space: ``key: <Hydra sweep syntax>``, e.g. ``tag(log, interval(1e-4, 0.3))``.
    params: Any = field(default_factory=dict)
    #: Seconds between the heartbeats the driver records for its RUNNING trials (Optuna's RDBStorage
    #: heartbeat); null: none, and a trial left RUNNING by a driver on another machine stays RUNNING.
    heartbeat_interval: Optional[int] = 60
    #: Seconds without a heartbeat after which the next launch fails such a trial; null: 2 x heartbeat_interval.
    grace_period: Optional[int] = None
    #: How many times a trial whose driver died or was stopped runs again (null: always).
    max_retry: Optional[int] = 3


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="qboost-exp")


class OptunaSweeper(Sweeper):
    """Ask Optuna for trials in batches, launch each batch with the configured launcher, tell the results.

    The study lives in an RDB storage, so it survives the process and a
    re-run continues it; its direction follows ``objective`` (the project's
    one rule for which way a metric is better).

    It opens the sweep's MLflow parent run itself (through its
    ``qboost_exp.sweep.SweepSession``), once it knows how many trials remain:
    a finished study runs nothing and leaves no empty parent run.

    Nothing is lost when things fail:

    - a resumed study's sampler is seeded from ``seed`` and the study's size,
      and no parameter set the study has COMPLETE is launched again;
    - trials a dead driver left RUNNING are told FAIL (with the reason) when
      the study starts again, and their parameters run again
      (``max_retry``); the parent and child runs it left RUNNING are closed
      KILLED, and that parent run is continued;
    - batches go through the session's launch: Ctrl-C, SIGTERM
      and a launcher error end with the summary, the parent run KILLED, no
      trial RUNNING, and exit status 130, 143 or 1.
    """

    #: Read by qboost_exp.sweep.MLflowSweepCallback, which then leaves the parent run to this sweeper.
    opens_parent_run = True

    def __init__(
        self,
        study_name: str,
        storage: Optional[str],
        n_trials: int,
        n_jobs: int,
        sampler: Any,
        params: Any,
        heartbeat_interval: Optional[int] = 60,
        grace_period: Optional[int] = None,
        max_retry: Optional[int] = 3,
    ) -> None:
        from ._impl import OptunaSweep

        self._impl = OptunaSweep(
            study_name=study_name, storage=storage, n_trials=n_trials, n_jobs=n_jobs, sampler=sampler, params=params,
            heartbeat_interval=heartbeat_interval, grace_period=grace_period, max_retry=max_retry,
        )

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self._impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)
        # Sweeper.validate_batch_is_legal reads these.
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = self._impl.launcher

    def sweep(self, arguments: List[str]) -> Any:
        return self._impl.sweep(arguments, validate=self.validate_batch_is_legal)
