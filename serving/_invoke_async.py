"""InvokeEndpointAsync with a file: the input goes to S3, the answer is polled from S3.

An asynchronous endpoint (``deploy --async-output``) reads its request from
S3 and writes the answer (or the failure) there; the call itself only
queues it. This uploads the file, queues it, then waits for one of the two
objects to appear and prints the answer, or fails in one line with the
endpoint's failure message.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable

from ._errors import ServingError
from ._invoke import request_payload
from ._names import check_name, stamped_name
from ._s3 import parse_s3_uri, upload_file
from .aws import Aws, aws_errors, client_error_parts
from .container.messages import one_line

__all__ = ["invoke_async", "MAX_ASYNC_PAYLOAD"]

#: An asynchronous request's largest input here: SageMaker takes up to 1 GB, but the container
#: answers at most 6 MB per request (nginx's and the app's limit, as for real-time requests).
MAX_ASYNC_PAYLOAD = 6 * 1024 * 1024


def invoke_async(
    aws: Aws,
    endpoint_name: str,
    path: Path,
    *,
    content_type: str | None = None,
    accept: str | None = None,
    labelled: bool = False,
    input_prefix: str | None = None,
    poll_s: float = 5.0,
    timeout_s: float = 900.0,
    out: BinaryIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Queue ``path`` on the asynchronous endpoint and write its answer to ``out``; returns the output's S3 URI.

    The input goes to ``input_prefix`` (default
    ``s3://sagemaker-REGION-ACCOUNT/qboost/async-input``) under a stamped
    name. Polls every ``poll_s`` seconds for at most ``timeout_s``.
    """
    check_name(endpoint_name, "endpoint")
    data, kind = request_payload(path, content_type, labelled)
    if len(data) > MAX_ASYNC_PAYLOAD:
        raise ServingError(
            f"{path} is {len(data) / 2**20:.1f} MiB: the container answers at most 6 MB per request, asynchronous ones too; "
            "send it with `invoke` (which splits CSV) or use a batch transform job"
        )
    prefix = (input_prefix or f"s3://{aws.default_bucket()}/qboost/async-input").rstrip("/")
    parse_s3_uri(prefix + "/x")  # a malformed prefix fails before anything is uploaded
    uri = f"{prefix}/{stamped_name(endpoint_name)}{path.suffix or '.bin'}"
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "body"
        staged.write_bytes(data)
        upload_file(aws, staged, uri, log=sys.stderr)
    request: dict[str, Any] = {"EndpointName": endpoint_name, "InputLocation": uri, "ContentType": kind}
    if accept:
        request["Accept"] = accept
    with aws_errors(f"queue the request on the asynchronous endpoint {endpoint_name}"):
        response = aws.client("sagemaker-runtime").invoke_endpoint_async(**request)
    output, failure = response["OutputLocation"], response.get("FailureLocation")
    print(f"queued {uri} as inference {response.get('InferenceId')}; waiting for {output}", file=sys.stderr, flush=True)
    answer = _poll(aws, output, failure, poll_s, timeout_s, sleep)
    out = out if out is not None else sys.stdout.buffer
    out.write(answer if answer.endswith(b"\n") or not answer else answer + b"\n")
    out.flush()
    return output


def _poll(aws: Aws, output: str, failure: str | None, poll_s: float, timeout_s: float, sleep: Callable[[float], None]) -> bytes:
    """The output object's bytes once it exists; a failure object or the deadline is a :class:`ServingError`."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = _object(aws, output)
        if answer is not None:
            return answer
        failed = _object(aws, failure) if failure else None
        if failed is not None:
            raise ServingError(f"the asynchronous inference failed ({failure}): {one_line(failed.decode(errors='replace'), limit=500)}")
        if time.monotonic() >= deadline:
            where = "" if failure else " (the endpoint reports no failure location: deploy it with --async-output, which sets one)"
            raise ServingError(
                f"no answer at {output} after {timeout_s:.0f} s{where}: it may still come; fetch it later with `aws s3 cp {output} -`"
            )
        sleep(poll_s)


def _object(aws: Aws, uri: str) -> bytes | None:
    """The bytes of the S3 object ``uri``, or None while it does not exist."""
    import botocore.exceptions

    bucket, key = parse_s3_uri(uri)
    with aws_errors(f"read {uri}"):
        try:
            return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except botocore.exceptions.ClientError as exc:
            if client_error_parts(exc)[0] in {"NoSuchKey", "404", "NoSuchBucket"}:
                return None
            raise
