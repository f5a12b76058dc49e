"""docker/build_and_push.sh: shellcheck-clean, and what it runs, with fake ``aws`` and ``docker`` programs first on PATH that log their arguments."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from clirun import REPO
import system_packages
from services import apt_install, skip_or_fail

SCRIPT = REPO / "docker" / "build_and_push.sh"


# ---------------------------------------------------------------- build_and_push.sh


def ensure_shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found:
        return found
    apt_install(system_packages.PACKAGES["shellcheck"])
    found = shutil.which("shellcheck")
    if not found:
        skip_or_fail("apt-get installed shellcheck but it is not on PATH")
    return found


def test_build_and_push_is_shellcheck_clean():
    shellcheck = ensure_shellcheck()
    result = subprocess.run([shellcheck, "--severity=style", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.access(SCRIPT, os.X_OK), "docker/build_and_push.sh must be executable"


FAKE_AWS = r"""#!/usr/bin/env bash
echo "aws $*" >> "$CALLS"
case "$1 $2" in
  "sts get-caller-identity") echo "${FAKE_ACCOUNT:-123456789012}" ;;
  "ecr describe-repositories")
    if [[ "${FAKE_DESCRIBE:-missing}" == exists ]]; then echo '{"repositories": [{"repositoryName": "x"}]}';
    elif [[ "${FAKE_DESCRIBE}" == denied ]]; then
      echo "An error occurred (AccessDeniedException) when calling the DescribeRepositories operation: not allowed" >&2; exit 254;
    else
      echo "An error occurred (RepositoryNotFoundException) when calling the DescribeRepositories operation: The repository does not exist" >&2; exit 254;
    fi ;;
  "ecr create-repository") echo '{"repository": {"repositoryUri": "x"}}' ;;
  "ecr get-login-password") echo "fake-password" ;;
  "configure get") exit 1 ;;
  *) echo "fake aws: unexpected $*" >&2; exit 99 ;;
esac
"""

FAKE_DOCKER = r"""#!/usr/bin/env bash
if [[ "$1" == login ]]; then echo "docker $* stdin=$(cat)" >> "$CALLS"; echo "Login Succeeded"; exit 0; fi
echo "docker $*" >> "$CALLS"
echo "fake docker output for $1"
"""


@pytest.fixture
def fake_tools(tmp_path):
    """A PATH whose first directory holds logging fakes of `aws` and `docker`, and a build context."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name, text in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    context = tmp_path / "build" / "sagemaker"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM scratch\n")
    calls = tmp_path / "calls.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls), "HOME": str(tmp_path)})

    def run(*args: str, **extra: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        result = subprocess.run([str(SCRIPT), *args], cwd=tmp_path, env={**env, **extra}, capture_output=True, text=True, timeout=60)
        return result, calls.read_text().splitlines() if calls.exists() else []

    return run


def test_build_and_push_creates_the_repository_logs_in_builds_both_targets_tags_and_pushes(fake_tools):
    result, calls = fake_tools("qboost-sagemaker", "eu-west-1")
    assert result.returncode == 0, result.stderr
    repo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/qboost-sagemaker"
    assert result.stdout == f"{repo}:serve\n{repo}:full\n"  # stdout: the serving image, then the training image
    assert calls == [
        "aws sts get-caller-identity --query Account --output text",
        "aws ecr describe-repositories --repository-names qboost-sagemaker --region eu-west-1",
        "aws ecr create-repository --repository-name qboost-sagemaker --region eu-west-1",
        "aws ecr get-login-password --region eu-west-1",
        "docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com stdin=fake-password",
        # full first: the serve target reuses the shared stage's layers
        "docker build --platform linux/amd64 --target full -t qboost-sagemaker:full build/sagemaker",
        f"docker tag qboost-sagemaker:full {repo}:full",
        "docker build --platform linux/amd64 --target serve -t qboost-sagemaker:serve build/sagemaker",
        f"docker tag qboost-sagemaker:serve {repo}:serve",
        f"docker push {repo}:full",
        f"docker push {repo}:serve",
    ]


def test_build_and_push_reuses_an_existing_repository_and_takes_region_tag_and_context(fake_tools, tmp_path):
    other = tmp_path / "ctx"
    other.mkdir()
    (other / "Dockerfile").write_text("FROM scratch\n")
    result, calls = fake_tools("team/qboost", "", str(other), FAKE_DESCRIBE="exists", AWS_DEFAULT_REGION="cn-north-1", IMAGE_TAG="v7")
    assert result.returncode == 0, result.stderr
    repo = "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/qboost"
    assert result.stdout == f"{repo}:v7-serve\n{repo}:v7-full\n"
    assert not any("create-repository" in c for c in calls)
    assert f"docker build --platform linux/amd64 --target serve -t team/qboost:v7-serve {other}" in calls
    assert calls[-1] == f"docker push {repo}:v7-serve"


def test_build_and_push_builds_only_the_full_image_for_a_model_that_does_not_compile(fake_tools, tmp_path):
    context = tmp_path / "build" / "sagemaker"
    (context / "build-info.json").write_text('{\n  "image_target": "full",\n  "compiled": false\n}\n')
    result, calls = fake_tools("qboost-sagemaker", "eu-west-1")
    assert result.returncode == 0, result.stderr
    repo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/qboost-sagemaker"
    assert result.stdout == f"{repo}:full\n{repo}:full\n"  # it serves and trains
    assert "does not compile" in result.stderr
    assert not any("--target serve" in c or c.endswith(":serve") for c in calls)


@pytest.mark.parametrize(
    "args,extra,message",
    [
        ((), {}, "usage:"),
        (("a", "b", "c", "d"), {}, "usage:"),
        (("Bad_Name", "eu-west-1"), {}, "invalid repository name"),
        (("qboost", "eu-west-1", "nowhere"), {}, "no Dockerfile in 'nowhere'"),
        (("qboost",), {}, "no AWS region"),
        (("qboost", "eu-west-1"), {"FAKE_DESCRIBE": "denied"}, "AccessDeniedException"),
        (("qboost", "eu-west-1"), {"FAKE_ACCOUNT": "None"}, "unexpected account id"),
    ],
)
def test_build_and_push_stops_with_a_message(fake_tools, args, extra, message):
    result, calls = fake_tools(*args, **extra)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr and result.stdout == ""
    assert not any(c.startswith(("aws ecr create-repository", "docker")) for c in calls)
