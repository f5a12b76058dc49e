"""The Flask app gunicorn serves: ``/ping``, ``/invocations``, ``/execution-parameters``.

The model is loaded when this module is imported: from its compiled file
``qboost-compiled.npz`` when the model directory has one (numpy only; nothing
is unpickled, scikit-learn is not imported: the lean ``serve`` image has
neither), else from its pickle. ``serve`` starts gunicorn
with ``--preload``, so that happens once, in the gunicorn master, before any
worker is forked and before gunicorn opens its socket (``serve`` starts nginx
only then): every worker that answers ``/ping`` has the model. Preloading is safe with
the sync workers: the loaded model is plain read-only arrays (or an
unpickled estimator), with no thread, lock or open file that a fork would
break, and the forked workers share its pages. The
request/response contract of ``/invocations`` is in
:mod:`serving.container.protocol`.

Flask owns the routes, ``/ping``, ``/execution-parameters`` and every error
page. The hot path, ``POST /invocations``, is dispatched by a few lines of
WSGI in front of Flask (:class:`HotPath`): Flask's request and response
objects cost about as much CPU as parsing and predicting a single row
(measured ~150-290 us against ~2 us per call on this 2-core machine), and a
single-row request is exactly where the latency budget is tight. Both paths
call the same responder (:func:`make_responder`).

Environment (set by ``serve``):

* ``QBOOST_SERVE_MODEL_DIR`` -- the MLflow model directory (default: the
  ``model`` directory of the ``/opt/ml`` layout);
* ``QBOOST_SERVE_WORKERS`` -- the number of gunicorn workers, reported to
  Batch Transform as ``MaxConcurrentTransforms``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from http import HTTPStatus
from typing import Any, Callable, Iterable

from flask import Flask, Response, request

from . import protocol, wire
from .errors import RequestError
from .compiled_file import COMPILED_FILE, load_compiled
from .loader import ModelLoadError, load_sklearn_model
from .messages import one_line
from .parsing import Schema
from .paths import OptMl
from .predictor import CompiledPredictor, predictor_for

MODEL_DIR_ENV = "QBOOST_SERVE_MODEL_DIR"
WORKERS_ENV = "QBOOST_SERVE_WORKERS"
# SageMaker's limit for a real-time request; nginx enforces it first (client_max_body_size 6m), the app
# always (serve --no-nginx has no nginx).
MAX_BODY_BYTES = 6 * 1024 * 1024
#: The most of a too-large body read (and dropped) so that the client gets the 413 (see _drain).
DRAIN_LIMIT = 4 * MAX_BODY_BYTES
LINGER_SECONDS = 2.0
#: nginx's own 413 says the same (nginx.conf.template).
TOO_LARGE = (
    f"the request body is larger than 6 MB ({MAX_BODY_BYTES} bytes), the SageMaker limit for real-time requests; "
    "split it or use Batch Transform"
)
_STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
#: Every answer says its own type (nginx sends it too, and drops this copy: nginx.conf.template).
NOSNIFF = ("X-Content-Type-Options", "nosniff")
PING_BODY = b'{"status": "ready"}\n'  # SageMaker looks at the status only; a body says what it means
#: The API's spelling (CreateTransformJob's BatchStrategy: MultiRecord | SingleRecord), which AWS's SDK checks.
BATCH_STRATEGY = "MultiRecord"

Answer = tuple[int, str, bytes]  # status, Content-Type, body


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def make_responder(predictor: Any) -> Callable[[bytes | None, int | None, Any], Answer]:
    """The whole of ``/invocations`` for one model: request headers and body in, an answer out.

    The returned ``respond(read_body, content_length, header)`` takes a
    function reading the body (not called when the length alone is too
    large), the Content-Length (or None), and ``header(name)`` giving a
    request header or None. Every failure becomes a JSON error answer: a 4xx
    for the client's mistakes, 500 (with the traceback on stderr) for a bug;
    no exception escapes, so a bad request never costs a worker.
    """
    schema = Schema(predictor.n_features, predictor.feature_names)

    def respond(read_body: Callable[[], bytes], content_length: int | None, header: Callable[[str], str | None]) -> Answer:
        try:
            if content_length is not None and content_length > MAX_BODY_BYTES:
                raise RequestError(413, TOO_LARGE)
            kind, answer = protocol.negotiate(header("Content-Type"), header("Accept"), header(protocol.CUSTOM_ATTRIBUTES))
            body = read_body()
            if len(body) > MAX_BODY_BYTES:  # a chunked body declares no length (and without nginx nothing cut it)
                raise RequestError(413, TOO_LARGE)
            X = protocol.parse(body, kind, schema)
            body = protocol.encode(protocol.predict(predictor, X, answer.output), answer.media_type)
            return 200, protocol.MEDIA_TYPES[answer.media_type].content_type, body
        except RequestError as exc:
            return exc.status, protocol.JSON, error_body(exc.message)
        except Exception as exc:  # a bug, not the client's fault: keep the worker, log the trace
            traceback.print_exc(file=sys.stderr)
            return 500, protocol.JSON, error_body(f"internal error: {one_line(exc, with_type=True)}")

    return respond


class HotPath:
    """WSGI middleware: ``POST /invocations`` straight to ``respond``, everything else to Flask.

    Parameters
    ----------
    flask_wsgi : WSGI callable
        Flask's own ``app.wsgi_app``.
    respond : callable
        From :func:`make_responder`.
    """

    # WSGI names of the request headers respond() asks for.
    _ENVIRON = {"Content-Type": "CONTENT_TYPE", "Accept": "HTTP_ACCEPT", protocol.CUSTOM_ATTRIBUTES: "HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES"}

    def __init__(self, flask_wsgi: Callable, respond: Callable) -> None:
        self.flask_wsgi = flask_wsgi
        self.respond = respond

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/invocations" or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_wsgi(environ, start_response)
        raw_length = environ.get("CONTENT_LENGTH")
        try:
            length = int(raw_length) if raw_length else None
        except ValueError:
            length = -1
        if length is not None and length < 0:
            status, kind, body = 400, protocol.JSON, error_body(f"Content-Length {raw_length!r} is not a byte count")
        else:
            stream = environ["wsgi.input"]
            if length is not None and length > MAX_BODY_BYTES:
                _drain(stream, min(length, DRAIN_LIMIT), environ.get("gunicorn.socket"))
            status, kind, body = self.respond(
                lambda: _read(stream, length if length is not None else MAX_BODY_BYTES + 1),
                length,
                lambda name: environ.get(self._ENVIRON[name]) or None,
            )
        start_response(_STATUS_LINES[status], [("Content-Type", kind), ("Content-Length", str(len(body))), NOSNIFF])
        return [body]


def _read(stream: Any, size: int) -> bytes:
    """At most ``size`` bytes of the body; a framing the server cannot decode is the client's mistake (400).

    Behind nginx the framing is checked before the app runs; without it
    (``serve --no-nginx``) gunicorn decodes a chunked body while the app
    reads, and raises its own errors (``InvalidChunkSize``, ...) from here.
    """
    try:
        return stream.read(size)
    except Exception as exc:
        raise RequestError(400, f"the request body is malformed: {one_line(exc, with_type=True)}") from None


def _drain(stream: Any, limit: int, sock: Any) -> None:
    """Read and drop up to ``limit`` bytes of a body too large to use, as nginx's lingering close does.

    Without nginx (``serve --no-nginx``) the 413 goes straight from gunicorn;
    closing the connection with the body unread would reset it while the
    client is still sending, and the client would see a broken pipe instead
    of the answer. A client that stops sending is waited for at most
    :data:`LINGER_SECONDS` per read. Behind nginx this never runs: nginx
    refuses the body first.
    """
    previous = sock.gettimeout() if sock is not None else None
    if sock is not None:
        sock.settimeout(LINGER_SECONDS)
    try:
        while limit > 0 and (chunk := stream.read(min(limit, 1 << 16))):
            limit -= len(chunk)
    except Exception:  # a stalled or broken body: the 413 is still the answer
        pass
    finally:
        if sock is not None:
            sock.settimeout(previous)


def _has_sklearn() -> bool:
    import importlib.util

    return importlib.util.find_spec("sklearn") is not None


def load_predictor(model_dir: str) -> Any:
    """The predictor for the model at ``model_dir``: its compiled file if it has one, else the pickle.

    ``qboost-compiled.npz`` (:mod:`.compiled_file`) is read with numpy alone:
    nothing is unpickled and scikit-learn is never imported. Without it the
    model is unpickled (:func:`.loader.load_sklearn_model`), which needs the
    full image; the lean image says so.
    """
    from qboost_exp.errors import DataError

    compiled = load_compiled(model_dir)
    if compiled is not None:
        return CompiledPredictor(compiled, DataError, source=COMPILED_FILE)
    if not _has_sklearn():
        raise ModelLoadError(
            f"{model_dir} has no {COMPILED_FILE} and this image has no scikit-learn to unpickle the model: this is the lean "
            "`serve` image, which serves compiled models only. Package the model with `python -m serving package` "
            "(it writes the compiled file when the model compiles) or deploy the full image (TAG `full`)"
        )
    return predictor_for(load_sklearn_model(model_dir))


def create_app(model_dir: str | None = None, workers: int | None = None) -> Flask:
    """Load the model and build the app around it.

    Parameters
    ----------
    model_dir : str, optional
        Default: ``$QBOOST_SERVE_MODEL_DIR``, else ``/opt/ml/model`` (see :mod:`.paths`).
    workers : int, optional
        Default: ``$QBOOST_SERVE_WORKERS``, else the CPU count.
    """
    model_dir = model_dir or os.environ.get(MODEL_DIR_ENV) or str(OptMl.resolve().model)
    workers = workers or int(os.environ.get(WORKERS_ENV) or os.cpu_count() or 1)
    t0 = time.perf_counter()
    predictor = load_predictor(model_dir)
    print(
        f"serve: model {model_dir} loaded in {time.perf_counter() - t0:.2f} s "
        f"({predictor.n_features} features; predicting {predictor.description})",
        file=sys.stderr,
        flush=True,
    )
    respond = make_responder(predictor)
    execution_parameters = json.dumps({"MaxConcurrentTransforms": workers, "BatchStrategy": BATCH_STRATEGY, "MaxPayloadInMB": 6})

    app = Flask(__name__)

    @app.get("/ping")
    def ping() -> Response:
        # The app exists only once the model is loaded: answering is being ready.
        return Response(PING_BODY, status=200, content_type=protocol.JSON)

    @app.get("/execution-parameters")
    def execution_params() -> Response:
        return Response(execution_parameters, status=200, content_type=protocol.JSON)

    @app.post("/invocations")
    def invocations() -> Response:
        # Reached only when HotPath is bypassed (app.wsgi_app replaced); same answers.
        status, kind, body = respond(lambda: request.get_data(cache=False), request.content_length, request.headers.get)
        return Response(body, status=status, content_type=kind)

    @app.errorhandler(404)
    def not_found(_: Any) -> Response:
        return Response(error_body(f"no such path {request.path}; use POST /invocations, GET /ping or GET /execution-parameters"), 404, content_type=protocol.JSON)

    @app.errorhandler(405)
    def not_allowed(_: Any) -> Response:
        return Response(
            error_body(f"{request.method} is not allowed on {request.path}; /invocations takes POST, /ping and /execution-parameters GET"),
            405,
            content_type=protocol.JSON,
        )

    @app.after_request
    def no_sniffing(response: Response) -> Response:
        response.headers.setdefault(*NOSNIFF)
        return response

    app.wsgi_app = HotPath(app.wsgi_app, respond)  # type: ignore[method-assign]
    return app


wire.install()  # before any worker forks (serve preloads this module in the gunicorn master)
app = create_app()
