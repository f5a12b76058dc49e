"""Sweeps through a real single-node SLURM cluster (tests/support/slurm.py) with submitit."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mlflow import MlflowClient

from clirun import QUICK, SUPPORT, run_module
from faultcheck import finished_runs_without_a_model, jobs_unaccounted, report, running_runs

SWEEP = ("-m", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=cpu", "sampler.params.num_reads=10", *QUICK)


def _runs(tmp_path: Path) -> list:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("qboost")
    return client.search_runs([experiment.experiment_id], max_results=100, order_by=["attributes.start_time ASC"])


def test_slurm_sweep_tracks_parent_and_children_and_a_failing_job_fails_in_sacct(tmp_path, slurm_cluster):
    # Job 1's sampler option is refused as the job starts, on SLURM (a bad λ would stop the sweep before any job).
    sweep = [a for a in SWEEP if not a.startswith("sampler.params.num_reads=")]
    result = run_module(
        "qboost_exp", *sweep, "hydra.launcher.timeout_min=7", f"hydra.launcher.cpus_per_task={slurm_cluster.cpus}",
        "sampler.params.num_reads=10,-1", "lambda=0.01", cwd=tmp_path, env=slurm_cluster.env, timeout=600,
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    # our summary names the failed job, and the sweep went on to the other one
    assert "[sweep] 2 jobs: 1 finished, 1 failed" in result.stdout, result.stdout[-3000:]
    assert "[sweep] FAILED job 1 (" in result.stdout and "sampler.params.num_reads must be an integer >= 1, got -1" in result.stdout

    runs = _runs(tmp_path)
    (parent,) = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    children = {int(r.data.tags["qboost.job_num"]): r for r in runs if r.data.tags.get("qboost.role") == "child"}
    assert "SlurmLauncher" in parent.data.tags["hydra.launcher"] and parent.info.status == "FINISHED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children.values()} == {parent.info.run_id}
    assert (children[0].info.status, children[1].info.status) == ("FINISHED", "FAILED")
    assert parent.data.tags["best_run_id"] == children[0].info.run_id
    assert children[0].data.params["lambda"] == "0.01" and children[0].data.metrics["validation_accuracy"] > 0.8

    # SLURM's own accounting agrees, and the documented launcher options reached it
    submitit = tmp_path / parent.data.tags["qboost.sweep_dir"] / ".submitit"
    # submitit submits the sweep as one job array: ARRAYID_0, ARRAYID_1
    job_ids = sorted((p.name for p in submitit.iterdir() if re.fullmatch(r"\d+_\d+", p.name)), key=lambda name: int(name.split("_")[1]))
    assert len(job_ids) == 2
    rows = [line.split("|") for line in slurm_cluster.sacct("-X", "-j", ",".join(job_ids), "-o", "JobID,State,ExitCode,Timelimit,ReqCPUS,Partition").splitlines()]
    by_id = {row[0]: row[1:] for row in rows}
    # job 0 (num_reads=10) completed; job 1 (num_reads=-1) failed -- in SLURM's accounting too
    assert [by_id[j][:2] for j in job_ids] == [["COMPLETED", "0:0"], ["FAILED", "1:0"]], rows
    for job_id in job_ids:
        assert by_id[job_id][2:] == ["00:07:00", str(slurm_cluster.cpus), "cpu"]  # timeout_min, cpus_per_task, partition
    # the jobs ran this environment's interpreter (the one with qboost-exp installed)
    script = (submitit / job_ids[0].split("_")[0] / f"{job_ids[0].split('_')[0]}_submission.sh").read_text()
    assert sys.executable in script



def test_a_job_past_its_slurm_time_limit_is_killed_with_the_reason_timeout_in_sacct_and_the_sweep_ends_with_its_summary(tmp_path, slurm_cluster):
    """Job 1 sleeps far past timeout_min=3 (tests/support/slow_model.py): submitit's warning signal, then SLURM's kill at the limit."""
    env = {**slurm_cluster.env, "PYTHONPATH": str(SUPPORT)}  # SLURM's jobs inherit it: tests/support/slow_model.py
    command = (
        "-m", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=cpu", "hydra.launcher.timeout_min=3",
        # The warning 30 s before the limit (submitit's 120 s would be most of it). SLURM may send it up to 60 s
        # early (sbatch --signal), so not before 90 s into a job: job 1's run is open by then, even when a
        # loaded machine (two pytest-xdist workers) takes tens of seconds to start a job's Python. With a
        # 2-minute limit that margin was 30 s; with 1 minute the warning reached job 1 before its run opened, in CI.
        "hydra.launcher.signal_delay_s=30", f"hydra.launcher.cpus_per_task={slurm_cluster.cpus}", "hydra.sweep.dir=multirun/s",
        "model=sklearn", "model._target_=slow_model.SlowClassifier", "+model.seconds=0,600",
    )
    result = run_module("qboost_exp", *command, cwd=tmp_path, env=env, timeout=600)
    out = result.stdout
    assert result.returncode == 1, out[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in out
    assert "[sweep] 2 jobs: 1 finished, 0 failed, 1 killed" in out, out[-3000:]
    job_ids = sorted(p.name for p in (tmp_path / "multirun" / "s" / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name))
    assert len(job_ids) == 2
    assert (
        f"[sweep] KILLED job 1 (model=sklearn model._target_=slow_model.SlowClassifier +model.seconds=600): SLURM stopped it at its "
        f"time limit (hydra.launcher.timeout_min) (sacct: TIMEOUT, job {job_ids[1]})" in out
    ), out[-3000:]
    assert "to run only the jobs that did not finish: the same command with hydra.sweeper.resume=true" in out
    # SLURM's accounting: the limit, not a crash
    rows = dict(line.split("|") for line in slurm_cluster.sacct("-X", "-j", ",".join(job_ids), "-o", "JobID,State").splitlines())
    assert (rows[job_ids[0]], rows[job_ids[1]]) == ("COMPLETED", "TIMEOUT")
    # MLflow: the job's run KILLED with the reason, nothing RUNNING, the sweep closed on its finished job
    runs = _runs(tmp_path)
    (parent,) = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    children = {int(r.data.tags["qboost.job_num"]): r for r in runs if r.data.tags.get("qboost.role") == "child"}
    assert (children[0].info.status, children[1].info.status, parent.info.status) == ("FINISHED", "KILLED", "FINISHED")
    assert "time limit" in children[1].data.tags["error"], children[1].data.tags
    assert parent.data.tags["best_run_id"] == children[0].info.run_id
    db = tmp_path / "mlflow.db"
    report("SLURM: a job past its time limit", unaccounted=jobs_unaccounted(out, 2), running=len(running_runs(db)), lost=len(finished_runs_without_a_model(db)))

    # A longer limit (the README's advice; hydra.* overrides are not part of the sweep's definition) and no sleep:
    # the resume runs job 1 alone through SLURM, under the same parent.
    longer = [("hydra.launcher.timeout_min=5" if arg == "hydra.launcher.timeout_min=3" else arg) for arg in command]
    resumed = run_module("qboost_exp", *longer, "hydra.sweeper.resume=true", cwd=tmp_path, env={**env, "SLOW_MODEL_NO_SLEEP": "1"}, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[sweep] resuming multirun/s: 1 of 2 jobs finished earlier, running 1" in resumed.stdout, resumed.stdout[-3000:]
    assert "[sweep] 2 jobs: 2 finished (1 in an earlier launch), 0 failed" in resumed.stdout
    runs = _runs(tmp_path)
    (again,) = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert sorted((r.data.tags["qboost.job_num"], r.info.status) for r in runs if r.data.tags.get("qboost.role") == "child") == [
        ("0", "FINISHED"), ("1", "FINISHED"), ("1", "KILLED")]
    report("SLURM: a job past its time limit, then hydra.sweeper.resume=true", unaccounted=jobs_unaccounted(resumed.stdout, 2),
           running=len(running_runs(db)), lost=len(finished_runs_without_a_model(db)))


def test_sigterm_of_a_slurm_sweep_cancels_its_jobs_and_a_resume_runs_them(tmp_path, slurm_cluster):
    """The jobs run on the cluster, not in the driver: stopping the driver must stop them, or a resume would run them twice."""
    import json
    import os
    import signal
    import subprocess

    from slow_model import wait_until_sleeping

    marks = tmp_path / "marks"  # SlowClassifier marks the start of its sleep there (SLURM's jobs inherit the variable)
    env = {**os.environ, **slurm_cluster.env, "PYTHONPATH": str(SUPPORT), "HYDRA_FULL_ERROR": "0",
           "SLOW_MODEL_MARKS": str(marks)}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = (
        "-m", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=cpu", "hydra.launcher.timeout_min=5",
        # one job at a time on the node: job 0 runs, job 1 waits in the queue
        f"hydra.launcher.cpus_per_task={slurm_cluster.cpus}", "hydra.sweep.dir=multirun/s",
        "model=sklearn", "model._target_=slow_model.SlowClassifier", "+model.seconds=300,301",
    )
    process = subprocess.Popen([sys.executable, "-m", "qboost_exp", *command], cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    record = tmp_path / "multirun" / "s" / ".qboost-jobs" / "0.json"
    # Job 0 mid-training (its fit sleeping: its run is open), not a guessed 2 s after its record said running.
    wait_until_sleeping(marks, 300, process, timeout=300)
    assert json.loads(record.read_text())["state"] == "running"
    os.killpg(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=300)

    assert process.returncode == 143, out[-3000:] + err[-3000:]
    assert "[sweep] cancelled the sweep's SLURM jobs still queued or running (scancel " in out, out[-3000:]
    assert "[sweep] 2 jobs: 0 finished, 0 failed, 1 killed, 1 not started" in out, out[-3000:]
    job_ids = sorted(p.name for p in (tmp_path / "multirun" / "s" / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name))
    array = json.loads(record.read_text())["slurm_job"].split("_")[0]
    rows = dict(line.split("|") for line in slurm_cluster.sacct("-X", "-j", array, "-o", "JobID,State").splitlines())
    assert rows[f"{array}_0"].startswith("CANCELLED"), rows  # the running job: stopped by the driver's scancel
    assert all(state.startswith("CANCELLED") for state in rows.values()), rows  # and the queued one never runs
    db = tmp_path / "mlflow.db"
    assert running_runs(db) == []
    report("SLURM: SIGTERM of the driver", unaccounted=jobs_unaccounted(out, 2), running=len(running_runs(db)))

    resumed = run_module("qboost_exp", *command, "hydra.sweeper.resume=true", cwd=tmp_path,
                         env={**slurm_cluster.env, "PYTHONPATH": env["PYTHONPATH"], "SLOW_MODEL_NO_SLEEP": "1"}, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[sweep] resuming multirun/s: 0 of 2 jobs finished earlier, running 2" in resumed.stdout, resumed.stdout[-3000:]
    assert "[sweep] 2 jobs: 2 finished, 0 failed" in resumed.stdout
    report("SLURM: SIGTERM of the driver, then hydra.sweeper.resume=true", unaccounted=jobs_unaccounted(resumed.stdout, 2),
           running=len(running_runs(db)), lost=len(finished_runs_without_a_model(db)))
