"""One cell grammar for training and serving: the same cell gets the same verdict and value in both.

Training reads a CSV file through :func:`qboost_exp.data.load_csv` (the one
CSV loader); the endpoint parses a request body with
:func:`serving.container.parsing.parse_csv`, called directly (no server).
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qboost_exp.data import CsvOptions, load_csv, load_dataset
from qboost_exp.data import cells
from qboost_exp.data.__main__ import main as data_main
from qboost_exp.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
# `serving` lives at the repository root and is not part of the installed wheel.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from serving.container.errors import RequestError  # noqa: E402
from serving.container.parsing import Schema, parse_csv  # noqa: E402

# (cell as written, its value if it is a number, else None)
CELLS = [
    # numbers
    ("1", 1.0),
    (" 1.5 ", 1.5),
    ("  -2.25", -2.25),
    ("1e5", 1e5),
    ("1E-3", 1e-3),
    ("-1.5e+3", -1500.0),
    (".5", 0.5),
    ("5.", 5.0),
    ("+1", 1.0),
    ("-0", -0.0),
    ("00012", 12.0),
    ("0.1", 0.1),
    ("123456789012345678901234567890", 1.2345678901234568e29),
    ("1e-320", 1e-320),  # subnormal: still a finite number
    # not numbers (Python's float() accepts most of these)
    ("1_000", None),
    ("\u0661\u0662", None),  # Arabic-Indic digits 12
    ("\uff11\uff12", None),  # full-width digits 12
    ("0x10", None),
    ("0x1p3", None),
    ("nan", None),
    ("NaN", None),
    ("-nan", None),
    ("inf", None),
    ("-inf", None),
    ("+Infinity", None),
    ("", None),
    ("   ", None),
    ("1e", None),
    ("1e+", None),
    ("e5", None),
    ("1.2.3", None),
    ("-", None),
    ("+.", None),
    (".", None),
    ("1-2", None),
    ("1 2", None),
    ("--1", None),
    ("\t1.5", None),  # only spaces may surround a number
    ("1.5\u00a0", None),  # nor a non-breaking space
    ("1e999", None),  # a number of the grammar, but beyond float64: refused as infinite
    ("abc", None),
]
IDS = [repr(cell) for cell, _ in CELLS]


def _train(tmp_path: Path, cell: str) -> np.ndarray:
    """Load a training file whose second row holds ``cell`` (label column first, no header)."""
    path = tmp_path / "train.csv"
    path.write_text(f"0,1,2,3\n1,1,{cell},1\n0,2,3,4\n1,5,6,7\n", encoding="utf-8")
    X, _, _ = load_csv(path)
    return X


def _serve(cell: str) -> np.ndarray:
    """Parse a request body whose second row holds ``cell`` (three features, no label)."""
    return parse_csv(f"1,2,3\n1,{cell},1\n".encode(), Schema(3, None))


@pytest.mark.parametrize("cell, value", CELLS, ids=IDS)
def test_training_and_serving_agree_on_each_cell(tmp_path, cell, value):
    if value is None:
        with pytest.raises(DataError) as trained:
            _train(tmp_path, cell)
        with pytest.raises(RequestError) as served:
            _serve(cell)
        assert served.value.status == 400
        # Both name the same cell: line 2 (training: file column 3, after the label; serving: column 2).
        assert "train.csv: line 2, column 3" in str(trained.value)
        assert "row 2 (line 2), column 2" in str(served.value)
        return
    X_train, X_served = _train(tmp_path, cell), _serve(cell)
    assert X_train[1, 1] == value and X_served[1, 1] == value
    # The very same float64, sign of zero included.
    assert X_train[1, 1].tobytes() == X_served[1, 1].tobytes() == np.float64(value).tobytes()
    np.testing.assert_array_equal(X_train[[0, 2, 3]], [[1, 2, 3], [2, 3, 4], [5, 6, 7]])


@pytest.mark.parametrize("cell, value", CELLS, ids=IDS)
def test_the_grammar_module_gives_the_same_verdicts(cell, value):
    in_grammar = value is not None or cell == "1e999"
    assert cells.is_number(cell) is in_grammar
    assert cells.is_number(cell.encode("utf-8")) is in_grammar
    if in_grammar:
        assert cells.parse_row(["1", cell, "2"])[1] == float(cell)
    else:
        with pytest.raises(cells.RefusedCell):
            cells.parse_row(["1", cell, "2"])
    if in_grammar:
        assert cells.verdict(cell) is cells.Verdict.NUMBER
        assert float(cell) == (value if value is not None else np.inf)
        with pytest.raises(ValueError, match="is a number"):
            cells.reason(cell)


@pytest.mark.parametrize(
    "cell, verdict, reason",
    [
        ("", cells.Verdict.EMPTY, "the cell is empty"),
        ("  ", cells.Verdict.EMPTY, "the cell is empty"),
        ("NaN", cells.Verdict.NAN, cells.NAN_REASON),
        ("-Infinity", cells.Verdict.INFINITE, cells.INFINITE_REASON),
        ("inf", cells.Verdict.INFINITE, cells.INFINITE_REASON),
        (" 1_000 ", cells.Verdict.NOT_A_NUMBER, "'1_000' is not a number; write numbers as ASCII decimals such as -12, 0.5 or 1.5e-3"),
        ("x" * 50, cells.Verdict.NOT_A_NUMBER, f"{'x' * 40!r} is not a number; {cells.HOW_TO_WRITE}"),
    ],
)
def test_refused_cells_are_explained_as_the_endpoint_says(cell, verdict, reason):
    assert cells.verdict(cell) is verdict
    assert cells.reason(cell) == reason
    # The endpoint's 400 says exactly this about the cell.
    with pytest.raises(RequestError) as served:
        _serve(cell)
    assert str(served.value).endswith(f"row 2 (line 2), column 2: {reason}")


def test_parse_row_values_and_the_first_refused_cell():
    assert cells.parse_row(["1", " 2 ", "3e3", "-0"]) == [1.0, 2.0, 3000.0, -0.0]
    assert cells.parse_row([]) == []
    assert cells.parse_row(["1e999"]) == [float("inf")]  # in the grammar; the reader refuses it as not finite
    # float() reads every cell of these rows; the grammar refuses one.
    for row, index in [(["1", "1_0", "2"], 1), (["\u0661", "2"], 0), (["1", "2", " nan"], 2), (["1", "\t2"], 1)]:
        with pytest.raises(cells.RefusedCell) as caught:
            cells.parse_row(row)
        assert (caught.value.index, caught.value.cell) == (index, row[index])
        assert str(caught.value) == f"cell {index + 1}: {cells.reason(row[index])}"
    with pytest.raises(cells.RefusedCell) as caught:
        cells.parse_row(["1", "2", "0x10", "abc"])  # float() fails: the first bad cell is still the one named
    assert caught.value.index == 2


@pytest.mark.parametrize("alphabet", ["0123456789.+-eE ", "01.-e _\tnaif\u0661x"], ids=["numeric bytes", "wider"])
def test_random_cells_agree(tmp_path, alphabet):
    """Random cells: numeric bytes go through the endpoint's C-speed path (strtod), others its per-cell path."""
    rng = random.Random(0)
    seen = {True: 0, False: 0}
    for _ in range(300):
        cell = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        try:
            trained = _train(tmp_path, cell)[1, 1]
        except DataError:
            trained = None
        try:
            served = _serve(cell)[1, 1]
        except RequestError:
            served = None
        assert (trained is None) == (served is None), cell
        if trained is not None:
            assert trained.tobytes() == served.tobytes() == np.float64(float(cell)).tobytes(), cell
        # Refused exactly when outside the grammar or beyond float64 (9e9999).
        assert (trained is not None) == (cells.is_number(cell) and np.isfinite(float(cell))), cell
        seen[trained is not None] += 1
    assert seen[True] > 10 and seen[False] > 10  # both verdicts were exercised


# --------------------------------------------------------------------------- where a bad cell is


def test_bad_cell_names_file_line_and_column_by_number_and_name(tmp_path):
    path = tmp_path / "features.csv"
    path.write_text("id,mean radius,label,texture\n1,2.5,a,3\n\n2,1_000,b,4\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_csv(path, label="label")
    message = str(caught.value)
    # Line 4 as an editor shows it (the blank line 3 counts), column 2 of the file, named by the header.
    assert message.startswith(f"{path}: line 4, column 2 ('mean radius'): feature value '1_000' is not a number; ")
    assert cells.HOW_TO_WRITE in message and "\n" not in message

    path.write_text("0,1,2\n1,3,\u0661\u0662\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"features.csv: line 2, column 3: feature value '١٢' is not a number"):
        load_csv(path)
    path.write_text("0,1,2\n1,\t1.5,3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2, column 2: feature value '\\t1.5' is a number surrounded by other blanks than spaces"):
        load_csv(path)
    path.write_text("x,y,label\n1,,0\n2,3,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2, column 2 \('y'\): the feature cell is empty; remove or impute missing values first"):
        load_csv(path, label=-1)


def test_labels_follow_the_grammar(tmp_path):
    # A label that is not a number of the grammar is a class name, as written.
    path = tmp_path / "labels.csv"
    path.write_text("1_000,1\n2_000,2\n", encoding="utf-8")
    _, y, _ = load_csv(path)
    assert y.tolist() == ["1_000", "2_000"] and y.dtype.kind == "U"
    path.write_text("\u0661,1\n\u0662,2\n", encoding="utf-8")
    assert load_csv(path)[1].tolist() == ["\u0661", "\u0662"]
    path.write_text(" +1,1\n-1,2\n", encoding="utf-8")
    _, y, _ = load_csv(path)
    assert y.tolist() == [1, -1] and y.dtype == np.int64


def test_a_first_row_python_reads_as_numbers_is_data_not_a_header(tmp_path):
    # 1_000 in the first row: not taken as a header (which would drop the row), but reported.
    path = tmp_path / "first.csv"
    path.write_text("0,1_000,2\n1,3,4\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"first.csv: line 1, column 2: feature value '1_000' is not a number"):
        load_csv(path)


def test_dataset_config_and_data_cli_report_the_cell(tmp_path, monkeypatch, capsys):
    path = tmp_path / "raw.csv"
    path.write_text("a;b;y\n1;2;0\n3;0x10;1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"raw.csv: line 3, column 2 \('b'\): feature value '0x10' is not a number"):
        load_dataset({"name": "csv", "path": str(path), "label": "y", "delimiter": ";"}, {"test_size": 0.0, "validation_size": 0.0}, 0)

    monkeypatch.chdir(tmp_path)
    assert data_main(["csv", "--out", "out", "--set", "path=raw.csv", "--set", "label=y", "--set", "delimiter=;"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: line 3, column 2 ('b'): feature value '0x10' is not a number; ")
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_training_channels_report_the_cell(tmp_path):
    from serving.container.channels import load_channels
    from serving.container.paths import OptMl

    training = tmp_path / "input" / "data" / "training"
    training.mkdir(parents=True)
    (training / "part-0.csv").write_text("1,0.5\n0,0.25\n1,0.75\n0,0.1\n", encoding="utf-8")
    (training / "part-1.csv").write_text("1,0.5\n0,nan\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_channels(OptMl.resolve(str(tmp_path)), {}, {"test_size": 0.25, "validation_size": 0.25}, 0)
    assert str(caught.value) == (
        f"{training / 'part-1.csv'}: line 2, column 2: feature value 'nan' is NaN (a missing value); remove or impute missing values first"
    )


# --------------------------------------------------------------------------- options and imports


def test_csv_options_defaults_and_validation():
    assert CsvOptions().as_dict() == {"label": 0, "header": "auto", "delimiter": ","}
    assert CsvOptions.from_config({"name": "csv", "label": np.int64(-1), "path": "x"}) == CsvOptions(label=-1)
    assert type(CsvOptions(label=np.int64(2)).label) is int
    for bad, message in [({"label": True}, "label must be"), ({"header": 1}, "header must be true, false or auto"),
                         ({"delimiter": '"'}, "delimiter must be one character")]:
        with pytest.raises(DataError, match=message):
            CsvOptions.from_config(bad)


def test_the_grammar_and_the_server_parser_import_without_heavy_packages():
    code = (
        "import sys; import serving.container.parsing, qboost_exp.data.cells; "
        "print(sorted(m for m in ('pandas', 'sklearn', 'scipy', 'hydra', 'omegaconf', 'mlflow', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
