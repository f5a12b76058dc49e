"""Endpoints: deploy (model -> endpoint config -> endpoint) and delete, as in SageMaker's notebooks.

Each deploy creates a new SageMaker model and endpoint config, both named
``ENDPOINT-YYYYMMDD-HHMMSS-mmm`` (neither can be changed once created), and
then creates the endpoint -- or, with ``update=True``, points the existing
endpoint at the new config (SageMaker swaps it in without downtime).
"""

from __future__ import annotations

import sys
from typing import Any

from ._errors import ServingError
from ._images import FULL_TAG, SERVE_TAG, image_for
from ._names import check_name, stamped_name
from ._s3 import upload_file
from ._specs import DeploySpec
from .aws import MESSAGE_LIMIT, Aws, aws_errors, is_not_found
from .container.messages import one_line

# image_for and the tags are named here too: deploying is where they are used most.
__all__ = ["deploy", "delete", "describe_endpoint", "image_for", "SERVE_TAG", "FULL_TAG"]

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


def deploy(aws: Aws, spec: DeploySpec) -> dict[str, str]:
    """Create (or update) the real-time endpoint ``spec`` describes; wait for it unless ``spec.wait`` is False.

    Parameters
    ----------
    aws : Aws
        Region and endpoint for the calls.
    spec : DeploySpec
        The image, model, endpoint and instances (checked when it was built).

    Returns
    -------
    dict
        ``model``, ``endpoint_config``, ``endpoint``, ``model_data`` and ``status``.
    """
    if spec.serverless:
        print(_serverless_image_note(spec.image_uri), flush=True)
    sm = aws.client("sagemaker")
    existing = _replaceable_endpoint(sm, spec)
    name = stamped_name(spec.endpoint_name)
    model_data = _model_data_uri(aws, spec, name)
    _create(sm, spec, name, model_data, existing)
    status = "Creating" if existing is None else "Updating"
    if spec.wait:
        status = wait_in_service(sm, spec.endpoint_name, delay=spec.wait_delay, attempts=spec.wait_attempts)
        print(f"endpoint {spec.endpoint_name} is {status}", flush=True)
    else:
        print(f"not waiting: `aws sagemaker wait endpoint-in-service --endpoint-name {spec.endpoint_name}` does", flush=True)
    return {"model": name, "endpoint_config": name, "endpoint": spec.endpoint_name, "model_data": model_data, "status": status}


def _serverless_image_note(image_uri: str) -> str:
    """Which image a serverless endpoint runs, and why the lean one suits it."""
    if image_uri.endswith(f":{FULL_TAG}") or f":{FULL_TAG}-" in image_uri.rsplit("/", 1)[-1]:
        return (f"serverless with the full image {image_uri}: it starts in seconds, and every cold start pays that; "
                f"the lean :{SERVE_TAG} image answers /ping in 0.2-0.5 s (models that compile)")
    return f"serverless with the lean image {image_uri}: cold starts are where its 0.2-0.5 s start pays"


def _replaceable_endpoint(sm: Any, spec: DeploySpec) -> dict[str, Any] | None:
    """The endpoint as it is now (None if there is none), once it is known that this deploy may replace it."""
    existing = describe_endpoint(sm, spec.endpoint_name)
    if existing is None:
        return None
    status = existing.get("EndpointStatus", "?")
    if not spec.update:
        raise ServingError(
            f"endpoint {spec.endpoint_name} already exists ({status}): pass --update to point it at the new model, "
            f"or remove it first with `python -m serving delete --endpoint-name {spec.endpoint_name}`"
        )
    if status in _BUSY or status == "Failed":
        raise ServingError(
            f"endpoint {spec.endpoint_name} is {status} and cannot be updated now"
            + (": delete it and deploy again" if status == "Failed" else ": wait until it is InService")
        )
    return existing


def _model_data_uri(aws: Aws, spec: DeploySpec, name: str) -> str:
    """The model's S3 URI: as given, or where the local model.tar.gz is uploaded (under the new model's ``name``)."""
    local = spec.local_model_data
    if local is None:
        return spec.model_data
    bucket = spec.bucket or aws.default_bucket()
    key = "/".join(part for part in (spec.prefix.strip("/"), name, "model.tar.gz") if part)
    uri = upload_file(aws, local, f"s3://{bucket}/{key}")
    print(f"uploaded {local} to {uri}", flush=True)
    return uri


def _create(sm: Any, spec: DeploySpec, name: str, model_data: str, existing: dict[str, Any] | None) -> None:
    """CreateModel and CreateEndpointConfig ``name``, then create the endpoint or point ``existing`` at them.

    A failed step deletes what the earlier ones created (an endpoint config
    or model nobody uses would only be clutter to clean up by hand).
    """
    container: dict[str, Any] = {"Image": spec.image_uri, "ModelDataUrl": model_data}
    if spec.environment:
        container["Environment"] = dict(spec.environment)
    created: list[tuple[str, str]] = []  # what to roll back if a later step fails
    try:
        with aws_errors(f"create the model {name}"):
            sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=spec.role)
        created.append(("model", name))
        print(f"created model {name} (image {spec.image_uri})", flush=True)
        _create_endpoint_config(sm, spec, name)
        created.append(("endpoint config", name))
        _start_endpoint(sm, spec.endpoint_name, name, existing)
    except ServingError:
        _roll_back(sm, created)
        raise


def endpoint_config_request(spec: DeploySpec, name: str) -> dict[str, Any]:
    """CreateEndpointConfig's arguments: one production variant of model ``name``, serverless or on instances."""
    variant: dict[str, Any] = {"VariantName": VARIANT, "ModelName": name}
    if spec.serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": spec.serverless_memory_mb, "MaxConcurrency": spec.serverless_max_concurrency}
    else:
        variant.update(InstanceType=spec.instance_type, InitialInstanceCount=spec.instance_count, InitialVariantWeight=1.0)
    request: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": [variant]}
    if spec.async_output is not None:
        # Without S3FailurePath SageMaker writes no failure object, and `invoke --async` could only time out.
        output = spec.async_output.rstrip("/")
        request["AsyncInferenceConfig"] = {"OutputConfig": {"S3OutputPath": f"{output}/", "S3FailurePath": f"{output}/failures/"}}
    return request


def _create_endpoint_config(sm: Any, spec: DeploySpec, name: str) -> None:
    """CreateEndpointConfig ``name`` (see :func:`endpoint_config_request`)."""
    with aws_errors(f"create the endpoint config {name}"):
        sm.create_endpoint_config(**endpoint_config_request(spec, name))
    if spec.serverless:
        how = f"serverless, {spec.serverless_memory_mb} MB, at most {spec.serverless_max_concurrency} concurrent invocations"
    else:
        how = f"{spec.instance_count} x {spec.instance_type}"
    if spec.async_output is not None:
        how += f", asynchronous: results under {spec.async_output.rstrip('/')}/, failures under .../failures/"
    print(f"created endpoint config {name} ({how})", flush=True)


def _start_endpoint(sm: Any, endpoint_name: str, config_name: str, existing: dict[str, Any] | None) -> None:
    """CreateEndpoint with ``config_name``, or UpdateEndpoint to it when the endpoint exists."""
    if existing is not None:
        with aws_errors(f"update the endpoint {endpoint_name}"):
            sm.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
        print(f"updating endpoint {endpoint_name} to {config_name} (previous config {existing.get('EndpointConfigName')} is kept)", flush=True)
    else:
        with aws_errors(f"create the endpoint {endpoint_name}"):
            sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
        print(f"creating endpoint {endpoint_name}", flush=True)


def _roll_back(sm: Any, created: list[tuple[str, str]]) -> None:
    """Delete what this deploy created before it failed (best effort: the failure is what gets reported)."""
    for kind, name in reversed(created):
        call = sm.delete_endpoint_config if kind == "endpoint config" else sm.delete_model
        key = "EndpointConfigName" if kind == "endpoint config" else "ModelName"
        try:
            call(**{key: name})
            print(f"rolled back: deleted {kind} {name}", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 - a failed cleanup must not hide the real error
            print(f"could not delete {kind} {name} while rolling back: {one_line(exc, limit=MESSAGE_LIMIT)}", file=sys.stderr, flush=True)


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
        reason = one_line(found.get("FailureReason") or "no FailureReason given", limit=MESSAGE_LIMIT)
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
