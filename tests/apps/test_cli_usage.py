"""What a new user stumbled on at the command line, each answered right the first time."""

from __future__ import annotations

import sqlite3

import pytest

from clirun import QUICK, report_values, run_module


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    "override, message",
    [
        ("samplr=neal", "error: unknown config key 'samplr': nothing reads it (did you mean sampler? a config group option is chosen without '+': sampler=NAME); the keys are: "),
        ("qubo.max_wieght=0.1", "error: unknown config key 'qubo.max_wieght': nothing reads it (did you mean qubo.max_weight?); the keys under qubo are: "),
        ("mlflow.experimnt=x", "error: unknown config key 'mlflow.experimnt': nothing reads it (did you mean mlflow.experiment?); the keys under mlflow are: "),
    ],
)
def test_a_typo_gets_the_right_advice_first_not_hydras_plus(tmp_path, override, message):
    result = run_module("qboost_exp", override, cwd=tmp_path)
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith(message) and "+" + override not in line
    assert "Traceback" not in result.stderr and not (tmp_path / "outputs").exists() or not list(tmp_path.glob("outputs/*/*/.hydra"))


def test_a_plugins_own_key_keeps_hydras_answer(tmp_path):
    """sampler.params belongs to the sampler plugin: Hydra's advice to add it with + is right there."""
    result = run_module("qboost_exp", "sampler.params.num_raeds=3", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: Could not override 'sampler.params.num_raeds'")


@pytest.mark.parametrize("override", ["hparams_search=optuna", "hydra/sweeper=optuna"])
def test_a_search_without_multirun_is_refused_not_run_quietly(tmp_path, override):
    result = run_module("qboost_exp", override, *QUICK, cwd=tmp_path)
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"error: {override} runs only as a multirun: add -m (python -m qboost_exp -m {override} ...); without it Hydra runs one ordinary job"
    ]
    assert "accuracy" not in result.stdout and not (tmp_path / "mlflow.db").exists()


def test_a_bad_value_in_a_sweep_starts_no_job(tmp_path):
    result = run_module("qboost_exp", "-m", "lambda=0.05,-1,0.1", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: job 1 (lambda=-1): lambda must be a float in the range [0.0, inf)")
    assert line.endswith("Set it on the command line as lambda=VALUE; nothing was started")
    assert "[sweep] 3 jobs: 0 finished, 0 failed, 3 not started" in result.stdout
    db = tmp_path / "mlflow.db"
    if db.exists():  # no run at all: neither a parent nor a FAILED child
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_the_validation_file_is_the_validation_split(tmp_path):
    made = run_module("qboost_exp.data", "wisc", "--out", "data", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    args = ("dataset=csv", "dataset.path=data/train.csv", "dataset.validation_path=data/validation.csv", "dataset.test_path=data/test.csv")
    result = run_module("qboost_exp", *args, "lambda=0.05", "qubo.max_weight=0.125", "mlflow.enabled=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    # wisc's own split, file by file: nothing is cut from train.csv any more
    assert report["dataset"] == "csv: 342 train / 85 validation / 142 test, 30 features"
    wisc = run_module("qboost_exp", "lambda=0.05", "qubo.max_weight=0.125", "mlflow.enabled=false", cwd=tmp_path)
    assert report_values(wisc.stdout)["accuracy"] == report["accuracy"]  # the same rows, the same model


def test_a_missing_csv_says_what_is_there(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("0,1.0\n1,2.0\n")
    result = run_module("qboost_exp", "dataset=csv", "dataset.path=data/trian.csv", "mlflow.enabled=false", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    where = tmp_path / "data"
    assert line == (
        f"error: {where / 'trian.csv'}: no such file (looked for {where / 'trian.csv'}; CSV files in {where}: train.csv); "
        f"did you mean {where / 'train.csv'}?"
    )


def test_progress_lines_count_in_good_english():
    from qboost_exp.domain._search import GridPoint, plan_message

    one = [GridPoint(lam=0.0, max_weight=0.125)]
    assert plan_message(1, one, "ends") == "lambda search: 1 sampler call (1 fold x 1 largest weight x 1 lambda), then 1 for the final fit"
    two = [GridPoint(lam=0.0, max_weight=0.125), GridPoint(lam=0.1, max_weight=0.125)]
    assert plan_message(2, two, "ends") == (
        "lambda search: 4 sampler calls (2 folds x 1 largest weight x 2 lambdas (the smallest and the largest)), then 1 for the final fit"
    )
    assert plan_message(1, one, None) == "lambda search: 1 fit (1 fold x 1 grid point), each as many sampler calls as its rounds, then the final fit"
