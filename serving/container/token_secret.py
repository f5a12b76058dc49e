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

#: The environment variable naming the secret (a name or an ARN).
VARIABLE = "DWAVE_API_TOKEN_SECRET"
#: Where the token goes once read (Ocean's own variable), and the key of a key/value secret.
TOKEN_VARIABLE = "DWAVE_API_TOKEN"


class TokenSecretError(Exception):
    """The secret could not be read or holds no token: one line naming the secret and what to fix."""


def _client_error(name: str, code: str, message: str) -> TokenSecretError:
    if code == "AccessDeniedException":
        return TokenSecretError(
            f"cannot read the D-Wave token secret {name!r}: the job's role lacks secretsmanager:GetSecretValue on it "
            f"(and kms:Decrypt on its key, if the secret uses a customer-managed key)")
    if code == "ResourceNotFoundException":
        return TokenSecretError(f"no secret {name!r} in Secrets Manager in this region: check --dwave-token-secret")
    if code == "DecryptionFailure":
        return TokenSecretError(f"cannot decrypt the D-Wave token secret {name!r}: the job's role lacks kms:Decrypt on its key")
    return TokenSecretError(f"cannot read the D-Wave token secret {name!r}: {code}: {message}")


def _token_in(name: str, value: str) -> str:
    text = value.strip()
    if text.startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            fields = None
        if not isinstance(fields, dict) or not isinstance(fields.get(TOKEN_VARIABLE), str):
            raise TokenSecretError(f"the secret {name!r} is a JSON object without a string {TOKEN_VARIABLE!r} key: "
                                   f"store the token itself, or {{\"{TOKEN_VARIABLE}\": \"...\"}}")
        text = fields[TOKEN_VARIABLE].strip()
    if not text:
        raise TokenSecretError(f"the secret {name!r} is empty: store the D-Wave token in it")
    return text


def read(name: str, client=None) -> str:
    """The D-Wave token held by secret ``name``; :class:`TokenSecretError` in one line when it cannot be had."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:
        raise TokenSecretError(f"{VARIABLE} is set but this image has no boto3 to read it: train on the full image") from None
    try:
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
        answer = client.get_secret_value(SecretId=name)
    except ClientError as error:
        details = error.response.get("Error", {})
        raise _client_error(name, details.get("Code", "?"), details.get("Message", "")) from None
    except NoCredentialsError:
        raise TokenSecretError(f"no AWS credentials to read the D-Wave token secret {name!r} "
                               "(a SageMaker training job has its role's; run elsewhere with credentials set)") from None
    except BotoCoreError as error:
        raise TokenSecretError(f"cannot reach Secrets Manager to read the D-Wave token secret {name!r}: {error}") from None
    if "SecretString" in answer:
        return _token_in(name, answer["SecretString"])
    try:
        return _token_in(name, answer["SecretBinary"].decode("utf-8"))
    except UnicodeDecodeError:
        raise TokenSecretError(f"the secret {name!r} is binary, not text: store the token as a string") from None
