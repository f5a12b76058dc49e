"""The QUBO is the QBoost objective: energies, Gram statistics, exact optimum."""

from __future__ import annotations

import itertools

import dimod
import numpy as np
import pytest

from qboost_exp import QBoostClassifier
from qboost_exp.domain._qubo import (
    PackedPredictions,
    QuboLayout,
    build_bqm,
    dwave_max_weight,
    gram_statistics,
    qboost_objective,
    residual_statistics,
    selection_penalty,
    variables_per_learner,
    weight_scale,
)
from qboost_exp.errors import SamplerError
from qboost_exp.domain.samplers import BoundedExactSolver

from domain_stubs import FixedLearnerSet


def random_problem(rng, n_samples, n_learners):
    h = rng.choice([-1, 1], size=(n_samples, n_learners)).astype(np.int8)
    y = rng.choice([-1, 1], size=n_samples).astype(np.int8)
    return h, y


def stats_for(h, y):
    return gram_statistics(PackedPredictions.from_rows(h.T, len(y)), y)


def all_assignments(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int8)


@pytest.mark.parametrize("seed", range(6))
def test_binary_weights_energy_equals_objective_for_every_assignment(seed):
    rng = np.random.default_rng(seed)
    n_samples, n_learners = int(rng.integers(3, 40)), int(rng.integers(1, 8))
    h, y = random_problem(rng, n_samples, n_learners)
    penalty = float(rng.uniform(0, 0.2)) if seed else 0.0
    bqm, layout = build_bqm(stats_for(h, y), penalty, weight_bits=1)
    states = all_assignments(n_learners)
    energies = bqm.energies((states, list(range(n_learners))))
    for q, energy in zip(states, energies):
        weights = q / n_learners  # weight_bits=1: w in {0, 1/M}
        assert energy == pytest.approx(qboost_objective(weights, h, y, penalty), abs=1e-9)


@pytest.mark.parametrize("weight_bits,seed", [(2, 0), (2, 1), (3, 2)])
def test_multibit_energy_minimised_over_indicators_equals_objective(weight_bits, seed):
    rng = np.random.default_rng(seed)
    n_samples, n_learners = int(rng.integers(5, 30)), 3 if weight_bits == 2 else 2
    h, y = random_problem(rng, n_samples, n_learners)
    penalty = float(rng.uniform(0.01, 0.2))
    bqm, layout = build_bqm(stats_for(h, y), penalty, weight_bits=weight_bits)
    mb = n_learners * weight_bits
    assert layout.n_variables == mb + n_learners == bqm.num_variables
    c = weight_scale(1 / n_learners, weight_bits)
    for q in all_assignments(mb):
        weights = layout.weights(np.concatenate([q, np.zeros(n_learners, dtype=np.int8)]))
        assert set(np.round(weights / c).astype(int)) <= set(range(2**weight_bits))
        objective = qboost_objective(weights, h, y, penalty)
        used = q.reshape(n_learners, weight_bits).any(axis=1).astype(np.int8)
        feasible = np.concatenate([q, used])
        assert bqm.energy((feasible, range(bqm.num_variables))) == pytest.approx(objective, abs=1e-9)
        other = [bqm.energy((np.concatenate([q, z]), range(bqm.num_variables))) for z in all_assignments(n_learners)]
        assert min(other) == pytest.approx(objective, abs=1e-9)


def test_cross_terms_carry_the_factor_two():
    # Two learners that agree on 3 of 4 samples: G_12 = (3 - 1) / 4 = 0.5.
    h = np.array([[1, 1], [1, 1], [-1, -1], [1, -1]], dtype=np.int8)
    y = np.array([1, 1, -1, 1], dtype=np.int8)
    bqm, _ = build_bqm(stats_for(h, y), penalty=0.0)
    c = 1 / 2
    assert bqm.get_quadratic(0, 1) == pytest.approx(2 * c * c * 0.5)
    # linear: c^2 * G_ii - 2 c g_i; learner 0 is always right (g = 1), learner 1 agrees on 3/4 (g = 0.5)
    assert bqm.get_linear(0) == pytest.approx(c * c - 2 * c * 1.0)
    assert bqm.get_linear(1) == pytest.approx(c * c - 2 * c * 0.5)
    assert bqm.offset == 1.0


def test_gram_statistics_are_exact_across_chunks():
    rng = np.random.default_rng(7)
    n_samples = 3 * 16384 + 13  # several chunks and a ragged last byte
    h, y = random_problem(rng, n_samples, 9)
    stats = stats_for(h, y)
    hf = h.astype(np.int64)
    # integer sums are exact, so dividing them gives bit-identical results
    np.testing.assert_array_equal(stats.hh, (hf.T @ hf) / n_samples)
    np.testing.assert_array_equal(stats.hy, (hf.T @ y.astype(np.int64)) / n_samples)


@pytest.mark.parametrize("weight_bits,seed", [(1, 0), (1, 1), (1, 2), (2, 3)])
def test_exact_sampler_finds_the_brute_force_optimum(weight_bits, seed):
    rng = np.random.default_rng(seed)
    n_samples, n_learners = 30, 6 if weight_bits == 1 else 4
    h, y = random_problem(rng, n_samples, n_learners)
    # make some learners useful so the optimum is not trivial
    h[:, 0] = np.where(rng.random(n_samples) < 0.8, y, -y)
    h[:, 1] = np.where(rng.random(n_samples) < 0.7, y, -y)
    lam = 0.01
    X = np.arange(n_samples, dtype=float)[:, None]
    labels = np.where(y > 0, "pos", "neg")
    model = QBoostClassifier(weak_learners=FixedLearnerSet(h), sampler="exact", lam=lam, max_weight=0.25, weight_bits=weight_bits).fit(X, labels)
    assert model.penalty_ == pytest.approx(lam * 0.25)  # lam is in units of the largest weight
    # brute force over every weight vector, independently of the BQM
    c = weight_scale(model.max_weight_, weight_bits)
    levels = np.arange(2**weight_bits) * c
    y_pm = np.where(labels == model.classes_[1], 1, -1)
    best = min(qboost_objective(np.array(w), h, y_pm, model.penalty_) for w in itertools.product(levels, repeat=n_learners))
    assert model.best_energy_ == pytest.approx(best, abs=1e-9)
    assert qboost_objective(model.weights_, h, y_pm, model.penalty_) == pytest.approx(best, abs=1e-9)


def test_exact_sampler_refuses_large_problems():
    bqm = dimod.BinaryQuadraticModel({i: 1.0 for i in range(25)}, {}, 0.0, "BINARY")
    with pytest.raises(SamplerError, match=r"at most 24 variables; this QUBO has 25.*sampler=neal"):
        BoundedExactSolver().sample(bqm)


@pytest.mark.parametrize("weight_bits,max_weight,seed", [(1, 0.5, 0), (1, 0.07, 1), (2, 0.3, 2), (3, 1.0, 3)])
def test_energy_equals_objective_for_any_scale_and_bits(weight_bits, max_weight, seed):
    rng = np.random.default_rng(seed)
    n_samples, n_learners = int(rng.integers(5, 30)), 3 if weight_bits < 3 else 2
    h, y = random_problem(rng, n_samples, n_learners)
    penalty = float(rng.uniform(0.0, 0.1))
    bqm, layout = build_bqm(stats_for(h, y), penalty, weight_bits=weight_bits, max_weight=max_weight)
    mb = n_learners * weight_bits
    for q in all_assignments(mb):
        used = q.reshape(n_learners, weight_bits).any(axis=1).astype(np.int8)
        state = np.concatenate([q, used]) if weight_bits > 1 else q
        weights = layout.weights(state)
        assert weights.max() <= max_weight + 1e-12
        energy = bqm.energy((state, range(bqm.num_variables)))
        assert energy == pytest.approx(qboost_objective(weights, h, y, penalty), abs=1e-9)


@pytest.mark.parametrize("weight_bits,seed", [(1, 0), (1, 1), (2, 2)])
def test_a_window_with_a_fixed_prefix_has_exactly_the_objective_as_energy(weight_bits, seed):
    # iterative QBoost: the prefix's margin enters as a residual; brute force over the window's weights
    rng = np.random.default_rng(seed)
    n_samples, n_window = int(rng.integers(8, 40)), 3
    h, y = random_problem(rng, n_samples, n_window)
    prefix = rng.choice([-1, 1], size=(n_samples, 4)) @ rng.choice([0.0, 0.25], size=4)
    penalty, w_max = 0.03, 0.25
    stats = residual_statistics(PackedPredictions.from_rows(h.T, n_samples), y, prefix)
    bqm, layout = build_bqm(stats, penalty, weight_bits=weight_bits, max_weight=w_max)
    mb = n_window * weight_bits
    for q in all_assignments(mb):
        used = q.reshape(n_window, weight_bits).any(axis=1).astype(np.int8)
        state = np.concatenate([q, used]) if weight_bits > 1 else q
        weights = layout.weights(state)
        expected = qboost_objective(weights, h, y, penalty, margin=prefix)
        assert bqm.energy((state, range(bqm.num_variables))) == pytest.approx(expected, abs=1e-9)


def test_residual_statistics_are_exact_across_chunks():
    rng = np.random.default_rng(3)
    n_samples = 2 * 16384 + 5
    h, y = random_problem(rng, n_samples, 4)
    margin = rng.normal(size=n_samples)
    stats = residual_statistics(PackedPredictions.from_rows(h.T, n_samples), y, margin)
    r = y - margin
    np.testing.assert_allclose(stats.hy, h.T.astype(float) @ r / n_samples, rtol=1e-12, atol=1e-12)
    assert stats.residual_sq == pytest.approx(r @ r / n_samples, rel=1e-12)


def test_per_learner_penalties():
    rng = np.random.default_rng(5)
    h, y = random_problem(rng, 20, 3)
    penalty = np.array([0.0, 0.05, 0.2])
    bqm, layout = build_bqm(stats_for(h, y), penalty, weight_bits=1, max_weight=0.5)
    for q in all_assignments(3):
        assert bqm.energy((q, range(3))) == pytest.approx(qboost_objective(layout.weights(q), h, y, penalty), abs=1e-9)


def test_the_objective_is_the_same_on_packed_and_dense_predictions():
    rng = np.random.default_rng(11)
    h, y = random_problem(rng, 37, 5)
    weights = np.array([0.0, 0.25, 0.0, 0.5, 0.25])
    margin = rng.normal(size=37)
    dense = qboost_objective(weights, h, y, 0.01, margin=margin)
    packed = qboost_objective(weights, PackedPredictions.from_rows(h.T, 37), y, 0.01, margin=margin)
    assert packed == pytest.approx(dense, abs=1e-12)
    residual = margin + h @ weights - y
    assert dense == pytest.approx(residual @ residual / 37 + 3 * 0.01, abs=1e-12)


def test_one_rule_each_for_variables_per_learner_the_dwave_weight_and_the_penalty():
    assert [variables_per_learner(b) for b in (1, 2, 3)] == [1, 3, 4]  # b bits, plus an indicator for b > 1
    assert QuboLayout(n_learners=5, weight_bits=2, scale=1.0).n_variables == 5 * variables_per_learner(2)
    assert dwave_max_weight(20) == 1 / 20 and dwave_max_weight(0) == 1.0
    assert selection_penalty(0.1, 0.25) == pytest.approx(0.025)
    rng = np.random.default_rng(2)
    h, y = random_problem(rng, 12, 4)
    default, _ = build_bqm(stats_for(h, y), 0.01)
    explicit, _ = build_bqm(stats_for(h, y), 0.01, max_weight=dwave_max_weight(4))
    assert default == explicit


def test_the_old_lam_keyword_still_works_with_a_deprecation_warning():
    rng = np.random.default_rng(4)
    h, y = random_problem(rng, 10, 3)
    with pytest.warns(DeprecationWarning, match=r"build_bqm\(lam=...\) is deprecated.*penalty="):
        old, _ = build_bqm(stats_for(h, y), lam=0.02)
    assert old == build_bqm(stats_for(h, y), penalty=0.02)[0]
    with pytest.warns(DeprecationWarning, match="qboost_objective"):
        assert qboost_objective(np.ones(3) / 3, h, y, lam=0.02) == qboost_objective(np.ones(3) / 3, h, y, 0.02)
    with pytest.raises(TypeError, match="both 'penalty' and its deprecated name 'lam'"):
        build_bqm(stats_for(h, y), penalty=0.02, lam=0.02)
