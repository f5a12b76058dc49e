"""Conformance checks for plugin authors (in the spirit of dimod's and scikit-learn's kits).

Run them in your plugin's test suite::

    from qboost_exp.domain.testing import check_sampler, check_weak_learner_set

    def test_my_sampler():
        check_sampler(MySampler())

    def test_my_learners():
        check_weak_learner_set(MyLearnerSet(n=10))

Each function raises ``AssertionError`` with a message that says which rule
was broken, and returns nothing when the plugin conforms. The sampler rules
that dimod states for every sampler are checked with dimod's own kit
(:mod:`dimod.testing`); the rest are QBoost's.
"""

from __future__ import annotations

import copy
from typing import Any

import dimod
import dimod.testing
import numpy as np
from sklearn.datasets import make_classification

from ._qubo import PackedPredictions, build_bqm, gram_statistics


def _small_qboost_bqm(n_learners: int = 6, seed: int = 0) -> dimod.BinaryQuadraticModel:
    rng = np.random.default_rng(seed)
    y = rng.choice([-1, 1], size=40)
    h = np.where(rng.random((40, n_learners)) < 0.7, y[:, None], -y[:, None])
    bqm, _ = build_bqm(gram_statistics(PackedPredictions.from_rows(h.T, 40), y), penalty=0.01)
    return bqm


def _dimod_rule(rule: str, check: Any, *args: Any) -> None:
    """Run one of dimod's asserts, saying which rule of this kit it checks."""
    try:
        check(*args)
    except AssertionError as exc:
        raise AssertionError(f"{rule} ({exc})" if str(exc) else rule) from exc


def check_sampler(sampler: Any, **sample_params: Any) -> None:
    """Check that ``sampler`` can solve QBoost QUBOs.

    Rules: it follows dimod's sampler API (a :class:`dimod.Sampler` with
    ``sample``, ``parameters`` and ``properties``; a composite also dimod's
    composite API); ``sample`` on a dense BINARY BQM with integer labels
    returns a non-empty :class:`dimod.SampleSet` over exactly the BQM's
    variables, in the BINARY vartype, whose energies are the BQM's energies of
    its samples, and leaves the BQM unchanged; a declared ``seed`` parameter
    makes results repeat; and on a
    6-variable QBoost QUBO the best sample is within 0.05 of the true optimum
    (a sampler that cannot get near an optimum that small is of no use here).

    Parameters
    ----------
    sampler : dimod.Sampler
    **sample_params
        Extra keyword arguments for ``sample`` (e.g. ``num_reads``).
    """
    _dimod_rule("the sampler does not follow dimod's Sampler API", dimod.testing.assert_sampler_api, sampler)
    if isinstance(sampler, dimod.Composite):
        _dimod_rule("the composite does not follow dimod's Composite API", dimod.testing.assert_composite_api, sampler)
    bqm = _small_qboost_bqm()
    original = copy.deepcopy(bqm)
    params = dict(sample_params)
    if "seed" in sampler.parameters:
        params.setdefault("seed", 1234)
    result = sampler.sample(bqm, **params)
    assert isinstance(result, dimod.SampleSet), f"sample() returned {type(result).__name__}, not a dimod.SampleSet"
    assert len(result) > 0, "sample() returned an empty SampleSet"
    assert set(result.variables) == set(bqm.variables), f"SampleSet variables {sorted(result.variables)} differ from the BQM's {sorted(bqm.variables)}"
    assert result.vartype is dimod.BINARY, f"SampleSet vartype is {result.vartype.name}; a BINARY BQM needs BINARY samples"
    _dimod_rule("SampleSet energies are not the BQM's energies of its samples", dimod.testing.assert_sampleset_energies, result, bqm, 6)
    _dimod_rule("sample() modified the BQM it was given", dimod.testing.assert_bqm_almost_equal, bqm, original)
    optimum = dimod.ExactSolver().sample(bqm).first.energy
    assert result.first.energy <= optimum + 0.05, f"best energy {result.first.energy:.4f} is far from the optimum {optimum:.4f}"
    if "seed" in sampler.parameters:
        again = sampler.sample(bqm, **params)
        assert np.array_equal(again.record.sample, result.record.sample), "the same seed gave different samples"


def check_weak_learner_set(learner_set: Any) -> None:
    """Check that ``learner_set`` follows the :class:`~qboost_exp.WeakLearnerSet` contract.

    Rules: ``fit_candidates(X, y, random_state)`` with labels in {-1, +1}
    returns a non-empty list of fitted objects whose ``predict(X)`` gives one
    value in {-1, +1} per row; the same seed gives the same predictions; it
    does not modify ``X`` or ``y``; and the set object itself is unchanged by
    fitting (constructors store parameters, fitting keeps no state on the set).
    """
    assert callable(getattr(learner_set, "fit_candidates", None)), f"{type(learner_set).__name__} has no fit_candidates method"
    X, y01 = make_classification(n_samples=120, n_features=6, n_informative=3, random_state=0)
    y = np.where(y01 == 1, 1, -1)
    X_before, y_before = X.copy(), y.copy()
    state_before = copy.deepcopy(vars(learner_set)) if hasattr(learner_set, "__dict__") else None

    def outputs(seed: int) -> np.ndarray:
        learners = learner_set.fit_candidates(X, y, np.random.RandomState(seed))
        assert isinstance(learners, list) and learners, "fit_candidates must return a non-empty list"
        columns = []
        for i, learner in enumerate(learners):
            h = np.asarray(learner.predict(X))
            assert h.shape == (len(X),), f"learner {i}: predict returned shape {h.shape}, expected ({len(X)},)"
            assert np.all((h == 1) | (h == -1)), f"learner {i}: predict must return only -1 and +1, got {sorted(set(h.tolist()))[:5]}"
            columns.append(h)
        return np.column_stack(columns)

    first = outputs(7)
    np.testing.assert_array_equal(first, outputs(7), err_msg="the same random_state gave different candidates")
    np.testing.assert_array_equal(X, X_before, err_msg="fit_candidates modified X")
    np.testing.assert_array_equal(y, y_before, err_msg="fit_candidates modified y")
    if state_before is not None:
        assert set(vars(learner_set)) == set(state_before), "fit_candidates stored state on the set object; keep it stateless"
