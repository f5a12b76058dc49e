"""The SageMaker container programs ``train`` and ``serve``, run for real: nginx, gunicorn, subprocesses.

The served model holds every kind of learner a compiled model holds (stumps
and trees inside SubspaceLearner, bare AdaBoost trees), so the server predicts
through qboost_exp.domain.compiled; a model with a learner that does not compile
(GaussianNB) is served through its own predict, tested in-process. Every
answer of the server is compared with MLflow's own loading of the same model
directory.
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
import warnings
from pathlib import Path

import numpy as np
import pytest

from clirun import accuracy, closed_port
import system_packages
from services import apt_install, free_port, http_request, skip_or_fail, wait_for_http

REPO = Path(__file__).resolve().parent.parent
# `serving` lives at the repository root and is not part of the installed
# wheel; the container programs find it the same way (PYTHONPATH / the image's copy).
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from serving.container.hyperparameters import to_overrides  # noqa: E402
from serving.container.errors import RequestError  # noqa: E402
from serving.container.parsing import Schema, parse_csv, parse_json  # noqa: E402
from serving.container.predictor import CompiledPredictor, ModelPredictor, predictor_for  # noqa: E402

BIN = REPO / "serving" / "container" / "bin"
LOOPBACK = "127.0.0.1"
# Every tree kind: SubspaceLearner stumps and depth-3 trees, bare AdaBoost trees (all compile).
MIXED_LEARNERS = (
    "weak_learners.params.members=[{name: stumps}, {name: trees, params: {n_estimators: 10, max_depth: 3}}, "
    "{name: adaboost, params: {n_estimators: 10, max_depth: 2}}]"
)
OVERRIDES = ["weak_learners=mixed", MIXED_LEARNERS, "sampler.params.num_reads=10", "lambda=0.002"]
FAKE_TOKEN = "DEV-fake-token-123"


def _env(**extra: str) -> dict[str, str]:
    """The environment of a container program: the test's, minus tracking and D-Wave settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "DWAVE_"))}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server_software():
    """nginx (installed with apt-get when missing and root), gunicorn and flask."""
    for module in ("gunicorn", "flask"):
        try:
            __import__(module)
        except ImportError:
            skip_or_fail(f"{module} is not importable (it comes with mlflow): pip install {module}")
    from serving.container.serve import SettingError, find_nginx

    try:
        return find_nginx()
    except SettingError:
        pass
    if os.geteuid() != 0:
        skip_or_fail("nginx is not installed and we are not root: apt-get install -y nginx")
    apt_install(system_packages.PACKAGES["nginx"])
    return find_nginx()


def _train_mixed_model():
    from omegaconf import OmegaConf

    from qboost_exp.config import compose
    from qboost_exp.experiment import run_experiment

    cfg = compose(OVERRIDES)
    return run_experiment(cfg), OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture(scope="module")
def opt_ml(tmp_path_factory):
    """A /opt/ml tree whose model/ holds an MLflow model saved by qboost_exp.tracking.save_model."""
    from qboost_exp.tracking import save_model

    root = tmp_path_factory.mktemp("opt_ml")
    result, cfg = _train_mixed_model()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")  # inside MLflow
        save_model(result, cfg, root / "model")
    return root


@pytest.fixture(scope="module")
def reference(opt_ml):
    """What MLflow itself makes of the model directory: the pyfunc and the sklearn model."""
    import mlflow.pyfunc
    import mlflow.sklearn
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    rng = np.random.default_rng(7)
    # Real rows, then rows far from the training data (every split taken both ways).
    X = np.vstack([data.data, data.data[rng.integers(0, len(data.data), 200)] * rng.uniform(0.5, 1.5, (200, 30))])
    frame = pd.DataFrame(X, columns=list(data.feature_names))
    model = mlflow.sklearn.load_model(str(opt_ml / "model"))
    with warnings.catch_warnings():
        # MLflow's own input-example check trips a pandas deprecation warning.
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        labels = np.asarray(mlflow.pyfunc.load_model(str(opt_ml / "model")).predict(frame))
    return {
        "names": list(data.feature_names),
        "X": X,
        "labels": labels,
        "proba": model.predict_proba(frame)[:, 1],
        "margin": model.decision_function(frame),
        "model": model,
    }


class Server:
    """A running ``serve`` program."""

    def __init__(self, process: subprocess.Popen, port: int, log: Path, ready_seconds: float) -> None:
        self.process, self.port, self.log, self.ready_seconds = process, port, log, ready_seconds

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60):
        return http_request(self.port, method, path, body, headers, timeout)

    def invoke(self, body: bytes | str, content_type: str | None = "text/csv", headers: dict[str, str] | None = None):
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        return self.request("POST", "/invocations", body.encode() if isinstance(body, str) else body, sent)

    def gunicorn_pids(self) -> tuple[int, set[int]]:
        """(master, workers): the serve process's gunicorn child and its children."""
        master = [p for p in _children(self.process.pid) if b"gunicorn" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(master) == 1, master
        return master[0], set(_children(master[0]))

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:  # a failed test: leave nothing behind
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _children(pid: int) -> list[int]:
    """The live children of ``pid``: a child killed but not yet reaped (a zombie) is gone already, and not listed."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
            if int(parent) == pid and state not in ("Z", "X"):
                found.append(int(entry))
    return found


def start_server(cmd: list[str], log: Path, env: dict[str, str], port: int) -> Server:
    start = time.monotonic()
    with open(log, "wb") as out:
        # Its own session: a failing test can kill nginx and gunicorn with it.
        process = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://{LOOPBACK}:{port}/ping", timeout=90, process=process, log_path=log, interval=0.02)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return Server(process, port, log, time.monotonic() - start)


@pytest.fixture(scope="module")
def server(server_software, opt_ml, tmp_path_factory):
    """``python -m serving.container.serve --opt-ml ROOT`` on a free loopback port, 2 workers."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    cmd = [sys.executable, "-m", "serving.container.serve", "--opt-ml", str(opt_ml), "--port", str(port), "--host", LOOPBACK]
    srv = start_server(cmd, log, _env(MODEL_SERVER_WORKERS="2"), port)
    print(f"\n[serve] /ping answered 200 {srv.ready_seconds:.2f} s after the process started", flush=True)
    # gunicorn forks its workers one after the other; wait for both before noting their pids
    # (the deadline is a safety net for a loaded machine, not a measure).
    deadline = time.monotonic() + 120
    while len(srv.gunicorn_pids()[1]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.initial_pids = srv.gunicorn_pids()
    assert len(srv.initial_pids[1]) == 2, srv.initial_pids
    yield srv
    code = srv.stop()
    assert code == 0, f"serve exited with {code} on SIGTERM; log:\n{log.read_text()[-3000:]}"


def _csv(X: np.ndarray, header: list[str] | None = None) -> str:
    lines = [",".join(map(repr, row)) for row in X.tolist()]
    return "\n".join(([",".join(header)] if header else []) + lines) + "\n"


def _predictions(status: int, headers: dict, body: bytes, media: str = "application/json") -> list:
    assert status == 200, body
    assert headers["Content-Type"].startswith(media)
    if media == "application/json":
        return json.loads(body)["predictions"]
    return body.decode().splitlines()


# ---------------------------------------------------------------------- the predictor


@pytest.fixture(scope="module")
def tree_model():
    """A QBoostClassifier fitted in-process on every tree kind, with a small lambda so most are selected."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.tree import DecisionTreeClassifier

    from qboost_exp import QBoostClassifier
    from qboost_exp.domain.weak_learners import AdaBoostLearners, Estimators, Mixed, Stumps, Trees

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    learners = Mixed([Stumps(), Trees(n_estimators=15, max_depth=4), AdaBoostLearners(n_estimators=10, max_depth=3), Estimators([DecisionTreeClassifier(max_depth=5)])])
    # a small largest weight: reaching a margin of 1 takes most learners, so most kinds are selected
    model = QBoostClassifier(weak_learners=learners, sampler="neal", sampler_params={"num_reads": 10}, lam=0.0, max_weight=1 / 64, random_state=3)
    return model.fit(X, y), X


def _edge_rows(model, X: np.ndarray) -> np.ndarray:
    """Rows whose values sit exactly on, and one float64/float32 step around, every split threshold."""
    rows = [X]
    base = X[:1]
    for learner in model.estimators_:
        tree = getattr(learner, "estimator", learner)
        if not hasattr(tree, "tree_"):
            continue
        columns = getattr(learner, "features", range(X.shape[1]))
        for node in np.flatnonzero(tree.tree_.children_left >= 0):
            threshold = tree.tree_.threshold[node]
            column = list(columns)[tree.tree_.feature[node]]
            t32 = np.float32(threshold)
            for value in (threshold, np.nextafter(threshold, np.inf), np.nextafter(threshold, -np.inf), float(t32),
                          float(np.nextafter(t32, np.float32(np.inf))), float(np.nextafter(t32, np.float32(-np.inf)))):
                row = base.copy()
                row[0, column] = value
                rows.append(row)
    return np.vstack(rows)


def _stress_rows(model, frame) -> np.ndarray:
    rng = np.random.default_rng(0)
    X = frame.to_numpy()
    return np.vstack([_edge_rows(model, X), X * rng.uniform(0.5, 1.5, X.shape), rng.normal(X.mean(0), X.std(0) * 2, (3000, X.shape[1]))])


def test_a_tree_model_is_served_compiled_bit_for_bit(tree_model):
    import pandas as pd

    model, frame = tree_model
    predictor = predictor_for(model)
    assert isinstance(predictor, CompiledPredictor) and predictor.description.startswith("compiled")
    assert predictor.compiled.n_learners >= 10 and predictor.feature_names == tuple(frame.columns)
    X = _stress_rows(model, frame)
    df = pd.DataFrame(X, columns=frame.columns)
    assert len(X) > 3000
    np.testing.assert_array_equal(predictor.margin(X), model.decision_function(df))
    np.testing.assert_array_equal(predictor.labels(X), model.predict(df))
    np.testing.assert_array_equal(predictor.probabilities(X), model.predict_proba(df)[:, 1])
    bad = X[:2].copy()
    bad[1, 4] = 1e39
    with pytest.raises(RequestError, match=r"row 2, column 5: value 1e\+39 is out of range"):
        predictor.labels(bad)


def test_a_model_that_does_not_compile_is_served_through_its_own_methods(tree_model):
    import copy

    import pandas as pd
    from sklearn.naive_bayes import GaussianNB

    model, frame = tree_model
    # One selected learner that is no tree: the whole model goes through its own predict.
    mixed = copy.deepcopy(model)
    mixed.estimators_ = [*mixed.estimators_[:-1], GaussianNB().fit(frame.to_numpy(), np.where(model.predict(frame) == 1, 1, -1))]
    predictor = predictor_for(mixed)
    assert isinstance(predictor, ModelPredictor) and "GaussianNB" in predictor.description
    X = _stress_rows(model, frame)[:2000]
    df = pd.DataFrame(X, columns=frame.columns)
    np.testing.assert_array_equal(predictor.margin(X), mixed.decision_function(df))
    np.testing.assert_array_equal(predictor.labels(X), mixed.predict(df))
    np.testing.assert_array_equal(predictor.probabilities(X), mixed.predict_proba(df)[:, 1])


def test_other_models_are_served_through_their_own_methods():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    predictor = predictor_for(model)
    assert isinstance(predictor, ModelPredictor) and predictor.feature_names == tuple(X.columns)
    assert "is not a QBoostClassifier" in predictor.description
    np.testing.assert_array_equal(predictor.labels(X.to_numpy()), model.predict(X))
    # BLAS may sum in another order for another memory layout: equal to rounding.
    np.testing.assert_allclose(predictor.probabilities(X.to_numpy()), model.predict_proba(X)[:, 1], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------- parsing


def test_parsers_give_the_same_matrix_for_every_form():
    names = ["a", "b", "c"]
    schema = Schema(3, names)
    X = np.array([[1.5, -2.0, 3e-7], [0.1, 0.2, 0.30000000000000004]])
    forms = {
        "csv": _csv(X).encode(),
        "csv crlf bom blank lines": b"\xef\xbb\xbf" + _csv(X).replace("\n", "\r\n\r\n").encode(),
        "csv reordered header": ("c,a,b\n" + "\n".join(",".join(map(repr, r[[2, 0, 1]].tolist())) for r in X) + "\n").encode(),
        "csv quoted header": b'"a","b","c"\n' + _csv(X).encode(),
    }
    for name, body in forms.items():
        np.testing.assert_array_equal(parse_csv(body, schema), X, err_msg=name)
    rows = X.tolist()
    records = [dict(zip(names, r)) for r in rows]
    for body in (
        {"dataframe_split": {"columns": names, "data": rows}},
        {"dataframe_split": {"columns": ["b", "c", "a"], "data": [[r[1], r[2], r[0]] for r in rows]}},
        {"dataframe_split": {"data": rows}},
        {"dataframe_records": records},
        {"instances": rows},
        {"instances": records},
        {"inputs": rows},
        {"inputs": {n: [r[i] for r in rows] for i, n in enumerate(names)}},
        rows,
        records,
    ):
        np.testing.assert_array_equal(parse_json(json.dumps(body).encode(), schema), X, err_msg=str(body)[:80])
    np.testing.assert_array_equal(parse_json(b"[1, 2, 3]", schema), [[1.0, 2.0, 3.0]])


def test_hyperparameters_become_overrides_and_secrets_the_environment():
    parsed = to_overrides({
        "sampler": "qpu", "lambda": "0.1", "weak_learners": "trees", "sampler.params.num_reads": "50",
        "sagemaker_program": "train", "_tuning_objective_metric": "x", "dwave_api_token": FAKE_TOKEN, "dataset.label": "-1",
    })
    assert parsed.overrides == ["sampler=qpu", "lambda=0.1", "weak_learners=trees", "sampler.params.num_reads=50", "dataset.label=-1"]
    assert parsed.environment == {"DWAVE_API_TOKEN": FAKE_TOKEN}
    assert not any(FAKE_TOKEN in note for note in parsed.notes)
    assert sum("ignoring SageMaker's hyperparameter" in note for note in parsed.notes) == 2
    from qboost_exp.errors import ConfigError

    for bad in ({"dataset": "wisc"}, {"dataset.path": "x.csv"}, {"hydra.run.dir": "x"}, {"a b": "1"}):
        with pytest.raises(ConfigError):
            to_overrides(bad)


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
        "csv without header (Batch Transform)": ("text/csv", _csv(X)),
        "csv with header": ("text/csv", _csv(X, names)),
        "csv with reordered header": ("text/csv", _csv(X[:, order], [names[i] for i in order])),
        "csv with charset": ("text/csv; charset=utf-8", _csv(X)),
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
    got = _predictions(status, headers, answer, media)
    assert [int(v) for v in got] == reference["labels"].tolist()


def test_single_row_and_single_record(server, reference):
    row, expected = reference["X"][5].tolist(), [int(reference["labels"][5])]
    for content_type, body, media in (
        ("text/csv", ",".join(map(repr, row)), "text/csv"),
        ("application/json", json.dumps({"instances": [row]}), "application/json"),
        ("application/json", json.dumps({"dataframe_records": [dict(zip(reference["names"], row))]}), "application/json"),
        ("application/json", json.dumps(row), "application/json"),  # a flat list is one row
    ):
        assert [int(v) for v in _predictions(*server.invoke(body, content_type), media)] == expected


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
    body = _csv(X) if content_type == "text/csv" else json.dumps({"instances": X.tolist()})
    headers = {"Accept": accept} if accept else {}
    got = _predictions(*server.invoke(body, content_type, headers), media)
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
    got = np.asarray(_predictions(*server.invoke(_csv(X), "text/csv", headers), media), dtype=float)
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
def test_bad_input_gets_a_4xx_that_says_what_is_wrong(server, case):
    _, content_type, body, headers, status, phrase = case
    got_status, got_headers, answer = server.invoke(body, content_type, headers)
    assert got_status == status, answer
    assert got_headers["Content-Type"] == "application/json"
    error = json.loads(answer)["error"]
    assert phrase in error


def test_wrong_paths_and_methods_get_json_errors(server):
    for method, path, status in (("GET", "/invocations", 405), ("POST", "/ping", 405), ("GET", "/nowhere", 404)):
        got, headers, body = server.request(method, path)
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
def test_hostile_values_get_a_400_naming_the_cell(server, case):
    _, content_type, body, phrase = case
    status, headers, answer = server.invoke(body, content_type)
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

    body = _csv(reference["X"][:300]).encode()
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
    got = _predictions(*server.invoke(body, "text/csv"), "text/csv")
    assert [int(v) for v in got] == expected
    server.initial_pids = server.gunicorn_pids()  # later tests compare with the replacements


def test_server_is_unharmed_by_bad_input(server, reference):
    """After the table of bad inputs: same gunicorn master and workers, /ping 200, valid answers."""
    assert server.gunicorn_pids() == server.initial_pids
    assert server.request("GET", "/ping")[0] == 200
    got = _predictions(*server.invoke(_csv(reference["X"][:50]), "text/csv"), "text/csv")
    assert [int(v) for v in got] == reference["labels"][:50].tolist()
    assert "Traceback" not in server.log.read_text(errors="replace")


def _body_of_size(reference, size: int) -> tuple[bytes, int]:
    """Valid CSV rows, repeated up to ``size`` bytes; returns (body, rows)."""
    lines = _csv(reference["X"]).encode().splitlines(keepends=True)
    out, n, i = io.BytesIO(), 0, 0
    while out.tell() + len(lines[i % len(lines)]) <= size:
        out.write(lines[i % len(lines)])
        n, i = n + 1, i + 1
    return out.getvalue(), n


def test_body_size_limit_is_sagemakers_6_mb(server, reference):
    body, rows = _body_of_size(reference, 5_900_000)
    status, headers, answer = server.invoke(body, "text/csv")
    assert status == 200 and len(answer.decode().splitlines()) == rows
    too_big = body + body[: 600_000]  # 6.5 MB
    status, headers, answer = server.invoke(too_big, "text/csv")
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert "larger than 6 MB" in json.loads(answer)["error"]


def test_sigterm_lets_an_in_flight_request_finish_and_exits_0(server_software, opt_ml, reference, tmp_path):
    """The bin/serve script with the root from SM_OPT_ML_ROOT; SIGTERM arrives mid-request."""
    port = free_port()
    env = _env(SM_OPT_ML_ROOT=str(opt_ml), SAGEMAKER_BIND_TO_PORT=str(port), MODEL_SERVER_WORKERS="1", MODEL_SERVER_TIMEOUT="20")
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
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"no MLflow model at {tmp_path / 'model'}" in result.stderr


# --------------------------------------------------------------------------- train


@pytest.fixture(scope="module")
def channels(tmp_path_factory):
    """wisc written by `python -m qboost_exp.data`, train.csv split into two files with write_sagemaker_csv."""
    from qboost_exp.data import load_csv, write_sagemaker_csv

    root = tmp_path_factory.mktemp("wisc")
    made = subprocess.run([sys.executable, "-m", "qboost_exp.data", "wisc", "--out", str(root)], capture_output=True, text=True, timeout=120, env=_env())
    assert made.returncode == 0, made.stderr
    X, y, _ = load_csv(root / "train.csv")
    (root / "parts").mkdir()
    write_sagemaker_csv(root / "parts" / "part-0.csv", X[:200], y[:200])
    write_sagemaker_csv(root / "parts" / "part-1.csv", X[200:], y[200:])
    return root


def _layout(root: Path, channels: Path, hyperparameters: dict, *, test_channel: bool = False) -> Path:
    """A SageMaker /opt/ml tree: config, training (2 files), validation (and test) channels, an empty model dir."""
    import shutil

    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    shutil.copytree(channels / "parts", root / "input" / "data" / "training")
    (root / "input" / "data" / "validation").mkdir()
    shutil.copy(channels / "validation.csv", root / "input" / "data" / "validation")
    if test_channel:
        (root / "input" / "data" / "test").mkdir()
        shutil.copy(channels / "test.csv", root / "input" / "data" / "test")
    (root / "model").mkdir()  # SageMaker creates it, empty
    return root


def _run_train(root: Path, **env: str) -> subprocess.CompletedProcess:
    """The bin/train script, finding /opt/ml through SM_OPT_ML_ROOT as in a local run."""
    return subprocess.run([sys.executable, str(BIN / "train")], cwd=root, env=_env(SM_OPT_ML_ROOT=str(root), **env),
                          capture_output=True, text=True, timeout=180)


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")  # SQLAlchemy, inside MLflow's store
def test_train_program_writes_a_model_that_predicts_as_reported(channels, tmp_path):
    """A full job with MLflow tracking on; a token given as a hyperparameter reaches neither output nor MLflow."""
    import mlflow.pyfunc
    import pandas as pd
    from mlflow import MlflowClient

    from qboost_exp.data import load_csv

    hyperparameters = {"lambda": "0.01", "weak_learners": "trees", "weak_learners.params.n_estimators": "15", "sampler.params.num_reads": "10",
                       "seed": "3", "sagemaker_program": "train", "_tuning_objective_metric": "validation_accuracy", "dwave_api_token": FAKE_TOKEN}
    root = _layout(tmp_path / "opt_ml", channels, hyperparameters, test_channel=True)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = _run_train(root, MLFLOW_TRACKING_URI=tracking_uri)
    assert result.returncode == 0, result.stderr
    assert not (root / "output" / "failure").exists()
    assert "ignoring SageMaker's hyperparameter sagemaker_program" in result.stdout
    assert "hyperparameters: lambda=0.01 weak_learners=trees weak_learners.params.n_estimators=15 sampler.params.num_reads=10 seed=3" in result.stdout
    assert "channel training: 2 files, 342 rows" in result.stdout
    # The CLI's report: the validation and test channels are the splits, training is not cut.
    assert "dataset        csv: 342 train / 85 validation / 142 test, 30 features" in result.stdout
    assert (root / "model" / "MLmodel").is_file() and (root / "model" / "code" / "qboost_exp").is_dir()
    # Trees compile: the compiled file is written beside the model, for the lean serve image.
    assert (root / "model" / "qboost-compiled.npz").is_file() and "compiled file written beside it" in result.stdout
    X_test, y_test, _ = load_csv(channels / "test.csv")
    model = mlflow.pyfunc.load_model(str(root / "model"))
    names = model.metadata.get_input_schema().input_names()
    predicted = np.asarray(model.predict(pd.DataFrame(X_test, columns=names)))
    assert float(np.mean(predicted == y_test)) == pytest.approx(accuracy(result.stdout, "test"), abs=5e-5)

    assert FAKE_TOKEN not in result.stdout + result.stderr
    client = MlflowClient(tracking_uri=tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("qboost").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["lambda"] == "0.01"
    assert run.data.metrics["test_accuracy"] == pytest.approx(accuracy(result.stdout, "test"), abs=5e-5)
    assert not any(FAKE_TOKEN in str(v) for v in [*run.data.params.values(), *run.data.tags.values()])
    assert f"MLflow run {run.info.run_id}" in result.stdout


@pytest.mark.parametrize(
    "hyperparameters, bad_file, phrase",
    [
        ({"lambda": "-1"}, None, "lambda must be a float in the range [0.0, inf) or a str among {'auto'}. Got -1 instead."),
        ({"sampler": "annealer9000"}, None, "Could not find 'sampler/annealer9000'; Available options in 'sampler': exact"),
        ({}, "1,2.5,3\n0,abc,4\n", "part-9.csv: line 2, column 2: feature value 'abc' is not a number"),
    ],
    ids=["bad lambda", "unknown sampler", "non-numeric cell"],
)
def test_train_failure_writes_the_reason(channels, tmp_path, hyperparameters, bad_file, phrase):
    root = _layout(tmp_path / "opt_ml", channels, hyperparameters)
    if bad_file:
        (root / "input" / "data" / "training" / "part-9.csv").write_text(bad_file)
    result = _run_train(root)
    assert result.returncode == 1, result.stdout + result.stderr
    reason = (root / "output" / "failure").read_text()
    assert phrase in reason and "\n" not in reason and len(reason) <= 1024
    assert f"error: {reason}" in result.stderr
    assert "Traceback" not in result.stderr  # a user error, not a bug


def test_dwave_token_hyperparameter_never_leaks(channels, tmp_path):
    """sampler=qpu with the token as a hyperparameter: no network here, so the QPU connection fails.

    DWAVE_API_ENDPOINT points at a closed loopback port and dwave.conf turns
    off the client's retries (10 by default, ~10 s of back-off): the failure
    comes in well under a second. DWAVE_LOG_LEVEL=debug makes the cloud client
    log its config, token included, which the program must mask.
    """
    conf = tmp_path / "dwave.conf"
    conf.write_text("[defaults]\nhttp_retry_total = 0\n")
    hyperparameters = {"sampler": "qpu", "lambda": "0.1", "dwave_api_token": FAKE_TOKEN, "sampler.params.num_reads": "50"}
    root = _layout(tmp_path / "opt_ml", channels, hyperparameters)
    with closed_port() as port:  # refuses connections for the whole run: no other process can listen there meanwhile
        endpoint = f"http://{LOOPBACK}:{port}/sapi/v2/"
        started = time.monotonic()
        result = _run_train(root, DWAVE_CONFIG_FILE=str(conf), DWAVE_API_ENDPOINT=endpoint, DWAVE_LOG_LEVEL="debug",
                            DWAVE_CACHE_ENABLED="false", HOME=str(tmp_path))
    assert time.monotonic() - started < 60
    assert result.returncode == 1
    reason = (root / "output" / "failure").read_text()
    assert reason.startswith("sampler=qpu: could not reach a D-Wave solver")
    assert "warning: hyperparameter dwave_api_token holds a D-Wave token" in result.stderr
    assert "***" in result.stderr  # the client did log its config, masked
    for text in (result.stdout, result.stderr, reason):
        assert FAKE_TOKEN not in text
    assert not list((root / "model").iterdir())


CHANNEL_ERRORS = [
    ({"training": {"a.csv": "1,0.5,2\n0,0.25,1\n"}, "validation": {"v.csv": "1,0.5\n"}}, "v.csv: the validation channel"),
    ({"training": {"a.csv": "1,0.5\n0,0.25\n", "b.csv": "1,0.5,3\n"}}, "b.csv: has 2 feature columns but"),
    ({"training": {"a.csv": "1,0.5\n1,0.25\n1,0.3\n"}}, "in its label column (column 1); QBoost is a binary classifier"),
    ({"training": {"a.csv": "1,0.5\n0,0.25\n1,0.3\n0,0.1\n"}, "test": {"t.csv": "7,0.5\n"}}, "t.csv: line 1: label 7 does not occur in the training channel"),
    ({"training": {}}, "the training channel"),
    ({"validation": {"v.csv": "1,0.5\n"}}, "no training channel"),
]


@pytest.mark.parametrize("files, phrase", CHANNEL_ERRORS, ids=["validation width", "training widths", "single class", "unseen test label", "empty channel", "no training"])
def test_channel_errors_name_the_file_and_channel(tmp_path, files, phrase):
    from qboost_exp.errors import DataError
    from serving.container.channels import load_channels
    from serving.container.paths import OptMl

    for channel, contents in files.items():
        directory = tmp_path / "input" / "data" / channel
        directory.mkdir(parents=True)
        for name, text in contents.items():
            (directory / name).write_text(text)
    with pytest.raises(DataError) as caught:
        load_channels(OptMl.resolve(str(tmp_path)), {"label": 0, "header": "auto", "delimiter": ","}, {"test_size": 0.2, "validation_size": 0.2}, 0)
    assert phrase in str(caught.value)


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
    done = subprocess.run([sys.executable, "-c", script], env=_env(QBOOST_SERVE_MODEL_DIR=str(model_dir)), capture_output=True, text=True, timeout=120)
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


def test_a_model_that_does_not_compile_gets_no_compiled_file_and_the_reason(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from serving.container.compiled_file import COMPILED_FILE, write_compiled

    (tmp_path / COMPILED_FILE).write_bytes(b"stale")
    reason = write_compiled(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), tmp_path)
    assert reason and "is not a QBoostClassifier" in reason
    assert not (tmp_path / COMPILED_FILE).exists()


def test_csv_answers_end_without_a_newline_so_joined_mini_batches_have_one_line_per_record():
    from serving.container.protocol import encode

    # Batch Transform with AssembleWith=Line appends a newline after each mini-batch's answer.
    batches = [encode(np.array([1, 0, 1]), "text/csv"), encode(np.array([0]), "text/csv"), encode(np.array([0.25, 1.5]), "text/csv")]
    assert batches == [b"1\n0\n1", b"0", b"0.25\n1.5"]
    joined = b"".join(batch + b"\n" for batch in batches)
    assert joined.decode().split("\n")[:-1] == ["1", "0", "1", "0", "0.25", "1.5"]
    assert encode(np.array(["a,b", "c"]), "text/csv") == b'"a,b"\nc'


def _model_result():
    from types import SimpleNamespace

    return SimpleNamespace(model=None)


def test_save_into_a_model_directory_that_is_its_own_mount(tmp_path, monkeypatch):
    """os.replace from outside a mount into it fails with EXDEV; save_into renames only within model_dir."""
    import errno

    from serving.container import train

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "stale.txt").write_text("a previous local run")
    real_replace = os.replace

    def replace(src, dst):
        if model_dir not in Path(src).resolve().parents or model_dir not in Path(dst).resolve().parents:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    def fake_save_model(result, cfg, path):
        path.mkdir()
        (path / "MLmodel").write_text("flavors: {}\n")
        (path / "code").mkdir()
        (path / "code" / "x.py").write_text("")

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr("qboost_exp.tracking.save_model", fake_save_model)
    reason = train.save_into(_model_result(), {}, model_dir)
    assert reason and "not a QBoostClassifier" in reason  # None is not a model: no compiled file, and the reason
    assert sorted(p.name for p in model_dir.iterdir()) == ["MLmodel", "code"]


CHANNEL_NAMES = [
    ({"train": {"a.csv": "1,0.5\n0,0.25\n1,0.7\n0,0.1\n1,0.9\n0,0.2\n1,0.8\n0,0.3\n1,0.6\n0,0.15\n"}}, "train"),
    ({"data": {"a.csv": "1,0.5\n0,0.25\n1,0.7\n0,0.1\n1,0.9\n0,0.2\n1,0.8\n0,0.3\n1,0.6\n0,0.15\n"}}, "data"),
]


@pytest.mark.parametrize("files, directory", CHANNEL_NAMES, ids=["named train", "the only channel"])
def test_the_training_channel_may_be_named_train_or_be_the_only_one(tmp_path, files, directory):
    from serving.container.channels import load_channels
    from serving.container.paths import OptMl

    for channel, contents in files.items():
        (tmp_path / "input" / "data" / channel).mkdir(parents=True)
        for name, text in contents.items():
            (tmp_path / "input" / "data" / channel / name).write_text(text)
    data, channels = load_channels(OptMl.resolve(str(tmp_path)), {"label": 0, "header": "auto", "delimiter": ","}, {"test_size": 0.2, "validation_size": 0.2}, 0)
    assert channels[0].directory == tmp_path / "input" / "data" / directory
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 10


def test_no_training_channel_names_the_channels_found(tmp_path):
    from qboost_exp.errors import DataError
    from serving.container.channels import load_channels
    from serving.container.paths import OptMl

    for channel in ("validation", "extra"):
        (tmp_path / "input" / "data" / channel).mkdir(parents=True)
        (tmp_path / "input" / "data" / channel / "v.csv").write_text("1,0.5\n")
    with pytest.raises(DataError, match=r"no training channel: the job has the channels 'extra', 'validation'; .*named 'training' \(or 'train'\)"):
        load_channels(OptMl.resolve(str(tmp_path)), {"label": 0, "header": "auto", "delimiter": ","}, {"test_size": 0.2, "validation_size": 0.2}, 0)
