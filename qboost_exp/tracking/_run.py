"""One training job as one MLflow run: start, log, and always end with a status.

What a job needs to know about where and as what it is tracked travels in
one explicit :class:`RunContext`, never in module globals or environment
variables.
"""

from __future__ import annotations

import os
import subprocess
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..errors import QBoostError
from ._runs import (
    CHILD_ROLE,
    CONFIG_DIGEST_TAG,
    DEFAULT_EXPERIMENT,
    DRIVER_TAG,
    JOB_NUM_TAG,
    METHOD_TAG,
    QBOOST_MODEL,
    ROLE_TAG,
    SINGLE_ROLE,
    client_for,
    driver_id,
    find_parent_run,
    method_name,
    model_tags,
    swept_keys,
)
from ._faults import DEFAULT_RETRY_SECONDS, bounded_retries, budget_of, store_failure_reason
from ._store import TrackingStoreError, prepare_store, tracking_uri

# MLflow's limits: a tag value and a param value hold at most this many characters.
_MAX_VALUE = 5000
_MAX_NAME = 250


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """A nested plain config as ``{"dotted.key": "value"}`` (lists stay one value)."""
    if isinstance(node, Mapping):
        out: dict[str, str] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out if out or not prefix else {prefix[:-1]: "{}"}
    return {prefix[:-1]: str(node)[:_MAX_VALUE]}


def git_commit(directory: str | Path) -> str | None:
    """The commit checked out in ``directory``, if it is in a git work tree."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def run_tags(
    cfg: Mapping[str, Any],
    overrides: Sequence[str],
    base_dir: str,
    role: str,
    job_num: int | None,
    config_digest: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The tags a run opens with: what it is (sampler, learners, dataset, model, :data:`METHOD_TAG`), its role and job; then ``extra``."""
    model = cfg.get("model") or {}
    tags = {
        "sampler": str(cfg["sampler"]["name"]),
        "weak_learners": str(cfg["weak_learners"]["name"]),
        "dataset": str(cfg["dataset"]["name"]),
        "hydra.overrides": " ".join(overrides)[:_MAX_VALUE],
        ROLE_TAG: role,
        **model_tags(_model_name(cfg)),
        METHOD_TAG: method_name(_model_name(cfg), *((model.get("max_learners"), model.get("_target_")) if hasattr(model, "get") else ())),
        DRIVER_TAG: driver_id(),
    }
    if config_digest:
        tags[CONFIG_DIGEST_TAG] = config_digest
    if job_num is not None:
        tags[JOB_NUM_TAG] = str(job_num)
    commit = git_commit(base_dir)
    if commit:
        tags["git.commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    tags.update(extra or {})
    return tags


def _model_name(cfg: Mapping[str, Any]) -> str:
    return str((cfg.get("model") or {}).get("name") or QBOOST_MODEL)


def override_key(override: str) -> str:
    """The config key an override sets: ``lambda`` for ``lambda=0.1``, ``a.b`` for ``+a.b=1``."""
    return override.split("=", 1)[0].lstrip("+~")


def run_name(cfg: Mapping[str, Any], job_num: int | None, overrides: Sequence[str] = (), swept: Sequence[str] | None = None) -> str:
    """``sampler-learners-lambda=λ`` for a single run; for a sweep job ``N:sampler-learners`` and every swept override.

    ``swept`` are the keys the sweep varies (None: unknown, so every override
    of the job is named), which makes the names of a sweep's runs distinct.
    """
    model = _model_name(cfg)
    if model == QBOOST_MODEL:
        base = f"{cfg['sampler']['name']}-{cfg['weak_learners']['name']}"
        single = f"{base}-lambda={cfg['lambda']}"
    else:  # a baseline: the sampler and λ mean nothing to it
        from ..domain.plugins import uses_dictionary  # the baselines that select from the weak-learner set

        base = f"{model}-{cfg['weak_learners']['name']}" if uses_dictionary(model) else model
        single = base
    if job_num is None:
        return single
    named = [o for o in overrides if swept is None or override_key(o) in swept]
    return f"{job_num}:{base} {' '.join(named)}".strip()[:_MAX_NAME]


@dataclass(frozen=True)
class RunContext:
    """Where and as what one training job is tracked.

    Parameters
    ----------
    tracking_uri : str
        The store (already resolved: see :func:`resolve_tracking_uri`).
    experiment : str
        The MLflow experiment's name.
    base_dir : str
        The directory the command was launched from (relative paths, git commit).
    output_dir : str or None
        Hydra's output directory of the job; its ``.hydra`` folder is logged.
    overrides : tuple of str
        The command-line overrides of the job.
    sweep_dir : str or None
        For a multirun job, the sweep's directory: the job's run is nested
        under the parent run tagged with it.
    job_num : int or None
        For a multirun job, its number in the sweep.
    config_digest : str or None
        The digest of the job's composed config (:func:`qboost_exp.config.config_digest`):
        a resumed sweep skips a job whose FINISHED run has the same one.
    retry_seconds : float
        ``mlflow.retry_seconds``: how long a failing tracking server is
        retried before the run's record is kept on local disk instead
        (see :func:`~qboost_exp.tracking._faults.retry_plan`).
    tags : mapping of str to str
        More tags the run opens with, known before it opens (a
        ``max_learners=match`` run's :data:`MATCHED_RUN_TAG` and
        :data:`MATCHED_K_TAG`); a local record keeps them too.
    """

    tracking_uri: str
    experiment: str = DEFAULT_EXPERIMENT
    base_dir: str = "."
    output_dir: str | None = None
    overrides: tuple[str, ...] = ()
    sweep_dir: str | None = None
    job_num: int | None = None
    config_digest: str | None = None
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_job(cls, cfg: Mapping[str, Any], base_dir: str | os.PathLike[str], **job: Any) -> "RunContext":
        """The context of a job whose composed (plain) config is ``cfg``: its ``mlflow`` node names the store and experiment."""
        mlflow_cfg = cfg.get("mlflow") or {}
        overrides = tuple(job.pop("overrides", ()) or ())
        return cls(
            tracking_uri=tracking_uri(mlflow_cfg, base_dir),
            experiment=mlflow_cfg.get("experiment") or DEFAULT_EXPERIMENT,
            base_dir=str(base_dir),
            overrides=overrides,
            retry_seconds=budget_of(mlflow_cfg),
            **job,
        )


@contextmanager
def tracked_run(cfg: Mapping[str, Any], context: RunContext) -> Iterator[Any]:
    """Open an MLflow run for one job and close it with the right status.

    Parameters are the composed config (``hydra`` excluded), flattened; the
    ``.hydra`` folder of ``output_dir`` is logged at once, so even a run that
    fails early keeps its config. On an exception the run ends ``FAILED``
    (``KILLED`` for Ctrl-C) with the message in the ``error`` tag and the
    traceback in ``error.txt``; the exception propagates. With ``sweep_dir``
    (a multirun job) the run is nested under that sweep's parent run.

    A tracking server is retried for at most ``context.retry_seconds``
    (:func:`~qboost_exp.tracking._faults.bounded_retries`). When the store
    fails (unreachable, read-only, full) before the job ran, a
    :class:`TrackingStoreError` says so in one line. When it fails after
    the job finished (:func:`log_result` started), the run's full record is
    written to ``<output_dir>/mlflow-record`` and a
    :class:`~qboost_exp.tracking.StoreFailure` is raised instead.

    Yields
    ------
    mlflow.ActiveRun
    """
    from ._open import OPEN_RUN, OpenRun

    uri = context.tracking_uri
    with bounded_retries(uri, context.retry_seconds) as breaker, _quiet_store_logs():
        experiment_id = prepare_store(uri, context.experiment)
        run, params = _open(cfg, context, experiment_id)
        open_run = OpenRun(
            tracking_uri=uri,
            experiment=context.experiment,
            experiment_id=experiment_id,
            run_id=run.info.run_id,
            run_name=run.info.run_name,
            start_time=int(run.info.start_time),
            params=params,
            tags=dict(run.data.tags),
            output_dir=context.output_dir,
            base_dir=context.base_dir,
            breaker=breaker,
        )
        token = OPEN_RUN.set(open_run)
        try:
            yield run
        except KeyboardInterrupt as exc:
            _close_interrupted(exc, open_run)
            raise
        except BaseException as exc:
            _close_failed(exc, open_run)
            raise
        else:
            _close_finished(open_run)
        finally:
            OPEN_RUN.reset(token)


def _close_interrupted(exc: KeyboardInterrupt, open_run: Any) -> None:
    """Ctrl-C, SIGTERM or a time limit: the run ends KILLED, or, once trained, its record is kept (``exc.kept``)."""
    from ._record import keep_locally

    # Ctrl-C has no message; SIGTERM and a scheduler's time limit (qboost_exp.errors) say what stopped the job.
    why = str(exc) or "interrupted (Ctrl-C)"
    if open_run.trained is not None:
        # Stopped while a trained model was being logged (a user tired of the retries, a
        # scheduler): keep the record, then stop as asked. The command's line names it.
        exc.kept = keep_locally(open_run, f"{why} while the run was being logged")  # type: ignore[attr-defined]
        return
    _record_failure(_mlflow(), why, traceback.format_exc())
    _end(open_run.run_id, "KILLED")


def _close_failed(exc: BaseException, open_run: Any) -> None:
    """The run ends FAILED with the error; once trained, a StoreFailure with the kept record is raised instead."""
    from ._record import keep_locally

    if isinstance(exc, Exception) and open_run.trained is not None:
        # Whatever failed after training, the trained model is not lost: a store failure in its
        # words, anything else (an answer we do not know, a bug) with its type, and its traceback.
        reason = store_failure_reason(exc)
        if reason is None:
            traceback.print_exc()
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        raise keep_locally(open_run, reason) from None
    message = str(exc) if isinstance(exc, QBoostError) else f"{type(exc).__name__}: {exc}"
    _record_failure(_mlflow(), message, traceback.format_exc())
    _end(open_run.run_id, "FAILED")


def _close_finished(open_run: Any) -> None:
    """The run ends FINISHED; a store that fails now keeps the trained run's record (StoreFailure)."""
    from ._record import keep_locally

    try:
        _mlflow().end_run(status="FINISHED")
    except Exception as exc:
        reason = store_failure_reason(exc)
        if reason is None or open_run.trained is None:
            raise
        raise keep_locally(open_run, reason) from None


def _mlflow() -> Any:
    import mlflow

    return mlflow


def _quiet_store_logs() -> Any:
    # MLflow's SQL store logs a full traceback (logger.exception) before it
    # raises a database error; the error itself is reported in one line.
    import logging

    from ._store import quiet

    return quiet("mlflow.store.db.utils", logging.CRITICAL)


def _open(cfg: Mapping[str, Any], context: RunContext, experiment_id: str) -> tuple[Any, dict[str, str]]:
    """Start the run and log what is known before training; a store failure here is one line, nothing trained."""
    import mlflow

    parent = None
    if context.sweep_dir is not None:
        parent = find_parent_run(client_for(context.tracking_uri), experiment_id, context.sweep_dir)
    parent_run_id = parent.info.run_id if parent is not None else None
    role = CHILD_ROLE if parent is not None else SINGLE_ROLE
    swept = swept_keys(parent) if parent is not None else None
    # The model is logged with MLflow's fluent API (mlflow.sklearn.log_model), which
    # works on the process's active run and URI: both are set here, from the context.
    mlflow.set_tracking_uri(context.tracking_uri)
    try:
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name(cfg, context.job_num, context.overrides, swept),
            parent_run_id=parent_run_id,
            tags=run_tags(cfg, context.overrides, context.base_dir, role, context.job_num, context.config_digest, context.tags),
        )
    except Exception as exc:
        reason = store_failure_reason(exc)
        if reason is None:
            raise
        raise TrackingStoreError(_before_training(context.tracking_uri, reason)) from None
    params = flatten({k: v for k, v in cfg.items() if k != "hydra"})
    try:
        mlflow.log_params(params)
        hydra_dir = Path(context.output_dir) / ".hydra" if context.output_dir else None
        if hydra_dir is not None and hydra_dir.is_dir():
            mlflow.log_artifacts(str(hydra_dir), ".hydra")
    except KeyboardInterrupt as exc:
        # Stopped while the run opens: end it here, or MLflow's exit hook would end it FINISHED, empty.
        _record_failure(mlflow, str(exc) or "interrupted (Ctrl-C)", traceback.format_exc())
        _end(run.info.run_id, "KILLED")
        raise
    except Exception as exc:
        reason = store_failure_reason(exc)
        _end(run.info.run_id, "FAILED")  # the run did not get its parameters: it failed
        if reason is None:
            raise
        raise TrackingStoreError(_before_training(context.tracking_uri, reason)) from None
    return run, params


def _before_training(uri: str, reason: str) -> str:
    return (
        f"the tracking store {uri} cannot record the run ({reason}); nothing was trained: make the store writable "
        "or start its server, or log elsewhere with mlflow.tracking_uri=URI (or MLFLOW_TRACKING_URI), or run untracked "
        "with mlflow.enabled=false"
    )


def _end(run_id: str, status: str) -> None:
    """End the active run, best effort: the exception being handled is what the caller reports.

    If the store cannot take the status, the run is still taken off MLflow's
    active-run stack (the next job of a sweep in this process starts its own).
    """
    import mlflow

    try:
        mlflow.end_run(status=status)
    except Exception:  # noqa: BLE001
        from ._record import _forget_active_run

        _forget_active_run(run_id)


def _record_failure(mlflow: Any, message: str, trace: str) -> None:
    # Best effort: the store itself may be what failed; the status still gets set.
    try:
        mlflow.set_tag("error", message[:_MAX_VALUE])
        mlflow.log_text(f"{message}\n\n{trace}", "error.txt")
    except Exception:
        pass
