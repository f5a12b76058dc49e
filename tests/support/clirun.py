"""Run the package's command-line programs as a user would: a fresh process, a scratch directory."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]
#: tests/support: the helpers, on PYTHONPATH for a subprocess that imports one (slow_model, chaos).
SUPPORT = Path(__file__).resolve().parent

#: Overrides that keep a CLI run's auto search to 4 small anneals (2 folds x 2 λ, one largest
#: weight) for tests about something else than the search; the defaults take ~20 s per run.
QUICK = ("qubo.max_weight_grid=[0.125]", "lambda_grid=[0.0,0.1]", "qubo.cv=2")


def run_module(module: str, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    base = dict(os.environ)
    # mlflow.set_tracking_uri() in the test process exports MLFLOW_TRACKING_URI;
    # a CLI run must see only what the test gives it.
    base.pop("MLFLOW_TRACKING_URI", None)
    base.pop("DWAVE_API_TOKEN", None)
    full_env = {**base, "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def report_values(stdout: str) -> dict[str, str]:
    """The CLI report as {label: text}."""
    values = {}
    for line in stdout.splitlines():
        parts = line.strip().split("  ", 1)
        if len(parts) == 2:
            values[parts[0].strip()] = parts[1].strip()
    return values


def accuracy(stdout: str, split: str) -> float:
    words = report_values(stdout)["accuracy"].split()
    return float(words[words.index(split) + 1])


def wait_for_a_run(db: Path, timeout: float = 300.0, process: subprocess.Popen | None = None) -> None:
    """Wait until the SQLite tracking store ``db`` holds a run; fail if ``process`` ends first or after ``timeout``.

    Watches with plain sqlite3, read-only: opening the store with MLflow here
    would run schema migrations concurrently with the CLI's.
    """
    import sqlite3
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                if con.execute("SELECT count(*) FROM runs").fetchone()[0]:
                    return
        except sqlite3.Error:
            pass
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the CLI exited ({process.returncode}) before a run appeared in {db}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no run in {db} after {timeout:g} s")
        time.sleep(0.2)


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback TCP port that refuses connections for as long as the block runs.

    The port is bound (without SO_REUSEADDR) and never listened on: a connection
    to it is refused, and no other process -- another pytest-xdist worker's
    server, a ``free_port()`` elsewhere -- can take it meanwhile. ``free_port()``
    alone only says the port was free a moment ago.
    """
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


#: ``python -c`` program: the CLI (the arguments after MARKER and MODE) with its sampler calls marked.
#: MODE ``worker``: each call made in :func:`qboost_exp.domain._sampler_call._in_worker_thread` (tabu, steepest, the
#: mock QPU) appends a line to MARKER as it starts and, once the sampler returns, never ends: an
#: endless read, so the run can only stop by not waiting for it. MODE ``anneal``: the annealer's
#: (neal's) ``interrupt_function`` appends a line the first time it is called in a call of at least
#: 1000 reads (the final fit, not the search's short anneals): that anneal is under way.
_MARKED_CLI = """
import sys, threading
marker, mode = sys.argv[1], sys.argv[2]
sys.argv = ["qboost_exp", *sys.argv[3:]]

def mark(what):
    with open(marker, "a") as out:
        out.write(what + "\\n")

if mode == "worker":
    from qboost_exp.domain import _sampler_call

    original = _sampler_call._in_worker_thread
    never = threading.Event()

    def in_worker_thread(work, stop=None):
        def marked():
            mark("sampler call started")
            work()
            never.wait()

        return original(marked, stop)

    _sampler_call._in_worker_thread = in_worker_thread
elif mode == "anneal":
    from qboost_exp.domain import samplers

    sample = samplers.Neal.sample

    def marked_sample(self, bqm, **kwargs):
        check = kwargs.get("interrupt_function")
        if check is not None and int(kwargs.get("num_reads") or 1) >= 1000:
            first = []

            def marked_check():
                if not first:
                    first.append(True)
                    mark("anneal under way")
                return check()

            kwargs["interrupt_function"] = marked_check
        return sample(self, bqm, **kwargs)

    samplers.Neal.sample = marked_sample
else:
    raise SystemExit(f"unknown mode {mode!r}")
from qboost_exp.cli import main

main()
"""


def start_marked_cli(*args: str, cwd: Path, marker: Path, mode: str) -> subprocess.Popen:
    """``python -m qboost_exp ARGS`` in the background with its sampler calls marked in ``marker`` (see :data:`_MARKED_CLI`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DWAVE_API_TOKEN")}
    return subprocess.Popen(
        [sys.executable, "-c", _MARKED_CLI, str(marker), mode, *args],
        cwd=cwd, env={**env, "HYDRA_FULL_ERROR": "0"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_mark(marker: Path, process: subprocess.Popen, timeout: float = 600.0) -> None:
    """Until ``marker`` has a line (the marked sampler call has started); fail if ``process`` ends first or after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while not (marker.exists() and marker.read_text().strip()):
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the CLI exited ({process.returncode}) before its sampler was marked:\n{out[-3000:]}\n{err[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker} still empty after {timeout:g} s")
        time.sleep(0.05)


def interrupt_when_marked(proc: subprocess.Popen, marker: Path, timeout: float = 60) -> tuple[str, str]:
    """Ctrl-C to ``proc`` once ``marker`` has a line (:func:`wait_for_mark`); its (stdout, stderr).

    A process still running ``timeout`` seconds after the signal is killed, and the test fails on ``communicate``'s timeout.
    """
    import signal

    try:
        wait_for_mark(marker, proc)
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
