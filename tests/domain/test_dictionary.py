"""The dictionary options: a fitted intercept, dropped duplicates, and candidates generated in rounds."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from qboost_exp import QBoostClassifier
from qboost_exp.domain._generation import residual_trees
from qboost_exp.domain._qubo import PackedPredictions, build_bqm, gram_statistics, qboost_objective, residual_statistics
from qboost_exp.domain.compiled import compile_model
from qboost_exp.errors import ConfigError
from qboost_exp.domain.samplers import BoundedExactSolver

from domain_stubs import FAST_NEAL, FixedLearnerSet


def best_intercept_objective(w, h, y, penalty):
    """min over b of mean((h w + b - y)**2) + penalty * #selected, by its closed form."""
    b = np.mean(y - h @ w)
    return qboost_objective(w, h, y, penalty, margin=b), b


@pytest.mark.parametrize("seed", range(4))
def test_centred_statistics_give_the_objective_at_its_best_intercept_for_every_assignment(seed):
    rng = np.random.default_rng(seed)
    n_samples, n_learners = int(rng.integers(5, 40)), int(rng.integers(2, 7))
    h = rng.choice([-1, 1], size=(n_samples, n_learners))
    h[:, 0] = 1  # a constant learner: with an intercept it can only cost its penalty
    y = np.where(rng.random(n_samples) < 0.7, 1, -1)  # unbalanced, so the intercept matters
    stats = gram_statistics(PackedPredictions.from_rows(h.T, n_samples), y).centred()
    penalty, w_max = 0.01, 0.25
    bqm, _ = build_bqm(stats, penalty, weight_bits=1, max_weight=w_max)
    for q in itertools.product([0, 1], repeat=n_learners):
        energy = bqm.energy({i: q[i] for i in range(n_learners)})
        expected, _ = best_intercept_objective(np.array(q) * w_max, h, y, penalty)
        assert energy == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("weight_bits", [2, 3])
def test_centred_multibit_energy_minimised_over_indicators_is_the_objective_at_its_best_intercept(weight_bits):
    rng = np.random.default_rng(weight_bits)
    n_samples, n_learners, w_max, penalty = 30, 2, 0.5, 0.02
    h = rng.choice([-1, 1], size=(n_samples, n_learners))
    y = np.where(rng.random(n_samples) < 0.7, 1, -1)
    margin = rng.normal(0, 0.3, n_samples)  # a window of iterative QBoost: learners that add to a fixed margin
    stats = residual_statistics(PackedPredictions.from_rows(h.T, n_samples), y, margin).centred()
    bqm, layout = build_bqm(stats, penalty, weight_bits=weight_bits, max_weight=w_max)
    n_bits = n_learners * weight_bits
    by_bits = {}
    for state in itertools.product([0, 1], repeat=bqm.num_variables):
        energy = bqm.energy(dict(enumerate(state)))
        key = state[:n_bits]
        by_bits[key] = min(by_bits.get(key, np.inf), energy)
    for bits, energy in by_bits.items():
        w = layout.weights(np.array(bits + (0,) * (bqm.num_variables - n_bits)))
        expected, _ = best_intercept_objective(w, h, y - margin, penalty)
        assert energy == pytest.approx(expected, abs=1e-9)


def test_residual_statistics_centre_like_gram_statistics():
    rng = np.random.default_rng(5)
    h = rng.choice([-1, 1], size=(50, 4))
    y = rng.choice([-1, 1], size=50)
    packed = PackedPredictions.from_rows(h.T, 50)
    plain, residual = gram_statistics(packed, y).centred(), residual_statistics(packed, y, np.zeros(50)).centred()
    np.testing.assert_allclose(residual.hh, plain.hh, atol=1e-12)
    np.testing.assert_allclose(residual.hy, plain.hy, atol=1e-12)
    assert residual.residual_sq == pytest.approx(plain.residual_sq) == pytest.approx(np.var(y))


def exact_problem(seed=0, n_samples=40, n_learners=6):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n_samples) < 0.75, 1, -1)
    h = rng.choice([-1, 1], size=(n_samples, n_learners))
    h[:, 0] = np.where(rng.random(n_samples) < 0.85, y, -y)
    h[:, 1] = np.where(rng.random(n_samples) < 0.7, y, -y)
    X = np.arange(n_samples, dtype=float)[:, None]
    return X, h, y


def test_fit_intercept_finds_the_brute_force_optimum_with_its_intercept():
    X, h, y = exact_problem()
    model = QBoostClassifier(weak_learners=FixedLearnerSet(h), sampler="exact", lam=0.02, max_weight=0.25, fit_intercept=True).fit(X, y)
    best = min(best_intercept_objective(np.array(q) * 0.25, h, y, model.penalty_)[0] for q in itertools.product([0, 1], repeat=6))
    assert model.best_energy_ == pytest.approx(best, abs=1e-9)
    energy, b = best_intercept_objective(model.weights_, h, y, model.penalty_)
    assert energy == pytest.approx(best, abs=1e-9)
    assert model.intercept_ == pytest.approx(b) and abs(b) > 0.05  # fitted, not the tie-breaking half step
    np.testing.assert_allclose(model.decision_function(X), h @ model.weights_ + b)


def test_without_an_intercept_the_objective_has_none():
    X, h, y = exact_problem()
    model = QBoostClassifier(weak_learners=FixedLearnerSet(h), sampler="exact", lam=0.02, max_weight=0.25).fit(X, y)
    assert model.best_energy_ == pytest.approx(qboost_objective(model.weights_, h, y, model.penalty_), abs=1e-12)
    assert abs(model.intercept_) == pytest.approx(0.25 / 2)  # the tie rule's half step


def test_duplicates_are_dropped_keeping_the_first_of_each_and_each_constant_sign_once():
    X, h, y = exact_problem(n_learners=4)
    ones = np.ones((len(y), 1), dtype=int)
    dictionary = np.hstack([h, h[:, [1, 0]], ones, -ones, ones, h[:, [3]]])  # 10 columns, 6 distinct
    kept = QBoostClassifier(weak_learners=FixedLearnerSet(dictionary), sampler="exact", lam=0.02, max_weight=0.25, drop_duplicates=True).fit(X, y)
    assert kept.n_candidates_ == 6 and kept.n_duplicates_ == 4
    outputs = np.column_stack([e.column for e in kept.estimators_])
    assert len({tuple(c) for c in outputs.T}) == outputs.shape[1]  # no two selected learners are one
    every = QBoostClassifier(weak_learners=FixedLearnerSet(dictionary), sampler="exact", lam=0.02, max_weight=0.25).fit(X, y)
    assert every.n_candidates_ == 10 and every.n_duplicates_ == 0


def test_a_residual_tree_takes_the_split_with_the_largest_correlation_with_the_residual():
    rng = np.random.RandomState(0)
    X = np.column_stack([np.linspace(0, 1, 200), rng.rand(200)])
    residual = np.where(X[:, 0] > 0.3, 0.5, -1.5)  # large negative part on the left
    (tree,) = residual_trees(X, residual, 1, 1, rng)
    assert isinstance(tree, DecisionTreeClassifier)
    h = tree.predict(X)
    np.testing.assert_array_equal(h, np.where(X[:, 0] > 0.3, 1, -1))  # the split on feature 0, signs of the residual
    assert residual_trees(X, np.zeros(200), 3, 1, rng) == []  # nothing left to fit


def test_generation_rounds_lower_the_objective_and_keep_a_compilable_vote(wisc):
    X_train, X_test, y_train, _ = wisc
    common = dict(lam=0.05, max_weight=0.125, sampler_params=FAST_NEAL, random_state=0,
                  weak_learners={"name": "adaboost", "params": {"n_estimators": 10}})
    base = QBoostClassifier(**common).fit(X_train, y_train)
    grown = QBoostClassifier(generation_rounds=5, **common).fit(X_train, y_train)
    assert grown.rounds_ and grown.rounds_[0]["round"] == 1
    accepted = [r for r in grown.rounds_ if r["accepted"]]
    assert accepted and all(r["newcomers_selected"] > 0 for r in accepted)
    assert grown.best_energy_ < base.best_energy_ - 1e-6
    assert grown.best_energy_ == pytest.approx(accepted[-1]["objective"])
    assert all(not r["accepted"] for r in grown.rounds_[len(accepted):])  # rounds stop at the first refused
    assert grown.timings_["generation"] > 0
    assert any(isinstance(e, DecisionTreeClassifier) and e.max_features == 0.5 for e in grown.estimators_)
    np.testing.assert_array_equal(compile_model(grown).predict(np.asarray(X_test, dtype=float)), grown.predict(X_test))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(grown)).predict(X_test), grown.predict(X_test))


def test_generation_rounds_stay_within_what_the_sampler_takes_and_are_counted_in_the_plan():
    X, h, y = exact_problem(n_learners=6)
    model = QBoostClassifier(weak_learners=FixedLearnerSet(h), sampler=BoundedExactSolver(max_variables=8), lam=0.0, max_weight=0.25,
                             generation_rounds=4, generation_size=10, random_state=0)
    model.fit(X, y)
    assert all(r["candidates"] <= 8 for r in model.rounds_)  # survivors plus at most 8 - survivors newcomers
    assert model.n_qubo_variables_ <= 8
    plan = QBoostClassifier(generation_rounds=4, max_weight_grid=[0.25], lam_grid=[0.0, 0.1]).search_plan()
    assert plan["final_calls"] == 5 and plan["message"].endswith("then 1 for the final fit and up to 4 more for its generation rounds")


def test_generation_needs_one_shot(wisc):
    X_train, _, y_train, _ = wisc
    with pytest.raises(ConfigError, match=r"generation_rounds=2 needs strategy=one_shot: .*\(got strategy=iterative\)"):
        QBoostClassifier(generation_rounds=2, strategy="iterative", lam=0.1, max_weight=0.125).fit(X_train, y_train)
