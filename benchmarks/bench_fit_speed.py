"""Benchmark: the default ``lambda=auto`` fit, old code against new, side by side in one run.

For each data set of ``bench_accuracy.py`` (``wisc``, ``digits38``, ``hard``; its ``load()`` is copied here)
and each seed (0..9, stratified 60/40 ``train_test_split(..., test_size=0.4,
stratify=y, random_state=seed)``), three fits of the training part, one after
the other so that they see the same machine load:

* ``old``: ``QBoostClassifier(random_state=seed)`` from the code of the commit
  given by ``--old`` (default: the commit before the fast search), extracted
  with ``git archive`` into a temporary directory and run in its own Python
  process (``PYTHONPATH`` pointing there);
* ``new``: the same call from this working tree, in its own process;
* ``adaboost``: ``AdaBoostClassifier(DecisionTreeClassifier(max_depth=2),
  n_estimators=60)`` (in the ``new`` process).

Reported per data set: mean fit seconds, the old/new speed-up, new/AdaBoost,
mean test accuracy and learners selected of both, and the energy gap of the
final fit's QUBO (the last QUBO each fit solves, rebuilt from the arguments of
its ``_sampling.solve`` call):

    gap = (E_chosen - E_ref) / |E_ref|      (energies offset included)

with ``E_chosen`` the energy of the fitted weights and ``E_ref`` either a 10x
longer anneal of the same QUBO (neal, 100 reads x 10000 sweeps: the default
final fit anneals 100 x 1000) or the best known (the lowest of that anneal, a
tabu search of 4 reads x 250 ms, and ``E_chosen``). A negative gap means the
fit beat the long anneal.

Usage::

    .venv/bin/python benchmarks/bench_fit_speed.py                       # everything (~15 min on 2 busy cores)
    .venv/bin/python benchmarks/bench_fit_speed.py --datasets wisc --seeds 0,1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import io
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: The commit before the fast λ search (the code the requirement compares against).
OLD_COMMIT = "795975b"
TARGET_SPEEDUP, TARGET_ADABOOST_RATIO, ACCURACY_SLACK, GAP_TOL, GAP_SHARE = 8.0, 15.0, 0.003, 1e-3, 0.95

# The worker: reads one JSON task per line, fits, answers one JSON line. Runs with
# PYTHONPATH = the code under test, so `import qboost_exp` is that code.
WORKER = r'''
import json, sys, time, warnings
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.model_selection import train_test_split
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier
import qboost_exp
from qboost_exp import QBoostClassifier
from qboost_exp.domain import _qubo, _sampling
calls = []
_solve = _sampling.solve
def solve(stats, penalty, weight_bits, max_weight, *args, **kwargs):
    calls.append((stats, penalty, weight_bits, max_weight))
    return _solve(stats, penalty, weight_bits, max_weight, *args, **kwargs)
_sampling.solve = solve

def load(name):  # as bench_accuracy.load, copied: that module imports today's qboost_exp (baselines), which the old code lacks
    if name == "wisc":
        return load_breast_cancer(return_X_y=True)
    if name == "digits38":
        digits = load_digits()
        keep = np.isin(digits.target, [3, 8])
        return digits.data[keep], (digits.target[keep] == 8).astype(int)
    if name == "hard":
        return make_classification(
            n_samples=2000, n_features=40, n_informative=10, n_redundant=10, flip_y=0.05, class_sep=0.8, random_state=1
        )
    raise ValueError(name)

data = {}
for line in sys.stdin:
    task = json.loads(line)
    ds, seed = task["dataset"], task["seed"]
    if ds not in data:
        data[ds] = load(ds)
    X, y = data[ds]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.4, stratify=y, random_state=seed)
    out = {"file": qboost_exp.__file__}
    if task["method"] == "adaboost":
        t0 = time.perf_counter()
        est = AdaBoostClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=60, random_state=seed).fit(X_tr, y_tr)
        out.update(sec=time.perf_counter() - t0, acc=float(est.score(X_te, y_te)), n=len(est.estimators_))
    else:
        calls.clear()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            est = QBoostClassifier(random_state=seed).fit(X_tr, y_tr)
        out.update(sec=time.perf_counter() - t0, acc=float(est.score(X_te, y_te)), n=int(len(est.selected_indices_)),
                   lam=est.lam_, max_weight=est.max_weight_, timings=est.timings_,
                   calls=(est.search_ or {}).get("sampler_calls"))
        stats, penalty, bits, w = calls[-1]  # the final fit's QUBO
        bqm, layout = _qubo.build_bqm(stats, penalty, bits, w)
        c = _qubo.weight_scale(w, bits)
        levels = np.rint(est.weights_ / c).astype(int)
        state = np.concatenate([((levels[:, None] >> np.arange(bits)) & 1).reshape(-1)] +
                               ([(levels > 0).astype(int)] if bits > 1 else []))
        e_chosen = float(bqm.energy((state, range(bqm.num_variables))))
        from dwave.samplers import SimulatedAnnealingSampler, TabuSampler
        e_long = float(SimulatedAnnealingSampler().sample(bqm, num_reads=100, num_sweeps=10000, seed=12345).first.energy)
        e_tabu = float(TabuSampler().sample(bqm, num_reads=4, timeout=250, seed=12345).first.energy)
        out.update(e_chosen=e_chosen, e_long=e_long, e_best=min(e_long, e_tabu, e_chosen), best_energy=float(est.best_energy_))
    print(json.dumps(out), flush=True)
'''


class Worker:
    def __init__(self, code_path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(code_path), "PYTHONHASHSEED": "0"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=env, cwd=tempfile.gettempdir(),
        )

    def run(self, **task) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(task) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker died on {task}")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait()


def extract(commit: str, into: Path) -> Path:
    """The package ``qboost_exp`` of ``commit``, written under ``into`` (git archive: the repository is not touched)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "qboost_exp"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def gap(e: float, ref: float) -> float:
    return (e - ref) / abs(ref)


def report(res: dict, seeds: list[int]) -> tuple[str, list[str]]:
    lines = [
        "| data set | old fit s | new fit s | speed-up | AdaBoost s | new / AdaBoost | accuracy old → new (pp) | learners old → new "
        "| sampler calls old → new | gap ≤ 0.1 % vs long anneal (new / old) | gap ≤ 0.1 % vs best known (new / old) | worst gap new |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---|---|---:|",
    ]
    verdicts = []
    all_gaps = {"new": [], "old": []}
    for ds, r in res.items():
        sec = {m: float(np.mean([x["sec"] for x in r[m]])) for m in r}
        acc = {m: 100 * float(np.mean([x["acc"] for x in r[m]])) for m in r}
        n = {m: float(np.mean([x["n"] for x in r[m]])) for m in r}
        g_long = {m: [gap(x["e_chosen"], x["e_long"]) for x in r[m]] for m in ("old", "new")}
        g_best = {m: [gap(x["e_chosen"], x["e_best"]) for x in r[m]] for m in ("old", "new")}
        for m in all_gaps:
            all_gaps[m] += list(zip(g_long[m], g_best[m]))
        share = lambda g: float(np.mean(np.array(g) <= GAP_TOL))  # noqa: E731
        calls_old = 91
        calls_new = float(np.mean([x["calls"] + 1 for x in r["new"]]))
        speedup, ratio = sec["old"] / sec["new"], sec["new"] / sec["adaboost"]
        lines.append(
            f"| {ds} | {sec['old']:.2f} | {sec['new']:.2f} | {speedup:.1f}× | {sec['adaboost']:.3f} | {ratio:.1f}× | "
            f"{acc['old']:.2f} → {acc['new']:.2f} ({acc['new'] - acc['old']:+.2f}) | {n['old']:.1f} → {n['new']:.1f} | "
            f"{calls_old} → {calls_new:.0f} | {share(g_long['new']):.0%} / {share(g_long['old']):.0%} | "
            f"{share(g_best['new']):.0%} / {share(g_best['old']):.0%} | {max(g_best['new']):.1e} |"
        )
        verdicts += [
            f"- {ds}: speed-up {speedup:.1f}× (target ≥ {TARGET_SPEEDUP:g}×): {'MET' if speedup >= TARGET_SPEEDUP else 'MISSED'}",
            f"- {ds}: new / AdaBoost {ratio:.1f}× (target ≤ {TARGET_ADABOOST_RATIO:g}×): {'MET' if ratio <= TARGET_ADABOOST_RATIO else 'MISSED'}",
            f"- {ds}: accuracy {acc['new'] - acc['old']:+.2f} pp (target ≥ {-100 * ACCURACY_SLACK:.1f}): "
            f"{'MET' if acc['new'] - acc['old'] >= -100 * ACCURACY_SLACK - 1e-9 else 'MISSED'}",
            f"- {ds}: learners {n['old']:.1f} → {n['new']:.1f} (target: no more): {'MET' if n['new'] <= n['old'] + 1e-9 else 'MISSED'}",
        ]
    for m in ("new",):
        g = np.array(all_gaps[m])
        for k, name in ((0, "the 10× longer anneal"), (1, "the best known")):
            s = float(np.mean(g[:, k] <= GAP_TOL))
            verdicts.append(
                f"- all fits ({len(g)}): energy gap vs {name} ≤ 0.1 % on {s:.1%} (target ≥ {GAP_SHARE:.0%}): "
                f"{'MET' if s >= GAP_SHARE else 'MISSED'}; median {np.median(g[:, k]):.1e}, max {g[:, k].max():.1e}"
            )
    g = np.array(all_gaps["old"])
    verdicts.append(f"- for comparison, the old code's final fits: gap ≤ 0.1 % vs the long anneal on {np.mean(g[:, 0] <= GAP_TOL):.1%}, "
                    f"vs the best known on {np.mean(g[:, 1] <= GAP_TOL):.1%}")
    return "\n".join(lines), verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="wisc,digits38,hard")
    ap.add_argument("--seeds", default=",".join(map(str, range(10))))
    ap.add_argument("--old", default=OLD_COMMIT, help="the commit to compare against (default %(default)s)")
    ap.add_argument("--json", help="also write the per-fit results to this file")
    args = ap.parse_args(argv)
    datasets = [d for d in args.datasets.split(",") if d]
    seeds = [int(s) for s in args.seeds.split(",")]
    before = loadavg()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qboost-old-") as tmp:
        old_code = extract(args.old, Path(tmp))
        workers = {"old": Worker(old_code), "new": Worker(REPO)}
        res: dict = {}
        loads = []
        try:
            for ds in datasets:
                for seed in seeds:
                    row = {}
                    for method, worker in (("old", "old"), ("new", "new"), ("adaboost", "new")):
                        row[method] = workers[worker].run(dataset=ds, seed=seed, method=method)
                        res.setdefault(ds, {}).setdefault(method, []).append(row[method])
                    loads.append(loadavg().split()[0])
                    print(
                        f"# {ds} seed {seed}: old {row['old']['sec']:.2f} s {row['old']['acc']:.4f}/{row['old']['n']}, "
                        f"new {row['new']['sec']:.2f} s {row['new']['acc']:.4f}/{row['new']['n']} "
                        f"(gap {gap(row['new']['e_chosen'], row['new']['e_best']):.1e}), adaboost {row['adaboost']['sec']:.3f} s "
                        f"| load {loads[-1]}",
                        flush=True,
                    )
            files = {m: res[datasets[0]][m][0]["file"] for m in ("old", "new")}
        finally:
            for w in workers.values():
                w.close()
    after = loadavg()
    table, verdicts = report(res, seeds)
    print(f"\nold code: {args.old} ({files['old']}); new code: {files['new']}")
    print(f"seeds {seeds}; wall {time.perf_counter() - t_start:.0f} s; /proc/loadavg before: {before}; after: {after}; "
          f"1-min load after each seed: min {min(map(float, loads)):.2f}, max {max(map(float, loads)):.2f}\n")
    print(table)
    print()
    print("\n".join(verdicts))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "load_before": before, "load_after": after, "results": res}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
