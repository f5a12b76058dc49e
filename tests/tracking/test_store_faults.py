"""A result that outlives its store: the tracking server failing during and after a run.

Real components throughout: ``mlflow server`` processes on loopback killed
with SIGKILL (and restarted), the CLI stopped and interrupted at known points
of its work, and the record uploaded with ``python -m qboost_exp.tracking sync``.
Local stores, the launch directory and sync's errors: test_store_faults_local.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from cli_process import StderrLines, assert_one_error_line, cli_env, error_lines, frozen, start_cli, wait_for_training
from clirun import QUICK, report_values, run_module
from faultcheck import report as fault_report
from local_store import create_store, immutable, mutable  # noqa: F401
from store_server import servers  # noqa: F401  (the fixture)

# Training slow enough (about 6 s of annealing here) to kill the server while it runs.
SLOW = ("sampler.params.num_reads=5000",)


# --------------------------------------------------------------------------- the retry budget


def test_the_retry_plan_fits_its_budget():
    from qboost_exp.tracking import retry_plan

    for budget in (1, 5, 10, 20, 60, 300, 3600):
        plan = retry_plan(budget)
        # the first request that fails for good, then the cleanup's one short attempt
        assert plan.worst_case() + plan.quick_timeout <= budget + 1, plan
        assert 0 <= plan.max_retries <= 10 and 0 <= plan.backoff_factor <= 120 and plan.timeout >= 1
    default = retry_plan(60)
    assert (default.max_retries, default.backoff_factor, default.timeout) == (3, 4, 5)
    # the backoff alone (a server refusing connections while it restarts) spans 24 s of the 60
    assert default.worst_case() - (default.max_retries + 1) * default.timeout == pytest.approx(25.0)


def test_bounded_retries_keep_a_users_own_settings(monkeypatch):
    from qboost_exp.tracking import bounded_retries

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "9")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    with bounded_retries("http://127.0.0.1:1", 60):
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "9"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "9"
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ
    with bounded_retries("sqlite:///x.db", 60):  # no server: nothing to set
        assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


# --------------------------------------------------------------------------- the server dies


@pytest.mark.long
def test_server_killed_during_training_keeps_the_record_and_sync_uploads_it(tmp_path, servers):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import Model

    server = servers(tmp_path / "store1")
    cli = start_cli(tmp_path, *SLOW, f"mlflow.tracking_uri={server.url}", "hydra.run.dir=run")  # the default budget: 60 s
    run_id = wait_for_training(server, cli)
    with frozen(cli):  # stopped in training: the server surely dies before training ends
        killed = server.kill()  # never restarted
    stdout, stderr = cli.communicate(timeout=180)
    exited = time.time()

    assert cli.returncode == 3, stderr
    error = assert_one_error_line(stderr)
    record_dir = (tmp_path / "run" / "mlflow-record").resolve()
    assert error.startswith(f"error: the tracking store {server.url} failed at the end of the run (the server does not answer")
    assert f"the run's full record is in {record_dir}; upload it later with: python -m qboost_exp.tracking sync {record_dir}" in error
    assert f"run {run_id} stays RUNNING" in error
    report = report_values(stdout)
    assert report["dataset"].startswith("wisc") and "validation" in report["accuracy"]

    record = json.loads((record_dir / "record.json").read_text())
    trained = record["trained_time"] / 1000
    assert trained > killed  # the server died during training
    seconds = exited - trained
    print(f"\n[store faults] server gone: {seconds:.1f} s from the end of training to exit (budget 60 s)")
    assert seconds <= 70
    assert record["run_id"] == run_id and record["tracking_uri"] == server.url and record["experiment"] == "qboost"
    assert record["store"]["status"] == "RUNNING" and record["store"]["left_running"] is True
    assert record["params"]["sampler.params.num_reads"] == "5000" and record["params"]["mlflow.tracking_uri"] == server.url
    assert record["tags"]["qboost.role"] == "single" and record["tags"]["mlflow.runName"] == record["run_name"]
    assert re.fullmatch(r"[0-9a-f]{16}", record["tags"]["qboost.config_digest"])
    assert f"{record['metrics']['validation_accuracy']:.4f}" in report["accuracy"]
    for name in ("model/MLmodel", "model/model.pkl", "model/input_example.json", "artifacts/.hydra/config.yaml",
                 "artifacts/plots/weights.png", "artifacts/plots/confusion_matrix.png", "artifacts/selected_learners.json"):
        assert name in record["files"] and (record_dir / name).is_file(), name
    assert not list(record_dir.parent.glob(".mlflow-record.partial-*"))
    # The run stays RUNNING in the dead store (nothing can reach it); the record says so, and the model is in it.
    fault_report("tracking server: gone for good during a run (default budget)", lost=0 if (record_dir / "model" / "model.pkl").is_file() else 1,
                 seconds=seconds)

    # A new server on a new store: the record becomes a run there, model and all.
    target = servers(tmp_path / "store2")
    synced = run_module("qboost_exp.tracking", "sync", str(record_dir), "--tracking-uri", target.url, cwd=tmp_path, timeout=180)
    assert synced.returncode == 0, synced.stderr
    assert "Traceback" not in synced.stderr
    new_id = re.search(r"as run ([0-9a-f]{32}) ", synced.stdout).group(1)
    client = MlflowClient(tracking_uri=target.url)
    run = client.get_run(new_id)
    assert run.info.status == "FINISHED" and run.info.run_name == record["run_name"]
    assert run.data.params == record["params"]
    assert run.data.metrics == pytest.approx(record["metrics"])
    assert {k: run.data.tags.get(k) for k in record["tags"]} == record["tags"]
    assert run.data.tags["qboost.original_run_id"] == run_id
    assert {a.path for a in client.list_artifacts(new_id)} >= {".hydra", "plots", "selected_learners.json"}
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == [f"{record['tags']['dataset']}-{s}" for s in ("train", "val", "test")]
    models = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert [(m.source_run_id, str(m.status)) for m in models] == [(new_id, "READY")]

    example = Model.load(str(record_dir / "model")).load_input_example(str(record_dir / "model"))
    expected = mlflow.sklearn.load_model(str(record_dir / "model")).predict(example)
    mlflow.set_tracking_uri(target.url)  # reset after the test (no_tracking_uri_leak)
    loaded = mlflow.pyfunc.load_model(f"runs:/{new_id}/model")
    assert list(loaded.predict(example)) == list(expected)
    assert json.loads((record_dir / "uploaded.json").read_text())["run_id"] == new_id

    again = run_module("qboost_exp.tracking", "sync", str(record_dir), "--tracking-uri", target.url, cwd=tmp_path)
    assert again.returncode == 2
    assert assert_one_error_line(again.stderr) == (
        f"error: {record_dir} was already uploaded as run {new_id} to {target.url} on "
        f"{json.loads((record_dir / 'uploaded.json').read_text())['time']}; add --force to upload it again as another run"
    )


def test_server_restarted_within_the_budget_finishes_the_run(tmp_path, servers):
    from mlflow import MlflowClient

    server = servers(tmp_path / "store")
    cli = start_cli(tmp_path, *SLOW, f"mlflow.tracking_uri={server.url}", "hydra.run.dir=run")
    errors = StderrLines(cli)
    run_id = wait_for_training(server, cli)
    server.kill()
    # Training ends, the first request fails and is retried: only then does the server come back.
    errors.wait_for("does not answer; retrying")
    # "Within the budget" by construction: the CLI stays stopped, its retries unspent, however long
    # the server takes to start here (~11 s idle, far more on a loaded machine; the default budget's
    # retries span 24 s).
    with frozen(cli):
        restarted = servers(tmp_path / "store", port=server.port)  # the same store, artifacts and address
    stdout = cli.stdout.read()
    cli.wait(timeout=120)
    stderr = errors.all()

    assert cli.returncode == 0, stderr
    assert error_lines(stderr) == [] and "Traceback" not in stderr
    assert f"MLflow run {run_id} " in stdout
    assert not (tmp_path / "run" / "mlflow-record").exists()
    client = MlflowClient(tracking_uri=restarted.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert "validation_accuracy" in run.data.metrics
    assert [str(m.status) for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])] == ["READY"]


# --------------------------------------------------------------------------- Ctrl-C during the retries


def test_ctrl_c_while_the_store_is_retried_after_training_keeps_the_record(tmp_path, servers):
    """A user tired of the retries presses Ctrl-C: the trained model is kept locally all the same."""
    server = servers(tmp_path / "store")
    cli = subprocess.Popen(
        [sys.executable, "-m", "qboost_exp", *QUICK, *SLOW, f"mlflow.tracking_uri={server.url}", "hydra.run.dir=run"], cwd=tmp_path,
        env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    errors = StderrLines(cli)
    wait_for_training(server, cli)
    server.kill()
    errors.wait_for("does not answer; retrying")
    os.killpg(cli.pid, signal.SIGINT)
    cli.stdout.read()
    cli.wait(timeout=120)
    stderr = errors.all()

    record_dir = (tmp_path / "run" / "mlflow-record").resolve()
    assert cli.returncode == 130, stderr
    error = assert_one_error_line(stderr)
    assert error.startswith("error: interrupted; the tracking store ") and "(interrupted (Ctrl-C) while the run was being logged)" in error, error
    assert f"the run's full record is in {record_dir}; upload it later with" in error
    assert (record_dir / "model" / "model.pkl").is_file() and json.loads((record_dir / "record.json").read_text())["metrics"]
    fault_report("Ctrl-C during the store's retries after training", lost=0 if (record_dir / "model" / "model.pkl").is_file() else 1)
