"""The sweep callback (qboost_exp.sweep): its reading of Hydra's job returns, who opens the parent run, the printed link."""

from __future__ import annotations

from hydra.core.utils import JobReturn, JobStatus
from mlflow import MlflowClient
from omegaconf import OmegaConf

from clirun import QUICK, run_module
from qboost_exp.sweep import JobFailure, job_failed, sweeper_opens_parent


def _job(status: JobStatus, value: object) -> JobReturn:
    job = JobReturn()
    job.status = status
    job._return_value = value  # what Hydra's run_job stores, exception or value
    return job


def test_a_job_that_raised_fails_with_its_exception(capsys):
    assert job_failed(_job(JobStatus.FAILED, ValueError("boom"))) == "ValueError: boom"
    assert capsys.readouterr().err == ""  # Hydra's return_value would have written a line


def test_a_job_that_returned_a_failure_fails_with_its_message():
    assert job_failed(_job(JobStatus.COMPLETED, JobFailure("qubo.refit must be ..."))) == "qubo.refit must be ..."


def test_a_job_that_returned_its_objective_did_not_fail():
    assert job_failed(_job(JobStatus.COMPLETED, 0.97)) is None


def test_hydra_still_keeps_a_failed_jobs_exception_where_we_read_it():
    # job_failed reads the private JobReturn._return_value for a FAILED job; this fails when Hydra renames it.
    import dataclasses

    assert "_return_value" in {f.name for f in dataclasses.fields(JobReturn)}


def test_our_optuna_sweeper_opens_the_parent_itself_other_sweepers_leave_it_to_the_callback():
    def config(target):
        return OmegaConf.create({"hydra": {"sweeper": {"_target_": target}}})

    assert sweeper_opens_parent(config("hydra_plugins.qboost_optuna_sweeper.optuna_sweeper.OptunaSweeper")) is True
    assert sweeper_opens_parent(config("hydra._internal.core_plugins.basic_sweeper.BasicSweeper")) is False
    assert sweeper_opens_parent(config("no.such.Sweeper")) is False  # Hydra itself reports a sweeper it cannot load
    assert sweeper_opens_parent(OmegaConf.create({})) is False


def test_a_grid_sweep_prints_its_parents_link_when_it_opens_and_after_the_summary(tmp_path):
    fast = ("qubo.max_weight=0.125", "sampler.params.num_reads=10", "sampler.params.num_sweeps=200", *QUICK)
    result = run_module("qboost_exp", "-m", "lambda=0.05,0.1", *fast, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("qboost")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`qboost.role` = 'parent'")
    link = (
        f"[sweep] MLflow UI: http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs/{parent.info.run_id}"
        "?workflowType=machine_learning (start the UI: python -m qboost_exp.ui)"
    )
    lines = result.stdout.splitlines()
    assert lines.count(link) == 2
    first, last = (i for i, line in enumerate(lines) if line == link)
    assert lines[first - 1] == f"[sweep] MLflow parent run {parent.info.run_id} in sqlite:///{tmp_path / 'mlflow.db'}; 2 jobs"
    assert lines[last - 1].startswith("[sweep] best validation_accuracy (highest) ") and lines[last - 2] == "[sweep] 2 jobs: 2 finished, 0 failed"


def test_a_sweep_over_datasets_names_a_best_run_per_dataset(tmp_path):
    from clirun import run_module

    result = run_module("qboost_exp", "-m", "dataset=wisc,digits", "lambda=0.1", "qubo.max_weight=0.125",
                        "sampler.params.num_reads=10", "sampler.params.num_sweeps=200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    best = [line for line in result.stdout.splitlines() if line.startswith("[sweep] best ")]
    assert len(best) == 2, result.stdout
    assert best[0].startswith("[sweep] best validation_accuracy (highest) on digits@") and "job 1 (dataset=digits" in best[0]
    assert best[1].startswith("[sweep] best validation_accuracy (highest) on wisc@") and "job 0 (dataset=wisc" in best[1]
    assert "UserWarning" not in result.stderr


def test_an_untracked_sweep_with_a_failed_job_names_it_and_exits_1(tmp_path):
    from clirun import run_module

    # A sampler option is the sampler plugin's to check, when its job starts (a bad λ would stop the sweep before any job).
    result = run_module("qboost_exp", "-m", "sampler.params.num_reads=-1,10", "qubo.max_weight=0.125", "lambda=0.1",
                        "mlflow.enabled=false", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "[sweep] 2 jobs: 1 finished, 1 failed" in result.stdout
    assert ("[sweep] FAILED job 0 (sampler.params.num_reads=-1 qubo.max_weight=0.125 lambda=0.1 mlflow.enabled=False): "
            "sampler=neal: sampler.params.num_reads must be an integer >= 1, got -1") in result.stdout


def test_a_sweep_whose_config_does_not_resolve_stops_in_one_line(tmp_path):
    from clirun import run_module

    result = run_module("qboost_exp", "-m", "lambda=0.1,${nope}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: Interpolation key 'nope' not found"
    assert not (tmp_path / "mlflow.db").exists() or "[sweep] MLflow parent run" not in result.stdout
