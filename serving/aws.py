"""boto3 sessions and clients for ``python -m serving``, and AWS errors as one line.

Every AWS subcommand (deploy, train-job, invoke, delete) goes through
:class:`Aws`: the region comes from ``--region``, else the usual boto3 chain
(``AWS_REGION``/``AWS_DEFAULT_REGION``, ``~/.aws/config``); the endpoint from
``--endpoint-url``, else botocore's own ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_<SERVICE>`` variables (botocore >= 1.31 reads them
natively, so they need no code here). A custom endpoint is what the tests use
to talk to moto's server on loopback.

:func:`aws_errors` turns botocore's exceptions into :class:`ServingError`
with a single line that names the failed operation, AWS's error code and
message, and for credential and region problems how to fix them.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from ._errors import ServingError
from .container.messages import one_line

__all__ = ["Aws", "aws_errors"]

# Error codes that mean "your credentials are wrong", not "your request is wrong".
_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "AuthFailure",
}

CREDENTIALS_HINT = (
    "configure them with `aws configure`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
    "(and AWS_SESSION_TOKEN for temporary credentials), or AWS_PROFILE"
)
REGION_HINT = "pass --region, or set AWS_DEFAULT_REGION, or `aws configure set region REGION`"


#: The longest AWS message shown (an error line must stay readable).
MESSAGE_LIMIT = 400


class Aws:
    """Where AWS calls go: a region and an optional endpoint URL, and the boto3 session for them.

    Parameters
    ----------
    region : str, optional
        AWS region; ``None`` leaves it to boto3's chain (environment, config file).
    endpoint_url : str, optional
        One endpoint for every service (moto's server in tests); ``None`` leaves
        it to boto3 (AWS, or ``AWS_ENDPOINT_URL`` if set).
    """

    def __init__(self, region: str | None = None, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url or None
        self._region = region or None
        self._session: Any = None
        self._account: str | None = None

    @property
    def session(self) -> Any:
        """The boto3 session (created on first use: importing boto3 costs ~0.3 s)."""
        if self._session is None:
            import boto3
            import botocore.exceptions

            try:
                self._session = boto3.Session(region_name=self._region)
            except botocore.exceptions.ProfileNotFound as exc:
                raise ServingError(f"{exc}: check AWS_PROFILE / --profile in ~/.aws/config") from None
        return self._session

    @property
    def region(self) -> str:
        """The resolved region; a :class:`ServingError` that says how to set one if there is none."""
        region = self.session.region_name
        if not region:
            raise ServingError(f"no AWS region configured: {REGION_HINT}")
        return region

    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client for ``service`` in :attr:`region`, at :attr:`endpoint_url` if set.

        ``config`` goes to :class:`botocore.config.Config` (e.g. ``read_timeout``).
        """
        from botocore.config import Config

        settings: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 3}, "user_agent_extra": "qboost-exp-serving"}
        settings.update(config)
        return self.session.client(service, region_name=self.region, endpoint_url=self.endpoint_url, config=Config(**settings))

    def account_id(self) -> str:
        """The caller's account id (STS GetCallerIdentity; also proves the credentials work)."""
        if self._account is None:
            with aws_errors("find the AWS account (sts get-caller-identity)"):
                self._account = str(self.client("sts").get_caller_identity()["Account"])
        return self._account

    def default_bucket(self) -> str:
        """SageMaker's conventional default bucket, ``sagemaker-REGION-ACCOUNT`` (as the SageMaker SDK names it)."""
        return f"sagemaker-{self.region}-{self.account_id()}"


def client_error_parts(exc: Any) -> tuple[str, str]:
    """(code, message) of a botocore ``ClientError``; an HTML error page becomes ``HTTP <status>``."""
    error = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") if hasattr(exc, "response") else None
    if message.lstrip().startswith("<") or not message:
        # An endpoint that is not an AWS API (a proxy, or moto without the
        # operation) answers with HTML; its text is noise on one line.
        message = f"HTTP {status} from the endpoint (is this operation supported there?)" if status else "no message"
    return code, one_line(message, limit=MESSAGE_LIMIT)


def is_not_found(exc: Any) -> bool:
    """True for the ways SageMaker (and S3) say "no such resource".

    SageMaker answers a missing endpoint, endpoint config or model with
    ``ValidationException: Could not find ...``, not a dedicated code.
    """
    code, message = client_error_parts(exc)
    if code in {"ResourceNotFound", "ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "404", "NotFound"}:
        return True
    return code == "ValidationException" and ("could not find" in message.lower() or "does not exist" in message.lower())


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Re-raise botocore failures inside the block as one-line :class:`ServingError`.

    Parameters
    ----------
    action : str
        What was being attempted, for the message ("create the model qboost-1").
    """
    import botocore.exceptions as bex

    try:
        yield
    except ServingError:
        raise
    except bex.ClientError as exc:
        code, message = client_error_parts(exc)
        hint = f" ({CREDENTIALS_HINT})" if code in _CREDENTIAL_CODES else ""
        raise ServingError(f"cannot {action}: {exc.operation_name} failed with {code}: {message}{hint}") from None
    except (bex.NoCredentialsError, bex.PartialCredentialsError) as exc:
        raise ServingError(f"cannot {action}: no usable AWS credentials ({one_line(exc, limit=MESSAGE_LIMIT)}); {CREDENTIALS_HINT}") from None
    except bex.NoRegionError:
        raise ServingError(f"cannot {action}: no AWS region configured: {REGION_HINT}") from None
    except bex.EndpointConnectionError as exc:
        raise ServingError(f"cannot {action}: {one_line(exc, limit=MESSAGE_LIMIT)} (check --endpoint-url / AWS_ENDPOINT_URL and the network)") from None
    except bex.ParamValidationError as exc:
        raise ServingError(f"cannot {action}: invalid request: {one_line(exc, limit=MESSAGE_LIMIT)}") from None
    except bex.WaiterError as exc:
        raise ServingError(f"cannot {action}: {one_line(exc, limit=MESSAGE_LIMIT)}") from None
    except bex.BotoCoreError as exc:
        raise ServingError(f"cannot {action}: {one_line(exc, limit=MESSAGE_LIMIT, with_type=True)}") from None
