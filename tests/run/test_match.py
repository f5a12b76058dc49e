"""``model.max_learners=match``: a baseline at QBoost's sparsity, k from its QBoost sibling of the same sweep.

The method tag (``qboost.method``), the ``*_at_k`` model options, the grid
sweeper's order (match jobs after all others) and the resolution itself, on a
real SQLite store through the real CLI.
"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from clirun import run_module
from qboost_exp.config import compose, read
from qboost_exp.tracking import method_name
from qboost_exp.tracking._run import run_tags

#: QBoost of about a second a job: one λ, one largest weight, short anneals, no model logged.
FAST = ("lambda=0.1", "qubo.max_weight=0.125", "sampler.params.num_reads=10", "sampler.params.num_sweeps=200", "mlflow.log_model=false")


def _runs(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("qboost")
    runs = client.search_runs([experiment.experiment_id], max_results=1000, order_by=["attributes.start_time ASC"])
    return client, runs


def _children(runs, method=None, status="FINISHED"):
    return [
        r for r in runs
        if r.data.tags.get("qboost.role") == "child" and (method is None or r.data.tags.get("qboost.method") == method)
        and (status is None or r.info.status == status)
    ]


# -- the method tag --------------------------------------------------------------------
def test_the_method_is_the_model_and_its_learner_count():
    assert method_name("qboost") == method_name(None) == "qboost"
    assert method_name("qboost", "match") == "qboost"  # QBoost's count is its own
    assert method_name("lasso") == "lasso" and method_name("adaboost", None) == "adaboost"
    assert method_name("lasso", "match") == "lasso@k"
    assert method_name("abess", 15) == "abess@15" and method_name("abess", 15.0) == "abess@15"
    assert method_name("sklearn", None, "sklearn.ensemble.AdaBoostClassifier") == "AdaBoostClassifier"
    assert method_name("sklearn") == "sklearn"


@pytest.mark.parametrize(
    "overrides,method",
    [
        ((), "qboost"),
        (("model=lasso",), "lasso"),
        (("model=lasso", "model.max_learners=15"), "lasso@15"),
        (("model=lasso_at_k",), "lasso@k"),
        (("model=l1_logistic", "model.max_learners=match"), "l1_logistic@k"),
        (("model=adaboost",), "adaboost"),
        (("model=adaboost_at_k",), "adaboost@k"),
        (("model=sklearn_adaboost",), "AdaBoostClassifier"),
    ],
)
def test_a_run_opens_with_its_method_tag_and_the_spec_says_the_same(overrides, method):
    cfg = compose(list(overrides))
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert read(cfg).model.method == method
    assert run_tags(plain, (), "/nonexistent", "single", None)["qboost.method"] == method


def test_tags_known_before_the_run_opens_are_among_its_tags():
    plain = OmegaConf.to_container(compose(["model=lasso_at_k"]), resolve=True)
    tags = run_tags(plain, (), "/nonexistent", "child", 3, extra={"qboost.matched_run": "abc", "qboost.matched_k": "7"})
    assert (tags["qboost.method"], tags["qboost.matched_run"], tags["qboost.matched_k"]) == ("lasso@k", "abc", "7")


# -- the *_at_k options ------------------------------------------------------------------
@pytest.mark.parametrize("base", ["lasso", "adaboost", "abess"])
def test_an_at_k_option_is_its_base_with_max_learners_match(base):
    at_k = OmegaConf.to_container(compose([f"model={base}_at_k"]).model)
    plain = OmegaConf.to_container(compose([f"model={base}"]).model)
    assert at_k == {**plain, "max_learners": "match"}
    spec = read(compose([f"model={base}_at_k"]))
    assert spec.model.name == base and spec.model.matches_qboost and not read(compose([f"model={base}"])).model.matches_qboost


# -- the grid sweeper's order --------------------------------------------------------------
def test_match_jobs_run_after_all_others_and_keep_their_numbers():
    from hydra_plugins.qboost_basic_sweeper._impl import match_last

    jobs = [[f"job{n}"] for n in range(6)]
    hydra_batches = [jobs[0:4], jobs[4:6]]
    assert match_last(hydra_batches, set(), 4) == [[(n, jobs[n]) for n in range(4)], [(4, jobs[4]), (5, jobs[5])]]
    assert match_last([jobs], {0, 2, 4}, None) == [[(1, jobs[1]), (3, jobs[3]), (5, jobs[5])], [(0, jobs[0]), (2, jobs[2]), (4, jobs[4])]]
    assert match_last(hydra_batches, {0, 1}, 4) == [[(2, jobs[2]), (3, jobs[3]), (4, jobs[4]), (5, jobs[5])], [(0, jobs[0]), (1, jobs[1])]]
    assert match_last([jobs[0:2], jobs[2:4], jobs[4:6]], {0, 1, 2}, 2) == [
        [(3, jobs[3]), (4, jobs[4])], [(5, jobs[5])], [(0, jobs[0]), (1, jobs[1])], [(2, jobs[2])]
    ]


# -- a sweep at QBoost's sparsity ----------------------------------------------------------------
def test_lasso_at_k_listed_first_still_takes_k_from_its_finished_qboost_sibling(tmp_path):
    result = run_module(
        "qboost_exp", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model=lasso_at_k,qboost", "seed=0,1", *FAST,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[sweep] 4 jobs: 4 finished, 0 failed" in result.stdout
    _, runs = _runs(tmp_path)
    qboost = {r.data.params["seed"]: r for r in _children(runs, "qboost")}
    lasso = {r.data.params["seed"]: r for r in _children(runs, "lasso@k")}
    assert sorted(qboost) == sorted(lasso) == ["0", "1"]
    for seed, run in lasso.items():
        sibling = qboost[seed]
        assert run.data.tags["qboost.matched_run"] == sibling.info.run_id
        k = sibling.data.metrics["selected_varying"]
        assert 1 <= k <= sibling.data.metrics["selected"]
        assert run.data.metrics["selected"] == run.data.metrics["selected_varying"] == k  # the Lasso selects no constant learner
        assert run.data.tags["qboost.matched_k"] == str(int(k))
        assert run.data.params["model.max_learners"] == "match"  # as the user wrote it
        assert (run.data.tags["model"], run.data.tags["qboost.baseline"]) == ("lasso", "true")
        # Listed first (jobs 0 and 1), launched last: after every QBoost job ended.
        assert run.data.tags["qboost.job_num"] in ("0", "1")
        assert run.info.start_time >= max(q.info.end_time for q in qboost.values())
    assert {r.data.tags["qboost.method"] for r in qboost.values()} == {"qboost"}


def test_match_outside_a_tracked_sweep_is_one_line_and_no_run(tmp_path):
    single = run_module("qboost_exp", "model=lasso_at_k", *FAST, cwd=tmp_path)
    assert single.returncode == 2, single.stdout[-2000:]
    assert single.stderr.strip() == (
        "error: model.max_learners=match takes k from the QBoost run of the same tracked multirun, and this is a single run: "
        "run it in a sweep beside model=qboost, e.g. python -m qboost_exp -m model=qboost,lasso_at_k seed=0,1"
    )
    assert not (tmp_path / "mlflow.db").exists() or not _runs(tmp_path)[1]
    untracked = run_module("qboost_exp", "model=lasso", "model.max_learners=match", *FAST, "mlflow.enabled=false", cwd=tmp_path)
    assert untracked.returncode == 2
    assert "and tracking is off (mlflow.enabled=false): run it in a sweep beside model=qboost" in untracked.stderr


def test_a_sweep_of_match_jobs_without_qboost_stops_before_any_job(tmp_path):
    result = run_module("qboost_exp", "-m", "model=lasso_at_k", "seed=0,1", *FAST, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: job 0 (model=lasso_at_k seed=0 ")
    assert "no job of this one trains QBoost: add model=qboost, e.g. -m model=qboost,lasso_at_k; nothing was started" in result.stderr
    assert "[sweep] 2 jobs: 0 finished, 0 failed, 2 not started" in result.stdout


def test_a_match_job_whose_qboost_sibling_failed_fails_saying_so(tmp_path):
    # The sampler's options are checked when QBoost's job starts; the Lasso builds no sampler.
    result = run_module("qboost_exp", "-m", "model=qboost,lasso_at_k", "sampler.params.num_reads=-1", *FAST[:2], cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "[sweep] 2 jobs: 0 finished, 2 failed" in result.stdout
    _, runs = _runs(tmp_path)
    (parent,) = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    (failed,) = _children(runs, "lasso@k", status="FAILED")
    assert failed.data.tags["error"] == (
        f"model.max_learners=match: no finished QBoost run of dataset wisc, seed 0, weak_learners adaboost in this sweep "
        f"(parent run {parent.info.run_id}): run model=qboost on the same data in the same multirun (it runs before the match "
        "jobs), e.g. python -m qboost_exp -m model=qboost,lasso_at_k seed=0,1"
    )
    assert "qboost.matched_run" not in failed.data.tags


def test_a_sweep_whose_match_jobs_would_find_several_qboost_runs_stops_before_any_job(tmp_path):
    result = run_module("qboost_exp", "-m", "model=qboost,lasso_at_k", "lambda=0.05,0.1", *FAST[1:], cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: job 2 (model=lasso_at_k lambda=0.05 ")
    assert "the QBoost jobs 0 (model=qboost lambda=0.05 " in line and ", 1 (model=qboost lambda=0.1 " in line
    assert line.endswith("k would be ambiguous: sweep one QBoost config beside the match models (one multirun per lambda); nothing was started")
    assert "[sweep] 4 jobs: 0 finished, 0 failed, 4 not started" in result.stdout
    # QBoost jobs on different data are no ambiguity: one per seed.
    from hydra_plugins.qboost_basic_sweeper._impl import _ambiguous_match, _Composed

    same, other = frozenset({("seed", "0")}), frozenset({("seed", "1")})
    found = _Composed(match={2}, qboost=True, methods=["qboost", "qboost", "lasso@k"], matched={0: same, 1: other, 2: same})
    assert _ambiguous_match(found, [["a"], ["b"], ["c"]]) is None
    found.matched[1] = same
    assert "the QBoost jobs 0 (a), 1 (b) all train on them" in str(_ambiguous_match(found, [["a"], ["b"], ["c"]]))


def test_a_benchmark_whose_reference_method_no_job_runs_stops_before_any_job(tmp_path):
    result = run_module(
        "qboost_exp", "-m", "+benchmark=quick", "benchmark.against=lasso", "hydra.sweeper.params.dataset=iris",
        "hydra.sweeper.params.seed=0", "hydra.sweeper.params.model=\"qboost,lasso_at_k\"", *FAST, cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip() == (
        "error: benchmark.against=lasso: no job of this sweep runs that method, so there is nothing to compare against; "
        "the sweep's methods are qboost, lasso@k: set benchmark.against to one of them or add its model; nothing was started"
    )


# -- k counts the learners that vary -------------------------------------------------------
def test_k_is_the_qboost_runs_varying_count_and_an_older_run_s_selected():
    from types import SimpleNamespace

    from qboost_exp._match import matched_k

    def run(**metrics):
        return SimpleNamespace(data=SimpleNamespace(metrics=metrics))

    assert matched_k(run(selected=51.0, selected_varying=38.0)) == 38
    assert matched_k(run(selected=51.0)) == 51  # a run from before selected_varying
    assert matched_k(run()) is None


def test_the_store_filter_names_the_dataset_and_seed_in_mlflow_s_grammar():
    from mlflow.utils.search_utils import SearchUtils

    from qboost_exp._match import _same_data_filter

    def parsed(name, seed=3):
        return {(c["type"], c["key"]): c["value"] for c in SearchUtils.parse_search_filter(_same_data_filter({"dataset": {"name": name}, "seed": seed}))}

    assert parsed("wisc") == {("tag", "dataset"): "wisc", ("parameter", "seed"): "3"}
    assert parsed("it's") == {("tag", "dataset"): "it's", ("parameter", "seed"): "3"}  # no backslash: MLflow has no escape
    assert parsed('say "hi"') == {("tag", "dataset"): 'say "hi"', ("parameter", "seed"): "3"}
    assert parsed("it's \"x\"") == {("parameter", "seed"): "3"}  # both quotes: the params decide
    assert parsed("wisc", seed=0) == {("tag", "dataset"): "wisc", ("parameter", "seed"): "0"}


def test_a_resumed_match_job_finds_the_qboost_run_of_the_earlier_launch(tmp_path):
    sweep = ("model=qboost,lasso_at_k", *FAST, "hydra.sweep.dir=sweep")
    first = run_module("qboost_exp", "-m", *sweep, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    client, runs = _runs(tmp_path)
    (qboost,) = _children(runs, "qboost")
    (lasso,) = _children(runs, "lasso@k")
    client.set_terminated(lasso.info.run_id, status="FAILED")  # as if the match job had failed: the resume runs it again

    resumed = run_module("qboost_exp", "-m", *sweep, "hydra.sweeper.resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "[sweep] resuming sweep: 1 of 2 jobs finished earlier, running 1" in resumed.stdout
    assert "[sweep] 2 jobs: 2 finished (1 in an earlier launch), 0 failed" in resumed.stdout
    _, runs = _runs(tmp_path)
    assert [r.info.run_id for r in _children(runs, "qboost")] == [qboost.info.run_id]  # not run again
    (again,) = _children(runs, "lasso@k")
    assert again.info.run_id != lasso.info.run_id
    assert again.data.tags["mlflow.parentRunId"] == qboost.data.tags["mlflow.parentRunId"]
    assert again.data.tags["qboost.matched_run"] == qboost.info.run_id
    assert again.data.metrics["selected"] == qboost.data.metrics["selected"]


@pytest.mark.parametrize("option", ["adaboost_at_k", "abess_at_k"])
def test_the_other_at_k_options_match_too(tmp_path, option):
    result = run_module("qboost_exp", "-m", f"model=qboost,{option}", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    _, runs = _runs(tmp_path)
    (qboost,) = _children(runs, "qboost")
    (matched,) = _children(runs, f"{option.removesuffix('_at_k')}@k")
    assert matched.data.tags["qboost.matched_run"] == qboost.info.run_id
    k = qboost.data.metrics["selected_varying"]
    assert matched.data.tags["qboost.matched_k"] == str(int(k))
    if option == "abess_at_k":
        assert matched.data.metrics["selected"] == matched.data.metrics["selected_varying"] == k  # exactly k, none constant
    else:
        assert 1 <= matched.data.metrics["selected"] <= k  # k stages; boosting may stop early
        assert "selected_varying" not in matched.data.metrics  # not a vote over the dictionary
