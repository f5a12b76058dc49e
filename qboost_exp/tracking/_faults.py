"""When the tracking store fails: what counts as a store failure, and how long MLflow may retry.

Three pieces, used by :func:`~qboost_exp.tracking.tracked_run` and by
``python -m qboost_exp.tracking sync``:

- :func:`store_failure_reason`: whether an exception means the store is
  unreachable, read-only or full (and in one line, which), as opposed to a
  bug or a usage error that keeps its traceback;
- :func:`retry_plan` / :func:`bounded_retries`: MLflow's HTTP retries derived
  from a budget in seconds (``mlflow.retry_seconds``), so that the first
  request that fails for good, plus one quick attempt at cleaning up, fits in
  it; once one request has failed after its retries, every later request of
  the run gets a single short attempt (a "circuit breaker");
- :class:`StoreFailure`: the error a finished run ends in when its store
  failed and its record was kept on local disk instead (exit status 3).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from ..errors import QBoostError

#: Seconds from the end of training to the command's exit when the store fails (``mlflow.retry_seconds``).
DEFAULT_RETRY_SECONDS = 60.0
#: The command's exit status when the store failed at the end of a run (the record is on local disk).
STORE_FAILED_STATUS = 3

# The environment variables MLflow's REST client reads on every request
# (mlflow/environment_variables.py, mlflow/utils/rest_utils.py http_request).
RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
BACKOFF_ENV = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"  # an int for MLflow
JITTER_ENV = "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"
TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"  # an int for MLflow, seconds per attempt
_JITTER = 0.5


class StoreFailure(QBoostError):
    """The tracking store failed at the end of a run; the run's full record was written to local disk.

    Attributes
    ----------
    tracking_uri : str
        The store the run was meant for.
    reason : str
        One line: what failed (see :func:`store_failure_reason`).
    record_dir : str or None
        Where the record is; None when it could not be written either.
    result : object
        The finished job (a :class:`~qboost_exp.tracking.Trained`), so that its report can still be printed.
    run_id : str or None
        The run in the store.
    left_running : bool
        The store could not even be told that the run failed: it stays RUNNING there.
    """

    def __init__(
        self,
        tracking_uri: str,
        reason: str,
        record_dir: str | None,
        result: Any = None,
        run_id: str | None = None,
        left_running: bool = False,
        record_error: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.reason = reason
        self.record_dir = record_dir
        self.result = result
        self.run_id = run_id
        self.left_running = left_running
        head = f"the tracking store {tracking_uri} failed at the end of the run ({reason})"
        if record_dir is None:
            message = f"{head}, and the run's record could not be written to local disk either ({record_error}): the result is lost"
        else:
            from shlex import quote

            message = (
                f"{head}: the run's full record is in {record_dir}; upload it later with: "
                f"python -m qboost_exp.tracking sync {quote(record_dir)}"
            )
        if left_running and run_id:
            message += f" (run {run_id} stays RUNNING in that store)"
        super().__init__(message)


# --------------------------------------------------------------------------- classification

_SQLITE_PHRASES = (
    ("readonly database", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("database or disk is full", "the store's disk is full (database or disk is full)"),
    ("disk i/o error", "disk I/O error"),
    ("unable to open database", "the database file cannot be opened"),
    ("no space left on device", "no space left on device"),
)
_OS_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "I/O error",
}
# MLflow error codes a server answers with when its own store failed (or a proxy in front of it did).
_SERVER_CODES = ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _short(text: Any, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _connection_reason(exc: BaseException) -> str | None:
    text = str(exc)
    lowered = text.lower()
    for phrase, said in (
        ("connection refused", "connection refused"),
        ("name or service not known", "unknown host"),
        ("temporary failure in name resolution", "unknown host"),
        ("no route to host", "no route to host"),
        ("network is unreachable", "network unreachable"),
        ("timed out", "timed out"),
        ("remotedisconnected", "the server closed the connection"),
        ("connection aborted", "the connection was aborted"),
        ("connection reset", "the connection was reset"),
        ("too many 5", "the server answered with errors"),
    ):
        if phrase in lowered:
            return f"the server does not answer: {said}"
    return f"the server does not answer: {_short(text)}"


def store_failure_reason(exc: BaseException) -> str | None:
    """One line saying how the tracking store failed, or None if ``exc`` is no store failure.

    Store failures: the server is unreachable (requests/urllib3 connection
    errors, timeouts, retries exhausted), the database is read-only, full or
    unusable (SQLAlchemy's ``OperationalError``, also wrapped in an
    ``MlflowException``), a file of the store cannot be written (``OSError``
    ENOSPC, EDQUOT, EROFS, EACCES, EPERM, EIO), or the server answers that
    its own store failed (``INTERNAL_ERROR``, ``TEMPORARILY_UNAVAILABLE``).
    Anything else (an invalid parameter, a bug) is not, and keeps its traceback.
    """
    try:
        import requests
        import urllib3.exceptions as u3
    except ImportError:  # pragma: no cover - both come with MLflow
        requests = u3 = None  # type: ignore[assignment]
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover
        OperationalError = ()  # type: ignore[assignment,misc]
    for link in _chain(exc):
        if requests is not None and isinstance(link, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, requests.exceptions.RetryError)):
            return _connection_reason(link)
        if u3 is not None and isinstance(link, (u3.MaxRetryError, u3.NewConnectionError, u3.ProtocolError, u3.TimeoutError)):
            return _connection_reason(link)
        if OperationalError and isinstance(link, OperationalError):
            text = str(getattr(link, "orig", None) or link).lower()
            for phrase, said in _SQLITE_PHRASES:
                if phrase in text:
                    return said
            return f"database error: {_short(getattr(link, 'orig', None) or link)}"
        if isinstance(link, OSError) and link.errno in _OS_ERRNOS:
            where = f": {link.filename}" if link.filename else ""
            return f"{_OS_ERRNOS[link.errno]}{where}"
    # An MlflowException with nothing below it: the message (and the error code) is all there is.
    try:
        from mlflow.exceptions import MlflowException
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, MlflowException):
        text = str(exc.message if hasattr(exc, "message") else exc)
        lowered = text.lower()
        if lowered.startswith("api request to") and "failed" in lowered:
            return _connection_reason(exc)
        for phrase, said in _SQLITE_PHRASES:
            if phrase in lowered:
                return said
        if exc.error_code in _SERVER_CODES:
            return f"the server's store failed: {_short(text)}"
        if exc.error_code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
            return f"the server refused the request ({exc.error_code}: check the credentials, MLFLOW_TRACKING_TOKEN or _USERNAME/_PASSWORD): {_short(text)}"
    if requests is not None:
        for link in _chain(exc):
            if isinstance(link, requests.exceptions.HTTPError):  # a proxy's answer: 401, 403, 413 (a body too large), 502...
                status = getattr(getattr(link, "response", None), "status_code", None)
                return f"the server answered HTTP {status or '?'}: {_short(link)}"
    return None


# --------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPlan:
    """MLflow's HTTP retry settings for one budget (see :func:`retry_plan`)."""

    budget: float
    max_retries: int
    backoff_factor: int
    jitter: float
    timeout: int  # seconds per attempt (connect, and each read)
    quick_timeout: int  # the one attempt of each request once a request has failed

    def worst_case(self) -> float:
        """Seconds one request can take at most before it fails for good (attempts, backoff, jitter)."""
        # urllib3 2 sleeps 0 before the first retry, then backoff_factor * 2**(k-1) before retry k.
        backoff = sum(self.backoff_factor * 2 ** (k - 1) + self.jitter for k in range(2, self.max_retries + 1))
        return (self.max_retries + 1) * self.timeout + backoff

    def env(self) -> dict[str, str]:
        return {
            RETRIES_ENV: str(self.max_retries),
            BACKOFF_ENV: str(self.backoff_factor),
            JITTER_ENV: str(self.jitter),
            TIMEOUT_ENV: str(self.timeout),
        }


def retry_plan(budget: float) -> RetryPlan:
    """MLflow's retry settings such that a failing request plus the cleanup fit in ``budget`` seconds.

    A reserve is kept for the cleanup's one short attempt, writing the local
    record and exiting; the rest is the window of the first request that fails.
    Up to 3 retries, each attempt at most ``timeout`` seconds (a server that
    hangs), and as much exponential backoff as the window still holds (a
    server that refuses connections for a moment: a restart).

    Examples
    --------
    The default budget: 4 attempts of at most 5 s, sleeping 0, 8 and 16 s in
    between; a request fails for good after at most 45 s.

    >>> plan = retry_plan(60)
    >>> (plan.max_retries, plan.backoff_factor, plan.timeout, plan.quick_timeout, plan.worst_case() <= 46)
    (3, 4, 5, 5, True)
    """
    budget = max(float(budget), 1.0)
    quick = int(min(5.0, max(1.0, budget / 10)))
    reserve = quick + min(10.0, budget * 0.15)
    window = max(budget - reserve, 1.0)
    timeout = int(min(30.0, max(1.0, window / 8)))
    for retries in (3, 2, 1, 0):
        jitter_total = max(retries - 1, 0) * _JITTER
        rest = window - (retries + 1) * timeout - jitter_total
        if rest >= 0:
            steps = 2**retries - 2  # the sum of 2**(k-1) over retries k = 2..n
            factor = int(min(120, rest // steps)) if steps > 0 else 0
            return RetryPlan(budget, retries, factor, _JITTER if factor else 0.0, timeout, quick)
    return RetryPlan(budget, 0, 0, 0.0, timeout, quick)


@dataclass
class Breaker:
    """The state of one run's requests: whether one has failed after its retries (then no more retrying).

    Attributes
    ----------
    plan : RetryPlan
    tripped : str or None
        Why the first request failed for good (None while none has).
    """

    plan: RetryPlan
    tripped: str | None = None
    _notice: bool = field(default=False, repr=False)

    def trip(self, why: str = "a request failed") -> None:
        """From now on every request gets one short attempt."""
        if self.tripped is None:
            self.tripped = why


class _RetryNotice(logging.Filter):
    """urllib3 logs a WARNING line per retry; say once, in our words, that the store is being retried."""

    def __init__(self, breaker: Breaker, uri: str) -> None:
        super().__init__()
        self.breaker = breaker
        self.uri = uri

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Retrying"):
            return True
        if not self.breaker._notice and self.breaker.tripped is None:
            self.breaker._notice = True
            print(
                f"warning: the tracking store {self.uri} does not answer; retrying for up to "
                f"{self.breaker.plan.worst_case():.0f} s (mlflow.retry_seconds={self.breaker.plan.budget:g})",
                file=sys.stderr,
                flush=True,
            )
        return False


def _guard(original: Any, breaker: Breaker) -> Any:
    """Wrap MLflow's one function that sends a REST request with its retries: the circuit breaker."""

    def guarded(method, url, max_retries, backoff_factor, backoff_jitter, retry_codes, *args, **kwargs):  # noqa: ANN001, ANN202
        if breaker.tripped is not None:
            max_retries, backoff_factor, backoff_jitter = 0, 0, 0.0
            timeout = kwargs.get("timeout")
            kwargs["timeout"] = breaker.plan.quick_timeout if timeout is None else min(timeout, breaker.plan.quick_timeout)
        try:
            return original(method, url, max_retries, backoff_factor, backoff_jitter, retry_codes, *args, **kwargs)
        except Exception as exc:  # requests' errors once the retries are spent
            breaker.trip(_connection_reason(exc))
            raise

    guarded.__wrapped__ = original  # type: ignore[attr-defined]
    return guarded


@contextmanager
def bounded_retries(uri: str, budget: float | None = None) -> Iterator[Breaker]:
    """MLflow's HTTP retries bounded by ``budget`` seconds, for the requests made inside the block.

    For a tracking server (http/https) this sets MLflow's retry variables
    from :func:`retry_plan` (each one the user did not set: theirs stay),
    installs the circuit breaker (after the first request that fails for good,
    one short attempt per request) and turns urllib3's per-retry warnings into
    one line. Everything is restored on exit. For any other store it only
    yields the :class:`Breaker` (SQLite and file stores fail at once).
    """
    plan = retry_plan(DEFAULT_RETRY_SECONDS if budget is None else budget)
    breaker = Breaker(plan)
    from ._uris import is_remote_store

    if not is_remote_store(uri):  # a local store fails at once
        yield breaker
        return
    saved = {name: os.environ.get(name) for name in plan.env()}
    for name, value in plan.env().items():
        if saved[name] is None:  # a user's explicit setting wins
            os.environ[name] = value
    patched = None
    try:
        from mlflow.utils import rest_utils

        original = getattr(rest_utils, "_get_http_response_with_retries", None)
        if callable(original):
            rest_utils._get_http_response_with_retries = _guard(original, breaker)
            patched = (rest_utils, original)
    except ImportError:  # pragma: no cover - MLflow is a dependency
        pass
    notice = _RetryNotice(breaker, uri)
    pool_logger = logging.getLogger("urllib3.connectionpool")
    pool_logger.addFilter(notice)
    try:
        yield breaker
    finally:
        pool_logger.removeFilter(notice)
        if patched is not None:
            patched[0]._get_http_response_with_retries = patched[1]
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def budget_of(mlflow_cfg: Mapping[str, Any] | None) -> float:
    """``mlflow.retry_seconds`` of a config's ``mlflow`` node, else :data:`DEFAULT_RETRY_SECONDS`."""
    value = mlflow_cfg.get("retry_seconds") if isinstance(mlflow_cfg, Mapping) else None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_SECONDS
    return seconds if math.isfinite(seconds) and seconds > 0 else DEFAULT_RETRY_SECONDS
