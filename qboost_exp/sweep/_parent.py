"""A sweep's parent run: open it, find it, re-open it for a resume, close it, and close what dead drivers left RUNNING.

A sweep's identity in the store is its parent run: the jobs find it by the
sweep directory tag (:data:`~qboost_exp.tracking.SWEEP_DIR_TAG`), and a
resume finds the sweep to continue by its definition: the same command-line
overrides and sweeper in the same experiment.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Any, Iterator

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, read_write

from ..tracking import (
    CLOSED_BY_TAG,
    DEFAULT_EXPERIMENT,
    DEFAULT_OBJECTIVE,
    DRIVER_TAG,
    JOBS_TAG,
    PARENT_ROLE,
    ROLE_TAG,
    SWEEP_DIR_TAG,
    SWEPT_TAG,
    bounded_retries,
    child_runs,
    client_for,
    driver_alive,
    driver_id,
    find_parent_run,
    prepare_store,
    search_all,
    tracking_uri,
    ui_line,
)

#: A sweeper class attribute: True when the sweeper opens the parent run itself (:func:`open_parent`).
OPENS_PARENT_ATTR = "opens_parent_run"
#: Parent run tag: how many times the sweep was resumed.
RESUMES_TAG = "qboost.resumes"
#: Parent run tag: when this launch of the sweep started (ms since the epoch): the progress lines' clock.
LAUNCHED_TAG = "qboost.launched"


def tracking_enabled(config: DictConfig) -> bool:
    return bool(OmegaConf.select(config, "mlflow.enabled", default=True))


def store_of(config: DictConfig) -> tuple[str, str]:
    """(tracking URI, experiment name) of a sweep's config, resolved against the launch directory."""
    mlflow_cfg = OmegaConf.to_container(config.mlflow, resolve=True) if "mlflow" in config else {}
    return tracking_uri(mlflow_cfg, launch_dir()), (mlflow_cfg or {}).get("experiment") or DEFAULT_EXPERIMENT


#: The retry budget of a job's progress line and record (conveniences): a store gone for good must not hold every later job.
CONVENIENCE_SECONDS = 5.0


@contextmanager
def bounded_store(config: DictConfig, seconds: float | None = None) -> Iterator[None]:
    """The sweep's own requests to a tracking server (parent run, progress, summary) retried for at most ``mlflow.retry_seconds``.

    A job's run is bounded the same way (:func:`qboost_exp.tracking.bounded_retries`);
    without this, a server gone for good would hold the driver and every job's
    progress line in MLflow's own retries for twelve minutes each. ``seconds``
    caps the budget further (:data:`CONVENIENCE_SECONDS` for what the sweep
    can do without).
    """
    if not tracking_enabled(config):
        yield
        return
    try:
        budget = float(OmegaConf.select(config, "mlflow.retry_seconds", default=None) or 0) or None
    except (TypeError, ValueError):
        budget = None  # the job's config check names a bad value; the sweep uses the default
    if seconds is not None:
        budget = min(budget or seconds, seconds)
    # MLflow prints "View run ... at: URL" whenever a run on a server ends; the sweep prints its own link.
    quiet_links = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT" not in os.environ
    if quiet_links:
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    try:
        with bounded_retries(store_of(config)[0], budget):
            yield
    finally:
        if quiet_links:
            os.environ.pop("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", None)


def launch_dir() -> str:
    # The launching process runs in the directory the command was started from
    # (hydra.job.chdir is false); jobs know it as hydra.runtime.cwd.
    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.cwd)
    return os.getcwd()


def objective_of(config: DictConfig) -> str:
    return str(OmegaConf.select(config, "objective", default=DEFAULT_OBJECTIVE))


def _sweep_overrides(config: DictConfig) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))


def swept_keys_of(config: DictConfig) -> list[str]:
    """The config keys a sweep varies: comma lists on the command line and a sweeper's ``params``."""
    keys = [o.get_key_element().lstrip("+~") for o in _sweep_overrides(config) if o.is_sweep_override()]
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    keys.extend(str(k) for k in params if str(k) not in keys)
    return keys


def count_jobs(config: DictConfig) -> int | None:
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


def _experiment_of(config: DictConfig) -> tuple[Any, Any] | None:
    """(client, experiment) of a tracked sweep's config; None without tracking or before the experiment exists."""
    if not tracking_enabled(config):
        return None
    uri, name = store_of(config)
    client = client_for(uri)
    experiment = client.get_experiment_by_name(name)
    return None if experiment is None else (client, experiment)


def adopt_sweep_dir(config: DictConfig, sweep_dir: str) -> None:
    """Make this launch use a continued sweep's directory: here, and in every job's config (composed from the hydra overrides)."""
    if sweep_dir == str(config.hydra.sweep.dir):
        return
    quoted = "'" + sweep_dir.replace("\\", "\\\\").replace("'", "\\'") + "'"
    with read_write(config.hydra):
        config.hydra.sweep.dir = sweep_dir
        config.hydra.overrides.hydra.append(f"hydra.sweep.dir={quoted}")


def parent_run_of(config: DictConfig) -> tuple[Any, Any] | None:
    """(client, parent run) of the RUNNING sweep ``config`` belongs to; None without tracking or parent."""
    found = _experiment_of(config)
    if found is None:
        return None
    client, experiment = found
    parent = find_parent_run(client, experiment.experiment_id, str(config.hydra.sweep.dir))
    return None if parent is None else (client, parent)


def print_link(uri: str, run_id: str) -> None:
    client = client_for(uri)
    print(f"[sweep] {ui_line(uri, client.get_run(run_id).info.experiment_id, run_id)}", flush=True)


def _definition_tags(config: DictConfig) -> dict[str, str]:
    """The tags that say which sweep this is: a resume continues the latest parent run with the same ones."""
    return {
        "hydra.overrides": " ".join(config.hydra.overrides.task)[:5000],
        "hydra.sweeper": str(OmegaConf.select(config, "hydra.sweeper._target_", default="")),
    }


def open_parent(config: DictConfig, *, run_name: str | None = None, tags: dict[str, str] | None = None, jobs: int | None = None) -> str | None:
    """Create the RUNNING parent run of the sweep ``config`` belongs to and print its link; None without tracking.

    The callback calls this when the sweep starts; a sweeper with
    ``opens_parent_run = True`` calls it itself, once it knows there is
    something to run, before the first job (the jobs find the parent by the
    sweep directory tag). ``jobs`` is how many jobs will run (the
    ``qboost.jobs`` tag the jobs' progress lines read). Parent runs that
    drivers on this machine left RUNNING when they died are closed first
    (:func:`close_abandoned`).
    """
    if not tracking_enabled(config):
        return None
    uri, experiment = store_of(config)
    experiment_id = prepare_store(uri, experiment)
    client = client_for(uri)
    close_abandoned(client, experiment_id)
    overrides = " ".join(config.hydra.overrides.task)
    run = client.create_run(
        experiment_id,
        run_name=(run_name or f"sweep {overrides}")[:250],
        tags={
            ROLE_TAG: PARENT_ROLE,
            SWEEP_DIR_TAG: str(config.hydra.sweep.dir),
            SWEPT_TAG: " ".join(swept_keys_of(config)),
            **_definition_tags(config),
            "hydra.launcher": str(OmegaConf.select(config, "hydra.launcher._target_", default="")),
            "objective": objective_of(config),
            DRIVER_TAG: driver_id(),
            LAUNCHED_TAG: str(int(time.time() * 1000)),
            **({JOBS_TAG: str(jobs)} if jobs else {}),
            **{key: value[:5000] for key, value in (tags or {}).items()},
        },
    )
    parent_run_id = run.info.run_id
    print(f"[sweep] MLflow parent run {parent_run_id} in {uri}" + (f"; {jobs} jobs" if jobs else ""), flush=True)
    print_link(uri, parent_run_id)
    return parent_run_id


def previous_sweep(config: DictConfig, tags: dict[str, str] | None = None) -> Any | None:
    """The latest parent run of a sweep with this one's definition (overrides, sweeper) in its experiment, any status; None if none.

    ``tags``: the parent run's tags that define the sweep instead (an Optuna study's name and storage).
    """
    found = _experiment_of(config)
    if found is None:
        return None
    client, experiment = found
    wanted = tags or _definition_tags(config)
    # The overrides may hold quotes that MLflow's filter syntax cannot carry: filter on the role, compare here.
    parents = search_all(client, [experiment.experiment_id], f"tags.`{ROLE_TAG}` = '{PARENT_ROLE}'", order_by=("attributes.start_time DESC",))
    for parent in parents:
        if all(parent.data.tags.get(key, "") == value for key, value in wanted.items()):
            return parent
    return None


def reopen_parent(config: DictConfig, parent: Any, *, jobs: int) -> str:
    """Continue the sweep of ``parent`` (a resume): RUNNING again, this process its driver, ``jobs`` jobs in all."""
    uri, _ = store_of(config)
    client = client_for(uri)
    run_id = parent.info.run_id
    client.update_run(run_id, status="RUNNING")
    resumes = int(parent.data.tags.get(RESUMES_TAG, "0") or 0) + 1
    for key, value in {DRIVER_TAG: driver_id(), JOBS_TAG: str(jobs), RESUMES_TAG: str(resumes), LAUNCHED_TAG: str(int(time.time() * 1000))}.items():
        client.set_tag(run_id, key, value)
    for stale in ("error", CLOSED_BY_TAG):  # what the earlier launch's end said no longer holds
        if stale in parent.data.tags:
            client.delete_tag(run_id, stale)
    print(f"[sweep] MLflow parent run {run_id} in {uri} (resumed, {resumes} time{'s' if resumes > 1 else ''})", flush=True)
    print_link(uri, run_id)
    return run_id


def abandoned(run: Any) -> bool:
    """Whether a RUNNING run's process is gone (it ran on this machine and no longer runs); unknowable runs are not."""
    return run.info.status == "RUNNING" and driver_alive(run.data.tags.get(DRIVER_TAG)) is False


def close_run(client: Any, run: Any, status: str, why: str) -> None:
    """End ``run`` with ``status`` on behalf of a process that cannot: the reason goes in :data:`CLOSED_BY_TAG` (and ``error``)."""
    client.set_tag(run.info.run_id, CLOSED_BY_TAG, why[:5000])
    if "error" not in run.data.tags:
        client.set_tag(run.info.run_id, "error", why[:5000])
    client.set_terminated(run.info.run_id, status=status)


def close_abandoned(client: Any, experiment_id: str, parent: Any | None = None) -> int:
    """Close as KILLED the runs dead drivers left RUNNING; returns how many.

    Without ``parent``: every parent run of the experiment whose driver ran
    on this machine and is gone, with its RUNNING children. With ``parent``
    (a sweep being resumed): that sweep's RUNNING children whose process is
    gone, or whatever their process, since a resume runs their jobs again.
    """
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    closed = 0
    if parent is None:
        running = search_all(client, [experiment_id], f"tags.`{ROLE_TAG}` = '{PARENT_ROLE}' AND attributes.status = 'RUNNING'")
        for run in running:
            if abandoned(run):
                for child in child_runs(client, run.info.run_id):
                    if child.info.status == "RUNNING":
                        close_run(client, child, "KILLED", f"closed at {stamp}: its sweep's driver died with the job unfinished")
                        closed += 1
                close_run(client, run, "KILLED", f"closed at {stamp}: the sweep's driver ({run.data.tags.get(DRIVER_TAG)}) died before the sweep ended")
                closed += 1
        return closed
    for child in child_runs(client, parent.info.run_id):
        if child.info.status == "RUNNING":
            close_run(client, child, "KILLED", f"closed at {stamp} by a resume of its sweep: the job never ended (its driver died); the resume runs it again")
            closed += 1
    return closed


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
