"""The ``hydra/sweeper=basic`` plugin class and its config node, which replaces Hydra's own under that name."""

# No `from __future__ import annotations`: Hydra loads this module outside sys.modules, where dataclasses cannot resolve string annotations.

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore

# Hydra's grid sweeper lives in a private module; importing it here also stores its
# config node first, so that ours, stored below, is the one `hydra/sweeper=basic` names.
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


@dataclass
class QBoostBasicSweeperConf:
    """``hydra.sweeper`` for ``hydra/sweeper=basic``: Hydra's keys, and ``resume``."""

    _target_: str = "hydra_plugins.qboost_basic_sweeper.basic_sweeper.QBoostBasicSweeper"
    #: Jobs per launcher batch; None: all jobs in one batch.
    max_batch_size: Optional[int] = None
    #: The sweep's overrides in config form (``key: a,b,c``).
    params: Optional[Dict[str, str]] = None
    #: True: skip the jobs that finished in the latest earlier launch of this sweep; run the rest under its parent run.
    resume: bool = False
    #: With resume: continue a sweep whose parent run is RUNNING from another machine (its driver known to be gone).
    takeover: bool = False


ConfigStore.instance().store(group="hydra/sweeper", name="basic", node=QBoostBasicSweeperConf, provider="qboost-exp")


class QBoostBasicSweeper(BasicSweeper):
    """Hydra's grid sweeper (the same batches, job numbers and directories) that accounts for every job and can resume.

    - Every job's outcome comes from what the launcher returned and what
      the job recorded in the sweep directory (``qboost_exp.sweep``): a job
      that failed before its MLflow run existed, was killed or never
      started is counted, and the summary and exit status say so.
    - Ctrl-C, SIGTERM and a launcher that raises end the sweep with its
      summary, the parent run KILLED (exit 130, 143 or 1).
    - ``resume=true`` continues the latest sweep with the same overrides in
      the same experiment (or, untracked, the one in ``hydra.sweep.dir``):
      jobs whose run FINISHED with the same composed config are skipped,
      the rest run under the same parent run, with their own job numbers,
      in the same sweep directory.

    Parameters
    ----------
    max_batch_size : int or None
        Jobs per launcher batch (None: all at once), as Hydra's.
    params : dict or None
        The sweep's overrides in config form, as Hydra's.
    resume : bool
        Continue the earlier launch of this sweep instead of starting it afresh.
    takeover : bool
        With ``resume``: continue a sweep whose parent run is RUNNING from
        another machine, whose driver this machine cannot check (refused otherwise).
    """

    #: Read by qboost_exp.sweep.MLflowSweepCallback, which then leaves the parent run to this sweeper.
    opens_parent_run = True

    def __init__(
        self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None, resume: bool = False, takeover: bool = False
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.resume = resume
        self.takeover = takeover

    def sweep(self, arguments: List[str]) -> Any:
        from ._impl import sweep

        return sweep(self, arguments)
