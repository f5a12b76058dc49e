"""Shared test fixtures, and the suite's schedule under pytest-xdist.

The tests mirror the package's layers (tests/domain, data, tracking, run,
apps, serving; tests/project checks the repository as a whole); the helpers
they share live in tests/support, put on ``sys.path`` here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

# Before scipy loads: lets scikit-learn run its array-API check (numpy
# namespace) instead of skipping it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest

# Ctrl-C must reach the CLIs the tests interrupt. A shell that starts the suite in the
# background (`bash .ci/run &`, nohup) sets SIGINT to "ignore", which every child inherits
# through exec, and Python installs no KeyboardInterrupt handler over an ignored SIGINT.
# A handler here is reset to the default in each child at exec: their Ctrl-C works again.
import signal  # noqa: E402

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Keep tests independent of any D-Wave account on the machine running them.
for _var in ("DWAVE_API_TOKEN", "DWAVE_API_ENDPOINT", "DWAVE_API_SOLVER", "DWAVE_API_REGION", "DWAVE_CONFIG_FILE", "DWAVE_PROFILE"):
    os.environ.pop(_var, None)

@pytest.fixture(autouse=True)
def no_tracking_uri_leak() -> Iterator[None]:
    """Leave MLflow's process-wide tracking URI, and the MLFLOW_TRACKING_URI it exports, as the test found them.

    ``mlflow.set_tracking_uri`` -- called by a test, or by in-process code under test
    (``run_tracked``, ``compare``, ``serving.package``) -- caches the URI in this process and
    exports it to ``os.environ``: every later test on the same (pytest-xdist) worker would
    otherwise see the store of an earlier test, in whatever order tests land there.
    """
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if "mlflow" in sys.modules:
        import mlflow

        mlflow.set_tracking_uri(None)
    if saved is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = saved


@pytest.fixture
def no_dwave_credentials(tmp_path, monkeypatch):
    """No token in the environment and no dwave.conf anywhere Ocean looks."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc"))
    monkeypatch.delenv("DWAVE_API_TOKEN", raising=False)
    return tmp_path

# Real services (PostgreSQL, MLflow server, Ray head) for integration tests.
from services import mlflow_server, postgres_server, ray_head  # noqa: E402, F401

# podman, a local Debian base, the SageMaker image (built once per session).
from podman import base_image, podman, pytest_terminal_summary, sagemaker_context, sagemaker_image  # noqa: E402, F401
from slurm import slurm_cluster  # noqa: E402, F401  (a real single-node SLURM with accounting)


# ------------------------------------------------------------------ pytest-xdist

#: Session fixtures a machine runs one of at a time (fixed ports, one SLURM, podman's image
#: tags): every test that uses one runs on the same xdist worker, as one unit of work.
EXCLUSIVE_GROUPS = {"slurm_cluster": "slurm", "podman": "podman", "sagemaker_context": "podman", "ray_head": "ray"}
#: The order units of work are handed out (longest first, so that the short tests fill in
#: around them and no long one starts last): the SLURM and podman groups (minutes each),
#: then the tests marked ``long``, then the Ray group, the module groups, every other test.
_RANKS = {"slurm": 0, "podman": 1, "long": 2, "ray": 3, "module": 4, "single": 5}


def loadgroup_run(config: Any) -> bool:
    """Whether this process collects for ``--dist loadgroup``.

    Workers collect, not the controller, and xdist sets a worker's ``dist``
    to ``"no"``, keeping the choice in ``option.loadgroup`` (xdist/remote.py):
    reading ``dist`` alone, no marker would ever be set where it counts.
    """
    return config.getoption("dist", "no") == "loadgroup" or bool(getattr(config.option, "loadgroup", False))


def _group_of(item: pytest.Item) -> str | None:
    """The xdist group ``item`` must run in: an exclusive fixture's, else its module's when it shares a module fixture."""
    names = set(item.fixturenames)
    for fixture, group in EXCLUSIVE_GROUPS.items():
        if fixture in names:
            return group
    definitions = getattr(item, "_fixtureinfo", None)
    for defs in (definitions.name2fixturedefs.values() if definitions else ()):
        if defs and defs[-1].scope in ("module", "class", "package"):
            return item.path.name  # built once per module: keep the module's tests on one worker
    return None


def _rank(item: pytest.Item, group: str | None) -> int:
    if group in _RANKS:
        return _RANKS[group]
    if group is not None:
        return _RANKS["module"]
    return _RANKS["long"] if item.get_closest_marker("long") else _RANKS["single"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``: group the tests that share a costly fixture, and hand out the long units first.

    Every other test is its own unit of work. xdist hands units out in
    collection order (``--no-loadscope-reorder`` keeps it), so the order here
    is the schedule: see :data:`_RANKS`.
    """
    if not config.pluginmanager.hasplugin("xdist") or not loadgroup_run(config):
        return
    ranked = []
    for index, item in enumerate(items):
        group = _group_of(item)
        if group is not None and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))
        ranked.append((_rank(item, group), index, item))
    items[:] = [item for _, _, item in sorted(ranked, key=lambda entry: entry[:2])]
