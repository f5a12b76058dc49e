"""The prediction functions of the container: compiled bit for bit where a model compiles, else the model's own methods.

A model with every tree kind is served through qboost_exp.domain.compiled; one
with a learner that does not compile (GaussianNB), or another estimator, is
served through its own predict. In-process: no server.
"""

from __future__ import annotations

import numpy as np
import pytest

# First: it puts this checkout's `serving` first on sys.path.
import serving_programs  # noqa: F401
from serving.container.errors import RequestError
from serving.container.predictor import CompiledPredictor, ModelPredictor, predictor_for


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



def test_a_model_that_does_not_compile_gets_no_compiled_file_and_the_reason(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from serving.container.compiled_file import COMPILED_FILE, write_compiled

    (tmp_path / COMPILED_FILE).write_bytes(b"stale")
    reason = write_compiled(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), tmp_path)
    assert reason and "is not a QBoostClassifier" in reason
    assert not (tmp_path / COMPILED_FILE).exists()


