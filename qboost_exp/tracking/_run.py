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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..errors import QBoostError
from ._runs import (
    CHILD_ROLE,
    CONFIG_DIGEST_TAG,
    DEFAULT_EXPERIMENT,
    DRIVER_TAG,
    JOB_NUM_TAG,
    QBOOST_MODEL,
    ROLE_TAG,
    SINGLE_ROLE,
    client_for,
    driver_id,
    find_parent_run,
    model_tags,
    swept_keys,
)
from ._store import prepare_store, tracking_uri

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
    cfg: Mapping[str, Any], overrides: Sequence[str], base_dir: str, role: str, job_num: int | None, config_digest: str | None = None
) -> dict[str, str]:
    tags = {
        "sampler": str(cfg["sampler"]["name"]),
        "weak_learners": str(cfg["weak_learners"]["name"]),
        "dataset": str(cfg["dataset"]["name"]),
        "hydra.overrides": " ".join(overrides)[:_MAX_VALUE],
        ROLE_TAG: role,
        **model_tags(_model_name(cfg)),
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
        from ..baselines import DICTIONARY_BASELINES  # the baselines that select from the weak-learner set

        base = f"{model}-{cfg['weak_learners']['name']}" if model in DICTIONARY_BASELINES else model
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
    """

    tracking_uri: str
    experiment: str = DEFAULT_EXPERIMENT
    base_dir: str = "."
    output_dir: str | None = None
    overrides: tuple[str, ...] = ()
    sweep_dir: str | None = None
    job_num: int | None = None
    config_digest: str | None = None

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

    Yields
    ------
    mlflow.ActiveRun
    """
    import mlflow

    experiment_id = prepare_store(context.tracking_uri, context.experiment)
    parent = None
    if context.sweep_dir is not None:
        parent = find_parent_run(client_for(context.tracking_uri), experiment_id, context.sweep_dir)
    parent_run_id = parent.info.run_id if parent is not None else None
    role = CHILD_ROLE if parent is not None else SINGLE_ROLE
    swept = swept_keys(parent) if parent is not None else None
    # The model is logged with MLflow's fluent API (mlflow.sklearn.log_model), which
    # works on the process's active run and URI: both are set here, from the context.
    mlflow.set_tracking_uri(context.tracking_uri)
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name(cfg, context.job_num, context.overrides, swept),
        parent_run_id=parent_run_id,
        tags=run_tags(cfg, context.overrides, context.base_dir, role, context.job_num, context.config_digest),
    )
    try:
        params = flatten({k: v for k, v in cfg.items() if k != "hydra"})
        mlflow.log_params(params)
        hydra_dir = Path(context.output_dir) / ".hydra" if context.output_dir else None
        if hydra_dir is not None and hydra_dir.is_dir():
            mlflow.log_artifacts(str(hydra_dir), ".hydra")
        yield run
    except KeyboardInterrupt:
        _record_failure(mlflow, "interrupted (Ctrl-C)", traceback.format_exc())
        mlflow.end_run(status="KILLED")
        raise
    except BaseException as exc:
        message = str(exc) if isinstance(exc, QBoostError) else f"{type(exc).__name__}: {exc}"
        _record_failure(mlflow, message, traceback.format_exc())
        mlflow.end_run(status="FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")


def _record_failure(mlflow: Any, message: str, trace: str) -> None:
    # Best effort: the store itself may be what failed; the status still gets set.
    try:
        mlflow.set_tag("error", message[:_MAX_VALUE])
        mlflow.log_text(f"{message}\n\n{trace}", "error.txt")
    except Exception:
        pass
