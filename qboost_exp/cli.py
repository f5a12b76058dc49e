"""``python -m qboost_exp``: compose the config with Hydra, train, report.

Exit statuses: 0 done; 1 a sweep with a failed job (after its summary), or a
bug (with its traceback); 2 a usage error (a bad option or value, an
unusable tracking store or launch directory: nothing was trained);
3 trained, but the tracking store failed at the end of the run: the report
is printed and the run's full record is on local disk, to upload with
``python -m qboost_exp.tracking sync DIR``; 130 Ctrl-C; 143 SIGTERM.
"""

from __future__ import annotations

import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from .config import config_dir, register_plugin_configs
from .errors import QBoostError
from .tracking import STORE_FAILED_STATUS as STORE_FAILED, StoreFailure


def _task(cfg: DictConfig) -> Any:
    """One job: train, track, report. Returns the objective (for sweepers such as Optuna).

    In a multirun a failed job returns a :class:`~qboost_exp.sweep.JobFailure`
    instead of raising: Hydra's grid sweeper would stop the whole sweep at the
    first exception. A job that runs in a process of its own under a scheduler
    (submitit: SLURM) also exits non-zero, so the scheduler records it as failed.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from hydra.utils import get_original_cwd

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    job = f"job {hydra_cfg.job.num}: " if multirun else ""
    if not multirun:
        _refuse_a_sweep_without_multirun(hydra_cfg)
    try:
        result, lines = _run_job(cfg, hydra_cfg, get_original_cwd(), multirun)
    except StoreFailure as exc:
        # Trained, but the store failed at the end: the report still stands, the
        # record is on local disk, and the one line says where and how to upload it.
        if exc.result is not None:
            _print_report(cfg, exc.result)
        print(f"error: {job}{exc}", file=sys.stderr, flush=True)
        if multirun:
            return _failed_job(str(exc), hydra_cfg)
        sys.exit(STORE_FAILED)
    except QBoostError as exc:
        print(f"error: {job}{exc}", file=sys.stderr, flush=True)
        if multirun:
            return _failed_job(str(exc), hydra_cfg)  # the sweep goes on; its summary names this job
        sys.exit(2)
    except KeyboardInterrupt as exc:
        from .errors import Terminated

        terminated = isinstance(exc, Terminated)
        kept = getattr(exc, "kept", None)  # stopped while logging a trained run: where its record is
        # Ctrl-C has no message; SIGTERM, a time limit do
        print(f"error: {job}{str(exc) or 'interrupted'}" + (f"; {kept}" if kept else ""), file=sys.stderr, flush=True)
        sys.exit(143 if terminated else 130)
    except Exception as exc:
        if not multirun:
            raise  # a bug: keep the traceback
        import traceback

        traceback.print_exc()
        print(f"error: {job}crashed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return _failed_job(f"{type(exc).__name__}: {exc}", hydra_cfg)
    from .tracking import DEFAULT_OBJECTIVE

    _print_report(cfg, result)
    for line in lines:
        print(f"  {line}")
    # Every metric a run logs can be the objective (time_total too, which is
    # computed for tracking); NaN tells a sweeper the job has no such value.
    return float(result.all_metrics().get(str(cfg.get("objective", DEFAULT_OBJECTIVE)), float("nan")))


def _refuse_a_sweep_without_multirun(hydra_cfg: DictConfig) -> None:
    """A search or sweeper chosen without ``-m`` would quietly train one ordinary run: say so instead (exit 2)."""
    choices = hydra_cfg.runtime.choices
    chosen = [f"{group}={choices[group]}" for group in ("hparams_search", "hydra/sweeper") if choices.get(group) not in (None, "basic")]
    if chosen:
        what = chosen[0]
        print(f"error: {what} runs only as a multirun: add -m (python -m qboost_exp -m {what} ...); without it Hydra runs one ordinary job",
              file=sys.stderr, flush=True)
        sys.exit(2)


def _print_report(cfg: DictConfig, result: Any) -> None:
    """The run's report (a cosmetic step: the run is recorded already, so a report that fails is a warning)."""
    from .cosmetic import attempt
    from .report import format_report

    report = attempt("report", format_report, cfg, result)
    if report is not None:
        print(report, flush=True)


def _failed_job(message: str, hydra_cfg: DictConfig) -> Any:
    import atexit
    import os

    from .sweep import JobFailure

    if os.environ.get("SUBMITIT_FOLDER"):
        # submitit saves what the job returned, then the process ends; the exit
        # status is what SLURM's accounting (sacct) reports, so make it 1.
        def exit_failed() -> None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

        atexit.register(exit_failed)
    return JobFailure(message)


def _run_job(cfg: DictConfig, hydra_cfg: DictConfig, base_dir: str, multirun: bool) -> tuple[Any, list[str]]:
    from .config import config_digest
    from .experiment import run_tracked

    return run_tracked(
        cfg,
        base_dir=base_dir,
        overrides=list(hydra_cfg.overrides.task),
        output_dir=hydra_cfg.runtime.output_dir,
        sweep_dir=str(hydra_cfg.sweep.dir) if multirun else None,
        job_num=hydra_cfg.job.num if multirun else None,
        config_digest=config_digest(cfg),
    )


# Options that come from an optional extra: (group, option) -> (extra, module it installs).
_EXTRAS = {
    ("hydra/launcher", "joblib"): ("joblib", "hydra_plugins.hydra_joblib_launcher"),
    ("hydra/launcher", "ray"): ("ray", "hydra_plugins.hydra_ray_launcher"),
    ("hydra/launcher", "submitit_slurm"): ("slurm", "hydra_plugins.hydra_submitit_launcher"),
    ("hydra/launcher", "submitit_local"): ("slurm", "hydra_plugins.hydra_submitit_launcher"),
    ("hparams_search", "optuna"): ("optuna", "optuna"),
    ("hydra/sweeper", "optuna"): ("optuna", "optuna"),
}


def missing_extra(overrides: list[str]) -> str | None:
    """One line naming the extra to install, if an override selects a plugin that is not installed.

    Without it Hydra prints its raw "Could not find 'hydra/launcher/joblib'".
    """
    import importlib.util

    for override in overrides:
        group, _, option = override.lstrip("+").partition("=")
        needed = _EXTRAS.get((group.removeprefix("override "), option))
        if needed is None:
            continue
        extra, module = needed
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{group}={option} needs the '{extra}' extra, which is not installed: pip install 'qboost-exp[{extra}]'"
    return None


def hydra_error_line(exc: BaseException) -> str:
    """Hydra's (multi-line) config error as one line: what is wrong, and the options that exist."""
    import re

    text = str(exc)
    if isinstance(exc.__cause__, Exception) and str(exc.__cause__) not in text:
        text += "\n" + str(exc.__cause__)
    typo = re.match(r"Could not override '([^']+)'", text)
    if typo:
        # Hydra's advice ("use +KEY=VALUE") would only add a key nothing reads: say what was meant.
        from .config import unknown_key

        refused = unknown_key(typo.group(1))
        if refused:
            return refused
    head, found, options = text.partition("Available options in")
    if found:
        group, _, listed = options.partition(":")
        listed = listed.split("Config search path")[0]
        return f"{_joined(head)}; available options in{group}: {', '.join(listed.split())}"
    return _joined(text)


def _joined(text: str) -> str:
    # OmegaConf's context lines (full_key, object_type, ...) say nothing a user needs here.
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(("full_key:", "object_type=", "reference_type="))]
    return "; ".join(line.rstrip(".;") for line in lines)


def main() -> None:
    """Console entry point (also ``python -m qboost_exp``)."""
    import os

    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    missing = missing_extra(sys.argv[1:])
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        sys.exit(2)
    register_plugin_configs()
    # Hydra prints its config errors (an unknown option or key, a bad override) over
    # several lines and exits 1. With HYDRA_FULL_ERROR it raises them instead, so that
    # they become one `error:` line and exit 2, like every other usage error. A user
    # who set HYDRA_FULL_ERROR asked for Hydra's full report and gets it.
    full_report = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        # A sweep with a failed job ends in the sweep callback, with exit status 1
        # after its summary (qboost_exp.sweep.MLflowSweepCallback.on_multirun_end).
        from .sweep import stopping_on_signals

        # SIGTERM (kill, a scheduler) unwinds like Ctrl-C: a single run ends KILLED, not RUNNING forever.
        with stopping_on_signals():
            hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(_task)()
    except (HydraException, OmegaConfBaseException) as exc:
        if full_report:
            raise
        print(f"error: {hydra_error_line(exc)}", file=sys.stderr, flush=True)
        sys.exit(2)
    except OSError as exc:
        line = output_dir_error(exc)
        if line is None or full_report:
            raise
        print(f"error: {line}", file=sys.stderr, flush=True)
        sys.exit(2)


def output_dir_error(exc: OSError) -> str | None:
    """One line for Hydra failing to create its output directory (a read-only launch directory); None for any other OSError.

    Only an error raised by Hydra itself (its innermost frame outside the
    standard library is in the hydra package) counts: the same error from a
    job is a job's failure and keeps its own report.
    """
    import errno
    import os
    import sysconfig
    import traceback

    if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
        return None
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    frames = [frame.filename for frame in traceback.extract_tb(exc.__traceback__)]
    own = [name for name in frames if not os.path.realpath(name).startswith(stdlib)]
    if not own or f"{os.sep}hydra{os.sep}" not in own[-1]:
        return None
    where = os.path.abspath(str(exc.filename)) if exc.filename else os.getcwd()
    reason = exc.strerror or str(exc)
    return (
        f"cannot create the output directory {where} ({reason}): run from a writable directory, or set "
        "hydra.run.dir=/writable/dir (hydra.sweep.dir=... for -m)"
    )
