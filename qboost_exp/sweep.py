"""Hydra multirun <-> MLflow: one parent run per sweep, one nested child run per job.

:class:`MLflowSweepCallback` (configured under ``hydra.callbacks``) runs in
the launching process. It creates the tracking store and the parent run
before any job starts (so parallel jobs never race on a fresh SQLite schema),
and closes the parent after the last job with the best child's metrics, a
plot of the objective against λ and a summary that names failed jobs. Jobs
find their parent by the sweep directory tag, so this works with any
launcher whose jobs reach the same tracking store (basic, joblib, Ray,
SLURM). The sweep prints its MLflow UI link (the parent run's page) when the
parent opens and again after the summary.

A sweeper that knows better whether and what it will run (our Optuna
sweeper: a finished study runs nothing) declares ``opens_parent_run = True``
on its class and opens the parent itself with :func:`open_parent` before its
first job; the callback then only prepares the store, and a sweep that ran
nothing leaves no parent run.

This module is orchestration (it sits above tracking and compare and uses
only their public APIs). Everything a job or the callback needs to know
travels explicitly: the config, the parent run's tags (the number of jobs,
the swept keys), never module globals or environment variables.
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

from .errors import QBoostError
from .tracking import (
    DEFAULT_EXPERIMENT,
    DEFAULT_OBJECTIVE,
    FAILED_STATUSES,
    JOB_NUM_TAG,
    JOBS_TAG,
    PARENT_ROLE,
    ROLE_TAG,
    SWEEP_DIR_TAG,
    SWEPT_TAG,
    best_run,
    child_runs,
    client_for,
    find_parent_run,
    higher_is_better,
    metric_value,
    prepare_store,
    tracking_uri,
    training_runs,
    ui_line,
)

#: The exit status of a sweep in which a job failed (Hydra's own is 0).
FAILED_SWEEP_EXIT = 1


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
    if status == "COMPLETED":
        value = job_return.return_value
    else:
        # Hydra keeps a failed job's exception only in the private _return_value: its
        # public return_value re-raises it after writing a line to stderr.
        # tests/test_sweep.py fails if Hydra changes this.
        value = getattr(job_return, "_return_value", None)
        return f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else "failed"
    if isinstance(value, JobFailure):
        return value.message
    return None


#: Where a sweep's failed jobs leave a record (in the sweep directory): read by the
#: launching process whatever the launcher, with or without a tracking store.
FAILURES_DIR = ".qboost-failed"


def record_job_failure(sweep_dir: str, job_num: int, overrides: list[str], message: str) -> None:
    """Leave a record that job ``job_num`` of the sweep in ``sweep_dir`` failed (best effort)."""
    import json

    try:
        folder = Path(sweep_dir) / FAILURES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        staged = folder / f".{job_num}.json.tmp"
        staged.write_text(json.dumps({"job": int(job_num), "overrides": " ".join(overrides), "error": message}))
        staged.replace(folder / f"{job_num}.json")  # whole or absent
    except OSError:
        pass  # a read-only sweep directory: the tracking store still has the FAILED run


def recorded_failures(sweep_dir: str) -> dict[int, dict[str, Any]]:
    """The failure records of a sweep's jobs, by job number."""
    import json

    found = {}
    for path in sorted((Path(sweep_dir) / FAILURES_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_text())
            found[int(record["job"])] = record
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def _tracking_enabled(config: DictConfig) -> bool:
    return bool(OmegaConf.select(config, "mlflow.enabled", default=True))


def _store_of(config: DictConfig) -> tuple[str, str]:
    """(tracking URI, experiment name) of a sweep's config, resolved against the launch directory."""
    mlflow_cfg = OmegaConf.to_container(config.mlflow, resolve=True) if "mlflow" in config else {}
    return tracking_uri(mlflow_cfg, _launch_dir()), (mlflow_cfg or {}).get("experiment") or DEFAULT_EXPERIMENT


def _launch_dir() -> str:
    # The launching process runs in the directory the command was started from
    # (hydra.job.chdir is false); jobs know it as hydra.runtime.cwd.
    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.cwd)
    return os.getcwd()


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


def parent_run_of(config: DictConfig) -> tuple[Any, Any] | None:
    """(client, parent run) of the RUNNING sweep ``config`` belongs to; None without tracking or parent."""
    if not _tracking_enabled(config):
        return None
    uri, name = _store_of(config)
    client = client_for(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return None
    parent = find_parent_run(client, experiment.experiment_id, str(config.hydra.sweep.dir))
    return None if parent is None else (client, parent)


#: A sweeper class attribute: True when the sweeper opens the parent run itself (:func:`open_parent`).
OPENS_PARENT_ATTR = "opens_parent_run"


def sweeper_opens_parent(config: DictConfig) -> bool:
    """Whether the configured sweeper opens the sweep's parent run itself (its class says ``opens_parent_run = True``)."""
    target = OmegaConf.select(config, "hydra.sweeper._target_", default=None)
    if not target:
        return False
    from hydra.utils import get_class

    try:
        return bool(getattr(get_class(str(target)), OPENS_PARENT_ATTR, False))
    except Exception:  # noqa: BLE001 - a sweeper Hydra cannot load fails on its own, in Hydra's words
        return False


def _print_link(uri: str, run_id: str) -> None:
    client = client_for(uri)
    print(f"[sweep] {ui_line(uri, client.get_run(run_id).info.experiment_id, run_id)}", flush=True)


def open_parent(config: DictConfig, *, run_name: str | None = None, tags: dict[str, str] | None = None, jobs: int | None = None) -> str | None:
    """Create the RUNNING parent run of the sweep ``config`` belongs to and print its link; None without tracking.

    The callback calls this when the sweep starts; a sweeper with
    ``opens_parent_run = True`` calls it itself, once it knows there is
    something to run, before the first job (the jobs find the parent by the
    sweep directory tag). ``jobs`` is how many jobs will run (the
    ``qboost.jobs`` tag the jobs' progress lines read).
    """
    if not _tracking_enabled(config):
        return None
    uri, experiment = _store_of(config)
    experiment_id = prepare_store(uri, experiment)
    overrides = " ".join(config.hydra.overrides.task)
    run = client_for(uri).create_run(
        experiment_id,
        run_name=(run_name or f"sweep {overrides}")[:250],
        tags={
            ROLE_TAG: PARENT_ROLE,
            SWEEP_DIR_TAG: str(config.hydra.sweep.dir),
            SWEPT_TAG: " ".join(swept_keys_of(config)),
            "hydra.overrides": overrides[:5000],
            "hydra.sweeper": str(OmegaConf.select(config, "hydra.sweeper._target_", default="")),
            "hydra.launcher": str(OmegaConf.select(config, "hydra.launcher._target_", default="")),
            "objective": _objective(config),
            **({JOBS_TAG: str(jobs)} if jobs else {}),
            **{key: value[:5000] for key, value in (tags or {}).items()},
        },
    )
    parent_run_id = run.info.run_id
    print(f"[sweep] MLflow parent run {parent_run_id} in {uri}" + (f"; {jobs} jobs" if jobs else ""), flush=True)
    _print_link(uri, parent_run_id)
    return parent_run_id


def annotate_parent(config: DictConfig, *, run_name: str | None = None, tags: dict[str, str] | None = None) -> str | None:
    """Name and tag the parent run of the sweep ``config`` belongs to (for sweepers); returns its id.

    A sweeper that knows better how many jobs will run sets the
    ``qboost.jobs`` tag (:data:`qboost_exp.tracking.JOBS_TAG`); the jobs'
    progress lines read it.
    """
    found = parent_run_of(config)
    if found is None:
        return None
    client, parent = found
    for key, value in {**(tags or {}), **({"mlflow.runName": run_name[:250]} if run_name else {})}.items():
        client.set_tag(parent.info.run_id, key, value[:5000])
    return parent.info.run_id


def close_parent(config: DictConfig, status: str, error: str | None = None) -> None:
    """End the parent run of ``config``'s sweep with ``status`` (a sweeper stopping on an error)."""
    found = parent_run_of(config)
    if found is None:
        return
    client, parent = found
    if error:
        client.set_tag(parent.info.run_id, "error", error[:5000])
    client.set_terminated(parent.info.run_id, status=status)


class MLflowSweepCallback(Callback):
    """Hydra callback (configured under ``hydra.callbacks``) that manages the sweep's parent run.

    When any job failed, :meth:`on_multirun_end` ends the process with exit
    status 1 after the summary: Hydra gives callbacks no other way to say that
    a sweep failed, and its own status would be 0.
    """

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.uri: str | None = None
        # Progress without a tracking store: counted by this instance, which the
        # basic launcher keeps for every job of the sweep.
        self._started = time.time()
        self._total: int | None = None
        self._done_here = 0

    # -- launching process ---------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        try:
            self._open_parent(config)
        except (QBoostError, HydraException, OmegaConfBaseException) as exc:
            # Hydra turns a callback's exception into a warning and runs every
            # job anyway, each failing the same way: stop here, in one line.
            message = " ".join(str(exc).split())
            print(f"error: {message}", file=sys.stderr, flush=True)
            sys.exit(2)

    def _open_parent(self, config: DictConfig) -> None:
        # ${hydra:...} only resolves here once the singleton holds this config.
        HydraConfig.instance().set_config(config)
        import shutil

        shutil.rmtree(Path(str(config.hydra.sweep.dir)) / FAILURES_DIR, ignore_errors=True)  # a re-used sweep directory
        self._started = time.time()
        self._total = _count_jobs(config)
        if not _tracking_enabled(config):
            return
        self.uri, experiment = _store_of(config)
        if sweeper_opens_parent(config):
            # The store now, before any job; the parent when the sweeper knows there is something to run.
            prepare_store(self.uri, experiment)
            return
        self.parent_run_id = open_parent(config, jobs=self._total)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.uri and not self.parent_run_id:
            # The sweeper opened the parent (or, having nothing to run, none).
            found = parent_run_of(config)
            self.parent_run_id = found[1].info.run_id if found is not None else None
        recorded = recorded_failures(str(config.hydra.sweep.dir))
        if not (self.parent_run_id and self.uri):
            if recorded:  # untracked: the records are the whole account
                lines = [f"[sweep] {len(recorded)} failed job{'s' if len(recorded) > 1 else ''}:"]
                lines += [f"[sweep] FAILED job {n} ({r['overrides']}): {r['error']}" for n, r in sorted(recorded.items())]
                print("\n".join(lines), flush=True)
                sys.exit(FAILED_SWEEP_EXIT)
            return
        client = client_for(self.uri)
        experiment = client.get_experiment(client.get_run(self.parent_run_id).info.experiment_id).name
        objective = _objective(config)

        def children() -> list[Any]:
            return training_runs(experiment, tracking_uri=self.uri, parent_run_id=self.parent_run_id, statuses=None)

        runs = children()
        stale = [run for run in runs if run.info.status == "RUNNING"]
        for run in stale:
            # Every job has returned: a run still open belongs to a job that
            # was killed from outside (a scheduler's time limit, the OOM killer).
            client.set_tag(run.info.run_id, "error", "the job ended without closing its run (killed from outside)")
            client.set_terminated(run.info.run_id, status="KILLED")
        if stale:
            runs = children()
        finished = [r for r in runs if r.info.status == "FINISHED"]
        failed = [r for r in runs if r.info.status in FAILED_STATUSES]
        # A job that failed before its run opened has a record but no run: count it too.
        with_runs = {r.data.tags.get(JOB_NUM_TAG) for r in runs}
        runless = {n: r for n, r in recorded.items() if str(n) not in with_runs}
        total = len(runs) + len(runless)
        lines = [f"[sweep] {total} jobs: {len(finished)} finished, {len(failed) + len(runless)} failed"]
        for run in sorted(failed, key=lambda r: int(r.data.tags.get(JOB_NUM_TAG, "0"))):
            what = f"job {run.data.tags.get(JOB_NUM_TAG, '?')} ({run.data.tags.get('hydra.overrides', '')}): {run.data.tags.get('error', run.info.status)}"
            lines.append(f"[sweep] FAILED {what}")
        for number, record in sorted(runless.items()):
            lines.append(f"[sweep] FAILED job {number} ({record['overrides']}): {record['error']} (no MLflow run: it failed before its run opened)")
        without = [r for r in finished if metric_value(r, objective) is None]
        if without:
            lines.append(f"[sweep] {len(without)} finished jobs logged no objective {objective!r}")
        status = "FINISHED"
        by_dataset = _by_dataset(finished)
        if len(by_dataset) > 1:
            # Runs of different datasets are never ranked against each other: a best per dataset.
            direction = "highest" if higher_is_better(objective) else "lowest"
            for label, group in sorted(by_dataset.items()):
                best = best_run(group, objective)
                if best is not None:
                    client.set_tag(self.parent_run_id, f"best_run_id.{label.replace('@', '-')}"[:250], best.info.run_id)
                    lines.append(
                        f"[sweep] best {objective} ({direction}) on {label} {best.data.metrics[objective]:.4g}: job "
                        f"{best.data.tags.get(JOB_NUM_TAG, '?')} ({best.data.tags.get('hydra.overrides', '')}), run {best.info.run_id}"
                    )
            best = None
        else:
            best = best_run(finished, objective)
        if best is not None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            client.log_batch(self.parent_run_id, metrics=[Metric(k, v, now, 0) for k, v in best.data.metrics.items()])
            client.set_tag(self.parent_run_id, "best_run_id", best.info.run_id)
            client.set_tag(self.parent_run_id, "best_job_overrides", best.data.tags.get("hydra.overrides", ""))
            direction = "highest" if higher_is_better(objective) else "lowest"
            lines.append(
                f"[sweep] best {objective} ({direction}) {best.data.metrics[objective]:.4g}: job {best.data.tags.get(JOB_NUM_TAG, '?')} "
                f"({best.data.tags.get('hydra.overrides', '')}), run {best.info.run_id}"
            )
            self._log_lambda_plot(experiment, objective)
        elif runs and not finished:
            status = "FAILED"
        client.set_terminated(self.parent_run_id, status=status)
        print("\n".join(lines), flush=True)
        _print_link(self.uri, self.parent_run_id)
        if failed or runless:
            sys.stdout.flush()
            sys.exit(FAILED_SWEEP_EXIT)

    def _log_lambda_plot(self, experiment: str, objective: str) -> None:
        from .compare import load_runs, plot_metric_vs_lambda

        runs = load_runs(experiment, tracking_uri=self.uri, parent=self.parent_run_id)
        if runs.empty:
            return
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = plot_metric_vs_lambda(runs, objective, Path(tmp) / f"{objective}_vs_lambda.png")
            except QBoostError:
                return  # nothing to plot (no numeric λ): the summary says enough
            client_for(self.uri).log_artifact(self.parent_run_id, str(path), "plots")

    # -- job process (wherever the launcher runs it) --------------------------
    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
        if hydra_cfg is None or str(hydra_cfg.mode) != "RunMode.MULTIRUN":
            return
        self._done_here += 1
        total, started, done = self._progress(config)
        status = "failed" if job_failed(job_return) is not None else "completed"
        text = f"[sweep] job {hydra_cfg.job.num} {status} ({' '.join(hydra_cfg.overrides.task)})"
        if total and done:
            elapsed = time.time() - started
            remaining = max(0, total - done)
            text += f" | {done}/{total} done, {elapsed:.0f} s elapsed, ETA {math.ceil(elapsed / done * remaining)} s"
        print(text, flush=True)

    def _progress(self, config: DictConfig) -> tuple[int | None, float, int]:
        """(jobs in the sweep, when it started, jobs done).

        From the parent run when the sweep is tracked, so that jobs running in
        other processes or on other machines count too; else this instance's
        own count (exact for the basic launcher).
        """
        try:
            found = parent_run_of(config)
        except Exception:  # noqa: BLE001 - progress is a convenience; the job's result does not depend on it
            found = None
        if found is None:
            return self._total, self._started, self._done_here
        client, parent = found
        total = parent.data.tags.get(JOBS_TAG)
        done = len(child_runs(client, parent.info.run_id, finished_only=True))
        return (int(total) if total else None), parent.info.start_time / 1000.0, done


def _by_dataset(runs: list[Any]) -> dict[str, list[Any]]:
    """``runs`` grouped by the dataset each was trained on (name and digest, as compare names it)."""
    from .compare import dataset_of

    groups: dict[str, list[Any]] = {}
    for run in runs:
        groups.setdefault(dataset_of(run).label, []).append(run)
    return groups


def _objective(config: DictConfig) -> str:
    return str(OmegaConf.select(config, "objective", default=DEFAULT_OBJECTIVE))
