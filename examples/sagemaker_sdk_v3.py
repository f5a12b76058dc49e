"""qboost-exp's images with the SageMaker Python SDK v3: train, deploy, invoke, Batch Transform.

``pip install 'qboost-exp[sagemaker-sdk]'`` brings the SDK (``sagemaker>=3``). Two ways to run it:

* ``local``: the SDK's local container mode, on this machine, with no AWS account.
  It needs Docker, or podman's Docker API (``podman system service``), and
  ``docker-compose``; the images come from ``docker/build_and_push.sh`` or
  ``podman build --target full`` / ``--target serve``::

      python examples/sagemaker_sdk_v3.py local --train-image qboost:full --serve-image qboost:serve \\
             --data data/ --work build/sdk-v3

* ``aws``: the same steps as SageMaker jobs and endpoints (real-time, or
  ``--serverless``), with the images in ECR and the data in S3::

      python examples/sagemaker_sdk_v3.py aws --train-image REPO:full --serve-image REPO:serve \\
             --data s3://BUCKET/qboost/ --role ARN [--serverless]

Locally ``--data`` is a folder with ``train.csv`` and ``test.csv`` as
``python -m qboost_exp.data`` writes them (label first, no header); on AWS it is
an ``s3://`` prefix with the training channel under ``train/`` and ``test.csv``
beside it. The example writes the Batch Transform input (test.csv's features,
no label) to ``batch/NAME/`` there and the answers to ``batch-out/NAME/``; on
AWS it deletes the endpoint, its config and the model at the end, also after
a failure. Each step prints
one line of what it got.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HYPERPARAMETERS = {"sampler": "neal", "lambda": 0.1, "weak_learners": "trees"}
AWS_INSTANCE = "ml.m5.large"


# --- train: ModelTrainer runs the full image; with no command the image sees the
# --- training mounts and runs `train` (its first log line says so).
def train_local(image: str, train_dir: Path, job_root: Path, hyperparameters: dict) -> Path:
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData
    from sagemaker.train.model_trainer import Mode

    trainer = ModelTrainer(
        training_image=image,
        training_mode=Mode.LOCAL_CONTAINER,
        compute=Compute(instance_type="local", instance_count=1),
        hyperparameters=hyperparameters,
        base_job_name="qboost",
        local_container_root=str(job_root),
    )
    trainer.train(input_data_config=[InputData(channel_name="train", data_source=str(train_dir))])
    return job_root / "compressed_artifacts" / "model.tar.gz"


def train_aws(image: str, train_s3: str, output_s3: str, role: str, hyperparameters: dict, session) -> str:
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, OutputDataConfig

    trainer = ModelTrainer(
        training_image=image,
        role=role,
        sagemaker_session=session,
        compute=Compute(instance_type=AWS_INSTANCE, instance_count=1),
        hyperparameters=hyperparameters,
        base_job_name="qboost",
        output_data_config=OutputDataConfig(s3_output_path=output_s3),
    )
    trainer.train(input_data_config=[InputData(channel_name="train", data_source=train_s3)])
    return trainer._latest_training_job.model_artifacts.s3_model_artifacts  # the SDK's own docs read the job this way


# --- deploy on the lean image. Locally: ModelBuilder's local mode starts only the
# --- model servers it knows (TorchServe, Triton, DJL, TGI, MMS, ...), not a
# --- bring-your-own image, so sagemaker-core's LocalSession takes SageMaker's own
# --- CreateModel / CreateEndpointConfig / CreateEndpoint requests and runs any image.
def deploy_local(image: str, model_tar: Path, name: str, port: int, boto_session):
    from sagemaker.core.local import LocalSession

    session = LocalSession(boto_session=boto_session)  # a region, even locally: the SDK insists
    config = dict(session.config or {})
    session.config = {**config, "local": {**config.get("local", {}), "serving_port": port}}
    sm = session.sagemaker_client
    sm.create_model(ModelName=name, PrimaryContainer={
        "Image": image, "ModelDataUrl": model_tar.resolve().as_uri(), "Environment": {}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "local", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)

    def invoke(body: str, content_type: str) -> str:
        answer = session.sagemaker_runtime_client.invoke_endpoint(
            EndpointName=name, Body=body, ContentType=content_type, Accept=content_type)
        return answer["Body"].read().decode()

    return session, invoke, lambda: sm.delete_endpoint(EndpointName=name)


# --- On AWS, ModelBuilder with only an image and a model.tar.gz builds a
# --- pass-through model; serverless is one inference config (no instance type).
def deploy_aws(image: str, model_s3: str, role: str, name: str, serverless: bool, session):
    from sagemaker.core.inference_config import ServerlessInferenceConfig
    from sagemaker.serve.mode.function_pointers import Mode
    from sagemaker.serve.model_builder import ModelBuilder

    builder = ModelBuilder(image_uri=image, s3_model_data_url=model_s3, role_arn=role,
                           mode=Mode.SAGEMAKER_ENDPOINT, sagemaker_session=session)
    builder.build(model_name=name)
    if serverless:
        endpoint = builder.deploy(endpoint_name=name, inference_config=ServerlessInferenceConfig(
            memory_size_in_mb=2048, max_concurrency=5))
    else:
        endpoint = builder.deploy(endpoint_name=name, instance_type=AWS_INSTANCE, initial_instance_count=1)

    def invoke(body: str, content_type: str) -> str:
        answer = endpoint.invoke(body=body, content_type=content_type, accept=content_type)
        return answer.body.read().decode()

    return invoke


def delete_aws(session, name: str) -> None:
    """The endpoint, its config and the model named ``name``, whichever exist (also after a failed deploy)."""
    from botocore.exceptions import ClientError

    sm = session.boto_session.client("sagemaker")
    try:
        config = sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
        sm.delete_endpoint(EndpointName=name)
    except ClientError:  # never created
        config = name
    for delete, key, value in ((sm.delete_endpoint_config, "EndpointConfigName", config), (sm.delete_model, "ModelName", name)):
        try:
            delete(**{key: value})
        except ClientError:
            pass


# --- Batch Transform: v3's Transformer, the same code on both (header-less CSV,
# --- many rows a request, one answer line a row).
def transform(session, model_name: str, instance_type: str, input_uri: str, output_uri: str, job_name: str) -> None:
    from sagemaker.core.transformer import Transformer

    transformer = Transformer(
        model_name=model_name, instance_count=1, instance_type=instance_type,
        strategy="MultiRecord", assemble_with="Line", accept="text/csv", max_payload=6,
        output_path=output_uri, sagemaker_session=session,
    )
    transformer.transform(input_uri, content_type="text/csv", split_type="Line", job_name=job_name)


def features(test_csv: Path, count: int) -> list[list[float]]:
    """The first ``count`` rows of a ``qboost_exp.data`` CSV, without their label."""
    rows = test_csv.read_text().splitlines()[:count]
    return [[float(value) for value in row.split(",")[1:]] for row in rows]


def as_csv(rows: list[list[float]]) -> str:
    """Header-less CSV, one line a row, as Batch Transform and ``text/csv`` clients send it."""
    return "".join(",".join(repr(v) for v in row) + "\n" for row in rows)


def predict_both_ways(invoke, rows: list[list[float]]) -> None:
    by_csv = invoke(as_csv(rows), "text/csv").split()
    by_json = json.loads(invoke(json.dumps({"instances": rows}), "application/json"))["predictions"]
    print(f"invoke text/csv: {json.dumps(by_csv)}")
    print(f"invoke application/json: {json.dumps(by_json)}")


def run_local(args: argparse.Namespace, hyperparameters: dict) -> None:
    import boto3

    data, work = Path(args.data), Path(args.work).resolve()
    (work / "train").mkdir(parents=True, exist_ok=True)
    (work / "train" / "train.csv").write_bytes((data / "train.csv").read_bytes())
    model_tar = train_local(args.train_image, work / "train", work / "jobs", hyperparameters)
    print(f"trained: {model_tar}")

    boto_session = boto3.Session(region_name=args.region or boto3.Session().region_name or "us-east-1")
    session, invoke, delete = deploy_local(args.serve_image, model_tar, "qboost", args.port, boto_session)
    try:
        predict_both_ways(invoke, features(data / "test.csv", 5))
    finally:
        delete()

    (work / "batch").mkdir(exist_ok=True)
    (work / "batch" / "rows.csv").write_text(as_csv(features(data / "test.csv", args.rows)))
    transform(session, "qboost", "local", (work / "batch").as_uri(), (work / "batch-out").as_uri(), "qboost-batch")
    print(f"transformed: {work / 'batch-out' / 'rows.csv.out'}")


def run_aws(args: argparse.Namespace, hyperparameters: dict) -> None:
    import boto3
    from sagemaker.core.helper.session_helper import Session

    data = args.data.rstrip("/")
    session = Session(boto_session=boto3.Session(region_name=args.region))
    s3 = session.boto_session.client("s3")
    bucket, _, prefix = data.removeprefix("s3://").partition("/")
    # SageMaker's names are unique in an account and region: a stamp lets the example run again.
    name = f"qboost-{'serverless-' if args.serverless else ''}{time.strftime('%Y%m%d-%H%M%S')}"
    batch_in, batch_out = f"{prefix}/batch/{name}/", f"{data}/batch-out/{name}/"
    with tempfile.TemporaryDirectory() as scratch:
        test_csv = Path(scratch) / "test.csv"
        s3.download_file(bucket, f"{prefix}/test.csv", str(test_csv))
        s3.put_object(Bucket=bucket, Key=f"{batch_in}rows.csv", Body=as_csv(features(test_csv, args.rows)).encode())
        model_s3 = train_aws(args.train_image, f"{data}/train/", f"{data}/output/", args.role, hyperparameters, session)
        print(f"trained: {model_s3}")
        try:
            invoke = deploy_aws(args.serve_image, model_s3, args.role, name, args.serverless, session)
            print(f"deployed: {name}")
            predict_both_ways(invoke, features(test_csv, 5))
            transform(session, name, AWS_INSTANCE, f"s3://{bucket}/{batch_in}", batch_out, f"{name}-batch")
            print(f"transformed: {batch_out}")
        finally:
            delete_aws(session, name)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("where", choices=("local", "aws"))
    parser.add_argument("--train-image", required=True, help="the full image (trains)")
    parser.add_argument("--serve-image", required=True, help="the lean serve image")
    parser.add_argument("--data", required=True,
                        help="local: a folder with train.csv and test.csv; aws: an s3:// prefix with train/ and test.csv")
    parser.add_argument("--work", default="build/sdk-v3", help="local: where jobs and outputs go")
    parser.add_argument("--port", type=int, default=8080, help="local: the endpoint's port on this machine")
    parser.add_argument("--rows", type=int, default=100, help="rows of test.csv in the Batch Transform input")
    parser.add_argument("--region", help="the AWS region (default: AWS's configuration; local: else us-east-1)")
    parser.add_argument("--role", help="aws: the SageMaker execution role's ARN")
    parser.add_argument("--serverless", action="store_true", help="aws: a serverless endpoint")
    parser.add_argument("--hyperparameter", "-H", action="append", default=[], metavar="KEY=VALUE",
                        help="more hyperparameters (qboost-exp overrides), repeatable")
    args = parser.parse_args(argv)
    malformed = [item for item in args.hyperparameter if "=" not in item]
    if malformed:
        parser.error(f"--hyperparameter takes KEY=VALUE, got {malformed[0]!r}")
    if args.where == "aws" and not (args.role and args.data.startswith("s3://") and "/" in args.data[5:].strip("/")):
        parser.error("aws needs --role ARN and --data s3://BUCKET/PREFIX (a prefix under the bucket)")
    missing = [name for name in ("train.csv", "test.csv") if args.where == "local" and not (Path(args.data) / name).is_file()]
    if missing:
        parser.error(f"--data {args.data}: no {' or '.join(missing)} there (python -m qboost_exp.data wisc --out DIR writes both)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    hyperparameters = {**HYPERPARAMETERS, **dict(item.split("=", 1) for item in args.hyperparameter)}
    try:
        from botocore.exceptions import BotoCoreError, ClientError
        import sagemaker.train  # noqa: F401  (the SDK v3, before any work)
    except ImportError as error:
        print(f"sagemaker_sdk_v3: the SageMaker Python SDK v3 is not installed ({error}): "
              "pip install 'qboost-exp[sagemaker-sdk]'", file=sys.stderr)
        return 2
    from sagemaker.core.utils.exceptions import SageMakerCoreError

    try:
        (run_local if args.where == "local" else run_aws)(args, hyperparameters)
    except (BotoCoreError, ClientError, SageMakerCoreError, OSError, RuntimeError, ValueError, ImportError,
            subprocess.CalledProcessError) as error:
        # no credentials or region, access denied, no Docker or docker-compose, a failed job or endpoint, bad data
        print(f"sagemaker_sdk_v3: {args.where}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
