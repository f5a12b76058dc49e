"""A gunicorn sync worker whose own error answers are JSON, for ``serve --no-nginx``.

Behind nginx, gunicorn never answers a malformed request itself: nginx
refuses it first, in JSON (nginx.conf.template). Without nginx, gunicorn's
parser does, and its answer is an HTML page. This worker keeps gunicorn's
choice of status (400, 414-like 400 for a long request line, 431, 501, ...)
and only writes the body as ``{"error": ...}``, so a client of ``serve
--no-nginx`` gets every error the way the API documents it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator

from gunicorn import util
from gunicorn.workers.sync import SyncWorker


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, with a JSON body instead of HTML."""
    body = json.dumps({"error": f"{reason}: {mesg}" if mesg else reason}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


@contextmanager
def _json_errors() -> Iterator[None]:
    # gunicorn's handle_error calls util.write_error by module lookup; a sync
    # worker handles one request at a time, so swapping it for the call is safe.
    html_writer = util.write_error
    util.write_error = write_json_error
    try:
        yield
    finally:
        util.write_error = html_writer


class JsonErrorSyncWorker(SyncWorker):
    """gunicorn's ``sync`` worker, its error pages written as JSON."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        with _json_errors():
            super().handle_error(req, client, addr, exc)
