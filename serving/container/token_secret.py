"""The D-Wave token from AWS Secrets Manager: the job's environment names the secret, never holds the token.

``python -m serving train-job --dwave-token-secret NAME`` puts only
``DWAVE_API_TOKEN_SECRET=NAME`` in the job's ``Environment`` (which
``DescribeTrainingJob`` shows to anyone allowed to describe jobs). At start,
``train`` reads the secret with the job's role (:func:`read`), registers the
value with the redactor and puts it where Ocean looks (``DWAVE_API_TOKEN``).

The secret's value is the token itself, or a JSON object with the token under
``DWAVE_API_TOKEN`` (what the console's key/value form writes).
"""

from __future__ import annotations

import json
import re

#: The environment variable naming the secret (a name or an ARN).
SECRET_VARIABLE = "DWAVE_API_TOKEN_SECRET"
#: Where the token goes once read (Ocean's own variable), and the key of a key/value secret.
TOKEN_VARIABLE = "DWAVE_API_TOKEN"
#: What a D-Wave token looks like, as Ocean's own log masker knows them (a short prefix,
#: a dash and 40+ hex digits; 32+ bare hex digits; a UUID): given where a secret's name
#: belongs, it would be shown by DescribeTrainingJob and in the logs.
TOKEN_SHAPE = re.compile(r"^(?:[0-9A-Za-z]{2,8}-[0-9A-Fa-f]{32,}|[0-9A-Fa-f]{32,}"
                         r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$")
#: Seconds and attempts before an unreachable Secrets Manager is reported (botocore's defaults wait minutes).
CONNECT_TIMEOUT_S, ATTEMPTS = 10, 2
_ARN_REGION = re.compile(r"^arn:[^:]+:secretsmanager:([a-z0-9-]+):")
_WHERE = f"--dwave-token-secret / {SECRET_VARIABLE}"
_NO_BOTO3 = (f"{SECRET_VARIABLE} is set but boto3 is not installed to read it: package the image where boto3 is "
             "installed (pip install 'qboost-exp[sagemaker]', then python -m serving package) and rebuild it")


class TokenSecretError(Exception):
    """The secret could not be read or holds no token: one line naming the secret and what to fix."""


def looks_like_a_token(name: str) -> bool:
    """Whether ``name`` is shaped like a D-Wave token rather than a secret's name or ARN."""
    return bool(TOKEN_SHAPE.match(name.strip()))


def _client_error(name: str, code: str, message: str) -> TokenSecretError:
    if code == "AccessDeniedException":
        return TokenSecretError(
            f"cannot read the D-Wave token secret {name!r}: the job's role lacks secretsmanager:GetSecretValue on it "
            f"(and kms:Decrypt on its key, if the secret uses a customer-managed key)")
    if code == "ResourceNotFoundException":
        return TokenSecretError(f"no secret {name!r} in Secrets Manager in this region: check {_WHERE}")
    if code == "DecryptionFailure":
        return TokenSecretError(f"cannot decrypt the D-Wave token secret {name!r}: the job's role lacks kms:Decrypt on its key")
    return TokenSecretError(f"cannot read the D-Wave token secret {name!r}: {code}: {message}")


def _token_in(name: str, value: str) -> str:
    text = value.strip()
    if text.startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            raise TokenSecretError(f"the secret {name!r} starts like JSON but is not valid JSON: store the token itself, "
                                   f"or {{\"{TOKEN_VARIABLE}\": \"...\"}}") from None
        if not isinstance(fields, dict) or not isinstance(fields.get(TOKEN_VARIABLE), str):
            raise TokenSecretError(f"the secret {name!r} is a JSON object without a string {TOKEN_VARIABLE!r} key: "
                                   f"store the token itself, or {{\"{TOKEN_VARIABLE}\": \"...\"}}")
        text = fields[TOKEN_VARIABLE].strip()
    if not text:
        raise TokenSecretError(f"the secret {name!r} is empty: store the D-Wave token in it")
    return text


def _client(name: str):
    """A Secrets Manager client, in the region of ``name`` when it is an ARN (else the environment's)."""
    import boto3
    from botocore.config import Config

    match = _ARN_REGION.match(name)
    config = Config(connect_timeout=CONNECT_TIMEOUT_S, retries={"max_attempts": ATTEMPTS, "mode": "standard"})
    return boto3.client("secretsmanager", region_name=match.group(1) if match else None, config=config)


def _value(answer: dict, name: str) -> str:
    if "SecretString" in answer:
        return answer["SecretString"]
    if "SecretBinary" in answer:
        try:
            return answer["SecretBinary"].decode("utf-8")
        except UnicodeDecodeError:
            raise TokenSecretError(f"the secret {name!r} is binary, not text: store the token as a string") from None
    raise TokenSecretError(f"the secret {name!r} has no value (no SecretString or SecretBinary): store the D-Wave token in it")


def read(name: str, client=None) -> str:
    """The D-Wave token held by secret ``name``; :class:`TokenSecretError` in one line when it cannot be had."""
    if looks_like_a_token(name):  # never echoed: it is the token itself
        raise TokenSecretError(f"{SECRET_VARIABLE} holds what looks like a D-Wave token, not a secret's name: "
                               "store the token in Secrets Manager and give the secret's name or ARN")
    try:
        from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError,
                                         NoCredentialsError, NoRegionError)
    except ImportError:
        raise TokenSecretError(_NO_BOTO3) from None
    try:
        answer = (client or _client(name)).get_secret_value(SecretId=name)
    except ImportError:
        raise TokenSecretError(_NO_BOTO3) from None
    except ClientError as error:
        details = error.response.get("Error", {})
        raise _client_error(name, details.get("Code", "?"), details.get("Message", "")) from None
    except NoCredentialsError:
        raise TokenSecretError(f"no AWS credentials to read the D-Wave token secret {name!r} "
                               "(a SageMaker training job has its role's; run elsewhere with credentials set)") from None
    except NoRegionError:
        raise TokenSecretError(f"no AWS region to look up the D-Wave token secret {name!r}: "
                               "give the secret's ARN, or set AWS_DEFAULT_REGION") from None
    except (EndpointConnectionError, ConnectTimeoutError):
        raise TokenSecretError(f"cannot reach Secrets Manager to read the D-Wave token secret {name!r}: a job with "
                               "EnableNetworkIsolation, or in a VPC without a NAT gateway or a Secrets Manager "
                               "endpoint, has no route to it") from None
    except BotoCoreError as error:
        raise TokenSecretError(f"cannot read the D-Wave token secret {name!r}: {error}") from None
    return _token_in(name, _value(answer, name))
