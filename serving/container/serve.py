"""``serve``: the SageMaker inference program -- nginx in front of gunicorn in front of the Flask app.

::

    client --HTTP :8080--> nginx --unix socket--> gunicorn (--preload, N workers) --> serving.container.wsgi:app

SageMaker starts the container with ``serve`` and talks to port 8080
(``SAGEMAKER_BIND_TO_PORT`` if set; ``--port`` for local runs). nginx handles
slow clients, keep-alive and the 6 MB body limit; gunicorn's workers only
see whole requests. The model is loaded once, in the gunicorn master, before
the workers fork and before gunicorn opens its socket; nginx is started when
that socket appears. So the port opens only once the model is loaded, and
``/ping`` answers 200 from the first connection.

Environment:

* ``MODEL_SERVER_WORKERS`` -- gunicorn workers (default: the CPU count);
* ``MODEL_SERVER_TIMEOUT`` -- seconds a request may take (default 60):
  gunicorn's ``--timeout`` and ``--graceful-timeout``, nginx's
  ``proxy_read_timeout`` and ``proxy_send_timeout``;
* ``MODEL_SERVER_WORKER_CLASS`` -- gunicorn worker class (default ``sync``;
  with ``--no-nginx``, :class:`.json_worker.JsonErrorSyncWorker`, the sync
  worker whose own error pages are JSON);
* ``SAGEMAKER_BIND_TO_PORT`` -- the port (default 8080);
* ``SM_OPT_ML_ROOT`` -- stands for ``/opt/ml`` (see :mod:`.paths`).

SIGTERM (or SIGINT) stops gracefully: nginx gets ``quit`` first (it stops
accepting connections and lets in-flight requests finish, waiting for their
answers from gunicorn), then gunicorn gets SIGTERM (its workers finish what
they hold and exit within the timeout). Stopping nginx first means no request
that nginx accepted finds gunicorn gone. The exit code is 0 when both stop
cleanly, 1 if either fails or exits on its own, 2 for a bad setting.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

from .paths import OptMl

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
# The directory holding the `serving` package: gunicorn imports the app from there.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT = 60


class SettingError(ValueError):
    """A command-line option or environment variable has an unusable value."""


def _log(message: str) -> None:
    print(f"serve: {message}", file=sys.stderr, flush=True)


def cpu_count() -> int:
    """CPUs this process may run on (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _int_setting(name: str, raw: str | int | None, default: int, low: int, high: int | None = None) -> int:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        raise SettingError(f"{name} must be an integer {bounds}, got {value}")
    return value


def find_nginx() -> str:
    """The nginx binary: on PATH, else /usr/sbin/nginx (not on a non-root PATH on Debian)."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        raise SettingError(
            "nginx is not installed (not on PATH, not /usr/sbin/nginx); Debian/Ubuntu: apt-get install -y nginx, "
            "or --no-nginx (gunicorn alone, for a local trial)"
        )
    return found


def render(template: str, values: dict[str, object]) -> str:
    """Fill every ``{{name}}`` of ``template``; a name without a value is an error."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"nginx.conf.template: no value for {{{{{name}}}}}")
        return str(values[name])

    return re.sub(r"\{\{\s*(\w+)\s*\}\}", fill, template)


def _worker_user() -> tuple[str, int, int] | None:
    """The unprivileged account nginx's workers switch to when the master runs as root."""
    if os.geteuid() != 0:
        return None  # nginx cannot switch users; it runs as we do
    import grp
    import pwd

    for name in ("www-data", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return f"{name} {grp.getgrgid(pw.pw_gid).gr_name}", pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    return "root root", 0, 0  # no unprivileged account in this image


def write_nginx_conf(run_dir: Path, host: str, port: int, socket: Path, timeout: int) -> Path:
    """Render the template into ``run_dir/nginx.conf`` and create the temp dirs it names."""
    user = _worker_user()
    conf = render(
        TEMPLATE.read_text(encoding="utf-8"),
        {
            "run_dir": run_dir,
            "user_directive": f"user {user[0]};" if user else "",
            "socket": socket,
            "host": host,
            "port": port,
            "timeout": timeout,
            "shutdown_timeout": timeout + 5,
        },
    )
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / sub).mkdir()
        if user:
            os.chown(run_dir / sub, user[1], user[2])  # written by the workers
    path = run_dir / "nginx.conf"
    path.write_text(conf, encoding="utf-8")
    return path


def _die_with_parent() -> None:
    """In a child before exec: get SIGTERM if serve dies, so no orphan holds the port."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _relay(pipe: Any) -> None:
    """Copy a child's stdout to ours until it closes."""
    out = sys.stdout.buffer
    for chunk in iter(lambda: pipe.read1(65536), b""):
        out.write(chunk)
        out.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="serve", description="Serve an MLflow QBoost model the SageMaker way: nginx + gunicorn + Flask.")
    p.add_argument("--model-dir", help="the MLflow model directory (default: OPT_ML/model)")
    p.add_argument("--port", type=int, help=f"TCP port (default: $SAGEMAKER_BIND_TO_PORT, else {DEFAULT_PORT})")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--opt-ml", help="the directory standing for /opt/ml (default: $SM_OPT_ML_ROOT, else /opt/ml)")
    p.add_argument("--no-nginx", action="store_true",
                   help="gunicorn alone on --host:--port, for a machine without nginx (a local trial; SageMaker runs nginx)")
    return p


class _Supervisor:
    """gunicorn and nginx as child processes, stopped together."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.stop = threading.Event()

    def start(self, name: str, cmd: list[str], env: dict[str, str], relay_stdout: bool = False) -> None:
        """Start a child; with ``relay_stdout`` its stdout is a pipe of ours, copied to our stdout.

        nginx writes its access log to ``/dev/stdout``, which it opens by
        path: that fails for a non-root nginx when stdout belongs to another
        user (a container runtime's pipe, a file root created). A pipe this
        process creates always belongs to nginx's user.
        """
        proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if relay_stdout else None, preexec_fn=_die_with_parent
        )
        self.children[name] = proc
        if relay_stdout:
            threading.Thread(target=_relay, args=(proc.stdout,), name=f"{name}-stdout", daemon=True).start()

    def reap_orphans(self) -> None:
        """As PID 1 of a container, collect every exited process (gunicorn's workers, if orphaned)."""
        if os.getpid() != 1:
            return
        by_pid = {p.pid: p for p in self.children.values()}
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in by_pid:
                by_pid[pid].returncode = os.waitstatus_to_exitcode(status)

    def exited(self) -> tuple[str, int] | None:
        for name, proc in self.children.items():
            code = proc.poll()
            if code is not None:
                return name, code
        return None

    def shutdown(self, grace: float) -> bool:
        """nginx ``quit``, then gunicorn SIGTERM; True if both stopped by themselves with 0."""
        clean = True
        for name, sig in (("nginx", signal.SIGQUIT), ("gunicorn", signal.SIGTERM)):
            proc = self.children.get(name)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.send_signal(sig)
            try:
                code = proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _log(f"{name} did not stop within {grace:.0f} s; killing it")
                proc.kill()
                code = proc.wait()
                clean = False
            if code != 0:
                _log(f"{name} exited with {code}")
                clean = False
        return clean


class _Settings:
    """What ``serve`` runs with, from its options and the environment SageMaker sets."""

    def __init__(self, args: argparse.Namespace) -> None:
        layout = OptMl.resolve(args.opt_ml)
        self.host = args.host
        self.model_dir = Path(args.model_dir).absolute() if args.model_dir else layout.model
        self.port = _int_setting("--port/SAGEMAKER_BIND_TO_PORT", args.port or os.environ.get("SAGEMAKER_BIND_TO_PORT"), DEFAULT_PORT, 1, 65535)
        self.workers = _int_setting("MODEL_SERVER_WORKERS", os.environ.get("MODEL_SERVER_WORKERS"), cpu_count(), 1)
        self.timeout = _int_setting("MODEL_SERVER_TIMEOUT", os.environ.get("MODEL_SERVER_TIMEOUT"), DEFAULT_TIMEOUT, 1)
        self.nginx = None if args.no_nginx else find_nginx()
        # Without nginx, gunicorn's own error pages reach the client: the worker that writes them as JSON.
        default_class = "sync" if self.nginx else f"{__package__}.json_worker.JsonErrorSyncWorker"
        self.worker_class = os.environ.get("MODEL_SERVER_WORKER_CLASS", "").strip() or default_class
        if not (self.model_dir / "MLmodel").is_file():
            raise SettingError(f"no MLflow model at {self.model_dir} (no MLmodel file); give --model-dir or put the model in {layout.model}")


def _gunicorn_command(settings: _Settings, run_dir: Path, socket: Path) -> list[str]:
    """gunicorn serving the app of :mod:`.wsgi` on ``socket`` (without nginx: on host:port), with the model preloaded."""
    gunicorn_conf = run_dir / "gunicorn.conf.py"
    # Settings only some gunicorn versions know go in a config file, which
    # ignores unknown names: the control socket (gunicorn >= 25) would
    # otherwise be created in $HOME and clash between servers.
    gunicorn_conf.write_text("control_socket_disable = True\n", encoding="utf-8")
    if settings.nginx is None:
        # gunicorn faces the clients: its own request-line and header limits stay (answered in JSON by the worker class).
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        front = ["--bind", f"{host}:{settings.port}"]
    else:
        # nginx enforces the request-line and header limits (8 KB lines, 32 KB of
        # headers) with JSON answers; gunicorn's own, lower ones would answer in HTML.
        front = ["--bind", f"unix:{socket}", "--limit-request-line", "0", "--limit-request-fields", "32768", "--limit-request-field_size", "0"]
    return [
        sys.executable, "-m", "gunicorn",
        "--config", str(gunicorn_conf),
        *front,
        "--workers", str(settings.workers),
        "--worker-class", settings.worker_class,
        "--timeout", str(settings.timeout),
        "--graceful-timeout", str(settings.timeout),
        "--preload",  # the model loads once, before the workers fork
        "--pythonpath", str(PACKAGE_ROOT),
        "--worker-tmp-dir", "/dev/shm" if os.access("/dev/shm", os.W_OK) else str(run_dir),
        "--error-logfile", "-",
        f"{__package__}.wsgi:app",  # serving.container from a checkout, qboost_serving.container installed
    ]


def _supervise(supervisor: _Supervisor, settings: _Settings, run_dir: Path) -> int:
    """Start gunicorn, then nginx once the model is loaded; run until stopped. Returns the exit code."""
    socket = run_dir / "gunicorn.sock"
    conf = write_nginx_conf(run_dir, settings.host, settings.port, socket, settings.timeout)
    env = {
        **os.environ,
        "QBOOST_SERVE_MODEL_DIR": str(settings.model_dir),
        "QBOOST_SERVE_WORKERS": str(settings.workers),
        "PYTHONUNBUFFERED": "1",
    }
    if settings.nginx is None:
        _log(f"--no-nginx: nginx skipped, gunicorn answers on {settings.host}:{settings.port} itself: no nginx body limit "
             "(the app's own 6 MB limit applies), no buffering of slow clients; a local trial, not SageMaker's set-up")
    supervisor.start("gunicorn", _gunicorn_command(settings, run_dir, socket), env)
    _log(f"gunicorn ({settings.workers} {settings.worker_class} workers, timeout {settings.timeout} s) loading the model {settings.model_dir}")
    while not supervisor.stop.is_set():
        supervisor.reap_orphans()
        gone = supervisor.exited()
        if gone is not None:
            _log(f"error: {gone[0]} exited unexpectedly with {gone[1]}; stopping")
            supervisor.shutdown(grace=settings.timeout + 10)
            return 1
        if settings.nginx is not None and "nginx" not in supervisor.children and socket.exists():
            # gunicorn opens its socket only once the model is loaded;
            # nginx starts then, so the port opens ready to serve.
            supervisor.start("nginx", [settings.nginx, "-e", "stderr", "-p", str(run_dir), "-c", str(conf)], env, relay_stdout=True)
            _log(f"model loaded; nginx on {settings.host}:{settings.port} -> gunicorn at unix:{socket}")
        supervisor.stop.wait(0.5 if "nginx" in supervisor.children or settings.nginx is None else 0.02)
    clean = supervisor.shutdown(grace=settings.timeout + 10)
    _log("stopped" if clean else "stopped with errors")
    return 0 if clean else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT. Returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = _Settings(args)
    except SettingError as exc:
        _log(f"error: {exc}")
        return 2

    supervisor = _Supervisor()

    def on_signal(signum: int, _frame: object) -> None:
        _log(f"{signal.Signals(signum).name} received: stopping gracefully")
        supervisor.stop.set()

    # Before any child exists, so a signal during start-up is not lost.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    run_dir = Path(tempfile.mkdtemp(prefix="qboost-serve-"))
    try:
        run_dir.chmod(0o755)  # nginx's workers may run as another user
        return _supervise(supervisor, settings, run_dir)
    finally:
        for proc in supervisor.children.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

if __name__ == "__main__":
    sys.exit(main())
