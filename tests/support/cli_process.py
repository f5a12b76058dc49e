"""The CLI as a process a fault test watches and interrupts: started, waited for until it trains, its stderr read
as it comes, stopped (SIGSTOP) while the test changes the world, its one-line errors checked.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from clirun import QUICK
from store_server import Server


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DWAVE_API_TOKEN") and not k.startswith("MLFLOW_HTTP_REQUEST")}
    env["HYDRA_FULL_ERROR"] = "0"
    return env


def start_cli(cwd: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "qboost_exp", *QUICK, *overrides], cwd=cwd, env=cli_env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_training(server: Server, process: subprocess.Popen, timeout: float = 300) -> str:
    """The id of the run once training started: RUNNING in the server's store, its ``.hydra`` files uploaded.

    Uploading ``.hydra`` is the last thing a run does before training; the
    store is read with plain sqlite3, read-only.
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the CLI exited ({process.returncode}) before it trained:\n{process.stderr.read()}")
        try:
            with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True) as con:
                row = con.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'").fetchone()
        except sqlite3.Error:
            row = None
        if row:
            hydra = [p.name for p in server.artifacts.glob(f"*/{row[0]}/artifacts/.hydra/*.yaml")]
            if sorted(hydra) == ["config.yaml", "hydra.yaml", "overrides.yaml"]:
                return row[0]
        time.sleep(0.05)
    raise AssertionError(f"no run started training in {server.db} after {timeout} s")


class StderrLines:
    """A CLI's stderr read in a thread: wait for a line while it runs, all of it once it ended."""

    def __init__(self, process: subprocess.Popen) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._collected: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self._collected.append(line)
            self._lines.put(line)

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while text not in self._lines.get(timeout=max(deadline - time.time(), 0.1)):
            pass

    def all(self) -> str:
        self._reader.join(timeout=10)
        return "".join(self._collected)


@contextmanager
def frozen(process: subprocess.Popen, group: bool = False) -> Iterator[None]:
    """``process`` (or, with ``group``, its process group) stopped (SIGSTOP) for the block, then continued.

    What a test does to the world meanwhile (kill or restart a server) happens at a known point of
    the CLI's work -- not wherever its own clock has got to -- and however long it takes here:
    a stopped CLI sends no request and spends none of its retries.
    """
    send = (lambda sig: os.killpg(process.pid, sig)) if group else process.send_signal
    send(signal.SIGSTOP)
    try:
        yield
    finally:
        send(signal.SIGCONT)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_error_line(stderr: str) -> str:
    errors = error_lines(stderr)
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return errors[0]
