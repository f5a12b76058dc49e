"""A result that outlives its store: local stores, the launch directory, and sync's errors.

Real components throughout: SQLite stores made read-only with ``chattr +i``
(root ignores permission bits), a full tmpfs, a read-only launch directory, a
tracking server that is not there, and ``python -m qboost_exp.tracking sync``.
The tracking server failing during a run: test_store_faults.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time

import pytest

from cli_process import assert_one_error_line
from clirun import QUICK, closed_port, report_values, run_module
from faultcheck import report as fault_report
from faultcheck import running_runs
from local_store import create_store, immutable, mutable
from loopback import LOOPBACK


# --------------------------------------------------------------------------- local stores


@pytest.mark.parametrize("what", ["file", "directory"])
def test_read_only_store_at_start_is_one_line_and_trains_nothing(tmp_path, what):
    store = tmp_path / "store"
    store.mkdir()
    db = store / "mlflow.db"
    create_store(db)
    locked = db if what == "file" else store
    immutable(locked)
    try:
        result = run_module("qboost_exp", *QUICK, f"mlflow.tracking_uri=sqlite:///{db}", "hydra.run.dir=run", cwd=tmp_path)
    finally:
        mutable(locked)
    assert result.returncode == 2, result.stderr
    error = assert_one_error_line(result.stderr)
    named = db if what == "file" else store
    assert error.startswith(f"error: the MLflow store {db} is read-only: ") and f" {named} is not writable" in error
    assert "nothing was trained" in error and "mlflow.tracking_uri=URI" in error
    assert "accuracy" not in result.stdout  # nothing trained, nothing reported
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_unreachable_server_at_start_is_one_line_and_trains_nothing(tmp_path):
    with closed_port() as port:  # nothing listens there, and nothing can start to meanwhile
        url = f"http://{LOOPBACK}:{port}"
        started = time.time()
        # The largest budget: a CLI that retried would sleep 240 s and 480 s between its attempts
        # (run_module's 300 s timeout fails it); one that does not exits in its start-up time.
        result = run_module("qboost_exp", *QUICK, f"mlflow.tracking_uri={url}", "mlflow.retry_seconds=3600", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert assert_one_error_line(result.stderr) == (
        f"error: cannot reach the MLflow tracking server at {url}: Connection refused; start it (mlflow server ...) or fix "
        "mlflow.tracking_uri / MLFLOW_TRACKING_URI"
    )
    assert "accuracy" not in result.stdout and not (tmp_path / "run" / "mlflow-record").exists()
    assert time.time() - started < 60  # no retries spent on a server that was never there


def test_full_disk_keeps_the_record_and_leaves_no_half_written_model(tmp_path):
    from mlflow import MlflowClient

    full = tmp_path / "full"
    full.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(full)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({mounted.stderr.strip() or 'mount failed'}): needs root and CAP_SYS_ADMIN")
    try:
        db = full / "mlflow.db"
        create_store(db)  # its artifact root is full/mlruns: on the small disk too
        stat = os.statvfs(full)
        free = stat.f_bavail * stat.f_frsize
        # Room for the run, its params and .hydra, not for the model (about 800 kB with its code).
        with open(full / "filler", "wb") as filler:
            filler.write(b"\0" * (free - 300 * 1024))
        result = run_module("qboost_exp", *QUICK, "hydra.run.dir=" + str(tmp_path / "run"), cwd=full)

        assert result.returncode == 3, result.stderr
        error = assert_one_error_line(result.stderr)
        record_dir = tmp_path / "run" / "mlflow-record"
        assert error.startswith(f"error: the tracking store sqlite:///{db} failed at the end of the run (")
        assert "full" in error.split("(", 1)[1].split(")")[0]  # the reason: a full disk
        assert f"the run's full record is in {record_dir}; upload it later with" in error
        assert "accuracy" in report_values(result.stdout)
        record = json.loads((record_dir / "record.json").read_text())
        assert all((record_dir / name).is_file() for name in record["files"]) and "model/model.pkl" in record["files"]

        client = MlflowClient(tracking_uri=f"sqlite:///{db}")
        run = client.get_run(record["run_id"])
        if record["store"]["left_running"]:
            assert run.info.status == "RUNNING"
        else:
            assert run.info.status == "FAILED"
            assert run.data.tags["qboost.local_record"] == str(record_dir)
            assert run.data.tags["error"].startswith("the tracking store failed at the end of the run (")
        # The model is complete in the store or absent: no PENDING logged model, no partial files.
        assert [str(m.status) for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])] in ([], ["READY"])
        assert record["store"]["models_removed"] and not record["store"]["models_left"]
        assert [p for p in (full / "mlruns").rglob("*") if p.is_file() and "/models/" in str(p)] == []
        fault_report("full disk (a 4 MB tmpfs) at the end of a run", running=len(running_runs(db)),
                     lost=0 if (record_dir / "model" / "model.pkl").is_file() else 1)
    finally:
        subprocess.run(["umount", "-l", str(full)], capture_output=True)


def test_read_only_launch_directory_is_one_line(tmp_path):
    launch = tmp_path / "launch"
    launch.mkdir()
    immutable(launch)
    try:
        result = run_module("qboost_exp", "mlflow.enabled=false", cwd=launch)
    finally:
        mutable(launch)
    assert result.returncode == 2, result.stderr
    error = assert_one_error_line(result.stderr)
    assert error.startswith(f"error: cannot create the output directory {launch}/outputs (")
    assert "run from a writable directory" in error and "hydra.run.dir=" in error
    assert result.stdout == ""


# --------------------------------------------------------------------------- sync's errors


def test_sync_errors_are_one_line(tmp_path):
    missing = run_module("qboost_exp.tracking", "sync", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2
    assert assert_one_error_line(missing.stderr).startswith(f"error: no run record at {tmp_path / 'nowhere'}")

    empty = tmp_path / "empty"
    empty.mkdir()
    not_a_record = run_module("qboost_exp.tracking", "sync", str(empty), cwd=tmp_path)
    assert not_a_record.returncode == 2
    assert "is not a run record (it has no record.json)" in assert_one_error_line(not_a_record.stderr)

    record = tmp_path / "mlflow-record"
    (record / "model").mkdir(parents=True)
    (record / "model" / "MLmodel").write_text("flavors: {}\n")
    fields = {"format": 1, "tracking_uri": "sqlite:///x.db", "experiment": "qboost", "run_id": "r", "run_name": "n", "start_time": 0}
    (record / "record.json").write_text(json.dumps(fields))
    lacking = run_module("qboost_exp.tracking", "sync", str(record), cwd=tmp_path)
    assert lacking.returncode == 2
    assert assert_one_error_line(lacking.stderr) == f"error: {record} is an incomplete run record: record.json lacks params, metrics, tags, files"
    fields.update(params={}, metrics={}, tags={}, files=["model/MLmodel", "model/model.pkl"])
    (record / "record.json").write_text(json.dumps(fields))
    incomplete = run_module("qboost_exp.tracking", "sync", str(record), cwd=tmp_path)
    assert incomplete.returncode == 2
    assert assert_one_error_line(incomplete.stderr) == (
        f"error: {record} is an incomplete run record: 1 of its files are missing (model/model.pkl)"
    )

    (record / "model" / "model.pkl").write_bytes(b"")
    (record / "uploaded.json").write_text(json.dumps({"run_id": "abc", "tracking_uri": "http://x", "time": "then"}))
    uploaded = run_module("qboost_exp.tracking", "sync", str(record), cwd=tmp_path)
    assert uploaded.returncode == 2
    assert assert_one_error_line(uploaded.stderr) == (
        f"error: {record} was already uploaded as run abc to http://x on then; add --force to upload it again as another run"
    )

    with closed_port() as port:
        unreachable = run_module("qboost_exp.tracking", "sync", str(record), "--force", "--tracking-uri", f"http://{LOOPBACK}:{port}",
                                 cwd=tmp_path)
    assert unreachable.returncode == 2
    assert "cannot reach the MLflow tracking server" in assert_one_error_line(unreachable.stderr)

    helped = run_module("qboost_exp.tracking", "sync", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--tracking-uri URI" in helped.stdout and "--force" in helped.stdout
