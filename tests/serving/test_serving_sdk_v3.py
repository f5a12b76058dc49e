"""The SageMaker Python SDK v3 with our images: ``examples/sagemaker_sdk_v3.py``, as the README runs it.

* Local container mode, for real: the SDK drives podman through its Docker API
  (``podman system service``) with Debian's docker-compose. ``ModelTrainer``
  trains on the full image with no command (the image picks ``train`` from the
  mounts), the trained ``model.tar.gz`` is deployed on the lean image, invoked
  with CSV and JSON, and a Batch Transform runs 100 rows. Every answer is
  checked against the trained model's own predictions. The process has no AWS
  credentials and its only proxy refuses and records: an AWS call that escapes
  fails the test (and fails fast rather than hanging).
* On AWS, against moto's server: the requests SageMaker would get, for a
  real-time and a serverless endpoint (``ServerlessConfig``, no instance).
* Without credentials, the AWS route stops in one line and calls nothing.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from clirun import REPO, run_module
from docker_api import EgressRecorder, clean_aws_env, docker_api  # noqa: F401 (fixture)
from moto_server import ACCOUNT, REGION, ROLE, moto  # noqa: F401 (fixture)
from podman import FAST, lean_image  # noqa: F401 (fixture)
from services import free_port, skip_or_fail

try:
    import sagemaker.train  # noqa: F401
except ImportError as error:
    skip_or_fail(f"the SageMaker Python SDK v3 is not installed ({error}): pip install 'qboost-exp[sagemaker-sdk]'", module=True)

EXAMPLE = REPO / "examples" / "sagemaker_sdk_v3.py"
#: The SDK's own config, opting out of its usage telemetry (an HTTPS call to AWS otherwise).
TELEMETRY_OPT_OUT = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"


def example(*args: str, env: dict[str, str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def fast_hyperparameters() -> list[str]:
    return [arg for override in FAST for arg in ("-H", override)]


@pytest.fixture(scope="module")
def wisc(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sdk-v3-data")
    done = run_module("qboost_exp.data", "wisc", "--out", "data/", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "data"


def sdk_config(home: Path) -> Path:
    path = home / "sagemaker-config.yaml"
    path.write_text(TELEMETRY_OPT_OUT)
    return path


def printed(stdout: str, label: str) -> str:
    """The value after ``label: `` on the example's output line for it."""
    # (the SDK's progress panel may end a line without its newline: the label need not start one)
    values = re.findall(rf"(?:^|[^\w ]){re.escape(label)}: (.*)$", stdout, re.M)
    assert len(values) == 1, f"no single '{label}:' line in:\n{stdout[-3000:]}"
    return values[0]


def trained_predictions(model_tar: Path, rows: np.ndarray, scratch: Path) -> list[int]:
    """What the model in ``model_tar`` predicts, loaded here with MLflow (no container)."""
    import mlflow.pyfunc

    with tarfile.open(model_tar) as tar:
        tar.extractall(scratch, filter="data")
    import pandas as pd

    model = mlflow.pyfunc.load_model(str(scratch))
    frame = pd.DataFrame(rows, columns=model.metadata.get_input_schema().input_names())
    return [int(v) for v in np.asarray(model.predict(frame)).ravel()]


def test_local_mode_trains_deploys_invokes_and_transforms_with_no_call_leaving(
        podman, sagemaker_image, lean_image, docker_api, wisc, tmp_path):
    work = tmp_path / "work"
    with EgressRecorder() as egress:
        (tmp_path / "tmp").mkdir()  # TMPDIR: the SDK's endpoint and transform compose files go there (see docker_api)
        env = clean_aws_env(tmp_path, DOCKER_HOST=docker_api.host, TMPDIR=str(tmp_path / "tmp"),
                            SAGEMAKER_USER_CONFIG_OVERRIDE=str(sdk_config(tmp_path)), **egress.env())
        done = example("local", "--train-image", sagemaker_image.tag, "--serve-image", lean_image.tag,
                       "--data", str(wisc), "--work", str(work), "--port", str(free_port()),
                       *fast_hyperparameters(), env=env, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert egress.requests == [], f"calls left the machine: {egress.requests}"
    # ModelTrainer gave no command: the full image chose `train` from the mounts.
    assert "start: running train (found /opt/ml/input/config/hyperparameters.json" in output

    model_tar = Path(printed(done.stdout, "trained"))
    assert model_tar == work / "jobs" / "compressed_artifacts" / "model.tar.gz"
    test_rows = np.loadtxt(wisc / "test.csv", delimiter=",")[:, 1:]
    expected = trained_predictions(model_tar, test_rows[:100], tmp_path / "model")
    assert set(expected) == {0, 1}
    assert json.loads(printed(done.stdout, "invoke application/json")) == expected[:5]
    assert json.loads(printed(done.stdout, "invoke text/csv")) == [str(v) for v in expected[:5]]
    # the lean image served it (the compiled model, no scikit-learn)
    assert "predicting compiled" in output

    transformed = Path(printed(done.stdout, "transformed")).read_text().split()
    assert [int(v) for v in transformed] == expected


def queue_answers(moto, rows: int) -> None:
    answers = [1, 0] * rows
    moto.queue_invoke_results("\n".join(map(str, answers[:rows])), json.dumps({"predictions": answers[:rows]}))


def upload_data(moto, wisc: Path, bucket: str) -> str:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.upload_file(str(wisc / "train.csv"), bucket, "qboost/train/train.csv")
    s3.upload_file(str(wisc / "test.csv"), bucket, "qboost/test.csv")
    return f"s3://{bucket}/qboost"


@pytest.mark.parametrize("serverless", [False, True], ids=["real-time", "serverless"])
def test_aws_route_sends_sagemaker_the_requests_it_expects(moto, wisc, tmp_path, serverless):
    data = upload_data(moto, wisc, f"sdk-v3-{'sl' if serverless else 'rt'}")
    queue_answers(moto, 5)
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/qboost-sagemaker"
    with EgressRecorder() as egress:  # moto is on loopback (NO_PROXY); anything else is refused and recorded
        env = moto.env(AWS_ENDPOINT_URL=moto.url, SAGEMAKER_USER_CONFIG_OVERRIDE=str(sdk_config(tmp_path)),
                       SAGEMAKER_VALIDATE_ROLE="false", **egress.env())
        done = example("aws", "--train-image", f"{registry}:full", "--serve-image", f"{registry}:serve", "--data", data,
                       "--role", ROLE, "--region", REGION, *(["--serverless"] if serverless else []), env=env, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert egress.requests == [], f"calls left the machine: {egress.requests}"
    assert json.loads(printed(done.stdout, "invoke application/json")) == [1, 0, 1, 0, 1]

    sm = moto.client("sagemaker")
    model_s3 = printed(done.stdout, "trained")  # s3://.../output/JOB/output/model.tar.gz
    job = sm.describe_training_job(TrainingJobName=model_s3.split("/")[-3])
    spec = job["AlgorithmSpecification"]
    assert spec["TrainingImage"] == f"{registry}:full"
    assert "ContainerEntrypoint" not in spec and "ContainerArguments" not in spec  # the image picks `train`
    assert job["HyperParameters"] == {"sampler": "neal", "lambda": "0.1", "weak_learners": "trees"}
    assert job["InputDataConfig"][0]["ChannelName"] == "train"
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == f"{data}/train/"
    assert model_s3 == job["ModelArtifacts"]["S3ModelArtifacts"]

    # What CreateModel and CreateEndpointConfig carried (the example deletes both at the end, as it should).
    name = printed(done.stdout, "deployed")
    assert name.startswith("qboost-serverless-" if serverless else "qboost-2")
    requests = [json.loads(line) for line in moto.sagemaker_requests().splitlines() if name in line]
    (model,) = [r for r in requests if "PrimaryContainer" in r]
    assert model["PrimaryContainer"]["Image"] == f"{registry}:serve"
    assert model["PrimaryContainer"]["ModelDataUrl"] == model_s3
    assert model["ExecutionRoleArn"] == ROLE
    (config,) = [r for r in requests if "ProductionVariants" in r]
    variant = config["ProductionVariants"][0]
    assert variant["ModelName"] == name
    if serverless:
        assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
        assert "InstanceType" not in variant and "InitialInstanceCount" not in variant
    else:
        assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 1)
        assert "ServerlessConfig" not in variant
    assert name not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    assert not sm.list_endpoint_configs(NameContains=name)["EndpointConfigs"]
    assert not sm.list_models(NameContains=name)["Models"]

    transform = sm.describe_transform_job(TransformJobName=f"{name}-batch")
    assert transform["ModelName"] == name
    assert (transform["BatchStrategy"], transform["MaxPayloadInMB"]) == ("MultiRecord", 6)
    assert transform["TransformInput"]["ContentType"] == "text/csv"
    assert transform["TransformInput"]["SplitType"] == "Line"
    assert transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == f"{data}/batch/{name}/"
    assert transform["TransformOutput"]["S3OutputPath"] == f"{data}/batch-out/{name}/" == printed(done.stdout, "transformed")
    bucket, _, prefix = data.removeprefix("s3://").partition("/")
    batch = moto.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/batch/{name}/rows.csv")["Body"].read().decode()
    features = np.loadtxt(wisc / "test.csv", delimiter=",")[:100, 1:]  # the batch input: no label column
    assert np.array_equal(np.loadtxt(io.StringIO(batch), delimiter=","), features)


def test_aws_route_without_credentials_stops_in_one_line_and_calls_nothing(wisc, tmp_path):
    with EgressRecorder() as egress:
        env = clean_aws_env(tmp_path, AWS_DEFAULT_REGION=REGION, SAGEMAKER_USER_CONFIG_OVERRIDE=str(sdk_config(tmp_path)),
                            **egress.env())
        done = example("aws", "--train-image", "REPO:full", "--serve-image", "REPO:serve", "--data", "s3://bucket/qboost",
                       "--role", ROLE, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == "sagemaker_sdk_v3: aws: Unable to locate credentials"
    assert "Traceback" not in done.stderr
    assert egress.requests == []


def test_example_refuses_a_hyperparameter_without_a_value(tmp_path):
    done = example("local", "--train-image", "a", "--serve-image", "b", "--data", "d", "-H", "lambda",
                   env=clean_aws_env(tmp_path), cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("--hyperparameter takes KEY=VALUE, got 'lambda'")


def test_the_readme_shows_the_example_code_verbatim():
    """Each ``python`` block of the README's SDK v3 section is code of the example (indented as a function body)."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### With the SageMaker Python SDK (v3)", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    source = EXAMPLE.read_text()
    assert len(blocks) == 4
    for block in blocks:
        assert textwrap.indent(block, "    ") in source, block
