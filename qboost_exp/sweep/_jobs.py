"""Every job of a sweep accounted for: the jobs' own records and the driver's account of one launch.

Two sources, and neither needs the tracking store:

- **The launcher's returns** (a Hydra ``JobReturn`` per job), in the
  process that launched the sweep. They are the authority when they exist.
- **The jobs' records**, one small JSON file per job in the sweep directory
  (``.qboost-jobs/N.json``), written by the job itself when it starts and
  when it ends, whatever the launcher. They fill in what the returns cannot
  say: which jobs finished before a Ctrl-C or a launcher error cut the
  batch short, and which job was running when its process died (a record
  that says ``running`` and never more).

A job with neither a return nor a record never started. The account is
saved in the sweep directory (``.qboost-sweep.json``) before the summary is
printed, so that it survives a tracking store that fails at the end.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

#: The jobs' records, in the sweep directory.
JOBS_DIR = ".qboost-jobs"
#: The driver's account of the sweep's last launch, in the sweep directory.
ACCOUNT_FILE = ".qboost-sweep.json"
#: Which driver runs the sweep in this directory now (created exclusively, removed when it ends).
LOCK_FILE = ".qboost-driver.lock"

FINISHED = "finished"
FAILED = "failed"
KILLED = "killed"
NOT_STARTED = "not started"
#: Finished in an earlier launch of the same sweep (a resume skipped it).
EARLIER = "finished earlier"
STATES = (FINISHED, EARLIER, FAILED, KILLED, NOT_STARTED)


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


# -- the jobs' side ------------------------------------------------------------
def _write_json(path: Path, content: Mapping[str, Any]) -> bool:
    """Write ``content`` whole or not at all (a rename); False when the directory cannot take it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        staged.write_text(json.dumps(dict(content), indent=1, sort_keys=True))
        staged.replace(path)
        return True
    except OSError:
        return False


def scheduler_job() -> str | None:
    """The SLURM job id of this process (``ARRAY_TASK`` form for an array task), if SLURM runs it."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def record_job_start(sweep_dir: str | os.PathLike[str], job: int, overrides: Sequence[str], config_digest: str | None = None) -> None:
    """Leave the record that job ``job`` is running (best effort: a read-only sweep directory records nothing)."""
    _write_json(
        Path(sweep_dir) / JOBS_DIR / f"{int(job)}.json",
        {
            "job": int(job),
            "overrides": " ".join(overrides),
            "state": "running",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "slurm_job": scheduler_job(),
            "started": time.time(),
            "config_digest": config_digest,
        },
    )


def record_job_end(
    sweep_dir: str | os.PathLike[str], job: int, overrides: Sequence[str], error: str | None, run_id: str | None = None, *, killed: bool = False
) -> None:
    """Leave the record that job ``job`` ended: finished, failed with ``error``, or (``killed``) stopped from outside for ``error``."""
    path = Path(sweep_dir) / JOBS_DIR / f"{int(job)}.json"
    record = read_record(path) or {"job": int(job), "overrides": " ".join(overrides)}
    state = KILLED if killed else FAILED if error else FINISHED
    record.update(state=state, error=error, run_id=record.get("run_id") if run_id is None else run_id, ended=time.time())
    _write_json(path, record)


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
        int(record["job"])
        return record
    except (OSError, ValueError, KeyError, TypeError):
        return None


def job_records(sweep_dir: str | os.PathLike[str]) -> dict[int, dict[str, Any]]:
    """The records of a sweep's jobs, by job number."""
    found = {}
    for path in sorted((Path(sweep_dir) / JOBS_DIR).glob("*.json")):
        record = read_record(path)
        if record is not None:
            found[int(record["job"])] = record
    return found


def forget_records(sweep_dir: str | os.PathLike[str], jobs: Iterable[int] | None = None) -> None:
    """Remove the records of ``jobs`` (all of them: None) before they are launched (again)."""
    folder = Path(sweep_dir) / JOBS_DIR
    paths = folder.glob("*.json") if jobs is None else (folder / f"{int(j)}.json" for j in jobs)
    for path in paths:
        try:
            path.unlink()
        except OSError:
            pass


# -- the driver's side ---------------------------------------------------------
def claim_sweep_dir(sweep_dir: str | os.PathLike[str], driver: str, *, takeover: bool = False) -> str | None:
    """Make this driver the only one of ``sweep_dir`` (its records would be another's): None, or why it cannot.

    The lock names its driver; one left by a driver that died on this
    machine is taken over, one from another machine only with ``takeover``.
    It is removed when this process ends.
    """
    from ..tracking import driver_alive

    path = Path(sweep_dir) / LOCK_FILE
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = path.read_text().strip()
            except OSError:
                holder = "?"
            if holder == driver:
                return None  # ours already
            alive = driver_alive(holder)
            if alive or (alive is None and not takeover):
                where = "on this machine" if alive else "on another machine, which cannot be checked from here"
                return (
                    f"the sweep directory {sweep_dir} is in use by another sweep's driver ({holder}, {where}): give this sweep "
                    "its own hydra.sweep.dir" + ("" if alive else ", or add hydra.sweeper.takeover=true if that driver is gone")
                )
            try:
                path.unlink()  # its driver is gone
            except OSError:
                pass
            continue
        except OSError:
            return None  # a directory that takes no files: the sweep says so when it writes its records
        with os.fdopen(descriptor, "w") as handle:
            handle.write(driver)
        atexit.register(_release, path, driver)
        return None
    return None


def _release(path: Path, driver: str) -> None:
    try:
        if path.read_text().strip() == driver:
            path.unlink()
    except OSError:
        pass



@dataclass
class JobOutcome:
    """How one job of a sweep ended, as the summary and the exit status count it."""

    job: int
    overrides: str
    state: str  # one of STATES
    reason: str | None = None
    run_id: str | None = None


def killed_reason(record: Mapping[str, Any]) -> str:
    """Why a job was stopped from outside (its record says ``running`` or ``killed``): SLURM's word for it when SLURM ran it."""
    slurm = record.get("slurm_job")
    state = scheduler_state(str(slurm)) if slurm else None
    if state:
        words = {
            "TIMEOUT": "SLURM stopped it at its time limit (hydra.launcher.timeout_min)",
            "OUT_OF_MEMORY": "SLURM stopped it: out of memory (hydra.launcher.mem_gb)",
            "CANCELLED": "it was cancelled (scancel)",
            "PREEMPTED": "SLURM preempted it",
            "NODE_FAIL": "its node failed",
        }
        key = state.split()[0]
        return f"{words.get(key, 'SLURM ended it')} (sacct: {key}, job {slurm})"
    if record.get("state") == KILLED and record.get("error"):
        return str(record["error"])
    where = f" on {record.get('host')}" if record.get("host") else ""
    return f"its process (pid {record.get('pid', '?')}{where}) ended before the job did: killed by a signal, the OOM killer or a scheduler"


def scheduler_state(slurm_job: str) -> str | None:
    """SLURM's accounting state of a job (``TIMEOUT``, ``CANCELLED by 0``, ...), or None without sacct."""
    try:
        out = subprocess.run(["sacct", "-j", slurm_job, "-n", "-P", "-X", "-o", "State"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    states = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return states[0] if out.returncode == 0 and states else None


@dataclass
class SweepAccount:
    """The driver's account of one launch of a sweep: an outcome for every job, whatever happened.

    Parameters
    ----------
    sweep_dir : str
        The sweep's directory (where the jobs' records are).
    jobs : list of list of str
        Every job's overrides, by job number.
    """

    sweep_dir: str
    jobs: list[list[str]]
    returned: dict[int, JobOutcome] = field(default_factory=dict)
    earlier: dict[int, str | None] = field(default_factory=dict)  # job -> its FINISHED run of an earlier launch
    interrupted: str | None = None  # "interrupted (Ctrl-C)" or "terminated (SIGTERM)": the driver was stopped
    launcher_error: str | None = None  # the launcher raised instead of returning
    exit_status: int | None = None  # set by an interrupt: 130 for Ctrl-C, 143 for SIGTERM

    def skip(self, job: int, run_id: str | None) -> None:
        """Job ``job`` finished in an earlier launch of this sweep (run ``run_id``): not launched again."""
        self.earlier[int(job)] = run_id

    def launching(self, job: int, overrides: Sequence[str]) -> None:
        """Job ``job`` is about to be launched, with ``overrides`` (a sweep that asks for its jobs as it goes numbers them here)."""
        while len(self.jobs) <= job:
            self.jobs.append([])
        self.jobs[job] = list(overrides)

    def take(self, initial_job_idx: int, results: Sequence[Any]) -> None:
        """What the launcher returned for the jobs ``initial_job_idx``, ``initial_job_idx + 1``, ..."""
        records = job_records(self.sweep_dir)
        for number, result in enumerate(results, start=initial_job_idx):
            overrides = " ".join(getattr(result, "overrides", None) or self.jobs[number])
            failure = job_failed(result)
            run_id = (records.get(number) or {}).get("run_id")
            self.returned[number] = JobOutcome(number, overrides, FAILED if failure else FINISHED, failure, run_id)

    def outcomes(self) -> list[JobOutcome]:
        """Every job's outcome: returned, else recorded by the job, else never started."""
        records = job_records(self.sweep_dir)
        out = []
        for number, overrides in enumerate(self.jobs):
            text = " ".join(overrides)
            if number in self.returned:
                out.append(self.returned[number])
            elif number in self.earlier:
                out.append(JobOutcome(number, text, EARLIER, None, self.earlier[number]))
            elif number in records:
                record = records[number]
                state = record.get("state")
                if state in (FINISHED, FAILED):
                    out.append(JobOutcome(number, text, state, record.get("error"), record.get("run_id")))
                else:  # it started and never ended: its process died, or the interrupt stopped it
                    reason = self.interrupted or killed_reason(record)
                    out.append(JobOutcome(number, text, KILLED, reason, record.get("run_id")))
            else:
                out.append(JobOutcome(number, text, NOT_STARTED, self.interrupted or self.launcher_error))
        return out

    def save(self, outcomes: Sequence[JobOutcome], **extra: Any) -> Path | None:
        """Write the account to the sweep directory (whole or not at all); its path, or None if it could not be written."""
        path = Path(self.sweep_dir) / ACCOUNT_FILE
        content = {
            "jobs": [asdict(o) for o in outcomes],
            "interrupted": self.interrupted,
            "launcher_error": self.launcher_error,
            "exit_status": self.exit_status,
            "saved": time.time(),
            **extra,
        }
        return path if _write_json(path, content) else None


@dataclass
class BudgetAccount(SweepAccount):
    """The account of a launch that asks for its jobs as it goes, up to ``planned`` of them (an Optuna study's trials).

    Job numbers are the asker's (trial numbers), so they start where the
    sweep stood and may have gaps (a trial of another driver, a parameter
    set not run); only this launch's jobs and, under a re-opened parent run,
    the jobs that finished under it earlier are in the summary. A launch
    that stopped before it asked for all of them counts the rest as not
    started.
    """

    planned: int = 0
    launched: list[int] = field(default_factory=list)

    def launching(self, job: int, overrides: Sequence[str]) -> None:
        super().launching(job, overrides)
        self.launched.append(int(job))

    def outcomes(self) -> list[JobOutcome]:
        by_job = {outcome.job: outcome for outcome in super().outcomes()}
        out = [JobOutcome(n, " ".join(self.jobs[n]) if n < len(self.jobs) else "", EARLIER, None, run_id) for n, run_id in sorted(self.earlier.items())]
        out += [by_job[n] for n in self.launched]
        why = self.interrupted or self.launcher_error
        missing = self.planned - len(self.launched) if why else 0
        if missing > 0:
            # Jobs never asked for have no number yet: name the ones they would most likely have had.
            first = max([*by_job, *self.launched, -1]) + 1
            out += [JobOutcome(first + i, "(not asked for)", NOT_STARTED, why) for i in range(missing)]
        return out


def counts(outcomes: Iterable[JobOutcome]) -> dict[str, int]:
    """How many jobs ended in each state (every state, zero included)."""
    found = dict.fromkeys(STATES, 0)
    for outcome in outcomes:
        found[outcome.state] += 1
    return found


def load_account(sweep_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved account of a sweep's last launch (see :meth:`SweepAccount.save`), or None."""
    try:
        content = json.loads((Path(sweep_dir) / ACCOUNT_FILE).read_text())
        content["outcomes"] = [JobOutcome(**o) for o in content.pop("jobs")]
        return content
    except (OSError, ValueError, KeyError, TypeError):
        return None
