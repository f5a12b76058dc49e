"""Training jobs: CreateTrainingJob for the image's ``train`` program, optionally waiting for the end.

SageMaker runs ``docker run IMAGE train`` with the channels under
/opt/ml/input/data/CHANNEL and the hyperparameters in
/opt/ml/input/config/hyperparameters.json -- every value a string (SageMaker's
rule: CreateTrainingJob rejects anything else), so ``lambda=0.1`` arrives as
``"0.1"`` and the train program parses it.

Secrets are refused as hyperparameters: SageMaker shows hyperparameters in
plain text in the console and in DescribeTrainingJob, and the train program
records them with the run. The container's ``Environment`` is no better
(DescribeTrainingJob returns it too), so a D-Wave token goes in Secrets
Manager: ``--dwave-token-secret NAME`` sends only the secret's name, and the
image's ``train`` reads the value with the job's role
(:mod:`serving.container.token_secret`). ``--environment DWAVE_API_TOKEN``
(the value copied from the local environment) still works, with a warning.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Iterable, Mapping

from ._errors import ServingError
from ._names import stamped_name
from ._s3 import ensure_bucket
from ._specs import TrainingJobSpec
from .aws import MESSAGE_LIMIT, Aws, aws_errors
from .container.messages import one_line

__all__ = ["parse_hyperparameters", "parse_environment", "with_token_secret", "training_job", "wait_for_training_job"]

# Hyperparameter keys that carry credentials: the last dotted part (so
# `sampler.init.token=...` is caught too), compared case-insensitively.
_SECRET_KEY = re.compile(r"(^|[._])(dwave_api_token|api_token|token|password|secret|secret_key|access_key)$", re.IGNORECASE)
_TERMINAL = {"Completed", "Failed", "Stopped"}


def _pairs(items: Iterable[str], option: str) -> list[tuple[str, str | None]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not key:
            raise ServingError(f"{option} expects KEY=VALUE, got {item!r}")
        pairs.append((key, value if sep else None))
    return pairs


def parse_hyperparameters(items: Iterable[str]) -> dict[str, str]:
    """``["sampler=qpu", "lambda=0.1"]`` -> ``{"sampler": "qpu", "lambda": "0.1"}`` (all values strings).

    Raises
    ------
    ServingError
        For an item without ``=``, a repeated key, a key that names a secret
        (``dwave_api_token``, ``*.token``, ...), or more than SageMaker's limits
        (100 entries, keys up to 256 and values up to 2500 characters).
    """
    result: dict[str, str] = {}
    for key, value in _pairs(items, "--hyperparameters"):
        if value is None:
            raise ServingError(f"--hyperparameters expects KEY=VALUE, got {key!r}")
        if _SECRET_KEY.search(key):
            raise ServingError(
                f"hyperparameter {key!r} looks like a credential: SageMaker shows hyperparameters in plain text "
                "(console, DescribeTrainingJob) and the run records them; keep a D-Wave token in Secrets Manager and pass "
                "--dwave-token-secret NAME instead"
            )
        if key in result:
            raise ServingError(f"hyperparameter {key!r} given twice")
        if len(key) > 256 or len(value) > 2500:
            raise ServingError(f"hyperparameter {key!r}: SageMaker allows keys up to 256 and values up to 2500 characters")
        result[key] = str(value)
    if len(result) > 100:
        raise ServingError(f"{len(result)} hyperparameters: SageMaker allows at most 100")
    return result


def parse_environment(items: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``KEY=VALUE`` items as a dict; a bare ``KEY`` takes its value from ``environ`` (default ``os.environ``).

    The bare form keeps secrets such as DWAVE_API_TOKEN out of the command line
    and the shell history.
    """
    environ = os.environ if environ is None else environ
    result: dict[str, str] = {}
    for key, value in _pairs(items, "--environment"):
        if value is None:
            if key not in environ:
                raise ServingError(f"--environment {key}: {key} is not set here (give {key}=VALUE, or export it first)")
            value = environ[key]
        if key in result:
            raise ServingError(f"environment variable {key!r} given twice")
        result[key] = value
    return result


#: A Secrets Manager secret's name or ARN, as SecretId takes it.
_SECRET_ID = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")


def _check_secret_id(secret: str, given_as: str) -> None:
    """A secret's name or ARN, not the token itself (the messages never echo a token)."""
    from .container.token_secret import TOKEN_VARIABLE, looks_like_a_token

    if looks_like_a_token(secret) or secret == os.environ.get(TOKEN_VARIABLE):
        raise ServingError(f"{given_as} takes the name or ARN of the Secrets Manager secret holding the token, "
                           "not the token: store it first (aws secretsmanager create-secret --name NAME --secret-string ...)")
    if not _SECRET_ID.match(secret):
        raise ServingError(f"{given_as} {secret!r}: not a Secrets Manager secret name or ARN "
                           "(letters, digits and /_+=.@:- only)")


def with_token_secret(environment: dict[str, str], secret: str | None) -> tuple[dict[str, str], list[str]]:
    """The job's environment with the D-Wave token's secret named in it, and the warnings to print.

    ``--dwave-token-secret NAME`` adds only ``DWAVE_API_TOKEN_SECRET=NAME``: the
    image's ``train`` reads the value with the job's role. A token given as
    ``--environment DWAVE_API_TOKEN`` still works, with a warning that
    ``DescribeTrainingJob`` shows it.
    """
    from .container.token_secret import SECRET_VARIABLE, TOKEN_VARIABLE

    warnings = []
    if SECRET_VARIABLE in environment:  # the variable given directly gets the option's checks
        _check_secret_id(environment[SECRET_VARIABLE], f"--environment {SECRET_VARIABLE}")
    if secret is not None:
        for variable in (TOKEN_VARIABLE, SECRET_VARIABLE):
            if variable in environment:
                raise ServingError(f"--dwave-token-secret and --environment {variable} both set the D-Wave token: "
                                   "give --dwave-token-secret alone")
        _check_secret_id(secret, "--dwave-token-secret")
        return {**environment, SECRET_VARIABLE: secret}, warnings
    if TOKEN_VARIABLE in environment:
        warnings.append(f"warning: --environment {TOKEN_VARIABLE}: the token is visible to anyone allowed to describe "
                        "training jobs (DescribeTrainingJob, the console); prefer --dwave-token-secret NAME (Secrets Manager)")
    return environment, warnings


def _channel(name: str, uri: str, content_type: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}},
        "ContentType": content_type,
        "CompressionType": "None",
    }


def _output_path(aws: Aws, spec: TrainingJobSpec) -> str:
    """``S3OutputPath``: as given, else ``s3://sagemaker-REGION-ACCOUNT/PREFIX/training-output`` (the bucket created if missing)."""
    if spec.output is not None:
        return spec.output
    bucket = aws.default_bucket()
    if ensure_bucket(aws, bucket):
        print(f"created S3 bucket {bucket} in {aws.region}", flush=True)
    prefix = spec.prefix.strip("/")
    return f"s3://{bucket}/{prefix}/training-output" if prefix else f"s3://{bucket}/training-output"


def _request(spec: TrainingJobSpec, name: str, output: str) -> dict[str, Any]:
    """The CreateTrainingJob request: every hyperparameter a string, as SageMaker requires."""
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": spec.image_uri, "TrainingInputMode": "File"},
        "RoleArn": spec.role,
        "InputDataConfig": [_channel(channel, uri, spec.content_type) for channel, uri in spec.channels.items()],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": spec.instance_type, "InstanceCount": spec.instance_count, "VolumeSizeInGB": spec.volume_size_gb},
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_s},
        "HyperParameters": {str(k): str(v) for k, v in spec.hyperparameters.items()},
    }
    if spec.environment:
        request["Environment"] = dict(spec.environment)
    return request


def training_job(aws: Aws, spec: TrainingJobSpec) -> dict[str, Any]:
    """Create the training job ``spec`` describes, which runs the image's ``train`` program; optionally wait for it.

    Parameters
    ----------
    aws : Aws
        Region and endpoint for the calls.
    spec : TrainingJobSpec
        The image, channels, hyperparameters and resources (checked when it was built).

    Returns
    -------
    dict
        ``name``, ``arn``, ``status`` and, once Completed, ``model_artifacts``.
    """
    name = spec.job_name or stamped_name("qboost")
    output = _output_path(aws, spec)
    request = _request(spec, name, output)
    sm = aws.client("sagemaker")
    with aws_errors(f"create the training job {name}"):
        arn = sm.create_training_job(**request)["TrainingJobArn"]
    shown = ", ".join(f"{k}={v}" for k, v in request["HyperParameters"].items()) or "none"
    print(f"created training job {name} (hyperparameters: {shown}; output {output})", flush=True)
    result: dict[str, Any] = {"name": name, "arn": arn, "status": "InProgress"}
    if spec.wait:
        result.update(wait_for_training_job(sm, name, poll_s=spec.poll_s, limit_s=spec.max_runtime_s + 3600))
    else:
        print(f"not waiting: `aws sagemaker describe-training-job --training-job-name {name}` shows its status", flush=True)
    return result


def wait_for_training_job(sm: Any, name: str, *, poll_s: float = 30.0, limit_s: float = 90000.0) -> dict[str, Any]:
    """Poll DescribeTrainingJob until the job ends; print each new secondary status.

    Raises
    ------
    ServingError
        If the job Failed or was Stopped (with SageMaker's FailureReason), or
        is still running after ``limit_s`` seconds.
    """
    deadline = time.monotonic() + limit_s
    seen = None
    while True:
        with aws_errors(f"describe the training job {name}"):
            job = sm.describe_training_job(TrainingJobName=name)
        status, secondary = job.get("TrainingJobStatus", "?"), job.get("SecondaryStatus", "")
        if (status, secondary) != seen:
            print(f"training job {name}: {status}" + (f" ({secondary})" if secondary and secondary != status else ""), flush=True)
            seen = (status, secondary)
        if status in _TERMINAL:
            break
        if time.monotonic() > deadline:
            raise ServingError(f"training job {name} still {status} after {limit_s:.0f} s; stopped waiting (the job goes on)")
        time.sleep(poll_s)
    if status != "Completed":
        reason = one_line(job.get("FailureReason") or "no FailureReason given", limit=MESSAGE_LIMIT)
        raise ServingError(
            f"training job {name} {status.lower()}: {reason}; its logs are in CloudWatch under /aws/sagemaker/TrainingJobs ({name}/...)"
        )
    artifacts = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if artifacts:
        print(f"model artifacts: {artifacts}", flush=True)
        print(f"deploy them: python -m serving deploy --image-uri REPO:serve --model-data {artifacts} --role ROLE --endpoint-name NAME", flush=True)
    return {"status": status, "model_artifacts": artifacts}
