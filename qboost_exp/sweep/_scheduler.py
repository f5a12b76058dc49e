"""A sweep's SLURM jobs when its launch stops early: cancelled when the user stops it, waited for when one job ended it.

submitit's launcher collects the results of a job array one job at a
time, so a job that fails its way (a time limit) makes it raise while the
other jobs of the array still run, and Ctrl-C or SIGTERM of the driver
leaves every submitted job running on the cluster. Either way the summary
would count live jobs as killed, and a resume would run them a second
time. :func:`settle_slurm_jobs` first brings the jobs to an end: on a stop
it cancels them (``scancel``), after a launcher error it waits for them, so
that the jobs' own records and SLURM's accounting give every outcome.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Iterable

from omegaconf import DictConfig, OmegaConf

from ._jobs import job_records

#: How long a stopped sweep waits for SLURM to end the jobs it cancelled.
_CANCEL_WAIT = 60.0
_POLL = 5.0


def is_slurm_launch(config: DictConfig) -> bool:
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    return "submitit" in target.lower() and "slurm" in target.lower()


def submitted_jobs(config: DictConfig) -> list[str]:
    """The SLURM job ids (array ids) this sweep submitted: submitit's folders and the jobs' records."""
    sweep_dir = str(config.hydra.sweep.dir)
    ids = {str(r["slurm_job"]).split("_")[0] for r in job_records(sweep_dir).values() if r.get("slurm_job")}
    folder = OmegaConf.select(config, "hydra.launcher.submitit_folder", default=None)
    root = Path(str(folder).split("%j")[0]) if folder else Path(sweep_dir) / ".submitit"
    if root.is_dir():
        ids.update(p.name.split("_")[0] for p in root.iterdir() if re.fullmatch(r"\d+(_\d+)?", p.name))
    return sorted(ids, key=int)


def active(jobs: Iterable[str]) -> list[str]:
    """Those of ``jobs`` (or their array tasks) SLURM still has pending or running; [] without squeue."""
    jobs = list(jobs)
    if not jobs:
        return []
    try:
        out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(jobs)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _wait(jobs: list[str], seconds: float | None) -> list[str]:
    deadline = None if seconds is None else time.monotonic() + seconds
    running = active(jobs)
    while running and (deadline is None or time.monotonic() < deadline):
        time.sleep(_POLL)
        running = active(jobs)
    return running


def still_running(sweep_dir: str) -> dict[int, str]:
    """{job number: SLURM job} of a sweep's jobs whose record says running and SLURM still runs or queues (a resume must not run them twice)."""
    found = {}
    for number, record in job_records(sweep_dir).items():
        slurm = record.get("slurm_job")
        if slurm and record.get("state") == "running" and active([str(slurm)]):
            found[number] = str(slurm)
    return found


def settle_slurm_jobs(config: DictConfig, *, stopped: bool) -> None:
    """Bring a stopped launch's SLURM jobs to an end before its summary (see the module's docstring)."""
    if not is_slurm_launch(config):
        return
    jobs = submitted_jobs(config)
    running = active(jobs)
    if not running:
        return
    if not stopped:
        print(f"[sweep] the launcher stopped early; waiting for {len(running)} SLURM job(s) still queued or running (Ctrl-C cancels them)", flush=True)
        try:
            running = _wait(jobs, None)
        except KeyboardInterrupt:
            stopped = True
    if stopped and running:
        subprocess.run(["scancel", *jobs], capture_output=True, timeout=60)
        print(f"[sweep] cancelled the sweep's SLURM jobs still queued or running (scancel {' '.join(jobs)})", flush=True)
        left = _wait(jobs, _CANCEL_WAIT)
        if left:
            print(f"[sweep] SLURM still lists {', '.join(left)} {_CANCEL_WAIT:.0f} s after scancel", flush=True)
