"""``python -m serving`` deploy / train-job / invoke / delete against moto's server.

The AWS commands run as real subprocesses talking to ``moto_server`` on
loopback (tests/support/moto_server.py); the test checks what they did with
boto3's describe calls. What moto cannot do (UpdateEndpoint is not
implemented; InvokeEndpoint returns canned bodies, never runs a container;
training jobs are Completed at once) is noted where it matters.
docker/build_and_push.sh has its own file (test_serving_build_and_push.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clirun import closed_port
from moto_server import ACCOUNT, IMAGE, REGION, ROLE, deploy_args, model_tarball, moto, one_error_line, serving, unique  # noqa: F401 - the fixtures


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


def test_deploy_serverless_sends_a_serverless_config_and_no_instances(moto, tmp_path):
    endpoint = unique("qb")
    result = serving(moto, *deploy_args(endpoint, "s3://somewhere/model.tar.gz", "--serverless", "--memory-size", "3072",
                                        "--max-concurrency", "20"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"serverless with the lean image {IMAGE}: cold starts are where its 0.2-0.5 s start pays" in result.stdout
    assert "(serverless, 3072 MB, at most 20 concurrent invocations)" in result.stdout
    sm = moto.client("sagemaker")
    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 20}
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant


def test_the_exact_endpoint_config_requests():
    from serving._deploy import endpoint_config_request
    from serving._specs import DeploySpec

    common = dict(image_uri=IMAGE, model_data="s3://b/model.tar.gz", role=ROLE, endpoint_name="qb")
    serverless = DeploySpec(**common, serverless_memory_mb=1024, serverless_max_concurrency=1)
    assert endpoint_config_request(serverless, "qb-1") == {
        "EndpointConfigName": "qb-1",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "qb-1", "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}],
    }
    asynchronous = DeploySpec(**common, instance_type="ml.c5.large", async_output="s3://results/qb/")
    assert endpoint_config_request(asynchronous, "qb-2") == {
        "EndpointConfigName": "qb-2",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "qb-2", "InstanceType": "ml.c5.large",
                                "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}],
        "AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://results/qb/", "S3FailurePath": "s3://results/qb/failures/"}},
    }


def test_deploy_async_sends_the_output_location(moto, tmp_path):
    endpoint = unique("qb")
    result = serving(moto, *deploy_args(endpoint, "s3://somewhere/model.tar.gz", "--async-output", "s3://results/async/"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "asynchronous: results under s3://results/async/, failures under .../failures/" in result.stdout
    sm = moto.client("sagemaker")
    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])
    assert config["AsyncInferenceConfig"]["OutputConfig"] == {"S3OutputPath": "s3://results/async/", "S3FailurePath": "s3://results/async/failures/"}


@pytest.mark.parametrize(
    "options,message",
    [
        (("--serverless", "--memory-size", "1500"), "--memory-size 1500: a serverless endpoint takes 1024, 2048, 3072, 4096, 5120, 6144 MB"),
        (("--serverless", "--max-concurrency", "0"), "--max-concurrency 0: a serverless endpoint takes 1 to 200 concurrent invocations"),
        (("--serverless", "--max-concurrency", "201"), "--max-concurrency 201: a serverless endpoint takes 1 to 200"),
        (("--serverless", "--instance-type", "ml.m5.large"), "--serverless endpoints have no instances: drop --instance-type"),
        (("--serverless", "--async-output", "s3://r/x"), "--async-output needs an instance-backed endpoint"),
        (("--async-output", "s3://"), "no bucket in S3 URI"),
        (("--memory-size", "2048"), "--memory-size and --max-concurrency size a serverless endpoint: add --serverless"),
    ],
)
def test_serverless_and_async_options_are_checked_before_any_aws_call(moto, tmp_path, options, message):
    endpoint = unique("qb")
    result = serving(moto, *deploy_args(endpoint, "s3://somewhere/model.tar.gz", *options), cwd=tmp_path)
    assert result.returncode == 2 and message in one_error_line(result)
    sm = moto.client("sagemaker")
    assert not [e for e in sm.list_endpoints(MaxResults=100)["Endpoints"] if e["EndpointName"] == endpoint]
    assert not [c for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"] if c["EndpointConfigName"].startswith(endpoint)]


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
    # moto keeps no Environment of CreateTrainingJob: the request it got says what SageMaker would store
    (request,) = [json.loads(line) for line in moto.sagemaker_requests().splitlines() if job in line and '"RoleArn"' in line]
    assert request["Environment"] == {"DWAVE_API_TOKEN": "DEV-secret", "HYDRA_FULL_ERROR": "1"}
    assert ("warning: --environment DWAVE_API_TOKEN: the token is visible to anyone allowed to describe training jobs "
            "(DescribeTrainingJob, the console); prefer --dwave-token-secret NAME (Secrets Manager)") in result.stderr.splitlines()


def test_train_job_with_a_token_secret_sends_only_the_secret_name(moto, tmp_path):
    job = unique("qboost-secret-job")
    # the token is in this environment (as for --environment DWAVE_API_TOKEN), but the secret is asked for
    result = serving(moto, "train-job", "--image-uri", IMAGE, "--role", ROLE, "--job-name", job,
                     "--train", "s3://qb-data/wisc/train", "--hyperparameters", "sampler=qpu",
                     "--dwave-token-secret", "qboost/dwave-token", cwd=tmp_path, env=moto.env(DWAVE_API_TOKEN=LEAP_SHAPED_TOKEN))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    (request,) = [json.loads(line) for line in moto.sagemaker_requests().splitlines() if job in line and '"RoleArn"' in line]
    assert request["Environment"] == {"DWAVE_API_TOKEN_SECRET": "qboost/dwave-token"}
    assert request["HyperParameters"] == {"sampler": "qpu"}
    assert LEAP_SHAPED_TOKEN not in moto.sagemaker_requests() + result.stdout + result.stderr


#: Shaped like a D-Wave Leap token (prefix, dash, hex).
LEAP_SHAPED_TOKEN = "DEV-" + "0123456789abcdef" * 3


@pytest.mark.parametrize(
    "args,message",
    [
        (("--dwave-token-secret", "my token"),
         "--dwave-token-secret 'my token': not a Secrets Manager secret name or ARN (letters, digits and /_+=.@:- only)"),
        (("--dwave-token-secret", "qboost/t", "--environment", "DWAVE_API_TOKEN=x"),
         "--dwave-token-secret and --environment DWAVE_API_TOKEN both set the D-Wave token: give --dwave-token-secret alone"),
        (("--dwave-token-secret", "qboost/t", "--environment", "DWAVE_API_TOKEN_SECRET=other"),
         "--dwave-token-secret and --environment DWAVE_API_TOKEN_SECRET both set the D-Wave token: give --dwave-token-secret alone"),
        # the token itself where the name belongs (a slip with "$DWAVE_API_TOKEN"): refused, never echoed
        (("--dwave-token-secret", LEAP_SHAPED_TOKEN), "not the token: store it first (aws secretsmanager create-secret "
                                                      "--name NAME --secret-string ...)"),
        (("--dwave-token-secret", "PLAIN-token-from-env"), "not the token: store it first (aws secretsmanager create-secret "
                                                           "--name NAME --secret-string ...)"),
        (("--dwave-token-secret", "123e4567-e89b-12d3-a456-426614174000"), "not the token: store it first (aws "
                                                                           "secretsmanager create-secret --name NAME --secret-string ...)"),
        (("--environment", f"DWAVE_API_TOKEN_SECRET={LEAP_SHAPED_TOKEN}"),
         "--environment DWAVE_API_TOKEN_SECRET takes the name or ARN of the Secrets Manager secret holding the token, "
         "not the token: store it first (aws secretsmanager create-secret --name NAME --secret-string ...)"),
    ],
)
def test_train_job_token_secret_refusals(moto, tmp_path, args, message):
    sent_before = moto.sagemaker_requests()
    result = serving(moto, "train-job", "--image-uri", IMAGE, "--role", ROLE, "--train", "s3://qb-data/wisc/train",
                     *args, cwd=tmp_path, env=moto.env(DWAVE_API_TOKEN="PLAIN-token-from-env"))
    assert one_error_line(result).endswith(message)
    assert LEAP_SHAPED_TOKEN not in result.stdout + result.stderr and "PLAIN-token-from-env" not in result.stderr
    assert moto.sagemaker_requests() == sent_before  # refused before any call


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
        assert "--dwave-token-secret NAME" in line
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


def test_invoke_async_puts_the_input_in_s3_and_prints_the_answer_it_polls(moto, tmp_path):
    endpoint = unique("qb")
    moto.queue_async_results((False, "1\n0"), (True, "ValueError: the model refused row 1"))
    data = tmp_path / "test.csv"
    data.write_text("1,1.0,2.0\n0,3.0,4.0\n")  # training layout: the label first
    result = serving(moto, "invoke", "--endpoint-name", endpoint, "--file", str(data), "--labelled", "--async",
                     "--async-input", "s3://qboost-async/in/", "--poll-seconds", "0.1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n0\n"
    assert "queued s3://qboost-async/in/" in result.stderr
    (uploaded,) = moto.client("s3").list_objects_v2(Bucket="qboost-async", Prefix="in/")["Contents"]
    assert uploaded["Key"].startswith(f"in/{endpoint}-") and uploaded["Key"].endswith(".csv")
    body = moto.client("s3").get_object(Bucket="qboost-async", Key=uploaded["Key"])["Body"].read()
    assert body == b"1.0,2.0\n3.0,4.0\n"  # the features only
    failed = serving(moto, "invoke", "--endpoint-name", endpoint, "--file", str(data), "--async", "--poll-seconds", "0.1", cwd=tmp_path)
    assert failed.returncode != 0
    line = one_error_line(failed)
    assert "the asynchronous inference failed" in line and "ValueError: the model refused row 1" in line


def test_invoke_async_options_need_async(moto, tmp_path):
    data = tmp_path / "test.csv"
    data.write_text("1.0,2.0\n")
    result = serving(moto, "invoke", "--endpoint-name", unique("qb"), "--file", str(data), "--async-input", "s3://b/in", cwd=tmp_path)
    assert "--async-input needs --async" in one_error_line(result)


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
    # Named by file: a 6 MiB content in the test id would reach PYTEST_CURRENT_TEST, and no child process could start.
    ids=["no-content-type", "over-6-MiB", "empty", "absent"],
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
