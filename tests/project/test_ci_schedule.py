"""The test suite's own schedule under pytest-xdist: the tests that share a costly or exclusive fixture share a worker.

tests/conftest.py marks them with ``xdist_group`` where the workers collect;
xdist's ``--dist loadgroup`` then hands each group to one worker. Both halves
have broken silently before (a worker's ``dist`` option reads ``"no"``;
pytest 9.2's node ids drop xdist's group suffix), so this runs the real
hook in a real two-worker session and asserts what the workers ran.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

CONFTEST = f'''
import importlib.util, sys
import pytest
sys.path.insert(0, {str(TESTS / 'support')!r})
spec = importlib.util.spec_from_file_location("suite_conftest", {str(TESTS / "conftest.py")!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
pytest_collection_modifyitems = suite.pytest_collection_modifyitems

@pytest.fixture(scope="session")
def ray_head():  # stands in for the suite's fixture of that name: only its name matters here
    return None
'''

TESTS_FILE = "\n".join(
    [f"def test_grouped_{i}(ray_head):\n    pass\n" for i in range(4)] + [f"def test_free_{i}():\n    pass\n" for i in range(4)]
)


def test_tests_sharing_an_exclusive_fixture_run_on_one_worker(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_schedule.py").write_text(TESTS_FILE)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    ran = {
        name: worker for worker, name in re.findall(r"\[(gw\d)\][^\n]*PASSED test_schedule\.py::(\w+)", result.stdout)
    }
    assert len(ran) == 8, result.stdout
    grouped = {ran[f"test_grouped_{i}"] for i in range(4)}
    assert len(grouped) == 1, f"the ray group ran on {sorted(grouped)}:\n{result.stdout}"
    assert re.search(r"PASSED test_schedule\.py::test_grouped_0@ray", result.stdout), result.stdout
