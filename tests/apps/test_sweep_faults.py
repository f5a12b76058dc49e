"""A grid sweep's bad day: Ctrl-C, SIGTERM and kill -9 of its driver mid-job, then ``hydra.sweeper.resume=true``.

Every test asserts what issue 15 asks of each fault: every job accounted
for in the summary, no run left RUNNING once the command (or the resume)
ends, the exit status, no traceback, and a resume that runs only the jobs
that did not finish, under the same parent run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from cli_process import StderrLines, frozen
from local_store import create_store, immutable, mutable
from store_server import servers  # noqa: F401 - the fixture (mlflow server on a SQLite store, killable)

from clirun import SUPPORT, run_module
from faultcheck import finished_runs_without_a_model, jobs_unaccounted, report, running_runs
from slow_model import wait_until_sleeping

TESTS = SUPPORT  # slow_model.py, on the jobs' PYTHONPATH
#: A baseline that sleeps ``+model.seconds`` before it fits (tests/support/slow_model.py): the job is mid-training for a known window.
SLOW = ("model=sklearn", "model._target_=slow_model.SlowClassifier", "hydra.sweep.dir=multirun/s")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DWAVE_API_TOKEN")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    env["HYDRA_FULL_ERROR"] = "0"
    return {**env, **extra}


def _marks(tmp_path: Path) -> Path:
    """Where SlowClassifier marks the start of its sleep (tests/support/slow_model.py: SLOW_MODEL_MARKS)."""
    return tmp_path / "marks"


def _start(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen:
    # A session of its own: signals go to the whole group, as a terminal's Ctrl-C does.
    return subprocess.Popen(
        [sys.executable, "-m", "qboost_exp", "-m", *SLOW, *args],
        cwd=tmp_path, env=_env(SLOW_MODEL_MARKS=str(_marks(tmp_path)), **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    process = _start(tmp_path, *args, **env)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _wait_for_record(tmp_path: Path, job: int, process: subprocess.Popen, what: str, ready, timeout: float) -> dict:
    """Until ``ready(record)`` holds for job ``job``'s own record; fails if the sweep ends first or after ``timeout``."""
    record = tmp_path / "multirun" / "s" / ".qboost-jobs" / f"{job}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the sweep ended before job {job} {what}: {process.communicate()}")
        try:
            found = json.loads(record.read_text())
            if ready(found):
                return found
        except (OSError, ValueError, KeyError, sqlite3.Error):
            pass
        time.sleep(0.2)
    raise AssertionError(f"job {job} had not {what} within {timeout} s")


def _wait_until_running(tmp_path: Path, job: int, process: subprocess.Popen, timeout: float = 300, db: Path | None = None) -> None:
    """Until job ``job``'s own record says it is running, its MLflow run is open in ``db``, and its
    SlowClassifier has begun to sleep (its mark: it is mid-training, not still opening its run)."""
    start = time.monotonic()
    db = db or tmp_path / "mlflow.db"
    found = _wait_for_record(tmp_path, job, process, "started", lambda r: r["state"] == "running" and _job_run_open(db, job), timeout)
    seconds = float(re.search(r"\+model\.seconds=(\S+)", found["overrides"]).group(1))
    wait_until_sleeping(_marks(tmp_path), seconds, process, timeout=max(timeout - (time.monotonic() - start), 1.0))


def _wait_until_finished(tmp_path: Path, job: int, process: subprocess.Popen, timeout: float = 300) -> None:
    """Until job ``job``'s own record says it finished (written once its MLflow run has ended FINISHED)."""
    _wait_for_record(tmp_path, job, process, "finished", lambda r: r["state"] == "finished", timeout)


def _job_run_open(db: Path, job: int) -> bool:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        query = "SELECT 1 FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid WHERE r.status = 'RUNNING' AND t.key = 'qboost.job_num' AND t.value = ?"
        return con.execute(query, (str(job),)).fetchone() is not None


def _stop(process: subprocess.Popen, sig: int) -> subprocess.CompletedProcess:
    os.killpg(process.pid, sig)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _runs(tmp_path: Path) -> tuple[object, list]:
    """(the parent run, the child runs oldest first) of the one sweep in the store."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("qboost")
    runs = client.search_runs([experiment.experiment_id], max_results=100, order_by=["attributes.start_time ASC"])
    (parent,) = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    return parent, [r for r in runs if r.data.tags.get("qboost.role") == "child"]


def _report(fault: str, tmp_path: Path, stdout: str, jobs: int) -> None:
    db = tmp_path / "mlflow.db"
    report(fault, unaccounted=jobs_unaccounted(stdout, jobs), running=len(running_runs(db)), lost=len(finished_runs_without_a_model(db)))


def _by_job(children: list) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for run in children:
        found.setdefault(int(run.data.tags["qboost.job_num"]), []).append(run.info.status)
    return found


def test_ctrl_c_mid_job_ends_with_the_summary_and_resume_runs_only_the_rest(tmp_path):
    sweep = ("+model.seconds=0,0.01,0.02,60,0.03,0.04",)
    process = _start(tmp_path, *sweep)
    _wait_until_running(tmp_path, 3, process)
    stopped = _stop(process, signal.SIGINT)

    assert stopped.returncode == 130, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    assert "[sweep] 6 jobs: 3 finished, 0 failed, 1 killed, 2 not started" in stopped.stdout, stopped.stdout[-3000:]
    assert "[sweep] interrupted (Ctrl-C): the sweep stopped early" in stopped.stdout
    assert "[sweep] KILLED job 3 (model=sklearn model._target_=slow_model.SlowClassifier +model.seconds=60): interrupted (Ctrl-C)" in stopped.stdout
    assert "[sweep] not started: jobs 4-5" in stopped.stdout
    assert "the same command with hydra.sweeper.resume=true" in stopped.stdout
    parent, children = _runs(tmp_path)
    assert parent.info.status == "KILLED"
    assert parent.data.tags["error"] == "interrupted (Ctrl-C): 3 of 6 jobs finished"
    assert _by_job(children) == {0: ["FINISHED"], 1: ["FINISHED"], 2: ["FINISHED"], 3: ["KILLED"]}
    first_runs = {int(r.data.tags["qboost.job_num"]): r.info.run_id for r in children if r.info.status == "FINISHED"}
    _report("grid sweep: Ctrl-C mid-job", tmp_path, stopped.stdout, 6)

    resumed = _run(tmp_path, *sweep, "hydra.sweeper.resume=true", SLOW_MODEL_NO_SLEEP="1")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[sweep] resuming multirun/s: 3 of 6 jobs finished earlier, running 3" in resumed.stdout, resumed.stdout[-3000:]
    assert "[sweep] 6 jobs: 6 finished (3 in an earlier launch), 0 failed" in resumed.stdout
    again, children = _runs(tmp_path)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert again.data.tags["qboost.resumes"] == "1" and "error" not in again.data.tags
    assert _by_job(children) == {0: ["FINISHED"], 1: ["FINISHED"], 2: ["FINISHED"], 3: ["KILLED", "FINISHED"], 4: ["FINISHED"], 5: ["FINISHED"]}
    # jobs 0-2 were not run again: their runs are the first launch's
    assert {n: r.info.run_id for r in children if (n := int(r.data.tags["qboost.job_num"])) < 3} == first_runs
    assert "RUNNING" not in {r.info.status for r in children}
    # the summary's best run is one of this sweep's six finished runs
    assert again.data.tags["best_run_id"] in {r.info.run_id for r in children if r.info.status == "FINISHED"}
    _report("grid sweep: Ctrl-C mid-job, then hydra.sweeper.resume=true", tmp_path, resumed.stdout, 6)


def test_sigterm_mid_job_ends_the_sweep_killed_with_exit_143(tmp_path):
    process = _start(tmp_path, "+model.seconds=0,60")
    _wait_until_running(tmp_path, 1, process)
    stopped = _stop(process, signal.SIGTERM)

    assert stopped.returncode == 143, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    assert "[sweep] 2 jobs: 1 finished, 0 failed, 1 killed" in stopped.stdout, stopped.stdout[-3000:]
    assert "[sweep] terminated (SIGTERM): the sweep stopped early" in stopped.stdout
    parent, children = _runs(tmp_path)
    assert parent.info.status == "KILLED" and parent.data.tags["error"] == "terminated (SIGTERM): 1 of 2 jobs finished"
    assert _by_job(children) == {0: ["FINISHED"], 1: ["KILLED"]}
    account = json.loads((tmp_path / "multirun" / "s" / ".qboost-sweep.json").read_text())
    assert [(j["job"], j["state"]) for j in account["jobs"]] == [(0, "finished"), (1, "killed")]
    assert account["exit_status"] == 143
    _report("grid sweep: SIGTERM mid-job", tmp_path, stopped.stdout, 2)


@pytest.mark.long
def test_kill_9_of_the_driver_then_resume_closes_what_it_left_running_and_finishes_the_rest(tmp_path):
    sweep = ("+model.seconds=0,60,0.01",)
    process = _start(tmp_path, *sweep)
    _wait_until_running(tmp_path, 1, process)
    killed = _stop(process, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    parent, children = _runs(tmp_path)
    assert parent.info.status == "RUNNING" and _by_job(children) == {0: ["FINISHED"], 1: ["RUNNING"]}  # what kill -9 leaves

    # As if the sweep had been driven from another machine: its driver cannot be checked from here, so no takeover unasked.
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.set_tag(parent.info.run_id, "qboost.driver", "login2.example:4242:1796500000")
    refused = _run(tmp_path, *sweep, "hydra.sweeper.resume=true")
    assert refused.returncode == 2, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert refused.stderr.strip() == (
        f"error: the sweep to resume (parent run {parent.info.run_id}) is RUNNING, driven from another machine (login2.example:4242:1796500000), "
        "which cannot be checked from here: if that driver is gone, resume with hydra.sweeper.takeover=true"
    )
    assert _by_job(_runs(tmp_path)[1]) == {0: ["FINISHED"], 1: ["RUNNING"]}  # untouched

    resumed = _run(tmp_path, *sweep, "hydra.sweeper.resume=true", "hydra.sweeper.takeover=true", SLOW_MODEL_NO_SLEEP="1")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "RUNNING from another machine (login2.example:4242:1796500000); taking it over" in resumed.stdout
    assert (
        "[sweep] resuming multirun/s: 1 of 3 jobs finished earlier, running 2; closed 1 run its dead driver left RUNNING" in resumed.stdout
    ), resumed.stdout[-3000:]
    assert "[sweep] 3 jobs: 3 finished (1 in an earlier launch), 0 failed" in resumed.stdout
    again, children = _runs(tmp_path)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert _by_job(children) == {0: ["FINISHED"], 1: ["KILLED", "FINISHED"], 2: ["FINISHED"]}
    (closed,) = [r for r in children if r.info.status == "KILLED"]
    assert "by a resume of its sweep: the job never ended (its driver died)" in closed.data.tags["qboost.closed_by"]
    _report("grid sweep: kill -9 of the driver, then hydra.sweeper.resume=true", tmp_path, resumed.stdout, 3)


def test_kill_9_of_the_driver_then_a_new_sweep_closes_the_dead_sweeps_runs(tmp_path):
    """Without resume, the next sweep in the experiment closes what the dead driver left RUNNING (KILLED, with why)."""
    process = _start(tmp_path, "+model.seconds=60,0")
    _wait_until_running(tmp_path, 0, process)
    _stop(process, signal.SIGKILL)

    fresh = _run(tmp_path, "+model.seconds=0", "hydra.sweep.dir=multirun/t")
    assert fresh.returncode == 0, fresh.stdout[-3000:] + fresh.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("qboost").experiment_id], max_results=100)
    assert "RUNNING" not in {r.info.status for r in runs}
    dead = [r for r in runs if r.data.tags.get("qboost.sweep_dir", "").endswith("multirun/s") or "+model.seconds=60" in r.data.tags.get("hydra.overrides", "")]
    assert sorted(r.info.status for r in dead) == ["KILLED", "KILLED"]  # the dead sweep's parent and its job 0
    assert all("qboost.closed_by" in r.data.tags for r in dead)


# --------------------------------------------------------------------------- the tracking server fails mid-sweep


class _Stdout:
    """A process's stdout read in a thread (its stderr is read by a StderrLines): neither pipe can fill and block it."""

    def __init__(self, process: subprocess.Popen) -> None:
        self._chunks: list[str] = []
        self._reader = threading.Thread(target=lambda: self._chunks.append(process.stdout.read()), daemon=True)
        self._reader.start()

    def all(self) -> str:
        self._reader.join(timeout=60)
        return "".join(self._chunks)


def _server_runs(server) -> tuple[object, list]:
    client = MlflowClient(server.url)
    runs = client.search_runs([client.get_experiment_by_name("qboost").experiment_id], max_results=100, order_by=["attributes.start_time ASC"])
    (parent,) = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    return parent, [r for r in runs if r.data.tags.get("qboost.role") == "child"]


@pytest.mark.long
def test_tracking_server_killed_mid_sweep_and_restarted_on_the_same_store_loses_nothing(tmp_path, servers):
    server = servers(tmp_path / "server")
    process = _start(tmp_path, "+model.seconds=0,8,0.01", f"mlflow.tracking_uri={server.url}")
    errors, output = StderrLines(process), _Stdout(process)
    _wait_until_running(tmp_path, 1, process, db=server.db)
    with frozen(process, group=True):  # stopped in job 1's sleep: the server surely dies while it trains
        server.kill()  # kill -9
    # Job 1 ends its training, its first request fails and is retried: only then does the server
    # come back, while the sweep stays stopped (its retries unspent however long the start takes).
    errors.wait_for("does not answer; retrying")
    with frozen(process, group=True):
        server = servers(tmp_path / "server", server.port)  # the same store, the same address
    process.wait(timeout=300)
    out, err = output.all(), errors.all()

    assert process.returncode == 0, out[-3000:] + err[-3000:]
    assert "[sweep] 3 jobs: 3 finished, 0 failed" in out, out[-3000:]
    assert "Traceback" not in err, err[-3000:]
    parent, children = _server_runs(server)
    assert parent.info.status == "FINISHED" and _by_job(children) == {0: ["FINISHED"], 1: ["FINISHED"], 2: ["FINISHED"]}
    report("tracking server: kill -9 mid-sweep, restarted on the same store", unaccounted=jobs_unaccounted(out, 3),
           running=len(running_runs(server.db)), lost=len(finished_runs_without_a_model(server.db)))


@pytest.mark.long
def test_tracking_server_gone_for_good_mid_sweep_then_sync_and_resume_lose_nothing(tmp_path, servers):
    server = servers(tmp_path / "server")
    sweep = ("+model.seconds=0,8,0.01", f"mlflow.tracking_uri={server.url}", "mlflow.retry_seconds=10")
    process = _start(tmp_path, *sweep)
    _wait_until_running(tmp_path, 1, process, db=server.db)
    with frozen(process, group=True):  # stopped in job 1's sleep: the server surely dies while it trains
        server.kill()  # and it does not come back while the sweep runs
    out, err = process.communicate(timeout=300)

    # every job accounted for; job 1's trained model is in its local record; one line says where
    assert process.returncode == 1, out[-3000:] + err[-3000:]
    assert "Traceback" not in err + out, (out + err)[-3000:]
    assert "[sweep] 3 jobs: 1 finished, 2 failed" in out, out[-3000:]
    record = tmp_path / "multirun" / "s" / "1" / "mlflow-record"
    shown = f"mlflow.tracking_uri={server.url.replace(':', chr(92) + ':')} mlflow.retry_seconds=10"  # as Hydra prints an override
    assert (
        f"[sweep] FAILED job 1 (model=sklearn model._target_=slow_model.SlowClassifier +model.seconds=8 {shown}): the tracking store "
        f"{server.url} failed at the end of the run (the server does not answer: connection refused): the run's full record is in {record}"
    ) in out, out[-3000:]
    assert "before its run opened" not in out  # job 1's run exists, left RUNNING in the unreachable store
    assert f"python -m qboost_exp.tracking sync {record}" in out
    assert "[sweep] FAILED job 2 (" in out
    assert (
        f"[sweep] error: the tracking store {server.url} failed at the sweep's end (the server does not answer: connection refused): "
        "parent run "
    ) in out
    assert (record / "record.json").is_file() and (record / "model" / "MLmodel").is_file()
    account = json.loads((tmp_path / "multirun" / "s" / ".qboost-sweep.json").read_text())
    assert [(j["job"], j["state"]) for j in account["jobs"]] == [(0, "finished"), (1, "failed"), (2, "failed")]
    assert account["parent_closed"] is False
    report("tracking server: gone for good mid-sweep (mlflow.retry_seconds=10)", unaccounted=jobs_unaccounted(out, 3))

    # The server comes back: upload job 1's record, then resume: only job 2 runs, nothing stays RUNNING.
    server = servers(tmp_path / "server", server.port)
    # Where the model's class does not import, sync says so in one line and uploads nothing.
    refused = run_module("qboost_exp.tracking", "sync", str(record), cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-3000:]
    assert refused.stderr.startswith(f"error: the record's model {record}/model does not load here (ModuleNotFoundError: No module named 'slow_model')")
    assert not (record / "uploaded.json").exists()
    synced = run_module("qboost_exp.tracking", "sync", str(record), cwd=tmp_path, env={"PYTHONPATH": str(TESTS)})  # the model's class
    assert synced.returncode == 0, synced.stdout + synced.stderr
    # Its upload mark lost, the record is still not uploaded twice: the store knows the run.
    (record / "uploaded.json").unlink()
    twice = run_module("qboost_exp.tracking", "sync", str(record), cwd=tmp_path, env={"PYTHONPATH": str(TESTS)})
    assert twice.returncode == 2 and "(found in the store); add --force to upload it again as another run" in twice.stderr, twice.stderr
    resumed = _run(tmp_path, *sweep, "hydra.sweeper.resume=true", SLOW_MODEL_NO_SLEEP="1")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[sweep] resuming multirun/s: 2 of 3 jobs finished earlier, running 1" in resumed.stdout, resumed.stdout[-3000:]
    assert "[sweep] 3 jobs: 3 finished (2 in an earlier launch), 0 failed" in resumed.stdout
    parent, children = _server_runs(server)
    assert parent.info.status == "FINISHED"
    finished = {n for n, states in _by_job(children).items() if "FINISHED" in states}
    assert finished == {0, 1, 2}
    report("tracking server: gone for good, then back: sync and hydra.sweeper.resume=true", unaccounted=jobs_unaccounted(resumed.stdout, 3),
           running=len(running_runs(server.db)), lost=len(finished_runs_without_a_model(server.db)))


# --------------------------------------------------------------------------- a sweep that cannot start


def test_a_sweep_on_a_read_only_store_is_one_line_and_its_summary(tmp_path):
    create_store(tmp_path / "mlflow.db")
    immutable(tmp_path / "mlflow.db")  # even root cannot write it
    try:
        result = _run(tmp_path, "+model.seconds=0,0.01")
    finally:
        mutable(tmp_path / "mlflow.db")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert errors == [
        f"error: the MLflow store {tmp_path / 'mlflow.db'} is read-only: the database file {tmp_path / 'mlflow.db'} is not writable; "
        "nothing was trained: make it writable (chmod, chattr -i, or a read-write mount), or log elsewhere with mlflow.tracking_uri=URI "
        "(or MLFLOW_TRACKING_URI), or run untracked with mlflow.enabled=false"
    ], result.stderr
    assert "Traceback" not in result.stderr
    assert "[sweep] 2 jobs: 0 finished, 0 failed, 2 not started" in result.stdout
    report("grid sweep: a read-only store", unaccounted=jobs_unaccounted(result.stdout, 2), running=len(running_runs(tmp_path / "mlflow.db")))


def test_a_sweep_from_a_read_only_launch_directory_is_one_line_and_its_summary(tmp_path):
    immutable(tmp_path)
    try:
        process = subprocess.run(
            [sys.executable, "-m", "qboost_exp", "-m", "lambda=0.1,0.2", "mlflow.enabled=false"],
            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
        )
    finally:
        mutable(tmp_path)
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert process.returncode == 2, process.stdout[-3000:] + process.stderr[-3000:]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot create the sweep directory {tmp_path}/multirun/"), process.stderr
    assert errors[0].endswith("(Operation not permitted): run from a writable directory, or set hydra.sweep.dir=/writable/dir")
    assert "Traceback" not in process.stderr
    assert "[sweep] 2 jobs: 0 finished, 0 failed, 2 not started" in process.stdout


def test_a_joblib_sweep_killed_then_resumed_runs_only_what_did_not_finish(tmp_path):
    """The resume is the sweeper's, whatever the launcher: here jobs in joblib's worker processes."""
    sweep = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "+model.seconds=0,60,0.01")
    process = _start(tmp_path, *sweep)
    _wait_until_running(tmp_path, 1, process)
    # Job 0 runs beside job 1 (two workers): it must have finished, not merely be likely to have, by the kill.
    _wait_until_finished(tmp_path, 0, process)
    _stop(process, signal.SIGKILL)  # the driver and its workers
    parent, children = _runs(tmp_path)
    finished = {n for n, states in _by_job(children).items() if states == ["FINISHED"]}
    assert 0 in finished and 1 not in finished  # job 2 may have finished beside job 1, or not

    resumed = _run(tmp_path, *sweep, "hydra.sweeper.resume=true", SLOW_MODEL_NO_SLEEP="1")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"[sweep] resuming multirun/s: {len(finished)} of 3 jobs finished earlier, running {3 - len(finished)}" in resumed.stdout, resumed.stdout[-3000:]
    assert f"[sweep] 3 jobs: 3 finished ({len(finished)} in an earlier launch), 0 failed" in resumed.stdout
    again, children = _runs(tmp_path)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert {n for n, states in _by_job(children).items() if "FINISHED" in states} == {0, 1, 2}
    assert all(states.count("FINISHED") == 1 for states in _by_job(children).values())  # nothing ran twice
    _report("joblib sweep: kill -9 of the driver, then hydra.sweeper.resume=true", tmp_path, resumed.stdout, 3)


# --------------------------------------------------------------------------- a single run stopped


def test_sigterm_of_a_single_run_ends_it_killed_with_exit_143(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "qboost_exp", "model=sklearn", "model._target_=slow_model.SlowClassifier", "+model.seconds=60", "hydra.run.dir=run"],
        cwd=tmp_path, env=_env(SLOW_MODEL_MARKS=str(_marks(tmp_path))), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    wait_until_sleeping(_marks(tmp_path), 60, process)  # mid-training: its run is open, its fit sleeps
    assert len(running_runs(tmp_path / "mlflow.db")) == 1
    stopped = _stop(process, signal.SIGTERM)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert stopped.stderr.strip() == "error: terminated (SIGTERM)"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("qboost").experiment_id])
    assert run.info.status == "KILLED" and run.data.tags["error"] == "terminated (SIGTERM)"
    report("single run: SIGTERM mid-training", running=len(running_runs(tmp_path / "mlflow.db")))


def test_a_second_sweep_in_a_sweep_directory_in_use_is_refused_in_one_line(tmp_path):
    first = _start(tmp_path, "+model.seconds=60")
    try:
        _wait_until_running(tmp_path, 0, first)
        second = _run(tmp_path, "+model.seconds=0")  # the same hydra.sweep.dir (multirun/s)
    finally:
        _stop(first, signal.SIGKILL)
    assert second.returncode == 2, second.stdout[-3000:] + second.stderr[-3000:]
    assert second.stderr.startswith(f"error: the sweep directory multirun/s is in use by another sweep's driver ({socket.gethostname()}:{first.pid}:")
    assert second.stderr.strip().endswith("on this machine): give this sweep its own hydra.sweep.dir")
    assert json.loads((tmp_path / "multirun" / "s" / ".qboost-jobs" / "0.json").read_text())["state"] == "running"  # the first sweep's record untouched
    # Once that driver is gone, its lock is taken over.
    third = _run(tmp_path, "+model.seconds=0")
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert not (tmp_path / "multirun" / "s" / ".qboost-driver.lock").exists()  # released at the end
