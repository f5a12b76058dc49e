"""moto's server on loopback for the AWS commands of ``python -m serving``, and how the tests call them.

``moto`` (module-scoped) starts ``moto_server`` (``pip install "moto[server]"``);
:func:`serving` runs ``python -m serving ARGS`` against it in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import urllib.request
import uuid
from pathlib import Path

import pytest

from service_process import stop_process_group
from services import free_port, skip_or_fail, wait_for_http

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE = f"arn:aws:iam::{ACCOUNT}:role/qboost-sagemaker"
SAGEMAKER_REQUESTS = "sagemaker-requests.jsonl"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/qboost-sagemaker:latest"


def aws_free_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without AWS or SageMaker settings: AWS config files under ``home`` (none there), no metadata service."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    base.update({"AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
                 "AWS_EC2_METADATA_DISABLED": "true"})
    base.update(extra)
    return base


class Moto:
    """A running moto server: its URL, and boto3 clients and a CLI environment pointed at it."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: fake credentials, the region, no user AWS config, no proxy for loopback."""
        defaults = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
                    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        return aws_free_env(self.home, **{**defaults, **extra})

    def client(self, service: str):
        import boto3

        return boto3.client(
            service, region_name=REGION, endpoint_url=self.url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def sagemaker_requests(self) -> str:
        """Every request body SageMaker got so far, one a line (recorded by moto_fidelity)."""
        path = self.home / SAGEMAKER_REQUESTS
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def queue_invoke_results(self, *bodies: str) -> None:
        """Make moto's InvokeEndpoint answer these bodies, in order (its test-only API)."""
        results = [{"Body": b, "ContentType": "text/csv", "InvokedProductionVariant": "AllTraffic", "CustomAttributes": ""} for b in bodies]
        self._queue("endpoint-results", results)

    def queue_async_results(self, *results: tuple[bool, str]) -> None:
        """Make moto's InvokeEndpointAsync write these ``(is_failure, data)`` to S3, in order."""
        self._queue("async-endpoint-results", [{"is_failure": failed, "data": data} for failed, data in results])

    def _queue(self, kind: str, results: list) -> None:
        payload = {"account_id": ACCOUNT, "region": REGION, "results": results}
        request = urllib.request.Request(
            f"{self.url}/moto-api/static/sagemaker/{kind}",
            data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            assert response.status in (200, 201)


def _moto_command(port: int) -> list[str]:
    """``moto_server`` through :mod:`moto_fidelity` (SageMaker's answers as the v3 SDK expects them)."""
    return [sys.executable, str(Path(__file__).with_name("moto_fidelity.py")), "-H", "127.0.0.1", "-p", str(port)]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    try:
        import boto3  # noqa: F401
        import flask  # noqa: F401  (moto's server mode)
        import moto as _moto  # noqa: F401
    except ImportError as exc:
        skip_or_fail(f"moto's server mode is not installed ({exc}): pip install 'moto[server]'")
    root = tmp_path_factory.mktemp("moto")
    port = free_port()
    log_path = root / "moto.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            _moto_command(port), cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, "MOTO_SAGEMAKER_REQUESTS": str(root / SAGEMAKER_REQUESTS)},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/data.json", 60, process=process, log_path=log_path)
        yield Moto(url, root)
    finally:
        stop_process_group(process, grace=10)


def serving(moto: Moto, *args: str, cwd: Path, env: dict[str, str] | None = None, endpoint: bool = True) -> subprocess.CompletedProcess:
    """``python -m serving ARGS`` in a fresh process, against moto unless ``endpoint=False``."""
    extra = ["--endpoint-url", moto.url] if endpoint else []
    return subprocess.run(
        [sys.executable, "-m", "serving", *args, *extra],
        cwd=cwd, env=env if env is not None else moto.env(), capture_output=True, text=True, timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single ``error:`` line of a failed command (and no traceback)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def model_tarball(tmp_path) -> Path:
    """A small model.tar.gz (deploy only uploads it; moto never runs a container)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(model / "MLmodel", arcname="MLmodel")
    return path


def deploy_args(endpoint: str, model_data: str, *more: str) -> list[str]:
    return ["deploy", "--image-uri", IMAGE, "--model-data", model_data, "--role", ROLE,
            "--endpoint-name", endpoint, "--wait-delay", "1", *more]
