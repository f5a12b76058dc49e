"""What ``deploy`` and ``train-job`` are asked to do: one frozen spec each, checked when it is built.

``python -m serving`` builds a spec from its arguments; the spec refuses
anything SageMaker would refuse (or that would fail later, after resources
were created) before any AWS call is made. A built spec is valid: the
functions that take one (:func:`serving._deploy.deploy`,
:func:`serving._training.training_job`) check nothing of it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ._errors import ServingError
from ._images import FULL_TAG, SERVE_TAG, image_for
from ._names import check_name
from ._s3 import is_s3_uri, parse_s3_uri

__all__ = ["DeploySpec", "TrainingJobSpec"]


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy: a spec does not change after it was checked."""
    return MappingProxyType(dict(mapping))


def _at_least_one(value: int, option: str) -> None:
    if value < 1:
        raise ServingError(f"{option} must be at least 1, got {value}")


def _local_model_data(path_text: str) -> Path:
    """The model.tar.gz named by ``path_text``: the file itself, or the one in a build context directory."""
    path = Path(path_text)
    if path.is_dir() and (path / "model.tar.gz").is_file():
        path = path / "model.tar.gz"  # `--model-data build/sagemaker` works too
    if not path.is_file():
        raise ServingError(f"--model-data {path_text}: no such file (give s3://... or a local model.tar.gz from `python -m serving package`)")
    if not path.name.endswith((".tar.gz", ".tgz")):
        raise ServingError(f"--model-data {path_text}: SageMaker expects a gzipped tar archive (model.tar.gz)")
    return path


@dataclass(frozen=True)
class DeploySpec:
    """A real-time endpoint to create (or update): ``image_uri`` serving ``model_data``.

    Parameters
    ----------
    image_uri : str
        The serving image in ECR (from ``docker/build_and_push.sh``); without a
        tag, its ``serve`` tag, the lean image (see :func:`serving._images.image_for`).
        Holds the resolved URI once built.
    model_data : str
        ``s3://.../model.tar.gz``, or a local model.tar.gz (or build context
        directory holding one), uploaded first to ``s3://BUCKET/PREFIX/MODEL/model.tar.gz``.
    role : str
        IAM role ARN SageMaker assumes to pull the image and read the model.
    endpoint_name : str
        The endpoint to create, or to update with ``update=True``.
    instance_type, instance_count : str, int
        The production variant's instances.
    environment : mapping
        Environment variables of the container (e.g. ``MODEL_SERVER_WORKERS``).
    bucket, prefix : str
        Where a local ``model_data`` goes; ``bucket`` defaults to
        ``sagemaker-REGION-ACCOUNT`` and is created if missing.
    update : bool
        Allow an existing endpoint: UpdateEndpoint to the new config. Without
        it an existing endpoint is an error (deploying over a live endpoint by
        accident replaces what its clients get).
    wait : bool
        Wait (``wait_delay`` s between polls, at most ``wait_attempts`` polls)
        until the endpoint is InService; a failure reports SageMaker's FailureReason.
    serverless_memory_mb, serverless_max_concurrency : int, optional
        A serverless endpoint (``ServerlessConfig``, no instances): the memory
        in SageMaker's steps (1024, 2048, ..., 6144 MB) and the most
        concurrent invocations (1 to 200). Both or neither.
    async_output : str, optional
        ``s3://`` prefix for an asynchronous endpoint's results
        (``AsyncInferenceConfig``); instances only: SageMaker has no
        asynchronous serverless endpoints.

    Raises
    ------
    ServingError
        On construction: an endpoint name SageMaker refuses, no instances, a
        local ``model_data`` that is missing or not a gzipped tar, a
        malformed S3 URI, a serverless memory size or concurrency SageMaker
        refuses, a serverless endpoint with an asynchronous output.
    """

    image_uri: str
    model_data: str
    role: str
    endpoint_name: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    environment: Mapping[str, str] = field(default_factory=dict)
    bucket: str | None = None
    prefix: str = "qboost"
    update: bool = False
    wait: bool = True
    wait_delay: int = 30
    wait_attempts: int = 120
    serverless_memory_mb: int | None = None
    serverless_max_concurrency: int | None = None
    async_output: str | None = None
    #: The local model.tar.gz to upload first; None for ``s3://`` model data.
    local_model_data: Path | None = field(init=False, default=None)

    @property
    def serverless(self) -> bool:
        return self.serverless_memory_mb is not None

    def __post_init__(self) -> None:
        check_name(self.endpoint_name, "endpoint")
        _check_serverless(self.serverless_memory_mb, self.serverless_max_concurrency)
        if self.async_output is not None:
            if self.serverless:
                raise ServingError("--async-output needs an instance-backed endpoint: SageMaker has no asynchronous serverless endpoints")
            parse_s3_uri(self.async_output)
        # Frozen: the resolved image and the local file are set once, here.
        object.__setattr__(self, "image_uri", image_for(self.image_uri, SERVE_TAG))
        object.__setattr__(self, "environment", _frozen(self.environment))
        _at_least_one(self.instance_count, "--instance-count")
        if is_s3_uri(self.model_data):
            parse_s3_uri(self.model_data)  # a malformed URI fails here, not in CreateModel
        else:
            object.__setattr__(self, "local_model_data", _local_model_data(self.model_data))


#: ServerlessConfig's MemorySizeInMB: 1 to 6 GB in 1 GB steps.
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
#: ServerlessConfig's MaxConcurrency bounds.
SERVERLESS_CONCURRENCY = (1, 200)


def _check_serverless(memory_mb: int | None, concurrency: int | None) -> None:
    """Refuse a serverless size SageMaker would refuse, before any AWS call."""
    if (memory_mb is None) != (concurrency is None):
        raise ServingError("a serverless endpoint needs both --memory-size and --max-concurrency")
    if memory_mb is None:
        return
    if memory_mb not in SERVERLESS_MEMORY_MB:
        steps = ", ".join(map(str, SERVERLESS_MEMORY_MB))
        raise ServingError(f"--memory-size {memory_mb}: a serverless endpoint takes {steps} MB")
    low, high = SERVERLESS_CONCURRENCY
    if not low <= concurrency <= high:
        raise ServingError(f"--max-concurrency {concurrency}: a serverless endpoint takes {low} to {high} concurrent invocations")


@dataclass(frozen=True)
class TrainingJobSpec:
    """A training job running the image's ``train`` program.

    Parameters
    ----------
    image_uri, role : str
        The training image, the full one (``NAME:full``; a URI without a tag
        gets that tag, and the lean ``serve`` image is refused: it cannot
        train), and the IAM role SageMaker assumes. ``image_uri`` holds the
        resolved URI once built.
    train, validation : str
        ``s3://`` prefixes of the ``training`` and ``validation`` channels
        (SageMaker's layout: label first, no header, ``content_type``).
    hyperparameters : mapping of str to str
        From :func:`serving._training.parse_hyperparameters`; sent as strings.
    environment : mapping of str to str
        Container environment (e.g. ``DWAVE_API_TOKEN_SECRET``, the Secrets Manager
        secret holding the D-Wave token for ``sampler=qpu``).
    output : str, optional
        ``S3OutputPath``; default ``s3://sagemaker-REGION-ACCOUNT/PREFIX/training-output``
        (the bucket is created if missing).
    job_name : str, optional
        Default ``qboost-YYYYMMDD-HHMMSS-mmm``, stamped when the job is created.
    instance_type, instance_count, volume_size_gb, max_runtime_s
        ``ResourceConfig`` and ``StoppingCondition``.
    wait : bool
        Poll every ``poll_s`` seconds until the job ends, printing its
        secondary status; a Failed or Stopped job raises with its FailureReason.

    Raises
    ------
    ServingError
        On construction: a job name SageMaker refuses, the lean image, a
        count below 1, a channel or output that is not ``s3://BUCKET[/KEY]``.
    """

    image_uri: str
    role: str
    train: str
    validation: str | None = None
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    output: str | None = None
    job_name: str | None = None
    content_type: str = "text/csv"
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_s: int = 86400
    prefix: str = "qboost"
    wait: bool = False
    poll_s: float = 30.0

    def __post_init__(self) -> None:
        if self.job_name:
            check_name(self.job_name, "training job")
        object.__setattr__(self, "image_uri", image_for(self.image_uri, FULL_TAG))
        object.__setattr__(self, "hyperparameters", _frozen(self.hyperparameters))
        object.__setattr__(self, "environment", _frozen(self.environment))
        for value, option in ((self.instance_count, "--instance-count"), (self.volume_size_gb, "--volume-size"),
                              (self.max_runtime_s, "--max-runtime")):
            _at_least_one(value, option)
        parse_s3_uri(self.train)
        if self.validation:
            parse_s3_uri(self.validation)
        if self.output is not None:
            parse_s3_uri(self.output)

    @property
    def channels(self) -> dict[str, str]:
        """The input channels by SageMaker's name: ``training``, and ``validation`` when given."""
        found = {"training": self.train}
        if self.validation:
            found["validation"] = self.validation
        return found
