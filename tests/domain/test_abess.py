"""The best-subset baseline (``model=abess``) and AdaBoost stopped at k stages (``model=adaboost model.max_learners=k``)."""

from __future__ import annotations

import itertools
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

from qboost_exp import ConfigError
from qboost_exp.domain._search import GridPoint, choose
from qboost_exp.domain.baselines import BestSubsetClassifier, LassoClassifier, make_baseline, n_learners
from qboost_exp.domain.compiled import compile_model
from qboost_exp.domain.plugins import resolve_weak_learner_set, uses_dictionary
from qboost_exp.domain.weak_learners import AdaBoostLearners, fit_candidates

from clirun import REPO


def _outputs(learners, X):
    return np.column_stack([np.asarray(c.predict(np.asarray(X)), dtype=float) for c in learners])


def _ls_loss(H, y, cols):
    """QBoost's squared loss of the least-squares fit (with an intercept) on the columns ``cols`` of ``H``."""
    design = np.column_stack([H[:, list(cols)], np.ones(len(y))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.mean((design @ coef - y) ** 2))


def _pm(y):
    return np.where(np.asarray(y) == 1, 1.0, -1.0)


def test_abess_keeps_exactly_k_of_qboosts_dictionary_weighted_by_least_squares(wisc):
    X, X_test, y, y_test = wisc
    model = BestSubsetClassifier(max_learners=12, random_state=3).fit(X, y)
    assert len(model.selected_indices_) == 12 == model.support_size_ and model.n_candidates_ == 60 and model.n_constant_ == 0
    assert model.search_ is None and uses_dictionary("abess")
    # the candidates QBoost fits, from the same seed's first draw
    y_pm = _pm(y)
    H = _outputs(fit_candidates(AdaBoostLearners(), X.to_numpy(), y_pm, np.random.RandomState(3)), X)
    np.testing.assert_array_equal(_outputs(model.estimators_, X), H[:, model.selected_indices_])
    # weights: least squares with an intercept on the selected outputs, nothing else
    design = np.column_stack([H[:, model.selected_indices_], np.ones(len(y))])
    coef, *_ = np.linalg.lstsq(design, y_pm, rcond=None)
    np.testing.assert_allclose(model.estimator_weights_, coef[:-1], rtol=1e-9, atol=1e-12)
    assert model.intercept_ == pytest.approx(coef[-1], abs=1e-12)
    assert np.count_nonzero(model.weights_) == 12 and model.score(X_test, y_test) > 0.93
    np.testing.assert_array_equal(model.predict(X_test), model.classes_[np.argmax(model.predict_proba(X_test), axis=1)])
    # repeatable: abess draws nothing, the seed fixes the candidates
    again = BestSubsetClassifier(max_learners=12, random_state=3).fit(X, y)
    np.testing.assert_array_equal(again.selected_indices_, model.selected_indices_)
    np.testing.assert_array_equal(again.estimator_weights_, model.estimator_weights_)


def test_abess_squared_loss_against_lasso_at_the_same_k_and_against_an_exhaustive_search(wisc):
    # abess's splicing is a fast search, not an exhaustive one: measured, not assumed.
    X, _, y, _ = wisc
    y_pm = _pm(y)

    def loss(model):
        return float(np.mean((model.decision_function(X) - y_pm) ** 2))

    abess_loss, lasso_loss = {}, {}
    for k in range(1, 41):
        abess_loss[k] = loss(BestSubsetClassifier(max_learners=k, random_state=0).fit(X, y))
        lasso_loss[k] = loss(LassoClassifier(max_learners=k, random_state=0).fit(X, y))
    worse = [k for k in abess_loss if abess_loss[k] > lasso_loss[k] + 1e-12]
    # 39 of 40 sizes at least as good as the Lasso path cut refitted; k=5 is the one where abess stops at a worse subset.
    assert worse == [5], worse
    assert sum(abess_loss.values()) < 0.9 * sum(lasso_loss.values())
    # A dictionary small enough to search exhaustively: abess never beats the optimum, and reaches it at most sizes.
    small = {"name": "adaboost", "params": {"n_estimators": 10}}
    H = _outputs(fit_candidates(resolve_weak_learner_set(small), X.to_numpy(), y_pm, np.random.RandomState(0)), X)
    missed = []
    for k in range(1, 11):
        best = min(_ls_loss(H, y_pm, cols) for cols in itertools.combinations(range(H.shape[1]), k))
        found = loss(BestSubsetClassifier(weak_learners=small, max_learners=k, random_state=0).fit(X, y))
        assert found >= best - 1e-12
        if found > best + 1e-12:
            missed.append(k)
    assert missed == [5], missed  # the exhaustive optimum at 9 of 10 sizes (all 10 at k = 10: nothing to choose)


class _WithConstants:
    """A weak-learner set: depth-1 trees on the first 4 features, and ``n_constant`` trees that say +1 everywhere."""

    def __init__(self, n_constant=2, n_trees=4):
        self.n_constant, self.n_trees = n_constant, n_trees

    def fit_candidates(self, X, y, random_state):
        trees = []
        for j in range(self.n_trees):
            Xj = np.zeros_like(X)
            Xj[:, j] = X[:, j]  # the tree can split on feature j only
            trees.append(DecisionTreeClassifier(max_depth=1, random_state=0).fit(Xj, y))
        constants = [DecisionTreeClassifier(max_depth=1).fit(X, np.ones(len(y))) for _ in range(self.n_constant)]
        return constants[:1] + trees + constants[1:]  # constants first and last: the indices must map back


def test_constant_candidates_are_never_selected_and_fewer_than_k_varying_warns(wisc):
    X, X_test, y, _ = wisc
    model = BestSubsetClassifier(weak_learners=_WithConstants(), max_learners=3, random_state=0).fit(X, y)
    assert model.n_candidates_ == 6 and model.n_constant_ == 2 and model.support_size_ == 3
    assert set(model.selected_indices_) <= {1, 2, 3, 4}
    H = _outputs(model.estimators_, X)
    assert np.all(np.any(H != H[:1], axis=0))
    with pytest.warns(UserWarning, match=r"only 4 of the 6 candidates vary on the training data; all 4 are selected \(max_learners=5\)"):
        every = BestSubsetClassifier(weak_learners=_WithConstants(), max_learners=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(every.selected_indices_, [1, 2, 3, 4])
    # only constants: the empty model, the training majority
    empty = BestSubsetClassifier(weak_learners=_WithConstants(n_trees=0), random_state=0, cv=2).fit(X, y)
    assert len(empty.selected_indices_) == 0 and empty.search_["mean_selected"].max() == 0
    assert set(empty.predict(X_test)) == {1}


def test_a_single_candidate_fits_predicts_and_compiles(wisc):
    X, X_test, y, _ = wisc
    one = {"name": "adaboost", "params": {"n_estimators": 1}}
    fixed = BestSubsetClassifier(weak_learners=one, max_learners=1, random_state=0).fit(X, y)
    searched = BestSubsetClassifier(weak_learners=one, cv=3, random_state=0).fit(X, y)
    for model in (fixed, searched):
        assert model.n_candidates_ == 1 and len(model.selected_indices_) == 1
        h = _outputs(model.estimators_, X_test)[:, 0]
        np.testing.assert_allclose(model.decision_function(X_test), model.intercept_ + model.estimator_weights_[0] * h)
        np.testing.assert_array_equal(compile_model(model).predict(X_test.to_numpy()), model.predict(X_test))
    np.testing.assert_array_equal(searched.search_["support_size"], [0, 1])


def test_the_support_size_is_chosen_by_qboosts_own_cv_rule(wisc):
    X, _, y, _ = wisc
    one_se = BestSubsetClassifier(cv=3, max_size=25, random_state=0).fit(X, y)
    best = BestSubsetClassifier(cv=3, cv_rule="best", max_size=25, random_state=0).fit(X, y)
    s = one_se.search_
    np.testing.assert_array_equal(s["support_size"], np.arange(26))
    assert s["split_scores"].shape == (3, 26) and s["chosen"] == choose(s["split_scores"], s["split_selected"], [GridPoint(-float(k), 1.0) for k in range(26)], "one_se")
    top = int(np.argmax(s["mean_score"]))
    assert s["mean_score"][s["chosen"]] >= s["mean_score"][top] - s["split_scores"][:, top].std(ddof=1) / np.sqrt(3)
    assert one_se.support_size_ == s["chosen"] <= best.support_size_ and 1 <= one_se.support_size_ < 25
    assert best.search_["mean_score"][best.search_["chosen"]] == best.search_["mean_score"].max()
    assert set(one_se.timings_) == {"weak_learners", "size_search", "selection"} and one_se.timings_["size_search"] > 0


def test_a_pickle_without_abess(wisc, tmp_path):
    """Compiled predictions are test_baselines.py's (every dictionary baseline); here: no abess needed to load and predict."""
    X, X_test, y, _ = wisc
    model = BestSubsetClassifier(max_learners=10, random_state=0).fit(X, y)
    rows = np.vstack([X_test.to_numpy(), X_test.to_numpy() * np.random.default_rng(0).uniform(0.5, 1.5, X_test.shape)])
    frame = pd.DataFrame(rows, columns=X_test.columns)
    # the pickle holds no abess object: it loads, and predicts, where abess is never imported
    data = pickle.dumps(model)
    assert b"abess" not in data
    path = tmp_path / "model.pkl"
    path.write_bytes(data)
    np.save(tmp_path / "rows.npy", rows)
    code = (
        "import pickle, sys, numpy as np\n"
        "sys.modules['abess'] = None  # importing abess now fails\n"
        f"model = pickle.loads(open({str(path)!r}, 'rb').read())\n"
        f"print(model.predict(np.load({str(tmp_path / 'rows.npy')!r})).sum())\n"
        "print(sorted(m for m in sys.modules if m.startswith('abess')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    total, modules = result.stdout.split("\n")[:2]
    assert int(total) == int(model.predict(frame).sum()) and modules == "['abess']"  # only the None placeholder


def test_bad_parameters_fail_fit_and_make_baseline_with_the_config_key():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"The 'max_learners' parameter of BestSubsetClassifier must be an int in the range \[1, inf\) or None\. Got 0 instead\."):
        BestSubsetClassifier(max_learners=0).fit(np.eye(4), [0, 1, 0, 1])
    with pytest.raises(InvalidParameterError, match=r"The 'max_size' parameter of BestSubsetClassifier"):
        BestSubsetClassifier(max_size="all").fit(np.eye(4), [0, 1, 0, 1])
    with pytest.raises(TypeError):
        BestSubsetClassifier("adaboost")  # keyword-only
    with pytest.raises(ConfigError, match=r"^model\.max_learners: The 'max_learners' parameter of BestSubsetClassifier must be"):
        make_baseline("abess", max_learners="match")  # resolved before the model is built: the estimator takes numbers only
    with pytest.raises(ConfigError, match=r"^model\.cv_rule: "):
        make_baseline("abess", cv_rule="worst")
    model = make_baseline("abess", random_state=4, max_learners=7)
    assert isinstance(model, BestSubsetClassifier) and model.random_state == 4 and model.max_learners == 7


# ------------------------------------------------------------------ AdaBoost at k stages

def test_adaboost_at_k_is_the_first_k_stages_of_the_same_run(wisc):
    X, X_test, y, _ = (part.to_numpy() for part in wisc)
    full = make_baseline("adaboost", random_state=5).fit(X, y)
    cut = make_baseline("adaboost", random_state=5, max_learners=15)
    assert isinstance(cut, AdaBoostClassifier) and cut.n_estimators == 15 and cut.get_params()["estimator"].max_depth == 2
    cut.fit(X, y)
    assert n_learners(full) == 60 and n_learners(cut) == 15
    np.testing.assert_array_equal(cut.estimator_weights_, full.estimator_weights_[:15])
    np.testing.assert_array_equal(cut.estimator_errors_, full.estimator_errors_[:15])
    for a, b in zip(cut.estimators_, full.estimators_[:15]):
        np.testing.assert_array_equal(a.tree_.threshold, b.tree_.threshold)
        np.testing.assert_array_equal(a.tree_.feature, b.tree_.feature)
    # the same prediction as the full run's staged decision after 15 stages
    staged = list(full.staged_predict(X_test))[14]
    np.testing.assert_array_equal(cut.predict(X_test), staged)
    assert make_baseline("adaboost", max_learners=100, n_estimators=40).n_estimators == 40  # never more than n_estimators
    assert make_baseline("adaboost", max_learners=None).n_estimators == 60


def test_adaboost_stopped_early_counts_the_stages_it_has():
    # A depth-2 tree separates this data exactly: AdaBoost stops after one perfect stage, whatever k asks.
    X = np.arange(40, dtype=float).reshape(-1, 1)
    y = (X[:, 0] >= 20).astype(int)
    model = make_baseline("adaboost", random_state=0, max_learners=10).fit(X, y)
    assert model.n_estimators == 10 and n_learners(model) == 1


def test_adaboosts_max_learners_is_checked():
    with pytest.raises(ConfigError, match=r"^model\.max_learners: The 'max_learners' parameter of adaboost must be an int in the range \[1, inf\) or None\. Got 0 instead\."):
        make_baseline("adaboost", max_learners=0)
    with pytest.raises(ConfigError, match=r"^model\.max_learners: .* Got 'match' instead\."):
        make_baseline("adaboost", max_learners="match")
