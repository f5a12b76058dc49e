"""``python -m serving package``: a real SQLite MLflow store, the real CLI, the real build context.

The store is made once per module by the training CLI itself: one run
promoted to ``qboost@champion`` (v1), then a two-job sweep (a parent run and
two child runs) with a strong sparsity penalty, so that "best" has something
to choose from.
"""

from __future__ import annotations

import hashlib

import importlib.metadata as metadata
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from clirun import QUICK, REPO, run_module
from package_cli import breast_cancer_features, one_error_line, package, package_concurrently

# MLflow puts a loaded model's code/ directory (its own copy of qboost_exp, without
# conf/) first on sys.path: import the checkout's package before any model is loaded
# here, so that later imports of qboost_exp.config find the real one.
import qboost_exp  # noqa: E402,F401
import system_packages
from services import apt_install, free_port, log_tail, wait_for_http

FAST = ("sampler.params.num_reads=10", *QUICK)
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[^=\s;]+$")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A directory with mlflow.db: run 1 is qboost v1 @champion, then a sweep (parent + 2 children)."""
    root = tmp_path_factory.mktemp("store")
    first = run_module("qboost_exp", *FAST, "promote=true", cwd=root)
    assert first.returncode == 0, first.stderr
    assert "qboost v1 is now @champion" in first.stdout
    sweep = run_module("qboost_exp", "-m", "lambda=0.5,2", *FAST, cwd=root)
    assert sweep.returncode == 0, sweep.stderr

    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("qboost")
    runs = client.search_runs([experiment.experiment_id])
    by_role: dict[str, list] = {}
    for run in runs:
        by_role.setdefault(run.data.tags["qboost.role"], []).append(run)
    assert {k: len(v) for k, v in by_role.items()} == {"single": 1, "parent": 1, "child": 2}
    mlflow.set_tracking_uri(None)  # leave no global state for other tests
    return root, by_role


@pytest.fixture(scope="module")
def champion(store, tmp_path_factory):
    """``python -m serving package --model-uri models:/qboost@champion``: the build directory."""
    root, _ = store
    parent = tmp_path_factory.mktemp("champion")
    result = package("--model-uri", "models:/qboost@champion", "--out", str(parent / "build"), cwd=root)
    assert result.returncode == 0, result.stderr
    assert "packaged models:/qboost@champion" in result.stdout
    assert sorted(p.name for p in parent.iterdir()) == ["build"]  # no temp dir left beside --out
    return parent / "build"


def run_model_predictions(root: Path, run_id: str, X) -> np.ndarray:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    try:
        return np.asarray(mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(X))
    finally:
        mlflow.set_tracking_uri(None)


def test_package_the_champion_writes_a_complete_build_context(store, champion, tmp_path):
    root, by_role = store
    (single,) = by_role["single"]
    out = champion

    # the Dockerfile is docker/Dockerfile, unchanged; model.tar.gz stays out of the image
    assert (out / "Dockerfile").read_bytes() == (REPO / "docker" / "Dockerfile").read_bytes()
    assert "model.tar.gz" in (out / ".dockerignore").read_text().split()

    # requirements: every line name==version, the versions installed here, complete for serving
    lines = (out / "requirements.txt").read_text().splitlines()
    assert lines and all(PIN.match(line) for line in lines), [line for line in lines if not PIN.match(line)]
    pins = {name.lower(): version for name, version in (line.split("==") for line in lines)}
    for name in ("mlflow-skinny", "flask", "gunicorn", "numpy", "scikit-learn", "pandas", "scipy", "dimod", "dwave-samplers",
                 "hydra-core", "omegaconf", "cloudpickle", "werkzeug"):
        assert pins.get(name) == metadata.version(name), name
    assert "qboost-exp" not in pins  # installed from the wheel, with --no-deps
    # lean: MLflow's model format without its server stack, and nothing from the optional extras
    assert pins.get("boto3") == metadata.version("boto3")  # train reads a D-Wave token from Secrets Manager
    for name in ("mlflow", "sqlalchemy", "alembic", "docker", "graphene", "pyarrow", "sagemaker", "ray", "optuna", "submitit",
                 "hydra-ray-launcher", "hydra-optuna-sweeper", "hydra-joblib-launcher", "hydra-submitit-launcher", "psycopg2-binary", "moto"):
        assert name not in pins, name
    assert len(pins) == len(lines)

    # the wheel is this source tree
    (wheel,) = (out / "wheels").glob("*.whl")
    assert wheel.name.startswith(f"qboost_exp-{metadata.version('qboost-exp')}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "qboost_exp/domain/qboost.py" in names and "qboost_exp/conf/config.yaml" in names
    # its digest, which the Dockerfile copies so that a changed wheel invalidates the install layer
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert (out / "wheels.sha256").read_text() == f"{digest}  {wheel.name}\n"

    # the serving code, with the container programs, executable
    for program in ("train", "serve"):
        path = out / "serving" / "container" / "bin" / program
        assert path.is_file() and os.access(path, os.X_OK), path
    assert (out / "serving" / "__main__.py").is_file()
    assert not list(out.rglob("__pycache__"))

    # model/ and model.tar.gz: the same files, MLmodel at the root of both
    model_files = {p.relative_to(out / "model").as_posix() for p in (out / "model").rglob("*") if p.is_file()}
    assert {"MLmodel", "model.pkl", "requirements.txt"} <= model_files
    with tarfile.open(out / "model.tar.gz") as tar:
        members = tar.getmembers()
        archived = {m.name for m in members if m.isfile()}
        assert all(not m.name.startswith(("/", "./", "model/")) for m in members)
        assert archived == model_files
        extracted = tmp_path / "opt-ml-model"
        tar.extractall(extracted, filter="data")

    info = json.loads((out / "build-info.json").read_text())
    assert info["model_uri"] == "models:/qboost@champion" and info["run_id"] == single.info.run_id
    assert info["requirements"] == len(lines)

    # what SageMaker extracts to /opt/ml/model loads and predicts like the run's model
    import mlflow

    X = breast_cancer_features()
    expected = run_model_predictions(root, single.info.run_id, X)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(extracted)).predict(X), expected)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(out / "model")).predict(X), expected)


def test_serve_answers_with_the_packaged_model(store, champion, tmp_path):
    """``python -m serving serve`` on model/ of the build: /ping, then CSV predictions equal to the run's model."""
    apt_install(system_packages.PACKAGES["nginx"])  # `serve` runs nginx in front of gunicorn
    root, by_role = store
    (single,) = by_role["single"]
    X = breast_cancer_features()
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "SAGEMAKER_BIND_TO_PORT")}
    env.update({"MODEL_SERVER_WORKERS": "1", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "serving", "serve", "--model-dir", str(champion / "model"), "--port", str(port)],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", 90, process=process, log_path=log_path)
        body = "\n".join(",".join(repr(float(v)) for v in row) for row in X.to_numpy()).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, method="POST",
            headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            answer = response.read().decode()
        served = np.array([int(float(line)) for line in answer.split()])
        np.testing.assert_array_equal(served, run_model_predictions(root, single.info.run_id, X))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # serve stops nginx and gunicorn gracefully
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
    assert process.returncode == 0, log_tail(log_path)


def test_package_by_run_and_by_version_and_force(store, tmp_path):
    root, by_role = store
    (single,) = by_role["single"]
    uris = {"run": f"runs:/{single.info.run_id}/model", "version": "models:/qboost/1"}
    tracking = f"sqlite:///{root / 'mlflow.db'}"
    (tmp_path / "version").mkdir()
    (tmp_path / "version" / "old.txt").write_text("an earlier build")  # replaced thanks to --force
    results = package_concurrently(
        (("--model-uri", uris["run"], "--out", str(tmp_path / "run"), "--tracking-uri", tracking), tmp_path),
        (("--model-uri", uris["version"], "--out", str(tmp_path / "version"), "--tracking-uri", tracking, "--force"), tmp_path),
    )
    for (kind, uri), result in zip(uris.items(), results):
        assert result.returncode == 0, result.stderr
        info = json.loads((tmp_path / kind / "build-info.json").read_text())
        assert info["model_uri"] == uri and info["run_id"] == single.info.run_id
        with tarfile.open(tmp_path / kind / "model.tar.gz") as tar:
            assert "MLmodel" in tar.getnames()
    assert not (tmp_path / "version" / "old.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "version"]  # no temp or old copies left


def _wisc(by_role: dict) -> str:
    """The label of the store's one dataset: wisc and the digest of its training split (the runs' dataset input)."""
    from qboost_exp.compare import dataset_of

    (label,) = {dataset_of(run).label for role in ("single", "child") for run in by_role[role]}
    assert label.startswith("wisc@") and len(label) == len("wisc@") + 8
    return label


def _one_rule(run) -> tuple:
    """The one "best" rule, written out: validation accuracy, then fewer learners, larger λ, earlier start (QBoost runs here)."""
    metrics = run.data.metrics
    lam = metrics.get("lambda_value")
    if lam is None:
        try:
            lam = float(run.data.params.get("lambda", "nan"))
        except ValueError:  # lambda=auto that logged no lambda_value
            lam = float("nan")
    return (-metrics["validation_accuracy"], metrics.get("selected", math.inf), math.inf if math.isnan(lam) else -lam, run.info.start_time)


def test_package_best_by_a_metric(store, tmp_path):
    root, by_role = store
    training = by_role["single"] + by_role["child"]
    # The one rule: highest validation accuracy; level runs: fewer learners, larger λ, then the earlier start.
    expected = min(training, key=_one_rule)
    best = package("--best", "--experiment", "qboost", "--metric", "validation_accuracy", "--out", str(tmp_path / "a"), cwd=root)
    assert best.returncode == 0, best.stderr
    # One dataset in the experiment: no --dataset needed, and the line says which it chose within.
    assert f"best run of 'qboost' on dataset {_wisc(by_role)} by validation_accuracy (highest): {expected.info.run_id}" in best.stdout
    info = json.loads((tmp_path / "a" / "build-info.json").read_text())
    assert info["model_uri"] == f"runs:/{expected.info.run_id}/model" and info["run_id"] == expected.info.run_id


@pytest.mark.parametrize("metric", ["test_accuracy", "test_f1", "metrics.test_roc_auc"])
def test_best_never_chooses_on_the_test_split(store, tmp_path, metric):
    root, _ = store
    line = one_error_line(package("--best", "--metric", metric, "--out", str(tmp_path / "a"), cwd=root))
    assert "never ranked or chosen on the test split" in line and "overfits" in line and "validation_accuracy" in line
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def two_datasets(store, tmp_path_factory):
    """A copy of the store plus one run trained on another dataset (synthetic): the experiment holds two."""
    root, by_role = store
    copy = tmp_path_factory.mktemp("two-datasets") / "store"
    shutil.copytree(root, copy)
    other = run_module("qboost_exp", *FAST, "dataset=synthetic", "dataset.n_samples=200", cwd=copy)
    assert other.returncode == 0, other.stderr
    from mlflow import MlflowClient

    from qboost_exp.compare import dataset_of

    client = MlflowClient(f"sqlite:///{copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("qboost")
    (synthetic,) = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("dataset") == "synthetic"]
    import mlflow

    mlflow.set_tracking_uri(None)
    return copy, _wisc(by_role), dataset_of(synthetic).label, synthetic


def test_best_chooses_within_one_dataset(store, two_datasets, tmp_path):
    copy, wisc, synthetic, synthetic_run = two_datasets
    assert synthetic.startswith("synthetic@")
    root, by_role = store
    training = by_role["single"] + by_role["child"]
    best_wisc = min(training, key=_one_rule)
    unnamed, nope, wrong_digest, on_synthetic, on_wisc = package_concurrently(
        (("--best", "--out", str(tmp_path / "unnamed")), copy),
        (("--best", "--dataset", "iris", "--out", str(tmp_path / "nope")), copy),
        (("--best", "--dataset", "wisc@ffff", "--out", str(tmp_path / "wrong-digest")), copy),
        (("--best", "--dataset", "synthetic", "--out", str(tmp_path / "synthetic")), copy),
        (("--best", "--dataset", wisc, "--out", str(tmp_path / "wisc")), copy),
    )
    # Several datasets and none named: refused, listing what there is.
    line = one_error_line(unnamed)
    assert "experiment 'qboost' has runs of 2 datasets" in line and "choose one with --dataset NAME[@DIGEST]" in line
    assert f"{synthetic} (1 run)" in line and f"{wisc} (3 runs)" in line
    assert f"datasets found: {synthetic} (1 run), {wisc} (3 runs)" in one_error_line(nope)
    assert "--dataset wisc@ffff: no such dataset" in one_error_line(wrong_digest)
    # Named: the best within it, whatever the other dataset scores.
    for result, run, label in ((on_synthetic, synthetic_run, synthetic), (on_wisc, best_wisc, wisc)):
        assert result.returncode == 0, result.stderr
        assert f"best run of 'qboost' on dataset {label} by validation_accuracy (highest): {run.info.run_id}" in result.stdout
    assert json.loads((tmp_path / "synthetic" / "build-info.json").read_text())["run_id"] == synthetic_run.info.run_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic", "wisc"]


def test_dataset_is_only_for_best(tmp_path):
    line = one_error_line(package("--model-uri", "models:/qboost/1", "--dataset", "wisc", "--out", str(tmp_path / "x"), cwd=tmp_path))
    assert "--dataset chooses among the runs for --best" in line


def test_best_minimises_cost_metrics_and_skips_parent_runs(store, tmp_path):
    root, by_role = store
    children = {run.info.run_id: run for run in by_role["child"]}
    (parent,) = by_role["parent"]
    (single,) = by_role["single"]
    # `selected` is a cost: the fewest learners wins -- a sweep child, never the parent run;
    # --order max turns it around: the single run has the most learners.
    fewest, most = package_concurrently(
        (("--best", "--metric", "selected", "--out", str(tmp_path / "fewest")), root),
        (("--best", "--metric", "selected", "--order", "max", "--out", str(tmp_path / "most")), root),
    )
    assert fewest.returncode == 0 and most.returncode == 0, fewest.stderr + most.stderr
    chosen = re.search(r"best run of 'qboost' on dataset wisc@\w{8} by selected \(lowest\): (\w+) \(selected (\S+)\)", fewest.stdout)
    assert chosen and chosen.group(1) in children, fewest.stdout
    assert float(chosen.group(2)) == min(r.data.metrics["selected"] for r in children.values())
    assert f"by selected (highest): {single.info.run_id}" in most.stdout
    # the parent carries the sweep's metrics but no model
    assert "test_accuracy" in parent.data.metrics and chosen.group(1) != parent.info.run_id


def test_package_refuses_a_non_empty_out_without_force(store, tmp_path):
    root, _ = store
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    refused = package("--model-uri", "models:/qboost@champion", "--out", str(out), cwd=root)
    assert "exists and is not empty: pass --force" in one_error_line(refused)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert "is not a directory" in one_error_line(package("--model-uri", "models:/qboost@champion", "--out", str(not_a_dir), cwd=root))


def test_package_an_unknown_model_is_one_error_and_leaves_nothing_behind(store, tmp_path):
    root, _ = store
    out = tmp_path / "build" / "sagemaker"
    result = package("--model-uri", "models:/nope/1", "--out", str(out), "--tracking-uri", f"sqlite:///{root / 'mlflow.db'}", cwd=tmp_path)
    line = one_error_line(result)
    assert "cannot download the model models:/nope/1: Registered Model with name=nope not found" in line
    assert not out.exists() and not any(out.parent.iterdir())  # no temp dir either


def test_a_model_that_cannot_be_downloaded_is_one_error_and_leaves_no_scratch(store, tmp_path):
    import mlflow

    import serving.package as p
    from serving._errors import ServingError

    root, _ = store
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    try:
        with pytest.raises(ServingError, match=re.escape("cannot download the model runs:/0123")):
            p.download_model("runs:/0123456789abcdef0123456789abcdef/model", tmp_path / "model")
    finally:
        mlflow.set_tracking_uri(None)
    assert list(tmp_path.iterdir()) == []  # the download's scratch dir is gone too


def test_best_of_an_unknown_experiment_or_metric_is_one_error(store, tmp_path):
    root, _ = store
    no_experiment, no_metric = package_concurrently(
        (("--best", "--experiment", "nope", "--metric", "validation_accuracy", "--out", str(tmp_path / "a")), root),
        (("--best", "--metric", "no_such_metric", "--out", str(tmp_path / "b")), root),
    )
    assert "no experiment named 'nope'" in one_error_line(no_experiment)
    assert "no finished training run on dataset wisc@" in one_error_line(no_metric) and "with metric 'no_such_metric'" in one_error_line(no_metric)
    assert list(tmp_path.iterdir()) == []


def test_boto3_is_pinned_when_installed_and_its_absence_is_a_warning(monkeypatch):
    """boto3 is in the sagemaker extra, not the core install: packaging works without it, and says what the image loses."""
    from serving.package import requirements

    pins, warnings = requirements.pinned_requirements()
    assert f"boto3=={metadata.version('boto3')}" in pins
    assert not [w for w in warnings if w.startswith("boto3")]

    installed = requirements._installed()
    monkeypatch.setattr(requirements, "_installed", lambda: {k: v for k, v in installed.items() if k != "boto3"})
    pins, warnings = requirements.pinned_requirements()
    assert not [p for p in pins if p.lower().startswith("boto3==")]
    assert ("boto3 is not installed here: the image's train cannot read a D-Wave token from Secrets Manager "
            "(train-job --dwave-token-secret); pip install 'qboost-exp[sagemaker]' before packaging") in warnings
