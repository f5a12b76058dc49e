"""Hydra multirun <-> MLflow: one parent run per sweep, one nested child run per job.

The callback runs in the launching process. It creates the tracking store and
the parent run before any job starts (so parallel jobs never race on a fresh
SQLite schema), and closes the parent after the last job with the best
child's metrics, a plot of the objective against λ per sampler and a summary
that names failed jobs. Jobs find their parent by the sweep directory tag, so
this works with any launcher whose jobs reach the same tracking store
(basic, joblib, Ray, SLURM).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ._store import DEFAULT_EXPERIMENT, prepare_store, tracking_uri

PARENT_ROLE = "parent"
SWEEP_DIR_TAG = "qboost.sweep_dir"
_TOTAL_ENV = "QBOOST_SWEEP_TOTAL"
_START_ENV = "QBOOST_SWEEP_START"

# Read by the CLI after Hydra returns, to exit non-zero when a job failed.
last_sweep_failures: list[str] = []


def _plain(config: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]


def _tracking_enabled(config: DictConfig) -> bool:
    return bool(OmegaConf.select(config, "mlflow.enabled", default=True))


def find_parent_run(experiment_id: str, sweep_dir: str) -> str | None:
    """The RUNNING parent run of the sweep that owns ``sweep_dir``."""
    from mlflow import MlflowClient

    runs = MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.`qboost.role` = '{PARENT_ROLE}' AND tags.`{SWEEP_DIR_TAG}` = '{sweep_dir}' AND attributes.status = 'RUNNING'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def _count_jobs(config: DictConfig) -> int | None:
    """Jobs in a grid sweep (product of the comma-separated override lists); None if unknown."""
    sweeper = OmegaConf.select(config, "hydra.sweeper._target_", default="") or ""
    if "optuna" in sweeper.lower():
        return OmegaConf.select(config, "hydra.sweeper.n_trials", default=None)
    if "BasicSweeper" not in sweeper:
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    total = 1
    for override in OverridesParser.create().parse_overrides(list(config.hydra.overrides.task)):
        if override.is_sweep_override():
            total *= len(list(override.sweep_string_iterator()))
    return total


class MLflowSweepCallback(Callback):
    """Hydra callback (configured under ``hydra.callbacks``) that manages the sweep's parent run."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.experiment_id: str | None = None
        self.uri: str | None = None

    # -- launching process ---------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow import MlflowClient

        last_sweep_failures.clear()
        # ${hydra:...} only resolves here once the singleton holds this config.
        HydraConfig.instance().set_config(config)
        total = _count_jobs(config)
        os.environ[_START_ENV] = str(time.time())
        if total:
            os.environ[_TOTAL_ENV] = str(total)
        else:
            os.environ.pop(_TOTAL_ENV, None)
        if not _tracking_enabled(config):
            return
        mlflow_cfg = _plain(config.mlflow)
        self.uri = tracking_uri(mlflow_cfg, os.getcwd())
        self.experiment_id = prepare_store(self.uri, mlflow_cfg.get("experiment") or DEFAULT_EXPERIMENT)
        sweep_dir = str(config.hydra.sweep.dir)
        overrides = " ".join(config.hydra.overrides.task)
        run = MlflowClient().create_run(
            self.experiment_id,
            run_name=f"sweep {overrides}"[:250],
            tags={
                "qboost.role": PARENT_ROLE,
                SWEEP_DIR_TAG: sweep_dir,
                "hydra.overrides": overrides[:5000],
                "hydra.sweeper": str(OmegaConf.select(config, "hydra.sweeper._target_", default="")),
                "hydra.launcher": str(OmegaConf.select(config, "hydra.launcher._target_", default="")),
                **({"qboost.jobs": str(total)} if total else {}),
            },
        )
        self.parent_run_id = run.info.run_id
        print(f"[sweep] MLflow parent run {self.parent_run_id} in {self.uri}" + (f"; {total} jobs" if total else ""), flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not (self.parent_run_id and self.experiment_id):
            return
        from mlflow import MlflowClient

        client = MlflowClient()
        children = client.search_runs(
            [self.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_run_id}'", max_results=5000
        )
        objective = str(OmegaConf.select(config, "objective", default="validation_accuracy"))
        finished = [r for r in children if r.info.status == "FINISHED" and objective in r.data.metrics]
        failed = [r for r in children if r.info.status in ("FAILED", "KILLED")]
        lines = [f"[sweep] {len(children)} jobs: {len(finished)} finished, {len(failed)} failed"]
        for run in sorted(failed, key=lambda r: int(r.data.tags.get("qboost.job_num", "0"))):
            what = f"job {run.data.tags.get('qboost.job_num', '?')} ({run.data.tags.get('hydra.overrides', '')}): {run.data.tags.get('error', run.info.status)}"
            lines.append(f"[sweep] FAILED {what}")
            last_sweep_failures.append(what)
        status = "FINISHED"
        if finished:
            # ties go to the earliest job, as Optuna and a reader of the job list expect
            finished.sort(key=lambda r: int(r.data.tags.get("qboost.job_num", "0")))
            best = max(finished, key=lambda r: r.data.metrics[objective])
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            client.log_batch(self.parent_run_id, metrics=[Metric(k, v, now, 0) for k, v in best.data.metrics.items()])
            client.set_tag(self.parent_run_id, "best_run_id", best.info.run_id)
            client.set_tag(self.parent_run_id, "best_job_overrides", best.data.tags.get("hydra.overrides", ""))
            lines.append(
                f"[sweep] best {objective} {best.data.metrics[objective]:.4f}: job {best.data.tags.get('qboost.job_num', '?')} "
                f"({best.data.tags.get('hydra.overrides', '')}), run {best.info.run_id}"
            )
            self._log_lambda_plot(objective)
        elif children:
            status = "FAILED"
        client.set_terminated(self.parent_run_id, status=status)
        print("\n".join(lines), flush=True)

    def _log_lambda_plot(self, objective: str) -> None:
        try:
            from ..compare import load_runs, plot_metric_vs_lambda
        except ImportError:  # the comparison module is optional for the sweep itself
            return
        import mlflow
        from mlflow import MlflowClient

        experiment = mlflow.get_experiment(self.experiment_id).name
        runs = load_runs(experiment, tracking_uri=self.uri, parent=self.parent_run_id)
        if runs.empty:
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = plot_metric_vs_lambda(runs, objective, Path(tmp) / f"{objective}_vs_lambda.png")
            MlflowClient().log_artifact(self.parent_run_id, str(path), "plots")

    # -- job process (wherever the launcher runs it) --------------------------
    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
        if hydra_cfg is None or str(hydra_cfg.mode) != "RunMode.MULTIRUN":
            return
        total = os.environ.get(_TOTAL_ENV)
        start = float(os.environ.get(_START_ENV, time.time()))
        done = _finished_jobs()
        elapsed = time.time() - start
        status = getattr(job_return.status, "name", str(job_return.status))
        value = job_return._return_value if hasattr(job_return, "_return_value") else None
        if isinstance(value, float) and math.isnan(value):
            status = "FAILED"  # the CLI returns NaN for a job it caught failing
        text = f"[sweep] job {hydra_cfg.job.num} {status.lower()} ({' '.join(hydra_cfg.overrides.task)})"
        if total and done:
            remaining = max(0, int(total) - done)
            text += f" | {done}/{total} done, {elapsed:.0f} s elapsed, ETA {math.ceil(elapsed / done * remaining)} s"
        print(text, flush=True)


# The parent run of the sweep this process's current job belongs to (set by the CLI).
current_parent_run_id: str | None = None
_jobs_done_here = 0


def _finished_jobs() -> int:
    """Jobs of this sweep finished so far.

    Counted in MLflow (child runs no longer RUNNING) so that jobs running in
    other processes or on other machines count too; without tracking, counted
    in this process (exact for the basic launcher).
    """
    global _jobs_done_here
    _jobs_done_here += 1
    if current_parent_run_id is None:
        return _jobs_done_here
    try:
        from mlflow import MlflowClient

        client = MlflowClient()
        parent = client.get_run(current_parent_run_id)
        children = client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{current_parent_run_id}' AND attributes.status != 'RUNNING'",
            max_results=5000,
        )
        return len(children)
    except Exception:
        return _jobs_done_here
