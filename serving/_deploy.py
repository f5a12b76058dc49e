"""Endpoints: deploy (model -> endpoint config -> endpoint) and delete, as in SageMaker's notebooks.

Each deploy creates a new SageMaker model and endpoint config, both named
``ENDPOINT-YYYYMMDD-HHMMSS-mmm`` (neither can be changed once created), and
then creates the endpoint -- or, with ``update=True``, points the existing
endpoint at the new config (SageMaker swaps it in without downtime).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from ._errors import ServingError
from ._names import check_name, stamped_name
from ._s3 import is_s3_uri, parse_s3_uri, upload_file
from .aws import Aws, aws_errors, is_not_found, one_line

__all__ = ["deploy", "delete", "describe_endpoint", "image_for", "SERVE_TAG", "FULL_TAG"]

#: Tags docker/build_and_push.sh gives the two images (IMAGE_TAG=X makes them X-serve, X-full).
SERVE_TAG, FULL_TAG = "serve", "full"

VARIANT = "AllTraffic"  # the SageMaker SDK's name for a single production variant
_BUSY = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "UpdateRollbackFailed"}


def describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    """DescribeEndpoint, or None if there is no endpoint ``name``."""
    import botocore.exceptions

    with aws_errors(f"look up the endpoint {name}"):
        try:
            return sm.describe_endpoint(EndpointName=name)
        except botocore.exceptions.ClientError as exc:
            if is_not_found(exc):
                return None
            raise


def _tag(uri: str) -> str | None:
    """The tag of an image URI (``REPO:TAG``), or None (no tag, or pinned by digest)."""
    if "@" in uri:
        return None
    last = uri.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_for(uri: str, use: str) -> str:
    """The image URI for ``use``: ``serve`` (endpoints, Batch Transform) or ``full`` (training jobs).

    A URI without a tag (``ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME``) gets
    the tag of that image as docker/build_and_push.sh pushes it: ``NAME:serve``,
    the lean serving image, or ``NAME:full``, the image that trains. A tagged
    URI is used as given, except that a training job refuses the serve image
    (it cannot train: no scikit-learn); an endpoint on the full image works
    (it serves any model), with a note that the serve image starts faster.
    """
    if "@" not in uri and _tag(uri) is None:
        chosen = f"{uri}:{use}"
        what = "the lean serving image" if use == SERVE_TAG else "the full image, which trains"
        print(f"--image-uri has no tag: using {chosen} ({what})", flush=True)
        return chosen
    tag = _tag(uri) or ""
    if use == FULL_TAG and (tag == SERVE_TAG or tag.endswith(f"-{SERVE_TAG}")):
        base = uri.rsplit(":", 1)[0]
        raise ServingError(
            f"--image-uri {uri} is the lean serving image, which cannot train (it has no scikit-learn, MLflow or dwave): "
            f"give the full image, {base}:{tag[: -len(SERVE_TAG)]}{FULL_TAG} (or the repository without a tag)"
        )
    if use == SERVE_TAG and (tag == FULL_TAG or tag.endswith(f"-{FULL_TAG}")):
        print(f"note: {uri} is the full image; it serves any model, but the lean `{SERVE_TAG}` image is a third of its size "
              "and answers /ping within a second of starting (for a model that compiles)", flush=True)
    return uri


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


def deploy(
    aws: Aws,
    *,
    image_uri: str,
    model_data: str,
    role: str,
    endpoint_name: str,
    instance_type: str = "ml.m5.large",
    instance_count: int = 1,
    environment: Mapping[str, str] | None = None,
    bucket: str | None = None,
    prefix: str = "qboost",
    update: bool = False,
    wait: bool = True,
    wait_delay: int = 30,
    wait_attempts: int = 120,
) -> dict[str, str]:
    """Create (or update) a real-time endpoint serving ``image_uri`` with ``model_data``.

    Parameters
    ----------
    aws : Aws
        Region and endpoint for the calls.
    image_uri : str
        The serving image in ECR (from ``docker/build_and_push.sh``); without a
        tag, its ``serve`` tag, the lean image (see :func:`image_for`).
    model_data : str
        ``s3://.../model.tar.gz``, or a local model.tar.gz (or build context
        directory holding one), uploaded first to ``s3://BUCKET/PREFIX/MODEL/model.tar.gz``.
    role : str
        IAM role ARN SageMaker assumes to pull the image and read the model.
    endpoint_name : str
        The endpoint to create, or to update with ``update=True``.
    instance_type, instance_count : str, int
        The production variant's instances.
    environment : mapping, optional
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

    Returns
    -------
    dict
        ``model``, ``endpoint_config``, ``endpoint``, ``model_data`` and ``status``.
    """
    check_name(endpoint_name, "endpoint")
    image_uri = image_for(image_uri, SERVE_TAG)
    if instance_count < 1:
        raise ServingError(f"--instance-count must be at least 1, got {instance_count}")
    local = None if is_s3_uri(model_data) else _local_model_data(model_data)
    if local is None:
        parse_s3_uri(model_data)  # a malformed URI fails here, not in CreateModel
    sm = aws.client("sagemaker")

    existing = describe_endpoint(sm, endpoint_name)
    if existing is not None:
        status = existing.get("EndpointStatus", "?")
        if not update:
            raise ServingError(
                f"endpoint {endpoint_name} already exists ({status}): pass --update to point it at the new model, "
                f"or remove it first with `python -m serving delete --endpoint-name {endpoint_name}`"
            )
        if status in _BUSY or status == "Failed":
            raise ServingError(
                f"endpoint {endpoint_name} is {status} and cannot be updated now"
                + (": delete it and deploy again" if status == "Failed" else ": wait until it is InService")
            )

    name = stamped_name(endpoint_name)
    if local is not None:
        target_bucket = bucket or aws.default_bucket()
        key = "/".join(part for part in (prefix.strip("/"), name, "model.tar.gz") if part)
        model_data = upload_file(aws, local, f"s3://{target_bucket}/{key}")
        print(f"uploaded {local} to {model_data}", flush=True)

    container: dict[str, Any] = {"Image": image_uri, "ModelDataUrl": model_data}
    if environment:
        container["Environment"] = dict(environment)
    created: list[tuple[str, str]] = []  # what to roll back if a later step fails
    try:
        with aws_errors(f"create the model {name}"):
            sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=role)
        created.append(("model", name))
        print(f"created model {name} (image {image_uri})", flush=True)
        with aws_errors(f"create the endpoint config {name}"):
            sm.create_endpoint_config(
                EndpointConfigName=name,
                ProductionVariants=[{
                    "VariantName": VARIANT,
                    "ModelName": name,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": instance_count,
                    "InitialVariantWeight": 1.0,
                }],
            )
        created.append(("endpoint config", name))
        print(f"created endpoint config {name} ({instance_count} x {instance_type})", flush=True)
        if existing is not None:
            with aws_errors(f"update the endpoint {endpoint_name}"):
                sm.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
            print(f"updating endpoint {endpoint_name} to {name} (previous config {existing.get('EndpointConfigName')} is kept)", flush=True)
        else:
            with aws_errors(f"create the endpoint {endpoint_name}"):
                sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
            print(f"creating endpoint {endpoint_name}", flush=True)
    except ServingError:
        _roll_back(sm, created)
        raise

    status = "Creating" if existing is None else "Updating"
    if wait:
        status = wait_in_service(sm, endpoint_name, delay=wait_delay, attempts=wait_attempts)
        print(f"endpoint {endpoint_name} is {status}", flush=True)
    else:
        print(f"not waiting: `aws sagemaker wait endpoint-in-service --endpoint-name {endpoint_name}` does", flush=True)
    return {"model": name, "endpoint_config": name, "endpoint": endpoint_name, "model_data": model_data, "status": status}


def _roll_back(sm: Any, created: list[tuple[str, str]]) -> None:
    """Delete what this deploy created before it failed (best effort: the failure is what gets reported)."""
    for kind, name in reversed(created):
        call = sm.delete_endpoint_config if kind == "endpoint config" else sm.delete_model
        key = "EndpointConfigName" if kind == "endpoint config" else "ModelName"
        try:
            call(**{key: name})
            print(f"rolled back: deleted {kind} {name}", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 - a failed cleanup must not hide the real error
            print(f"could not delete {kind} {name} while rolling back: {one_line(exc)}", file=sys.stderr, flush=True)


def wait_in_service(sm: Any, endpoint_name: str, *, delay: int = 30, attempts: int = 120) -> str:
    """Wait with boto3's ``endpoint_in_service`` waiter; on failure raise with SageMaker's FailureReason."""
    import botocore.exceptions

    print(f"waiting for endpoint {endpoint_name} to be InService (usually 5-10 minutes; Ctrl-C stops waiting, not the deployment)", flush=True)
    try:
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint_name, WaiterConfig={"Delay": max(1, delay), "MaxAttempts": max(1, attempts)}
        )
    except botocore.exceptions.WaiterError:
        found = describe_endpoint(sm, endpoint_name) or {}
        status = found.get("EndpointStatus", "gone")
        reason = one_line(found.get("FailureReason") or "no FailureReason given")
        raise ServingError(
            f"endpoint {endpoint_name} did not reach InService (now {status}): {reason}; "
            f"container logs are in CloudWatch under /aws/sagemaker/Endpoints/{endpoint_name}"
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        with aws_errors(f"wait for the endpoint {endpoint_name}"):
            raise exc
    return (describe_endpoint(sm, endpoint_name) or {}).get("EndpointStatus", "InService")


def _delete(sm: Any, kind: str, name: str) -> bool:
    """Delete one resource; False (and a note) if it does not exist."""
    import botocore.exceptions

    calls = {
        "endpoint": (sm.delete_endpoint, "EndpointName"),
        "endpoint config": (sm.delete_endpoint_config, "EndpointConfigName"),
        "model": (sm.delete_model, "ModelName"),
    }
    call, key = calls[kind]
    with aws_errors(f"delete the {kind} {name}"):
        try:
            call(**{key: name})
        except botocore.exceptions.ClientError as exc:
            if is_not_found(exc):
                print(f"{kind} {name}: not found (nothing to delete)", flush=True)
                return False
            raise
    print(f"deleted {kind} {name}", flush=True)
    return True


def delete(
    aws: Aws,
    endpoint_name: str,
    *,
    endpoint_config_names: tuple[str, ...] | list[str] = (),
    model_names: tuple[str, ...] | list[str] = (),
    wait: bool = False,
) -> dict[str, list[str]]:
    """Delete an endpoint, its endpoint config and its models (each tolerating "not found").

    The config and models are the ones the endpoint uses now (found with
    DescribeEndpoint and DescribeEndpointConfig before anything is deleted),
    plus any named explicitly (e.g. configs kept by earlier ``deploy --update``).

    Returns
    -------
    dict
        The names actually deleted, by kind.
    """
    import botocore.exceptions

    check_name(endpoint_name, "endpoint")
    sm = aws.client("sagemaker")
    configs, models = list(endpoint_config_names), list(model_names)
    found = describe_endpoint(sm, endpoint_name)
    if found is not None and found.get("EndpointConfigName"):
        config_name = found["EndpointConfigName"]
        configs.insert(0, config_name)
        with aws_errors(f"look up the endpoint config {config_name}"):
            try:
                config = sm.describe_endpoint_config(EndpointConfigName=config_name)
                models[:0] = [v["ModelName"] for v in config.get("ProductionVariants", []) if v.get("ModelName")]
            except botocore.exceptions.ClientError as exc:
                if not is_not_found(exc):
                    raise
    deleted: dict[str, list[str]] = {"endpoint": [], "endpoint config": [], "model": []}
    # Endpoint first: a config or model deleted under a live endpoint would
    # break its next scaling event or update.
    for kind, names in (("endpoint", [endpoint_name]), ("endpoint config", configs), ("model", models)):
        for name in dict.fromkeys(names):  # each once, in order
            if _delete(sm, kind, name):
                deleted[kind].append(name)
    if wait and deleted["endpoint"]:
        with aws_errors(f"wait for the endpoint {endpoint_name} to be deleted"):
            sm.get_waiter("endpoint_deleted").wait(EndpointName=endpoint_name, WaiterConfig={"Delay": 15, "MaxAttempts": 80})
        print(f"endpoint {endpoint_name} is gone", flush=True)
    return deleted
