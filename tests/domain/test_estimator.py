"""QBoostClassifier as a scikit-learn estimator."""

from __future__ import annotations

import pickle
from numbers import Integral

import dimod
import numpy as np
import pytest
from sklearn.base import is_classifier
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import KFold, train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from qboost_exp import ConfigError, CredentialsError, QBoostClassifier, SamplerError
from qboost_exp.domain.qboost import validate_parameter
from qboost_exp.domain._qubo import qboost_objective
from qboost_exp.domain._search import GridPoint, choose
from qboost_exp._sklearn_private import InvalidParameterError
from qboost_exp.domain.weak_learners import AdaBoostLearners, Estimators, SubspaceLearner, Trees, invalid_parameter

from domain_stubs import FAST_NEAL, FixedLearnerSet

# A cheap model for tests that are not about the defaults: 20 AdaBoost trees, fixed λ and largest weight.
SMALL = dict(weak_learners={"name": "adaboost", "params": {"n_estimators": 20}}, lam=0.05, max_weight=1 / 8, sampler_params=FAST_NEAL)


def expected_failed_checks(estimator):
    # Every scikit-learn check passes; a check that cannot would be listed here
    # with its reason (scikit-learn >= 1.6 takes this instead of the old
    # `_xfail_checks` tag).
    return {}


@parametrize_with_checks(
    [
        # the auto search (λ and the largest weight by CV), kept small
        QBoostClassifier(random_state=0, sampler_params=FAST_NEAL, weak_learners={"name": "adaboost", "params": {"n_estimators": 10}},
                         lam_grid=[0.0, 0.1], max_weight_grid=[0.125, 0.25], cv=2),
        # the classical refit, fixed settings
        QBoostClassifier(random_state=0, sampler_params=FAST_NEAL, lam=0.05, max_weight=0.125, refit="logistic"),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def dense_outputs(model, X):
    """Every candidate's outputs, from the fitted model's own candidates (selected ones only are kept)."""
    return np.column_stack([np.asarray(e.predict(np.asarray(X)), dtype=float) for e in model.estimators_])


def test_defaults_are_the_documented_ones():
    params = QBoostClassifier().get_params()
    assert params["weak_learners"] == "adaboost" and params["sampler"] == "neal"
    assert params["lam"] == "auto" and params["max_weight"] == "auto" and params["refit"] == "none"
    assert params["strategy"] == "one_shot" and params["cv_rule"] == "one_se"
    assert AdaBoostLearners().n_estimators == 60 and AdaBoostLearners().max_depth == 2


def test_fit_exposes_the_selection_and_its_objective(wisc):
    X_train, X_test, y_train, y_test = wisc
    model = QBoostClassifier(random_state=0, **SMALL).fit(X_train, y_train)
    assert model.n_candidates_ == 20 and model.weights_.shape == (20,)
    np.testing.assert_array_equal(model.selected_indices_, np.flatnonzero(model.weights_))
    assert 1 <= len(model.selected_indices_) < 20
    np.testing.assert_allclose(model.estimator_weights_, 1 / 8)  # weight_bits=1: {0, max_weight}
    assert model.max_weight_ == 1 / 8 and model.lam_ == 0.05 and model.penalty_ == pytest.approx(0.05 / 8)
    assert model.n_qubo_variables_ == 20 and model.n_qubo_interactions_ == 20 * 19 // 2 and model.n_qubos_ == 1
    assert model.score(X_test, y_test) > 0.9
    assert model.feature_names_in_[0] == "mean radius" and model.n_features_in_ == 30
    assert model.sampler_info_["sampler"] == "neal" and model.sampler_info_["num_reads"] == 20
    # the reported energy is the objective of the selected weights, evaluated directly
    y_pm = np.where(y_train == model.classes_[1], 1, -1)
    h = dense_outputs(model, X_train)
    direct = qboost_objective(model.estimator_weights_, h, y_pm, model.penalty_)
    assert model.best_energy_ == pytest.approx(direct, abs=1e-9)
    # the local search starts from the sampler's answers and never ends worse than their best
    assert model.sampleset_summary_["refined_energy"] == pytest.approx(model.best_energy_, abs=1e-9)
    assert model.sampleset_summary_["energies"].min() >= model.best_energy_ - 1e-9


def test_predict_is_the_argmax_of_predict_proba_on_every_row(wisc):
    X_train, X_test, y_train, _ = wisc
    labels = np.where(y_train == 1, "benign", "malignant")
    for extra in ({}, {"refit": "least_squares"}, {"refit": "logistic"}, {"weight_bits": 2}):
        model = QBoostClassifier(random_state=1, **{**SMALL, **extra}).fit(X_train, labels)
        proba = model.predict_proba(X_test)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_array_equal(model.predict(X_test), model.classes_[np.argmax(proba, axis=1)])
        decision = model.decision_function(X_test)
        np.testing.assert_array_equal(model.predict(X_test), np.where(decision > 0, "malignant", "benign"))
        order = np.argsort(decision, kind="stable")
        assert np.all(np.diff(proba[order, 1]) >= 0)  # probabilities rank as the decision does


def test_ties_go_to_the_class_of_the_tied_training_samples_not_classes_0():
    # Two learners that disagree on rows 0..9 (vote 0 there); those rows are mostly "b" = classes_[1].
    n = 40
    h = np.ones((n, 2))
    h[:10, 1] = -1
    h[20:, :] = -1
    labels = np.array(["b"] * 8 + ["a"] * 2 + ["b"] * 10 + ["a"] * 20)
    X = np.arange(n, dtype=float)[:, None]
    model = QBoostClassifier(weak_learners=FixedLearnerSet(h), sampler="exact", lam=0.0, max_weight=0.5).fit(X, labels)
    assert len(model.selected_indices_) == 2 and model.intercept_ == pytest.approx(+0.25)  # +c/2, c = 0.5
    tied = model.decision_function(X[:10])
    np.testing.assert_allclose(tied, 0.25)
    assert list(model.predict(X[:10])) == ["b"] * 10
    np.testing.assert_array_equal(model.predict(X), model.classes_[np.argmax(model.predict_proba(X), axis=1)])
    # the intercept moves no vote that is not a tie
    np.testing.assert_array_equal(model.predict(X[10:]), np.where(h[10:].sum(axis=1) > 0, "b", "a"))


def test_an_empty_model_predicts_the_majority_class_and_warns():
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.warns(UserWarning, match="selected no weak learner.*empty model.*predicts 1"):
        model = QBoostClassifier(random_state=0, **{**SMALL, "lam": 50.0}).fit(X, y)
    assert len(model.estimators_) == 0
    assert set(model.predict(X)) == {1}  # 357 of 569 samples are class 1


def test_refit_keeps_the_annealers_selection_and_fits_continuous_weights(wisc):
    X_train, X_test, y_train, y_test = wisc
    pure = QBoostClassifier(random_state=0, **SMALL).fit(X_train, y_train)
    for kind in ("least_squares", "logistic"):
        refitted = QBoostClassifier(random_state=0, refit=kind, **SMALL).fit(X_train, y_train)
        np.testing.assert_array_equal(refitted.selected_indices_, pure.selected_indices_)
        assert len(set(np.round(refitted.estimator_weights_, 9))) > 1  # no longer one fixed-point level
        assert refitted.intercept_ != pure.intercept_
        assert refitted.score(X_test, y_test) > 0.9


def test_auto_search_chooses_lambda_and_largest_weight_on_training_data_only(wisc):
    X_train, _, y_train, _ = wisc
    grid_lam, grid_w = [0.0, 0.1, 50.0], [0.0625, 0.25]
    model = QBoostClassifier(
        weak_learners={"name": "adaboost", "params": {"n_estimators": 20}}, lam_grid=grid_lam, max_weight_grid=grid_w,
        cv=3, cv_rule="best", random_state=0, sampler_params=FAST_NEAL,
    ).fit(X_train, y_train)
    search = model.search_
    assert search["split_scores"].shape == (3, 6) and search["split_selected"].shape == (3, 6)
    np.testing.assert_allclose(search["mean_score"], search["split_scores"].mean(axis=0))
    chosen = search["chosen"]
    assert search["mean_score"][chosen] == search["mean_score"].max()
    assert (model.lam_, model.max_weight_) == (search["lam"][chosen], search["max_weight"][chosen])
    # lam=50 selects nothing: the majority rate, never chosen
    empty = [i for i, lam in enumerate(search["lam"]) if lam == 50.0]
    assert np.all(search["mean_selected"][empty] == 0) and chosen not in empty
    assert model.timings_["lambda_search"] > 0


def test_one_standard_error_rule_takes_the_sparsest_point_near_the_best():
    grid = [GridPoint(0.0, 0.1), GridPoint(0.1, 0.1), GridPoint(0.2, 0.1)]
    scores = np.array([[0.95, 0.95, 0.80], [0.97, 0.965, 0.82], [0.96, 0.955, 0.81]])
    selected = np.array([[30, 10, 2], [30, 11, 2], [30, 9, 2]])
    assert choose(scores, selected, grid, "best") == 0
    # best mean 0.96 with standard error 0.01 / sqrt(3) = 0.0058: point 1 (mean 0.9567) is within it and
    # far sparser; point 2 (0.81) is not
    assert choose(scores, selected, grid, "one_se") == 1
    scores[:, 1] -= 0.01
    assert choose(scores, selected, grid, "one_se") == 0


def test_dwave_max_weight_is_one_over_m(wisc):
    X_train, _, y_train, _ = wisc
    model = QBoostClassifier(random_state=0, **{**SMALL, "max_weight": "1/M", "lam": 0.1}).fit(X_train, y_train)
    assert model.max_weight_ == pytest.approx(1 / 20)
    np.testing.assert_allclose(model.estimator_weights_, 1 / 20)


def test_two_weight_bits_use_four_levels(wisc):
    X_train, _, y_train, _ = wisc
    model = QBoostClassifier(random_state=0, **{**SMALL, "weight_bits": 2, "lam": 0.01}).fit(X_train, y_train)
    assert model.n_qubo_variables_ == 20 * 2 + 20  # two bits and one indicator per learner
    levels = model.weights_ / (model.max_weight_ / 3)
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-9)
    assert set(np.round(levels).astype(int)) <= {0, 1, 2, 3}


def test_fit_does_not_change_the_callers_splitter_or_parameters(wisc):
    X_train, _, y_train, _ = wisc
    splitter = KFold(n_splits=2, shuffle=True)
    model = QBoostClassifier(cv=splitter, lam_grid=[0.0, 0.1], max_weight_grid=[0.125], random_state=0,
                             weak_learners={"name": "adaboost", "params": {"n_estimators": 10}}, sampler_params=FAST_NEAL)
    before = model.get_params(deep=False)
    model.fit(X_train, y_train)
    assert splitter.random_state is None
    assert model.get_params(deep=False) == before


def test_subspace_learner_is_a_classifier_to_scikit_learn():
    assert is_classifier(SubspaceLearner(None, [0]))


def test_seeded_fits_repeat_exactly(wisc):
    X_train, X_test, y_train, _ = wisc
    params = dict(SMALL, weak_learners=Trees(n_estimators=20), random_state=3)
    a = QBoostClassifier(**params).fit(X_train, y_train)
    b = QBoostClassifier(**params).fit(X_train, y_train)
    np.testing.assert_array_equal(a.selected_indices_, b.selected_indices_)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_iterative_qboost_trains_a_dictionary_ten_times_the_window(wisc):
    X_train, X_test, y_train, y_test = wisc
    model = QBoostClassifier(
        weak_learners=Trees(n_estimators=100, max_depth=2), strategy="iterative", window=10,
        # 10 learners of weight 1/32 reach a margin of 0.31 only: later windows must add to the first
        lam=0.01, max_weight=1 / 32, random_state=0, sampler_params=FAST_NEAL,
    ).fit(X_train, y_train)
    assert model.n_candidates_ == 100 and model.n_qubos_ == 10 and model.n_qubo_variables_ == 10
    assert [r["window"] for r in model.rounds_] == [[i, i + 10] for i in range(0, 100, 10)]
    windows_used = {i // 10 for i in model.selected_indices_}
    assert len(windows_used) >= 3  # learners from several windows concatenated
    assert model.score(X_test, y_test) > 0.9
    assert model.best_energy_ == pytest.approx(model.rounds_[-1]["objective"], abs=1e-9)


def test_iterative_early_stopping_on_a_validation_split(wisc):
    X_train, _, y_train, _ = wisc
    model = QBoostClassifier(
        weak_learners=Trees(n_estimators=40), strategy="iterative", window=10, max_rounds=40, n_iter_no_change=2,
        lam=0.05, max_weight=0.125, random_state=0, sampler_params=FAST_NEAL,
    ).fit(X_train, y_train)
    assert len(model.rounds_) < 40  # stopped once the validation objective stalled for 2 rounds
    best = min(r["objective"] for r in model.rounds_)
    assert any(r["objective"] == best and r["selected"] == len(model.selected_indices_) for r in model.rounds_)


def test_window_defaults_to_what_the_sampler_takes(wisc):
    X_train, _, y_train, _ = wisc
    model = QBoostClassifier(
        weak_learners=Trees(n_estimators=30), sampler="exact", strategy="iterative", weight_bits=2, lam=0.05, max_weight=0.25, random_state=0,
    ).fit(X_train, y_train)
    assert model.n_qubo_variables_ <= 24 and model.n_qubos_ == 4  # 24 variables / 3 per learner = windows of 8


def test_one_shot_larger_than_the_sampler_takes_says_use_iterative(wisc):
    X_train, _, y_train, _ = wisc
    with pytest.raises(SamplerError, match=r"at most 24 variables.*needs 30.*qubo=iterative: windows of 24"):
        QBoostClassifier(weak_learners="stumps", sampler="exact", lam=0.05, max_weight=0.25).fit(X_train, y_train)


@pytest.mark.parametrize(
    "X,y,message",
    [
        ([[0.0, np.nan], [1.0, 2.0]], [0, 1], "NaN"),
        ([[0.0, np.inf], [1.0, 2.0]], [0, 1], "infinity"),
        ([[0.0, 1.0], [1.0, 2.0]], [1, 1], "only one class"),
        ([[0.0], [1.0], [2.0]], ["a", "b", "c"], "OneVsRestClassifier"),
    ],
)
def test_bad_training_input_gets_scikit_learn_errors(X, y, message):
    with pytest.raises(ValueError, match=message):
        QBoostClassifier(**SMALL).fit(np.array(X), np.array(y))


def test_wrong_feature_count_at_predict(wisc):
    X_train, _, y_train, _ = wisc
    model = QBoostClassifier(random_state=0, **SMALL).fit(X_train.to_numpy(), y_train)
    with pytest.raises(ValueError, match="has 29 features, but QBoostClassifier is expecting 30"):
        model.predict(X_train.to_numpy()[:, :29])


def test_one_vs_rest_handles_three_classes():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    model = OneVsRestClassifier(QBoostClassifier(random_state=0, **SMALL)).fit(X_train, y_train)
    assert len(model.estimators_) == 3
    assert model.score(X_test, y_test) > 0.85


@pytest.mark.parametrize(
    "params,message",
    [
        # scikit-learn's declared constraints: the message names the parameter and what it must be
        ({"lam": -1}, r"The 'lam' parameter of QBoostClassifier must be a float in the range \[0.0, inf\) or a str among \{'auto'\}. Got -1 instead."),
        ({"lam": "often"}, r"The 'lam' parameter .* Got 'often' instead"),
        ({"lam": float("inf")}, r"The 'lam' parameter .* Got inf instead"),
        ({"max_weight": 0}, r"The 'max_weight' parameter of QBoostClassifier must be a float in the range \(0.0, inf\) or a str among .*'1/M'.* Got 0 instead"),
        ({"max_weight": "1/N"}, r"Got '1/N' instead"),
        ({"weight_bits": 0}, r"The 'weight_bits' parameter of QBoostClassifier must be an int in the range \[1, 8\]. Got 0 instead."),
        ({"refit": "ridge"}, r"The 'refit' parameter of QBoostClassifier must be a str among .*'least_squares'.* Got 'ridge' instead"),
        ({"strategy": "greedy"}, r"The 'strategy' parameter .*'iterative'.* Got 'greedy' instead"),
        ({"window": 0}, r"The 'window' parameter of QBoostClassifier must be an int in the range \[1, inf\) or None. Got 0 instead."),
        ({"validation_fraction": 1.0}, r"The 'validation_fraction' parameter .* \(0.0, 1.0\). Got 1.0 instead"),
        ({"cv": 1}, r"The 'cv' parameter of QBoostClassifier must be an int in the range \[2, inf\)"),
        ({"sampler_params": [("num_reads", 3)]}, r"The 'sampler_params' parameter"),
        ({"sampler": 3}, r"The 'sampler' parameter of QBoostClassifier must be an instance of 'str' or an object implementing 'sample'"),
        ({"weak_learners": 3}, r"The 'weak_learners' parameter .*an object implementing 'fit_candidates'"),
        # the grids: each element checked as lam / max_weight are
        ({"lam_grid": []}, r"The 'lam_grid' parameter of QBoostClassifier must be None or a non-empty sequence, each element a float in the range \[0.0, inf\). Got \[\] instead."),
        ({"max_weight_grid": [0.1, -1]}, r"The 'max_weight_grid' parameter .* each element a float in the range \(0.0, inf\). Got \[0.1, -1\] instead."),
    ],
)
def test_invalid_parameters_raise_scikit_learns_error_naming_them(params, message):
    X, y = np.zeros((6, 2)), np.array([0, 1] * 3)
    with pytest.raises(InvalidParameterError, match=message):  # before any work: no data set needed
        QBoostClassifier(**{**SMALL, **params}).fit(X, y)


def test_validate_parameter_checks_one_parameter_under_the_name_given():
    validate_parameter("max_weight", "1/M")
    validate_parameter("lam_grid", None)
    with pytest.raises(InvalidParameterError, match=r"^The 'qubo.max_weight' parameter of the config must be a float"):
        validate_parameter("max_weight", 0, key="qubo.max_weight", caller_name="the config")
    with pytest.raises(InvalidParameterError, match=r"^The 'lambda_grid' parameter .* each element"):
        validate_parameter("lam_grid", [0.1, -0.1], key="lambda_grid")


def test_scikit_learn_parameter_validation_still_works():
    """Fails when scikit-learn changes the private helpers qboost_exp._sklearn_private imports."""
    from sklearn.tree import DecisionTreeClassifier

    from qboost_exp import _sklearn_private as private

    assert issubclass(private.InvalidParameterError, ValueError) and issubclass(private.InvalidParameterError, TypeError)
    constraints = {"n": [private.Interval(Integral, 1, None, closed="left")], "kind": [private.StrOptions({"a"})],
                   "obj": [private.HasMethods(["fit"]), None], "opt": [private.Options(int, {1, 2})]}
    private.validate_parameter_constraints(constraints, {"n": 3, "kind": "a", "obj": None, "opt": 2}, caller_name="f")
    with pytest.raises(private.InvalidParameterError, match=r"^The 'n' parameter of f must be an int in the range \[1, inf\). Got 0 instead.$"):
        private.validate_parameter_constraints(constraints, {"n": 0}, caller_name="f")
    assert private.first_invalid_parameter(constraints, {"n": 1, "kind": "b"}, "f") == (
        "kind", "The 'kind' parameter of f must be a str among {'a'}. Got 'b' instead.")
    assert private.first_invalid_parameter(constraints, {"n": 1, "unknown": 0}, "f") is None
    # the weak-learner sets declare scikit-learn's own constraints for what they pass through
    assert private.estimator_constraints(DecisionTreeClassifier, "max_depth")
    # BaseEstimator._validate_params reads _parameter_constraints (QBoostClassifier.fit relies on it)
    with pytest.raises(private.InvalidParameterError, match="'weight_bits' parameter of QBoostClassifier"):
        QBoostClassifier(weight_bits=9)._validate_params()


@pytest.mark.parametrize(
    "params,message",
    [
        ({"sampler": "nope"}, "unknown sampler 'nope'; available: exact, hybrid, mock_qpu, neal, qpu, steepest, tabu"),
        ({"weak_learners": "nope"}, "unknown weak-learner set 'nope'; available: adaboost, estimators, mixed, stumps, trees"),
        ({"sampler_params": {"num_sweep": 3}}, "does not take the parameter.*num_sweep.*num_sweeps"),
        ({"sampler_params": {"num_reads": 0}}, r"sampler.params.num_reads must be an integer >= 1, got 0"),
        ({"sampler": "tabu", "sampler_params": {"timeout": -5}}, r"sampler=tabu: sampler.params.timeout must be a number of milliseconds > 0 \(per read\), got -5"),
        ({"weak_learners": Trees(max_depth=0)}, r"weak_learners.params.max_depth=0 is invalid: The 'max_depth' parameter of Trees must be an int in the range \[1, inf\) or None. Got 0 instead."),
        ({"weak_learners": Trees(max_depth="abc")}, r"weak_learners.params.max_depth='abc' is invalid"),
        ({"weak_learners": Trees(max_features=0.0)}, r"weak_learners.params.max_features=0.0 is invalid: The 'max_features' parameter of Trees"),
        ({"weak_learners": AdaBoostLearners(n_estimators=0)}, r"weak_learners.params.n_estimators=0 is invalid: The 'n_estimators' parameter of AdaBoostLearners"),
        ({"weak_learners": {"name": "adaboost", "params": {"max_depth": -1}}}, r"weak_learners.params.max_depth=-1 is invalid"),
        ({"weak_learners": {"name": "mixed", "params": {"members": [{"name": "trees", "params": {"n_estimators": 0}}]}}},
         r"weak_learners.params.n_estimators=0 is invalid: The 'n_estimators' parameter of Trees"),
        ({"weak_learners": Estimators([DecisionTreeClassifier(max_depth=0)])}, r"weak-learner set Estimators\(.*\): The 'max_depth' parameter of DecisionTreeClassifier"),
    ],
)
def test_bad_plugin_options_get_clear_errors(wisc, params, message):
    X_train, _, y_train, _ = wisc
    with pytest.raises(ConfigError, match=message):
        QBoostClassifier(**{**SMALL, **params}).fit(X_train, y_train)


def test_weak_learner_sets_report_an_invalid_parameter_by_name():
    assert invalid_parameter(Trees()) is None and invalid_parameter(FixedLearnerSet(np.ones((2, 2)))) is None
    name, message = invalid_parameter(Trees(n_estimators=5, max_depth=0))
    assert name == "max_depth" and message.startswith("The 'max_depth' parameter of Trees must be")
    assert invalid_parameter(Trees(max_features=3)) is None and invalid_parameter(Trees(max_features=1.5))[0] == "max_features"
    assert invalid_parameter(AdaBoostLearners(learning_rate=0))[0] == "learning_rate"


@pytest.mark.parametrize("name", ["qpu", "hybrid"])
def test_cloud_samplers_without_token_stop_with_one_clear_message(no_dwave_credentials, wisc, name):
    X_train, _, y_train, _ = wisc
    with pytest.raises(CredentialsError) as info:
        QBoostClassifier(sampler=name).fit(X_train, y_train)
    text = str(info.value)
    assert f"sampler={name} needs a D-Wave Leap API token" in text
    assert "DWAVE_API_TOKEN" in text and "dwave config create" in text
    assert "sampler=mock_qpu" in text and "sampler=neal" in text


def test_mock_qpu_runs_the_whole_qpu_path_with_a_clique_embedding(wisc):
    X_train, X_test, y_train, y_test = wisc
    model = QBoostClassifier(random_state=0, sampler="mock_qpu", **{**SMALL, "sampler_params": {"num_reads": 20}}).fit(X_train, y_train)
    info = model.sampler_info_
    assert info["sampler"] == "mock_qpu" and info["num_reads"] == 20
    assert 0.0 <= info["chain_break_fraction"] <= 1.0
    assert info["max_chain_length"] >= 2  # a dense 20-variable QUBO needs chains on Pegasus
    assert info["qubits"] > 20 and info["chain_strength"] > 0
    assert info["timing"]["qpu_access_time"] > 0
    assert model.score(X_test, y_test) > 0.85


def test_the_mock_qpu_embeds_and_runs_its_largest_clique():
    from qboost_exp.domain.samplers import mock_qpu

    sampler = mock_qpu()
    n = sampler.largest_clique_size
    assert n == 180  # Pegasus P16 with every qubit working
    rng = np.random.default_rng(0)
    bqm = dimod.BinaryQuadraticModel(np.triu(rng.normal(size=(n, n))), "BINARY")
    sampleset = sampler.sample(bqm, num_reads=2, seed=1)
    assert len(sampleset.variables) == n and len(sampleset.record) >= 1
    assert sampler.embedding(n) is sampler.embedding(n)  # cached per solver and size
    with pytest.raises(SamplerError, match=r"181 variables does not fit the solver's largest clique embedding \(180 variables\).*qubo=iterative"):
        sampler.sample(dimod.BinaryQuadraticModel(np.triu(rng.normal(size=(181, 181))), "BINARY"), num_reads=1)


def test_heuristic_embedding_stays_a_config_option():
    from dwave.system import EmbeddingComposite

    from qboost_exp.domain.samplers import mock_qpu

    assert isinstance(mock_qpu(embedding="heuristic"), EmbeddingComposite)
    with pytest.raises(ConfigError, match="sampler.init.embedding must be one of clique, heuristic, got 'fast'"):
        mock_qpu(embedding="fast")


class _FakeHybrid(dimod.Sampler):
    """Stands in for LeapHybridSampler: what it returns has the same info (timing, problem_id)."""

    parameters = {"time_limit": [], "label": []}
    properties: dict = {"category": "hybrid"}  # as Leap's hybrid solvers declare themselves

    def __init__(self, **config):
        pass

    def sample(self, bqm, time_limit=None, label=None):
        from dwave.samplers import SimulatedAnnealingSampler

        sampleset = SimulatedAnnealingSampler().sample(bqm, num_reads=5, seed=0)
        sampleset.info.update(timing={"qpu_access_time": 12345, "run_time": 3000000}, problem_id="fake-hybrid", problem_label=label)
        return sampleset


@pytest.fixture
def cloud_stand_ins(monkeypatch):
    """DWaveSampler -> MockDWaveSampler and LeapHybridSampler -> a stand-in, with a token set: the
    qpu and hybrid factories then run their real code offline."""
    import dwave.system
    from dwave.system.testing import MockDWaveSampler

    monkeypatch.setenv("DWAVE_API_TOKEN", "test-token-not-used")
    monkeypatch.setattr(dwave.system, "DWaveSampler", lambda **config: MockDWaveSampler(topology_type="pegasus", topology_shape=[16]))
    monkeypatch.setattr(dwave.system, "LeapHybridSampler", _FakeHybrid)


@pytest.mark.parametrize("name", ["neal", "tabu", "steepest", "exact", "mock_qpu", "qpu", "hybrid"])
def test_a_model_from_every_builtin_sampler_pickles_and_predicts_the_same(cloud_stand_ins, wisc, name):
    X_train, X_test, y_train, _ = wisc
    params = {"neal": FAST_NEAL, "tabu": {"num_reads": 2, "timeout": 20}, "qpu": {"num_reads": 10}, "mock_qpu": {"num_reads": 10}, "hybrid": {}}
    learners = {"name": "adaboost", "params": {"n_estimators": 12 if name == "exact" else 20}}
    model = QBoostClassifier(sampler=name, weak_learners=learners, lam=0.05, max_weight=0.125, random_state=0, sampler_params=params.get(name)).fit(X_train, y_train)
    assert not hasattr(model, "sampleset_")  # no raw sampleset: Ocean objects do not unpickle
    model.sampler = name  # as the tracking code logs it: the live sampler is not part of the model
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X_test), model.predict_proba(X_test))
    if name == "hybrid":
        assert model.sampler_info_["problem_id"] == "fake-hybrid" and model.sampler_info_["timing"]["qpu_access_time"] == 12345
    if name in ("qpu", "mock_qpu"):
        assert model.sampler_info_["max_chain_length"] >= 2


def test_verbose_reports_sampling_progress_and_the_search(wisc, capsys, monkeypatch):
    from qboost_exp.domain import _sampler_call

    monkeypatch.setattr(_sampler_call._ReadProgress, "EVERY_SECONDS", 0.0)
    X_train, _, y_train, _ = wisc
    QBoostClassifier(
        weak_learners={"name": "adaboost", "params": {"n_estimators": 10}}, lam_grid=[0.0, 0.1], max_weight_grid=[0.125], cv=2,
        verbose=1, random_state=0, sampler_params={"num_reads": 4, "num_sweeps": 50},
    ).fit(X_train, y_train)
    out = capsys.readouterr().out
    assert "lambda search: 4 sampler calls (2 folds x 1 largest weight x 2 lambdas (the smallest and the largest)), then 1 for the final fit" in out
    assert "lambda search: split 1/2 done" in out and "lambda search: split 2/2 done" in out
    assert "sampling: 1/4 reads" in out and "sampling: 3/4 reads" in out and "ETA" in out


def test_batched_samplers_report_progress_and_keep_every_read(wisc, capsys, monkeypatch):
    from qboost_exp.domain import _sampler_call

    monkeypatch.setattr(_sampler_call._ReadProgress, "EVERY_SECONDS", 0.0)
    monkeypatch.setattr(_sampler_call, "_BATCH_SECONDS", 0.0)  # one read per batch
    X_train, _, y_train, _ = wisc
    model = QBoostClassifier(sampler="tabu", verbose=1, random_state=0, **{**SMALL, "sampler_params": {"num_reads": 3, "timeout": 10}}).fit(X_train, y_train)
    assert model.sampleset_summary_["num_reads"] == 3
    out = capsys.readouterr().out
    assert "sampling: 1/3 reads" in out and "sampling: 2/3 reads" in out


def test_every_seed_is_drawn_below_the_one_bound():
    from qboost_exp._seeds import MAX_SEED, draw_seed

    assert MAX_SEED == 2**31 - 1
    rng, same = np.random.RandomState(5), np.random.RandomState(5)
    seeds = [draw_seed(rng) for _ in range(100)]
    assert all(isinstance(s, int) and 0 <= s < MAX_SEED for s in seeds)
    assert seeds == [int(same.randint(MAX_SEED)) for _ in range(100)]  # the draws seeded runs have always made
