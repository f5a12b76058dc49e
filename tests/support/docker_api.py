"""Docker's API from podman, for clients that want Docker (the SageMaker SDK's local mode), and a guard on egress.

* ``docker_api`` (session-scoped, on the ``podman`` fixture): Debian's
  ``docker-compose`` and a ``docker`` command (``podman-docker``) installed when
  missing, and ``podman system service`` on a unix socket of the session's own,
  with the session's containers.conf. Yields :class:`DockerApi`: the
  ``DOCKER_HOST`` to give a client. At the end the service stops and the
  containers and networks docker-compose made are removed.
* :class:`EgressRecorder`: an HTTP proxy on loopback that answers every request
  (``CONNECT host:443`` for HTTPS, an absolute URL for HTTP) with 403 at once and
  remembers it. A process given it as ``HTTPS_PROXY``/``HTTP_PROXY`` cannot reach
  AWS (or anything else) by accident: such a call fails fast instead of hanging,
  and the test reads :attr:`EgressRecorder.requests` to fail on it.
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket as _socket
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import system_packages
from moto_server import aws_free_env
from podman import Podman, progress
from service_process import stop_process_group
from services import skip_or_fail

PACKAGES = system_packages.PACKAGES["docker-api"]
COMPOSE_LABEL = "com.docker.compose.project"
#: Where the compose file was: this session's are under its pytest basetemp (tests give the SDK TMPDIR there).
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
#: The network the SDK's compose files declare.
SDK_NETWORK = "sagemaker-local"


@dataclass
class DockerApi:
    """podman's Docker-compatible API on ``socket``; ``host`` is the ``DOCKER_HOST`` that reaches it."""

    socket: Path

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"


def _pings(socket: Path) -> bool:
    """Whether the Docker API on ``socket`` answers ``GET /_ping`` with OK."""
    if not socket.exists():
        return False
    connection = http.client.HTTPConnection("localhost", timeout=10)
    connection.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.sock.connect(str(socket))
        connection.request("GET", "/_ping")
        return connection.getresponse().read() == b"OK"
    except OSError:
        return False
    finally:
        connection.close()


def _wait_for_socket(socket: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"podman system service exited with {process.returncode}")
        if _pings(socket):
            return
        time.sleep(0.2)
    raise RuntimeError(f"podman system service did not answer on {socket} within {timeout:.0f} s")


def compose_containers(podman: Podman, under: Path) -> list[str]:
    """The containers docker-compose made from a compose file under ``under`` (it never runs ``down`` after a job)."""
    listed = podman("ps", "-a", "--format", "json", "--filter", f"label={COMPOSE_LABEL}", check=False).stdout
    containers = json.loads(listed or "[]")
    return [c["Id"] for c in containers
            if Path((c.get("Labels") or {}).get(WORKING_DIR_LABEL, "/")).is_relative_to(under)]


def remove_leftovers(podman: Podman, under: Path, network_before: bool) -> None:
    """What this session's compose runs left (compose files under ``under``), and the SDK's network if this made it.

    Another session's compose containers are kept, and the network is removed
    without ``-f``: podman refuses while a container still uses it.
    """
    ids = compose_containers(podman, under)
    if ids:
        podman("rm", "-f", *ids, check=False, timeout=120)
    if not network_before:
        podman("network", "rm", SDK_NETWORK, check=False)


@pytest.fixture(scope="session")
def docker_api(podman, tmp_path_factory) -> DockerApi:
    missing = system_packages.missing(PACKAGES)
    if missing:
        progress(f"installing {' '.join(missing)} (Docker's API for the SageMaker SDK's local mode)")
        error = system_packages.install(PACKAGES, progress)
        if error:
            skip_or_fail(error)
    if shutil.which("docker") is None:
        skip_or_fail("no docker command: apt-get install -y podman-docker")
    socket = tmp_path_factory.mktemp("docker-api") / "podman.sock"
    network_before = podman("network", "exists", SDK_NETWORK, check=False).returncode == 0
    with socket.with_name("service.log").open("wb") as log:
        process = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket}"],
                                   env=podman.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for_socket(socket, process)
            yield DockerApi(socket)
        finally:
            remove_leftovers(podman, tmp_path_factory.getbasetemp(), network_before)
            stop_process_group(process, grace=30)


class _Refusing(http.server.BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        self.send_response(403, "egress refused by the test")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    do_CONNECT = do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def log_message(self, *args) -> None:  # the test reads .requests
        pass


class EgressRecorder:
    """A refusing, recording proxy on loopback (a context manager)."""

    def __init__(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
        self._server.requests = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[str]:
        return list(self._server.requests)

    def env(self) -> dict[str, str]:
        """Proxy variables sending every non-loopback HTTP(S) call here."""
        return {"HTTPS_PROXY": self.url, "HTTP_PROXY": self.url, "https_proxy": self.url, "http_proxy": self.url,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

    def __enter__(self) -> "EgressRecorder":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def clean_aws_env(home: Path, **extra: str) -> dict[str, str]:
    """:func:`moto_server.aws_free_env` with ``HOME`` there, and no Docker host or proxy of this process's."""
    base = {k: v for k, v in aws_free_env(home, HOME=str(home)).items()
            if not k.startswith("DOCKER_") and k.lower() not in ("https_proxy", "http_proxy", "no_proxy")}
    return {**base, **extra}
