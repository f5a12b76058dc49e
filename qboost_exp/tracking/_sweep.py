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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ..errors import QBoostError
from ._run import SWEPT_TAG
from ._runs import FAILED_STATUSES, JOB_NUM_TAG, PARENT_ROLE, ROLE_TAG, best_run, metric_value, training_runs
from ._store import DEFAULT_EXPERIMENT, prepare_store, tracking_uri

SWEEP_DIR_TAG = "qboost.sweep_dir"
_TOTAL_ENV = "QBOOST_SWEEP_TOTAL"
_START_ENV = "QBOOST_SWEEP_START"

# Read by the CLI after Hydra returns, to exit non-zero when a job failed.
last_sweep_failures: list[str] = []


class JobFailure:
    """What a sweep job returns instead of its objective when it failed.

    Hydra's grid sweeper stops the whole sweep at the first job that raises,
    so the CLI catches the error and returns this; the sweep callback and the
    Optuna sweeper count it as a failed job (FAILED in MLflow, FAIL in Optuna).
    """

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"JobFailure({self.message!r})"


def job_failed(job_return: Any) -> str | None:
    """Why a Hydra ``JobReturn`` failed (its exception or :class:`JobFailure`), or None if it did not."""
    status = getattr(job_return.status, "name", str(job_return.status))
    value = getattr(job_return, "_return_value", None)
    if status == "FAILED":
        return f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else "failed"
    if isinstance(value, JobFailure):
        return value.message
    return None


def _plain(config: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]


def _tracking_enabled(config: DictConfig) -> bool:
    return bool(OmegaConf.select(config, "mlflow.enabled", default=True))


def find_parent_run(experiment_id: str, sweep_dir: str) -> Any | None:
    """The RUNNING parent run (``mlflow.entities.Run``) of the sweep that owns ``sweep_dir``."""
    from mlflow import MlflowClient

    runs = MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = '{PARENT_ROLE}' AND tags.`{SWEEP_DIR_TAG}` = '{sweep_dir}' AND attributes.status = 'RUNNING'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def _sweep_overrides(config: DictConfig) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))


def swept_keys_of(config: DictConfig) -> list[str]:
    """The config keys a sweep varies: comma lists on the command line and a sweeper's ``params``."""
    keys = [o.get_key_element().lstrip("+~") for o in _sweep_overrides(config) if o.is_sweep_override()]
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    keys.extend(str(k) for k in params if str(k) not in keys)
    return keys


def _count_jobs(config: DictConfig) -> int | None:
    """Jobs in a grid sweep (product of the comma-separated override lists), an Optuna study's n_trials; None if unknown."""
    sweeper = OmegaConf.select(config, "hydra.sweeper._target_", default="") or ""
    if "optuna" in sweeper.lower():
        return OmegaConf.select(config, "hydra.sweeper.n_trials", default=None)
    if "BasicSweeper" not in sweeper:
        return None
    total = 1
    for override in _sweep_overrides(config):
        if override.is_sweep_override():
            total *= len(list(override.sweep_string_iterator()))
    return total


def set_expected_jobs(total: int | None) -> None:
    """How many jobs this sweep will run (for the progress line's ETA); a sweeper may correct it."""
    if total:
        os.environ[_TOTAL_ENV] = str(total)
    else:
        os.environ.pop(_TOTAL_ENV, None)


def annotate_parent(config: DictConfig, *, run_name: str | None = None, tags: dict[str, str] | None = None) -> str | None:
    """Name and tag the parent run of the sweep ``config`` belongs to (for sweepers); returns its id."""
    if not _tracking_enabled(config):
        return None
    import mlflow
    from mlflow import MlflowClient

    mlflow_cfg = _plain(config.mlflow)
    experiment = mlflow.get_experiment_by_name(mlflow_cfg.get("experiment") or DEFAULT_EXPERIMENT)
    if experiment is None:
        return None
    parent = find_parent_run(experiment.experiment_id, str(config.hydra.sweep.dir))
    if parent is None:
        return None
    client = MlflowClient()
    for key, value in {**(tags or {}), **({"mlflow.runName": run_name[:250]} if run_name else {})}.items():
        client.set_tag(parent.info.run_id, key, value[:5000])
    return parent.info.run_id


class MLflowSweepCallback(Callback):
    """Hydra callback (configured under ``hydra.callbacks``) that manages the sweep's parent run."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.experiment_id: str | None = None
        self.uri: str | None = None

    # -- launching process ---------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._open_parent(config)
        except QBoostError as exc:
            # Hydra turns a callback's exception into a warning and runs every
            # job anyway, each failing the same way: stop here, in one line.
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(2)

    def _open_parent(self, config: DictConfig) -> None:
        from mlflow import MlflowClient

        last_sweep_failures.clear()
        # ${hydra:...} only resolves here once the singleton holds this config.
        HydraConfig.instance().set_config(config)
        total = _count_jobs(config)
        os.environ[_START_ENV] = str(time.time())
        set_expected_jobs(total)
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
                ROLE_TAG: PARENT_ROLE,
                SWEEP_DIR_TAG: sweep_dir,
                SWEPT_TAG: " ".join(swept_keys_of(config)),
                "hydra.overrides": overrides[:5000],
                "hydra.sweeper": str(OmegaConf.select(config, "hydra.sweeper._target_", default="")),
                "hydra.launcher": str(OmegaConf.select(config, "hydra.launcher._target_", default="")),
                "objective": str(OmegaConf.select(config, "objective", default="validation_accuracy")),
                **({"qboost.jobs": str(total)} if total else {}),
            },
        )
        self.parent_run_id = run.info.run_id
        print(f"[sweep] MLflow parent run {self.parent_run_id} in {self.uri}" + (f"; {total} jobs" if total else ""), flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not (self.parent_run_id and self.experiment_id):
            return
        import mlflow
        from mlflow import MlflowClient

        client = MlflowClient()
        experiment = mlflow.get_experiment(self.experiment_id).name
        children = training_runs(experiment, parent_run_id=self.parent_run_id, statuses=None)
        objective = str(OmegaConf.select(config, "objective", default="validation_accuracy"))
        stale = [run for run in children if run.info.status == "RUNNING"]
        for run in stale:
            # Every job has returned: a run still open belongs to a job that
            # was killed from outside (a scheduler's time limit, the OOM killer).
            client.set_tag(run.info.run_id, "error", "the job ended without closing its run (killed from outside)")
            client.set_terminated(run.info.run_id, status="KILLED")
        if stale:
            children = training_runs(experiment, parent_run_id=self.parent_run_id, statuses=None)
        finished = [r for r in children if r.info.status == "FINISHED"]
        failed = [r for r in children if r.info.status in FAILED_STATUSES]
        lines = [f"[sweep] {len(children)} jobs: {len(finished)} finished, {len(failed)} failed"]
        for run in sorted(failed, key=lambda r: int(r.data.tags.get(JOB_NUM_TAG, "0"))):
            what = f"job {run.data.tags.get(JOB_NUM_TAG, '?')} ({run.data.tags.get('hydra.overrides', '')}): {run.data.tags.get('error', run.info.status)}"
            lines.append(f"[sweep] FAILED {what}")
            last_sweep_failures.append(what)
        without = [r for r in finished if metric_value(r, objective) is None]
        if without:
            lines.append(f"[sweep] {len(without)} finished jobs logged no objective {objective!r}")
        status = "FINISHED"
        best = best_run(finished, objective)
        if best is not None:
            from mlflow.entities import Metric

            from .._metrics import higher_is_better

            now = int(time.time() * 1000)
            client.log_batch(self.parent_run_id, metrics=[Metric(k, v, now, 0) for k, v in best.data.metrics.items()])
            client.set_tag(self.parent_run_id, "best_run_id", best.info.run_id)
            client.set_tag(self.parent_run_id, "best_job_overrides", best.data.tags.get("hydra.overrides", ""))
            direction = "highest" if higher_is_better(objective) else "lowest"
            lines.append(
                f"[sweep] best {objective} ({direction}) {best.data.metrics[objective]:.4g}: job {best.data.tags.get(JOB_NUM_TAG, '?')} "
                f"({best.data.tags.get('hydra.overrides', '')}), run {best.info.run_id}"
            )
            self._log_lambda_plot(objective)
        elif children and not finished:
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
            try:
                path = plot_metric_vs_lambda(runs, objective, Path(tmp) / f"{objective}_vs_lambda.png")
            except QBoostError:
                return  # nothing to plot (no numeric λ): the summary says enough
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
        status = "failed" if job_failed(job_return) is not None else "completed"
        text = f"[sweep] job {hydra_cfg.job.num} {status} ({' '.join(hydra_cfg.overrides.task)})"
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
