"""QBoostClassifier as a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import StratifiedShuffleSplit, train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from qboost_exp import ConfigError, CredentialsError, QBoostClassifier
from qboost_exp.weak_learners import Trees

from conftest import FAST_NEAL


def expected_failed_checks(estimator):
    # Every scikit-learn check passes; a check that cannot would be listed here
    # with its reason (scikit-learn >= 1.6 takes this instead of the old
    # `_xfail_checks` tag).
    return {}


@parametrize_with_checks([QBoostClassifier(random_state=0, sampler_params=FAST_NEAL)], expected_failed_checks=expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def wisc():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)


def test_fit_exposes_the_selection_and_scores_well(wisc):
    X_train, X_test, y_train, y_test = wisc
    model = QBoostClassifier(lam=0.01, random_state=0).fit(X_train, y_train)
    assert model.n_candidates_ == 30 and model.weights_.shape == (30,)
    np.testing.assert_array_equal(model.selected_indices_, np.flatnonzero(model.weights_))
    assert 1 <= len(model.selected_indices_) < 30
    assert len(model.estimators_) == len(model.selected_indices_)
    np.testing.assert_allclose(model.estimator_weights_, 1 / 30)  # weight_bits=1: {0, 1/M}
    assert model.n_qubo_variables_ == 30 and model.n_qubo_interactions_ == 30 * 29 // 2
    assert model.score(X_test, y_test) > 0.9
    assert model.feature_names_in_[0] == "mean radius" and model.n_features_in_ == 30
    assert set(model.timings_) >= {"weak_learners", "qubo_build", "sampling"}
    assert model.sampler_info_["sampler"] == "neal" and model.sampler_info_["num_reads"] == 100
    # the objective value at the chosen weights is the reported energy
    assert model.best_energy_ == pytest.approx(model.sampleset_.first.energy)


def test_string_labels_margin_and_probabilities(wisc):
    X_train, X_test, y_train, _ = wisc
    labels = np.where(y_train == 1, "benign", "malignant")
    model = QBoostClassifier(random_state=0, sampler_params=FAST_NEAL).fit(X_train, labels)
    assert list(model.classes_) == ["benign", "malignant"]
    margin = model.decision_function(X_test)
    np.testing.assert_array_equal(model.predict(X_test), np.where(margin > 0, "malignant", "benign"))
    proba = model.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    a, b = model.calibration_
    assert a > 0
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-(a * margin + b))))
    # probabilities rank samples as the margin does
    order = np.argsort(margin, kind="stable")
    assert np.all(np.diff(proba[order, 1]) >= 0)


def test_seeded_fits_repeat_exactly(wisc):
    X_train, X_test, y_train, _ = wisc
    params = dict(weak_learners=Trees(n_estimators=20), random_state=3, sampler_params=FAST_NEAL)
    a = QBoostClassifier(**params).fit(X_train, y_train)
    b = QBoostClassifier(**params).fit(X_train, y_train)
    np.testing.assert_array_equal(a.selected_indices_, b.selected_indices_)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_two_weight_bits_use_four_levels(wisc):
    X_train, _, y_train, _ = wisc
    model = QBoostClassifier(weight_bits=2, lam=0.001, random_state=0, sampler_params=FAST_NEAL).fit(X_train, y_train)
    assert model.n_qubo_variables_ == 30 * 2 + 30  # two bits and one indicator per learner
    levels = np.round(model.weights_ * 30 * 3).astype(int)  # c = 1 / (M * 3)
    np.testing.assert_allclose(model.weights_ * 90, levels, atol=1e-12)
    assert set(levels) <= {0, 1, 2, 3} and len(set(levels) - {0}) >= 1


def test_lambda_auto_uses_cross_validation_on_training_data_only(wisc):
    X_train, _, y_train, _ = wisc
    grid = [0.0, 0.01, 0.1, 10.0]
    model = QBoostClassifier(lam="auto", lam_grid=grid, cv=3, random_state=0, sampler_params=FAST_NEAL).fit(X_train, y_train)
    search = model.lam_search_
    assert search["split_scores"].shape == (3, 4)
    np.testing.assert_allclose(search["mean_score"], search["split_scores"].mean(axis=0))
    best = search["mean_score"].max()
    assert model.lam_ == max(l for l, s in zip(grid, search["mean_score"]) if s == best)
    # lam=10 selects nothing and scores the majority rate at best
    assert search["mean_score"][3] < search["mean_score"][:3].max()
    assert model.lam_ != 10.0 and model.timings_["lambda_search"] > 0


def test_lambda_on_a_single_validation_split(wisc):
    X_train, _, y_train, _ = wisc
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=0)
    model = QBoostClassifier(lam="auto", lam_grid=[0.001, 0.05], cv=splitter, random_state=0, sampler_params=FAST_NEAL).fit(X_train, y_train)
    assert model.lam_search_["split_scores"].shape == (1, 2)


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
        QBoostClassifier(sampler_params=FAST_NEAL).fit(np.array(X), np.array(y))


def test_wrong_feature_count_at_predict(wisc):
    X_train, _, y_train, _ = wisc
    model = QBoostClassifier(random_state=0, sampler_params=FAST_NEAL).fit(X_train.to_numpy(), y_train)
    with pytest.raises(ValueError, match="has 29 features, but QBoostClassifier is expecting 30"):
        model.predict(X_train.to_numpy()[:, :29])


def test_one_vs_rest_handles_three_classes():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    model = OneVsRestClassifier(QBoostClassifier(random_state=0, sampler_params=FAST_NEAL)).fit(X_train, y_train)
    assert len(model.estimators_) == 3
    assert model.score(X_test, y_test) > 0.85


@pytest.mark.parametrize(
    "params,message",
    [
        ({"lam": -1}, "lam must be a number >= 0 or 'auto', got -1"),
        ({"lam": "often"}, "got 'often'"),
        ({"weight_bits": 0}, "weight_bits must be an integer from 1 to 8"),
        ({"sampler": "nope"}, "unknown sampler 'nope'; available: exact, hybrid, mock_qpu, neal, qpu, steepest, tabu"),
        ({"weak_learners": "nope"}, "unknown weak-learner set 'nope'; available: adaboost, estimators, mixed, stumps, trees"),
        ({"sampler_params": {"num_sweep": 3}}, "does not take the parameter.*num_sweep.*num_sweeps"),
    ],
)
def test_bad_parameters_get_clear_errors(wisc, params, message):
    X_train, _, y_train, _ = wisc
    with pytest.raises(ConfigError, match=message):
        QBoostClassifier(**params).fit(X_train, y_train)


@pytest.mark.parametrize("name", ["qpu", "hybrid"])
def test_cloud_samplers_without_token_stop_with_one_clear_message(no_dwave_credentials, wisc, name):
    X_train, _, y_train, _ = wisc
    with pytest.raises(CredentialsError) as info:
        QBoostClassifier(sampler=name).fit(X_train, y_train)
    text = str(info.value)
    assert f"sampler={name} needs a D-Wave Leap API token" in text
    assert "DWAVE_API_TOKEN" in text and "dwave config create" in text
    assert "sampler=mock_qpu" in text and "sampler=neal" in text


def test_mock_qpu_runs_the_whole_qpu_path(wisc):
    X_train, X_test, y_train, y_test = wisc
    model = QBoostClassifier(
        weak_learners=Trees(n_estimators=12, max_depth=2),
        sampler="mock_qpu",
        sampler_params={"num_reads": 20},
        random_state=0,
    ).fit(X_train, y_train)
    info = model.sampler_info_
    assert info["sampler"] == "mock_qpu" and info["num_reads"] == 20
    assert 0.0 <= info["chain_break_fraction"] <= 1.0
    assert info["max_chain_length"] >= 2  # a dense 12-variable QUBO needs chains on Pegasus
    assert info["qubits"] > 12 and info["chain_strength"] > 0
    assert info["timing"]["qpu_access_time"] > 0
    assert model.score(X_test, y_test) > 0.85


def test_verbose_reports_sampling_progress_and_the_lambda_search(wisc, capsys, monkeypatch):
    from qboost_exp import _estimator

    monkeypatch.setattr(_estimator._ReadProgress, "EVERY_SECONDS", 0.0)
    X_train, _, y_train, _ = wisc
    QBoostClassifier(lam="auto", lam_grid=[0.001, 0.01], cv=2, verbose=1, random_state=0, sampler_params={"num_reads": 4, "num_sweeps": 50}).fit(X_train, y_train)
    out = capsys.readouterr().out
    assert "lambda search: split 1/2 done" in out and "lambda search: split 2/2 done" in out
    assert "sampling: 1/4 reads" in out and "sampling: 3/4 reads" in out and "ETA" in out
