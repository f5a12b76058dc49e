"""Servers on 127.0.0.1, from the test's side: a free port, waiting for HTTP 200, one request, the tail of a log.

Bypasses any HTTP(S)_PROXY: a test talks to its own servers on loopback only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def log_tail(path: str | os.PathLike | None, lines: int = 60) -> str:
    if path is None:
        return ""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        return f"(no log at {path}: {e})"
    return "\n".join(text.splitlines()[-lines:])


def wait_for_http(
    url: str,
    timeout: float = 60.0,
    *,
    process: subprocess.Popen | None = None,
    log_path: str | os.PathLike | None = None,
    interval: float = 0.25,
) -> float:
    """Poll ``url`` until it answers HTTP 200; return the seconds waited.

    Raises RuntimeError early if ``process`` exits, TimeoutError after ``timeout``;
    either message ends with the tail of ``log_path``. Bypasses any HTTP(S)_PROXY.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    start = time.monotonic()
    last = "no answer yet"
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process {process.args!r} exited with {process.returncode} before {url} answered;"
                f" log {log_path}:\n{log_tail(log_path)}"
            )
        try:
            with opener.open(url, timeout=5) as response:
                if response.status == 200:
                    return time.monotonic() - start
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            last = repr(e)
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last}); log {log_path}:\n{log_tail(log_path)}")
        time.sleep(interval)


def http_request(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60):
    """One HTTP request to ``127.0.0.1:port``: ``(status, headers, body)``."""
    import http.client

    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()
