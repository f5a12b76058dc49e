"""``python -m serving``: package a model for SageMaker, serve it locally, deploy, train, invoke, delete.

Examples
--------
python -m serving package --model-uri models:/qboost@champion --out build/sagemaker
python -m serving package --best --experiment qboost --dataset csv --metric validation_accuracy --out build/sagemaker
python -m serving serve --model-dir build/sagemaker/model --port 8080
python -m serving deploy --image-uri URI --model-data build/sagemaker/model.tar.gz --role ARN --endpoint-name qboost
python -m serving train-job --image-uri URI --role ARN --train s3://b/data/train --hyperparameters sampler=neal lambda=0.1
python -m serving invoke --endpoint-name qboost --file data/test.csv
python -m serving delete --endpoint-name qboost

Every failure is one ``error: ...`` line on stderr and exit status 2. The AWS
commands take ``--region`` (else AWS_REGION / AWS_DEFAULT_REGION / the AWS
config) and ``--endpoint-url`` (else AWS_ENDPOINT_URL, which boto3 reads
itself); ``--role`` defaults to $SAGEMAKER_ROLE_ARN.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from qboost_exp.cli_args import OneLineErrorParser, positive_int, tcp_port

from ._errors import ServingError
from .container.messages import one_line

ROLE_ENV = "SAGEMAKER_ROLE_ARN"


def _aws_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("AWS")
    g.add_argument("--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / ~/.aws/config)")
    g.add_argument("--endpoint-url", help="send every AWS call here, e.g. a local moto server (default: AWS_ENDPOINT_URL, else AWS)")


def _role_option(p: argparse.ArgumentParser) -> None:
    role = os.environ.get(ROLE_ENV) or None  # an empty variable counts as unset
    p.add_argument(
        "--role", default=role, required=role is None, metavar="ARN",
        help=f"IAM role SageMaker assumes (default ${ROLE_ENV})",
    )


def _parser() -> argparse.ArgumentParser:
    p = OneLineErrorParser(
        prog=f"python -m {__package__}",  # `serving` in a checkout, `qboost_serving` when installed from the wheel
        description="Package qboost-exp models for Amazon SageMaker, serve them locally, and drive SageMaker from the command line.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineErrorParser)
    for add in (_package_parser, _serve_parser, _deploy_parser, _train_job_parser, _invoke_parser, _delete_parser):
        add(sub)
    return p


def _package_parser(sub: Any) -> None:
    pk = sub.add_parser("package", help="write a Docker build context and model.tar.gz for one MLflow model",
                        description="Write a Docker build context (Dockerfile, pinned requirements, the project wheel, the serving "
                                    "code, the model) and model.tar.gz for SageMaker's ModelDataUrl.")
    which = pk.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-uri", help="an MLflow model URI: runs:/ID/model, models:/NAME/VERSION, models:/NAME@ALIAS, or a model directory (no store needed)")
    which.add_argument("--best", action="store_true", help="the best finished training run of --experiment by --metric, within one dataset")
    pk.add_argument("--experiment", default="qboost", help="experiment for --best (default qboost)")
    pk.add_argument("--metric", default="validation_accuracy",
                    help="metric for --best (default validation_accuracy); never a test_* metric: choosing on the test split overfits it")
    pk.add_argument("--dataset", metavar="NAME[@DIGEST]",
                    help="for --best: choose among the runs of this dataset (name, or name@digest as python -m qboost_exp.compare "
                         "shows it); needed when the experiment holds runs of several datasets")
    pk.add_argument("--order", choices=("max", "min"),
                    help="max or min of --metric is best (default: min for time_*, selected*, best_energy, ...; max otherwise)")
    pk.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    pk.add_argument("--out", type=Path, default=Path("build/sagemaker"), help="build context directory (default build/sagemaker)")
    pk.add_argument("--force", action="store_true", help="replace --out if it exists and is not empty")
    pk.add_argument("--wheelhouse", action="store_true",
                    help="also put a wheel of every pinned requirement into OUT/wheelhouse, so the image builds offline")
    pk.set_defaults(handler=_package)


def _serve_parser(sub: Any) -> None:
    sv = sub.add_parser("serve", help="run the serving container's web server here (nginx + gunicorn + Flask; --no-nginx: gunicorn alone)",
                        description="Run serving.container.serve on this machine, as `docker run IMAGE serve` would.")
    sv.add_argument("--model-dir", required=True, type=Path, help="an MLflow model directory (MLmodel at its root)")
    sv.add_argument("--port", type=tcp_port, default=8080, help="port to listen on (default 8080)")
    # Loopback by default: a local trial run should not answer the whole network
    # (the image's own `serve` listens on 0.0.0.0, as SageMaker needs).
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    sv.add_argument("--opt-ml", type=Path, help="stand-in for /opt/ml (default: the container program's own)")
    sv.add_argument("--no-nginx", action="store_true",
                    help="gunicorn alone, for a machine without nginx (no nginx body limit: the app's own 6 MB limit applies)")
    sv.set_defaults(handler=_serve)


def _deploy_parser(sub: Any) -> None:
    dp = sub.add_parser("deploy", help="create (or --update) a SageMaker endpoint for an image and model.tar.gz",
                        description="CreateModel, CreateEndpointConfig and CreateEndpoint (or UpdateEndpoint), then wait for InService.")
    dp.add_argument("--image-uri", required=True, metavar="URI",
                    help="the serving image in ECR: REPO:serve, the lean image (a URI without a tag gets :serve); "
                         "REPO:full also serves, and any model, but starts slower")
    dp.add_argument("--model-data", required=True,
                    help="s3://.../model.tar.gz, or a local model.tar.gz (or build context directory) to upload first")
    _role_option(dp)
    dp.add_argument("--endpoint-name", required=True)
    dp.add_argument("--instance-type", help="default ml.m5.large (not with --serverless)")
    dp.add_argument("--instance-count", type=positive_int, help="default 1 (not with --serverless)")
    dp.add_argument("--serverless", action="store_true",
                    help="a serverless endpoint (ServerlessConfig, no instances; the lean image starts fastest)")
    dp.add_argument("--memory-size", type=int, metavar="MB",
                    help="with --serverless: 1024, 2048, 3072, 4096, 5120 or 6144 (default 2048)")
    dp.add_argument("--max-concurrency", type=int, metavar="N",
                    help="with --serverless: concurrent invocations, 1 to 200 (default 5)")
    dp.add_argument("--async-output", metavar="S3_URI",
                    help="an asynchronous endpoint (AsyncInferenceConfig) writing its results under this s3:// prefix")
    dp.add_argument("--model-server-workers", type=positive_int, help="MODEL_SERVER_WORKERS in the container (gunicorn workers)")
    dp.add_argument("--model-server-timeout", type=positive_int, help="MODEL_SERVER_TIMEOUT in the container (seconds)")
    dp.add_argument("--environment", nargs="+", action="extend", default=[], metavar="KEY[=VALUE]",
                    help="more container environment; a bare KEY copies its value from here")
    dp.add_argument("--bucket", help="bucket for a local --model-data (default sagemaker-REGION-ACCOUNT, created if missing)")
    dp.add_argument("--prefix", default="qboost", help="key prefix for a local --model-data (default qboost)")
    dp.add_argument("--update", action="store_true", help="if the endpoint exists, point it at the new model (UpdateEndpoint)")
    dp.add_argument("--no-wait", action="store_true", help="return once the endpoint is being created")
    dp.add_argument("--wait-delay", type=positive_int, default=30, help="seconds between status checks while waiting (default 30)")
    _aws_options(dp)
    dp.set_defaults(handler=_deploy)


def _train_job_parser(sub: Any) -> None:
    tj = sub.add_parser("train-job", help="start a SageMaker training job running the image's train program",
                        description="CreateTrainingJob with the image's `train` program, the training (and validation) channel "
                                    "and hyperparameters as strings. Credentials never go in --hyperparameters: give a D-Wave "
                                    "token as --dwave-token-secret NAME (a Secrets Manager secret the job's role reads; "
                                    "DescribeTrainingJob shows only its name).")
    tj.add_argument("--image-uri", required=True, metavar="URI",
                    help="the training image in ECR: REPO:full (a URI without a tag gets :full; the lean :serve image cannot train)")
    _role_option(tj)
    tj.add_argument("--train", required=True, metavar="S3_URI", help="s3:// prefix of the training channel (label-first CSV)")
    tj.add_argument("--validation", metavar="S3_URI", help="s3:// prefix of the validation channel")
    tj.add_argument("--hyperparameters", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                    help="Hydra overrides for the train program, e.g. sampler=qpu lambda=0.1 (sent as strings)")
    tj.add_argument("--environment", nargs="+", action="extend", default=[], metavar="KEY[=VALUE]",
                    help="container environment; a bare KEY copies its value from here (DWAVE_API_TOKEN works, "
                         "but DescribeTrainingJob shows it: prefer --dwave-token-secret)")
    tj.add_argument("--dwave-token-secret", metavar="NAME_OR_ARN",
                    help="the Secrets Manager secret holding the D-Wave token: the job's environment gets only its name, "
                         "train reads the value with the job's role (secretsmanager:GetSecretValue)")
    tj.add_argument("--output", metavar="S3_URI", help="S3OutputPath (default s3://sagemaker-REGION-ACCOUNT/qboost/training-output)")
    tj.add_argument("--job-name", help="default qboost-YYYYMMDD-HHMMSS-mmm")
    tj.add_argument("--content-type", default="text/csv", help="content type of the channels (default text/csv)")
    tj.add_argument("--instance-type", default="ml.m5.large", help="default ml.m5.large")
    tj.add_argument("--instance-count", type=positive_int, default=1, help="default 1")
    tj.add_argument("--volume-size", type=positive_int, default=30, help="EBS volume in GB (default 30)")
    tj.add_argument("--max-runtime", type=positive_int, default=86400, help="MaxRuntimeInSeconds (default 86400)")
    tj.add_argument("--wait", action="store_true", help="wait for the job to end; print FailureReason if it fails")
    tj.add_argument("--poll-seconds", type=float, default=30.0, help="seconds between status checks with --wait (default 30)")
    _aws_options(tj)
    tj.set_defaults(handler=_train_job)


def _invoke_parser(sub: Any) -> None:
    iv = sub.add_parser("invoke", help="send a file to an endpoint and print the response",
                        description="InvokeEndpoint with a file; prints the response body. CSV over 6 MiB is sent in "
                                    "line-aligned parts.")
    iv.add_argument("--endpoint-name", required=True)
    iv.add_argument("--file", required=True, type=Path, help="the request body (.csv -> text/csv, .json -> application/json)")
    iv.add_argument("--content-type", help="request content type (default from the file's extension)")
    iv.add_argument("--accept", help="response content type to ask for, e.g. application/json")
    iv.add_argument("--custom-attributes", help="passed to the container as X-Amzn-SageMaker-Custom-Attributes")
    iv.add_argument("--no-split", action="store_true", help="never split a large CSV file; fail instead")
    iv.add_argument("--labelled", action="store_true",
                    help="the CSV is in the training layout (label in the first column, as python -m qboost_exp.data "
                         "writes test.csv): send the features only")
    iv.add_argument("--async", dest="asynchronous", action="store_true",
                    help="an asynchronous endpoint (deploy --async-output): put the file in S3, queue it, poll for the answer")
    iv.add_argument("--async-input", metavar="S3_URI",
                    help="with --async: where the input goes (default s3://sagemaker-REGION-ACCOUNT/qboost/async-input)")
    iv.add_argument("--timeout", type=float, default=900.0, help="with --async: seconds to wait for the answer (default 900)")
    iv.add_argument("--poll-seconds", type=float, default=5.0, help="with --async: seconds between checks (default 5)")
    _aws_options(iv)
    iv.set_defaults(handler=_invoke)


def _delete_parser(sub: Any) -> None:
    dl = sub.add_parser("delete", help="delete an endpoint, its endpoint config and its model",
                        description="DeleteEndpoint, DeleteEndpointConfig and DeleteModel; what is already gone is skipped.")
    dl.add_argument("--endpoint-name", required=True)
    dl.add_argument("--endpoint-config-name", action="append", default=[], help="also delete this endpoint config (repeatable)")
    dl.add_argument("--model-name", action="append", default=[], help="also delete this model (repeatable)")
    dl.add_argument("--wait", action="store_true", help="wait until the endpoint is gone")
    _aws_options(dl)
    dl.set_defaults(handler=_delete)


# ---------------------------------------------------------------------- handlers


def _package(args: argparse.Namespace) -> int:
    from .package import ModelRequest, package

    request = ModelRequest(
        model_uri=args.model_uri, best=args.best, experiment=args.experiment, metric=args.metric, order=args.order,
        dataset=args.dataset, tracking_uri=args.tracking_uri,
    )
    result = package(args.out, request, force=args.force, wheelhouse=args.wheelhouse)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    print("\n".join(result.summary()), flush=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    if not (args.model_dir / "MLmodel").is_file():
        raise ServingError(f"--model-dir {args.model_dir}: no MLmodel there (use model/ of a `python -m serving package` build)")
    try:
        from .container.serve import main as serve_main
    except ImportError as exc:
        raise ServingError(f"the serving container program cannot be imported: {one_line(exc)}") from None
    argv = ["--model-dir", str(args.model_dir), "--port", str(args.port), "--host", args.host]
    if args.opt_ml is not None:
        argv += ["--opt-ml", str(args.opt_ml)]
    if args.no_nginx:
        argv.append("--no-nginx")
    return int(serve_main(argv) or 0)


def _aws(args: argparse.Namespace):
    from .aws import Aws

    return Aws(region=args.region, endpoint_url=args.endpoint_url)


def _deploy(args: argparse.Namespace) -> int:
    from ._deploy import deploy
    from ._specs import DeploySpec
    from ._training import parse_environment

    environment = parse_environment(args.environment)
    if args.model_server_workers:
        environment["MODEL_SERVER_WORKERS"] = str(args.model_server_workers)
    if args.model_server_timeout:
        environment["MODEL_SERVER_TIMEOUT"] = str(args.model_server_timeout)
    if args.serverless and (args.instance_type or args.instance_count):
        raise ServingError("--serverless endpoints have no instances: drop --instance-type and --instance-count")
    if not args.serverless and (args.memory_size is not None or args.max_concurrency is not None):
        raise ServingError("--memory-size and --max-concurrency size a serverless endpoint: add --serverless")
    spec = DeploySpec(
        image_uri=args.image_uri, model_data=args.model_data, role=args.role, endpoint_name=args.endpoint_name,
        instance_type=args.instance_type or "ml.m5.large", instance_count=args.instance_count or 1, environment=environment,
        bucket=args.bucket, prefix=args.prefix, update=args.update, wait=not args.no_wait, wait_delay=args.wait_delay,
        serverless_memory_mb=(2048 if args.memory_size is None else args.memory_size) if args.serverless else None,
        serverless_max_concurrency=(5 if args.max_concurrency is None else args.max_concurrency) if args.serverless else None,
        async_output=args.async_output,
    )
    deploy(_aws(args), spec)
    return 0


def _train_job(args: argparse.Namespace) -> int:
    from ._specs import TrainingJobSpec
    from ._training import parse_environment, parse_hyperparameters, training_job, with_token_secret

    environment, warnings = with_token_secret(parse_environment(args.environment), args.dwave_token_secret)
    for warning in warnings:
        print(warning, file=sys.stderr, flush=True)
    spec = TrainingJobSpec(
        image_uri=args.image_uri, role=args.role, train=args.train, validation=args.validation,
        hyperparameters=parse_hyperparameters(args.hyperparameters), environment=environment,
        output=args.output, job_name=args.job_name, content_type=args.content_type, instance_type=args.instance_type,
        instance_count=args.instance_count, volume_size_gb=args.volume_size, max_runtime_s=args.max_runtime,
        wait=args.wait, poll_s=args.poll_seconds,
    )
    training_job(_aws(args), spec)
    return 0


def _invoke(args: argparse.Namespace) -> int:
    from ._invoke import invoke

    if args.asynchronous:
        from ._invoke_async import invoke_async

        if args.custom_attributes or args.no_split:
            raise ServingError("--async sends the whole file from S3: --custom-attributes and --no-split do not apply")
        invoke_async(
            _aws(args), args.endpoint_name, args.file, content_type=args.content_type, accept=args.accept,
            labelled=args.labelled, input_prefix=args.async_input, poll_s=args.poll_seconds, timeout_s=args.timeout,
        )
        return 0
    if args.async_input:
        raise ServingError("--async-input needs --async")
    invoke(
        _aws(args), args.endpoint_name, args.file, content_type=args.content_type, accept=args.accept,
        custom_attributes=args.custom_attributes, split=not args.no_split, labelled=args.labelled,
    )
    return 0


def _delete(args: argparse.Namespace) -> int:
    from ._deploy import delete

    delete(
        _aws(args), args.endpoint_name, endpoint_config_names=args.endpoint_config_name,
        model_names=args.model_name, wait=args.wait,
    )
    return 0


_AWS_COMMANDS = {"deploy", "train-job", "invoke", "delete"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; return the exit status (0, 2 for any reported error, 130 on Ctrl-C)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.command in _AWS_COMMANDS:
            from .aws import aws_errors

            # A backstop: each AWS call is wrapped with a precise message already.
            with aws_errors(args.command.replace("-", " ")):
                return args.handler(args)
        return args.handler(args)
    except ServingError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
