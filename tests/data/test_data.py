"""Tests of the data layer: built-in data sets, CSV reading, splitting, writing and the data CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from qboost_exp.data import CsvGroup, CsvOptions, Dataset, load_csv, load_csv_splits, load_dataset, write_sagemaker_csv
from qboost_exp.data.__main__ import main as data_main
from qboost_exp.data._conf import conf_dir, dataset_names, descriptions
from qboost_exp.data._load import DEFAULTS as DATASET_DEFAULTS
from qboost_exp.data._load import LOADERS
from qboost_exp.data._split import DEFAULTS as SPLIT_DEFAULTS
from qboost_exp.data._write import write_files
from qboost_exp.errors import DataError

SPLIT = {"test_size": 0.25, "validation_size": 0.15}
NO_SPLIT = {"test_size": 0.0, "validation_size": 0.0}


def _splits(d: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(d.X_train, d.y_train), (d.X_val, d.y_val), (d.X_test, d.y_test)]


def _counts(y: np.ndarray) -> dict:
    classes, counts = np.unique(y, return_counts=True)
    return {c.item(): int(n) for c, n in zip(classes, counts)}


def _write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


# --------------------------------------------------------------------------- built-in data sets


@pytest.mark.parametrize(
    "config, n_features, sizes, totals",
    [
        ({"name": "wisc"}, 30, (342, 85, 142), {0: 212, 1: 357}),
        ({"name": "digits"}, 64, (214, 54, 89), {3: 183, 8: 174}),
        ({"name": "digits", "classes": [1, 7]}, 64, (217, 54, 90), {1: 182, 7: 179}),
        ({"name": "synthetic"}, 20, (600, 150, 250), None),
        ({"name": "iris"}, 4, (60, 15, 25), {1: 50, 2: 50}),
        ({"name": "wine"}, 13, (107, 27, 44), {0: 107, 1: 71}),
        ({"name": "wine", "one_class": 0}, 13, (107, 27, 44), {0: 119, 1: 59}),
        ({"name": "noise_features"}, 50, (360, 90, 150), {0: 300, 1: 300}),
        ({"name": "label_noise"}, 20, (600, 150, 250), {0: 489, 1: 511}),
        ({"name": "redundant"}, 30, (600, 150, 250), {0: 501, 1: 499}),
        ({"name": "xor"}, 10, (900, 225, 375), {0: 767, 1: 733}),
        ({"name": "hastie"}, 10, (1200, 300, 500), {-1: 1019, 1: 981}),
    ],
    ids=lambda v: "-".join(map(str, v.values())) if isinstance(v, dict) else None,
)
def test_builtin_shapes_and_stratification(config, n_features, sizes, totals):
    d = load_dataset(config, SPLIT, seed=0)
    assert d.name == config["name"]
    assert [X.shape for X, _ in _splits(d)] == [(n, n_features) for n in sizes]
    assert [len(y) for _, y in _splits(d)] == list(sizes)
    assert all(X.dtype == np.float64 for X, _ in _splits(d))
    assert len(d.feature_names) == n_features

    y_all = np.concatenate([y for _, y in _splits(d)])
    whole = _counts(y_all)
    if totals is not None:
        assert whole == totals
    n = len(y_all)
    # Stratified: each split's count of each class is within one sample of its exact share.
    for _, y in _splits(d):
        got = _counts(y)
        for c, n_c in whole.items():
            assert abs(got.get(c, 0) - n_c * len(y) / n) < 1, (c, got, whole)
    # The splits are disjoint and cover the data: no row is lost or duplicated.
    full = load_dataset(config, NO_SPLIT, seed=0).X_train
    X_all = np.concatenate([X for X, _ in _splits(d)])
    for a, b in zip(np.unique(X_all, axis=0, return_counts=True), np.unique(full, axis=0, return_counts=True)):
        np.testing.assert_array_equal(a, b)


def test_builtin_metadata():
    wisc = load_dataset({"name": "wisc"}, SPLIT, 0)
    assert wisc.feature_names[0] == "mean radius"
    assert wisc.source == "sklearn.datasets.load_breast_cancer"
    assert wisc.y_train.dtype == np.int64
    digits = load_dataset({"name": "digits"}, SPLIT, 0)
    assert digits.feature_names[:2] == ["pixel_0_0", "pixel_0_1"]
    synthetic = load_dataset({"name": "synthetic", "n_features": 5, "n_informative": 3, "n_redundant": 1}, SPLIT, 0)
    assert synthetic.feature_names == ["x0", "x1", "x2", "x3", "x4"]


def test_digits_keeps_exactly_the_two_classes():
    d = load_dataset({"name": "digits", "classes": [1, 7]}, SPLIT, 0)
    for _, y in _splits(d):
        assert set(np.unique(y).tolist()) == {1, 7}


@pytest.mark.parametrize("classes", [[3], [3, 3], [3, 8, 9], [3, 10], [-1, 2], ["3", "8"], [3.5, 8], [True, 8], 3])
def test_digits_rejects_bad_classes(classes):
    with pytest.raises(DataError, match="two different digits 0-9"):
        load_dataset({"name": "digits", "classes": classes}, SPLIT, 0)


def test_reproducible_and_seed_dependent():
    for name in ("wisc", "digits", "synthetic"):
        a = load_dataset({"name": name}, SPLIT, seed=1)
        b = load_dataset({"name": name}, SPLIT, seed=1)
        c = load_dataset({"name": name}, SPLIT, seed=2)
        for (Xa, ya), (Xb, yb) in zip(_splits(a), _splits(b)):
            np.testing.assert_array_equal(Xa, Xb)
            np.testing.assert_array_equal(ya, yb)
        assert a.digest == b.digest
        assert len(a.digest) == 16 and int(a.digest, 16) >= 0
        assert a.digest != c.digest
        assert not np.array_equal(a.X_train, c.X_train)


def test_synthetic_random_state():
    base = {"name": "synthetic", "n_samples": 200, "flip_y": 0.0}
    # null: the data themselves follow the run seed ...
    a = load_dataset(base, NO_SPLIT, seed=1)
    b = load_dataset(base, NO_SPLIT, seed=2)
    assert not np.array_equal(np.sort(a.X_train, axis=0), np.sort(b.X_train, axis=0))
    # ... a fixed random_state keeps the same rows, only split differently.
    a = load_dataset({**base, "random_state": 7}, NO_SPLIT, seed=1)
    b = load_dataset({**base, "random_state": 7}, NO_SPLIT, seed=2)
    np.testing.assert_array_equal(np.sort(a.X_train, axis=0), np.sort(b.X_train, axis=0))
    assert "random_state=7" in a.source


def test_synthetic_bad_parameters():
    with pytest.raises(DataError, match="dataset synthetic: .*informative"):
        load_dataset({"name": "synthetic", "n_features": 4, "n_informative": 5}, SPLIT, 0)


def test_validation_size_zero_gives_empty_arrays():
    d = load_dataset({"name": "wisc"}, {"test_size": 0.2, "validation_size": 0}, 0)
    assert d.X_val.shape == (0, 30) and d.y_val.shape == (0,)
    assert len(d.y_train) + len(d.y_test) == 569 and len(d.y_test) == 114


@pytest.mark.parametrize(
    "split, message",
    [
        ({"test_size": 1.0, "validation_size": 0.1}, r"split.test_size must be a fraction .* in \[0, 1\), got 1.0"),
        ({"test_size": -0.1, "validation_size": 0.1}, "split.test_size must be"),
        ({"test_size": 0.2, "validation_size": "a"}, "split.validation_size must be"),
        ({"test_size": 0.6, "validation_size": 0.4}, "must be below 1"),
        ({"test_size": 0.2, "valid_size": 0.1}, "unknown key.*valid_size"),
    ],
)
def test_bad_split_config(split, message):
    with pytest.raises(DataError, match=message):
        load_dataset({"name": "wisc"}, split, 0)


@pytest.mark.parametrize(
    "dataset, seed, message",
    [
        ({"name": "mnist"}, 0, "unknown dataset 'mnist'; choose one of: wisc, digits, synthetic, iris, wine, .*, hastie, csv"),
        ({"name": "wine", "one_class": 3}, 0, r"dataset wine: one_class must be 0, 1 or 2 .* got 3"),
        ({"name": "wine", "one_class": True}, 0, "dataset wine: one_class must be 0, 1 or 2"),
        ({"name": "xor", "n_noise": -1}, 0, "dataset xor: n_noise must be an integer >= 0; got -1"),
        ({"name": "xor", "n_samples": 10.5}, 0, "dataset xor: n_samples must be an integer >= 1"),
        ({"name": "xor", "flip_y": 1.0}, 0, r"dataset xor: flip_y must be a number in \[0, 1\)"),
        ({"name": "xor", "offset": float("nan")}, 0, "dataset xor: offset must be a finite number"),
        ({"name": "hastie", "n_samples": 0}, 0, "dataset hastie: n_samples must be an integer >= 1"),
        ({"name": "hastie", "random_state": -3}, 0, "dataset hastie: random_state must be null .* or an integer 0 to 4294967295; got -3"),
        ({"name": "noise_features", "n_informative": 60}, 0, "dataset noise_features: .*"),
        ({"name": "redundant", "n_repeated": 20}, 0, "dataset redundant: .*features"),
        ({"name": "label_noise", "random_state": "a"}, 0, "dataset label_noise: random_state must be null"),
        ({"name": "iris", "classes": [1, 2]}, 0, "dataset iris: unknown key.*classes; its keys are: name$"),
        ({"name": "digits", "clases": [1, 7]}, 0, "dataset digits: unknown key.*clases.*classes"),
        ({"name": "wisc"}, -1, "seed must be an integer >= 0"),
        ({"name": "csv"}, 0, "`path` is not set"),
        ({"name": "csv", "path": "???"}, 0, "`path` is not set"),
    ],
)
def test_bad_dataset_config(dataset, seed, message):
    with pytest.raises(DataError, match=message):
        load_dataset(dataset, SPLIT, seed)


def test_config_files_match_code_defaults():
    # The YAML files are what users read; the code's defaults must say the same.
    root = conf_dir()
    # One YAML file per data set, one loader per data set but csv (read by the CSV loader).
    assert sorted(DATASET_DEFAULTS) == dataset_names()
    assert sorted(LOADERS) == sorted(set(DATASET_DEFAULTS) - {"csv"})
    # Each file starts with its one-line description, the one place that says what the data set is for.
    assert sorted(descriptions()) == dataset_names()
    for name, text in descriptions().items():
        assert 20 < len(text) <= 120 and not text.startswith("#"), (name, text)
    for name, defaults in DATASET_DEFAULTS.items():
        path = root / "dataset" / f"{name}.yaml"
        text = path.read_text()
        assert yaml.safe_load(text) == {"name": name, **defaults}
        comment = "".join(line for line in text.splitlines() if line.startswith("#"))
        for key in ("name", *defaults):
            assert f"{key}:" in comment, f"{path}: key {key} is not explained in the leading comment"
    assert yaml.safe_load((root / "split" / "default.yaml").read_text()) == SPLIT_DEFAULTS


# --------------------------------------------------------------------------- CSV


def test_csv_without_header(tmp_path):
    path = _write(tmp_path, "1,0.5,2\n0,1.5,-3e2\n1,2.5,4\n")
    X, y, names = load_csv(path)
    np.testing.assert_array_equal(X, [[0.5, 2.0], [1.5, -300.0], [2.5, 4.0]])
    assert X.dtype == np.float64
    assert y.tolist() == [1, 0, 1] and y.dtype == np.int64
    assert names == ["f0", "f1"]


def test_csv_with_header_and_label_by_index_negative_index_and_name(tmp_path):
    path = _write(tmp_path, "a, b ,class,c\n1,2,yes,3\n4,5,no,6\n")
    for label in (2, -2, "class"):
        X, y, names = load_csv(path, label=label)
        np.testing.assert_array_equal(X, [[1, 2, 3], [4, 5, 6]])
        assert y.tolist() == ["yes", "no"] and y.dtype.kind == "U"
        assert names == ["a", "b", "c"]


def test_csv_label_by_name_forces_header_and_last_column(tmp_path):
    # The first row is all numeric, so auto would say "no header"; a label name means it is one.
    path = _write(tmp_path, "1,2,3\n4,5,0\n7,8,1\n")
    X, y, names = load_csv(path, label="3")
    assert names == ["1", "2"] and y.tolist() == [0, 1]
    X, y, names = load_csv(path, label=-1)
    assert y.tolist() == [3, 0, 1] and X.shape == (3, 2)


def test_csv_header_auto_ignores_the_label_cell(tmp_path):
    # Word labels do not make the first row a header; a word feature does.
    X, y, names = load_csv(_write(tmp_path, "cat,1,2\ndog,3,4\n"))
    assert len(y) == 2 and names == ["f0", "f1"]
    X, y, names = load_csv(_write(tmp_path, "y,1,x2\n0,3,4\n1,5,6\n"))
    assert len(y) == 2 and names == ["1", "x2"]
    # An explicit header=True takes an all-numeric first row as names.
    X, y, names = load_csv(_write(tmp_path, "1,2,3\n0,4,5\n1,6,7\n"), header=True)
    assert names == ["2", "3"] and y.tolist() == [0, 1] and X.tolist() == [[4, 5], [6, 7]]


def test_csv_label_types(tmp_path):
    _, y, _ = load_csv(_write(tmp_path, "1.0,1\n-1.0,2\n"))
    assert y.tolist() == [1, -1] and y.dtype == np.int64
    _, y, _ = load_csv(_write(tmp_path, "0.5,1\n1.5,2\n"))
    assert y.tolist() == [0.5, 1.5] and y.dtype == np.float64
    _, y, _ = load_csv(_write(tmp_path, '"B, x",1\nM,2\n'))
    assert y.tolist() == ["B, x", "M"]


def test_csv_crlf_bom_blank_lines_and_delimiter(tmp_path):
    path = _write(tmp_path, b"\xef\xbb\xbfname;x;label\r\n\r\nA;1.5;0\r\nB;2.5;1\r\n\r\n\r\n")
    # Line numbers count the blank line and ignore the BOM.
    with pytest.raises(DataError, match=r"line 3, column 1 \('name'\): feature value 'A' is not a number"):
        load_csv(path, label=-1, delimiter=";")
    path = _write(tmp_path, b"\xef\xbb\xbfx;label\r\n1.5;0\r\n\r\n2.5;1\r\n\r\n")
    X, y, names = load_csv(path, label="label", delimiter=";")
    assert names == ["x"] and X.tolist() == [[1.5], [2.5]] and y.tolist() == [0, 1]


def test_csv_dataset_relative_path_base_dir_and_source(tmp_path):
    rows = "".join(f"{i % 2},{i},{i * 0.5}\n" for i in range(40))
    _write(tmp_path, rows, "train.csv")
    d = load_dataset({"name": "csv", "path": "train.csv", "base_dir": str(tmp_path)}, SPLIT, 0)
    assert [len(y) for _, y in _splits(d)] == [24, 6, 10]
    assert d.source == f"the training file {tmp_path / 'train.csv'}: 40 rows"
    assert d.feature_names == ["f0", "f1"]
    for _, y in _splits(d):
        assert abs(_counts(y)[0] - len(y) / 2) < 1


def test_csv_test_path(tmp_path):
    _write(tmp_path, "x1,x2,y\n" + "".join(f"{i},{i * 2},{'ab'[i % 2]}\n" for i in range(20)), "train.csv")
    _write(tmp_path, "x1,x2,y\n100,200,a\n101,202,b\n102,204,a\n", "test.csv")
    d = load_dataset(
        {"name": "csv", "path": "train.csv", "test_path": "test.csv", "label": "y", "base_dir": str(tmp_path)},
        {"test_size": 0.25, "validation_size": 0.2},
        0,
    )
    # The test split is the test file, in its order; train/validation split path's 20 rows.
    np.testing.assert_array_equal(d.X_test, [[100, 200], [101, 202], [102, 204]])
    assert d.y_test.tolist() == ["a", "b", "a"]
    assert (len(d.y_train), len(d.y_val)) == (16, 4)
    assert _counts(d.y_val) == {"a": 2, "b": 2}
    assert "test.csv" in d.source and "train.csv" in d.source


def test_csv_test_path_mismatch(tmp_path):
    _write(tmp_path, "".join(f"{i % 2},{i},{i}\n" for i in range(20)), "train.csv")
    _write(tmp_path, "0,1\n1,2\n", "narrow.csv")
    _write(tmp_path, "0,1,1\n5,2,2\n", "unseen.csv")
    base = {"name": "csv", "path": "train.csv", "base_dir": str(tmp_path)}
    with pytest.raises(DataError, match=r"narrow.csv: has 1 feature columns but .*train.csv has 2"):
        load_dataset({**base, "test_path": "narrow.csv"}, SPLIT, 0)
    with pytest.raises(DataError, match=r"unseen.csv: line 2: label 5 does not occur in the training file"):
        load_dataset({**base, "test_path": "unseen.csv"}, SPLIT, 0)


def test_load_csv_splits_groups_columns_and_classes(tmp_path):
    a = _write(tmp_path, "x,y,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n", "a.csv")
    b = _write(tmp_path, "x,y,label\n9,10,1\n11,12,0\n", "b.csv")
    options = CsvOptions(label="label")
    d, rows = load_csv_splits(CsvGroup([a], "the training files"), CsvGroup([b], "the validation files"), split=NO_SPLIT, seed=0, options=options)
    assert rows == {"train": 4, "validation": 2}
    assert sorted(d.X_train.tolist()) == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert d.X_val.tolist() == [[9, 10], [11, 12]] and d.y_val.tolist() == [1, 0]
    assert d.feature_names == ["x", "y"] and d.source == "the training files: 4 rows; the validation files: 2 rows"

    renamed = _write(tmp_path, "x,z,label\n1,2,0\n", "renamed.csv")
    with pytest.raises(DataError, match=r"renamed.csv: the validation files: its column names differ from those of .*a.csv: feature 2 is 'z' here but 'y' there"):
        load_csv_splits(CsvGroup([a], "the training files"), CsvGroup([renamed], "the validation files"), split=NO_SPLIT, seed=0, options=options)
    wide = _write(tmp_path, "x,y,w,label\n1,2,3,0\n", "wide.csv")
    with pytest.raises(DataError, match=r"wide.csv: has 3 feature columns but .*a.csv has 2"):
        load_csv_splits(CsvGroup([a, wide], "the training files"), split=NO_SPLIT, seed=0, options=options)

    three = _write(tmp_path, "0,1\n1,2\n2,3\n", "three.csv")
    with pytest.raises(DataError, match=r"the training files holds 3 classes \(0, 1, 2\) in its label column \(column 1\); QBoost is a binary classifier"):
        load_csv_splits(CsvGroup([three], "the training files"), split=NO_SPLIT, seed=0)
    d, _ = load_csv_splits(CsvGroup([three], "the training files"), split=NO_SPLIT, seed=0, binary=False)
    assert sorted(d.y_train.tolist()) == [0, 1, 2]
    with pytest.raises(DataError, match="the training files holds no files"):
        load_csv_splits(CsvGroup([], "the training files"), split=NO_SPLIT, seed=0)


def _few_per_class() -> str:
    return "".join(f"0,{i}\n" for i in range(10)) + "1,99\n"


# (id, file content or None for a missing file / "DIR" for a directory, dataset keys, line, expected text)
BAD_CSV = [
    ("missing", None, {}, None, "no such file"),
    ("directory", "DIR", {}, None, "is a directory"),
    ("empty", b"", {}, None, "the file is empty"),
    ("blank-lines-only", "\n\n  \n\r\n", {}, None, "the file is empty"),
    ("header-only", "label,a,b\n", {}, 1, "only a header"),
    ("ragged", "0,1,2\n1,3,4\n0,5\n", {}, 3, "line 3 has 2 fields, expected 3"),
    ("non-numeric", "y,a,b\n0,1,2\n1,3,abc\n", {}, 3, "line 3, column 3 ('b'): feature value 'abc' is not a number; write numbers as ASCII"),
    ("nan", "0,1,2\n1,nan,4\n", {}, 2, "line 2, column 2: feature value 'nan' is NaN (a missing value); remove or impute"),
    ("inf", "0,1,2\n1,3,-inf\n", {}, 2, "line 2, column 3: feature value '-inf' is infinite"),
    ("overflow", "0,1,2\n1,3,-1e999\n", {}, 2, "line 2, column 3: the feature value is beyond float64's range"),
    ("empty-cell", "0,1,2\n1,,4\n", {}, 2, "line 2, column 2: the feature cell is empty"),
    ("empty-label", "0,1,2\n ,3,4\n", {}, 2, "line 2, column 1: the label cell is empty"),
    ("label-index-out-of-range", "0,1,2\n1,3,4\n", {"label": 3}, 1, "label column 3 does not exist: line 1 has 3 columns"),
    ("label-negative-out-of-range", "0,1,2\n1,3,4\n", {"label": -4}, 1, "label column -4 does not exist"),
    ("label-name-missing", "a,b,y\n0,1,2\n", {"label": "target"}, 1, "no column named 'target' in the header (line 1); the columns are: 'a', 'b', 'y'"),
    ("label-name-without-header", "a,b,y\n0,1,2\n", {"label": "y", "header": False}, None, "header is false"),
    ("single-class", "a,y\n1,x\n2,x\n3,x\n", {"label": -1}, None, "holds a single class, 'x', in its label column (column 2); a classifier needs at least two classes"),
    ("one-sample-class", _few_per_class(), {}, None, "class 1 has only 1 sample; a stratified split needs at least 2"),
    ("not-utf8", b"0,1,2\n1,3,4\n0,\xe9t\xe9,5\n", {}, 3, "line 3: byte 0xe9 is not valid UTF-8"),
    ("bad-quoting", '0,1,2\n1,"3"x,4\n', {}, 2, "cannot parse CSV"),
]


@pytest.mark.parametrize("content, keys, line, expected", [c[1:] for c in BAD_CSV], ids=[c[0] for c in BAD_CSV])
def test_bad_csv(tmp_path, content, keys, line, expected):
    path = tmp_path / "bad_input.csv"
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        _write(tmp_path, content, path.name)
    with pytest.raises(DataError) as info:
        load_dataset({"name": "csv", "path": str(path), **keys}, SPLIT, 0)
    message = str(info.value)
    assert "bad_input.csv" in message
    assert expected in message
    if line is not None:
        assert f"line {line}" in message
    assert "\n" not in message  # one line, for the CLI's "error: ..." output


def test_few_samples_error_suggests_a_fix(tmp_path):
    path = _write(tmp_path, _few_per_class())
    with pytest.raises(DataError, match="add data of that class, or use a smaller split"):
        load_dataset({"name": "csv", "path": str(path)}, SPLIT, 0)
    # Without splitting, a class of one sample is fine.
    d = load_dataset({"name": "csv", "path": str(path)}, NO_SPLIT, 0)
    assert len(d.y_train) == 11


@pytest.mark.parametrize(
    "keys, message",
    [({"header": "yes"}, "header must be true, false or auto"), ({"delimiter": ";;"}, "delimiter must be one character"), ({"label": True}, "label must be")],
)
def test_csv_bad_options(tmp_path, keys, message):
    path = _write(tmp_path, "0,1\n1,2\n")
    with pytest.raises(DataError, match=message):
        load_dataset({"name": "csv", "path": str(path), **keys}, SPLIT, 0)


# --------------------------------------------------------------------------- writing


def test_write_sagemaker_csv_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)) * np.array([1e-300, 1.0, 1e12, 1 / 3])
    y = np.array(["a,b", "c"] * 25)
    path = tmp_path / "out.csv"
    write_sagemaker_csv(path, X, y)
    first = path.read_text().splitlines()[0]
    assert first.startswith('"a,b",')  # label first, quoted as needed, no header
    X2, y2, _ = load_csv(path)
    np.testing.assert_array_equal(X2, X)
    assert y2.tolist() == y.tolist()
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]  # no temporary file left


def test_write_rejects_nan_and_is_all_or_nothing(tmp_path):
    with pytest.raises(DataError, match="NaN or infinity"):
        write_sagemaker_csv(tmp_path / "nan.csv", [[np.nan]], [1])
    X, y = np.ones((2, 2)), np.array([0, 1])
    # The second file cannot be created: the first must not be left behind either.
    with pytest.raises(FileNotFoundError):
        write_files([(tmp_path / "a.csv", X, y), (tmp_path / "missing_dir" / "b.csv", X, y)])
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- data CLI


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qboost_exp.data", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_cli_writes_wisc_splits(tmp_path):
    result = _run_cli("wisc", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["test.csv", "train.csv", "validation.csv"]
    assert result.stdout.splitlines() == [
        f"{Path('out') / f}: {n} rows, 31 columns (label first, no header)"
        for f, n in [("train.csv", 342), ("validation.csv", 85), ("test.csv", 142)]
    ]
    rows = {f: (out / f).read_text().splitlines() for f in os.listdir(out)}
    assert sum(len(r) for r in rows.values()) == 569
    for lines in rows.values():
        assert all(line.split(",")[0] in ("0", "1") for line in lines)  # label first
        assert all(len(line.split(",")) == 31 for line in lines)

    # Exactly the in-process split of the same seed ...
    expected = load_dataset({"name": "wisc"}, SPLIT, 0)
    X, y, names = load_csv(out / "train.csv")
    np.testing.assert_array_equal(X, expected.X_train)
    np.testing.assert_array_equal(y, expected.y_train)
    # ... and readable as a csv data set, the header detected as absent.
    d = load_dataset({"name": "csv", "path": "out/train.csv", "base_dir": str(tmp_path)}, NO_SPLIT, 0)
    assert d.X_train.shape == (342, 30) and d.feature_names[:2] == ["f0", "f1"]


def test_cli_error_exits_2_without_traceback_or_files(tmp_path):
    result = _run_cli("digits", "--out", "out", "--set", "classes=[1,1]", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: dataset digits: classes must be two different digits")
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_cli_in_process_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert data_main(["digits", "--out", "d", "--set", "classes=[1,7]", "--validation-size", "0", "--test-size", "0.2", "--seed", "3"]) == 0
    assert sorted(os.listdir("d")) == ["test.csv", "train.csv"]
    _, y, _ = load_csv("d/train.csv")
    assert set(y.tolist()) == {1, 7} and len(y) == 289
    assert len(capsys.readouterr().out.splitlines()) == 2

    # A csv data set given with --set, its relative path resolved from the current directory.
    assert data_main(["csv", "--out", "c", "--set", "path=d/train.csv", "--validation-size", "0"]) == 0
    assert sum(len(load_csv(f"c/{f}")[1]) for f in os.listdir("c")) == 289


@pytest.mark.parametrize(
    "argv, message",
    [
        (["csv", "--out", "o"], "error: dataset csv: `path` is not set"),
        (["wisc", "--out", "o", "--set", "classes=[1,7]"], "error: --set classes: dataset wisc has no such key"),
        (["wisc", "--out", "o", "--set", "oops"], "error: --set expects key=value"),
        (["wisc", "--out", "o", "--test-size", "1.5"], "error: split.test_size must be"),
        (["mnist", "--out", "o"], "error: unknown dataset 'mnist'"),
    ],
)
def test_cli_errors_in_process(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert data_main(argv) == 2
    assert capsys.readouterr().err.startswith(message)
    assert os.listdir(tmp_path) == []


def test_cli_bad_arguments_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        data_main(["wisc"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: the following arguments are required: --out")
    with pytest.raises(SystemExit) as info:
        data_main(["--out", "o"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: the following arguments are required: name (or --list)")
    assert os.listdir(tmp_path) == []


def test_cli_lists_every_data_set_with_its_description(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert data_main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == dataset_names()
    xor = next(line for line in lines if line.startswith("xor "))
    assert xor.split(None, 1)[1] == descriptions()["xor"] and "stumps" in xor
    assert os.listdir(tmp_path) == []

