"""The benchmark suite's data sets (iris, wine, noise_features, label_noise, redundant, xor, hastie) and the source digest."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.ensemble import AdaBoostClassifier, GradientBoostingClassifier
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier

from qboost_exp.data import CsvGroup, Dataset, load_csv, load_csv_splits, load_dataset
from qboost_exp.data._conf import dataset_names
from qboost_exp.data._dataset import source_digest
from qboost_exp.data._load import DEFAULTS, LOADERS
from qboost_exp.tracking import SOURCE_DIGEST_TAG

SPLIT = {"test_size": 0.25, "validation_size": 0.15}
NO_SPLIT = {"test_size": 0.0, "validation_size": 0.0}
SUITE = ("iris", "wine", "noise_features", "label_noise", "redundant", "xor", "hastie")
GENERATED = ("noise_features", "label_noise", "redundant", "xor", "hastie")
BUILTIN = [name for name in dataset_names() if name != "csv"]


def _whole(name: str, seed: int = 0, **keys) -> tuple[np.ndarray, np.ndarray]:
    """The whole data set in the loader's row order (a split, even of size 0, shuffles the rows)."""
    X, y, _, _ = LOADERS[name]({**DEFAULTS[name], **keys}, seed)
    return X, y


def _stump_accuracies(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Training accuracy of the best single threshold on each feature."""
    return np.array([DecisionTreeClassifier(max_depth=1).fit(X[:, [j]], y).score(X[:, [j]], y) for j in range(X.shape[1])])


def test_the_suite_is_configured():
    assert set(SUITE) <= set(dataset_names())


def test_labels_keep_their_meaning():
    iris = load_dataset({"name": "iris"}, SPLIT, 0)
    assert iris.source == "sklearn.datasets.load_iris (1 = versicolor, 2 = virginica)"
    assert iris.feature_names == ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    assert set(np.unique(iris.y_train).tolist()) == {1, 2}
    wine = load_dataset({"name": "wine"}, SPLIT, 0)
    assert wine.source == "sklearn.datasets.load_wine (1 = class_1, 0 = the other two)" and wine.feature_names[0] == "alcohol"
    _, y = _whole("hastie")
    assert y.dtype == np.int64 and set(y.tolist()) == {-1, 1}
    for name in ("noise_features", "label_noise", "redundant", "xor"):
        X, y = _whole(name)
        assert y.dtype == np.int64 and set(y.tolist()) == {0, 1}
        assert X.dtype == np.float64 and np.isfinite(X).all()


def test_wine_class_1_is_not_separable_by_one_feature():
    # The chosen class: the best single threshold is far from perfect, and worse than for the other two classes.
    best = {one: _stump_accuracies(*_whole("wine", one_class=one)).max() for one in (0, 1, 2)}
    assert best[1] == pytest.approx(0.916, abs=1e-3) and best[1] < min(best[0], best[2])


def test_xor_defeats_stumps_but_not_depth_two_trees():
    X, y = _whole("xor")
    assert _stump_accuracies(X, y).max() < 0.6
    d = load_dataset({"name": "xor"}, SPLIT, 0)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(d.X_train, d.y_train)
    assert tree.tree_.feature[0] == 0  # the root splits x0 ...
    assert set(tree.tree_.feature[1:][tree.tree_.feature[1:] >= 0].tolist()) == {1}  # ... its children x1
    assert tree.score(d.X_test, d.y_test) > 0.85
    # A sum of stumps is no better than one: boosting them does not find the interaction.
    boosted = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=60, random_state=0).fit(d.X_train, d.y_train)
    assert boosted.score(d.X_test, d.y_test) < 0.62


def test_noise_features_carry_no_signal():
    X, y = _whole("noise_features")
    assert X.shape == (600, 50)
    # At most the 5 informative features beat chance by a margin; most features are noise.
    useful = _stump_accuracies(X, y) > 0.6
    assert 2 <= useful.sum() <= 5


def test_redundant_has_repeated_and_correlated_features():
    X, _ = _whole("redundant")
    corr = np.abs(np.corrcoef(X, rowvar=False))
    np.fill_diagonal(corr, 0)
    copies = sum(any(np.array_equal(X[:, i], X[:, j]) for j in range(i)) for i in range(X.shape[1]))
    assert copies == 8  # n_repeated
    assert (corr.max(axis=0) > 0.5).sum() >= 20  # informative, redundant and repeated ones go together


def test_label_noise_caps_what_a_model_can_score():
    # The same problem without label noise is learnt far better: about a tenth of the labels are wrong.
    scores = {flip: cross_val_score(GradientBoostingClassifier(random_state=0), *_whole("label_noise", flip_y=flip), cv=3).mean() for flip in (0.0, 0.2)}
    assert scores[0.2] < 0.85 and scores[0.0] - scores[0.2] > 0.07, scores


@pytest.mark.parametrize("name", GENERATED)
def test_random_state_fixes_the_data_across_seeds(name):
    a, b = _whole(name, seed=1), _whole(name, seed=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    # random_state null: the data follow the run seed.
    c, d = _whole(name, seed=1, random_state=None), _whole(name, seed=2, random_state=None)
    assert not np.array_equal(c[0], d[0])
    np.testing.assert_array_equal(_whole(name, seed=5, random_state=None)[0], _whole(name, seed=0, random_state=5)[0])


def test_source_digest_is_the_data_not_the_split():
    digests = {}
    for name in BUILTIN:
        config = {"name": name, "random_state": 0} if name == "synthetic" else {"name": name}
        a, b = load_dataset(config, SPLIT, 1), load_dataset(config, SPLIT, 2)
        assert a.source_digest == b.source_digest and len(a.source_digest) == 16 and int(a.source_digest, 16) >= 0
        assert a.digest != b.digest  # the splits differ
        X, y, names, _ = LOADERS[name]({**DEFAULTS[name], "random_state": 0} if name == "synthetic" else DEFAULTS[name], 0)
        assert a.source_digest == source_digest(X, y, names)
        digests[name] = a.source_digest
    assert len(set(digests.values())) == len(BUILTIN)  # every data set its own
    assert load_dataset({"name": "xor", "random_state": 1}, SPLIT, 1).source_digest != digests["xor"]
    assert load_dataset({"name": "wine", "one_class": 0}, SPLIT, 1).source_digest != digests["wine"]
    assert load_dataset({"name": "synthetic"}, SPLIT, 1).source_digest != load_dataset({"name": "synthetic"}, SPLIT, 2).source_digest


def test_source_digest_hashes_labels_and_names():
    X, y = np.arange(6.0).reshape(3, 2), np.array([0, 1, 0])
    base = source_digest(X, y, ["a", "b"])
    assert source_digest(X, np.array([1, 1, 0]), ["a", "b"]) != base
    assert source_digest(X, y, ["a", "c"]) != base
    assert source_digest(X + 1e-12, y, ["a", "b"]) != base
    # String labels by their text, whatever width numpy gave them.
    assert source_digest(X, np.array(["x", "yy", "x"], dtype="<U2"), ["a", "b"]) == source_digest(X, np.array(["x", "yy", "x"], dtype="<U9"), ["a", "b"])
    assert source_digest(X, np.array(["x", "yy", "x"]), ["a", "b"]) != source_digest(X, np.array(["x", "y", "yx"]), ["a", "b"])


def test_a_dataset_built_directly_gets_the_digest_of_its_splits_stacked():
    X, y = np.arange(8.0).reshape(4, 2), np.array([0, 1, 0, 1])
    d = Dataset("mine", X[:2], y[:2], X[2:3], y[2:3], X[3:], y[3:], ["a", "b"], "test")
    assert d.source_digest == source_digest(X, y, ["a", "b"])
    given = Dataset("mine", X[:2], y[:2], X[2:3], y[2:3], X[3:], y[3:], ["a", "b"], "test", "0123456789abcdef")
    assert given.source_digest == "0123456789abcdef"


def test_csv_source_digest_covers_every_given_file(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("".join(f"{i % 2},{i},{i * i}\n" for i in range(40)))
    test.write_text("".join(f"{i % 2},{-i},{i}\n" for i in range(10)))
    one = [load_dataset({"name": "csv", "path": str(train)}, SPLIT, seed) for seed in (0, 1)]
    assert one[0].source_digest == one[1].source_digest and one[0].digest != one[1].digest
    X, y, names = load_csv(train)
    assert one[0].source_digest == source_digest(X, y, names)
    both = load_dataset({"name": "csv", "path": str(train), "test_path": str(test)}, SPLIT, 0)
    X_test, y_test, _ = load_csv(test)
    assert both.source_digest == source_digest(np.vstack([X, X_test]), np.concatenate([y, y_test]), names) != one[0].source_digest
    # The SageMaker channels' loader gives the same digest for the same files.
    channels, _ = load_csv_splits(CsvGroup([train], "train"), test=CsvGroup([test], "test"), split=SPLIT, seed=3)
    assert channels.source_digest == both.source_digest


def test_a_tracked_run_is_tagged_with_its_source_digest(tmp_path, monkeypatch):
    from qboost_exp.config import compose
    from qboost_exp.experiment import run_tracked
    from qboost_exp.tracking import _open

    noted = []
    note_trained = _open.note_trained
    monkeypatch.setattr(_open, "note_trained", lambda *args: noted.append(dict(args[3])) or note_trained(*args))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    fast = ["lambda=0.1", "qubo.max_weight=0.125", "sampler.params.num_reads=10", "sampler.params.num_sweeps=200"]
    runs = []
    for seed in (0, 1):
        cfg = compose([*fast, "dataset=iris", f"seed={seed}", f"mlflow.tracking_uri={uri}", "mlflow.log_model=false"])
        result, lines = run_tracked(cfg, base_dir=str(tmp_path))
        runs.append((result, MlflowClient(uri).get_run(lines[0].split()[2])))
    (first, run0), (second, run1) = runs
    expected = load_dataset({"name": "iris"}, SPLIT, 7).source_digest
    assert run0.data.tags[SOURCE_DIGEST_TAG] == run1.data.tags[SOURCE_DIGEST_TAG] == first.dataset.source_digest == expected
    assert first.dataset.digest != second.dataset.digest  # same data, other split
    assert run0.data.tags["dataset"] == "iris" and SOURCE_DIGEST_TAG == "qboost.source_digest"
    # The tags a store failure would keep in the local record are the same.
    assert [tags[SOURCE_DIGEST_TAG] for tags in noted] == [expected, expected]
