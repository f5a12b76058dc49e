"""S3 for deploy: parse ``s3://`` URIs, create a bucket if missing, upload model.tar.gz."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ._errors import ServingError
from .aws import Aws, aws_errors, client_error_parts

__all__ = ["parse_s3_uri", "is_s3_uri", "ensure_bucket", "upload_file"]


def is_s3_uri(text: str) -> bool:
    """True if ``text`` starts with ``s3://``."""
    return text.startswith("s3://")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/part`` -> ``("bucket", "key/part")``; the key may be empty.

    Raises
    ------
    ServingError
        If ``uri`` is not ``s3://BUCKET[/KEY]``.
    """
    if not is_s3_uri(uri):
        raise ServingError(f"not an S3 URI: {uri!r} (expected s3://BUCKET/KEY)")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise ServingError(f"no bucket in S3 URI {uri!r} (expected s3://BUCKET/KEY)")
    return bucket, key


def ensure_bucket(aws: Aws, bucket: str) -> bool:
    """Create ``bucket`` in the session's region unless it exists; True if it was created.

    A bucket that exists but belongs to someone else (403) is an error: uploading
    a model into a stranger's bucket is never what was meant.
    """
    import botocore.exceptions

    s3 = aws.client("s3")
    with aws_errors(f"check the S3 bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
            return False
        except botocore.exceptions.ClientError as exc:
            code, _ = client_error_parts(exc)
            if code in {"403", "AccessDenied", "Forbidden"}:
                raise ServingError(f"S3 bucket {bucket} exists but this account cannot use it (403); choose another with --bucket") from None
            if code not in {"404", "NoSuchBucket", "NotFound"}:
                raise
    region = aws.region
    kwargs: dict = {"Bucket": bucket}
    if region != "us-east-1":
        # S3 rejects an explicit us-east-1 constraint and requires one everywhere else.
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with aws_errors(f"create the S3 bucket {bucket} in {region}"):
        s3.create_bucket(**kwargs)
    return True


def upload_file(aws: Aws, path: Path, uri: str, *, log: Any = None) -> str:
    """Upload the local file ``path`` to the S3 URI ``uri`` (bucket created if missing); returns ``uri``.

    A created bucket is reported on ``log`` (default stdout; stderr where stdout carries an answer).
    """
    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        raise ServingError(f"S3 destination {uri!r} needs an object key, not a prefix")
    if ensure_bucket(aws, bucket):
        print(f"created S3 bucket {bucket} in {aws.region}", file=log or sys.stdout, flush=True)
    with aws_errors(f"upload {path} to {uri}"):
        aws.client("s3").upload_file(str(path), bucket, key)
    return uri
