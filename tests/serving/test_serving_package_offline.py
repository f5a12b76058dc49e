"""``python -m serving package`` and ``serve`` without a tracking store: refusals, pins, the installed wheel, start-up, a model that does not compile."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from clirun import QUICK, REPO, run_module
from package_cli import breast_cancer_features, one_error_line, package

# MLflow puts a loaded model's code/ directory (its own copy of qboost_exp, without
# conf/) first on sys.path: import the checkout's package before any model is loaded
# here, so that later imports of qboost_exp.config find the real one.
import qboost_exp  # noqa: E402,F401
from services import free_port, wait_for_http

FAST = ("sampler.params.num_reads=10", *QUICK)


def test_package_refuses_a_missing_store_instead_of_creating_one(tmp_path):
    result = package("--model-uri", "models:/qboost@champion", cwd=tmp_path)
    line = one_error_line(result)
    assert f"no MLflow store at {tmp_path.resolve() / 'mlflow.db'}" in line
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "build").exists()
    missing = package("--model-uri", "models:/qboost@champion", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": "sqlite:///elsewhere.db"})
    assert "MLFLOW_TRACKING_URI" in one_error_line(missing)


def test_package_needs_exactly_one_source(tmp_path):
    neither = package("--out", str(tmp_path / "x"), cwd=tmp_path)
    assert "--model-uri" in one_error_line(neither)
    both = package("--best", "--model-uri", "models:/qboost/1", cwd=tmp_path)
    assert "not allowed with" in one_error_line(both)


def test_serve_checks_the_model_dir(tmp_path):
    result = run_module("serving", "serve", "--model-dir", str(tmp_path / "nothing"), "--port", "8080", cwd=tmp_path)
    assert "no MLmodel there" in one_error_line(result)


def test_pins_follow_this_environment_and_report_a_model_logged_elsewhere(tmp_path):
    from serving._errors import ServingError
    from serving.package import pinned_requirements

    model_requirements = tmp_path / "requirements.txt"
    model_requirements.write_text("# from the model\nmlflow==0.1.0\nnumpy\n--extra-index-url https://example.invalid\n")
    pins, warnings = pinned_requirements(model_requirements)
    # a model's `mlflow` requirement becomes mlflow-skinny too (the full one would bring its server back)
    skinny = metadata.version("mlflow-skinny")
    assert f"mlflow-skinny=={skinny}" in pins and f"numpy=={metadata.version('numpy')}" in pins
    assert not any(pin.lower().startswith("mlflow==") for pin in pins)
    assert warnings == [f"the model was logged with mlflow-skinny==0.1.0, this environment (and so the image) has mlflow-skinny=={skinny}"]
    # the set must be complete: a requirement nobody installed is an error, not a silent gap
    model_requirements.write_text("surely-not-installed-here==1.0\n")
    with pytest.raises(ServingError, match="required but not installed here: surely-not-installed-here==1.0"):
        pinned_requirements(model_requirements)


def test_package_works_from_the_installed_wheel(tmp_path):
    """pip install of the project's wheel (no source tree): `python -m qboost_serving package` writes a build context.

    Installed, the serving package is `qboost_serving` (a top-level `serving` could collide); a checkout keeps `serving/`.
    """
    import sysconfig

    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("qboost_exp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "qboost_serving/_docker/Dockerfile" in names and "qboost_serving/_docker/build_and_push.sh" in names
    assert not any(name.startswith("serving/") for name in names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    # The dependencies come from this environment, after the wheel on sys.path.
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    model = tmp_path / "model"
    shutil.copytree(_small_model(tmp_path), model)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import qboost_serving, qboost_exp; print(qboost_serving.__file__); print(qboost_exp.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert where.stdout.split() == [str(site / "qboost_serving" / "__init__.py"), str(site / "qboost_exp" / "__init__.py")], where.stderr
    usage = subprocess.run([str(venv / "bin" / "python"), "-m", "qboost_serving", "--help"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: python -m qboost_serving"), usage.stderr
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "qboost_serving", "package", "--model-uri", str(model), "--out", str(work / "build")],
                            cwd=work, env={**env, "MLFLOW_DISABLE_TELEMETRY": "true"}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = work / "build"
    assert (out / "Dockerfile").read_bytes() == (REPO / "docker" / "Dockerfile").read_bytes()
    (repacked,) = (out / "wheels").glob("qboost_exp-*.whl")
    inside = set(zipfile.ZipFile(repacked).namelist())
    assert {"qboost_exp/domain/qboost.py", "qboost_exp/conf/config.yaml", "qboost_serving/container/serve.py", "qboost_serving/_docker/Dockerfile"} <= inside
    assert not any(name.endswith(".pyc") for name in inside)
    assert (out / "model" / "MLmodel").is_file() and (out / "serving" / "container" / "bin" / "serve").is_file()
    # The installed `serve` (gunicorn imports the app by the installed package's name) refuses a missing model at once.
    served = subprocess.run([str(venv / "bin" / "python"), "-m", "qboost_serving.container.serve", "--opt-ml", str(work), "--port", "1"],
                            cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert served.returncode == 2 and f"no MLflow model at {work / 'model'}" in served.stderr
    port = free_port()
    server = subprocess.Popen([str(venv / "bin" / "python"), "-m", "qboost_serving", "serve", "--model-dir", str(out / "model"), "--port", str(port)],
                              cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", timeout=90, process=server)
        X = breast_cancer_features()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=X.to_csv(index=False).encode(),
                                         headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            got = [int(v) for v in answer.read().decode().split()]
        import mlflow.pyfunc

        assert got == [int(v) for v in mlflow.pyfunc.load_model(str(out / "model")).predict(X)]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=60) == 0, server.stderr.read().decode()[-2000:]


def _small_model(tmp_path: Path) -> Path:
    """A QBoost model directory saved in-process (no tracking store needed)."""
    from omegaconf import OmegaConf

    from qboost_exp.config import compose
    from qboost_exp.experiment import run_experiment
    from qboost_exp.tracking import save_model

    cfg = compose(list(FAST))
    save_model(run_experiment(cfg), OmegaConf.to_container(cfg, resolve=True), tmp_path / "saved")
    return tmp_path / "saved"


def test_help_parses_before_importing_anything_heavy():
    """`python -m serving --help` and a usage error import argparse-level modules only (each command imports its own)."""
    heavy = {"mlflow", "numpy", "pandas", "sklearn", "boto3", "botocore", "flask", "yaml", "packaging", "dimod", "hydra"}
    code = (
        "import runpy, sys\n"
        "try:\n"
        "    runpy.run_module('serving', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"print(code, sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(heavy)!r})), file=sys.stderr)\n"
    )
    for args, status in ((["--help"], 0), (["deploy", "--help"], 0), (["package"], 2)):
        done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.stderr.splitlines()[-1] == f"{status} []", (args, done.stderr)


def test_a_model_that_does_not_compile_is_packaged_for_the_full_image_with_a_warning(tmp_path):
    # One Gaussian naive Bayes candidate: QBoost selects it, and it is no tree.
    from omegaconf import OmegaConf

    from qboost_exp.config import compose
    from qboost_exp.experiment import run_experiment
    from qboost_exp.tracking import save_model

    cfg = compose(["weak_learners=estimators", "weak_learners.params.estimators=[{_target_:sklearn.naive_bayes.GaussianNB}]",
                   "lambda=0", "qubo.max_weight=0.5", "sampler.params.num_reads=10", "mlflow.enabled=false"])
    result = run_experiment(cfg)
    assert len(result.model.selected_indices_) == 1
    save_model(result, OmegaConf.to_container(cfg, resolve=True), tmp_path / "saved")
    out = tmp_path / "out"
    packaged = package("--model-uri", str(tmp_path / "saved"), "--out", str(out), cwd=tmp_path)
    assert packaged.returncode == 0, packaged.stderr
    assert "the model does not compile" in packaged.stdout + packaged.stderr and "GaussianNB" in packaged.stdout + packaged.stderr
    info = json.loads((out / "build-info.json").read_text())
    assert info["image_target"] == "full"
    assert not (out / "model" / "qboost-compiled.npz").exists()
    assert (out / "model" / "MLmodel").is_file()  # the pickle is kept: nothing silently dropped
