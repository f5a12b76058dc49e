"""qboost_exp.domain.compiled: a fitted model as numpy arrays, predicting exactly as the estimator."""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from qboost_exp import DataError, QBoostClassifier, QBoostError
from qboost_exp.domain.compiled import FORMAT_VERSION, CompiledModel, NotCompilable, compile_model
from qboost_exp.domain.weak_learners import Estimators

FAST = dict(sampler="neal", sampler_params={"num_reads": 10, "num_sweeps": 200}, lam=0.05, max_weight=0.125, random_state=0)
LEARNER_SETS = {
    "stumps": "stumps",
    "trees": {"name": "trees", "params": {"n_estimators": 20, "max_depth": 3}},
    "adaboost": {"name": "adaboost", "params": {"n_estimators": 20}},
    "mixed": {"name": "mixed", "params": {"members": [
        "stumps", {"name": "trees", "params": {"n_estimators": 10, "max_depth": 4}}, {"name": "adaboost", "params": {"n_estimators": 10}},
    ]}},
    # bare trees of an `estimators` set, ExtraTreeClassifier too
    "estimator trees": Estimators([DecisionTreeClassifier(max_depth=4), ExtraTreeClassifier(max_depth=3), DecisionTreeClassifier(max_depth=1)]),
}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


def many_rows(model, X: np.ndarray, n_random: int = 2000) -> np.ndarray:
    """Real rows, rescaled rows, random rows, and rows on and one float32/float64 step around every threshold."""
    rng = np.random.default_rng(0)
    rows = [X, X * rng.uniform(0.5, 1.5, X.shape), rng.normal(X.mean(0), X.std(0) * 2, (n_random, X.shape[1]))]
    base = X[:1]
    for learner in model.estimators_:
        tree = getattr(learner, "estimator", learner)
        columns = list(getattr(learner, "features", range(X.shape[1])))
        for node in np.flatnonzero(tree.tree_.children_left >= 0):
            t = tree.tree_.threshold[node]
            t32 = np.float32(t)
            for value in (t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), float(t32),
                          float(np.nextafter(t32, np.float32(np.inf))), float(np.nextafter(t32, np.float32(-np.inf)))):
                row = base.copy()
                row[0, columns[tree.tree_.feature[node]]] = value
                rows.append(row)
    return np.vstack(rows)


@pytest.mark.parametrize("refit", ["none", "least_squares", "logistic"])
@pytest.mark.parametrize("bits", [1, 2, 3])
@pytest.mark.parametrize("learners", list(LEARNER_SETS))
def test_compiled_model_predicts_as_the_estimator(cancer, learners, bits, refit):
    X, y = cancer
    model = QBoostClassifier(weak_learners=LEARNER_SETS[learners], weight_bits=bits, refit=refit, **FAST).fit(X, y)
    assert len(model.estimators_) >= 2
    compiled = compile_model(model)
    rows = many_rows(model, X.to_numpy())
    frame = pd.DataFrame(rows, columns=X.columns)
    assert len(rows) > 3000
    np.testing.assert_array_equal(compiled.predict(rows), model.predict(frame))
    np.testing.assert_allclose(compiled.predict_proba(rows), model.predict_proba(frame), rtol=0, atol=1e-12)
    # The decision is summed in the estimator's order: equal, not just close.
    np.testing.assert_array_equal(compiled.decision_function(rows), model.decision_function(frame))
    # The same from a DataFrame with the model's columns, and after a trip through the arrays.
    np.testing.assert_array_equal(compiled.predict(frame), model.predict(frame))
    again = CompiledModel.from_arrays(compiled.to_arrays())
    np.testing.assert_array_equal(again.decision_function(rows), compiled.decision_function(rows))


def test_ties_predict_classes_0_with_probability_one_half(cancer):
    X, y = cancer
    model = QBoostClassifier(weak_learners="stumps", **FAST).fit(X, y)
    # Two equal weights and no intercept: a decision of exactly 0 wherever the two stumps disagree.
    tied = copy.deepcopy(model)
    tied.estimators_, tied.estimator_weights_, tied.intercept_ = model.estimators_[:2], np.array([0.125, 0.125]), 0.0
    compiled = compile_model(tied)
    decision = tied.decision_function(X)
    ties = decision == 0
    assert 0 < ties.sum() < len(X)
    np.testing.assert_array_equal(compiled.decision_function(X), decision)
    np.testing.assert_array_equal(compiled.predict(X), tied.predict(X))
    assert set(compiled.predict(X.to_numpy()[ties])) == {tied.classes_[0]}
    np.testing.assert_array_equal(compiled.predict_proba(X.to_numpy()[ties]), 0.5)
    np.testing.assert_allclose(compiled.predict_proba(X), tied.predict_proba(X), rtol=0, atol=1e-12)


def test_an_empty_model_compiles_to_its_intercept(cancer):
    X, y = cancer
    with pytest.warns(UserWarning, match="selected no weak learner"):
        model = QBoostClassifier(weak_learners="stumps", **{**FAST, "lam": 50.0}).fit(X, y)
    compiled = compile_model(model)
    assert compiled.n_learners == 0
    np.testing.assert_array_equal(compiled.predict(X), model.predict(X))
    np.testing.assert_allclose(compiled.predict_proba(X), model.predict_proba(X), rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def trees_model(cancer):
    X, y = cancer
    return QBoostClassifier(weak_learners=LEARNER_SETS["mixed"], **FAST).fit(X, y), X.to_numpy()


@pytest.mark.parametrize(
    "value,message",
    [
        (np.nan, "row 2, column 3: the value is NaN; the model needs finite feature values"),
        (np.inf, "row 2, column 3: the value is infinite"),
        (-np.inf, "row 2, column 3: the value is infinite"),
        (1e39, "row 2, column 3: value 1e+39 is out of range; the model's trees compare values as float32"),
    ],
)
def test_nan_inf_and_beyond_float32_are_refused_naming_the_cell(trees_model, value, message):
    model, X = trees_model
    compiled = compile_model(model)
    bad = X[:4].copy()
    bad[1, 2] = value
    for method in (compiled.predict, compiled.predict_proba, compiled.decision_function):
        with pytest.raises(DataError, match="^" + message.replace("(", r"\(").replace("+", r"\+")):
            method(bad)
    with pytest.raises(ValueError), warnings.catch_warnings():  # the estimator refuses them too
        warnings.simplefilter("ignore")  # its own: no feature names, overflow in a cast
        model.predict(bad)


def test_bad_shapes_and_columns_are_refused(trees_model, cancer):
    model, X = trees_model
    compiled = compile_model(model)
    for bad, message in [
        (X[:3, :29], "X has 29 features, but the model was fitted with 30"),
        (X[0], r"X must be a 2-D array of shape \(n_samples >= 1, 30\), got shape \(30,\)"),
        (X[:0], r"got shape \(0, 30\)"),
        ([["a"] * 30], "X must hold numbers"),
    ]:
        with pytest.raises(DataError, match=message):
            compiled.predict(bad)
    frame = cancer[0].iloc[:3]
    with pytest.raises(DataError, match="are not the model's features"):
        compiled.predict(frame[list(reversed(frame.columns))])


def test_a_learner_that_is_not_a_tree_is_named(cancer):
    X, y = cancer
    model = QBoostClassifier(weak_learners=Estimators([DecisionTreeClassifier(max_depth=2), SVC()]), **{**FAST, "lam": 0.0}).fit(X, y)
    assert any(isinstance(e, SVC) for e in model.estimators_)
    position = next(i for i, e in enumerate(model.estimators_) if isinstance(e, SVC))
    with pytest.raises(NotCompilable, match=rf"learner {position} of {len(model.estimators_)} \(SVC\(.*\)\) is not a decision tree"):
        compile_model(model)
    assert issubclass(NotCompilable, QBoostError)


def test_only_fitted_qboost_models_compile(cancer):
    X, y = cancer
    with pytest.raises(NotCompilable, match=r"LogisticRegression\(.*\) is not a QBoostClassifier"):
        compile_model(LogisticRegression(max_iter=5000).fit(X, y))
    with pytest.raises(NotCompilable, match="is not fitted"):
        compile_model(QBoostClassifier())

    class Shifted(QBoostClassifier):
        def decision_function(self, X):
            return super().decision_function(X) + 1

    with pytest.raises(NotCompilable, match="Shifted overrides decision_function"):
        compile_model(Shifted(weak_learners="stumps", **FAST).fit(X, y))


def test_string_classes_survive_the_npz_file_without_pickle(cancer, tmp_path):
    X, y = cancer
    labels = np.where(y == 1, "benign", "malignant").astype(object)
    model = QBoostClassifier(weak_learners=LEARNER_SETS["mixed"], **FAST).fit(X, labels)
    compiled = compile_model(model)
    arrays = compiled.to_arrays()
    assert int(arrays["format_version"]) == FORMAT_VERSION
    assert all(a.dtype != object for a in arrays.values())
    compiled.save(tmp_path / "model.npz")
    loaded = CompiledModel.load(tmp_path / "model.npz")
    rows = pd.DataFrame(many_rows(model, X.to_numpy(), 500), columns=X.columns)
    assert list(loaded.predict(rows)) == list(model.predict(rows))
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows), rtol=0, atol=1e-12)
    assert list(loaded.feature_names_in_) == list(X.columns)


def test_a_numpy_only_process_loads_and_predicts(trees_model, tmp_path):
    model, X = trees_model
    compile_model(model).save(tmp_path / "model.npz")
    np.save(tmp_path / "X.npy", X)
    code = (
        "import sys\n"
        # Make scikit-learn, scipy and pandas unimportable: the compiled model must not need them.
        "for name in ('sklearn', 'scipy', 'pandas', 'dimod'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np\n"
        "from qboost_exp.domain.compiled import CompiledModel\n"
        f"m = CompiledModel.load({str(tmp_path / 'model.npz')!r})\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, m.predict_proba(np.load({str(tmp_path / 'X.npy')!r})))\n"
        "print(sorted({k.split('.')[0] for k in sys.modules if sys.modules[k] is not None} & {'sklearn', 'scipy', 'pandas', 'dimod'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no feature names: scikit-learn's warning
        np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict_proba(X), rtol=0, atol=1e-12)


def test_malformed_arrays_are_refused_naming_what_is_wrong(trees_model, tmp_path):
    model, _ = trees_model
    good = compile_model(model).to_arrays()
    n_nodes = len(good["feature"])

    def changed(**kw):
        return {**good, **kw}

    cases = [
        (changed(format_version=np.asarray(FORMAT_VERSION + 1)), f"format version {FORMAT_VERSION + 1} is not {FORMAT_VERSION}"),
        ({k: v for k, v in good.items() if k != "threshold"}, r"missing arrays \['threshold'\]"),
        (changed(extra=np.zeros(1)), r"unknown arrays \['extra'\]"),
        (changed(threshold=good["threshold"][:-1]), f"threshold has {n_nodes - 1} entries, feature has {n_nodes}"),
        (changed(children_left=np.where(good["children_left"] > 0, 0, good["children_left"])), "children must be later nodes"),
        (changed(columns=good["columns"] + 100), r"columns must lie in \[0, 30\)"),
        (changed(node_offsets=good["node_offsets"][::-1]), "node_offsets must rise from 0"),
        (changed(classes=np.array([0, 1, 2])), "classes must hold the 2 labels"),
        (changed(feature=good["feature"].astype(float)), "feature must be a 1-D integer array"),
    ]
    for arrays, message in cases:
        with pytest.raises(DataError, match=message):
            CompiledModel.from_arrays(arrays)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz: not a compiled model file"):
        CompiledModel.load(tmp_path / "junk.npz")


def test_importing_the_module_loads_numpy_only():
    code = "import sys, qboost_exp.domain.compiled; print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'pandas', 'dimod'}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
