"""Every run in MLflow: a real SQLite store, the real CLI in fresh processes."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from qboost_exp.tracking import tracking_uri

from clirun import QUICK, accuracy, interrupt_when_marked, report_values, run_module, start_marked_cli

FAST = ("sampler.params.num_reads=20", "sampler.params.num_sweeps=200", *QUICK)


def store(path):
    uri = f"sqlite:///{path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)  # undone after the test by no_tracking_uri_leak
    return MlflowClient(uri)


def runs_of(client, experiment="qboost", **filters):
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000, order_by=["attributes.start_time ASC"])


def test_tracking_uri_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri({}, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking_uri({"tracking_uri": "sqlite:///rel.db"}, tmp_path) == f"sqlite:///{tmp_path.resolve()}/rel.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri({}, tmp_path) == "http://127.0.0.1:5999"
    assert tracking_uri({"tracking_uri": "http://10.0.0.1:5000"}, tmp_path) == "http://10.0.0.1:5000"


def test_one_run_logs_params_metrics_artifacts_and_a_loadable_model(tmp_path):
    made = run_module("qboost_exp.data", "wisc", "--out", "data", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    result = run_module("qboost_exp", "dataset=csv", "dataset.path=data/train.csv", "dataset.test_path=data/test.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    client = store(tmp_path)
    (run,) = runs_of(client)
    assert run.info.status == "FINISHED"
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["lambda"] == "auto" and params["sampler.name"] == "neal" and params["qubo.weight_bits"] == "1"
    assert params["dataset.path"] == "data/train.csv" and params["sampler.params.num_reads"] == "100"
    assert tags["sampler"] == "neal" and tags["weak_learners"] == "adaboost" and tags["dataset"] == "csv"
    assert tags["qboost.role"] == "single"
    assert tags["hydra.overrides"] == "dataset=csv dataset.path=data/train.csv dataset.test_path=data/test.csv"
    assert metrics["test_accuracy"] == pytest.approx(accuracy(result.stdout, "test"), abs=5e-5)
    assert metrics["candidates"] == 60 and 0 < metrics["selected"] < 60 and metrics["lambda_value"] in (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
    assert metrics["duplicate_candidates"] == 0  # qubo.drop_duplicates is off by default
    assert metrics["max_weight_value"] in (0.0625, 0.125, 0.25)
    assert metrics["penalty"] == pytest.approx(metrics["lambda_value"] * metrics["max_weight_value"])
    for name in ("test_balanced_accuracy", "test_f1", "test_roc_auc", "best_energy", "time_sampling", "time_qubo_build", "time_total"):
        assert name in metrics
    assert 0.9 < metrics["test_roc_auc"] <= 1.0
    contexts = {d.tags[0].value for d in run.inputs.dataset_inputs}
    assert contexts == {"training", "validation", "test"}
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {".hydra", "plots", "selected_learners.json"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {f"plots/{n}.png" for n in ("weights", "confusion_matrix", "roc_curve", "energy_histogram")}
    hydra_files = {a.path for a in client.list_artifacts(run.info.run_id, ".hydra")}
    assert ".hydra/config.yaml" in hydra_files and ".hydra/overrides.yaml" in hydra_files
    table = client.load_table(run.info.experiment_id, "selected_learners.json", run_ids=[run.info.run_id])
    assert len(table) == metrics["selected"]

    # the logged model: pyfunc predictions equal the estimator's own
    test = pd.read_csv(tmp_path / "data" / "test.csv", header=None)
    X_test = test.iloc[:, 1:].to_numpy(dtype=float)
    uri = f"runs:/{run.info.run_id}/model"
    estimator = mlflow.sklearn.load_model(uri)
    frame = pd.DataFrame(X_test, columns=list(estimator.feature_names_in_))
    pyfunc = mlflow.pyfunc.load_model(uri)
    np.testing.assert_array_equal(pyfunc.predict(frame), estimator.predict(frame))
    assert estimator.score(frame, test.iloc[:, 0].to_numpy()) == pytest.approx(metrics["test_accuracy"])
    assert pyfunc.metadata.get_input_schema().input_names()[:2] == ["f0", "f1"]


def test_register_and_promote_only_when_better(tmp_path):
    first = run_module("qboost_exp", "promote=true", *FAST, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "qboost v1 is now @champion (validation_accuracy" in first.stdout
    worse = run_module("qboost_exp", "promote=true", "lambda=10", *FAST, cwd=tmp_path)
    assert worse.returncode == 0, worse.stderr
    assert "qboost v2 not promoted: validation_accuracy" in worse.stdout
    client = store(tmp_path)
    assert int(client.get_model_version_by_alias("qboost", "champion").version) == 1
    registered = run_module("qboost_exp", "register=true", "mlflow.model_name=other", *FAST, cwd=tmp_path)
    assert "registered other v1" in registered.stdout
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias("other", "champion")


@pytest.mark.parametrize(
    "args,message",
    [
        (("dataset=csv", "dataset.path=missing.csv"), "missing.csv"),
        (("sampler=qpu",), "needs a D-Wave Leap API token"),
    ],
)
def test_a_usage_error_found_before_training_opens_no_run(no_dwave_credentials, tmp_path, args, message):
    # A missing file or missing credentials are found before any work: the store is left as it was.
    env = {"HOME": str(no_dwave_credentials)}
    result = run_module("qboost_exp", *args, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_a_run_that_fails_while_training_ends_failed_with_its_error(tmp_path):
    # exact refuses QUBOs over 24 variables; 50 trees need 50: found once the candidates are fitted.
    result = run_module("qboost_exp", "sampler=exact", "weak_learners=trees", "lambda=0.1", "qubo.max_weight=0.125", cwd=tmp_path)
    assert result.returncode == 2
    message = "takes QUBOs of at most 24 variables"
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    (run,) = runs_of(store(tmp_path))
    assert run.info.status == "FAILED"
    assert message in run.data.tags["error"]
    assert run.data.params["lambda"] == "0.1"  # what was logged stays
    assert "error.txt" in {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}


def test_ctrl_c_ends_the_run_killed(tmp_path):
    # A long anneal in compiled code: Ctrl-C must still stop it promptly. Sent once the final fit's
    # anneal is under way (its interrupt_function has run: clirun.start_marked_cli, mode "anneal"),
    # not after a guessed delay that may fall before it (weak learners, the search) or after it.
    marker = tmp_path / "annealing.txt"
    proc = start_marked_cli(
        "weak_learners=trees", "weak_learners.params.n_estimators=200", "sampler.params.num_sweeps=20000", "sampler.params.num_reads=100000",
        cwd=tmp_path, marker=marker, mode="anneal",
    )
    out, err = interrupt_when_marked(proc, marker)
    assert proc.returncode == 130, err
    assert "error: interrupted" in err
    (run,) = runs_of(store(tmp_path))
    assert run.info.status == "KILLED"


@pytest.mark.long
def test_sweep_is_one_parent_with_nested_children(tmp_path):
    result = run_module("qboost_exp", "-m", "lambda=0.001,0.01,0.1", "sampler=neal,tabu", "sampler.params.num_reads=10", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    client = store(tmp_path)
    runs = runs_of(client)
    parents = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("qboost.role") == "child"]
    assert len(parents) == 1 and len(children) == 6
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(int(c.data.tags["qboost.job_num"]) for c in children) == list(range(6))
    assert {(c.data.params["lambda"], c.data.tags["sampler"]) for c in children} == {
        (lam, s) for lam in ("0.001", "0.01", "0.1") for s in ("neal", "tabu")
    }
    best = max(sorted(children, key=lambda c: int(c.data.tags["qboost.job_num"])), key=lambda c: c.data.metrics["validation_accuracy"])
    assert parent.data.tags["best_run_id"] == best.info.run_id
    assert parent.data.metrics["validation_accuracy"] == best.data.metrics["validation_accuracy"]
    assert parent.data.metrics["test_accuracy"] == best.data.metrics["test_accuracy"]
    assert "plots/validation_accuracy_vs_lambda.png" in {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "[sweep] 6 jobs: 6 finished, 0 failed" in result.stdout
    assert "6/6 done" in result.stdout and "ETA" in result.stdout


def test_a_failing_job_does_not_stop_the_sweep(tmp_path):
    # A sampler option is checked as its job starts (a bad λ stops the sweep before any job: test_cli_usage.py).
    result = run_module("qboost_exp", "-m", "sampler.params.num_reads=10,-1,20", "lambda=0.01", cwd=tmp_path)
    assert result.returncode == 1
    assert "[sweep] 3 jobs: 2 finished, 1 failed" in result.stdout
    assert ("[sweep] FAILED job 1 (sampler.params.num_reads=-1 lambda=0.01): sampler=neal: sampler.params.num_reads must be "
            "an integer >= 1, got -1") in result.stdout
    assert "[sweep] job 1 failed (sampler.params.num_reads=-1" in result.stdout
    assert "error: job 1: sampler=neal: sampler.params.num_reads must be an integer >= 1, got -1" in result.stderr
    children = [r for r in runs_of(store(tmp_path)) if r.data.tags.get("qboost.role") == "child"]
    assert sorted(r.info.status for r in children) == ["FAILED", "FINISHED", "FINISHED"]


def test_parallel_joblib_sweep_loses_no_run(tmp_path):
    result = run_module(
        "qboost_exp", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "lambda=0.0001,0.001,0.01,0.1",
        "sampler.params.num_reads=10", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    runs = runs_of(store(tmp_path))
    children = [r for r in runs if r.data.tags.get("qboost.role") == "child"]
    assert len(runs) == 5 and len(children) == 4
    assert all(c.info.status == "FINISHED" for c in children)
    assert {c.data.params["lambda"] for c in children} == {"0.0001", "0.001", "0.01", "0.1"}


def test_slurm_launcher_config_composes():

    from qboost_exp.config import compose

    cfg = compose(["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.partition == "gpu" and launcher.timeout_min > 0
    assert launcher.submitit_folder.endswith(".submitit/%j")


def test_ray_launcher_runs_a_sweep_on_a_local_ray_head(tmp_path, ray_head):
    result = run_module(
        "qboost_exp", "-m", "hydra/launcher=ray", f"hydra.launcher.ray.init.address={ray_head.address}",
        "lambda=0.001,0.1", "sampler.params.num_reads=10", cwd=tmp_path, env=ray_head.env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = runs_of(store(tmp_path))
    children = [r for r in runs if r.data.tags.get("qboost.role") == "child"]
    roles = [(r.data.tags.get("qboost.role"), r.info.status) for r in runs]
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children), f"{roles}\n{result.stdout[-3000:]}"
    assert {c.data.params["lambda"] for c in children} == {"0.001", "0.1"}
    parent = next(r for r in runs if r.data.tags.get("qboost.role") == "parent")
    assert "RayLauncher" in parent.data.tags["hydra.launcher"]


def test_parallel_sweep_against_a_postgres_backed_tracking_server(tmp_path, mlflow_server):
    result = run_module(
        "qboost_exp", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"mlflow.tracking_uri={mlflow_server.url}",
        "mlflow.experiment=team", "lambda=0.0001,0.001,0.01,0.1", "sampler.params.num_reads=10", cwd=tmp_path, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "mlflow.db").exists()
    client = MlflowClient(mlflow_server.url)
    runs = runs_of(client, "team")
    children = [r for r in runs if r.data.tags.get("qboost.role") == "child"]
    assert len(children) == 4 and all(c.info.status == "FINISHED" for c in children)
    assert {c.data.params["lambda"] for c in children} == {"0.0001", "0.001", "0.01", "0.1"}
    # artifacts went through the server, and the model loads from it
    some = children[0]
    assert some.info.artifact_uri.startswith("mlflow-artifacts:")
    mlflow.set_tracking_uri(mlflow_server.url)
    model = mlflow.pyfunc.load_model(f"runs:/{some.info.run_id}/model")
    assert model.metadata.get_input_schema().input_names()[0] == "mean radius"


def test_dataset_logging_survives_a_parallel_job_registering_it_first(monkeypatch):
    from mlflow.exceptions import MlflowException

    from qboost_exp.tracking import _log

    calls = []

    def racing_log_input(dataset, context=None):
        calls.append(context)
        if len(calls) == 1:
            raise MlflowException("duplicate key value violates unique constraint \"dataset_pk\"")

    monkeypatch.setattr(mlflow, "log_input", racing_log_input)
    _log._log_input_once_registered(object(), "training")
    assert calls == ["training", "training"]
    monkeypatch.setattr(mlflow, "log_input", lambda dataset, context=None: (_ for _ in ()).throw(MlflowException("store down")))
    with pytest.raises(MlflowException, match="store down"):
        _log._log_input_once_registered(object(), "training")


def test_experiments_open_on_training_runs_in_the_mlflow_ui(tmp_path):
    from qboost_exp.tracking import prepare_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = store(tmp_path)
    # an experiment made elsewhere, without a kind, gets one; a kind already set is left alone
    old = client.create_experiment("old")
    chosen = client.create_experiment("chosen", tags={"mlflow.experimentKind": "genai_development"})
    for name in ("qboost", "old", "chosen"):
        prepare_store(uri, name)
    kinds = {name: client.get_experiment_by_name(name).tags.get("mlflow.experimentKind") for name in ("qboost", "old", "chosen")}
    assert kinds == {"qboost": "custom_model_development", "old": "custom_model_development", "chosen": "genai_development"}
    assert {old, chosen} <= {e.experiment_id for e in client.search_experiments()}


def test_an_unreachable_tracking_server_fails_fast_in_one_line(tmp_path):
    # "Fast": no retries spent on a server that was never there. With the largest budget (an hour)
    # a CLI that retried would sleep 240 s, then 480 s, before its last attempt (run_module's timeout,
    # 120 s, fails it); one that does not exits in its start-up time. The bound is the safety margin
    # between the two, not a guess at this machine's speed.
    start = time.monotonic()
    result = run_module("qboost_exp", "mlflow.tracking_uri=http://127.0.0.1:1", "mlflow.retry_seconds=3600", *FAST, cwd=tmp_path, timeout=120)
    elapsed = time.monotonic() - start
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the MLflow tracking server at http://127.0.0.1:1"), result.stderr
    assert elapsed < 60, f"took {elapsed:.1f} s"
    # a sweep stops before any job, also in one line
    sweep = run_module("qboost_exp", "-m", "mlflow.tracking_uri=http://127.0.0.1:1", "lambda=0.1,0.2", *FAST, cwd=tmp_path, timeout=120)
    assert sweep.returncode == 2 and "Launching" not in sweep.stdout + sweep.stderr
    assert sweep.stderr.strip().splitlines()[-1].startswith("error: cannot reach the MLflow tracking server")


def test_a_missing_extra_is_named_in_one_line(monkeypatch):
    import importlib.util

    from qboost_exp import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("optuna", "hydra_plugins.hydra_joblib_launcher") else real(name, *a))
    assert cli.missing_extra(["lambda=0.1", "hydra/launcher=joblib"]) == (
        "hydra/launcher=joblib needs the 'joblib' extra, which is not installed: pip install 'qboost-exp[joblib]'"
    )
    assert "pip install 'qboost-exp[optuna]'" in cli.missing_extra(["hparams_search=optuna"])
    assert cli.missing_extra(["hydra/launcher=ray", "sampler=neal"]) is None  # installed here


def test_sweep_run_names_carry_every_swept_override(tmp_path):
    result = run_module(
        "qboost_exp", "-m", "weak_learners=trees", "weak_learners.params.max_depth=1,2", "weak_learners.params.n_estimators=10",
        "lambda=0.01", *FAST, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    children = [r for r in runs_of(store(tmp_path)) if r.data.tags.get("qboost.role") == "child"]
    names = sorted(c.data.tags["mlflow.runName"] for c in children)
    assert names == ["0:neal-trees weak_learners.params.max_depth=1", "1:neal-trees weak_learners.params.max_depth=2"]


def test_one_best_run_rule_ties_go_to_the_earliest_run():
    # (These runs log no 'selected' nor λ: the tie falls through to the start time.)
    from types import SimpleNamespace

    from qboost_exp.tracking import best_run, is_better

    def run(name, start, **metrics):
        return SimpleNamespace(name=name, info=SimpleNamespace(start_time=start), data=SimpleNamespace(metrics=metrics))

    runs = [run("late", 30, validation_accuracy=0.9, time_total=1.0), run("early", 10, validation_accuracy=0.9, time_total=2.0),
            run("nan", 5, validation_accuracy=float("nan"), time_total=0.5), run("none", 1)]
    assert best_run(runs, "validation_accuracy").name == "early"  # a tie: the earlier start wins
    assert best_run(runs, "time_total").name == "nan"  # smaller is better; NaN accuracy does not matter here
    assert best_run(runs, "test_f1") is None
    assert is_better(0.91, 0.9, "validation_accuracy") and not is_better(0.9, 0.9, "validation_accuracy")
    assert is_better(1.0, 2.0, "time_total") and not is_better(2.0, 1.0, "time_total")


def test_one_best_run_rule_level_runs_the_sparser_wins():
    """Level on the objective: fewer selected learners, then the larger λ, then the earlier start; a baseline has no λ."""
    from types import SimpleNamespace

    from qboost_exp.tracking import best_run, rank_key, sparsity

    def run(name, start, params=None, tags=None, **metrics):
        return SimpleNamespace(name=name, info=SimpleNamespace(start_time=start), data=SimpleNamespace(metrics=metrics, params=params or {}, tags=tags or {}))

    first = run("first", 1, validation_accuracy=0.9, selected=12.0, lambda_value=0.2)
    sparse = run("sparse", 50, validation_accuracy=0.9, selected=7.0, lambda_value=0.01)
    stronger = run("stronger", 40, validation_accuracy=0.9, selected=7.0, lambda_value=0.1)
    by_param = run("by-param", 30, {"lambda": "0.05"}, validation_accuracy=0.9, selected=7.0)  # no lambda_value: the param
    worse = run("worse", 0, validation_accuracy=0.89, selected=1.0, lambda_value=1.0)
    assert best_run([first, sparse, worse], "validation_accuracy").name == "sparse"  # fewer learners beats the earlier start
    assert best_run([first, sparse, stronger, by_param, worse], "validation_accuracy").name == "stronger"  # then the larger λ
    twin = run("twin", 45, validation_accuracy=0.9, selected=7.0, lambda_value=0.1)
    assert best_run([twin, stronger], "validation_accuracy").name == "stronger"  # then the earlier start
    assert sparsity(by_param) == (7.0, 0.05)
    # A baseline's lambda param is unused config; a run without 'selected' yields to one with it.
    lasso = run("lasso", 2, {"lambda": "9"}, {"qboost.baseline": "true", "model": "lasso"}, validation_accuracy=0.9, selected=7.0)
    assert sparsity(lasso) == (7.0, None)
    assert best_run([lasso, stronger], "validation_accuracy").name == "stronger"
    assert best_run([run("unsized", 0, validation_accuracy=0.9), first], "validation_accuracy").name == "first"
    # The key itself: smallest first.
    assert rank_key(0.9, 5, "validation_accuracy", selected=3, lam=0.1) < rank_key(0.9, 1, "validation_accuracy", selected=4, lam=1.0)
    assert rank_key(0.9, 5, "validation_accuracy", selected=3, lam=0.2) < rank_key(0.9, 1, "validation_accuracy", selected=3, lam=0.1)
    assert rank_key(0.9, 5, "validation_accuracy", selected=float("nan")) > rank_key(0.9, 9, "validation_accuracy", selected=30)


def test_a_run_is_tagged_with_its_model_when_it_opens():
    # Tagged at the start, so that a baseline run that fails is still told apart from QBoost runs.
    from qboost_exp.tracking._run import run_name, run_tags

    cfg = {"sampler": {"name": "neal"}, "weak_learners": {"name": "trees"}, "dataset": {"name": "wisc"}, "lambda": 0.1}
    qboost = run_tags({**cfg, "model": {"name": "qboost"}}, (), "/nonexistent", "single", None)
    lasso = run_tags({**cfg, "model": {"name": "lasso"}}, (), "/nonexistent", "single", None)
    assert (qboost["model"], qboost["qboost.baseline"]) == ("qboost", "false")
    assert (lasso["model"], lasso["qboost.baseline"]) == ("lasso", "true")
    assert run_tags(cfg, (), "/nonexistent", "single", None)["model"] == "qboost"  # configs from before the model group
    assert run_name({**cfg, "model": {"name": "qboost"}}, None) == "neal-trees-lambda=0.1"
    assert run_name({**cfg, "model": {"name": "lasso"}}, None) == "lasso-trees"
    assert run_name({**cfg, "model": {"name": "adaboost"}}, 2, ["model=adaboost"], ["model"]) == "2:adaboost model=adaboost"
