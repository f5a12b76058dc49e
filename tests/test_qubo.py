"""The QUBO is the QBoost objective: energies, Gram statistics, exact optimum."""

from __future__ import annotations

import itertools

import dimod
import numpy as np
import pytest

from qboost_exp import QBoostClassifier
from qboost_exp._qubo import PackedPredictions, build_bqm, gram_statistics, qboost_objective, residual_statistics, weight_scale
from qboost_exp.errors import SamplerError
from qboost_exp.samplers import BoundedExactSolver

from conftest import FixedLearnerSet


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
    lam = float(rng.uniform(0, 0.2)) if seed else 0.0
    bqm, layout = build_bqm(stats_for(h, y), lam, weight_bits=1)
    states = all_assignments(n_learners)
    energies = bqm.energies((states, list(range(n_learners))))
    for q, energy in zip(states, energies):
        weights = q / n_learners  # weight_bits=1: w in {0, 1/M}
        assert energy == pytest.approx(qboost_objective(weights, h, y, lam), abs=1e-9)


@pytest.mark.parametrize("weight_bits,seed", [(2, 0), (2, 1), (3, 2)])
def test_multibit_energy_minimised_over_indicators_equals_objective(weight_bits, seed):
    rng = np.random.default_rng(seed)
    n_samples, n_learners = int(rng.integers(5, 30)), 3 if weight_bits == 2 else 2
    h, y = random_problem(rng, n_samples, n_learners)
    lam = float(rng.uniform(0.01, 0.2))
    bqm, layout = build_bqm(stats_for(h, y), lam, weight_bits=weight_bits)
    mb = n_learners * weight_bits
    assert layout.n_variables == mb + n_learners == bqm.num_variables
    c = weight_scale(1 / n_learners, weight_bits)
    for q in all_assignments(mb):
        weights = layout.weights(np.concatenate([q, np.zeros(n_learners, dtype=np.int8)]))
        assert set(np.round(weights / c).astype(int)) <= set(range(2**weight_bits))
        objective = qboost_objective(weights, h, y, lam)
        used = q.reshape(n_learners, weight_bits).any(axis=1).astype(np.int8)
        feasible = np.concatenate([q, used])
        assert bqm.energy((feasible, range(bqm.num_variables))) == pytest.approx(objective, abs=1e-9)
        other = [bqm.energy((np.concatenate([q, z]), range(bqm.num_variables))) for z in all_assignments(n_learners)]
        assert min(other) == pytest.approx(objective, abs=1e-9)


def test_cross_terms_carry_the_factor_two():
    # Two learners that agree on 3 of 4 samples: G_12 = (3 - 1) / 4 = 0.5.
    h = np.array([[1, 1], [1, 1], [-1, -1], [1, -1]], dtype=np.int8)
    y = np.array([1, 1, -1, 1], dtype=np.int8)
    bqm, _ = build_bqm(stats_for(h, y), lam=0.0)
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
    assert model.penalty_ == pytest.approx(lam * 0.25)
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
    lam = float(rng.uniform(0.0, 0.1))
    bqm, layout = build_bqm(stats_for(h, y), lam, weight_bits=weight_bits, max_weight=max_weight)
    mb = n_learners * weight_bits
    for q in all_assignments(mb):
        used = q.reshape(n_learners, weight_bits).any(axis=1).astype(np.int8)
        state = np.concatenate([q, used]) if weight_bits > 1 else q
        weights = layout.weights(state)
        assert weights.max() <= max_weight + 1e-12
        energy = bqm.energy((state, range(bqm.num_variables)))
        assert energy == pytest.approx(qboost_objective(weights, h, y, lam), abs=1e-9)


@pytest.mark.parametrize("weight_bits,seed", [(1, 0), (1, 1), (2, 2)])
def test_a_window_with_a_fixed_prefix_has_exactly_the_objective_as_energy(weight_bits, seed):
    # iterative QBoost: the prefix's margin enters as a residual; brute force over the window's weights
    rng = np.random.default_rng(seed)
    n_samples, n_window = int(rng.integers(8, 40)), 3
    h, y = random_problem(rng, n_samples, n_window)
    prefix = rng.choice([-1, 1], size=(n_samples, 4)) @ rng.choice([0.0, 0.25], size=4)
    lam, w_max = 0.03, 0.25
    stats = residual_statistics(PackedPredictions.from_rows(h.T, n_samples), y, prefix)
    bqm, layout = build_bqm(stats, lam, weight_bits=weight_bits, max_weight=w_max)
    mb = n_window * weight_bits
    for q in all_assignments(mb):
        used = q.reshape(n_window, weight_bits).any(axis=1).astype(np.int8)
        state = np.concatenate([q, used]) if weight_bits > 1 else q
        weights = layout.weights(state)
        expected = qboost_objective(weights, h, y, lam, margin=prefix)
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
    lam = np.array([0.0, 0.05, 0.2])
    bqm, layout = build_bqm(stats_for(h, y), lam, weight_bits=1, max_weight=0.5)
    for q in all_assignments(3):
        assert bqm.energy((q, range(3))) == pytest.approx(qboost_objective(layout.weights(q), h, y, lam), abs=1e-9)
