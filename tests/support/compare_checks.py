"""Running compare's ``main`` in the test process, and reading what it printed and wrote."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib.image

from qboost_exp.compare import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The figures' file names for the default objective.
LAMBDA_PNG, PARETO_PNG = "validation_accuracy_vs_lambda.png", "pareto_validation_accuracy_vs_selected.png"


def run_compare(capsys, *argv: str) -> tuple[int, str, str]:
    """``main(argv)``: its exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def run_names(rows: list[dict[str, str]]) -> list[str]:
    return [r["run_name"] for r in rows]


def assert_one_error(code: int, out: str, err: str, *fragments: str) -> None:
    """Exit 2 and one ``error: `` line on stderr, no traceback, with every fragment in it."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def assert_png(path: Path) -> None:
    """A PNG of 800 x 500 pixels at ``path``."""
    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width, *_ = matplotlib.image.imread(path).shape
    assert (width, height) == (800, 500)  # figsize (8, 5) at 100 dpi
