"""Reading a composed config once: ``qboost_exp.config.read`` and the RunSpec the run layer builds from."""

from __future__ import annotations

import ast
import dataclasses
import pickle
from pathlib import Path

import pytest

from qboost_exp import ConfigError
from qboost_exp import config as config_module
from qboost_exp.config import (
    DataSpec,
    FrozenDict,
    ModelSpec,
    QuboSpec,
    RunSpec,
    SamplerSpec,
    TrackingSpec,
    WeakLearnersSpec,
    check_config,
    compose,
    read,
    thawed,
)

#: A QBoost run of about a second: one λ, one largest weight, short anneals, untracked.
FAST_UNTRACKED = ("lambda=0.1", "qubo.max_weight=0.125", "sampler.params.num_reads=10", "sampler.params.num_sweeps=200", "mlflow.enabled=false")


def test_read_gives_the_typed_spec_of_the_default_config():
    spec = read(compose())
    assert isinstance(spec, RunSpec)
    assert (spec.seed, spec.verbose, spec.objective) == (0, 1, "validation_accuracy")
    assert spec.model == ModelSpec(name="qboost", options=FrozenDict()) and spec.model.is_qboost and spec.model.takes_candidates
    assert spec.qubo == QuboSpec(
        lam="auto", lam_grid=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2), strategy="one_shot", weight_bits=1, generation_rounds=0,
        generation_size=10, generation_depth=2, fit_intercept=False, drop_duplicates=False, max_weight="auto",
        max_weight_grid=(0.0625, 0.125, 0.25), cv=5, cv_rule="one_se", refit="none", window=None, max_rounds=None,
        n_iter_no_change=None, validation_fraction=0.1,
    )
    assert spec.sampler == SamplerSpec(name="neal", init=FrozenDict(), params=FrozenDict({"num_reads": 100, "num_sweeps": 1000}))
    assert spec.weak_learners == WeakLearnersSpec(name="adaboost", params=FrozenDict({"n_estimators": 60, "max_depth": 2, "learning_rate": 1.0}))
    assert spec.data == DataSpec(dataset=FrozenDict({"name": "wisc"}), split=FrozenDict({"test_size": 0.25, "validation_size": 0.15}))
    assert spec.tracking == TrackingSpec(
        enabled=True, tracking_uri=None, experiment="qboost", log_model=True, model_name="qboost", promote_metric="validation_accuracy",
        retry_seconds=60.0, register=False, promote=False,
    )
    assert isinstance(spec.sampler.params, FrozenDict) and isinstance(spec.qubo.lam_grid, tuple)


@pytest.mark.parametrize(
    "overrides,part,expected",
    [
        (("lambda=0.1",), lambda s: s.qubo.lam, 0.1),
        (("lambda=0",), lambda s: (s.qubo.lam, type(s.qubo.lam)), (0.0, float)),  # λ is a float for the estimator
        (("lambda='0.2'",), lambda s: s.qubo.lam, 0.2),  # a quoted number (SageMaker's hyperparameters) is a number
        (("lambda=AUTO",), lambda s: s.qubo.lam, "auto"),
        (("lambda_grid=[0.05,0.1]",), lambda s: s.qubo.lam_grid, (0.05, 0.1)),
        (("qubo=iterative", "qubo.window=5"), lambda s: (s.qubo.strategy, s.qubo.window, s.qubo.validation_fraction), ("iterative", 5, 0.1)),
        (("qubo=dwave_demo",), lambda s: (s.qubo.max_weight, s.qubo.cv, s.qubo.cv_rule, len(s.qubo.lam_grid)), ("1/M", 0.4, "best", 10)),
        (("seed=7", "verbose=0"), lambda s: (s.seed, s.verbose), (7, 0)),
        (("sampler=tabu", "sampler.params.timeout=null"), lambda s: s.sampler, SamplerSpec("tabu", FrozenDict(), FrozenDict({"num_reads": 10}))),
        (("sampler=qpu",), lambda s: dict(s.sampler.init), {"embedding": "clique"}),  # null init options: the factory's defaults
        (("weak_learners=trees", "weak_learners.params.max_depth=3"), lambda s: (s.weak_learners.name, s.weak_learners.params["max_depth"]), ("trees", 3)),
        (("dataset=csv", "dataset.path=data/train.csv"), lambda s: (s.data.dataset["name"], s.data.dataset["path"]), ("csv", "data/train.csv")),
        (("mlflow.enabled=false", "promote=true", "mlflow.retry_seconds=5"), lambda s: (s.tracking.enabled, s.tracking.promote, s.tracking.retry_seconds), (False, True, 5.0)),
        # A baseline: no sampler, no QUBO settings; the dictionary baselines keep their candidates and a checked cv.
        (("model=lasso", "qubo.cv=3"), lambda s: (s.model.name, s.qubo, s.sampler, s.weak_learners.name, s.model.options["cv"]), ("lasso", None, None, "adaboost", 3)),
        (("model=adaboost",), lambda s: (s.model.name, s.weak_learners, dict(s.model.options)), ("adaboost", None, {"n_estimators": 60, "max_learners": None, "max_depth": 2, "learning_rate": 1.0})),
        (("model=abess", "qubo.cv=3"), lambda s: (s.weak_learners.name, dict(s.model.options)), ("adaboost", {"max_learners": None, "max_size": None, "cv": 3, "cv_rule": "one_se"})),
        # "match" (resolved into QBoost's count before the model is built) passes the config's checks
        (("model=abess", "model.max_learners=match"), lambda s: s.model.options["max_learners"], "match"),
        (("model=lasso", "model.max_learners=match"), lambda s: s.model.options["max_learners"], "match"),
        (("model=l1_logistic", "model.max_learners=match"), lambda s: s.model.options["max_learners"], "match"),
        (("model=adaboost", "model.max_learners=match"), lambda s: s.model.options["max_learners"], "match"),
        (("model=adaboost", "model.max_learners=7"), lambda s: s.model.options["max_learners"], 7),
        (("model=sklearn", "model._target_=sklearn.svm.SVC"), lambda s: dict(s.model.options), {"_target_": "sklearn.svm.SVC"}),
    ],
)
def test_read_follows_the_overrides(overrides, part, expected):
    assert part(read(compose(overrides))) == expected


def test_the_spec_is_frozen_all_the_way_down_and_thaws_to_the_plain_config():
    from omegaconf import OmegaConf

    cfg = compose(["weak_learners=mixed"])
    spec = read(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seed = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.qubo.lam = 0.5
    with pytest.raises(TypeError):
        spec.sampler.params["num_reads"] = 1
    members = spec.weak_learners.params["members"]
    assert isinstance(members, tuple) and isinstance(members[1]["params"], FrozenDict)
    assert thawed(spec.weak_learners.params) == OmegaConf.to_container(cfg.weak_learners.params, resolve=True)
    assert type(thawed(spec.weak_learners.params)["members"]) is list
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert read(spec) is spec


def test_read_accepts_the_plain_config_as_well():
    from omegaconf import OmegaConf

    cfg = compose(["lambda=0.05", "sampler=steepest"])
    assert read(OmegaConf.to_container(cfg, resolve=True)) == read(cfg)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (("lambda=-0.5",), "lambda must be a float in the range [0.0, inf) or a str among {'auto'}. Got -0.5 instead. Set it on the command line as lambda=VALUE."),
        (("seed=1.5",), "seed must be an int in the range [0, 2147483647). Got 1.5 instead. Set it on the command line as seed=VALUE."),
        (("qubo.refit=ridge",), "qubo.refit must be a str among {"),
        (("qubo.generation_rounds=-1",), "qubo.generation_rounds must be an int in the range [0, inf). Got -1 instead."),
        (("qubo.fit_intercept=maybe",), "qubo.fit_intercept must be an instance of 'bool'"),
        (("qubo=iterative", "qubo.generation_rounds=3"), "qubo.generation_rounds=3 needs qubo.strategy=one_shot: the rounds re-solve"),
        (("lambda_grid=[]",), "lambda_grid must be None or a non-empty sequence, each element a float in the range [0.0, inf). Got [] instead."),
        (("objective=test_accuracy",), "objective=test_accuracy: a test metric never chooses anything"),
        (("+data=digits",), "unknown config key 'data': nothing reads it (did you mean dataset? a config group option is chosen without '+': dataset=NAME)"),
        (("mlflow=5",), "mlflow must hold keys (mlflow.KEY=VALUE), got 5; the keys under mlflow are: enabled,"),
    ],
)
def test_a_bad_value_gives_the_error_check_config_gives(overrides, message):
    cfg = compose(overrides)
    with pytest.raises(ConfigError) as checked:
        check_config(cfg)
    with pytest.raises(ConfigError) as read_error:
        read(cfg)
    assert str(read_error.value) == str(checked.value)
    assert str(read_error.value).startswith(message)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (("dataset=csv",), "the config value dataset.path is required but not set; add `dataset.path=...` to the command line"),
        (("model=sklearn",), "the config value model._target_ is required but not set; add `model._target_=...` to the command line"),
        (("qubo.cv=1",), "qubo.cv must be an integer >= 2 (folds) or a fraction in (0, 1) (one validation split), got 1"),
        (("model=lasso", "qubo.cv=1.5"), "qubo.cv must be an integer >= 2 (folds) or a fraction in (0, 1) (one validation split), got 1.5"),
        (("~lambda",), "the config has no top-level `lambda`; set it, e.g. lambda=0.01 or lambda=auto"),
        (("sampler.name=''",), "the sampler config has no `name`; every sampler option must name a registered plugin"),
        (("model.name=''",), "the model config has no `name`; choose an option: model=qboost, model=lasso, model=adaboost, ..."),
        (("model=abess", "model.max_learners=most"), "model.max_learners: The 'max_learners' parameter of BestSubsetClassifier must be an int in the range [1, inf), a str among {'match'} or None. Got 'most' instead. Set it on the command line as model.max_learners=VALUE."),
        (("model=lasso", "model.max_learners=0"), "model.max_learners: The 'max_learners' parameter of LassoClassifier must be an int in the range [1, inf), a str among {'match'} or None. Got 0 instead. Set it on the command line as model.max_learners=VALUE."),
        (("model=adaboost", "model.max_learners=1.5"), "model.max_learners: The 'max_learners' parameter of adaboost must be an int in the range [1, inf), a str among {'match'} or None. Got 1.5 instead. Set it on the command line as model.max_learners=VALUE."),
        (("model=abess", "qubo.cv=1"), "qubo.cv must be an integer >= 2 (folds) or a fraction in (0, 1) (one validation split), got 1"),
    ],
)
def test_what_only_a_run_refuses_is_refused_by_read_not_by_check_config(overrides, message):
    # check_config (the grid sweeper's check of every job) judges the typed keys only, as before.
    cfg = compose(overrides)
    check_config(cfg)
    with pytest.raises(ConfigError) as error:
        read(cfg)
    assert str(error.value) == message


def test_the_deprecated_qubo_lambda_grid_still_sets_the_grid():
    with pytest.warns(DeprecationWarning, match="qubo.lambda_grid is deprecated"):
        spec = read(compose(["qubo.lambda_grid=[0.1,0.2]"]))
    assert spec.qubo.lam_grid == (0.1, 0.2)
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match=r"^lambda_grid must be None or a non-empty sequence"):
        read(compose(["qubo.lambda_grid=[0.1,-2]"]))


def _counting(monkeypatch, owner, name):
    calls = []
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.mark.parametrize("entry", ["run_tracked", "run_experiment"])
def test_a_run_checks_and_converts_its_config_once(monkeypatch, entry):
    from omegaconf import OmegaConf

    from qboost_exp import experiment

    cfg = compose(FAST_UNTRACKED)
    checks = _counting(monkeypatch, config_module, "check_config")
    conversions = _counting(monkeypatch, OmegaConf, "to_container")
    result = getattr(experiment, entry)(cfg)
    result = result[0] if entry == "run_tracked" else result
    assert result.metrics["lambda_value"] == 0.1
    assert len(checks) == 1 and len(conversions) == 1


def test_a_tracked_run_checks_and_converts_its_config_once(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    from qboost_exp import experiment

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = compose([*FAST_UNTRACKED[:-1], f"mlflow.tracking_uri={uri}", "mlflow.log_model=false"])
    checks = _counting(monkeypatch, config_module, "check_config")
    conversions = _counting(monkeypatch, OmegaConf, "to_container")
    result, lines = experiment.run_tracked(cfg, base_dir=str(tmp_path))
    assert lines[0].startswith("MLflow run ") and result.metrics["lambda_value"] == 0.1
    assert len(checks) == 1 and len(conversions) == 1


def test_the_old_call_forms_still_work_with_a_deprecation_warning():
    from qboost_exp import experiment

    cfg = compose(["lambda=0.1", "sampler=steepest"])
    spec = read(cfg)
    new = experiment.make_estimator(spec).get_params(deep=False)
    with pytest.warns(DeprecationWarning, match=r"make_estimator\(cfg\) with a config is deprecated"):
        old = experiment.make_estimator(cfg).get_params(deep=False)
    assert {k: v for k, v in old.items() if k not in ("sampler", "weak_learners")} == {k: v for k, v in new.items() if k not in ("sampler", "weak_learners")}
    with pytest.warns(DeprecationWarning, match=r"build_sampler\(sampler_cfg\) with a config node"):
        assert type(experiment.build_sampler(cfg["sampler"])) is type(experiment.build_sampler(spec.sampler))
    with pytest.warns(DeprecationWarning, match=r"build_weak_learners\(learners_cfg\)"):
        experiment.build_weak_learners(cfg["weak_learners"])
    with pytest.warns(DeprecationWarning, match=r"sample_params"):
        assert experiment.sample_params(cfg["sampler"]) == {"num_reads": 100}
    with pytest.warns(DeprecationWarning, match=r"read_lambda"):
        assert experiment.read_lambda(cfg) == 0.1
    with pytest.warns(DeprecationWarning, match=r"model_name"):
        assert experiment.model_name(compose(["model=lasso"])) == "lasso"
    with pytest.warns(DeprecationWarning, match=r"make_baseline_model\(cfg\)"):
        assert type(experiment.make_baseline_model(compose(["model=adaboost"]))).__name__ == "AdaBoostClassifier"
    with pytest.warns(DeprecationWarning, match=r"load_data\(cfg\)"):
        assert experiment.load_data(cfg).name == "wisc"
    with pytest.warns(DeprecationWarning, match=r"prepare\(cfg\)"):
        assert experiment.prepare(cfg, data=lambda: None).model_name == "qboost"
    assert experiment.to_plain(cfg["split"], "split") == {"test_size": 0.25, "validation_size": 0.15}


def test_the_run_layer_imports_no_private_name_of_the_config():
    source = Path(config_module.__file__).with_name("experiment.py").read_text()
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_") and (node.module or "").endswith("config")
    ]
    assert private == []
