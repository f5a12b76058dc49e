"""The SageMaker ``train`` program, run for real: hyperparameters and channels in, an MLflow model out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clirun import accuracy, closed_port
from moto_server import moto  # noqa: F401 (fixture)
# First: it puts this checkout's `serving` first on sys.path.
from serving_programs import BIN, FAKE_TOKEN, LOOPBACK, files_text, program_env
from serving.container.hyperparameters import to_overrides


# ------------------------------------------------------------------- hyperparameters


def test_hyperparameters_become_overrides_and_secrets_the_environment():
    parsed = to_overrides({
        "sampler": "qpu", "lambda": "0.1", "weak_learners": "trees", "sampler.params.num_reads": "50",
        "sagemaker_program": "train", "_tuning_objective_metric": "x", "dwave_api_token": FAKE_TOKEN, "dataset.label": "-1",
    })
    assert parsed.overrides == ["sampler=qpu", "lambda=0.1", "weak_learners=trees", "sampler.params.num_reads=50", "dataset.label=-1"]
    assert parsed.environment == {"DWAVE_API_TOKEN": FAKE_TOKEN}
    assert not any(FAKE_TOKEN in note for note in parsed.notes)
    assert sum("ignoring SageMaker's hyperparameter" in note for note in parsed.notes) == 2
    from qboost_exp.errors import ConfigError

    for bad in ({"dataset": "wisc"}, {"dataset.path": "x.csv"}, {"hydra.run.dir": "x"}, {"a b": "1"}):
        with pytest.raises(ConfigError):
            to_overrides(bad)



# --------------------------------------------------------------------------- train


@pytest.fixture(scope="module")
def channels(tmp_path_factory):
    """wisc written by `python -m qboost_exp.data`, train.csv split into two files with write_sagemaker_csv."""
    from qboost_exp.data import load_csv, write_sagemaker_csv

    root = tmp_path_factory.mktemp("wisc")
    made = subprocess.run([sys.executable, "-m", "qboost_exp.data", "wisc", "--out", str(root)], capture_output=True, text=True, timeout=120, env=program_env())
    assert made.returncode == 0, made.stderr
    X, y, _ = load_csv(root / "train.csv")
    (root / "parts").mkdir()
    write_sagemaker_csv(root / "parts" / "part-0.csv", X[:200], y[:200])
    write_sagemaker_csv(root / "parts" / "part-1.csv", X[200:], y[200:])
    return root


def _layout(root: Path, channels: Path, hyperparameters: dict, *, test_channel: bool = False) -> Path:
    """A SageMaker /opt/ml tree: config, training (2 files), validation (and test) channels, an empty model dir."""
    import shutil

    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    shutil.copytree(channels / "parts", root / "input" / "data" / "training")
    (root / "input" / "data" / "validation").mkdir()
    shutil.copy(channels / "validation.csv", root / "input" / "data" / "validation")
    if test_channel:
        (root / "input" / "data" / "test").mkdir()
        shutil.copy(channels / "test.csv", root / "input" / "data" / "test")
    (root / "model").mkdir()  # SageMaker creates it, empty
    return root


def _run_train(root: Path, **env: str) -> subprocess.CompletedProcess:
    """The bin/train script, finding /opt/ml through SM_OPT_ML_ROOT as in a local run."""
    return subprocess.run([sys.executable, str(BIN / "train")], cwd=root, env=program_env(SM_OPT_ML_ROOT=str(root), **env),
                          capture_output=True, text=True, timeout=180)


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")  # SQLAlchemy, inside MLflow's store
def test_train_program_writes_a_model_that_predicts_as_reported(channels, tmp_path):
    """A full job with MLflow tracking on; a token given as a hyperparameter reaches neither output nor MLflow."""
    import mlflow.pyfunc
    import pandas as pd
    from mlflow import MlflowClient

    from qboost_exp.data import load_csv

    hyperparameters = {"lambda": "0.01", "weak_learners": "trees", "weak_learners.params.n_estimators": "15", "sampler.params.num_reads": "10",
                       "seed": "3", "sagemaker_program": "train", "_tuning_objective_metric": "validation_accuracy", "dwave_api_token": FAKE_TOKEN}
    root = _layout(tmp_path / "opt_ml", channels, hyperparameters, test_channel=True)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = _run_train(root, MLFLOW_TRACKING_URI=tracking_uri)
    assert result.returncode == 0, result.stderr
    assert not (root / "output" / "failure").exists()
    assert "ignoring SageMaker's hyperparameter sagemaker_program" in result.stdout
    assert "hyperparameters: lambda=0.01 weak_learners=trees weak_learners.params.n_estimators=15 sampler.params.num_reads=10 seed=3" in result.stdout
    assert "channel training: 2 files, 342 rows" in result.stdout
    # The CLI's report: the validation and test channels are the splits, training is not cut.
    assert "dataset        csv: 342 train / 85 validation / 142 test, 30 features" in result.stdout
    assert (root / "model" / "MLmodel").is_file() and (root / "model" / "code" / "qboost_exp").is_dir()
    # Trees compile: the compiled file is written beside the model, for the lean serve image.
    assert (root / "model" / "qboost-compiled.npz").is_file() and "compiled file written beside it" in result.stdout
    X_test, y_test, _ = load_csv(channels / "test.csv")
    model = mlflow.pyfunc.load_model(str(root / "model"))
    names = model.metadata.get_input_schema().input_names()
    predicted = np.asarray(model.predict(pd.DataFrame(X_test, columns=names)))
    assert float(np.mean(predicted == y_test)) == pytest.approx(accuracy(result.stdout, "test"), abs=5e-5)

    assert FAKE_TOKEN not in result.stdout + result.stderr
    client = MlflowClient(tracking_uri=tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("qboost").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["lambda"] == "0.01"
    assert run.data.metrics["test_accuracy"] == pytest.approx(accuracy(result.stdout, "test"), abs=5e-5)
    assert not any(FAKE_TOKEN in str(v) for v in [*run.data.params.values(), *run.data.tags.values()])
    assert f"MLflow run {run.info.run_id}" in result.stdout


@pytest.mark.parametrize(
    "hyperparameters, bad_file, phrase",
    [
        ({"lambda": "-1"}, None, "lambda must be a float in the range [0.0, inf) or a str among {'auto'}. Got -1 instead."),
        ({"sampler": "annealer9000"}, None, "Could not find 'sampler/annealer9000'; Available options in 'sampler': exact"),
        ({}, "1,2.5,3\n0,abc,4\n", "part-9.csv: line 2, column 2: feature value 'abc' is not a number"),
    ],
    ids=["bad lambda", "unknown sampler", "non-numeric cell"],
)
def test_train_failure_writes_the_reason(channels, tmp_path, hyperparameters, bad_file, phrase):
    root = _layout(tmp_path / "opt_ml", channels, hyperparameters)
    if bad_file:
        (root / "input" / "data" / "training" / "part-9.csv").write_text(bad_file)
    result = _run_train(root)
    assert result.returncode == 1, result.stdout + result.stderr
    reason = (root / "output" / "failure").read_text()
    assert phrase in reason and "\n" not in reason and len(reason) <= 1024
    assert f"error: {reason}" in result.stderr
    assert "Traceback" not in result.stderr  # a user error, not a bug


def test_dwave_token_hyperparameter_never_leaks(channels, tmp_path):
    """sampler=qpu with the token as a hyperparameter: no network here, so the QPU connection fails.

    DWAVE_API_ENDPOINT points at a closed loopback port and dwave.conf turns
    off the client's retries (10 by default, ~10 s of back-off): the failure
    comes in well under a second. DWAVE_LOG_LEVEL=debug makes the cloud client
    log its config, token included, which the program must mask.
    """
    conf = tmp_path / "dwave.conf"
    conf.write_text("[defaults]\nhttp_retry_total = 0\n")
    hyperparameters = {"sampler": "qpu", "lambda": "0.1", "dwave_api_token": FAKE_TOKEN, "sampler.params.num_reads": "50"}
    root = _layout(tmp_path / "opt_ml", channels, hyperparameters)
    with closed_port() as port:  # refuses connections for the whole run: no other process can listen there meanwhile
        endpoint = f"http://{LOOPBACK}:{port}/sapi/v2/"
        started = time.monotonic()
        result = _run_train(root, DWAVE_CONFIG_FILE=str(conf), DWAVE_API_ENDPOINT=endpoint, DWAVE_LOG_LEVEL="debug",
                            DWAVE_CACHE_ENABLED="false", HOME=str(tmp_path))
    assert time.monotonic() - started < 60
    assert result.returncode == 1
    reason = (root / "output" / "failure").read_text()
    assert reason.startswith("sampler=qpu: could not reach a D-Wave solver")
    assert "warning: hyperparameter dwave_api_token holds a D-Wave token" in result.stderr
    assert "***" in result.stderr  # the client did log its config, masked
    for text in (result.stdout, result.stderr, reason):
        assert FAKE_TOKEN not in text
    assert not list((root / "model").iterdir())


CHANNEL_ERRORS = [
    ({"training": {"a.csv": "1,0.5,2\n0,0.25,1\n"}, "validation": {"v.csv": "1,0.5\n"}}, "v.csv: the validation channel"),
    ({"training": {"a.csv": "1,0.5\n0,0.25\n", "b.csv": "1,0.5,3\n"}}, "b.csv: has 2 feature columns but"),
    ({"training": {"a.csv": "1,0.5\n1,0.25\n1,0.3\n"}}, "in its label column (column 1); QBoost is a binary classifier"),
    ({"training": {"a.csv": "1,0.5\n0,0.25\n1,0.3\n0,0.1\n"}, "test": {"t.csv": "7,0.5\n"}}, "t.csv: line 1: label 7 does not occur in the training channel"),
    ({"training": {}}, "the training channel"),
    ({"validation": {"v.csv": "1,0.5\n"}}, "no training channel"),
]


@pytest.mark.parametrize("files, phrase", CHANNEL_ERRORS, ids=["validation width", "training widths", "single class", "unseen test label", "empty channel", "no training"])
def test_channel_errors_name_the_file_and_channel(tmp_path, files, phrase):
    from qboost_exp.errors import DataError
    from serving.container.channels import load_channels
    from serving.container.paths import OptMl

    for channel, contents in files.items():
        directory = tmp_path / "input" / "data" / channel
        directory.mkdir(parents=True)
        for name, text in contents.items():
            (directory / name).write_text(text)
    with pytest.raises(DataError) as caught:
        load_channels(OptMl.resolve(str(tmp_path)), {"label": 0, "header": "auto", "delimiter": ","}, {"test_size": 0.2, "validation_size": 0.2}, 0)
    assert phrase in str(caught.value)


def _model_result():
    from types import SimpleNamespace

    return SimpleNamespace(model=None)


def test_save_into_a_model_directory_that_is_its_own_mount(tmp_path, monkeypatch):
    """os.replace from outside a mount into it fails with EXDEV; save_into renames only within model_dir."""
    import errno

    from serving.container import train

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "stale.txt").write_text("a previous local run")
    real_replace = os.replace

    def replace(src, dst):
        if model_dir not in Path(src).resolve().parents or model_dir not in Path(dst).resolve().parents:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    def fake_save_model(result, cfg, path):
        path.mkdir()
        (path / "MLmodel").write_text("flavors: {}\n")
        (path / "code").mkdir()
        (path / "code" / "x.py").write_text("")

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr("qboost_exp.tracking.save_model", fake_save_model)
    reason = train.save_into(_model_result(), {}, model_dir)
    assert reason and "not a QBoostClassifier" in reason  # None is not a model: no compiled file, and the reason
    assert sorted(p.name for p in model_dir.iterdir()) == ["MLmodel", "code"]


CHANNEL_NAMES = [
    ({"train": {"a.csv": "1,0.5\n0,0.25\n1,0.7\n0,0.1\n1,0.9\n0,0.2\n1,0.8\n0,0.3\n1,0.6\n0,0.15\n"}}, "train"),
    ({"data": {"a.csv": "1,0.5\n0,0.25\n1,0.7\n0,0.1\n1,0.9\n0,0.2\n1,0.8\n0,0.3\n1,0.6\n0,0.15\n"}}, "data"),
]


@pytest.mark.parametrize("files, directory", CHANNEL_NAMES, ids=["named train", "the only channel"])
def test_the_training_channel_may_be_named_train_or_be_the_only_one(tmp_path, files, directory):
    from serving.container.channels import load_channels
    from serving.container.paths import OptMl

    for channel, contents in files.items():
        (tmp_path / "input" / "data" / channel).mkdir(parents=True)
        for name, text in contents.items():
            (tmp_path / "input" / "data" / channel / name).write_text(text)
    data, channels = load_channels(OptMl.resolve(str(tmp_path)), {"label": 0, "header": "auto", "delimiter": ","}, {"test_size": 0.2, "validation_size": 0.2}, 0)
    assert channels[0].directory == tmp_path / "input" / "data" / directory
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 10


def test_no_training_channel_names_the_channels_found(tmp_path):
    from qboost_exp.errors import DataError
    from serving.container.channels import load_channels
    from serving.container.paths import OptMl

    for channel in ("validation", "extra"):
        (tmp_path / "input" / "data" / channel).mkdir(parents=True)
        (tmp_path / "input" / "data" / channel / "v.csv").write_text("1,0.5\n")
    with pytest.raises(DataError, match=r"no training channel: the job has the channels 'extra', 'validation'; .*named 'training' \(or 'train'\)"):
        load_channels(OptMl.resolve(str(tmp_path)), {"label": 0, "header": "auto", "delimiter": ","}, {"test_size": 0.2, "validation_size": 0.2}, 0)


# ------------------------------------------------------ the token from Secrets Manager


def _secret(moto, name: str, value: str) -> None:
    moto.client("secretsmanager").create_secret(Name=name, SecretString=value)


def _secret_env(moto, secret: str) -> dict[str, str]:
    """moto's credentials and endpoint (AWS_* only: the program's own environment stays), and the secret's name."""
    aws = {k: v for k, v in moto.env(AWS_ENDPOINT_URL=moto.url).items() if k.startswith("AWS_") or k.lower() == "no_proxy"}
    return {**aws, "DWAVE_API_TOKEN_SECRET": secret}


def test_dwave_token_from_a_secret_reaches_ocean_and_nothing_else(moto, channels, tmp_path):
    """DWAVE_API_TOKEN_SECRET names the secret; the token goes to the QPU client (which logs it, masked) and nowhere else."""
    _secret(moto, "qboost/dwave-kv", json.dumps({"DWAVE_API_TOKEN": FAKE_TOKEN}))  # the console's key/value form
    conf = tmp_path / "dwave.conf"
    conf.write_text("[defaults]\nhttp_retry_total = 0\n")
    root = _layout(tmp_path / "opt_ml", channels, {"sampler": "qpu", "lambda": "0.1"})
    with closed_port() as port:
        result = _run_train(root, **_secret_env(moto, "qboost/dwave-kv"),
                            DWAVE_CONFIG_FILE=str(conf), DWAVE_API_ENDPOINT=f"http://{LOOPBACK}:{port}/sapi/v2/",
                            DWAVE_LOG_LEVEL="debug", DWAVE_CACHE_ENABLED="false", HOME=str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "train: D-Wave token read from the Secrets Manager secret qboost/dwave-kv" in result.stdout
    assert (root / "output" / "failure").read_text().startswith("sampler=qpu: could not reach a D-Wave solver")
    assert "***" in result.stderr  # Ocean got the token and logged it, masked
    assert FAKE_TOKEN not in result.stdout + result.stderr + files_text(root.rglob("*"))


def test_dwave_token_secret_stays_out_of_the_model_and_the_mlflow_record(moto, channels, tmp_path):
    _secret(moto, "qboost/dwave-plain", FAKE_TOKEN)
    root = _layout(tmp_path / "opt_ml", channels, {"sampler": "mock_qpu", "lambda": "0.1", "qubo.max_weight": "0.25",
                                                   "lambda_grid": "[0.1]", "sampler.params.num_reads": "10"})
    db = tmp_path / "mlflow.db"
    result = _run_train(root, **_secret_env(moto, "qboost/dwave-plain"),
                        MLFLOW_TRACKING_URI=f"sqlite:///{db}", HOME=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train: D-Wave token read from the Secrets Manager secret qboost/dwave-plain" in result.stdout
    assert (root / "model" / "MLmodel").is_file() and db.stat().st_size > 0
    assert FAKE_TOKEN not in result.stdout + result.stderr + files_text(tmp_path.rglob("*"))  # the model, the failure file, mlflow.db


@pytest.mark.parametrize("secret,value,message", [
    ("qboost/absent", None, "no secret 'qboost/absent' in Secrets Manager in this region: check --dwave-token-secret / DWAVE_API_TOKEN_SECRET"),
    ("qboost/kv-without-the-key", '{"token": "x"}', "the secret 'qboost/kv-without-the-key' is a JSON object without a string 'DWAVE_API_TOKEN' key"),
    ("qboost/blank", "  ", "the secret 'qboost/blank' is empty: store the D-Wave token in it"),
])
def test_an_unreadable_token_secret_fails_in_one_line(moto, channels, tmp_path, secret, value, message):
    if value is not None:
        _secret(moto, secret, value)
    root = _layout(tmp_path / "opt_ml", channels, {"sampler": "mock_qpu"})
    result = _run_train(root, **_secret_env(moto, secret), HOME=str(tmp_path))
    assert result.returncode == 1
    assert (root / "output" / "failure").read_text().startswith(message)
    assert "Traceback" not in result.stderr
    assert not list((root / "model").iterdir())


class _Answers:
    """A Secrets Manager client that answers GetSecretValue with ``answer`` (or raises it)."""

    def __init__(self, answer):
        self.answer = answer

    def get_secret_value(self, SecretId):
        if isinstance(self.answer, Exception):
            raise self.answer
        return {"Name": SecretId, **self.answer}


@pytest.mark.parametrize("answer", [
    {"SecretString": FAKE_TOKEN},
    {"SecretString": f"  {FAKE_TOKEN}\n"},
    {"SecretString": json.dumps({"DWAVE_API_TOKEN": FAKE_TOKEN, "note": "x"})},
    {"SecretBinary": FAKE_TOKEN.encode()},
], ids=["plain", "padded", "key-value", "binary"])
def test_the_reader_finds_the_token_in_every_form(answer):
    from serving.container.token_secret import read

    assert read("qboost/dwave", client=_Answers(answer)) == FAKE_TOKEN


@pytest.mark.parametrize("answer,message", [
    ({"SecretString": "{not json"}, "the secret 'qboost/dwave' starts like JSON but is not valid JSON"),
    ({"SecretString": '{"DWAVE_API_TOKEN": 5}'}, "the secret 'qboost/dwave' is a JSON object without a string 'DWAVE_API_TOKEN' key"),
    ({"SecretBinary": b"\xff\xfe"}, "the secret 'qboost/dwave' is binary, not text"),
    ({}, "the secret 'qboost/dwave' has no value (no SecretString or SecretBinary)"),
])
def test_the_reader_refuses_a_secret_without_a_token(answer, message):
    from serving.container.token_secret import TokenSecretError, read

    with pytest.raises(TokenSecretError, match=re.escape(message)):
        read("qboost/dwave", client=_Answers(answer))


def test_a_token_given_as_the_secret_name_is_refused_and_never_echoed(channels, tmp_path):
    token = "DEV-" + "0123456789abcdef" * 3
    root = _layout(tmp_path / "opt_ml", channels, {"sampler": "mock_qpu"})
    result = _run_train(root, DWAVE_API_TOKEN_SECRET=token, HOME=str(tmp_path))
    assert result.returncode == 1
    reason = (root / "output" / "failure").read_text()
    assert reason.startswith("DWAVE_API_TOKEN_SECRET holds what looks like a D-Wave token, not a secret's name")
    assert token not in result.stdout + result.stderr + reason


def test_access_denied_names_the_secret_and_the_permission():
    """moto grants every call: the message for AccessDenied, checked on the reader itself."""
    from botocore.exceptions import ClientError

    from serving.container.token_secret import TokenSecretError, read

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetSecretValue")
    with pytest.raises(TokenSecretError) as raised:
        read("arn:aws:secretsmanager:eu-west-1:123456789012:secret:qboost-AbCdEf", client=_Answers(denied))
    assert str(raised.value) == ("cannot read the D-Wave token secret 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:qboost-AbCdEf': "
                                 "the job's role lacks secretsmanager:GetSecretValue on it (and kms:Decrypt on its key, "
                                 "if the secret uses a customer-managed key)")
