"""``python -m serving`` deploy / train-job / invoke / delete against moto's server, and build_and_push.sh.

The AWS commands run as real subprocesses talking to ``moto_server`` on
loopback (``pip install "moto[server]"``); the test checks what they did with
boto3's describe calls. What moto cannot do (UpdateEndpoint is not
implemented; InvokeEndpoint returns canned bodies, never runs a container;
training jobs are Completed at once) is noted where it matters.

docker/build_and_push.sh runs with fake ``aws`` and ``docker`` programs first
on PATH that log their arguments, and must pass shellcheck.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import urllib.request
import uuid
from pathlib import Path

import pytest

from clirun import REPO, closed_port
import system_packages
from services import apt_install, free_port, skip_or_fail, wait_for_http

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE = f"arn:aws:iam::{ACCOUNT}:role/qboost-sagemaker"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/qboost-sagemaker:latest"
SCRIPT = REPO / "docker" / "build_and_push.sh"


# ------------------------------------------------------------------------ fixtures


class Moto:
    """A running moto server: its URL, and boto3 clients and a CLI environment pointed at it."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: fake credentials, the region, no user AWS config, no proxy for loopback."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
        base.update({
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(self.home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        base.update(extra)
        return base

    def client(self, service: str):
        import boto3

        return boto3.client(
            service, region_name=REGION, endpoint_url=self.url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def queue_invoke_results(self, *bodies: str) -> None:
        """Make moto's InvokeEndpoint answer these bodies, in order (its test-only API)."""
        payload = {
            "account_id": ACCOUNT, "region": REGION,
            "results": [{"Body": b, "ContentType": "text/csv", "InvokedProductionVariant": "AllTraffic", "CustomAttributes": ""} for b in bodies],
        }
        request = urllib.request.Request(
            f"{self.url}/moto-api/static/sagemaker/endpoint-results",
            data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            assert response.status in (200, 201)


def _moto_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script), "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    try:
        import boto3  # noqa: F401
        import flask  # noqa: F401  (moto's server mode)
        import moto as _moto  # noqa: F401
    except ImportError as exc:
        skip_or_fail(f"moto's server mode is not installed ({exc}): pip install 'moto[server]'")
    root = tmp_path_factory.mktemp("moto")
    port = free_port()
    log_path = root / "moto.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            _moto_command(port), cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/data.json", 60, process=process, log_path=log_path)
        yield Moto(url, root)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def serving(moto: Moto, *args: str, cwd: Path, env: dict[str, str] | None = None, endpoint: bool = True) -> subprocess.CompletedProcess:
    """``python -m serving ARGS`` in a fresh process, against moto unless ``endpoint=False``."""
    extra = ["--endpoint-url", moto.url] if endpoint else []
    return subprocess.run(
        [sys.executable, "-m", "serving", *args, *extra],
        cwd=cwd, env=env if env is not None else moto.env(), capture_output=True, text=True, timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single ``error:`` line of a failed command (and no traceback)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def model_tarball(tmp_path) -> Path:
    """A small model.tar.gz (deploy only uploads it; moto never runs a container)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(model / "MLmodel", arcname="MLmodel")
    return path


def deploy_args(endpoint: str, model_data: str, *more: str) -> list[str]:
    return ["deploy", "--image-uri", IMAGE, "--model-data", model_data, "--role", ROLE,
            "--endpoint-name", endpoint, "--wait-delay", "1", *more]


# -------------------------------------------------------------------------- deploy


def test_deploy_uploads_the_model_and_creates_model_config_and_endpoint(moto, tmp_path, model_tarball):
    endpoint = unique("qb")
    result = serving(moto, *deploy_args(
        endpoint, str(model_tarball), "--bucket", "qboost-models", "--prefix", "exp",
        "--instance-type", "ml.c5.xlarge", "--instance-count", "2",
        "--model-server-workers", "3", "--environment", "FOO=bar", "MLFLOW_SERVING=1",
    ), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"endpoint {endpoint} is InService" in result.stdout
    assert "created S3 bucket qboost-models" in result.stdout

    sm, s3 = moto.client("sagemaker"), moto.client("s3")
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    name = described["EndpointConfigName"]
    assert name.startswith(f"{endpoint}-")
    config = sm.describe_endpoint_config(EndpointConfigName=name)
    (variant,) = config["ProductionVariants"]
    assert variant["ModelName"] == name and variant["InstanceType"] == "ml.c5.xlarge" and variant["InitialInstanceCount"] == 2
    model = sm.describe_model(ModelName=name)
    container = model["PrimaryContainer"]
    assert model["ExecutionRoleArn"] == ROLE
    assert container["Image"] == IMAGE
    assert container["ModelDataUrl"] == f"s3://qboost-models/exp/{name}/model.tar.gz"
    assert container["Environment"] == {"MODEL_SERVER_WORKERS": "3", "FOO": "bar", "MLFLOW_SERVING": "1"}
    uploaded = s3.get_object(Bucket="qboost-models", Key=f"exp/{name}/model.tar.gz")["Body"].read()
    assert uploaded == model_tarball.read_bytes()


def test_deploy_from_a_build_directory_to_the_default_bucket(moto, tmp_path, model_tarball):
    # `--model-data build/sagemaker` finds model.tar.gz in it; no --bucket: sagemaker-REGION-ACCOUNT.
    endpoint = unique("qb")
    result = serving(moto, *deploy_args(endpoint, str(model_tarball.parent), "--no-wait"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not waiting" in result.stdout and "InService" not in result.stdout
    sm = moto.client("sagemaker")
    name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    url = sm.describe_model(ModelName=name)["PrimaryContainer"]["ModelDataUrl"]
    assert url == f"s3://sagemaker-{REGION}-{ACCOUNT}/qboost/{name}/model.tar.gz"
    moto.client("s3").head_object(Bucket=f"sagemaker-{REGION}-{ACCOUNT}", Key=f"qboost/{name}/model.tar.gz")


def test_deploy_refuses_an_existing_endpoint_without_update(moto, tmp_path):
    endpoint = unique("qb")
    model_data = "s3://somewhere/model.tar.gz"  # an S3 URI is used as is (no upload)
    first = serving(moto, *deploy_args(endpoint, model_data), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    sm = moto.client("sagemaker")
    models_before = {m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]}
    again = serving(moto, *deploy_args(endpoint, model_data), cwd=tmp_path)
    line = one_error_line(again)
    assert f"endpoint {endpoint} already exists (InService)" in line and "--update" in line
    assert {m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]} == models_before


def test_deploy_update_replaces_the_config_or_rolls_back(moto, tmp_path):
    endpoint = unique("qb")
    first = serving(moto, *deploy_args(endpoint, "s3://somewhere/v1.tar.gz"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    sm = moto.client("sagemaker")
    old_config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    update = serving(moto, *deploy_args(endpoint, "s3://somewhere/v2.tar.gz", "--update"), cwd=tmp_path)
    if update.returncode == 0:  # a moto (or AWS) that implements UpdateEndpoint
        new_config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        assert new_config != old_config
        assert sm.describe_model(ModelName=new_config)["PrimaryContainer"]["ModelDataUrl"] == "s3://somewhere/v2.tar.gz"
        return
    # moto 5 does not implement UpdateEndpoint (HTTP 500): the error is one line, and
    # the model and config this deploy created are deleted again.
    line = one_error_line(update)
    assert "UpdateEndpoint failed" in line
    assert "rolled back: deleted endpoint config" in update.stderr and "rolled back: deleted model" in update.stderr
    models = {m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"] if m["ModelName"].startswith(endpoint)}
    configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]
               if c["EndpointConfigName"].startswith(endpoint)}
    assert models == configs == {old_config}
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == old_config


@pytest.mark.parametrize(
    "endpoint,model_data,message",
    [
        ("bad_name", "s3://b/model.tar.gz", "invalid endpoint name 'bad_name'"),
        ("qb-ok", "missing.tar.gz", "--model-data missing.tar.gz: no such file"),
        ("qb-ok", "s3://", "no bucket in S3 URI"),
    ],
)
def test_deploy_rejects_bad_arguments_before_any_aws_call(moto, tmp_path, endpoint, model_data, message):
    result = serving(moto, *deploy_args(endpoint, model_data), cwd=tmp_path)
    assert message in one_error_line(result)


# -------------------------------------------------------------------------- delete


def test_delete_removes_endpoint_config_and_model_and_tolerates_missing(moto, tmp_path):
    endpoint = unique("qb")
    assert serving(moto, *deploy_args(endpoint, "s3://somewhere/model.tar.gz"), cwd=tmp_path).returncode == 0
    sm = moto.client("sagemaker")
    name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]

    result = serving(moto, "delete", "--endpoint-name", endpoint, "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for line in (f"deleted endpoint {endpoint}", f"deleted endpoint config {name}", f"deleted model {name}", "is gone"):
        assert line in result.stdout
    from botocore.exceptions import ClientError

    for call, key in ((sm.describe_endpoint, "EndpointName"), (sm.describe_endpoint_config, "EndpointConfigName"), (sm.describe_model, "ModelName")):
        with pytest.raises(ClientError, match="Could not find"):
            call(**{key: endpoint if key == "EndpointName" else name})

    again = serving(moto, "delete", "--endpoint-name", endpoint, "--model-name", name, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"endpoint {endpoint}: not found" in again.stdout and f"model {name}: not found" in again.stdout


# ---------------------------------------------------------------------- train-job


def test_train_job_sends_string_hyperparameters_channels_and_waits(moto, tmp_path):
    job = unique("qboost-job")
    env = moto.env(DWAVE_API_TOKEN="DEV-secret")
    result = serving(moto, "train-job", "--image-uri", IMAGE, "--role", ROLE, "--job-name", job,
                     "--train", "s3://qb-data/wisc/train", "--validation", "s3://qb-data/wisc/validation",
                     "--hyperparameters", "sampler=qpu", "lambda=0.1", "sampler.params.num_reads=100",
                     "--environment", "DWAVE_API_TOKEN", "HYDRA_FULL_ERROR=1",
                     "--instance-type", "ml.m5.xlarge", "--volume-size", "10", "--max-runtime", "3600",
                     "--wait", "--poll-seconds", "0.2", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "DEV-secret" not in result.stdout + result.stderr  # the token is never printed
    described = moto.client("sagemaker").describe_training_job(TrainingJobName=job)
    assert described["HyperParameters"] == {"sampler": "qpu", "lambda": "0.1", "sampler.params.num_reads": "100"}
    assert all(isinstance(v, str) for v in described["HyperParameters"].values())
    assert described["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert described["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert described["RoleArn"] == ROLE
    channels = {c["ChannelName"]: c for c in described["InputDataConfig"]}
    assert set(channels) == {"training", "validation"}
    assert channels["training"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://qb-data/wisc/train"
    assert channels["validation"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://qb-data/wisc/validation"
    assert {c["ContentType"] for c in channels.values()} == {"text/csv"}
    assert described["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10}
    assert described["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600
    output = f"s3://sagemaker-{REGION}-{ACCOUNT}/qboost/training-output"
    assert described["OutputDataConfig"]["S3OutputPath"] == output
    moto.client("s3").head_bucket(Bucket=f"sagemaker-{REGION}-{ACCOUNT}")  # created for the default output
    # moto completes jobs at once; --wait reports the artifacts to deploy.
    assert f"training job {job}: Completed" in result.stdout
    assert f"model artifacts: {output}/{job}/output/model.tar.gz" in result.stdout
    # (moto does not keep the Environment of CreateTrainingJob, so it cannot be checked here.)


@pytest.mark.parametrize(
    "hyperparameters,message",
    [
        (("dwave_api_token=DEV-secret",), "looks like a credential"),
        (("sampler.init.token=DEV-secret",), "looks like a credential"),
        (("lambda",), "--hyperparameters expects KEY=VALUE"),
        (("lambda=0.1", "lambda=0.2"), "given twice"),
    ],
)
def test_train_job_refuses_bad_hyperparameters(moto, tmp_path, hyperparameters, message):
    job = unique("qboost-job")
    result = serving(moto, "train-job", "--image-uri", IMAGE, "--role", ROLE, "--job-name", job,
                     "--train", "s3://qb-data/train", "--hyperparameters", *hyperparameters, cwd=tmp_path)
    line = one_error_line(result)
    assert message in line and "DEV-secret" not in line
    if "credential" in message:
        assert "--environment DWAVE_API_TOKEN" in line
    names = [j["TrainingJobName"] for j in moto.client("sagemaker").list_training_jobs(MaxResults=100)["TrainingJobSummaries"]]
    assert job not in names


def test_train_job_role_from_the_environment(moto, tmp_path):
    job = unique("qboost-job")
    env = moto.env(SAGEMAKER_ROLE_ARN=ROLE)
    result = serving(moto, "train-job", "--image-uri", IMAGE, "--job-name", job, "--train", "s3://qb-data/train",
                     "--output", "s3://qb-out/jobs", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    described = moto.client("sagemaker").describe_training_job(TrainingJobName=job)
    assert described["RoleArn"] == ROLE and described["OutputDataConfig"]["S3OutputPath"] == "s3://qb-out/jobs"
    assert described["HyperParameters"] == {}
    missing = serving(moto, "train-job", "--image-uri", IMAGE, "--train", "s3://qb-data/train", cwd=tmp_path)
    assert "--role" in one_error_line(missing)


# -------------------------------------------------------------------------- invoke


def test_invoke_prints_the_response_body(moto, tmp_path):
    endpoint = unique("qb")
    moto.queue_invoke_results("1\n0\n1")
    data = tmp_path / "test.csv"
    data.write_text("1.0,2.0\n3.0,4.0\n5.0,6.0\n")
    result = serving(moto, "invoke", "--endpoint-name", endpoint, "--file", str(data),
                     "--accept", "text/csv", "--custom-attributes", "trace=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n0\n1\n"


def test_invoke_splits_a_large_csv_into_line_aligned_requests(moto, tmp_path):
    endpoint = unique("qb")
    moto.queue_invoke_results("part-one", "part-two")
    row = ",".join(["0.123456789"] * 20) + "\n"  # 240 bytes
    data = tmp_path / "big.csv"
    data.write_text(row * (7 * 1024 * 1024 // len(row)))  # ~7 MiB: over the 6 MiB limit
    result = serving(moto, "invoke", "--endpoint-name", endpoint, "--file", str(data), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "part-one\npart-two\n"
    assert "in 2 requests" in result.stderr
    refused = serving(moto, "invoke", "--endpoint-name", endpoint, "--file", str(data), "--no-split", cwd=tmp_path)
    assert "over InvokeEndpoint's 6 MiB limit" in one_error_line(refused)


def test_invoke_labelled_csv_sends_the_features_only():
    from serving._errors import ServingError
    from serving._invoke import drop_first_column

    assert drop_first_column(b"1,2.5,3\r\n0,4,5\n\n") == b"2.5,3\n4,5\n"
    with pytest.raises(ServingError, match="line 2 has a single column"):
        drop_first_column(b"1,2\n0\n")


def test_invoke_chunks_are_whole_lines():
    from serving._invoke import csv_chunks

    data = b"".join(f"{i},{i * 2}\n".encode() for i in range(1000))
    chunks = list(csv_chunks(data, limit=100))
    assert b"".join(chunks) == data
    assert all(len(c) <= 100 and c.endswith(b"\n") for c in chunks)


@pytest.mark.parametrize(
    "name,content,extra,message",
    [
        ("rows.txt", "1,2\n", (), "pass --content-type"),
        ("big.json", "x" * (6 * 1024 * 1024 + 1), (), "over InvokeEndpoint's 6 MiB limit"),
        ("empty.csv", "", (), "is empty"),
        ("absent.csv", None, (), "no such file"),
    ],
)
def test_invoke_rejects_unusable_files(moto, tmp_path, name, content, extra, message):
    if content is not None:
        (tmp_path / name).write_text(content)
    result = serving(moto, "invoke", "--endpoint-name", "qb-any", "--file", str(tmp_path / name), *extra, cwd=tmp_path)
    assert message in one_error_line(result)


# ---------------------------------------------- failures moto cannot produce (Stubber)


def stubbed_sagemaker():
    """A real botocore SageMaker client whose answers are queued by hand (moto never fails a job or endpoint)."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    return client, Stubber(client)


def test_wait_for_a_training_job_reports_its_failure_reason(capsys):
    from datetime import datetime, timezone

    from serving._errors import ServingError
    from serving._training import wait_for_training_job

    sm, stub = stubbed_sagemaker()
    job = {
        "TrainingJobName": "qb-job", "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/qb-job",
        "ModelArtifacts": {"S3ModelArtifacts": ""}, "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"VolumeSizeInGB": 30}, "StoppingCondition": {}, "CreationTime": datetime.now(timezone.utc),
    }
    stub.add_response("describe_training_job", {**job, "TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"})
    stub.add_response("describe_training_job", {
        **job, "TrainingJobStatus": "Failed", "SecondaryStatus": "Failed",
        "FailureReason": "AlgorithmError: error: sampler=qpu needs a D-Wave Leap API token",
    })
    with stub, pytest.raises(ServingError) as caught:
        wait_for_training_job(sm, "qb-job", poll_s=0)
    assert "training job qb-job failed: AlgorithmError: error: sampler=qpu needs a D-Wave Leap API token" in str(caught.value)
    assert "qb-job: InProgress (Training)" in capsys.readouterr().out


def test_wait_for_an_endpoint_reports_its_failure_reason():
    from datetime import datetime, timezone

    from serving._deploy import wait_in_service
    from serving._errors import ServingError

    sm, stub = stubbed_sagemaker()
    now = datetime.now(timezone.utc)
    failed = {
        "EndpointName": "qb", "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/qb", "EndpointStatus": "Failed",
        "FailureReason": "The primary container for production variant AllTraffic did not pass the ping health check.",
        "CreationTime": now, "LastModifiedTime": now,
    }
    stub.add_response("describe_endpoint", failed)  # the waiter's poll: Failed ends it
    stub.add_response("describe_endpoint", failed)  # our look-up of the reason
    with stub, pytest.raises(ServingError) as caught:
        wait_in_service(sm, "qb", delay=1, attempts=2)
    message = str(caught.value)
    assert "did not reach InService (now Failed): The primary container" in message
    assert "/aws/sagemaker/Endpoints/qb" in message


# ---------------------------------------------------------------- errors and config


def test_aws_endpoint_url_from_the_environment(moto, tmp_path):
    # botocore reads AWS_ENDPOINT_URL itself: no --endpoint-url needed.
    endpoint = unique("qb")
    env = moto.env(AWS_ENDPOINT_URL=moto.url)
    result = serving(moto, *deploy_args(endpoint, "s3://somewhere/model.tar.gz"), cwd=tmp_path, env=env, endpoint=False)
    assert result.returncode == 0, result.stderr
    assert moto.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


def test_missing_credentials_region_and_endpoint_are_one_line_errors(moto, tmp_path):
    no_keys = moto.env()
    del no_keys["AWS_ACCESS_KEY_ID"], no_keys["AWS_SECRET_ACCESS_KEY"]
    line = one_error_line(serving(moto, "delete", "--endpoint-name", "qb-x", cwd=tmp_path, env=no_keys))
    assert "no usable AWS credentials" in line and "aws configure" in line

    no_region = moto.env()
    del no_region["AWS_DEFAULT_REGION"]
    line = one_error_line(serving(moto, "delete", "--endpoint-name", "qb-x", cwd=tmp_path, env=no_region))
    assert "no AWS region" in line and "--region" in line

    with closed_port() as port:  # refuses connections throughout: no other process can listen there meanwhile
        closed = f"http://127.0.0.1:{port}"
        result = subprocess.run(
            [sys.executable, "-m", "serving", "invoke", "--endpoint-name", "qb-x", "--file", __file__,
             "--content-type", "text/plain", "--endpoint-url", closed],
            cwd=tmp_path, env=moto.env(), capture_output=True, text=True, timeout=120,
        )
    assert "Could not connect to the endpoint URL" in one_error_line(result)


def test_an_aws_error_names_the_operation_code_and_message(moto, tmp_path, model_tarball):
    # S3 refuses a 2-character bucket name; nothing is created in SageMaker after that.
    endpoint = unique("qb")
    result = serving(moto, *deploy_args(endpoint, str(model_tarball), "--bucket", "ab"), cwd=tmp_path)
    line = one_error_line(result)
    assert line == "error: cannot create the S3 bucket ab in eu-west-1: CreateBucket failed with InvalidBucketName: The specified bucket is not valid."
    models = moto.client("sagemaker").list_models(MaxResults=100)["Models"]
    assert not [m for m in models if m["ModelName"].startswith(endpoint)]


# ---------------------------------------------------------------- build_and_push.sh


def ensure_shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found:
        return found
    apt_install(system_packages.PACKAGES["shellcheck"])
    found = shutil.which("shellcheck")
    if not found:
        skip_or_fail("apt-get installed shellcheck but it is not on PATH")
    return found


def test_build_and_push_is_shellcheck_clean():
    shellcheck = ensure_shellcheck()
    result = subprocess.run([shellcheck, "--severity=style", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.access(SCRIPT, os.X_OK), "docker/build_and_push.sh must be executable"


FAKE_AWS = r"""#!/usr/bin/env bash
echo "aws $*" >> "$CALLS"
case "$1 $2" in
  "sts get-caller-identity") echo "${FAKE_ACCOUNT:-123456789012}" ;;
  "ecr describe-repositories")
    if [[ "${FAKE_DESCRIBE:-missing}" == exists ]]; then echo '{"repositories": [{"repositoryName": "x"}]}';
    elif [[ "${FAKE_DESCRIBE}" == denied ]]; then
      echo "An error occurred (AccessDeniedException) when calling the DescribeRepositories operation: not allowed" >&2; exit 254;
    else
      echo "An error occurred (RepositoryNotFoundException) when calling the DescribeRepositories operation: The repository does not exist" >&2; exit 254;
    fi ;;
  "ecr create-repository") echo '{"repository": {"repositoryUri": "x"}}' ;;
  "ecr get-login-password") echo "fake-password" ;;
  "configure get") exit 1 ;;
  *) echo "fake aws: unexpected $*" >&2; exit 99 ;;
esac
"""

FAKE_DOCKER = r"""#!/usr/bin/env bash
if [[ "$1" == login ]]; then echo "docker $* stdin=$(cat)" >> "$CALLS"; echo "Login Succeeded"; exit 0; fi
echo "docker $*" >> "$CALLS"
echo "fake docker output for $1"
"""


@pytest.fixture
def fake_tools(tmp_path):
    """A PATH whose first directory holds logging fakes of `aws` and `docker`, and a build context."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name, text in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    context = tmp_path / "build" / "sagemaker"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM scratch\n")
    calls = tmp_path / "calls.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls), "HOME": str(tmp_path)})

    def run(*args: str, **extra: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        result = subprocess.run([str(SCRIPT), *args], cwd=tmp_path, env={**env, **extra}, capture_output=True, text=True, timeout=60)
        return result, calls.read_text().splitlines() if calls.exists() else []

    return run


def test_build_and_push_creates_the_repository_logs_in_builds_both_targets_tags_and_pushes(fake_tools):
    result, calls = fake_tools("qboost-sagemaker", "eu-west-1")
    assert result.returncode == 0, result.stderr
    repo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/qboost-sagemaker"
    assert result.stdout == f"{repo}:serve\n{repo}:full\n"  # stdout: the serving image, then the training image
    assert calls == [
        "aws sts get-caller-identity --query Account --output text",
        "aws ecr describe-repositories --repository-names qboost-sagemaker --region eu-west-1",
        "aws ecr create-repository --repository-name qboost-sagemaker --region eu-west-1",
        "aws ecr get-login-password --region eu-west-1",
        "docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com stdin=fake-password",
        # full first: the serve target reuses the shared stage's layers
        "docker build --platform linux/amd64 --target full -t qboost-sagemaker:full build/sagemaker",
        f"docker tag qboost-sagemaker:full {repo}:full",
        "docker build --platform linux/amd64 --target serve -t qboost-sagemaker:serve build/sagemaker",
        f"docker tag qboost-sagemaker:serve {repo}:serve",
        f"docker push {repo}:full",
        f"docker push {repo}:serve",
    ]


def test_build_and_push_reuses_an_existing_repository_and_takes_region_tag_and_context(fake_tools, tmp_path):
    other = tmp_path / "ctx"
    other.mkdir()
    (other / "Dockerfile").write_text("FROM scratch\n")
    result, calls = fake_tools("team/qboost", "", str(other), FAKE_DESCRIBE="exists", AWS_DEFAULT_REGION="cn-north-1", IMAGE_TAG="v7")
    assert result.returncode == 0, result.stderr
    repo = "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/qboost"
    assert result.stdout == f"{repo}:v7-serve\n{repo}:v7-full\n"
    assert not any("create-repository" in c for c in calls)
    assert f"docker build --platform linux/amd64 --target serve -t team/qboost:v7-serve {other}" in calls
    assert calls[-1] == f"docker push {repo}:v7-serve"


def test_build_and_push_builds_only_the_full_image_for_a_model_that_does_not_compile(fake_tools, tmp_path):
    context = tmp_path / "build" / "sagemaker"
    (context / "build-info.json").write_text('{\n  "image_target": "full",\n  "compiled": false\n}\n')
    result, calls = fake_tools("qboost-sagemaker", "eu-west-1")
    assert result.returncode == 0, result.stderr
    repo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/qboost-sagemaker"
    assert result.stdout == f"{repo}:full\n{repo}:full\n"  # it serves and trains
    assert "does not compile" in result.stderr
    assert not any("--target serve" in c or c.endswith(":serve") for c in calls)


@pytest.mark.parametrize(
    "args,extra,message",
    [
        ((), {}, "usage:"),
        (("a", "b", "c", "d"), {}, "usage:"),
        (("Bad_Name", "eu-west-1"), {}, "invalid repository name"),
        (("qboost", "eu-west-1", "nowhere"), {}, "no Dockerfile in 'nowhere'"),
        (("qboost",), {}, "no AWS region"),
        (("qboost", "eu-west-1"), {"FAKE_DESCRIBE": "denied"}, "AccessDeniedException"),
        (("qboost", "eu-west-1"), {"FAKE_ACCOUNT": "None"}, "unexpected account id"),
    ],
)
def test_build_and_push_stops_with_a_message(fake_tools, args, extra, message):
    result, calls = fake_tools(*args, **extra)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr and result.stdout == ""
    assert not any(c.startswith(("aws ecr create-repository", "docker")) for c in calls)


# ------------------------------------------------------------------ which image for what


def test_deploy_takes_the_serve_tag_and_train_job_the_full_tag_of_an_untagged_repository(moto, tmp_path, model_tarball):
    repo = IMAGE.rsplit(":", 1)[0]
    endpoint = unique("qb")
    result = serving(moto, "deploy", "--image-uri", repo, "--model-data", str(model_tarball), "--role", ROLE,
                     "--endpoint-name", endpoint, "--no-wait", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"--image-uri has no tag: using {repo}:serve (the lean serving image)" in result.stdout
    sm = moto.client("sagemaker")
    name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    assert sm.describe_model(ModelName=name)["PrimaryContainer"]["Image"] == f"{repo}:serve"

    job = unique("qboost-job")
    result = serving(moto, "train-job", "--image-uri", repo, "--role", ROLE, "--job-name", job, "--train", "s3://qb-data/train",
                     "--output", "s3://qb-data/out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sm.describe_training_job(TrainingJobName=job)["AlgorithmSpecification"]["TrainingImage"] == f"{repo}:full"


@pytest.mark.parametrize("tag, full", [("serve", "full"), ("v7-serve", "v7-full")])
def test_train_job_refuses_the_lean_serve_image(moto, tmp_path, tag, full):
    repo = IMAGE.rsplit(":", 1)[0]
    result = serving(moto, "train-job", "--image-uri", f"{repo}:{tag}", "--role", ROLE, "--train", "s3://qb-data/train",
                     "--output", "s3://qb-data/out", cwd=tmp_path)
    assert result.returncode == 2
    assert "is the lean serving image, which cannot train" in result.stderr and f"{repo}:{full}" in result.stderr


def test_image_for_keeps_tags_and_digests():
    from serving._deploy import image_for

    assert image_for("r.example/a/b:v1", "serve") == "r.example/a/b:v1"
    assert image_for("r.example:5000/a/b", "full") == "r.example:5000/a/b:full"
    digest = "r.example/a/b@sha256:" + "0" * 64
    assert image_for(digest, "full") == digest
