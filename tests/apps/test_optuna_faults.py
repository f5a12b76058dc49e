"""``hparams_search=optuna`` when things fail: a resumed study never replays, a killed driver's trials and runs are closed and run again, Ctrl-C ends in the summary.

Real processes, a real optuna.db and a real MLflow SQLite store; the
watching is done with plain sqlite3, read-only, so that the test never
writes to a store the CLI is using.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from clirun import QUICK, run_module
from faultcheck import finished_runs_without_a_model, jobs_unaccounted, report, running_runs, running_trials

FAST = ("sampler.params.num_reads=10", "sampler.params.num_sweeps=200", *QUICK)
# Slower jobs (a few seconds each) for the tests that stop the driver in the middle of one.
SLOW = ("sampler.params.num_reads=10", "sampler.params.num_sweeps=200", "qubo.max_weight_grid=[0.125]", "lambda_grid=[0.0,0.02,0.05,0.1]", "qubo.cv=3")
# A small search space with a continuous key: every trial is a new parameter set.
SPACE = ("hydra.sweeper.params=null", "lambda=tag(log, interval(0.01, 0.3))", "qubo.weight_bits=choice(1,2)", "weak_learners.params.n_estimators=10")


def _study(tmp_path: Path, name: str = "qboost") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")


def _params(trial: optuna.trial.FrozenTrial) -> tuple:
    return tuple(sorted(trial.params.items()))


def _runs(tmp_path: Path) -> tuple[list, list]:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("qboost")
    runs = client.search_runs([experiment.experiment_id], max_results=500, order_by=["attributes.start_time ASC"])
    return [r for r in runs if r.data.tags.get("qboost.role") == "parent"], [r for r in runs if r.data.tags.get("qboost.role") == "child"]


def _query(db: Path, sql: str) -> list[tuple]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute(sql).fetchall()
    except sqlite3.Error:
        return []


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    """The CLI in a process group of its own (so that a signal reaches every process of it), output to files."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DWAVE_API_TOKEN")}
    env["HYDRA_FULL_ERROR"] = "0"
    return subprocess.Popen(
        [sys.executable, "-m", "qboost_exp", *args],
        cwd=tmp_path,
        env=env,
        stdout=open(tmp_path / "first.out", "w"),
        stderr=open(tmp_path / "first.err", "w"),
        start_new_session=True,
    )


def _wait_for_running_job(tmp_path: Path, process: subprocess.Popen, trial: int, timeout: float = 300) -> None:
    """Until trial ``trial`` is RUNNING in optuna.db and its job's MLflow run is RUNNING (mid-job).

    ``timeout`` is a safety net only (the CLI's start and the trials before, on a loaded machine).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "first.out").read_text()[-3000:] + (tmp_path / "first.err").read_text()[-3000:]
        trials = _query(tmp_path / "optuna.db", f"SELECT state FROM trials WHERE number = {trial}")
        runs = _query(
            tmp_path / "mlflow.db",
            "SELECT r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            f"WHERE t.key = 'qboost.job_num' AND t.value = '{trial}' AND r.status = 'RUNNING'",
        )
        if trials == [("RUNNING",)] and runs:
            return
        time.sleep(0.05)
    raise AssertionError(f"trial {trial} never ran: " + (tmp_path / "first.out").read_text()[-3000:])


@pytest.mark.long
def test_a_resumed_study_never_replays_its_trials(tmp_path):
    first = run_module("qboost_exp", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", *SPACE, *FAST, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = run_module("qboost_exp", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=6", *SPACE, *FAST, cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "3 of n_trials=6 trials done, 3 to run in batches of 1" in second.stdout
    assert "[optuna] sampler seed " in second.stdout and "from seed 0 and the study's 3 trials" in second.stdout
    assert "[sweep] 3 jobs: 3 finished, 0 failed" in second.stdout

    trials = _study(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert len({_params(t) for t in trials}) == 6  # before: trials 3-5 repeated trials 0-2 exactly
    assert len({t.params["lambda"] for t in trials}) == 6
    report("Optuna: 3 trials, then n_trials=6", running=running_trials(tmp_path / "optuna.db"), distinct=(len({_params(t) for t in trials}), 6))

    # A fresh study with the same seed is still reproducible: its first 3 trials are the first study's.
    again = run_module(
        "qboost_exp", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", "hydra.sweeper.study_name=again", *SPACE, *FAST, cwd=tmp_path
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert [_params(t) for t in _study(tmp_path, "again").trials] == [_params(t) for t in trials[:3]]


def test_an_exhausted_categorical_space_stops_in_one_line_without_repeating(tmp_path):
    tiny = ("hydra.sweeper.params=null", "lambda=choice(0.02,0.05)", "qubo.weight_bits=choice(1,2)", "weak_learners.params.n_estimators=10")
    first = run_module("qboost_exp", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", *tiny, *FAST, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = run_module("qboost_exp", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=6", *tiny, *FAST, cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    study = _study(tmp_path)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4 and len({_params(t) for t in complete}) == 4  # all 4 points, none twice
    assert all(t.user_attrs.get("qboost.not_run") for t in study.trials if t.state != TrialState.COMPLETE)
    assert second.stdout.count("the search space holds 4 parameter sets and the study has tried all of them: stopping here") == 1
    assert "[sweep] 1 jobs: 1 finished, 0 failed" in second.stdout

    # Another launch says so before it runs anything (no parent run, no summary).
    third = run_module("qboost_exp", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=6", *tiny, *FAST, cwd=tmp_path)
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert "[optuna] the search space holds 4 parameter sets and the study has completed all of them: nothing left to try" in third.stdout
    assert "[sweep]" not in third.stdout
    assert len([t for t in _study(tmp_path).trials if t.state == TrialState.COMPLETE]) == 4
    assert len(_runs(tmp_path)[0]) == 2


def test_kill_9_of_the_driver_then_the_same_command_closes_and_reruns_what_it_left(tmp_path):
    command = ("-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", *SPACE, *SLOW)
    process = _start(tmp_path, *command)
    try:
        _wait_for_running_job(tmp_path, process, trial=1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert _query(tmp_path / "optuna.db", "SELECT number, state FROM trials ORDER BY number") == [(0, "COMPLETE"), (1, "RUNNING")]
    (parent,), children = _runs(tmp_path)
    assert parent.info.status == "RUNNING" and [c.info.status for c in children] == ["FINISHED", "RUNNING"]

    resumed = run_module("qboost_exp", *command, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    out = resumed.stdout
    assert "[optuna] trial 1 was left RUNNING: its driver (" in out and ") died before the trial ended" in out
    assert "[optuna] trial 1's parameters queued again as trial 2" in out
    assert "1 of n_trials=3 trials done, 2 to run" in out
    assert f"[sweep] MLflow parent run {parent.info.run_id} in sqlite:///{tmp_path / 'mlflow.db'} (resumed, 1 time)" in out
    assert "[optuna] closed 1 child run the stopped launch left RUNNING (KILLED)" in out
    assert "[sweep] 3 jobs: 3 finished (1 in an earlier launch), 0 failed" in out

    trials = _study(tmp_path).trials
    assert [(t.number, t.state) for t in trials] == [(0, TrialState.COMPLETE), (1, TrialState.FAIL), (2, TrialState.COMPLETE), (3, TrialState.COMPLETE)]
    killed, retry = trials[1], trials[2]
    assert "died before the trial ended" in killed.user_attrs["failure"] and killed.user_attrs["qboost.stopped"]
    assert retry.params == killed.params and retry.system_attrs["failed_trial"] == 1  # Optuna's retry record
    assert "failure" not in retry.user_attrs and retry.user_attrs["qboost.driver"] != killed.user_attrs["qboost.driver"]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3 and len({_params(t) for t in complete}) == 3
    assert _query(tmp_path / "optuna.db", "SELECT count(*) FROM trials WHERE state = 'RUNNING'") == [(0,)]

    # One parent for the study, resumed; the killed job's run closed KILLED with the reason; nothing RUNNING.
    parents, children = _runs(tmp_path)
    assert [p.info.run_id for p in parents] == [parent.info.run_id]
    assert parents[0].info.status == "FINISHED" and parents[0].data.tags["qboost.resumes"] == "1"
    by_job = {int(c.data.tags["qboost.job_num"]): c for c in children}
    assert sorted(by_job) == [0, 1, 2, 3] and len(children) == 4
    assert [by_job[n].info.status for n in range(4)] == ["FINISHED", "KILLED", "FINISHED", "FINISHED"]
    assert "the job never ended (its driver died)" in by_job[1].data.tags["qboost.closed_by"]
    assert _query(tmp_path / "mlflow.db", "SELECT count(*) FROM runs WHERE status = 'RUNNING'") == [(0,)]
    _report_resume("Optuna: kill -9 of the driver, then the same command", tmp_path, out, complete, 3)


def _report_resume(fault: str, tmp_path: Path, stdout: str, complete: list, n_trials: int) -> None:
    db = tmp_path / "mlflow.db"
    report(
        fault, unaccounted=jobs_unaccounted(stdout, n_trials), running=running_trials(tmp_path / "optuna.db") + len(running_runs(db)),
        lost=len(finished_runs_without_a_model(db)), distinct=(len({_params(t) for t in complete}), n_trials),
    )


def test_ctrl_c_mid_batch_ends_in_the_summary_with_no_trial_running_and_the_resume_finishes_the_study(tmp_path):
    command = ("-m", "hparams_search=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2", *SPACE, *SLOW)
    process = _start(tmp_path, *command)
    try:
        _wait_for_running_job(tmp_path, process, trial=1)  # the second job of the first batch
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    out = (tmp_path / "first.out").read_text()
    assert "[sweep] 4 jobs: 1 finished, 0 failed, 1 killed, 2 not started" in out, out[-3000:]
    assert "[sweep] interrupted (Ctrl-C): the sweep stopped early" in out
    assert "[sweep] KILLED job 1 (" in out
    assert "[sweep] to run only the jobs that did not finish: the same command (the study continues; its stopped trials run again)" in out
    report("Optuna: Ctrl-C mid-batch", unaccounted=jobs_unaccounted(out, 4), running=running_trials(tmp_path / "optuna.db") + len(running_runs(tmp_path / "mlflow.db")))

    trials = _study(tmp_path).trials
    assert [(t.number, t.state) for t in trials] == [(0, TrialState.COMPLETE), (1, TrialState.FAIL)]
    assert trials[1].user_attrs["qboost.stopped"] == "interrupted (Ctrl-C)"
    (parent,), children = _runs(tmp_path)
    assert parent.info.status == "KILLED" and "interrupted (Ctrl-C)" in parent.data.tags["error"]
    assert trials[0].value == {int(c.data.tags["qboost.job_num"]): c for c in children}[0].data.metrics["validation_accuracy"]
    assert _query(tmp_path / "mlflow.db", "SELECT count(*) FROM runs WHERE status = 'RUNNING'") == [(0,)]

    # The same command finishes the study under the same parent run: the interrupted trial runs again.
    resumed = run_module("qboost_exp", *command, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[optuna] trial 1's parameters queued again as trial 2 (interrupted (Ctrl-C))" in resumed.stdout
    assert "[sweep] 4 jobs: 4 finished (1 in an earlier launch), 0 failed" in resumed.stdout, resumed.stdout[-4000:]
    trials = _study(tmp_path).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == 5 and len(complete) == 4 and len({_params(t) for t in complete}) == 4
    assert trials[2].params == trials[1].params
    (again,), _ = _runs(tmp_path)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    _report_resume("Optuna: Ctrl-C mid-batch, then the same command", tmp_path, resumed.stdout, complete, 4)
