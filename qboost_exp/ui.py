"""``python -m qboost_exp.ui``: MLflow's UI on the store runs go to, opened on the runs table.

For a local store (the default ``sqlite:///mlflow.db``, or any store that is
not a tracking server) this starts ``mlflow ui`` on it, waits until it
answers and prints the link (:func:`qboost_exp.tracking.ui_url`: the runs
table in model-training mode, showing the key columns); Ctrl-C stops it. A
tracking server (http/https) is its own UI: the link is printed and nothing
is started.

An app-layer command: it uses the tracking layer's public API only, and
imports nothing heavy before its arguments parse (``--help`` answers at once).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from .cli_args import OneLineErrorParser, tcp_port
from .tracking import DEFAULT_EXPERIMENT, DEFAULT_TRACKING_URI

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
#: Seconds to wait for ``mlflow ui`` to answer (a first start on a small machine takes ~10 s).
STARTUP_TIMEOUT = 120.0


class UIError(Exception):
    """A user mistake or a UI that cannot start: one ``error:`` line, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m qboost_exp.ui`` argument parser."""
    parser = OneLineErrorParser(
        prog="python -m qboost_exp.ui",
        description=(
            "Open MLflow's UI on the runs: start `mlflow ui` on the local store runs go to (a tracking server is "
            "its own UI) and print the link to the experiment's runs table with the key columns. Ctrl-C stops it."
        ),
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        metavar="URI",
        help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI} in the current directory)",
    )
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment whose runs the link opens (default: %(default)s)")
    parser.add_argument("--port", type=tcp_port, default=DEFAULT_PORT, help="port for the UI of a local store (default: %(default)s)")
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address the UI listens on (default: %(default)s, this machine only; MLflow's security middleware refuses other hosts unless configured)",
    )
    return parser


def _experiment_id(uri: str, name: str) -> str:
    """The id of experiment ``name`` at ``uri``, given the shared runs view if it lacks it."""
    from .tracking import TrackingStoreError, check_reachable, client_for, ensure_runs_view, get_experiment

    check_reachable(uri)
    try:
        experiment = get_experiment(client_for(uri), name)
    except TrackingStoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - a store MLflow cannot read (not a database, a newer schema, ...)
        raise UIError(f"cannot read the MLflow store {uri}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
    try:
        ensure_runs_view(uri, experiment.experiment_id)
    except Exception as exc:  # noqa: BLE001 - e.g. no permission to tag: the runs table still opens, with MLflow's columns
        print(f"note: cannot give experiment {name!r} the shared runs view: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
    return str(experiment.experiment_id)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except socket.gaierror as exc:
            raise UIError(f"--host {host}: no such address on this machine ({exc.strerror or exc}); use 127.0.0.1, 0.0.0.0 or a local address") from None
        except OSError as exc:
            raise UIError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (another MLflow UI?); choose another --port") from None


def _link_host(host: str) -> str:
    """The address a browser on this machine uses for a server listening on ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _wait_until_answers(url: str, process: subprocess.Popen[Any], timeout: float) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise UIError(f"mlflow ui exited with status {process.returncode} before it answered (its messages are above)")
        try:
            with opener.open(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise UIError(f"mlflow ui did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.25)


def _stop(process: subprocess.Popen[Any]) -> None:
    """End ``mlflow ui`` and the server processes it started (its own process group)."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(uri: str, experiment_id: str, host: str, port: int, *, timeout: float = STARTUP_TIMEOUT) -> int:
    """Run ``mlflow ui`` on the local store ``uri`` until Ctrl-C (or SIGTERM); print the link once it answers."""
    from .tracking import ui_url

    _check_port_free(host, port)
    base = f"http://{_link_host(host)}:{port}"
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port), "--workers", "1"]
    # Its own session: a Ctrl-C in the terminal reaches this process, which stops the server's whole group.
    # Its log goes to stderr, so stdout carries only the link.
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sys.stderr, start_new_session=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(f"starting the MLflow UI on {uri} at {base} ...", file=sys.stderr, flush=True)
        _wait_until_answers(f"{base}/health", process, timeout)
        print(f"MLflow UI: {ui_url(uri, experiment_id, ui_base=base)}", flush=True)
        print("(Ctrl-C stops it)", file=sys.stderr, flush=True)
        code = process.wait()
        print(f"error: mlflow ui exited with status {code}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _stop(process)
        print("stopped the MLflow UI", file=sys.stderr, flush=True)
        return 0
    finally:
        _stop(process)
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """The ``python -m qboost_exp.ui`` entry point: 0 when stopped by Ctrl-C, 2 with one ``error:`` line."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed
        return int(exit_.code or 0)
    from .tracking import TrackingStoreError, is_server, resolve_tracking_uri, ui_url

    try:
        uri = resolve_tracking_uri(args.tracking_uri, must_exist=True)
        experiment_id = _experiment_id(uri, args.experiment)
        if is_server(uri):
            print(f"MLflow UI: {ui_url(uri, experiment_id)}", flush=True)
            return 0
        return serve(uri, experiment_id, args.host, args.port)
    except (TrackingStoreError, UIError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
