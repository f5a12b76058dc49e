"""Benchmark: QBoost vs scikit-learn's AdaBoost on the breast-cancer data.

Ten fixed seeds (0..9); per seed a stratified 60/40 train/test split
(``train_test_split(..., test_size=0.4, stratify=y, random_state=seed)``).
Every QBoost configuration is compared side by side, on the same splits, with
``AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=M)``
where ``M`` is that configuration's number of candidate learners.

Nothing is chosen on the test set: QBoost's ``lam`` is picked by
``lam="auto"`` (cross-validation on the training split only) and the
configurations below are fixed in this file. ``--dev`` runs the same
comparison on an inner 60/40 split *of each training split* (the test splits
are never touched); that is how the configurations were chosen.

Methods (``--methods``, comma-separated; default: all but
``qboost-adaboost-2bit``, which alone takes ~3-4 min):

* ``qboost-adaboost`` - candidates: the 60 depth-1 learners of an AdaBoost
  run; binary weights; lam by 5-fold CV over a grid in units of 1/M.
* ``qboost-adaboost-2bit`` - the same with ``weight_bits=2``.
* ``qboost-mixed`` - candidates: 30 stumps + 30 depth-2 random-subspace trees
  + 4 standard classifiers (scaled logistic regression, scaled RBF-SVM,
  scaled 7-NN, Gaussian naive Bayes); binary weights; lam by 5-fold CV over
  a grid in units of 1/M.
* ``qboost-dwave-ref`` - D-Wave's reference setting: 30 stumps (one per
  feature), binary weights, lam from the default grid on a single stratified
  80/20 validation split of the training data.
* ``svc-alone`` - reference only: the scaled RBF-SVM member of the mixed pool
  on its own (shows where qboost-mixed's accuracy comes from).

Usage::

    .venv/bin/python benchmarks/bench_accuracy.py                 # test splits, seeds 0..9 (~5 min)
    .venv/bin/python benchmarks/bench_accuracy.py --dev           # inner splits of the training data only
    .venv/bin/python benchmarks/bench_accuracy.py --methods qboost-dwave-ref --seeds 0,1
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import Counter
from typing import Any, Callable

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import AdaBoostClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from qboost_exp import QBoostClassifier

SEEDS = tuple(range(10))
# neal: the project's conf/sampler/neal.yaml settings.
NEAL = {"num_reads": 100, "num_sweeps": 1000}
# A learner on its own lowers the energy by at most 2*g_i/M - 1/M**2 < 2/M
# (binary weights 1/M), so lam >= 2/M selects nothing: a grid for M candidates
# spans [0, 2/M). Fixed a priori from the formula, not from data.
LAM_UNITS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 1.9)


def lam_grid(n_candidates: int) -> list[float]:
    return [u / n_candidates for u in LAM_UNITS]


def strong_members() -> list[Any]:
    return [
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        make_pipeline(StandardScaler(), SVC()),
        make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=7)),
        GaussianNB(),
    ]


def _qboost(seed: int, **kw: Any) -> QBoostClassifier:
    return QBoostClassifier(sampler="neal", sampler_params=dict(NEAL), random_state=seed, **kw)


# name -> (description, number of candidates M, factory(seed) -> estimator)
QBOOST_METHODS: dict[str, tuple[str, int, Callable[[int], Any]]] = {
    "qboost-adaboost": (
        "QBoost, 60 AdaBoost stumps, 1 bit, lam 5-fold CV",
        60,
        lambda seed: _qboost(
            seed, weak_learners={"name": "adaboost", "params": {"n_estimators": 60, "max_depth": 1}},
            weight_bits=1, lam="auto", lam_grid=lam_grid(60), cv=5,
        ),
    ),
    "qboost-adaboost-2bit": (
        "QBoost, 60 AdaBoost stumps, 2 bits, lam 5-fold CV",
        60,
        lambda seed: _qboost(
            seed, weak_learners={"name": "adaboost", "params": {"n_estimators": 60, "max_depth": 1}},
            weight_bits=2, lam="auto", lam_grid=lam_grid(60), cv=5,
        ),
    ),
    "qboost-mixed": (
        "QBoost, mixed: 30 stumps + 30 depth-2 trees + LR, SVC, 7-NN, NB; 1 bit, lam 5-fold CV",
        64,
        lambda seed: _qboost(
            seed,
            weak_learners={"name": "mixed", "params": {"members": [
                {"name": "stumps"},
                {"name": "trees", "params": {"n_estimators": 30, "max_depth": 2, "max_features": 0.5}},
                *strong_members(),
            ]}},
            weight_bits=1, lam="auto", lam_grid=lam_grid(64), cv=5,
        ),
    ),
    "qboost-dwave-ref": (
        "QBoost, D-Wave reference: 30 stumps, 1 bit, lam on one 80/20 split (default grid)",
        30,
        lambda seed: _qboost(
            seed, weak_learners="stumps", weight_bits=1, lam="auto",
            cv=StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=seed),
        ),
    ),
}
REFERENCE_METHODS: dict[str, tuple[str, Callable[[int], Any]]] = {
    "svc-alone": ("reference: scaled RBF-SVM alone (a member of the mixed pool)", lambda seed: make_pipeline(StandardScaler(), SVC())),
}


def adaboost(n_estimators: int, seed: int) -> AdaBoostClassifier:
    return AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=n_estimators, random_state=seed)


def splits(seed: int, dev: bool):
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.4, stratify=y, random_state=seed)
    if dev:  # an inner split of the training data; the test split is discarded
        X_tr, X_te, y_tr, y_te = train_test_split(X_tr, y_tr, test_size=0.4, stratify=y_tr, random_state=1000 + seed)
    return X_tr, X_te, y_tr, y_te


def _kind(learner: Any) -> str:
    """A short name for a selected learner: stump, tree-d2, svc, logisticregression, ..."""
    inner = getattr(learner, "estimator", learner)  # SubspaceLearner wraps a tree
    if hasattr(inner, "steps"):  # Pipeline: its final step
        inner = inner.steps[-1][1]
    if isinstance(inner, DecisionTreeClassifier):
        depth = inner.max_depth
        return "stump" if depth == 1 else f"tree-d{depth}"
    return type(inner).__name__.lower().replace("classifier", "")


def _fit_score(est: Any, X_tr, y_tr, X_te, y_te) -> tuple[float, float, Any]:
    t0 = time.perf_counter()
    est.fit(X_tr, y_tr)
    seconds = time.perf_counter() - t0
    return float(est.score(X_te, y_te)), seconds, est


def run(methods: list[str], seeds: list[int], dev: bool, log: Callable[[str], None]) -> dict[str, dict[str, list]]:
    res: dict[str, dict[str, list]] = {}

    def add(name: str, acc: float, n: float, sec: float, extra: dict | None = None) -> None:
        r = res.setdefault(name, {"acc": [], "n": [], "sec": [], "extra": []})
        r["acc"].append(acc)
        r["n"].append(n)
        r["sec"].append(sec)
        r["extra"].append(extra or {})

    ada_sizes = sorted({QBOOST_METHODS[m][1] for m in methods if m in QBOOST_METHODS})
    for seed in seeds:
        X_tr, X_te, y_tr, y_te = splits(seed, dev)
        for size in ada_sizes:
            acc, sec, est = _fit_score(adaboost(size, seed), X_tr, y_tr, X_te, y_te)
            add(f"adaboost-{size}", acc, len(est.estimators_), sec)
        for m in methods:
            if m in QBOOST_METHODS:
                _, size, make = QBOOST_METHODS[m]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    acc, sec, est = _fit_score(make(seed), X_tr, y_tr, X_te, y_te)
                if est.n_candidates_ != size:
                    raise RuntimeError(f"{m}: {est.n_candidates_} candidates, expected {size}")
                kinds = [_kind(e) for e in est.estimators_]
                ties = float(np.mean(est.decision_function(X_te) == 0.0))  # predicted classes_[0] by convention
                add(m, acc, len(est.selected_indices_), sec, {"lam": est.lam_, "n_candidates": est.n_candidates_, "kinds": kinds, "ties": ties})
            else:
                acc, sec, _ = _fit_score(REFERENCE_METHODS[m][1](seed), X_tr, y_tr, X_te, y_te)
                add(m, acc, 1, sec)
        log(f"# seed {seed} done: " + ", ".join(f"{k} {v['acc'][-1]:.3f}/{v['n'][-1]}" for k, v in res.items()))
    return res


def table(res: dict[str, dict[str, list]]) -> str:
    lines = [
        "| method | test accuracy (mean ± std) | learners (mean) | learners (min-max) | fit s (mean) | lam chosen | test margins == 0 | selected learners (total over seeds) |",
        "|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for name, r in res.items():
        desc = QBOOST_METHODS[name][0] if name in QBOOST_METHODS else REFERENCE_METHODS[name][0] if name in REFERENCE_METHODS else f"AdaBoost, {name.split('-')[1]} stumps (depth 1)"
        lams = [e["lam"] for e in r["extra"] if "lam" in e]
        lam_txt = ", ".join(sorted({f"{v:.3g}" for v in lams}, key=float)) if lams else ""
        kinds = Counter(k for e in r["extra"] for k in e.get("kinds", []))
        kinds_txt = ", ".join(f"{k} x{v}" for k, v in kinds.most_common())
        ties = [e["ties"] for e in r["extra"] if "ties" in e]
        ties_txt = f"{100 * np.mean(ties):.1f} %" if ties else ""
        lines.append(
            f"| `{name}`: {desc} | {np.mean(r['acc']):.4f} ± {np.std(r['acc']):.4f} | {np.mean(r['n']):.1f} | "
            f"{min(r['n'])}-{max(r['n'])} | {np.mean(r['sec']):.2f} | {lam_txt} | {ties_txt} | {kinds_txt} |"
        )
    return "\n".join(lines)


def verdicts(res: dict[str, dict[str, list]]) -> list[str]:
    out = []
    for name, r in res.items():
        if name not in QBOOST_METHODS:
            continue
        ada = res[f"adaboost-{QBOOST_METHODS[name][1]}"]
        qa, aa = float(np.mean(r["acc"])), float(np.mean(ada["acc"]))
        qn, an = float(np.mean(r["n"])), float(np.mean(ada["n"]))
        wins = sum(q >= a for q, a in zip(r["acc"], ada["acc"]))
        ok_acc, ok_n = qa >= aa, qn <= an / 3
        out.append(
            f"- `{name}` vs `adaboost-{QBOOST_METHODS[name][1]}`: accuracy {qa:.4f} vs {aa:.4f} "
            f"({qa - aa:+.4f}, {'met' if ok_acc else 'MISSED'}; QBoost >= AdaBoost on {wins}/{len(r['acc'])} seeds), "
            f"learners {qn:.1f} vs {an:.1f} (ratio {qn / an:.2f}, <= 1/3 {'met' if ok_n else 'MISSED'}) -> "
            f"target {'MET' if ok_acc and ok_n else 'MISSED'}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    all_methods = [*QBOOST_METHODS, *REFERENCE_METHODS]
    default_methods = [m for m in all_methods if m != "qboost-adaboost-2bit"]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=",".join(default_methods), help=f"comma-separated, from: {', '.join(all_methods)}")
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma-separated seeds (default 0..9)")
    ap.add_argument("--dev", action="store_true", help="evaluate on an inner split of each training split (never the test split)")
    ap.add_argument("--json", help="also write the per-seed results to this file")
    args = ap.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in all_methods]
    if unknown:
        ap.error(f"unknown method(s) {unknown}; choose from {all_methods}")
    seeds = [int(s) for s in args.seeds.split(",")]

    t0 = time.perf_counter()
    res = run(methods, seeds, args.dev, log=lambda s: print(s, flush=True))
    wall = time.perf_counter() - t0
    where = "inner 60/40 split of each training split (--dev)" if args.dev else "test split (40 %)"
    print()
    print(f"breast cancer (569 samples, 30 features); seeds {seeds}; evaluated on the {where}; neal {NEAL}; wall {wall:.0f} s")
    print()
    print(table(res))
    print()
    print("\n".join(verdicts(res)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "wall_s": wall, "results": res}, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
