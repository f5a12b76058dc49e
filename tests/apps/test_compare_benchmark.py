"""The benchmark report of ``python -m qboost_exp.compare``: statistics with known values, and end to end on a real
SQLite MLflow store (a sweep's parent run and its children for 3 datasets x 3 methods x 5 seeds), whose tables and
figures are written and logged on the parent run. Also the tie rule and the identical-runs regression, end to end.
"""

from __future__ import annotations

import csv
import math
import os

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from compare_checks import assert_one_error, assert_png, run_compare
from compare_store import isolated_mlflow  # noqa: F401  (autouse)
from qboost_exp.compare import load_runs, sort_runs
from qboost_exp.compare._aggregate import BenchmarkError, aggregate, method_labels, per_seed, t_interval
from qboost_exp.compare._stats import ALL_LEVEL, across_datasets, critical_difference, friedman, paired_tests
from qboost_exp.tracking import best_run, training_runs

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow")

# --------------------------------------------------------------------------------------------------
# Known values


def test_critical_difference_is_demsars():
    # Demšar (JMLR 2006), section 3.2.2: k = 4 classifiers on N = 14 data sets, q_0.05 = 2.569, CD = 1.25.
    q, cd = critical_difference(4, 14)
    assert round(q, 3) == 2.569 and round(cd, 2) == 1.25
    assert round(critical_difference(2, 10)[0], 3) == 1.960  # Demšar's table 5: k = 2


def test_friedman_and_iman_davenport_by_hand():
    # Ranks of 3 methods (columns) on 4 datasets (rows), no ties; average ranks A 5/4, B 8/4, C 11/4.
    # chi2_F = 12 N / (k (k+1)) * (sum R_j^2 - k (k+1)^2 / 4) = 12*4/12 * (1.5625 + 4 + 7.5625 - 12) = 4.5
    # p (chi2, 2 df) = exp(-4.5 / 2); Iman-Davenport F = (N-1) chi2 / (N (k-1) - chi2) = 3 * 4.5 / (8 - 4.5) = 27/7, df (2, 6).
    ranks = pd.DataFrame({"A": [1, 1, 1, 2], "B": [2, 3, 2, 1], "C": [3, 2, 3, 3]}, dtype=float)
    chi2, p, f_value, p_f = friedman(ranks)
    assert chi2 == pytest.approx(4.5) and p == pytest.approx(math.exp(-2.25))
    assert f_value == pytest.approx(27 / 7)
    from scipy.stats import f as f_dist

    assert p_f == pytest.approx(f_dist.sf(27 / 7, 2, 6))


def _long(values: dict[str, list[float]], dataset: str = "d") -> pd.DataFrame:
    rows = [{"dataset": dataset, "method": m, "seed": str(i), "run_id": f"{m}{i}", "lambda": math.nan, "test_accuracy": v,
             "validation_accuracy": v, "selected": 5.0} for m, vs in values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_better_on_every_seed_wins_every_paired_test():
    # Differences +0.01 .. +0.06, all distinct and positive: the exact two-sided Wilcoxon p is 2 / 2^6 = 0.03125,
    # the smallest there is with 6 seeds (with 5 it is 0.0625: never below 0.05).
    ref = [0.80, 0.81, 0.82, 0.83, 0.84, 0.85]
    long = _long({"qboost": ref, "better": [r + d for r, d in zip(ref, (0.01, 0.02, 0.03, 0.04, 0.05, 0.06))], "same": ref})
    table = paired_tests(long, "test_accuracy", "qboost").set_index("method")
    better = table.loc["better"]
    assert (better["wins"], better["ties"], better["losses"], better["direction"]) == (6, 0, 0, "better")
    assert better["p_value"] == pytest.approx(2 / 64) and better["p_value"] < 0.05 and better["mean_difference"] == pytest.approx(0.035)
    same = table.loc["same"]
    assert (same["ties"], same["p_value"], same["direction"], same["note"]) == (6, 1.0, "level", "all differences zero: p = 1")
    # The other way round: the reference is worse on every seed, as significantly; a lower-is-better metric flips the direction.
    flipped = paired_tests(long, "test_accuracy", "better").set_index("method").loc["qboost"]
    assert (flipped["losses"], flipped["direction"]) == (6, "worse") and flipped["p_value"] == pytest.approx(2 / 64)
    slower = paired_tests(long.assign(time_total=long["test_accuracy"]), "time_total", "qboost").set_index("method").loc["better"]
    assert (slower["wins"], slower["losses"], slower["direction"]) == (0, 6, "worse") and slower["p_value"] < 0.05


def test_a_win_and_a_loss_of_one_size_are_level():
    # Seed 0: 113/114 against 114/114; seed 1: 112/114 against 111/114. In floats the differences are
    # -0.0087719298245614 and +0.008771929824561431: their mean is -5.6e-17, which read "worse".
    long = _long({"qboost": [114 / 114, 111 / 114], "lasso@k": [113 / 114, 112 / 114]})
    row = paired_tests(long, "test_accuracy", "qboost").iloc[0]
    assert (row["wins"], row["ties"], row["losses"]) == (1, 0, 1)
    assert (row["mean_difference"], row["direction"]) == (0.0, "level")
    assert row["p_value"] == 1.0  # |d| tied: ranks 1.5 and 1.5, W+ = W- = 1.5, every sign flip as extreme


def test_a_known_wilcoxon_p_with_a_zero_and_tied_differences():
    # Differences in 114ths: 0, +1, +1, -2, +3, +3, +4, each from its own pair of accuracies, so that in floats the
    # equal ones differ by an ulp (113/114 - 112/114 != 112/114 - 111/114) and would rank apart unrounded.
    # By hand: the zero is dropped (Wilcoxon's rule), n = 6; |d| ranks 1.5, 1.5, 3, 4.5, 4.5, 6 (ties averaged);
    # W- = 3 (the -2), W+ = 18. With ties and a zero scipy (>= 1.13) takes the exact permutation distribution of
    # the signs: the 2^6 sign assignments whose W- <= 3 are {}, {1.5}, {1.5'}, {3}, {1.5, 1.5'}: 5 of 64;
    # two-sided p = 2 * 5/64 = 0.15625 (scipy.stats.wilcoxon said 0.15625 once, checked).
    ref = [100, 112, 111, 110, 105, 108, 104]
    diffs = [0, 1, 1, -2, 3, 3, 4]
    long = _long({"qboost": [r / 114 for r in ref], "lasso@k": [(r + d) / 114 for r, d in zip(ref, diffs)]})
    raw = np.array([(r + d) / 114 - r / 114 for r, d in zip(ref, diffs)])
    assert raw[1] != raw[2] or raw[4] != raw[5]  # the float noise the rounding removes
    row = paired_tests(long, "test_accuracy", "qboost").iloc[0]
    assert (row["wins"], row["ties"], row["losses"], row["direction"]) == (5, 1, 1, "better")
    assert row["p_value"] == pytest.approx(10 / 64) and row["note"] == "1 zero difference(s) dropped"
    assert row["mean_difference"] == pytest.approx(10 / 114 / 7)


def test_means_an_ulp_apart_rank_level():
    # The same three accuracies in another order: np.mean gives 0.891812865497076 and 0.8918128654970761.
    a, b = [100 / 114, 101 / 114, 104 / 114], [101 / 114, 104 / 114, 100 / 114]
    assert np.mean(a) != np.mean(b)
    frames = [_long({"qboost": a, "lasso@k": b, "abess@k": [0.5] * 3}, dataset=d) for d in ("d1", "d2", "d3")]
    frames[2] = _long({"qboost": [0.9] * 3, "lasso@k": [0.8] * 3, "abess@k": [0.5] * 3}, dataset="d3")
    result = across_datasets(pd.concat(frames, ignore_index=True), "test_accuracy")
    assert result.ranks.loc["d1"].to_dict() == {"abess@k": 3.0, "lasso@k": 1.5, "qboost": 1.5}
    assert result.average.to_dict() == pytest.approx({"qboost": 4 / 3, "lasso@k": 5 / 3, "abess@k": 3.0})
    # Friedman's tie correction sees the ties: ranks (1.5, 1.5, 3) twice and (1, 2, 3) once.
    # sum R^2 = 4^2 + 5^2 + 9^2 = 122; chi2 = 12/(3*3*4) * 122 - 3*3*4 = 4.6667; correction 1 - 2*6/(3*(27-3)) = 5/6.
    assert result.friedman_statistic == pytest.approx((122 / 3 - 36) / (5 / 6))


def test_ranks_pair_the_means_on_the_seeds_every_method_finished():
    # On d1, lasso@k lost seed 2, where QBoost did worst: over all its seeds QBoost's mean (0.8) is below lasso's (0.85),
    # over the seeds both ran (0, 1) it is above (0.95 against 0.85).
    d1 = _long({"qboost": [0.95, 0.95, 0.5], "lasso@k": [0.85, 0.85], "abess@k": [0.7, 0.7, 0.7]}, dataset="d1")
    d2 = _long({"qboost": [0.9] * 3, "lasso@k": [0.8] * 3, "abess@k": [0.7] * 3}, dataset="d2")
    long = pd.concat([d1, d2], ignore_index=True)
    result = across_datasets(long, "test_accuracy")
    assert result.ranks.loc["d1"].to_dict() == {"abess@k": 3.0, "lasso@k": 2.0, "qboost": 1.0}
    assert "ranked on the seeds every ranked method finished (paired means); left out: d1 seed(s) 2" in result.notes
    # The aggregate table still shows each method over all its seeds (n says how many).
    table = aggregate(long, "test_accuracy").set_index(["dataset", "method"])
    assert table.loc[("d1", "qboost"), "test_accuracy_mean"] == pytest.approx(0.8) and table.loc[("d1", "lasso@k"), "n"] == 2


def test_all_methods_level_everywhere_is_a_note_not_a_warning():
    import warnings

    long = pd.concat([_long({"qboost": [0.9, 0.8], "lasso@k": [0.8, 0.9], "abess@k": [0.85, 0.85]}, dataset=d) for d in ("d1", "d2")],
                     ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = across_datasets(long, "test_accuracy")
    assert result.notes == [ALL_LEVEL] and math.isnan(result.friedman_statistic)
    assert set(result.average) == {2.0} and result.nemenyi_p is not None and (result.nemenyi_p.to_numpy() == 1.0).all()


def test_ranks_of_a_lower_is_better_metric():
    # time_fit: lower is better; "fast" is fastest on every dataset, "slow" slowest.
    frames = [_long({"fast": [1.0, 1.1], "mid": [2.0, 2.1], "slow": [3.0 + i, 3.5]}, dataset=f"d{i}") for i in range(4)]
    long = pd.concat(frames, ignore_index=True)
    long["time_fit"] = long["test_accuracy"]
    result = across_datasets(long, "time_fit")
    assert list(result.average.index) == ["fast", "mid", "slow"] and result.average.to_dict() == {"fast": 1.0, "mid": 2.0, "slow": 3.0}
    # chi2 = 12*4/(3*4) * (16 + 64 + 144) - 3*4*4 = 8, every dataset alike: Iman-Davenport F infinite
    assert result.friedman_statistic == pytest.approx(8.0) and result.friedman_p == pytest.approx(math.exp(-4.0))
    assert result.nemenyi_p.loc["fast", "slow"] < result.nemenyi_p.loc["fast", "mid"]


def test_aggregation_numbers_on_a_synthetic_frame():
    runs = pd.DataFrame({
        "run_id": [f"r{i}" for i in range(6)], "status": "FINISHED",
        "tags.dataset": "wisc", "tags.qboost.source_digest": "abcdef0123456789",
        "tags.qboost.method": ["qboost"] * 3 + ["lasso@k"] * 3, "tags.model": ["qboost"] * 3 + ["lasso"] * 3,
        "params.seed": ["0", "1", "2"] * 2, "params.lambda": "0.1",
        "metrics.test_accuracy": [0.8, 0.9, 1.0, 0.7, 0.7, 0.7], "metrics.validation_accuracy": [0.85, 0.85, 0.85, 0.6, 0.7, 0.8],
        "metrics.selected": [4.0, 6.0, 8.0, 4.0, 6.0, 8.0], "metrics.lambda_value": [0.1, 0.1, 0.1, math.nan, math.nan, math.nan],
    })
    long = per_seed(runs, "test_accuracy")
    assert set(long["dataset"]) == {"wisc@abcdef01"} and sorted(set(long["method"])) == ["lasso@k", "qboost"]
    table = aggregate(long, "test_accuracy").set_index("method")
    q = table.loc["qboost"]
    # [0.8, 0.9, 1.0]: mean 0.9, std 0.1, half-width t(0.975, 2) * 0.1 / sqrt(3) = 4.302653 * 0.057735 = 0.248414
    assert (q["n"], q["test_accuracy_mean"], q["test_accuracy_std"]) == (3, pytest.approx(0.9), pytest.approx(0.1))
    assert q["test_accuracy_ci_low"] == pytest.approx(0.9 - 0.248414, abs=1e-6) and q["test_accuracy_ci_high"] == pytest.approx(0.9 + 0.248414, abs=1e-6)
    assert (q["selected_mean"], q["selected_std"], q["lambda_mean"]) == (6.0, 2.0, pytest.approx(0.1))
    lasso = table.loc["lasso@k"]
    assert lasso["test_accuracy_std"] == 0.0 and lasso["test_accuracy_ci_low"] == lasso["test_accuracy_ci_high"] == lasso["test_accuracy_mean"]
    assert math.isnan(lasso["lambda_mean"])  # a baseline's lambda param is no λ
    assert list(table.index) == ["qboost", "lasso@k"]  # best mean first
    assert t_interval([0.5])[0] == 0.5 and math.isnan(t_interval([0.5])[2])  # one seed: no interval


def test_a_lambda_sweep_refines_the_method_and_duplicates_are_an_error():
    runs = pd.DataFrame({
        "run_id": [f"r{i}" for i in range(4)], "status": "FINISHED", "tags.dataset": "wisc", "tags.model": "qboost",
        "params.seed": ["0", "0", "1", "1"], "params.lambda": ["0.1", "0.2", "0.1", "0.2"], "params.sampler.name": "neal",
        "metrics.test_accuracy": [0.9, 0.8, 0.9, 0.8],
    })
    assert method_labels(runs, ["lambda", "seed"]).tolist() == ["qboost[lambda=0.1]", "qboost[lambda=0.2]"] * 2
    assert method_labels(runs, None).tolist() == ["qboost[lambda=0.1]", "qboost[lambda=0.2]"] * 2  # no tag: any config param
    with pytest.raises(BenchmarkError, match=r"several runs, e.g. dataset wisc, seed 0, method qboost: runs r0, r1"):
        per_seed(runs, "test_accuracy", swept=["seed"])


def test_ranks_need_two_datasets_and_two_methods():
    result = across_datasets(_long({"qboost": [0.8, 0.9], "lasso@k": [0.7, 0.8]}), "test_accuracy")
    assert not result.testable and math.isnan(result.cd)
    assert result.notes == ["no test across datasets: it needs 2 datasets and 2 methods or more, here 1 dataset(s) x 2 method(s)"]


# --------------------------------------------------------------------------------------------------
# A real store: the benchmark sweep, a λ sweep, three identical runs

# test accuracy in thousandths, per dataset and method, seeds 0..4
BENCH = {
    "wisc": {"qboost": [900, 910, 920, 930, 940], "lasso@k": [890] * 5, "adaboost@k": [905, 900, 920, 950, 950]},
    "iris": {"qboost": [800, 810, 820, 830, 840], "lasso@k": [830, 835, 840, 845, 850], "adaboost@k": [700] * 5},
    "wine": {"qboost": [950] * 5, "lasso@k": [930] * 5, "adaboost@k": [930] * 5},
}
SOURCES = {"wisc": "aaaa1111bbbb2222", "iris": "cccc3333dddd4444", "wine": "eeee5555ffff6666"}
# The λ sweep (one dataset): (lambda, seed) -> (validation, test, selected); at seed 0, λ 0.1 and 0.2 are level on validation.
LAMBDA = {(lam, seed): (0.90 if seed == 0 and lam in ("0.1", "0.2") else 0.80 + 0.01 * seed, 0.85 + 0.01 * seed - float(lam) / 10, sel)
          for lam, sel in (("0.05", 12), ("0.1", 7), ("0.2", 5)) for seed in range(3)}


def _child(parent_run_id: str, name: str, tags: dict, params: dict, metrics: dict) -> str:
    with mlflow.start_run(run_name=name, nested=True, parent_run_id=parent_run_id) as run:
        mlflow.set_tags({"qboost.role": "child", **tags})
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        return run.info.run_id


def _bench_sweep() -> str:
    with mlflow.start_run(run_name="benchmark sweep") as parent:
        mlflow.set_tags({"qboost.role": "parent", "qboost.swept": "dataset model seed"})
    for dataset, methods in BENCH.items():
        for method, values in methods.items():
            model = method.split("@")[0]
            for seed, value in enumerate(values):
                tags = {"dataset": dataset, "qboost.source_digest": SOURCES[dataset], "qboost.method": method, "model": model,
                        "qboost.baseline": str(model != "qboost").lower()}
                params = {"seed": str(seed), "dataset.name": dataset, "model.name": model, "lambda": "0.1"}
                metrics = {"test_accuracy": value / 1000, "validation_accuracy": value / 1000 - 0.01, "selected": 8 + seed}
                if model == "qboost":
                    metrics["lambda_value"] = 0.1
                _child(parent.info.run_id, f"{dataset}-{method}-{seed}", tags, params, metrics)
    return parent.info.run_id


def _lambda_sweep() -> str:
    with mlflow.start_run(run_name="lambda sweep") as parent:
        mlflow.set_tags({"qboost.role": "parent", "qboost.swept": "lambda seed"})
    common = {"dataset": "wisc", "qboost.source_digest": SOURCES["wisc"]}
    for (lam, seed), (val, test, sel) in LAMBDA.items():
        _child(parent.info.run_id, f"qboost-{lam}-{seed}", {**common, "model": "qboost"}, {"seed": str(seed), "lambda": lam, "model.name": "qboost"},
               {"validation_accuracy": val, "test_accuracy": test, "selected": sel, "lambda_value": float(lam)})
    for seed in range(3):
        _child(parent.info.run_id, f"lasso-{seed}", {**common, "model": "lasso", "qboost.method": "lasso@k", "qboost.baseline": "true"},
               {"seed": str(seed), "lambda": "0.1", "model.name": "lasso"}, {"validation_accuracy": 0.7, "test_accuracy": 0.75 + 0.01 * seed, "selected": 7})
    return parent.info.run_id


@pytest.fixture(scope="module")
def bench_store(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bench")
    uri = f"sqlite:///{root}/mlflow.db"
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID")}
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment("bench")
        ids = {"bench": _bench_sweep(), "lambda": _lambda_sweep()}
        mlflow.set_experiment("identical")
        for i in range(3):  # the regression: three runs alike to the last bit
            with mlflow.start_run(run_name=f"same-{i}"):
                mlflow.set_tags({"qboost.role": "single", "dataset": "wisc", "sampler": "neal"})
                mlflow.log_params({"lambda": "0.1", "seed": "0", "sampler.name": "neal"})
                mlflow.log_metrics({"validation_accuracy": 0.7, "test_accuracy": 0.9647, "selected": 7, "lambda_value": 0.1})
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.tracking.fluent._active_experiment_id = None
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {"uri": uri, "ids": ids}


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


ARTIFACTS = {
    "aggregate.csv", "aggregate.md", "paired.csv", "paired.md", "ranks.csv", "ranks.md", "per_seed.csv", "benchmark.md",
    "cd_diagram_test_accuracy.png", *(f"test_accuracy_vs_learners_{d}-{SOURCES[d][:8]}.png" for d in BENCH),
}


def test_benchmark_end_to_end(bench_store, capsys, tmp_path):
    uri, parent = bench_store["uri"], bench_store["ids"]["bench"]
    code, out, err = run_compare(capsys, "--tracking-uri", uri, "--experiment", "bench", "--parent", parent[:8], "--out", str(tmp_path / "report"))
    assert code == 0, err
    bench = tmp_path / "report" / "benchmark" / "test_accuracy"
    assert {p.name for p in (tmp_path / "report" / "benchmark").iterdir()} == {"test_accuracy"}  # no temporary directory left
    assert {p.name for p in bench.iterdir()} == ARTIFACTS
    client = MlflowClient(uri)
    assert {a.path for a in client.list_artifacts(parent, "benchmark/test_accuracy")} == {f"benchmark/test_accuracy/{name}" for name in ARTIFACTS}
    assert f"logged {len(ARTIFACTS)} files as artifacts benchmark/test_accuracy/ of parent run {parent}" in out
    # aggregate: wisc's QBoost is 0.92 on average over its 5 seeds
    aggregate_rows = {(r["dataset"], r["method"]): r for r in _rows(bench / "aggregate.csv")}
    wisc = aggregate_rows[("wisc@aaaa1111", "qboost")]
    assert (wisc["n"], float(wisc["test_accuracy_mean"]), float(wisc["selected_mean"])) == ("5", pytest.approx(0.92), 10.0)
    assert float(wisc["test_accuracy_std"]) == pytest.approx(np.std([0.90, 0.91, 0.92, 0.93, 0.94], ddof=1))
    # paired: lasso@k is worse than QBoost on every wisc seed by distinct margins: exact Wilcoxon p = 0.0625
    paired = {(r["dataset"], r["method"]): r for r in _rows(bench / "paired.csv")}
    lasso = paired[("wisc@aaaa1111", "lasso@k")]
    assert (lasso["wins"], lasso["ties"], lasso["losses"], lasso["direction"]) == ("0", "0", "5", "worse")
    assert float(lasso["p_value"]) == pytest.approx(0.0625)
    ada = paired[("wisc@aaaa1111", "adaboost@k")]
    assert (ada["wins"], ada["ties"], ada["losses"], ada["direction"]) == ("3", "1", "1", "better")
    # ranks: wisc adaboost 1, qboost 2, lasso 3; iris lasso 1, qboost 2, adaboost 3; wine qboost 1, lasso = adaboost 2.5
    average = {k: float(v) for k, v in _rows(bench / "ranks.csv")[-1].items() if k != "dataset"}
    assert average == pytest.approx({"qboost": 5 / 3, "lasso@k": 6.5 / 3, "adaboost@k": 6.5 / 3})
    # Friedman on those ranks: 12*3/(3*4) * (sum R^2 - 3*16/4) = 0.5, over scipy's tie correction 1 - 6/72; CD(k=3, N=3)
    ranks_md = (bench / "ranks.md").read_text()
    assert f"Friedman chi2 = {0.5 / (1 - 6 / 72):.4f} (df 2)" in ranks_md
    assert f"Nemenyi critical difference (alpha 0.05) = {critical_difference(3, 3)[1]:.4f} for 3 methods on 3 datasets" in ranks_md
    # the text summary on stdout
    assert "benchmark of test_accuracy (an estimate of each method, not a choice among runs): 3 dataset(s) x 3 method(s), 5 seed(s), reference qboost" in out
    assert "wisc@aaaa1111  lasso@k     worse" in out
    for name in ARTIFACTS:
        if name.endswith(".png") and "learners" in name:
            assert_png(bench / name)


def test_benchmark_of_a_lambda_sweep_and_the_tie_rule(bench_store, capsys, tmp_path):
    uri, parent = bench_store["uri"], bench_store["ids"]["lambda"]
    code, out, err = run_compare(capsys, "--tracking-uri", uri, "--experiment", "bench", "--parent", parent, "--against", "lasso@k", "--out", str(tmp_path))
    assert code == 0, err
    methods = {r["method"] for r in _rows(tmp_path / "benchmark" / "test_accuracy" / "aggregate.csv")}
    assert methods == {"qboost[lambda=0.05]", "qboost[lambda=0.1]", "qboost[lambda=0.2]", "lasso@k"}
    assert "no test across datasets: it needs 2 datasets and 2 methods or more, here 1 dataset(s) x 4 method(s)" in out
    assert not list((tmp_path / "benchmark" / "test_accuracy").glob("cd_diagram*"))  # one dataset: no CD diagram
    assert_png(tmp_path / "benchmark" / "test_accuracy" / "test_accuracy_vs_learners_wisc-aaaa1111.png")
    # The tie rule: λ 0.1 and 0.2 are level on validation at seed 0; the sparser (0.2: 5 learners) is chosen,
    # by compare's order and by the runs API (the sweep summary and package --best), alike.
    runs = load_runs("bench", tracking_uri=uri, parent=parent)
    first = sort_runs(runs, "validation_accuracy").iloc[0]
    best = best_run(training_runs("bench", tracking_uri=uri, parent_run_id=parent), "validation_accuracy")
    assert first["run_name"] == "qboost-0.2-0" and best.info.run_id == first["run_id"]


def test_against_an_unknown_method_lists_the_methods(bench_store, capsys, tmp_path):
    uri, parent = bench_store["uri"], bench_store["ids"]["bench"]
    code, out, err = run_compare(capsys, "--tracking-uri", uri, "--experiment", "bench", "--parent", parent, "--against", "lasso", "--out", str(tmp_path))
    assert_one_error(code, out, err, "--against lasso: no such method", "methods: adaboost@k, lasso@k, qboost")
    assert not (tmp_path / "benchmark").exists()
    # Offered, not asked for (a sweep over seeds with no qboost method): a note, and the comparison goes on.
    lam = bench_store["ids"]["lambda"]
    code, out, err = run_compare(capsys, "--tracking-uri", uri, "--experiment", "bench", "--parent", lam, "--out", str(tmp_path))
    assert code == 0 and "note: no benchmark report: --against qboost: no such method among the runs" in err
    assert "training runs, sorted by validation_accuracy" in out and not (tmp_path / "benchmark").exists()


def test_three_identical_runs_end_to_end(bench_store, capsys, tmp_path):
    """Regression: three runs alike to the last bit averaged an ulp below their minimum, and matplotlib stopped with
    'yerr must not contain negative values'. From the store, through compare's command line, to the PNGs."""
    uri = bench_store["uri"]
    code, out, err = run_compare(capsys, "--tracking-uri", uri, "--experiment", "identical", "--out", str(tmp_path))
    assert code == 0, err
    assert "yerr" not in err and "note:" not in err
    for name in ("validation_accuracy_vs_lambda.png", "pareto_validation_accuracy_vs_selected.png"):
        assert_png(tmp_path / name)
    # They are one (dataset, seed, method) three times: no benchmark can pair them, and it says so in one line.
    assert_one_error(*run_compare(capsys, "--tracking-uri", uri, "--experiment", "identical", "--benchmark", "--out", str(tmp_path)),
                     "1 (dataset, seed, method) cells hold several runs")


def test_a_report_on_another_metric_goes_to_its_own_directory(bench_store, capsys, tmp_path):
    uri, parent = bench_store["uri"], bench_store["ids"]["bench"]
    for metric in ("test_accuracy", "validation_accuracy"):
        code, out, err = run_compare(capsys, "--tracking-uri", uri, "--experiment", "bench", "--parent", parent, "--metric", metric, "--out", str(tmp_path))
        assert code == 0, err
        assert f"logged {len(ARTIFACTS)} files as artifacts benchmark/{metric}/ of parent run {parent}" in out
    assert {p.name for p in (tmp_path / "benchmark").iterdir()} == {"test_accuracy", "validation_accuracy"}
    assert {p.name for p in (tmp_path / "benchmark" / "validation_accuracy").iterdir()} == {n.replace("test_accuracy", "validation_accuracy") for n in ARTIFACTS}
    client = MlflowClient(uri)
    assert {a.path for a in client.list_artifacts(parent, "benchmark")} >= {"benchmark/test_accuracy", "benchmark/validation_accuracy"}
    names = {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(parent, "benchmark/validation_accuracy")}
    assert not any(n.startswith("test_accuracy") or n == "cd_diagram_test_accuracy.png" for n in names)


def test_a_failing_figure_leaves_the_old_report_whole(bench_store, capsys, tmp_path, monkeypatch):
    from qboost_exp.compare import _benchmark_figures

    uri, parent = bench_store["uri"], bench_store["ids"]["bench"]
    args = ("--tracking-uri", uri, "--experiment", "bench", "--parent", parent, "--out", str(tmp_path))
    code, _, err = run_compare(capsys, *args)
    assert code == 0, err
    bench = tmp_path / "benchmark" / "test_accuracy"
    before = {p.name: p.read_bytes() for p in bench.iterdir()}

    def broken(*_args, **_kwargs):
        raise ValueError("a figure that cannot be drawn")

    monkeypatch.setattr(_benchmark_figures, "plot_accuracy_vs_learners", broken)
    assert_one_error(*run_compare(capsys, *args), f"cannot write the benchmark report to {bench}: ValueError: a figure that cannot be drawn")
    assert {p.name: p.read_bytes() for p in bench.iterdir()} == before  # the earlier report, whole
    assert [p.name for p in (tmp_path / "benchmark").iterdir()] == ["test_accuracy"]  # the half-written one removed
    # With no earlier report, nothing at all.
    fresh = tmp_path / "fresh"
    assert_one_error(*run_compare(capsys, *args[:-1], str(fresh)), "cannot write the benchmark report to")
    assert list((fresh / "benchmark").iterdir()) == []
