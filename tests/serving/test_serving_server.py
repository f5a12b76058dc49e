"""The SageMaker ``serve`` program, run for real: nginx, gunicorn, Flask, in subprocesses.

The served model holds every kind of learner a compiled model holds (stumps
and trees inside SubspaceLearner, bare AdaBoost trees), so the server predicts
through qboost_exp.domain.compiled. Every answer of the server is compared
with MLflow's own loading of the same model directory.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from services import free_port
# First: it puts this checkout's `serving` first on sys.path.
from serving_programs import (  # noqa: F401  (opt_ml, reference, server, server_software: fixtures, found by name)
    BIN, LOOPBACK, REPO, csv_body, opt_ml, plain_server, predictions_of, program_env, reference, server, server_software, start_server,
)

#: The two ways `serve` runs: nginx in front (the image), and gunicorn alone (`--no-nginx`, a local trial).
MODES = ["server", "plain_server"]


@pytest.fixture(params=MODES, ids=["nginx", "no-nginx"])
def any_server(request):
    return request.getfixturevalue(request.param)


# --------------------------------------------------------------------------- serve


def test_ping_and_execution_parameters(server):
    status, headers, body = server.request("GET", "/ping")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    assert headers["Content-Type"] == "application/json" and headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = server.request("GET", "/execution-parameters")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}
    # The served model is all trees: it predicts through qboost_exp.domain.compiled.
    assert "predicting compiled: " in server.log.read_text(errors="replace")


FORMS = [
    "csv without header (Batch Transform)", "csv with header", "csv with reordered header", "csv with charset",
    "json dataframe_split", "json dataframe_split without columns", "json dataframe_records", "json instances rows",
    "json instances records", "json inputs rows", "json inputs columns", "json list of rows",
]


def _body(ref, form: str) -> tuple[str, str]:
    """(content type, body) of the reference rows in one of the accepted forms."""
    X, names = ref["X"], ref["names"]
    rows = X.tolist()
    order = np.random.default_rng(1).permutation(len(names))
    records = [dict(zip(names, r)) for r in rows]
    bodies = {
        "csv without header (Batch Transform)": ("text/csv", csv_body(X)),
        "csv with header": ("text/csv", csv_body(X, names)),
        "csv with reordered header": ("text/csv", csv_body(X[:, order], [names[i] for i in order])),
        "csv with charset": ("text/csv; charset=utf-8", csv_body(X)),
        "json dataframe_split": ("application/json", json.dumps({"dataframe_split": {"columns": names, "data": rows}})),
        "json dataframe_split without columns": ("application/json", json.dumps({"dataframe_split": {"data": rows}})),
        "json dataframe_records": ("application/json", json.dumps({"dataframe_records": records})),
        "json instances rows": ("application/json", json.dumps({"instances": rows})),
        "json instances records": ("application/json", json.dumps({"instances": records})),
        "json inputs rows": ("application/json", json.dumps({"inputs": rows})),
        "json inputs columns": ("application/json", json.dumps({"inputs": {n: X[:, i].tolist() for i, n in enumerate(names)}})),
        "json list of rows": ("application/json; charset=utf-8", json.dumps(rows)),
    }
    assert list(bodies) == FORMS
    return bodies[form]


@pytest.mark.parametrize("form", FORMS)
def test_predictions_equal_mlflow_for_every_input_form(server, reference, form):
    content_type, body = _body(reference, form)
    status, headers, answer = server.invoke(body, content_type)
    media = "text/csv" if content_type.startswith("text/csv") else "application/json"
    got = predictions_of(status, headers, answer, media)
    assert [int(v) for v in got] == reference["labels"].tolist()


def test_single_row_and_single_record(server, reference):
    row, expected = reference["X"][5].tolist(), [int(reference["labels"][5])]
    for content_type, body, media in (
        ("text/csv", ",".join(map(repr, row)), "text/csv"),
        ("application/json", json.dumps({"instances": [row]}), "application/json"),
        ("application/json", json.dumps({"dataframe_records": [dict(zip(reference["names"], row))]}), "application/json"),
        ("application/json", json.dumps(row), "application/json"),  # a flat list is one row
    ):
        assert [int(v) for v in predictions_of(*server.invoke(body, content_type), media)] == expected


@pytest.mark.parametrize(
    "content_type, accept, media",
    [
        ("text/csv", None, "text/csv"),
        ("text/csv", "*/*", "text/csv"),
        ("text/csv", "application/json", "application/json"),
        ("application/json", None, "application/json"),
        ("application/json", "text/csv", "text/csv"),
        ("application/json", "text/*", "text/csv"),
        ("text/csv", "application/xml;q=1, application/json;q=0.5, text/csv;q=0.1", "application/json"),
        ("text/csv", "application/*", "application/json"),
    ],
)
def test_accept_negotiation(server, reference, content_type, accept, media):
    X = reference["X"][:20]
    body = csv_body(X) if content_type == "text/csv" else json.dumps({"instances": X.tolist()})
    headers = {"Accept": accept} if accept else {}
    got = predictions_of(*server.invoke(body, content_type, headers), media)
    assert [int(v) for v in got] == reference["labels"][:20].tolist()


@pytest.mark.parametrize(
    "output, how",
    [
        ("probabilities", "accept-json"), ("probabilities", "accept-csv"), ("probabilities", "custom-attributes"),
        ("margin", "accept-json"), ("margin", "custom-attributes"), ("decision_function", "accept-csv"),
    ],
)
def test_probabilities_and_margins_on_request(server, reference, output, how):
    X = reference["X"]
    media = "text/csv" if how == "accept-csv" else "application/json"
    if how == "custom-attributes":
        headers = {"Accept": "application/json", "X-Amzn-SageMaker-Custom-Attributes": f"trace=1,output={output}"}
    else:
        headers = {"Accept": f"{media}; output={output}"}
    got = np.asarray(predictions_of(*server.invoke(csv_body(X), "text/csv", headers), media), dtype=float)
    expected = reference["proba"] if output == "probabilities" else reference["margin"]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


BAD_INPUTS = [
    # (id, content type, body, extra headers, status, phrase in the error)
    ("too few features", "text/csv", "1,2,3\n", {}, 400, "expected 30 feature values per row, got 3 on row 1"),
    ("label column included", "text/csv", ",".join(["1"] * 31), {}, 400, "without a label column"),
    ("non-numeric cell", "text/csv", ",".join(["1"] * 30) + "\n" + ",".join(["1"] * 4 + ["abc"] + ["1"] * 25), {}, 400, "row 2 (line 2), column 5: 'abc' is not a number"),
    ("empty cell", "text/csv", ",".join(["1"] * 29) + ",\n", {}, 400, "column 30: the cell is empty"),
    ("nan", "text/csv", ",".join(["1"] * 3 + ["nan"] + ["1"] * 26), {}, 400, "row 1 (line 1), column 4: the value is NaN"),
    ("infinity", "text/csv", ",".join(["1"] * 29 + ["-inf"]), {}, 400, "column 30: the value is infinite"),
    ("beyond float32", "text/csv", ",".join(["1"] * 29 + ["1e39"]), {}, 400, "out of range"),
    ("ragged csv", "text/csv", "\n".join([",".join(["1"] * 30)] * 2 + [",".join(["1"] * 29)]), {}, 400, "ragged CSV: row 3 (line 3) has 29 fields but row 1"),
    ("header of other names", "text/csv", ",".join(f"x{i}" for i in range(30)) + "\n" + ",".join(["1"] * 30), {}, 400, "CSV header does not match the model's 30 features: missing 'mean radius'"),
    ("header only", "text/csv", "a,b,c\n", {}, 400, "header line but no data rows"),
    ("empty csv body", "text/csv", "", {}, 400, "body is empty"),
    ("blank csv body", "text/csv", "\n \n", {}, 400, "body is empty"),
    ("invalid utf-8", "text/csv", b"1,2\xff,3", {}, 400, "not valid UTF-8"),
    ("empty json body", "application/json", "", {}, 400, "body is empty"),
    ("malformed json", "application/json", '{"instances": [[1, 2,]]}', {}, 400, "malformed JSON"),
    ("unknown json shape", "application/json", '{"rows": [[1]]}', {}, 400, "exactly one of the keys"),
    ("json string value", "application/json", json.dumps({"instances": [[1, 2, "x"] + [1] * 27]}), {}, 400, "row 1, column 3: a string 'x' is not a number"),
    ("json null value", "application/json", json.dumps({"instances": [[1] * 29 + [None]]}), {}, 400, "row 1, column 30: a null is not a number"),
    ("json ragged rows", "application/json", json.dumps([[1] * 30, [1] * 29]), {}, 400, "got 29 on row 2"),
    ("json NaN", "application/json", '{"instances": [[' + ", ".join(["1"] * 29 + ["NaN"]) + "]]}", {}, 400, "the value is NaN"),
    ("json record missing a feature", "application/json", json.dumps({"dataframe_records": [{"mean radius": 1}]}), {}, 400, "record 1 does not match"),
    ("json no rows", "application/json", '{"instances": []}', {}, 400, "holds no rows"),
    ("text/plain", "text/plain", "1,2", {}, 415, "'text/plain' is not supported"),
    ("no content type", None, "1,2", {}, 415, "no Content-Type is not supported"),
    ("latin-1 charset", "text/csv; charset=latin-1", "1,2", {}, 415, "charset 'latin-1' is not supported"),
    ("accept xml", "text/csv", "1", {"Accept": "application/xml"}, 406, "cannot be produced; accept text/csv or application/json"),
    ("accept unknown output", "text/csv", "1", {"Accept": "application/json; output=bogus"}, 406, "output='bogus' cannot be produced"),
    ("custom attribute unknown output", "text/csv", "1", {"X-Amzn-SageMaker-Custom-Attributes": "output=bogus"}, 400, "output='bogus' cannot be produced"),
    ("conflicting outputs", "text/csv", "1", {"Accept": "text/csv; output=margin", "X-Amzn-SageMaker-Custom-Attributes": "output=probabilities"}, 400, "give one"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_4xx_that_says_what_is_wrong(any_server, case):
    _, content_type, body, headers, status, phrase = case
    got_status, got_headers, answer = any_server.invoke(body, content_type, headers)
    assert got_status == status, answer
    assert got_headers["Content-Type"] == "application/json"
    error = json.loads(answer)["error"]
    assert phrase in error


def test_wrong_paths_and_methods_get_json_errors(any_server):
    for method, path, status in (("GET", "/invocations", 405), ("POST", "/ping", 405), ("GET", "/nowhere", 404)):
        got, headers, body = any_server.request(method, path)
        assert got == status and headers["Content-Type"] == "application/json" and "error" in json.loads(body)


ROW = ["1"] * 29  # 29 good cells; the 30th is the one under test
HOSTILE_VALUES = [
    # CSV cells follow a strict ASCII grammar: no digit separators, other scripts' digits, hex, words.
    ("csv underscore digits", "text/csv", ",".join(ROW + ["1_000"]), "column 30: '1_000' is not a number"),
    ("csv arabic-indic digits", "text/csv", ",".join(ROW + ["\u0661\u0662"]), "column 30: '\u0661\u0662' is not a number"),
    ("csv full-width digits", "text/csv", ",".join(ROW + ["\uff11"]), "column 30: '\uff11' is not a number"),
    ("csv hex float", "text/csv", ",".join(ROW + ["0x1p3"]), "column 30: '0x1p3' is not a number"),
    ("csv infinity word", "text/csv", ",".join(ROW + ["inf"]), "column 30: the value is infinite"),
    ("csv nan word", "text/csv", "\n".join([",".join(ROW + ["1"]), ",".join(ROW + ["nan"])]), "row 2 (line 2), column 30: the value is NaN"),
    ("csv signed infinity", "text/csv", ",".join(ROW + ["-Infinity"]), "column 30: the value is infinite"),
    ("csv dangling exponent", "text/csv", "\n".join([",".join(ROW + ["1"]), ",".join(ROW + ["1e"])]), "row 2 (line 2), column 30: '1e' is not a number"),
    ("csv two points", "text/csv", ",".join(ROW + ["1.2.3"]), "column 30: '1.2.3' is not a number"),
    ("csv sign alone", "text/csv", ",".join(ROW + ["-"]), "column 30: '-' is not a number"),
    ("csv single bad row", "text/csv", ",".join(ROW + ["abc"]), "row 1 (line 1), column 30: 'abc' is not a number"),
    # Booleans and numeric strings are not numbers in any JSON form, mixed with numbers or not.
    ("json list true", "application/json", json.dumps([[1] * 29 + [True]]), "row 1, column 30: a boolean is not a number"),
    ("json instances false", "application/json", json.dumps({"instances": [[0.5] * 29 + [False]]}), "row 1, column 30: a boolean is not a number"),
    ("json inputs rows true", "application/json", json.dumps({"inputs": [[2] * 29 + [True]]}), "row 1, column 30: a boolean is not a number"),
    ("json dataframe_split true", "application/json", json.dumps({"dataframe_split": {"data": [[1.5] * 29 + [True]]}}), "row 1, column 30: a boolean is not a number"),
    ("json all booleans", "application/json", json.dumps([[True] * 30]), "row 1, column 1: a boolean is not a number"),
    ("json numeric string", "application/json", json.dumps({"instances": [[1] * 29 + ["2.5"]]}), "row 1, column 30: a string '2.5' is not a number"),
    # Bodies that would break the parser itself: deep nesting, huge integer literals.
    ("json nested 1000 deep", "application/json", "[" * 1000 + "]" * 1000, "nested more than 32 levels deep"),
    ("json nested in an object", "application/json", '{"instances": ' + "[" * 40 + "1" + "]" * 40 + "}", "nested more than 32 levels deep"),
    ("json 5000-digit integer", "application/json", "[[" + ",".join(["1"] * 29 + ["9" * 5000]) + "]]", "an integer with 5000 digits is out of range"),
    ("json 350-digit integer", "application/json", "[[" + ",".join(["1"] * 29 + ["9" * 350]) + "]]", "row 1, column 30: an integer with 350 digits is out of range"),
    ("json float out of float32 range", "application/json", "[[" + ",".join(["1"] * 29 + ["1e39"]) + "]]", "row 1, column 30: value 1e+39 is out of range"),
]


@pytest.mark.parametrize("case", HOSTILE_VALUES, ids=[c[0] for c in HOSTILE_VALUES])
def test_hostile_values_get_a_400_naming_the_cell(any_server, case):
    _, content_type, body, phrase = case
    status, headers, answer = any_server.invoke(body, content_type)
    assert status == 400, answer
    assert headers["Content-Type"] == "application/json" and headers["X-Content-Type-Options"] == "nosniff"
    error = json.loads(answer)["error"]
    assert phrase in error and "np.float" not in error and "Traceback" not in error


def _raw(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes as a request; the status, headers and body of the answer."""
    import socket

    with socket.create_connection((LOOPBACK, port), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received and (chunk := sock.recv(65536)):
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        while len(body) < int(headers.get("Content-Length", 0)) and (chunk := sock.recv(65536)):
            body += chunk
    return int(lines[0].split()[1]), headers, body


POST = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
PROTOCOL_ERRORS = [
    # Every layer's refusal is JSON: nginx's own (request line, headers, framing) included.
    ("request line of 10 KB", b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("header of 10 KB", b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n", 431),
    ("200 headers of 250 bytes", b"GET /ping HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 240) for i in range(200)) + b"\r\n", 431),
    ("150 small headers", b"GET /ping HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n", 200),
    ("garbage request line", b"HELLO\r\n\r\n", 400),
    ("no Host in HTTP/1.1", b"GET /ping HTTP/1.1\r\n\r\n", 400),
    ("bad header syntax", b"GET /ping HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400),
    ("invalid header name", b"GET /ping HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400),
    ("HTTP/2.0 request line", b"GET /ping HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("bad Content-Length", POST + b"Content-Length: abc\r\n\r\n1", 400),
    ("two Content-Lengths", POST + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n12", 400),
    ("unknown Transfer-Encoding", POST + b"Transfer-Encoding: gzip\r\n\r\n1", 501),
    ("bad chunk framing", POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n1\r\n0\r\n\r\n", 400),
    ("TRACE method", b"TRACE /invocations HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    ("body over 6 MB declared", POST + b"Content-Length: 7000000\r\n\r\n", 413),
]


@pytest.mark.parametrize("case", PROTOCOL_ERRORS, ids=[c[0] for c in PROTOCOL_ERRORS])
def test_every_layer_answers_errors_in_json(server, case):
    _, data, expected = case
    status, headers, body = _raw(server.port, data)
    assert status == expected, body[:300]
    assert headers.get("Content-Type") == "application/json", (headers, body[:300])
    answer = json.loads(body)
    assert answer.get("error") if status >= 400 else answer == {"status": "ready"}


def test_a_worker_killed_under_load_never_yields_a_short_2xx(server, reference):
    """kill -9 of busy workers while clients send: each answer is a full 200 or a JSON 5xx."""
    import threading

    body = csv_body(reference["X"][:300]).encode()
    expected = reference["labels"][:300].tolist()
    stop = threading.Event()
    outcomes: list[tuple[int, bool, str]] = []

    def client() -> None:
        while not stop.is_set():
            try:
                status, headers, answer = server.invoke(body, "text/csv")
            except (http.client.IncompleteRead, ConnectionError) as exc:
                outcomes.append((0, False, repr(exc)))
                continue
            if status == 200:
                outcomes.append((200, [int(v) for v in answer.decode().splitlines()] == expected, ""))
            else:
                outcomes.append((status, headers.get("Content-Type") == "application/json" and "error" in json.loads(answer), answer[:200].decode()))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        killed = 0
        # At least 8 s of kills, and on until what the asserts below count has happened (a loaded
        # machine respawns workers and answers more slowly); the 120 s deadline is a safety net.
        least, deadline = time.monotonic() + 8, time.monotonic() + 120
        while time.monotonic() < least or (
            (killed < 10 or sum(1 for o in outcomes if o[0] == 200) <= 20) and time.monotonic() < deadline
        ):
            time.sleep(0.25)
            _, workers = server.gunicorn_pids()
            for pid in workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert killed >= 10
    bad = [o for o in outcomes if not o[1]]
    assert not bad, bad[:5]
    assert sum(1 for o in outcomes if o[0] == 200) > 20
    # gunicorn replaced the workers (every killed one reaped, two live ones); the server answers as before.
    deadline = time.monotonic() + 120
    while len(server.gunicorn_pids()[1]) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    got = predictions_of(*server.invoke(body, "text/csv"), "text/csv")
    assert [int(v) for v in got] == expected
    server.initial_pids = server.gunicorn_pids()  # later tests compare with the replacements


@pytest.mark.parametrize("mode", MODES)
def test_server_is_unharmed_by_bad_input(mode, request, reference):
    """After the table of bad inputs: same gunicorn master and workers, /ping 200, valid answers."""
    server = request.getfixturevalue(mode)
    assert server.gunicorn_pids() == server.initial_pids
    assert server.request("GET", "/ping")[0] == 200
    got = predictions_of(*server.invoke(csv_body(reference["X"][:50]), "text/csv"), "text/csv")
    assert [int(v) for v in got] == reference["labels"][:50].tolist()
    assert "Traceback" not in server.log.read_text(errors="replace")


def _body_of_size(reference, size: int) -> tuple[bytes, int]:
    """Valid CSV rows, repeated up to ``size`` bytes; returns (body, rows)."""
    lines = csv_body(reference["X"]).encode().splitlines(keepends=True)
    out, n, i = io.BytesIO(), 0, 0
    while out.tell() + len(lines[i % len(lines)]) <= size:
        out.write(lines[i % len(lines)])
        n, i = n + 1, i + 1
    return out.getvalue(), n


def test_body_size_limit_is_sagemakers_6_mb(any_server, reference):
    body, rows = _body_of_size(reference, 5_900_000)
    status, headers, answer = any_server.invoke(body, "text/csv")
    assert status == 200 and len(answer.decode().splitlines()) == rows
    too_big = body + body[: 600_000]  # 6.5 MB
    status, headers, answer = any_server.invoke(too_big, "text/csv")
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert "larger than 6 MB" in json.loads(answer)["error"]


def test_a_chunked_body_over_6_mb_is_refused_by_the_app_itself(plain_server, reference):
    """Without nginx nothing cuts a body that declares no length: the app reads at most 6 MB + 1 byte of it."""
    body, _ = _body_of_size(reference, 6_500_000)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 65536]), body[i : i + 65536]) for i in range(0, len(body), 65536))
    status, headers, answer = _raw(plain_server.port, POST + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert "larger than 6 MB" in json.loads(answer)["error"]
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("case", PROTOCOL_ERRORS, ids=[c[0] for c in PROTOCOL_ERRORS])
def test_without_nginx_gunicorns_own_refusals_are_json_too(plain_server, case):
    """gunicorn faces the client: it picks the status (never a 5xx for a client's request but 501/505 as nginx does), the body is JSON."""
    _, data, nginx_status = case
    status, headers, body = _raw(plain_server.port, data)
    assert headers.get("Content-Type") == "application/json", (status, headers, body[:300])
    answer = json.loads(body)
    if status == 200:  # gunicorn serves these two (README: serve --no-nginx); everything else it refuses
        assert case[0] in ("150 small headers", "no Host in HTTP/1.1") and answer == {"status": "ready"}, case[0]
    else:
        assert 400 <= status < 500 or status == nginx_status, (status, body[:300])
        assert answer["error"] and "<html>" not in answer["error"]


def test_serve_without_nginx_says_what_it_skips(plain_server):
    log = plain_server.log.read_text(errors="replace")
    first = next(line for line in log.splitlines() if "--no-nginx" in line)
    assert "nginx skipped" in first and "the app's own 6 MB limit applies" in first
    assert "nginx" not in " ".join(open(f"/proc/{p}/cmdline").read() for p in plain_server.initial_pids[1])


def test_a_missing_nginx_names_both_ways_out(monkeypatch):
    from serving.container import serve

    monkeypatch.setattr(serve.shutil, "which", lambda name: None)
    monkeypatch.setattr(serve.os, "access", lambda path, mode: False)
    with pytest.raises(serve.SettingError, match=r"apt-get install -y nginx, or --no-nginx"):
        serve.find_nginx()


def test_sigterm_lets_an_in_flight_request_finish_and_exits_0(server_software, opt_ml, reference, tmp_path):
    """The bin/serve script with the root from SM_OPT_ML_ROOT; SIGTERM arrives mid-request."""
    port = free_port()
    env = program_env(SM_OPT_ML_ROOT=str(opt_ml), SAGEMAKER_BIND_TO_PORT=str(port), MODEL_SERVER_WORKERS="1", MODEL_SERVER_TIMEOUT="20")
    srv = start_server([sys.executable, str(BIN / "serve"), "--host", LOOPBACK], tmp_path / "serve.log", env, port)
    try:
        body, rows = _body_of_size(reference, 2_000_000)
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
        conn.putrequest("POST", "/invocations")
        conn.putheader("Content-Type", "text/csv")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[: len(body) // 2])
        # In flight for sure: nginx has accepted the connection and read all that was sent (not a guessed 0.3 s).
        _wait_until_read_by_server(port, conn.sock)
        srv.process.send_signal(signal.SIGTERM)
        # nginx stops accepting new connections (its graceful stop has begun) -- polled, not assumed after 1 s;
        # within worker_shutdown_timeout (MODEL_SERVER_TIMEOUT + 5 s), which would drop the request in flight.
        _wait_until_refused(port, timeout=15)
        assert srv.process.poll() is None, "serve exited with a request in flight"
        conn.send(body[len(body) // 2 :])
        response = conn.getresponse()
        answer = response.read()
        assert response.status == 200, answer
        assert len(answer.decode().splitlines()) == rows
        assert srv.process.wait(timeout=60) == 0, srv.log.read_text()[-3000:]
    finally:
        if srv.process.poll() is None:
            os.killpg(srv.process.pid, signal.SIGKILL)
            srv.process.wait()


def _tcp_queues(local_port: int, remote_port: int) -> tuple[int, int] | None:
    """(tx_queue, rx_queue) of this network namespace's IPv4 TCP socket from ``local_port`` to ``remote_port`` (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == local_port and int(fields[2].split(":")[1], 16) == remote_port:
            tx, rx = (int(v, 16) for v in fields[4].split(":"))
            return tx, rx
    return None


def _wait_until_read_by_server(port: int, sock, timeout: float = 60) -> None:
    """Until everything sent on ``sock`` has reached the server at ``port`` and the server has read it.

    Our side has nothing unacknowledged (tx_queue 0) and the server's side of the connection nothing
    unread (rx_queue 0): the server accepted the connection and read the data -- for nginx, the
    request is in flight. A connection still in the listen queue when nginx closes it would be reset.
    """
    client_port = sock.getsockname()[1]
    deadline = time.monotonic() + timeout
    while True:
        ours, theirs = _tcp_queues(client_port, port), _tcp_queues(port, client_port)
        if ours is not None and theirs is not None and ours[0] == 0 and theirs[1] == 0:
            return
        assert time.monotonic() < deadline, f"the server did not read the request within {timeout:g} s: ours {ours}, theirs {theirs}"
        time.sleep(0.02)


def _wait_until_refused(port: int, timeout: float) -> None:
    """Until a new connection to ``port`` is refused (the listening socket is closed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            http.client.HTTPConnection(LOOPBACK, port, timeout=5).connect()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, f"new connections still accepted {timeout:g} s after SIGTERM"
        time.sleep(0.05)


def test_serve_without_a_model_stops_at_once_with_a_reason(server_software, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "serving.container.serve", "--opt-ml", str(tmp_path), "--port", str(free_port())],
        cwd=REPO, env=program_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"no MLflow model at {tmp_path / 'model'}" in result.stderr


# ------------------------------------------------ the compiled file, lean serving, SageMaker defects


def test_the_compiled_file_serves_without_unpickling_or_importing_heavy_libraries(opt_ml, reference, tmp_path):
    """compile_model_dir writes qboost-compiled.npz beside MLmodel; the app then reads only it (numpy, Flask)."""
    import shutil

    from serving.container.compiled_file import COMPILED_FILE, compile_model_dir

    model_dir = tmp_path / "model"
    shutil.copytree(opt_ml / "model", model_dir)
    assert compile_model_dir(model_dir) is None
    assert (model_dir / COMPILED_FILE).is_file()
    (model_dir / "model.pkl").write_bytes(b"not a pickle: the server must not read it")
    X = reference["X"]
    np.save(tmp_path / "X.npy", X)
    script = (
        "import sys, numpy as np\n"
        "from serving.container.wsgi import load_predictor  # builds the app of QBOOST_SERVE_MODEL_DIR\n"
        f"p = load_predictor({str(model_dir)!r})\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, p.probabilities(np.load({str(tmp_path / 'X.npy')!r})))\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'pandas', 'mlflow', 'yaml', 'cloudpickle', 'dimod', 'hydra'})\n"
        "print(p.description, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=program_env(QBOOST_SERVE_MODEL_DIR=str(model_dir)), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("from qboost-compiled.npz []"), done.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), reference["proba"])


def test_the_lean_image_without_a_compiled_file_says_to_use_the_full_image(opt_ml, monkeypatch):
    monkeypatch.setenv("QBOOST_SERVE_MODEL_DIR", str(opt_ml / "model"))  # importing wsgi builds the app
    from serving.container import wsgi
    from serving.container.loader import ModelLoadError

    monkeypatch.setattr(wsgi, "_has_sklearn", lambda: False)
    with pytest.raises(ModelLoadError, match="has no qboost-compiled.npz and this image has no scikit-learn.*the full image"):
        wsgi.load_predictor(str(opt_ml / "model"))



