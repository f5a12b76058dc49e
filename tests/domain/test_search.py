"""The λ search: exact re-scoring across λ, few sampler calls, the same choice as an exhaustive search."""

from __future__ import annotations

import threading

import dimod
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from qboost_exp import QBoostClassifier
from qboost_exp.domain._qubo import PackedPredictions, build_bqm, gram_statistics, penalty_units, qubo_matrix, rescore
from qboost_exp.domain._sampling import local_search, solve_path
from qboost_exp.domain._search import GridPoint, draw_lambdas, plan_message, run_tasks, sampler_calls

from domain_stubs import FAST_NEAL

SMALL_AUTO = dict(weak_learners={"name": "adaboost", "params": {"n_estimators": 8}}, lam_grid=[0.0, 0.05, 0.2, 1.0],
                  max_weight_grid=[0.125, 0.25], cv=3)


@pytest.fixture(scope="module")
def wisc():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)
    return X_train, y_train


def random_stats(rng, n_samples, n_learners):
    h = rng.choice([-1, 1], size=(n_samples, n_learners)).astype(np.int8)
    y = rng.choice([-1, 1], size=n_samples).astype(np.int8)
    return gram_statistics(PackedPredictions.from_rows(h.T, n_samples), y)


class Counting(dimod.Sampler):
    """Wraps a sampler and counts its calls; ``child`` keeps the wrapped one visible (a remote one stays remote)."""

    def __init__(self, child):
        self.child, self.calls = child, 0
        self._lock = threading.Lock()  # the search's worker threads call sample() at once

    @property
    def parameters(self):
        return self.child.parameters

    @property
    def properties(self):
        return self.child.properties

    def __getattr__(self, name):  # largest_clique_size, max_variables, ...
        return getattr(self.__dict__["child"], name)

    def sample(self, bqm, **kwargs):
        with self._lock:
            self.calls += 1
        return self.child.sample(bqm, **kwargs)


class GroundStateOnly(dimod.Sampler):
    """A plain sampler (no num_reads): one answer per call, the exact ground state."""

    parameters: dict = {}
    properties: dict = {}

    def __init__(self):
        self.calls = 0
        self._lock = threading.Lock()  # the search's worker threads call sample() at once

    def sample(self, bqm, **kwargs):
        with self._lock:
            self.calls += 1
        return dimod.ExactSolver().sample(bqm).truncate(1)


@pytest.mark.parametrize("weight_bits,seed", [(1, 0), (1, 1), (2, 2), (3, 3)])
def test_rescoring_is_exact(weight_bits, seed):
    rng = np.random.default_rng(seed)
    stats = random_stats(rng, int(rng.integers(5, 50)), int(rng.integers(2, 7)))
    p1, p2 = (float(v) for v in rng.uniform(0, 0.3, size=2))
    bqm1, layout = build_bqm(stats, p1, weight_bits, 0.25)
    bqm2, _ = build_bqm(stats, p2, weight_bits, 0.25)
    samples = rng.integers(0, 2, size=(64, layout.n_variables)).astype(np.int8)
    labels = list(range(layout.n_variables))
    e1, e2 = bqm1.energies((samples, labels)), bqm2.energies((samples, labels))
    assert not np.allclose(e1, e2)  # the penalty matters
    np.testing.assert_allclose(rescore(e1, samples, layout, p1, p2), e2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(qubo_matrix(stats, p2, weight_bits, 0.25).energies(samples), e2, rtol=0, atol=1e-12)
    # with one bit the penalty is paid once per selected learner
    if weight_bits == 1:
        np.testing.assert_array_equal(penalty_units(samples, layout), samples.sum(axis=1))


def test_local_search_ends_in_a_minimum_no_single_or_pair_flip_improves():
    rng = np.random.default_rng(7)
    stats = random_stats(rng, 40, 12)
    qubo = qubo_matrix(stats, 0.02, 1, 0.25)
    starts = rng.integers(0, 2, size=(20, 12)).astype(np.int8)
    found, energies = local_search(qubo, starts)
    assert np.all(np.diff(energies) >= 0) and energies[0] <= qubo.energies(starts).min()
    best = found[0]
    for i in range(12):
        for j in range(i, 12):
            moved = best.copy()
            moved[[i, j]] ^= 1  # i == j: a single flip
            assert qubo.energies(moved[None])[0] >= energies[0] - 1e-12


@pytest.mark.parametrize("weight_bits", [1, 2])
def test_a_path_from_two_anneals_finds_every_lambdas_ground_state(weight_bits):
    from dwave.samplers import SimulatedAnnealingSampler

    rng = np.random.default_rng(11)
    stats = random_stats(rng, 60, 10 if weight_bits == 1 else 6)
    penalties = [0.0, 0.005, 0.01, 0.03, 0.08]
    calls = []

    def draw(bqm):
        calls.append(bqm)
        return SimulatedAnnealingSampler().sample(bqm, num_reads=5, num_sweeps=100, seed=len(calls))

    solutions, n_calls = solve_path(stats, penalties, weight_bits, 0.25, [0, 4], draw)
    assert n_calls == len(calls) == 2
    for penalty, solution in zip(penalties, solutions):
        bqm, layout = build_bqm(stats, penalty, weight_bits, 0.25)
        ground = dimod.ExactSolver().sample(bqm).first
        assert solution.energy == pytest.approx(ground.energy, abs=1e-12)
        np.testing.assert_allclose(solution.weights, layout.weights(np.array([ground.sample[v] for v in range(layout.n_variables)])))


def test_an_exhaustive_answer_is_drawn_once_and_rescored_exactly():
    rng = np.random.default_rng(5)
    stats = random_stats(rng, 30, 8)
    penalties = [0.0, 0.02, 0.1]
    sampler = Counting(dimod.ExactSolver())
    solutions, n_calls = solve_path(stats, penalties, 1, 0.25, [0, 1, 2], lambda bqm: sampler.sample(bqm))
    assert n_calls == sampler.calls == 1  # all 2**8 states: nothing more to draw
    for penalty, solution in zip(penalties, solutions):
        bqm, _ = build_bqm(stats, penalty, 1, 0.25)
        assert solution.energy == pytest.approx(dimod.ExactSolver().sample(bqm).first.energy, abs=1e-12)


def test_draws_and_the_call_count():
    lams = [0.1, 0.0, 0.2, 0.05]
    assert draw_lambdas(lams, "ends") == [1, 2]
    assert draw_lambdas(lams, "middle") == [3]  # the median of 0, 0.05, 0.1, 0.2 (the lower one)
    assert draw_lambdas(lams, "every") == [1, 3, 0, 2]
    grid = [GridPoint(lam, w) for w in (0.125, 0.25, 0.5) for lam in (0.0, 0.1, 0.2)]
    assert sampler_calls(5, grid, "middle") == 15 and sampler_calls(5, grid, "ends") == 30 and sampler_calls(5, grid, "every") == 45
    assert plan_message(5, grid, "middle") == "lambda search: 15 sampler calls (5 folds x 3 largest weights), then 1 for the final fit"


def test_the_qpu_path_makes_one_sampler_call_per_fold_and_weight(wisc, capsys):
    from qboost_exp.domain.samplers import mock_qpu

    X, y = wisc
    sampler = Counting(mock_qpu())
    model = QBoostClassifier(sampler=sampler, sampler_params={"num_reads": 10}, random_state=0, verbose=1, **SMALL_AUTO)
    plan = model.search_plan(sampler)
    assert plan["draws"] == "middle" and plan["search_calls"] == 3 * 2 and plan["final_calls"] == 1
    model.fit(X, y)
    assert sampler.calls == model.search_["sampler_calls"] + 1 == 3 * 2 + 1  # folds x |W grid| + the final fit
    assert model.search_["draw_lams"] == {"0.125": [0.05], "0.25": [0.05]}
    out = capsys.readouterr().out
    assert "lambda search: 6 sampler calls (3 folds x 2 largest weights), then 1 for the final fit" in out
    assert out.index("6 sampler calls") < out.index("split 1/3 done")  # said before it starts
    assert "chain_break_fraction" in model.sampler_info_


def test_the_search_chooses_what_an_exhaustive_per_lambda_search_chooses(wisc):
    X, y = wisc
    exhaustive = GroundStateOnly()  # the exact ground state of every grid point's QUBO
    reference = QBoostClassifier(sampler=exhaustive, random_state=0, **SMALL_AUTO).fit(X, y)
    assert exhaustive.calls == 3 * 8 + 1 and reference.search_["draws"] == "every"
    fast = QBoostClassifier(random_state=0, sampler_params=FAST_NEAL, **SMALL_AUTO).fit(X, y)  # neal, drawn at 2 λ
    assert fast.search_["sampler_calls"] == 3 * 2 * 2
    np.testing.assert_array_equal(fast.search_["split_selected"], reference.search_["split_selected"])
    np.testing.assert_array_equal(fast.search_["split_scores"], reference.search_["split_scores"])
    assert fast.search_["chosen"] == reference.search_["chosen"]
    assert (fast.lam_, fast.max_weight_) == (reference.lam_, reference.max_weight_)
    np.testing.assert_array_equal(fast.selected_indices_, reference.selected_indices_)
    assert fast.best_energy_ == pytest.approx(reference.best_energy_, abs=1e-12)
    # the exact solver: one call per (fold, W), every state re-scored
    from qboost_exp.domain.samplers import exact as make_exact

    exact = Counting(make_exact())
    model = QBoostClassifier(sampler=exact, random_state=0, **SMALL_AUTO).fit(X, y)
    assert exact.calls == 3 * 2 + 1 and model.search_["sampler_calls"] == 3 * 2
    np.testing.assert_array_equal(model.search_["split_scores"], reference.search_["split_scores"])


def test_the_search_is_seeded_and_independent_of_threads(wisc):
    X, y = wisc
    runs = [QBoostClassifier(random_state=4, sampler_params=FAST_NEAL, n_jobs=n, **SMALL_AUTO).fit(X, y) for n in (1, 2, 2)]
    for other in runs[1:]:
        for key in ("split_scores", "split_selected", "split_sampler_calls"):
            np.testing.assert_array_equal(other.search_[key], runs[0].search_[key])
        assert other.search_["chosen"] == runs[0].search_["chosen"]
        np.testing.assert_array_equal(other.weights_, runs[0].weights_)
    assert runs[0].search_["draws"] == "ends" and runs[0].search_["local_search"] == "pairs"
    assert runs[0].search_["draw_lams"] == {"0.125": [0.0, 1.0], "0.25": [0.0, 1.0]}


def test_an_iterative_fitter_is_searched_point_by_point(wisc):
    X, y = wisc
    model = QBoostClassifier(
        strategy="iterative", window=4, random_state=0, sampler_params=FAST_NEAL,
        **{**SMALL_AUTO, "lam_grid": [0.0, 0.2], "max_weight_grid": [0.25], "cv": 2},
    ).fit(X, y)
    assert model.search_["draws"] is None and model.search_["draw_lams"] is None
    assert model.search_["sampler_calls"] == 2 * 2 * 2  # 2 folds x 2 points x 2 windows of 4 learners
    assert model.search_plan()["search_calls"] is None
    assert model.lam_ in (0.0, 0.2) and model.n_qubos_ == 2


def test_local_search_none_keeps_the_samplers_answers(wisc):
    X, y = wisc
    model = QBoostClassifier(random_state=0, sampler_params=FAST_NEAL, local_search="none", **SMALL_AUTO).fit(X, y)
    assert model.search_["local_search"] == "none"
    assert "refined_energy" not in model.sampleset_summary_
    assert model.best_energy_ == pytest.approx(model.sampleset_summary_["energies"].min(), abs=1e-12)


def test_run_tasks_stops_the_other_tasks_on_ctrl_c():
    # Events, not delays: the interrupted task raises once the other task runs; the other task cannot
    # finish unless it is stopped and then released, so run_tasks returning while it has not finished
    # means run_tasks did not wait for it (were it to wait, it would hang until the 60 s safety timeouts).
    started, stopped_seen, released, finished = (threading.Event() for _ in range(4))
    seen = {}

    def interrupted(stop):
        assert started.wait(60), "the other task never started"
        raise KeyboardInterrupt

    def waiting(stop):
        started.set()
        seen["stopped"] = stop.wait(60)  # a sampler's interrupt_function watches the same event
        stopped_seen.set()
        released.wait(60)
        finished.set()
        return "done"

    with pytest.raises(KeyboardInterrupt):
        run_tasks([interrupted, waiting], n_jobs=2)
    assert not finished.is_set()  # did not wait for the other task
    released.set()
    assert stopped_seen.wait(60) and seen["stopped"] is True  # ... which was told to stop
    assert finished.wait(60)
    assert run_tasks([lambda stop: 1, lambda stop: 2, lambda stop: 3], n_jobs=2) == [1, 2, 3]
    assert threading.active_count() < 20
