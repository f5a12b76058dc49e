"""One training job as one MLflow run: start, log, and always end with a status."""

from __future__ import annotations

import subprocess
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..errors import QBoostError
from ._runs import CHILD_ROLE, JOB_NUM_TAG, ROLE_TAG, SINGLE_ROLE
from ._store import DEFAULT_EXPERIMENT, prepare_store, tracking_uri

#: Tag of a sweep's parent run: the config keys its jobs vary, space-separated.
SWEPT_TAG = "qboost.swept"

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


def run_tags(cfg: Mapping[str, Any], overrides: Sequence[str], base_dir: str, role: str, job_num: int | None) -> dict[str, str]:
    tags = {
        "sampler": str(cfg["sampler"]["name"]),
        "weak_learners": str(cfg["weak_learners"]["name"]),
        "dataset": str(cfg["dataset"]["name"]),
        "hydra.overrides": " ".join(overrides)[:_MAX_VALUE],
        ROLE_TAG: role,
    }
    if job_num is not None:
        tags[JOB_NUM_TAG] = str(job_num)
    commit = git_commit(base_dir)
    if commit:
        tags["git.commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    return tags


def swept_keys(parent: Any) -> list[str] | None:
    """The keys a sweep varies, from its parent run's tag (None for a parent without it)."""
    text = parent.data.tags.get(SWEPT_TAG)
    return None if text is None else text.split()


def override_key(override: str) -> str:
    """The config key an override sets: ``lambda`` for ``lambda=0.1``, ``a.b`` for ``+a.b=1``."""
    return override.split("=", 1)[0].lstrip("+~")


def run_name(cfg: Mapping[str, Any], job_num: int | None, overrides: Sequence[str] = (), swept: Sequence[str] | None = None) -> str:
    """``sampler-learners-lambda=λ`` for a single run; for a sweep job ``N:sampler-learners`` and every swept override.

    ``swept`` are the keys the sweep varies (None: unknown, so every override
    of the job is named), which makes the names of a sweep's runs distinct.
    """
    base = f"{cfg['sampler']['name']}-{cfg['weak_learners']['name']}"
    if job_num is None:
        return f"{base}-lambda={cfg['lambda']}"
    named = [o for o in overrides if swept is None or override_key(o) in swept]
    return f"{job_num}:{base} {' '.join(named)}".strip()[:_MAX_NAME]


@contextmanager
def tracked_run(
    cfg: Mapping[str, Any],
    *,
    base_dir: str,
    output_dir: str | None = None,
    overrides: Sequence[str] = (),
    sweep_dir: str | None = None,
    job_num: int | None = None,
) -> Iterator[Any]:
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

    mlflow_cfg = cfg.get("mlflow") or {}
    uri = tracking_uri(mlflow_cfg, base_dir)
    experiment_id = prepare_store(uri, mlflow_cfg.get("experiment") or DEFAULT_EXPERIMENT)
    parent = None
    if sweep_dir is not None:
        from ._sweep import find_parent_run

        parent = find_parent_run(experiment_id, sweep_dir)
    parent_run_id = parent.info.run_id if parent is not None else None
    role = CHILD_ROLE if parent is not None else SINGLE_ROLE
    swept = swept_keys(parent) if parent is not None else None
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name(cfg, job_num, overrides, swept),
        parent_run_id=parent_run_id,
        tags=run_tags(cfg, overrides, base_dir, role, job_num),
    )
    try:
        params = flatten({k: v for k, v in cfg.items() if k != "hydra"})
        mlflow.log_params(params)
        if output_dir and (Path(output_dir) / ".hydra").is_dir():
            mlflow.log_artifacts(str(Path(output_dir) / ".hydra"), ".hydra")
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
