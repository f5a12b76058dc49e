"""The short text report the CLI prints after a run."""

from __future__ import annotations

from typing import Any, Mapping

from .experiment import ExperimentResult


def _aligned(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def _dataset_line(result: ExperimentResult) -> tuple[str, str]:
    d = result.dataset
    return ("dataset", f"{d.name}: {len(d.y_train)} train / {len(d.y_val)} validation / {len(d.y_test)} test, {d.X_train.shape[1]} features")


def _accuracy_line(m: Mapping[str, float]) -> tuple[str, str]:
    return ("accuracy", "  ".join(f"{split} {m[split + '_accuracy']:.4f}" for split in ("train", "validation", "test") if split + "_accuracy" in m))


def format_baseline_report(cfg: Mapping[str, Any], result: ExperimentResult) -> str:
    """The report of a baseline run (``model`` other than ``qboost``): the model, its learners, accuracies, time; no QUBO lines."""
    m, model = result.metrics, result.model
    rows = [_dataset_line(result), ("model", f"{result.model_name} (baseline: {type(model).__name__})")]
    if hasattr(model, "n_candidates_"):  # a dictionary baseline: QBoost's candidates
        rows.append(("weak learners", f"{cfg['weak_learners']['name']}"))
        rows.append(("candidates", f"{model.n_candidates_}"))
    if "selected" in m:
        n = int(m["selected"])
        text = str(n)
        if n == 0 and hasattr(model, "intercept_"):
            text = f"0: EMPTY MODEL, it predicts {model.classes_[int(model.intercept_ > 0)].item()!r} for every sample"
        rows.append(("selected", text))
    if hasattr(model, "alpha_"):  # a dictionary baseline's L1 strength (QBoost's λ·W is its "penalty")
        limit = getattr(model, "max_learners", None)
        how = f"path cut at max_learners={limit}, refitted" if limit is not None else f"by CV ({model.cv_rule})"
        rows.append(("alpha", f"{how} -> {model.alpha_:.4g}"))
    if hasattr(model, "support_size_"):  # the best-subset baseline: its number of learners, fixed or by CV
        limit = getattr(model, "max_learners", None)
        how = f"max_learners={limit}" if limit is not None else f"by CV ({model.cv_rule})"
        rows.append(("support size", f"{how} -> {model.support_size_}"))
    rows.append(_accuracy_line(m))
    rows.append(("time", " | ".join(f"{phase} {seconds:.3f} s" for phase, seconds in result.timings.items())))
    return _aligned(rows)


def format_report(cfg: Mapping[str, Any], result: ExperimentResult) -> str:
    """A few aligned lines: what ran, what was chosen, how well, how long."""
    if result.model_name != "qboost":
        return format_baseline_report(cfg, result)
    m, d, model = result.metrics, result.dataset, result.model
    lam = cfg["lambda"]
    lam_text = f"auto -> {model.lam_:g}" if isinstance(lam, str) else f"{model.lam_:g}"
    mw = model.max_weight
    weight_text = f"{mw} -> {model.max_weight_:.4g}" if isinstance(mw, str) else f"{model.max_weight_:.4g}"
    n_selected = len(model.selected_indices_)
    selected_text = str(n_selected)
    if n_selected == 0:
        label = model.classes_[int(model.intercept_ > 0)].item()
        selected_text = f"0: EMPTY MODEL, it predicts {label!r} for every sample; use a smaller lambda"
    t = result.timings
    rows = [
        _dataset_line(result),
        ("weak learners", f"{cfg['weak_learners']['name']}"),
        ("sampler", f"{cfg['sampler']['name']}"),
        ("lambda", lam_text),
        ("max weight", weight_text),
        ("weight bits", f"{model.weight_bits}" + (f", refit {model.refit}" if model.refit != "none" else "")),
        ("candidates", f"{model.n_candidates_}" + (f" ({model.n_duplicates_} duplicates dropped)" if model.n_duplicates_ else "")),
        ("selected", selected_text),
        ("QUBO", f"{model.n_qubo_variables_} variables, {model.n_qubo_interactions_} interactions"
         + (f" ({model.n_qubos_} QUBOs, iterative)" if model.strategy == "iterative" else "")),
        ("best energy", f"{model.best_energy_:.6g}"),
        _accuracy_line(m),
    ]
    info = model.sampler_info_
    if "chain_break_fraction" in info:
        rows.append(("chains", f"break fraction {info['chain_break_fraction']:.4f}, max length {info.get('max_chain_length', '?')}"))
    if "timing" in info and "qpu_access_time" in info["timing"]:
        rows.append(("QPU access", f"{info['timing']['qpu_access_time'] / 1e6:.6f} s"))
    phases = [("data", "data"), ("weak learners", "weak_learners"), ("QUBO build", "qubo_build"), ("sampling", "sampling")]
    if t.get("lambda_search"):
        phases.append(("lambda search", "lambda_search"))
    rows.append(("time", " | ".join(f"{label} {t.get(key, 0.0):.3f} s" for label, key in phases)))
    return _aligned(rows)
