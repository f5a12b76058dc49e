"""``hparams_search=optuna``: our Hydra sweeper over Optuna >= 4, with a stored, resumable study."""

from __future__ import annotations

import optuna
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from optuna.trial import TrialState

from clirun import QUICK, run_module

FAST = ("sampler.params.num_reads=10", "sampler.params.num_sweeps=200", *QUICK)


def _runs(uri: str, experiment: str = "qboost") -> tuple:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=100, order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("qboost.role") == "child"]
    return parents, children


def test_study_is_stored_beside_mlflow_db_resumes_and_loads_with_optuna(tmp_path):
    first = run_module("qboost_exp", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2", *FAST, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    assert f"[optuna] study 'qboost' in {storage}: maximize validation_accuracy; 0 of n_trials=2 trials done, 2 to run" in first.stdout
    # the sweeper opened the parent (2 trials to run) and the sweep prints its link when it opens and after the summary
    (parent,), _ = _runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    link = (
        f"[sweep] MLflow UI: http://127.0.0.1:5000/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}"
        "?workflowType=machine_learning (start the UI: python -m qboost_exp.ui)"
    )
    lines = first.stdout.splitlines()
    assert lines.count(link) == 2
    assert lines[lines.index(link) - 1] == f"[sweep] MLflow parent run {parent.info.run_id} in sqlite:///{tmp_path / 'mlflow.db'}; 2 jobs"
    assert lines.index(link) < min(i for i, line in enumerate(lines) if line.startswith("[sweep] job ")) < lines.index(link, lines.index(link) + 1)
    assert parent.data.tags["qboost.jobs"] == "2" and parent.info.status == "FINISHED"

    # the same command with a larger budget continues the study: n_trials is the study's total;
    # this time two trials per batch, in parallel through the joblib launcher
    second = run_module(
        "qboost_exp", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *FAST, cwd=tmp_path,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "2 of n_trials=4 trials done, 2 to run in batches of 2" in second.stdout

    study = optuna.load_study(study_name="qboost", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert study.user_attrs["objective"] == "validation_accuracy"

    parents, children = _runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert len(parents) == 2 and len(children) == 4
    by_job = {int(c.data.tags["qboost.job_num"]): c for c in children}
    assert sorted(by_job) == [0, 1, 2, 3]  # job numbers continue the trial numbers across runs
    for trial in study.trials:
        run = by_job[trial.number]
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
        assert trial.value == run.data.metrics["validation_accuracy"]
        # the sampled values reached the job's config
        assert float(run.data.params["lambda"]) == trial.params["lambda"] and 1e-4 <= trial.params["lambda"] <= 0.3
        assert run.data.params["qubo.weight_bits"] == str(trial.params["qubo.weight_bits"])
        assert run.data.params["weak_learners.params.max_depth"] == str(trial.params["weak_learners.params.max_depth"])
        assert trial.params["weak_learners.params.n_estimators"] in (10, 20, 30, 40, 50)
        # run names carry every searched override, so they are distinct
    assert len({c.data.tags["mlflow.runName"] for c in children}) == 4
    for parent in parents:
        assert parent.data.tags["optuna.study_name"] == "qboost" and parent.data.tags["optuna.storage"] == storage
        assert parent.data.tags["mlflow.runName"] == f"optuna study qboost ({storage})"
    assert f"[optuna] best trial {study.best_trial.number}: validation_accuracy {study.best_value:.6g}" in second.stdout

    # the budget is spent: a third call runs nothing, says how to continue, and leaves no empty parent run
    third = run_module("qboost_exp", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=4", *FAST, cwd=tmp_path)
    assert third.returncode == 0, third.stderr[-3000:]
    assert "nothing to run: raise hydra.sweeper.n_trials above 4" in third.stdout
    assert len(optuna.load_study(study_name="qboost", storage=storage).trials) == 4
    assert "[sweep]" not in third.stdout
    assert f"[optuna] best trial {study.best_trial.number}: validation_accuracy {study.best_value:.6g}" in third.stdout
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    every = client.search_runs([parents[0].info.experiment_id], run_view_type=ViewType.ALL, max_results=100)
    assert len(every) == 6 and sum(r.data.tags.get("qboost.role") == "parent" for r in every) == 2  # none deleted, none added

    # a study cannot silently switch direction
    flipped = run_module("qboost_exp", "-m", "hparams_search=optuna", "objective=time_total", "hydra.sweeper.n_trials=5", *FAST, cwd=tmp_path)
    assert flipped.returncode == 2
    assert flipped.stderr.strip().splitlines()[-1] == (
        f"error: study 'qboost' in {storage} optimises validation_accuracy (maximize), but objective=time_total (minimize): "
        "choose another hydra.sweeper.study_name"
    )
    assert len(_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")[0]) == 2  # found before any parent run opened


@pytest.fixture
def optuna_database(postgres_server):
    """A database of its own on the test PostgreSQL (Optuna and MLflow both keep an alembic_version table)."""
    import psycopg2

    with psycopg2.connect(postgres_server.url) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS optuna_test")
    conn.close()
    # A schema in the mlflow database, found first on the search_path: Optuna's tables stay apart.
    return postgres_server.sqlalchemy_url + "?options=-csearch_path%3Doptuna_test"


def test_minimised_objective_and_a_failed_trial_on_postgresql(tmp_path, optuna_database):
    # RandomSampler, seeded by `seed`, draws lambda 0.01, 0.02, then 0.02 again: that one is not run (the
    # study has it COMPLETE) and an untried point is queued instead, -1, which fails
    result = run_module(
        "qboost_exp", "-m", "hparams_search=optuna", "objective=time_total", "hydra.sweeper.params=null",
        "hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler", f"hydra.sweeper.storage='{optuna_database}'",
        "hydra.sweeper.study_name=minimise", "hydra.sweeper.n_trials=3", "lambda=choice(-1,0.01,0.02)", *FAST, cwd=tmp_path,
    )
    assert result.returncode == 1 and "[sweep] 3 jobs" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    study = optuna.load_study(study_name="minimise", storage=optuna_database)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert [(t.params["lambda"], t.state) for t in study.trials] == [
        (0.01, TrialState.COMPLETE), (0.02, TrialState.COMPLETE), (0.02, TrialState.FAIL), (-1, TrialState.FAIL),
    ]
    assert "lambda must be a float in the range [0.0, inf)" in study.trials[3].user_attrs["failure"]
    assert study.trials[2].user_attrs["qboost.not_run"] and "qboost.not_run" not in study.trials[3].user_attrs

    parents, children = _runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    by_job = {int(c.data.tags["qboost.job_num"]): c for c in children}
    assert {n: r.info.status for n, r in by_job.items()} == {0: "FINISHED", 1: "FINISHED", 3: "FAILED"}  # job number = trial number
    for n in (0, 1):  # not NaN: every logged metric can be the objective
        assert study.trials[n].value == by_job[n].data.metrics["time_total"]
    (parent,) = parents
    best = min((by_job[0], by_job[1]), key=lambda r: r.data.metrics["time_total"])
    assert study.best_trial.user_attrs["mlflow_run_id"] == best.info.run_id == parent.data.tags["best_run_id"]
    # the parent names the study and its storage, without the password
    assert parent.data.tags["optuna.direction"] == "minimize" and "***" in parent.data.tags["optuna.storage"]
    assert optuna_database.split(":")[2].split("@")[0] not in parent.data.tags["optuna.storage"]
    assert "[sweep] 3 jobs: 2 finished, 1 failed" in result.stdout
    assert f"[sweep] best time_total (lowest) {best.data.metrics['time_total']:.4g}" in result.stdout
