"""Baselines as first-class runs: the L1 estimators over QBoost's dictionary, the model group, tracking, serving."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import AdaBoostClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from qboost_exp import ConfigError
from qboost_exp.domain._search import GridPoint, choose
from qboost_exp.domain.baselines import BestSubsetClassifier, L1LogisticClassifier, LassoClassifier, make_baseline, n_learners, ranking_scores
from qboost_exp.domain.compiled import compile_model
from qboost_exp.domain.weak_learners import AdaBoostLearners, fit_candidates

from clirun import QUICK, REPO, report_values, run_module

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from serving.container.predictor import CompiledPredictor, ModelPredictor, predictor_for  # noqa: E402

SMALL = {"name": "adaboost", "params": {"n_estimators": 10}}


def expected_failed_checks(estimator):
    return {}  # every scikit-learn check passes


@parametrize_with_checks(
    [
        LassoClassifier(weak_learners=SMALL, cv=2, n_alphas=10, random_state=0),  # the penalty by CV, one-SE rule
        L1LogisticClassifier(weak_learners=SMALL, max_learners=3, n_alphas=10, random_state=0),  # the path cut, refitted
        BestSubsetClassifier(weak_learners=SMALL, cv=2, random_state=0),  # the support size by CV, one-SE rule
        BestSubsetClassifier(weak_learners=SMALL, max_learners=3, random_state=0),  # k fixed
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_lasso_cut_keeps_k_learners_of_qboosts_dictionary_refitted_by_least_squares(wisc):
    X, X_test, y, y_test = wisc
    model = LassoClassifier(max_learners=12, random_state=3).fit(X, y)
    assert len(model.selected_indices_) == 12 and len(model.estimators_) == 12 and model.n_candidates_ == 60
    # The same candidates QBoost fits: the AdaBoost set, on ±1 labels, from the same seed's first draw.
    y_pm = np.where(y == 1, 1, -1)
    candidates = fit_candidates(AdaBoostLearners(), X.to_numpy(), y_pm, np.random.RandomState(3))
    H = np.column_stack([c.predict(X.to_numpy()) for c in candidates]).astype(float)
    for i, learner in zip(model.selected_indices_, model.estimators_):
        np.testing.assert_array_equal(learner.predict(X.to_numpy()), H[:, i])
    # Least squares with an intercept on the selected outputs, nothing else.
    design = np.column_stack([H[:, model.selected_indices_], np.ones(len(y))])
    coef, *_ = np.linalg.lstsq(design, y_pm.astype(float), rcond=None)
    np.testing.assert_allclose(model.estimator_weights_, coef[:-1], rtol=1e-9, atol=1e-12)
    assert model.intercept_ == pytest.approx(coef[-1], abs=1e-12)
    # decision = Σ w h + b, labels its sign, probabilities the same sigmoid as QBoost's
    decision = model.decision_function(X_test)
    np.testing.assert_allclose(decision, H_test(model, X_test) @ model.estimator_weights_ + model.intercept_, atol=1e-12)
    np.testing.assert_array_equal(model.predict(X_test), np.where(decision > 0, 1, 0))
    np.testing.assert_array_equal(model.predict(X_test), model.classes_[np.argmax(model.predict_proba(X_test), axis=1)])
    assert model.proba_slope_ > 0 and model.score(X_test, y_test) > 0.93


def H_test(model, X):
    return np.column_stack([e.predict(np.asarray(X)) for e in model.estimators_]).astype(float)


def test_the_penalty_is_chosen_by_qboosts_own_cv_rule(wisc):
    X, _, y, _ = wisc
    one_se = LassoClassifier(cv=3, random_state=0).fit(X, y)
    best = LassoClassifier(cv=3, cv_rule="best", random_state=0).fit(X, y)
    s = one_se.search_
    grid = [GridPoint(float(a), 1.0) for a in s["alpha"]]
    assert s["chosen"] == choose(s["split_scores"], s["split_selected"], grid, "one_se")
    assert one_se.alpha_ == s["alpha"][s["chosen"]] and s["split_scores"].shape == (3, 50)
    # one-SE: the sparsest point within a standard error of the best mean accuracy
    mean = s["mean_score"]
    top = int(np.argmax(mean))
    assert mean[s["chosen"]] >= mean[top] - s["split_scores"][:, top].std(ddof=1) / np.sqrt(3)
    assert s["mean_selected"][s["chosen"]] <= best.search_["mean_selected"][best.search_["chosen"]]
    assert best.search_["mean_score"][best.search_["chosen"]] == mean.max()
    # the CV-chosen Lasso keeps the Lasso's own (shrunk) weights
    assert 1 <= len(one_se.selected_indices_) < 60 and one_se.max_learners is None


def test_l1_logistic_cut_and_repeatability(wisc):
    X, X_test, y, y_test = wisc
    a = L1LogisticClassifier(max_learners=8, random_state=1).fit(X, y)
    b = L1LogisticClassifier(max_learners=8, random_state=1).fit(X, y)
    assert len(a.selected_indices_) == 8
    np.testing.assert_array_equal(a.selected_indices_, b.selected_indices_)
    np.testing.assert_array_equal(a.estimator_weights_, b.estimator_weights_)
    assert a.proba_slope_ == b.proba_slope_ and a.score(X_test, y_test) > 0.92


@pytest.mark.parametrize("cls", [LassoClassifier, L1LogisticClassifier, BestSubsetClassifier])
def test_dictionary_baselines_compile_and_serve_bit_for_bit(wisc, cls):
    X, X_test, y, _ = wisc
    model = cls(max_learners=10, random_state=0).fit(X, y)
    compiled = compile_model(model)
    assert compiled.n_learners == 10
    rows = np.vstack([X_test.to_numpy(), X_test.to_numpy() * np.random.default_rng(0).uniform(0.5, 1.5, X_test.shape)])
    frame = pd.DataFrame(rows, columns=X_test.columns)
    np.testing.assert_array_equal(compiled.decision_function(rows), model.decision_function(frame))
    np.testing.assert_array_equal(compiled.predict_proba(rows), model.predict_proba(frame))
    predictor = predictor_for(model)
    assert isinstance(predictor, CompiledPredictor)
    np.testing.assert_array_equal(predictor.labels(rows), model.predict(frame))


def test_classical_baselines_have_the_benchmarks_defaults_and_checked_parameters():
    ada = make_baseline("adaboost", random_state=4)
    assert isinstance(ada, AdaBoostClassifier) and ada.n_estimators == 60 and ada.estimator.max_depth == 2
    assert ada.learning_rate == 1.0 and ada.random_state == 4
    gb = make_baseline("gradient_boosting", random_state=4)
    assert isinstance(gb, GradientBoostingClassifier) and gb.get_params() == GradientBoostingClassifier(random_state=4).get_params()
    with pytest.raises(ConfigError, match=r"^model\.n_estimators: The 'n_estimators' parameter of AdaBoostClassifier must be"):
        make_baseline("adaboost", n_estimators=0)
    with pytest.raises(ConfigError, match="model.max_depth"):
        make_baseline("adaboost", max_depth=0)
    with pytest.raises(ConfigError, match="unexpected keyword argument 'depth'"):
        make_baseline("gradient_boosting", depth=2)
    with pytest.raises(ConfigError, match="unknown baseline 'svm'; available: abess, adaboost, gradient_boosting, l1_logistic, lasso"):
        make_baseline("svm")


def test_learner_counts_and_scores_of_any_classifier(wisc):
    X, _, y, _ = wisc
    # Seeded: unseeded, a tree's ties between equally good splits are broken at random (and AdaBoost
    # stops early at a perfect stage): the counts must not depend on that draw.
    assert n_learners(AdaBoostClassifier(n_estimators=7, random_state=0).fit(X, y)) == 7
    assert n_learners(GradientBoostingClassifier(n_estimators=9, random_state=0).fit(X, y)) == 9
    assert n_learners(RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)) == 5
    logistic = LogisticRegression(max_iter=5000).fit(X, y)
    assert n_learners(logistic) is None
    np.testing.assert_array_equal(ranking_scores(logistic, X), logistic.decision_function(X))

    class ProbaOnly:
        def predict_proba(self, X):
            return np.column_stack([1 - np.arange(3) / 4, np.arange(3) / 4])

    np.testing.assert_array_equal(ranking_scores(ProbaOnly(), None), [0.0, 0.25, 0.5])


# ------------------------------------------------------------------ runs

def _run(tmp_path, *overrides):
    from qboost_exp.config import compose
    from qboost_exp.experiment import run_tracked

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = compose([f"mlflow.tracking_uri={uri}", *overrides])
    result, lines = run_tracked(cfg, base_dir=str(tmp_path))
    client = MlflowClient(uri)
    run = client.get_run(lines[0].split()[2])
    return cfg, result, lines, run, client


def test_a_lasso_run_logs_qboosts_metrics_and_tags_and_a_model_that_serves(tmp_path):
    from qboost_exp.report import format_report

    cfg, result, lines, run, client = _run(tmp_path, "model=lasso", "model.max_learners=12", "promote=true")
    metrics, tags = run.data.metrics, run.data.tags
    assert tags["model"] == "lasso" and tags["qboost.baseline"] == "true" and tags["qboost.role"] == "single"
    assert metrics["selected"] == 12 and metrics["candidates"] == 60
    for split in ("train", "validation", "test"):
        for name in ("accuracy", "balanced_accuracy", "f1", "roc_auc"):
            assert 0.85 < metrics[f"{split}_{name}"] <= 1.0
    assert metrics["test_accuracy"] == pytest.approx(result.model.score(result.frame("test"), result.dataset.y_test))
    assert not {"best_energy", "lambda_value", "qubos", "penalty", "max_weight_value"} & set(metrics)
    assert metrics["time_total"] == pytest.approx(metrics["time_data"] + metrics["time_fit"])
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/weights.png", "plots/confusion_matrix.png", "plots/roc_curve.png"}  # no sampleset: no energies
    table = client.load_table(run.info.experiment_id, "selected_learners.json", run_ids=[run.info.run_id])
    assert len(table) == 12
    # the report: the model, its learners, accuracies, time; no QUBO lines
    report = report_values(format_report(cfg, result))
    assert report["model"] == "lasso (baseline: LassoClassifier)" and report["selected"] == "12" and report["candidates"] == "60"
    assert report["alpha"].startswith("path cut at max_learners=12, refitted -> ")
    assert report["time"].startswith("data ") and " | fit " in report["time"]
    assert not {"QUBO", "best energy", "lambda", "sampler", "max weight"} & set(report)
    # the registered version says what promoted it and on which data
    assert [line for line in lines if not line.startswith("MLflow")] == ["registered qboost v1", f"qboost v1 is now @champion (validation_accuracy {metrics['validation_accuracy']:.4g})"]
    version = client.get_model_version("qboost", "1")
    assert version.tags["qboost.dataset"] == "wisc" and version.tags["qboost.model"] == "lasso"
    assert version.tags["qboost.metric"] == "validation_accuracy"
    assert float(version.tags["qboost.metric_value"]) == pytest.approx(metrics["validation_accuracy"], abs=1e-6)
    assert version.tags["qboost.dataset_digest"] == result.dataset.digest and version.tags["qboost.run_id"] == run.info.run_id
    assert version.tags["qboost.promoted_by"].startswith(f"validation_accuracy {metrics['validation_accuracy']:.6g}, the first champion")
    assert version.description.startswith(f"lasso on wisc: validation_accuracy {metrics['validation_accuracy']:.4g} (run {run.info.run_id})")
    # the logged model loads with pyfunc and serves compiled, as QBoost's does
    uri = f"runs:/{run.info.run_id}/model"
    frame = result.frame("test")
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(uri).predict(frame), result.model.predict(frame))
    loaded = mlflow.sklearn.load_model(uri)
    assert isinstance(predictor_for(loaded), CompiledPredictor)


def test_an_abess_run_logs_k_learners_and_a_model_that_serves_compiled(tmp_path):
    from qboost_exp.report import format_report

    cfg, result, _, run, _ = _run(tmp_path, "model=abess", "model.max_learners=12")
    metrics, tags = run.data.metrics, run.data.tags
    assert tags["model"] == "abess" and tags["qboost.baseline"] == "true"
    assert metrics["selected"] == 12 and metrics["candidates"] == 60 and metrics["test_accuracy"] > 0.9
    assert not {"best_energy", "lambda_value", "qubos", "penalty"} & set(metrics)
    assert isinstance(result.model, BestSubsetClassifier) and result.model.random_state == 0
    report = report_values(format_report(cfg, result))
    assert report["model"] == "abess (baseline: BestSubsetClassifier)" and report["selected"] == "12"
    assert report["support size"] == "max_learners=12 -> 12" and "alpha" not in report
    loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    assert isinstance(predictor_for(loaded), CompiledPredictor)
    frame = result.frame("test")
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(frame), result.model.predict(frame))


def test_an_adaboost_run_stopped_at_k_stages(tmp_path):
    _, result, _, run, _ = _run(tmp_path, "model=adaboost", "model.max_learners=9", "seed=2")
    assert run.data.metrics["selected"] == 9 and result.model.n_estimators == 9 and result.model.random_state == 2


def test_a_qboost_run_is_tagged_as_such_and_a_losing_version_is_described(tmp_path):
    common = ("lambda=0.1", "qubo.max_weight=0.0625", "sampler.params.num_reads=10", "sampler.params.num_sweeps=100", "promote=true")
    _, first, _, run, client = _run(tmp_path, *common)
    assert run.data.tags["model"] == "qboost" and run.data.tags["qboost.baseline"] == "false"
    assert "best_energy" in run.data.metrics and "plots/energy_histogram.png" in {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    _, _, lines, worse, _ = _run(tmp_path, *common[:-1], "lambda=50", "promote=true")
    assert [line for line in lines if not line.startswith("MLflow")][1].startswith("qboost v2 not promoted")
    version = client.get_model_version("qboost", "2")
    assert "qboost.promoted_by" not in version.tags and version.tags["qboost.model"] == "qboost"
    assert float(version.tags["qboost.metric_value"]) == pytest.approx(worse.data.metrics["validation_accuracy"], abs=1e-6)
    assert "qboost.promoted_by" in client.get_model_version("qboost", "1").tags


def test_an_adaboost_run_has_its_stages_as_learners_and_serves_through_its_own_predict(tmp_path):
    _, result, _, run, client = _run(tmp_path, "model=adaboost", "model.n_estimators=20", "seed=2")
    assert run.data.tags["model"] == "adaboost" and run.data.tags["qboost.baseline"] == "true"
    assert run.data.metrics["selected"] == 20 and "candidates" not in run.data.metrics
    assert result.model.random_state == 2 and result.model.estimator.max_depth == 2
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/weights.png", "plots/confusion_matrix.png", "plots/roc_curve.png"}
    loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    predictor = predictor_for(loaded)
    assert isinstance(predictor, ModelPredictor) and "is not a QBoostClassifier" in predictor.description
    X = result.frame("test").to_numpy()
    np.testing.assert_array_equal(predictor.labels(X), result.model.predict(result.frame("test")))


def test_a_target_model_without_learners_omits_selected(tmp_path):
    cfg, result, _, run, _ = _run(tmp_path, "model=sklearn", "model._target_=sklearn.linear_model.LogisticRegression", "+model.max_iter=5000")
    from qboost_exp.report import format_report

    assert run.data.tags["model"] == "sklearn" and "selected" not in run.data.metrics
    assert run.data.metrics["test_accuracy"] > 0.9 and "test_roc_auc" in run.data.metrics
    assert result.model.max_iter == 5000 and result.model.random_state == 0  # the seed, where the classifier takes one
    report = report_values(format_report(cfg, result))
    assert report["model"] == "sklearn (baseline: LogisticRegression)" and "selected" not in report


def test_a_bad_target_is_one_error_line_and_opens_no_run(tmp_path):
    result = run_module("qboost_exp", "model=sklearn", "model._target_=sklearn.ensemble.NoSuchForest", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot instantiate sklearn.ensemble.NoSuchForest (at model): Error locating target")
    assert not (tmp_path / "mlflow.db").exists()
    missing = run_module("qboost_exp", "model=sklearn", cwd=tmp_path)
    assert missing.returncode == 2 and "model._target_" in missing.stderr and missing.stderr.strip().count("\n") == 0
    notclf = run_module("qboost_exp", "model=sklearn", "model._target_=collections.OrderedDict", cwd=tmp_path)
    assert notclf.returncode == 2 and "model._target_=collections.OrderedDict is not a scikit-learn classifier" in notclf.stderr
    bad = run_module("qboost_exp", "model=lasso", "model.max_learners=0", cwd=tmp_path)
    assert bad.returncode == 2 and "model.max_learners: The 'max_learners' parameter of LassoClassifier must be" in bad.stderr
    bad = run_module("qboost_exp", "model=abess", "model.max_learners=most", cwd=tmp_path)
    assert bad.returncode == 2 and "model.max_learners: The 'max_learners' parameter of BestSubsetClassifier must be" in bad.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_one_sweep_trains_qboost_and_two_baselines_side_by_side(tmp_path):
    result = run_module("qboost_exp", "-m", "model=qboost,lasso,adaboost", *QUICK, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "[sweep] 3 jobs: 3 finished, 0 failed" in result.stdout + result.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("qboost")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("qboost.role") == "child"]
    assert len(parents) == 1 and len(children) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    by_model = {r.data.tags["model"]: r for r in children}
    assert set(by_model) == {"qboost", "lasso", "adaboost"}
    assert by_model["qboost"].data.tags["qboost.baseline"] == "false"
    assert by_model["lasso"].data.tags["qboost.baseline"] == by_model["adaboost"].data.tags["qboost.baseline"] == "true"
    # lasso by QBoost's CV rule on QUICK's 2 folds (qubo.cv=2 is its cv too)
    assert 1 <= by_model["lasso"].data.metrics["selected"] < 60 and by_model["adaboost"].data.metrics["selected"] == 60
    assert by_model["lasso"].data.params["model.cv"] == "2"
    assert "best_energy" in by_model["qboost"].data.metrics and "best_energy" not in by_model["lasso"].data.metrics
    for run in children:
        assert run.info.status == "FINISHED" and run.data.metrics["test_accuracy"] > 0.9
    assert re.search(r"^  model +lasso \(baseline: LassoClassifier\)$", result.stdout, re.M)
    assert re.search(r"^  model +adaboost \(baseline: AdaBoostClassifier\)$", result.stdout, re.M)
    assert re.search(r"^  best energy ", result.stdout, re.M)  # QBoost's own report, once


def test_logging_skips_only_mlflows_redundant_pin_check(tmp_path):
    import mlflow.pyfunc
    from mlflow.utils import environment

    from qboost_exp.tracking import _log

    originals = (environment.warn_dependency_requirement_mismatches, mlflow.pyfunc.warn_dependency_requirement_mismatches)
    with _log._pins_trusted():
        assert environment.warn_dependency_requirement_mismatches(["numpy==0.0.1"]) is None
        assert mlflow.pyfunc.warn_dependency_requirement_mismatches is not originals[1]
    assert (environment.warn_dependency_requirement_mismatches, mlflow.pyfunc.warn_dependency_requirement_mismatches) == originals
    # the saved model still carries every pin
    _, result, _, _, _ = _run(tmp_path, "model=adaboost", "model.n_estimators=5", "mlflow.log_model=false")
    path = _log.save_model(result, {"sampler": {"name": "neal"}}, tmp_path / "saved")
    requirements = (Path(path) / "requirements.txt").read_text().split()
    for pin in _log._requirements():
        assert pin in requirements


def test_the_old_penalty_names_still_work_with_a_warning():
    X, y = load_breast_cancer(return_X_y=True)
    small = {"name": "adaboost", "params": {"n_estimators": 10}}
    new = LassoClassifier(weak_learners=small, max_learners=3, n_alphas=12, random_state=0).fit(X, y)
    with pytest.warns(FutureWarning, match=r"LassoClassifier\(n_penalties=...\) is now n_alphas"):
        old = LassoClassifier(weak_learners=small, max_learners=3, n_penalties=12, random_state=0).fit(X, y)
    assert len(old.path_["alpha"]) == len(new.path_["alpha"]) == 12 and old.alpha_ == new.alpha_
    with pytest.warns(DeprecationWarning, match=r"LassoClassifier.penalty_ is now alpha_"):
        assert old.penalty_ == old.alpha_


def test_the_vote_is_one_class_for_qboost_and_the_dictionary_baselines():
    from qboost_exp import QBoostClassifier
    from qboost_exp.domain.vote import PREDICTION_METHODS, WeightedVote

    for cls in (QBoostClassifier, LassoClassifier, L1LogisticClassifier):
        assert issubclass(cls, WeightedVote) and cls.fit is WeightedVote.fit
        assert all(getattr(cls, m) is getattr(WeightedVote, m) for m in PREDICTION_METHODS)
