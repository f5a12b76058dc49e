"""Benchmark: QBoost against AdaBoost, gradient boosting and D-Wave's demo formulation.

Data sets (``--datasets``): ``wisc`` (scikit-learn's breast cancer data),
``digits38`` (digits 3 vs 8) and ``hard`` (``make_classification(n_samples=2000,
n_features=40, n_informative=10, n_redundant=10, flip_y=0.05, class_sep=0.8,
random_state=1)``). Ten seeds (0..9); per seed a stratified 60/40 split
(``train_test_split(..., test_size=0.4, stratify=y, random_state=seed)``).
Every choice (λ, the largest weight) is made on the training part only, by
the estimator's own cross-validation; the configurations are fixed in this
file. ``--dev`` evaluates on an inner 60/40 split of each training part
instead (the test part is never touched): that is how configurations are
chosen.

Methods (``--methods``):

* ``qboost-default``: ``QBoostClassifier(random_state=seed)``, every default
  (60 AdaBoost depth-2 candidates, 1-bit weights, λ and the largest weight by
  5-fold CV with the one-standard-error rule, neal 100 reads x 1000 sweeps).
* ``qboost-best``: the best documented configuration (``BEST`` below): the
  defaults plus ``refit="logistic"`` (a departure from pure QBoost: the
  annealer selects, a logistic regression re-weights). Chosen with ``--dev``
  over ``cv_rule`` in {one_se, best} and ``refit`` in {none, logistic}.
* ``qboost-best-rule``: ``cv_rule="best"`` with the logistic refit (more learners).
* ``qboost-iterative``: the defaults with ``strategy="iterative"`` and
  windows of 20 candidates (the large-dictionary path on a small dictionary).
* ``adaboost``: ``AdaBoostClassifier(DecisionTreeClassifier(max_depth=2),
  n_estimators=60)``: the same kind and number of learners as the default dictionary.
* ``gradient-boosting``: ``GradientBoostingClassifier()`` (100 depth-3 trees).
* ``lasso@k``: :class:`qboost_exp.domain.baselines.LassoClassifier` over the same
  dictionary (60 AdaBoost depth-2 candidates, fitted by the same code), its
  path cut at ``k`` = the number of learners ``qboost-default`` selected for
  that seed, the ``k`` learners then refitted by least squares.
* ``adaboost@k``: AdaBoost stopped after ``k`` stages (the same ``k``).
* ``l1-logistic@k``: :class:`qboost_exp.domain.baselines.L1LogisticClassifier`, cut at the same ``k``.
* ``lasso``, ``l1-logistic``: the same, their penalty by QBoost's CV rule
  (5 folds, one standard error) instead of a cut.
* ``dwave-demo``: D-Wave's demo formulation (``qubo=dwave_demo``): one stump per
  feature, weights in {0, 1/M}, λ from ``linspace(0, 0.5, 10)`` (in units of
  1/M, as the demo normalises it) on one stratified 60/40 validation split,
  the best validation accuracy.

Usage::

    .venv/bin/python benchmarks/bench_accuracy.py                       # all, test splits (~40 min)
    .venv/bin/python benchmarks/bench_accuracy.py --dev --seeds 0,1,2   # choosing configurations
    .venv/bin/python benchmarks/bench_accuracy.py --datasets wisc --methods qboost-default,adaboost
    .venv/bin/python benchmarks/bench_accuracy.py --methods qboost-default,adaboost,lasso@k,adaboost@k   # baselines at QBoost's k
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any, Callable

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.ensemble import AdaBoostClassifier, GradientBoostingClassifier
from sklearn.model_selection import StratifiedShuffleSplit, train_test_split
from sklearn.tree import DecisionTreeClassifier

from qboost_exp import QBoostClassifier
from qboost_exp.domain.baselines import L1LogisticClassifier, LassoClassifier, n_learners

SEEDS = tuple(range(10))
#: The best documented configuration (README, "Choosing a configuration").
BEST: dict[str, Any] = {"refit": "logistic"}


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
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


def dwave_demo(seed: int) -> QBoostClassifier:
    return QBoostClassifier(
        weak_learners="stumps", lam="auto", lam_grid=list(np.linspace(0.0, 0.5, 10)), max_weight="1/M", weight_bits=1,
        cv=StratifiedShuffleSplit(n_splits=1, test_size=0.4, random_state=seed), cv_rule="best", random_state=seed,
    )


METHODS: dict[str, Callable[[int], Any]] = {
    "qboost-default": lambda seed: QBoostClassifier(random_state=seed),
    "qboost-best": lambda seed: QBoostClassifier(random_state=seed, **BEST),
    "qboost-best-rule": lambda seed: QBoostClassifier(random_state=seed, cv_rule="best", refit="logistic"),
    "qboost-iterative": lambda seed: QBoostClassifier(random_state=seed, strategy="iterative", window=20),
    "adaboost": lambda seed: AdaBoostClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=60, random_state=seed),
    "gradient-boosting": lambda seed: GradientBoostingClassifier(random_state=seed),
    "dwave-demo": dwave_demo,
    "lasso": lambda seed: LassoClassifier(random_state=seed),
    "l1-logistic": lambda seed: L1LogisticClassifier(random_state=seed),
}
#: Methods at QBoost's learner count: built from (seed, k), k = what `qboost-default` selected for that seed.
AT_K: dict[str, Callable[[int, int], Any]] = {
    "lasso@k": lambda seed, k: LassoClassifier(max_learners=max(1, k), random_state=seed),
    "adaboost@k": lambda seed, k: AdaBoostClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=max(1, k), random_state=seed),
    "l1-logistic@k": lambda seed, k: L1LogisticClassifier(max_learners=max(1, k), random_state=seed),
}


def learners_used(est: Any) -> int:
    # QBoost and the dictionary baselines: non-zero weights; boosting: stages / trees.
    return int(n_learners(est))


def run(datasets: list[str], methods: list[str], seeds: list[int], dev: bool, log: Callable[[str], None]) -> dict:
    res: dict = {}
    for ds in datasets:
        X, y = load(ds)
        for seed in seeds:
            X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.4, stratify=y, random_state=seed)
            if dev:
                X_tr, X_te, y_tr, y_te = train_test_split(X_tr, y_tr, test_size=0.4, stratify=y_tr, random_state=1000 + seed)
            k = None
            for m in methods:
                if m in AT_K:
                    if k is None:
                        raise SystemExit(f"{m} needs qboost-default before it in --methods (its k is QBoost's learner count)")
                    est = AT_K[m](seed, k)
                else:
                    est = METHODS[m](seed)
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    est.fit(X_tr, y_tr)
                seconds = time.perf_counter() - t0
                r = res.setdefault(ds, {}).setdefault(m, {"acc": [], "n": [], "sec": [], "extra": []})
                r["acc"].append(float(est.score(X_te, y_te)))
                r["n"].append(learners_used(est))
                if m == "qboost-default":
                    k = r["n"][-1]
                r["sec"].append(seconds)
                extra = {}
                if isinstance(est, QBoostClassifier):
                    extra = {"lam": est.lam_, "max_weight": est.max_weight_}
                r["extra"].append(extra)
            log(f"# {ds} seed {seed}: " + ", ".join(f"{k} {v['acc'][-1]:.3f}/{v['n'][-1]}" for k, v in res[ds].items()))
    return res


def table(res: dict) -> str:
    lines = []
    for ds, by_method in res.items():
        lines += [f"**{ds}**", "", "| method | test accuracy (mean ± std) | learners (mean) | fit s (mean) | λ / largest weight chosen |", "|---|---:|---:|---:|---|"]
        for name, r in by_method.items():
            choices = sorted({f"{e['lam']:g} / {e['max_weight']:.4g}" for e in r["extra"] if e})
            lines.append(
                f"| `{name}` | {np.mean(r['acc']):.4f} ± {np.std(r['acc']):.4f} | {np.mean(r['n']):.1f} | "
                f"{np.mean(r['sec']):.2f} | {', '.join(choices)} |"
            )
        lines.append("")
    return "\n".join(lines)


def verdicts(res: dict) -> list[str]:
    out = []
    for ds, r in res.items():
        mean = {m: float(np.mean(v["acc"])) for m, v in r.items()}
        size = {m: float(np.mean(v["n"])) for m, v in r.items()}
        for q in (m for m in r if m.startswith("qboost")):
            if "adaboost" in r:
                ok = mean[q] >= mean["adaboost"] and size[q] <= size["adaboost"] / 3
                out.append(
                    f"- {ds}: `{q}` {mean[q]:.4f} with {size[q]:.1f} learners vs AdaBoost {mean['adaboost']:.4f} with "
                    f"{size['adaboost']:.0f} ({100 * (mean[q] - mean['adaboost']):+.2f} pp, ratio {size[q] / size['adaboost']:.2f}): "
                    f"{'MET' if ok else 'MISSED'}"
                )
            if "dwave-demo" in r:
                gap = 100 * (mean[q] - mean["dwave-demo"])
                out.append(f"- {ds}: `{q}` vs D-Wave's demo formulation: {gap:+.2f} pp (target >= +2): {'MET' if gap >= 2 else 'MISSED'}")
        q = "qboost-default"
        at_k = [m for m in AT_K if m in r and q in r]
        for m in at_k:
            gap = 100 * (mean[q] - mean[m])
            equal = all(a == b for a, b in zip(r[q]["n"], r[m]["n"]))
            out.append(
                f"- {ds}: `{q}` {mean[q]:.4f} vs `{m}` {mean[m]:.4f} at equal k ({size[q]:.1f} learners"
                f"{'' if equal else f', the baseline {size[m]:.1f}'}): {gap:+.2f} pp (target >= 0): {'MET' if gap >= 0 else 'MISSED'}"
            )
        if q in r and "adaboost" in r:
            gap = 100 * (mean[q] - mean["adaboost"])
            ok = gap >= -0.5 and size[q] <= size["adaboost"] / 3
            out.append(
                f"- {ds}: `{q}` within 0.5 pp of AdaBoost(60) with <= 1/3 of its learners: {gap:+.2f} pp, "
                f"{size[q]:.1f}/{size['adaboost']:.0f} learners (ratio {size[q] / size['adaboost']:.2f}): {'MET' if ok else 'MISSED'}"
            )
        if "qboost-default" in r and "qboost-best" in r:
            gap = 100 * (mean["qboost-best"] - mean["qboost-default"])
            out.append(f"- {ds}: default within {gap:.2f} pp of the best configuration (target <= 0.5): {'MET' if gap <= 0.5 else 'MISSED'}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="wisc,digits38,hard")
    ap.add_argument("--methods", default="qboost-default,qboost-best,qboost-iterative,adaboost,gradient-boosting,dwave-demo", help=f"from: {', '.join([*METHODS, *AT_K])}")
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--dev", action="store_true", help="evaluate on an inner split of each training split (never the test split)")
    ap.add_argument("--json", help="also write the per-seed results to this file")
    args = ap.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS and m not in AT_K]
    if bad:
        ap.error(f"unknown method(s) {bad}; choose from {[*METHODS, *AT_K]}")
    if any(m in AT_K for m in methods) and ("qboost-default" not in methods or methods.index("qboost-default") > min(methods.index(m) for m in methods if m in AT_K)):
        ap.error("the @k methods need qboost-default before them in --methods (k is its learner count per seed)")
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    res = run(datasets, methods, seeds, args.dev, log=lambda s: print(s, flush=True))
    where = "an inner 60/40 split of each training split (--dev)" if args.dev else "the 40 % test split"
    print(f"\nseeds {seeds}; evaluated on {where}; wall {time.perf_counter() - t0:.0f} s\n")
    print(table(res))
    print("\n".join(verdicts(res)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": res}, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
