"""`python -m qboost_exp` end to end, in fresh processes, from a scratch directory."""

from __future__ import annotations

import zipfile

import pytest

from clirun import REPO, accuracy, report_values, run_module


def test_defaults_train_and_report(tmp_path):
    result = run_module("qboost_exp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["dataset"].startswith("wisc: 342 train / 85 validation / 142 test, 30 features")
    assert report["weak learners"] == "stumps" and report["sampler"] == "neal" and report["lambda"] == "0.01"
    assert report["candidates"] == "30" and 0 < int(report["selected"]) < 30
    assert report["QUBO"] == "30 variables, 435 interactions"
    assert accuracy(result.stdout, "test") > 0.9
    for phase in ("weak learners", "QUBO build", "sampling"):
        assert phase in report["time"]
    # Hydra's own outputs go under the launch directory
    assert list(tmp_path.glob("outputs/*/*/.hydra/config.yaml"))


def test_seeded_runs_repeat(tmp_path):
    args = ("weak_learners=trees", "weak_learners.params.n_estimators=15", "seed=5")
    first, second = (run_module("qboost_exp", *args, cwd=tmp_path) for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0
    drop_time = lambda out: {k: v for k, v in report_values(out).items() if k != "time"}  # noqa: E731
    assert drop_time(first.stdout) == drop_time(second.stdout)


def test_mock_qpu_with_trees_and_two_weight_bits(tmp_path):
    result = run_module(
        "qboost_exp", "sampler=mock_qpu", "weak_learners=trees", "qubo.weight_bits=2",
        "weak_learners.params.n_estimators=10", "sampler.params.num_reads=20", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["QUBO"].startswith("30 variables")  # 10 learners x 2 bits + 10 indicators
    assert report["weight bits"] == "2"
    assert report["chains"].startswith("break fraction ")
    assert float(report["QPU access"].split()[0]) > 0


def test_qpu_without_token_stops_before_training(no_dwave_credentials, tmp_path):
    env = {"HOME": str(no_dwave_credentials), "XDG_CONFIG_HOME": str(no_dwave_credentials / "c"), "XDG_CONFIG_DIRS": str(no_dwave_credentials / "d")}
    result = run_module("qboost_exp", "sampler=qpu", "lambda=0.1", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: sampler=qpu needs a D-Wave Leap API token")
    assert "DWAVE_API_TOKEN" in lines[0] and "sampler=mock_qpu" in lines[0]


def test_csv_dataset_in_sagemaker_layout(tmp_path):
    made = run_module("qboost_exp.data", "wisc", "--out", "data", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    result = run_module("qboost_exp", "dataset=csv", "dataset.path=data/train.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["dataset"].startswith("csv: ") and "30 features" in report["dataset"]
    assert accuracy(result.stdout, "test") > 0.85


def test_lambda_auto_reports_the_choice(tmp_path):
    result = run_module("qboost_exp", "lambda=auto", "qubo.cv=3", "qubo.lambda_grid=[0.001,0.01,0.1]", "sampler.params.num_reads=20", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lam = report_values(result.stdout)["lambda"]
    assert lam.startswith("auto -> ") and float(lam.split()[-1]) in (0.001, 0.01, 0.1)
    assert "lambda search" in report_values(result.stdout)["time"]


@pytest.mark.parametrize(
    "args,message",
    [
        (("lambda=-0.5",), "error: lambda must be a number >= 0 or 'auto', got -0.5"),
        (("dataset=csv",), "error: the config value dataset.path is required but not set"),
        (("dataset=csv", "dataset.path=nowhere.csv"), "nowhere.csv"),
        (("sampler=exact", "weak_learners=trees"), "accepts at most 24 variables; this QUBO has 50"),
        (("+sampler.params.num_sweep=3",), "does not take the parameter(s) num_sweep"),
        (("sampler=nope",), "Available options in 'sampler':"),
    ],
)
def test_user_mistakes_get_one_message_and_no_traceback(tmp_path, args, message):
    result = run_module("qboost_exp", *args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_wheel_ships_the_configs(tmp_path):
    import subprocess
    import sys

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("qboost_exp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "qboost_exp/conf/config.yaml" in names
    assert {"qboost_exp/conf/sampler/neal.yaml", "qboost_exp/conf/dataset/wisc.yaml"} <= names
