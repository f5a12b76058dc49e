"""MLflow's UI opens on the runs: the link every run and sweep prints, the shared view it opens, ``python -m qboost_exp.ui``.

The browser test drives Debian's ``chromium`` with playwright (no browser
download): apt-get installs it when running as root; otherwise, and without
the playwright package, the test skips with the reason, or fails under
QBOOST_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from clirun import run_module
from qboost_exp.tracking import KEY_COLUMNS, SHARED_VIEW_KEY, prepare_store, shared_view_state, ui_line, ui_url
import system_packages
from services import apt_install, free_port, skip_or_fail

FAST = ("qubo.max_weight=0.125", "sampler.params.num_reads=10", "sampler.params.num_sweeps=200")
VIEW_TAG = f"mlflow.sharedViewState.{SHARED_VIEW_KEY}"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Where the browser test leaves its screenshots (also printed): look at them.
SHOTS = Path(tempfile.gettempdir()) / "qboost_ui_screenshots"


# --------------------------------------------------------------------------- the link


def test_a_local_store_links_to_mlflow_ui_on_loopback_in_model_training_mode():
    url = ui_url("sqlite:////data/mlflow.db", "3")
    assert url == "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning&viewStateShareKey=qboost-runs"
    assert ui_url("sqlite:////data/mlflow.db", "3", "abc123") == "http://127.0.0.1:5000/#/experiments/3/runs/abc123?workflowType=machine_learning"
    assert ui_url("sqlite:////data/mlflow.db", "3", ui_base="http://127.0.0.1:5123/").startswith("http://127.0.0.1:5123/#/experiments/3/runs?")


def test_a_tracking_server_is_its_own_ui():
    assert ui_url("http://tracking.example:5000", "7") == (
        "http://tracking.example:5000/#/experiments/7/runs?workflowType=machine_learning&viewStateShareKey=qboost-runs"
    )
    assert ui_url("https://mlflow.example/", "7", "r1") == "https://mlflow.example/#/experiments/7/runs/r1?workflowType=machine_learning"
    # a server's line has nothing to start
    assert ui_line("http://tracking.example:5000", "7") == f"MLflow UI: {ui_url('http://tracking.example:5000', '7')}"


def test_the_line_says_how_to_start_the_ui_for_a_local_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    here = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert ui_line(here, "1") == f"MLflow UI: {ui_url(here, '1')} (start the UI: python -m qboost_exp.ui)"
    elsewhere = "sqlite:////other dir/mlflow.db"
    assert ui_line(elsewhere, "1", "r9") == (
        f"MLflow UI: {ui_url(elsewhere, '1', 'r9')} (start the UI: python -m qboost_exp.ui --tracking-uri 'sqlite:////other dir/mlflow.db')"
    )


# --------------------------------------------------------------------------- the shared view


def _view(uri: str, experiment_id: str) -> tuple[dict, dict]:
    envelope = json.loads(MlflowClient(uri).get_experiment(experiment_id).tags[VIEW_TAG])
    return envelope, json.loads(envelope["state"])


def test_the_experiment_carries_the_shared_view_written_once_and_updated_when_the_columns_change(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = prepare_store(uri, "qboost")
    envelope, state = _view(uri, experiment_id)
    # MLflow 3.17's saved-view envelope; the state is the runs table's
    assert envelope["name"] == "qboost: key columns" and isinstance(envelope["createdAt"], int)
    assert state["selectedColumns"] == [
        "metrics.`validation_accuracy`", "metrics.`test_accuracy`", "metrics.`selected`", "params.`lambda`",
        "metrics.`lambda_value`", "metrics.`max_weight_value`", "tags.`sampler`", "tags.`weak_learners`",
        "tags.`model`", "tags.`dataset`",
    ]
    assert state["columnOrder"] == state["selectedColumns"]
    assert state["orderByKey"] == "attributes.start_time" and state["orderByAsc"] is False
    assert state["columnWidths"]["metrics.`validation_accuracy`"] == 7 * len("validation_accuracy") + 24

    # once: a second job leaves the tag as it is
    raw = MlflowClient(uri).get_experiment(experiment_id).tags[VIEW_TAG]
    assert prepare_store(uri, "qboost") == experiment_id
    assert MlflowClient(uri).get_experiment(experiment_id).tags[VIEW_TAG] == raw

    # a view written by an older release (other columns) is brought up to date
    old = {**state, "selectedColumns": ["metrics.`test_accuracy`"]}
    MlflowClient(uri).set_experiment_tag(experiment_id, VIEW_TAG, json.dumps({**envelope, "state": json.dumps(old)}))
    prepare_store(uri, "qboost")
    assert _view(uri, experiment_id)[1] == shared_view_state()
    assert len(state["selectedColumns"]) == len(KEY_COLUMNS)


# --------------------------------------------------------------------------- python -m qboost_exp.ui


def test_help_answers_without_importing_mlflow(tmp_path):
    code = (
        "import sys, qboost_exp.ui as ui; status = ui.main(['--help']); "
        "print('LOADED', sorted(m for m in ('mlflow', 'sklearn', 'hydra', 'dimod', 'pandas') if m in sys.modules), status)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--tracking-uri URI" in result.stdout and "--port PORT" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "LOADED [] 0"


def test_a_missing_local_store_is_one_error_line(tmp_path):
    result = run_module("qboost_exp.ui", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: no MLflow store at {tmp_path.resolve() / 'mlflow.db'} (tracking URI sqlite:///mlflow.db, the default): run this where "
        "`python -m qboost_exp` logged its runs, or point --tracking-uri / MLFLOW_TRACKING_URI at an existing store"
    ]


def test_an_unknown_experiment_and_a_busy_port_are_one_error_line(tmp_path):
    prepare_store(f"sqlite:///{tmp_path / 'mlflow.db'}", "qboost")
    unknown = run_module("qboost_exp.ui", "--experiment", "nope", cwd=tmp_path, timeout=60)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == ["error: no experiment named 'nope' in the tracking store; existing experiments: Default, qboost"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = run_module("qboost_exp.ui", "--port", str(port), cwd=tmp_path, timeout=60)
    assert taken.returncode == 2
    assert taken.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (another MLflow UI?); choose another --port"
    )


# --------------------------------------------------------------------------- a real browser


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, and playwright to drive it."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        if os.geteuid() == 0 and shutil.which("apt-get"):
            apt_install(system_packages.PACKAGES["chromium"], progress=lambda cmd: print(f"\n[test_ui] {cmd}", flush=True))
        if not os.access(CHROMIUM, os.X_OK):
            skip_or_fail(f"no {CHROMIUM} (apt-get install chromium, as root)")
    return CHROMIUM


class _UI:
    """``python -m qboost_exp.ui`` in the background, its stdout read line by line."""

    def __init__(self, cwd: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qboost_exp.ui", "--port", str(port)],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.errors), daemon=True).start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def link(self, timeout: float = 150) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.startswith("MLflow UI: "):
                    return line.removeprefix("MLflow UI: ")
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no link printed (exit {self.process.poll()}); stderr:\n" + "\n".join(self.errors[-40:]))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def _stops_answering(port: int, timeout: float = 30) -> bool:
    """Whether ``port`` stops accepting connections within ``timeout`` s.

    The UI returns once ``mlflow ui`` (its process group's leader) has exited; the uvicorn
    server that process started got the same SIGTERM but closes its socket on its own
    schedule (a tick of ~0.1 s), so "not answering" is polled, not checked at one instant.
    """
    deadline = time.monotonic() + timeout
    while _answers(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_the_printed_link_opens_the_runs_table_with_the_key_columns(tmp_path, chromium):
    from playwright.sync_api import expect, sync_playwright

    for lam in ("0.1", "0.05"):
        trained = run_module("qboost_exp", f"lambda={lam}", *FAST, cwd=tmp_path)
        assert trained.returncode == 0, trained.stderr[-3000:]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("qboost")
    runs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    assert len(runs) == 2

    port = free_port()
    ui = _UI(tmp_path, port)
    try:
        link = ui.link()
        assert link == ui_url(uri, experiment.experiment_id, ui_base=f"http://127.0.0.1:{port}")
        SHOTS.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=chromium, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": 2400, "height": 900},
            )
            try:
                page = browser.new_page()
                page.goto(link)
                page.locator('[role=columnheader][col-id="metrics.`validation_accuracy`"]').wait_for(timeout=60_000)
                page.locator("[role=row][row-id] [role=gridcell][col-id='metrics.`test_accuracy`']").first.wait_for(timeout=30_000)
                # Every row and key column rendered before anything is read (the grid fills in as its data arrive).
                for run_id in runs:
                    page.locator(f"[role=row][row-id='{run_id}'] [role=gridcell][col-id='metrics.`test_accuracy`']").wait_for(timeout=30_000)
                for kind, name in KEY_COLUMNS:
                    if kind != "tags" or any(name in r.data.tags for r in runs.values()):
                        page.locator(f'[role=columnheader][col-id="{kind}.`{name}`"]').wait_for(timeout=30_000)
                page.screenshot(path=str(SHOTS / "runs_table.png"))
                print(f"\n[test_ui] screenshot {SHOTS / 'runs_table.png'}")

                # the runs table of the experiment in model-training mode, not the GenAI overview
                assert f"/#/experiments/{experiment.experiment_id}/runs?" in page.url and "workflowType=machine_learning" in page.url
                expect(page.get_by_text("Model training").first).to_be_visible(timeout=30_000)
                assert page.get_by_text("Token Usage").count() == 0 and "/overview" not in page.url
                expect(page.get_by_text("qboost: key columns").first).to_be_visible(timeout=30_000)  # the shared view is the one shown

                headers = {h.get_attribute("col-id"): h.inner_text().strip() for h in page.locator("[role=columnheader][col-id]").all()}
                for kind, name in KEY_COLUMNS:
                    if kind == "tags" and not any(name in r.data.tags for r in runs.values()):
                        continue  # MLflow lists only tags some run has (`model` comes with the model option)
                    assert headers.get(f"{kind}.`{name}`") == name, (kind, name, headers)

                for run_id, run in runs.items():
                    cells = {
                        c.get_attribute("col-id"): c.inner_text().strip()
                        for c in page.locator(f"[role=row][row-id='{run_id}'] [role=gridcell][col-id]").all()
                    }
                    assert cells["attributes.`Run Name`"].endswith(run.data.tags["mlflow.runName"]), cells
                    for metric in ("validation_accuracy", "test_accuracy", "selected", "lambda_value", "max_weight_value"):
                        assert float(cells[f"metrics.`{metric}`"]) == pytest.approx(run.data.metrics[metric], abs=1e-12), metric
                    assert cells["params.`lambda`"] == run.data.params["lambda"]
                    assert cells["tags.`sampler`"] == "neal" and cells["tags.`weak_learners`"] == run.data.tags["weak_learners"]
                    assert cells["tags.`dataset`"] == "wisc"
                    expect(page.get_by_text(run.data.tags["mlflow.runName"], exact=True)).to_be_visible(timeout=30_000)
                assert {r.data.params["lambda"] for r in runs.values()} == {"0.1", "0.05"}
            finally:
                browser.close()
    finally:
        status = ui.stop()
    # Ctrl-C stops the UI and the server it started
    assert status == 0, "\n".join(ui.errors[-40:])
    assert "stopped the MLflow UI" in ui.errors
    assert _stops_answering(port)


def test_a_port_out_of_range_is_one_error_line(tmp_path):
    result = run_module("qboost_exp.ui", "--port", "70000", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: argument --port: expected a port number from 1 to 65535, got '70000' (see python -m qboost_exp.ui --help)"
