"""Samplers and weak-learner sets from outside the package, and the plugin conformance kit."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from qboost_exp.domain.plugins import available_samplers, available_weak_learner_sets, factory_defaults, make_sampler, make_weak_learner_set
from qboost_exp.domain.testing import check_sampler, check_weak_learner_set

from clirun import REPO, report_values, run_module

PLUGIN_PATH = REPO / "tests" / "support" / "plugin_example"


#: The kit checks that a seed repeats; tabu's default search ends at a time limit (20 ms a read), so
#: how far it got, and which sample it returns, depends on the machine's load. Bounded by restarts
#: instead (no time limit), the seeded search is the same every time.
KIT_PARAMS = {"tabu": {"timeout": None, "num_restarts": 20}}


@pytest.mark.parametrize("name", ["neal", "tabu", "steepest", "exact", "mock_qpu"])
def test_builtin_samplers_pass_the_kit(name):
    check_sampler(make_sampler(name), **KIT_PARAMS.get(name, {}))


@pytest.mark.parametrize(
    "name,params",
    [
        ("stumps", {}),
        ("trees", {"n_estimators": 5}),
        ("adaboost", {"n_estimators": 5}),
        ("estimators", {"estimators": [DecisionTreeClassifier(max_depth=2)]}),
        ("mixed", {"members": ["stumps", {"name": "trees", "params": {"n_estimators": 3}}, DecisionTreeClassifier(max_depth=1)]}),
    ],
)
def test_builtin_weak_learner_sets_pass_the_kit(name, params):
    check_weak_learner_set(make_weak_learner_set(name, **params))


def test_listing_plugins_and_their_options_imports_neither_dimod_nor_scikit_learn():
    # the CLI lists every registry at start-up (register_plugin_configs); only a factory used pays for its imports
    code = (
        "import sys\n"
        "from qboost_exp.domain.plugins import available_samplers, available_weak_learner_sets\n"
        "samplers, sets = available_samplers(), available_weak_learner_sets()\n"
        "assert {'neal', 'mock_qpu', 'qpu'} <= set(samplers) and {'adaboost', 'mixed'} <= set(sets), (samplers, sets)\n"
        "heavy = sorted(m for m in ('dimod', 'sklearn', 'dwave.samplers', 'dwave.system') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_factory_defaults_read_the_signatures_of_builtins_and_plugins():
    samplers, sets = available_samplers(), available_weak_learner_sets()
    assert factory_defaults(samplers["exact"]) == {"max_variables": 24}
    assert factory_defaults(samplers["mock_qpu"]) == {"topology_type": "pegasus", "topology_shape": [16], "embedding": "clique"}
    assert factory_defaults(samplers["neal"]) == {}
    assert factory_defaults(sets["trees"]) == {"n_estimators": 50, "max_depth": 2, "max_features": 0.5, "bootstrap": True}


def test_builtin_sampler_classes_can_be_imported_pickled_and_subclassed():
    from qboost_exp.domain.samplers import BoundedExactSolver, Neal, Steepest, Tabu

    for name, cls in (("neal", Neal), ("tabu", Tabu), ("steepest", Steepest), ("exact", BoundedExactSolver)):
        sampler = make_sampler(name)
        assert type(sampler) is cls
        assert type(pickle.loads(pickle.dumps(sampler))) is cls

    class FewSweeps(Neal):
        def sample(self, bqm, **parameters):
            return super().sample(bqm, **{"num_sweeps": 100, **parameters})

    check_sampler(FewSweeps(), num_reads=20)
    with pytest.raises(ValueError, match="sampler.params.num_sweeps must be an integer >= 1"):
        FewSweeps().validate_parameters({"num_sweeps": 0})


def test_the_old_builtin_dicts_still_work_with_a_deprecation_warning():
    import qboost_exp.domain.samplers
    import qboost_exp.domain.weak_learners
    from qboost_exp.domain.weak_learners import Trees

    with pytest.warns(DeprecationWarning, match="BUILTIN_SAMPLERS is deprecated"):
        samplers = qboost_exp.domain.samplers.BUILTIN_SAMPLERS
    assert samplers["neal"] is qboost_exp.domain.samplers.neal and set(samplers) == set(available_samplers())
    with pytest.warns(DeprecationWarning, match="BUILTIN_WEAK_LEARNER_SETS is deprecated"):
        assert qboost_exp.domain.weak_learners.BUILTIN_WEAK_LEARNER_SETS["trees"] is Trees


def test_kit_checks_the_sampler_api_with_dimods_own_asserts():
    class NotASampler:
        parameters: dict = {}
        properties: dict = {}

        def sample(self, bqm):
            raise AssertionError("never called")

    with pytest.raises(AssertionError, match="does not follow dimod's Sampler API.*must be a dimod Sampler"):
        check_sampler(NotASampler())


def test_kit_rejects_a_learner_that_predicts_zero_one():
    class ZeroOne:
        def fit_candidates(self, X, y, random_state):
            return [DecisionTreeClassifier(max_depth=1).fit(X, (y > 0).astype(int))]

    with pytest.raises(AssertionError, match="must return only -1 and \\+1"):
        check_weak_learner_set(ZeroOne())


def test_kit_rejects_a_sampler_with_wrong_energies():
    import dimod

    class Liar(dimod.Sampler):
        parameters: dict = {}
        properties: dict = {}

        def sample(self, bqm):
            ss = dimod.ExactSolver().sample(bqm)
            return dimod.SampleSet.from_samples(ss.record.sample, "BINARY", energy=ss.record.energy + 1.0, info={}) .relabel_variables(dict(enumerate(ss.variables)), inplace=False)

    with pytest.raises(AssertionError, match="energies are not the BQM's energies"):
        check_sampler(Liar())


def test_out_of_tree_plugin_is_discovered(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_PATH))
    import importlib

    importlib.invalidate_caches()
    assert "demo_descent" in available_samplers()
    assert "demo_pairs" in available_weak_learner_sets()
    check_sampler(make_sampler("demo_descent", restarts=20))
    check_weak_learner_set(make_weak_learner_set("demo_pairs", n_pairs=4))
    monkeypatch.delitem(sys.modules, "qboost_demo_plugin", raising=False)


def test_cli_runs_with_the_out_of_tree_plugin(tmp_path):
    env = {"PYTHONPATH": str(PLUGIN_PATH)}
    result = run_module(
        "qboost_exp", "sampler=demo_descent", "weak_learners=demo_pairs",
        "weak_learners.params.n_pairs=10", "sampler.init.restarts=30", cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["sampler"] == "demo_descent" and report["weak learners"] == "demo_pairs"
    assert report["candidates"] == "10"
    listing = run_module("qboost_exp", "weak_learners=nope", cwd=tmp_path, env=env)
    assert listing.returncode == 2  # a usage error: one line, the options that exist, plugins included
    assert listing.stderr.startswith("error: In 'config': Could not find 'weak_learners/nope'; available options in 'weak_learners': ")
    assert "demo_pairs" in listing.stderr and len(listing.stderr.strip().splitlines()) == 1


def test_cli_runs_a_baseline_plugin_over_the_runs_weak_learner_set(tmp_path):
    env = {"PYTHONPATH": str(PLUGIN_PATH)}
    result = run_module("qboost_exp", "model=demo_greedy", "model.k=3", "weak_learners=trees", "weak_learners.params.n_estimators=12",
                        cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    report = report_values(result.stdout)
    assert report["model"] == "demo_greedy (baseline: GreedyVote)"
    assert report["weak learners"] == "trees" and report["candidates"] == "12" and report["selected"] == "3"


def test_a_broken_plugin_fails_only_when_selected(tmp_path):
    dist = tmp_path / "broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[qboost_exp.samplers]\nbroken = no_such_module:make\n")
    env = {"PYTHONPATH": str(tmp_path)}
    fine = run_module("qboost_exp", "sampler.params.num_reads=10", cwd=tmp_path, env=env)
    assert fine.returncode == 0, fine.stderr
    broken = run_module("qboost_exp", "sampler=broken", cwd=tmp_path, env=env)
    assert broken.returncode == 2
    assert "plugin 'broken' = 'no_such_module:make' (from package broken) failed to load" in broken.stderr


@pytest.mark.parametrize("old, new", sorted(__import__("qboost_exp._moved", fromlist=["MOVED"]).MOVED.items()))
def test_moved_modules_still_import_with_a_deprecation_warning(old, new):
    code = (
        "import importlib, sys, warnings\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        f"new = importlib.import_module({new!r})\n"
        "try:\n"
        f"    importlib.import_module({old!r})\n"
        "except DeprecationWarning as exc:\n"
        "    print('warned:', exc)\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        f"print(importlib.import_module({old!r}) is new, sys.modules[{old!r}] is new, new.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [f"warned: {old} moved to {new}; the old name goes away in the next release", f"True True {new}"]


def test_a_model_pickled_before_the_move_still_loads(tmp_path):
    import pickle

    from qboost_exp import QBoostClassifier

    X, y = np.array([[0.0], [1.0], [2.0], [3.0]] * 5), np.array([0, 0, 1, 1] * 5)
    model = QBoostClassifier(weak_learners={"name": "trees", "params": {"n_estimators": 4}}, lam=0.0, max_weight=0.5, random_state=0).fit(X, y)
    # What an older release wrote: the class under its old module name.
    # Protocol 2 names classes as text lines (GLOBAL), so the old name can be written in place of the new.
    blob = pickle.dumps(model, protocol=2).replace(b"qboost_exp.domain.qboost\n", b"qboost_exp._estimator\n")
    assert b"qboost_exp._estimator" in blob
    with pytest.warns(DeprecationWarning, match="qboost_exp._estimator moved to qboost_exp.domain.qboost"):
        loaded = pickle.loads(blob)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_baseline_plugin_is_a_registry_entry_that_votes_like_qboost(monkeypatch):
    from sklearn.datasets import load_breast_cancer

    from qboost_exp import ConfigError
    from qboost_exp.domain.baselines import make_baseline
    from qboost_exp.domain.compiled import compile_model
    from qboost_exp.domain.plugins import available_baselines, uses_dictionary

    monkeypatch.syspath_prepend(str(PLUGIN_PATH))
    assert {"lasso", "l1_logistic", "adaboost", "gradient_boosting", "demo_greedy"} <= set(available_baselines())
    assert uses_dictionary("demo_greedy") and uses_dictionary("lasso") and not uses_dictionary("adaboost")
    X, y = load_breast_cancer(return_X_y=True)
    model = make_baseline("demo_greedy", weak_learners={"name": "trees", "params": {"n_estimators": 20}}, k=4, random_state=0)
    assert model.random_state == 0 and model.k == 4
    model.fit(X, y)
    assert len(model.estimators_) == 4 and model.n_candidates_ == 20 and model.score(X, y) > 0.9
    np.testing.assert_array_equal(compile_model(model).predict_proba(X), model.predict_proba(X))
    with pytest.raises(ConfigError, match=r"^baseline 'demo_greedy': bad options .*unexpected keyword argument 'kk'"):
        make_baseline("demo_greedy", kk=3)
