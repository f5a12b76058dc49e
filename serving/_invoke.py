"""InvokeEndpoint with a file: the content type from the extension, CSV split under the 6 MB limit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ._errors import ServingError
from ._names import check_name
from .aws import Aws, aws_errors

__all__ = ["invoke", "request_payload", "content_type_for", "csv_chunks", "drop_first_column", "MAX_PAYLOAD"]

#: InvokeEndpoint's request body limit (6 MiB, the API's maximum Body length).
MAX_PAYLOAD = 6 * 1024 * 1024
#: CSV chunk size: under the limit with room to spare.
CHUNK = 5 * 1024 * 1024

_TYPES = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/jsonlines",
    ".jsonlines": "application/jsonlines",
    ".npy": "application/x-npy",
}


def content_type_for(path: Path) -> str:
    """The request content type for ``path`` by its extension; a :class:`ServingError` if unknown."""
    try:
        return _TYPES[path.suffix.lower()]
    except KeyError:
        known = ", ".join(f"{ext} ({kind})" for ext, kind in _TYPES.items())
        raise ServingError(f"cannot tell the content type of {path.name}: pass --content-type (known extensions: {known})") from None


def csv_chunks(data: bytes, limit: int = CHUNK) -> Iterator[bytes]:
    """``data`` cut at line ends into pieces of at most ``limit`` bytes (SageMaker CSV has no header to repeat)."""
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        if end < len(data):
            cut = data.rfind(b"\n", start, end)
            if cut < 0:
                raise ServingError(f"a CSV line is longer than {limit} bytes: cannot split it under InvokeEndpoint's limit")
            end = cut + 1
        yield data[start:end]
        start = end


def drop_first_column(data: bytes) -> bytes:
    """Each CSV line without its first field (the label of a training-layout file)."""
    lines = data.splitlines()
    features = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        label, sep, rest = line.partition(b",")
        if not sep:
            raise ServingError(f"--labelled: line {number} has a single column; there are no features after the label")
        features.append(rest)
    return b"\n".join(features) + b"\n"


def _request_bodies(path: Path, data: bytes, kind: str, split: bool) -> list[bytes]:
    """``data`` as one request body, or (CSV with ``split``) as line-aligned parts under the limit."""
    if len(data) <= MAX_PAYLOAD:
        return [data]
    is_csv = kind.split(";")[0].strip() == "text/csv"
    if is_csv and split:
        bodies = list(csv_chunks(data))
        print(f"{path} is {len(data) / 2**20:.1f} MiB: sending it in {len(bodies)} requests of whole lines", file=sys.stderr, flush=True)
        return bodies
    hint = "drop --no-split to send it in line-aligned parts" if is_csv else "split it into files under 6 MiB"
    raise ServingError(
        f"{path} is {len(data) / 2**20:.1f} MiB, over InvokeEndpoint's 6 MiB limit: {hint}, or use a batch transform job"
    )


def request_payload(path: Path, content_type: str | None, labelled: bool) -> tuple[bytes, str]:
    """The request body from ``path`` (features only with ``labelled``) and its content type."""
    if not path.is_file():
        raise ServingError(f"--file {path}: no such file")
    kind = content_type or content_type_for(path)
    data = path.read_bytes()
    if not data:
        raise ServingError(f"--file {path} is empty")
    if labelled:
        if kind.split(";")[0].strip() != "text/csv":
            raise ServingError("--labelled applies to CSV files only")
        data = drop_first_column(data)
    return data, kind


def invoke(
    aws: Aws,
    endpoint_name: str,
    path: Path,
    *,
    content_type: str | None = None,
    accept: str | None = None,
    custom_attributes: str | None = None,
    split: bool = True,
    labelled: bool = False,
    out: BinaryIO | None = None,
) -> int:
    """Send ``path`` to the endpoint and write the response body(ies) to ``out`` (default stdout).

    A payload over :data:`MAX_PAYLOAD` is an error, except for ``text/csv``
    with ``split=True``: that is sent in line-aligned chunks, one request
    each, and the bodies are written in order (one prediction per line
    stays one per line). ``labelled=True`` drops the first column of a
    CSV file (the label, in the SageMaker training layout) before sending.
    Returns the number of requests made.
    """
    check_name(endpoint_name, "endpoint")
    data, kind = request_payload(path, content_type, labelled)
    bodies = _request_bodies(path, data, kind, split)
    runtime = aws.client("sagemaker-runtime", read_timeout=70)  # the endpoint itself times out at 60 s
    out = out if out is not None else sys.stdout.buffer
    for i, body in enumerate(bodies, 1):
        request: dict[str, Any] = {"EndpointName": endpoint_name, "Body": body, "ContentType": kind}
        if accept:
            request["Accept"] = accept
        if custom_attributes:
            request["CustomAttributes"] = custom_attributes
        where = f" (part {i} of {len(bodies)})" if len(bodies) > 1 else ""
        with aws_errors(f"invoke the endpoint {endpoint_name}{where}"):
            response = runtime.invoke_endpoint(**request)
            answer = response["Body"].read()
        out.write(answer)
        if answer and not answer.endswith(b"\n"):
            out.write(b"\n")
        out.flush()
        if response.get("CustomAttributes"):
            print(f"custom attributes: {response['CustomAttributes']}", file=sys.stderr, flush=True)
    return len(bodies)
