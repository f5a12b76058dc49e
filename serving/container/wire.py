"""How gunicorn puts answers on the wire: whole, and as JSON also when gunicorn itself refuses.

Two changes to gunicorn's behaviour, installed by :mod:`.wsgi` (in the
gunicorn master with ``--preload``, so every forked worker has them):

* **One write per answer.** gunicorn sends the status line and headers with
  one ``sendall`` and the body with another. A worker killed between the two
  (``kill -9``, the OOM killer) leaves nginx holding a ``200`` header with a
  ``Content-Length`` it can never fill, and the client gets a 2xx with a
  short body. Sent together, the answer reaches nginx whole or not at all;
  "not at all" is a closed connection, which nginx retries on another worker
  (``proxy_next_upstream`` in nginx.conf.template) or answers with a JSON 503.
* **JSON for gunicorn's own errors.** nginx's limits are stricter than
  gunicorn's, so gunicorn's HTML error pages (bad request line, too many or
  too large headers) should never be reached; if one is, it is JSON too.

gunicorn has no setting for either, so its ``Response.send_headers`` and
``Response._emit_body`` and ``util.write_error`` are wrapped. The image pins
the gunicorn version this is tested with (``tests/test_serving_server.py``
kills workers under load); with a gunicorn lacking those methods the
wrapping is skipped with a warning and nginx's retry still applies.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_INSTALLED = "_qboost_single_write"


class _Collector:
    """A stand-in socket that keeps what gunicorn would have sent."""

    def __init__(self) -> None:
        self.data = b""

    def sendall(self, data: bytes) -> None:
        self.data += data


def json_error_response(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error answer with a JSON body ``{"error": ...}``."""
    body = (json.dumps({"error": f"{reason}: {message}" if message else reason}) + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def install() -> bool:
    """Wrap gunicorn's response writing (idempotent). True if installed."""
    try:
        from gunicorn import util
        from gunicorn.http import wsgi
    except ImportError:
        return False
    response = wsgi.Response
    if getattr(response, _INSTALLED, False):
        return True
    if not all(hasattr(response, name) for name in ("send_headers", "_emit_body", "close")) or not hasattr(util, "write_error"):
        print("serve: warning: this gunicorn writes responses differently; answers are not sent in one write", file=sys.stderr, flush=True)
        return False
    send_headers, emit_body, close = response.send_headers, response._emit_body, response.close

    def deferred_send_headers(self: Any) -> None:
        if self.headers_sent:
            return
        real, self.sock = self.sock, _Collector()
        try:
            send_headers(self)
        finally:
            self._qboost_head, self.sock = self.sock.data, real

    def flush_head(self: Any) -> None:
        head = getattr(self, "_qboost_head", b"")
        if head:
            self._qboost_head = b""
            self.sock.sendall(head)

    def emit_body_with_head(self: Any, data: bytes) -> None:
        head = getattr(self, "_qboost_head", b"")
        if head and not self.chunked:
            self._qboost_head = b""
            self.sock.sendall(head + data)  # status, headers and body in one write
            return
        flush_head(self)
        emit_body(self, data)

    def close_with_head(self: Any) -> None:
        if not self.headers_sent:
            deferred_send_headers(self)
        flush_head(self)  # a body-less answer (HEAD, 204) or an empty body
        close(self)

    def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
        util.write_nonblock(sock, json_error_response(int(status_int), str(reason), str(mesg)))

    # sendfile() would put the body on the wire before the deferred head; no answer here is a file.
    response.can_sendfile = lambda self: False
    response.send_headers = deferred_send_headers
    response._emit_body = emit_body_with_head
    response.close = close_with_head
    util.write_error = write_json_error
    setattr(response, _INSTALLED, True)
    return True
