"""SageMaker's managed MLflow as the tracking URI (an ARN, through AWS's sagemaker-mlflow plugin), without a network."""

from __future__ import annotations

import pytest

from qboost_exp.tracking import TrackingStoreError, check_reachable, is_sagemaker_arn, resolve_tracking_uri
from qboost_exp.tracking import _store

from clirun import QUICK, run_module

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/team"
#: No credentials anywhere boto3 looks (environment, files, instance metadata).
NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
                  "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}
#: Credentials, and every HTTPS request sent to a closed local port: nothing leaves the machine.
OFFLINE = {**NO_CREDENTIALS, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_DEFAULT_REGION": "eu-west-1",
           "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


@pytest.mark.parametrize("uri,expected", [
    (ARN, True),
    ("arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-1", True),
    ("arn:aws-cn:sagemaker:cn-north-1:123456789012:mlflow-tracking-server/t", True),
    ("arn:aws:sagemaker:eu-west-1:123456789012:endpoint/qboost", False),
    ("arn:aws:s3:::bucket", False),
    ("http://127.0.0.1:5000", False),
])
def test_what_counts_as_a_sagemaker_mlflow_arn(uri, expected):
    assert is_sagemaker_arn(uri) is expected


def test_an_arn_is_not_a_local_path():
    assert resolve_tracking_uri(ARN) == ARN


def test_a_malformed_sagemaker_arn_is_refused_with_the_expected_form():
    with pytest.raises(TrackingStoreError, match=r"is an ARN but not a SageMaker MLflow tracking server's or app's: expected arn:aws:sagemaker:REGION"):
        check_reachable("arn:aws:sagemaker:eu-west-1:ACCOUNT:mlflow-tracking-server/team")


def test_without_the_plugin_the_error_names_the_extra(monkeypatch):
    monkeypatch.setattr(_store, "_has_arn_plugin", lambda: False)
    with pytest.raises(TrackingStoreError, match=r"AWS's sagemaker-mlflow plugin: pip install 'qboost-exp\[aws\]'"):
        check_reachable(ARN)


def test_the_plugin_is_installed_by_the_test_extra():
    assert _store._has_arn_plugin()


@pytest.mark.parametrize("env,says", [
    (NO_CREDENTIALS, "no AWS credentials (the sagemaker-mlflow plugin signs every request with them)"),
    ({**NO_CREDENTIALS, "AWS_PROFILE": "nosuch"}, "AWS configuration: The config profile (nosuch) could not be found"),
    (OFFLINE, "cannot reach the MLflow tracking server at " + ARN),
])
def test_an_unreachable_sagemaker_store_stops_the_cli_in_one_line_before_training(tmp_path, env, says):
    result = run_module("qboost_exp", f"mlflow.tracking_uri={ARN}", "lambda=0.1", "qubo.max_weight=0.125", *QUICK,
                        cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line
    assert "accuracy" not in result.stdout  # nothing was trained
    assert not (tmp_path / "mlflow.db").exists()
