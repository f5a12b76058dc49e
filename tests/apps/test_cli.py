"""`python -m qboost_exp` end to end, in fresh processes, from a scratch directory."""

from __future__ import annotations

import zipfile

import pytest

from clirun import QUICK, REPO, accuracy, report_values, run_module


def test_defaults_train_and_report(tmp_path):
    result = run_module("qboost_exp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["dataset"].startswith("wisc: 342 train / 85 validation / 142 test, 30 features")
    assert report["weak learners"] == "adaboost" and report["sampler"] == "neal"
    assert report["lambda"].startswith("auto -> ") and report["max weight"].startswith("auto -> ")
    assert report["candidates"] == "60" and 0 < int(report["selected"]) < 60
    assert report["QUBO"].startswith("60 variables, ")  # a pair of learners that are exactly uncorrelated has no interaction
    assert accuracy(result.stdout, "test") > 0.93
    for phase in ("weak learners", "QUBO build", "sampling", "lambda search"):
        assert phase in report["time"]
    # Hydra's own outputs go under the launch directory
    assert list(tmp_path.glob("outputs/*/*/.hydra/config.yaml"))


def test_an_empty_model_is_reported_as_such(tmp_path):
    result = run_module("qboost_exp", "lambda=100", "qubo.max_weight=0.125", "mlflow.enabled=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert report_values(result.stdout)["selected"] == "0: EMPTY MODEL, it predicts 1 for every sample; use a smaller lambda"


def test_dwave_demo_formulation_is_one_option_away(tmp_path):
    result = run_module("qboost_exp", "qubo=dwave_demo", "weak_learners=stumps", "mlflow.enabled=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["max weight"] == "1/M -> 0.03333" and report["candidates"] == "30"
    assert 0.0 <= float(report["lambda"].split()[-1]) <= 0.5  # the demo's normalised grid
    assert accuracy(result.stdout, "test") > 0.85


def test_iterative_strategy_from_the_command_line(tmp_path):
    result = run_module(
        "qboost_exp", "qubo=iterative", "qubo.window=20", "lambda=0.05", "qubo.max_weight=0.0625",
        "sampler.params.num_reads=20", "mlflow.enabled=false", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["QUBO"] == "20 variables, 190 interactions (3 QUBOs, iterative)"
    assert "iterative QBoost: 60 candidates in 3 windows of 20" in result.stdout
    assert accuracy(result.stdout, "test") > 0.9


def test_seeded_runs_repeat(tmp_path):
    args = ("weak_learners=trees", "weak_learners.params.n_estimators=15", "seed=5", *QUICK)
    first, second = (run_module("qboost_exp", *args, cwd=tmp_path) for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0
    drop_time = lambda out: {k: v for k, v in report_values(out).items() if k != "time"}  # noqa: E731
    assert drop_time(first.stdout) == drop_time(second.stdout)


def test_mock_qpu_with_trees_and_two_weight_bits(tmp_path):
    # the README's example, as written there
    result = run_module("qboost_exp", "sampler=mock_qpu", "weak_learners=trees", "qubo.weight_bits=2", "lambda=0.1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["QUBO"].startswith("150 variables")  # 50 learners x 2 bits + 50 indicators, one clique
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
    result = run_module("qboost_exp", "dataset=csv", "dataset.path=data/train.csv", *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["dataset"].startswith("csv: ") and "30 features" in report["dataset"]
    assert accuracy(result.stdout, "test") > 0.85


def test_lambda_auto_reports_the_choice(tmp_path):
    result = run_module("qboost_exp", "lambda=auto", "qubo.cv=3", "lambda_grid=[0.01,0.1,0.2]", "qubo.max_weight=0.0625", "sampler.params.num_reads=20", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lam = report_values(result.stdout)["lambda"]
    assert lam.startswith("auto -> ") and float(lam.split()[-1]) in (0.01, 0.1, 0.2)
    assert "lambda search" in report_values(result.stdout)["time"]


@pytest.mark.parametrize(
    "args,message",
    [
        (("lambda=-0.5",), "error: lambda must be a float in the range [0.0, inf) or a str among {'auto'}. Got -0.5 instead."),
        (("dataset=csv",), "error: the config value dataset.path is required but not set"),
        (("dataset=csv", "dataset.path=nowhere.csv"), "nowhere.csv"),
        (("sampler=exact", "weak_learners=trees"), "takes QUBOs of at most 24 variables; one QUBO over 50 candidates"),
        (("+sampler.params.num_sweep=3",), "does not take the parameter(s) num_sweep"),
        (("sampler=nope",), "error: In 'config': Could not find 'sampler/nope'; available options in 'sampler': exact, hybrid,"),
        (("+data=digits",), "error: unknown config key 'data': nothing reads it (did you mean dataset? a config group option is chosen without '+': dataset=NAME)"),
        (("+qubo.max_wieght=0.1",), "error: unknown config key 'qubo.max_wieght': nothing reads it (did you mean qubo.max_weight?)"),
        (("lamda=0.1",), "error: unknown config key 'lamda': nothing reads it (did you mean lambda?)"),
        (("lambda=[0.1",), "error: no viable alternative at input '[0.1'"),
        (("weak_learners=trees", "weak_learners.params.max_depth=0"), "error: weak_learners.params.max_depth=0 is invalid: The 'max_depth' parameter"),
        (("weak_learners=trees", "weak_learners.params.max_depth=-1"), "error: weak_learners.params.max_depth=-1 is invalid"),
        (("weak_learners=trees", "weak_learners.params.max_depth=abc"), "error: weak_learners.params.max_depth='abc' is invalid"),
        (("weak_learners=adaboost", "weak_learners.params.n_estimators=0"), "error: weak_learners.params.n_estimators=0 is invalid"),
        (("sampler=tabu", "sampler.params.timeout=-5"), "error: sampler=tabu: sampler.params.timeout must be a number of milliseconds > 0"),
        (("qubo.max_weight=0",), "error: qubo.max_weight must be a float in the range (0.0, inf) or a str among {"),
        (("qubo.refit=ridge",), "error: qubo.refit must be a str among {"),
        (("qubo.cv=1",), "error: qubo.cv must be an integer >= 2 (folds) or a fraction in (0, 1)"),
        (("seed=abc",), "error: seed must be an int in the range [0, 2147483647). Got 'abc' instead."),
        (("seed=1.5",), "error: seed must be an int in the range [0, 2147483647). Got 1.5 instead."),
        (("seed=-1",), "error: seed must be an int in the range [0, 2147483647). Got -1 instead."),
        (("verbose=x",), "error: verbose must be an int in the range [0, inf). Got 'x' instead."),
        (("lambda_grid=[]",), "error: lambda_grid must be None or a non-empty sequence, each element a float in the range [0.0, inf). Got [] instead."),
        (("qubo.max_weight_grid=[0.1,-1]",), "error: qubo.max_weight_grid must be None or a non-empty sequence"),
        (("objective=7",), "error: objective must be an instance of 'str'"),
        (("objective=test_accuracy",), "error: objective=test_accuracy: a test metric never chooses anything"),
        (("mlflow.promote_metric=test_f1",), "error: mlflow.promote_metric=test_f1: a test metric never chooses anything"),
        (("sampler=mock_qpu", "sampler.init.embedding=fast"), "error: sampler=mock_qpu: sampler.init.embedding must be one of clique, heuristic"),
    ],
)
def test_user_mistakes_get_one_message_and_no_traceback(tmp_path, args, message):
    result = run_module("qboost_exp", *args, "mlflow.enabled=false", cwd=tmp_path)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    # Every usage error, Hydra's config errors included: one line and exit 2.
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_config_node_replaced_by_a_value_is_one_error_line(tmp_path):
    result = run_module("qboost_exp", "mlflow=5", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: mlflow must hold keys (mlflow.KEY=VALUE), got 5; the keys under mlflow are: enabled,")
    assert not (tmp_path / "mlflow.db").exists()


def test_a_hydra_config_error_in_a_sweep_is_one_line_too(tmp_path):
    result = run_module("qboost_exp", "-m", "sampler=nope,neal", "mlflow.enabled=false", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: In 'config': Could not find 'sampler/nope'")


def test_a_first_run_prints_no_library_log_lines(tmp_path):
    # A fresh matplotlib cache: matplotlib logs "generated new fontManager" at INFO, which
    # Hydra's job logging would print among the report; a fresh store logs its migration.
    env = {"MPLCONFIGDIR": str(tmp_path / "mpl")}
    result = run_module("qboost_exp", "lambda=0.1", "qubo.max_weight=0.125", "sampler.params.num_reads=10", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mpl").is_dir()  # matplotlib did build its cache in this run
    assert result.stderr == ""
    assert not [line for line in result.stdout.splitlines() if "INFO" in line or "WARNING" in line]


def test_a_usage_error_of_a_single_run_leaves_no_run_in_the_store(tmp_path):
    # The store exists and holds one good run; a bad value must add nothing to it.
    fixed = ("lambda=0.1", "qubo.max_weight=0.125", "sampler.params.num_reads=10", "sampler.params.num_sweeps=200")
    good = run_module("qboost_exp", *fixed, cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    for bad in (("seed=1.5",), ("qubo.refit=ridge",), ("weak_learners=trees", "weak_learners.params.max_depth=0")):
        result = run_module("qboost_exp", *fixed, *bad, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith("error: "), result.stderr
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("qboost")
    assert [r.info.status for r in client.search_runs([experiment.experiment_id])] == ["FINISHED"]


def test_a_user_mistake_inside_a_sweep_names_the_key(tmp_path):
    result = run_module("qboost_exp", "-m", "weak_learners=trees", "weak_learners.params.max_depth=0,2", "lambda=0.1",
                        "qubo.max_weight=0.125", cwd=tmp_path)
    assert result.returncode == 1
    assert "error: job 0: weak_learners.params.max_depth=0 is invalid: The 'max_depth' parameter" in result.stderr
    assert "[sweep] 2 jobs: 1 finished, 1 failed" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("sampler_args", [
    ("sampler=tabu", "sampler.params.timeout=100000", "sampler.params.num_reads=3"),  # one read: 100 s in C++
    ("sampler=steepest", "sampler.params.num_reads=100000000"),
    # The mock QPU gets one call, as a QPU does, within a QPU's 10000 reads: 150 variables make it ~20 s long.
    ("sampler=mock_qpu", "weak_learners=trees", "qubo.weight_bits=2", "sampler.params.num_reads=10000"),
])
def test_ctrl_c_stops_every_local_sampler_and_ends_the_run_killed(tmp_path, sampler_args):
    """Ctrl-C while the sampler runs in its worker thread: the run ends KILLED without waiting for the sampler.

    The CLI runs with its sampler calls marked (clirun.start_marked_cli, mode ``worker``): Ctrl-C is sent
    once a sampler call has started, not after a guessed delay, and that call never returns (after the
    real sampler's work, it waits forever), so the CLI can only exit by not waiting for it: a CLI that
    waited would never exit, and ``communicate`` times out. The real sampler runs all the while (a
    sampler holding the GIL through tabu's 100 s read would also keep the CLI past that timeout).
    """
    import sqlite3

    from clirun import interrupt_when_marked, start_marked_cli

    marker = tmp_path / "sampling.txt"
    proc = start_marked_cli(*sampler_args, "lambda=0.1", "qubo.max_weight=0.125", cwd=tmp_path, marker=marker, mode="worker")
    out, err = interrupt_when_marked(proc, marker)
    assert proc.returncode == 130, err
    assert "error: interrupted" in err
    db = tmp_path / "mlflow.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        assert [row[0] for row in con.execute("SELECT status FROM runs")] == ["KILLED"]


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


@pytest.mark.parametrize("sampler", ["neal", "tabu", "steepest", "exact", "mock_qpu"])
def test_a_logged_model_from_every_local_sampler_loads_with_pyfunc(tmp_path, sampler):
    # qpu and hybrid are covered offline in test_estimator (stand-ins for the cloud classes)
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.tracking import MlflowClient

    extra = ("weak_learners.params.n_estimators=12",) if sampler == "exact" else ()
    params = {"tabu": ("sampler.params.num_reads=2", "sampler.params.timeout=20")}.get(sampler, ())
    result = run_module("qboost_exp", f"sampler={sampler}", "lambda=0.05", "qubo.max_weight=0.125", *extra, *params, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "qboost"]
    (run,) = client.search_runs([experiment.experiment_id])
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
        estimator = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = pd.DataFrame(data.data.to_numpy()[:50], columns=list(model.metadata.get_input_schema().input_names()))
    np.testing.assert_array_equal(model.predict(frame), estimator.predict(frame))
    assert estimator.sampler == sampler and not hasattr(estimator, "sampleset_")
