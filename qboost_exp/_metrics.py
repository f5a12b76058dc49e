"""Which way is better for a run metric: one rule for sorting, promotion and packaging."""

from __future__ import annotations

# Quality scores; every other metric (time_*, selected, best_energy,
# chain_break_fraction, qpu_access_time, ...) is better when smaller.
_HIGHER_IS_BETTER = ("accuracy", "auc", "f1", "precision", "recall")


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better (accuracy, AUC, F1); else smaller is better."""
    name = metric.removeprefix("metrics.").lower()
    return any(word in name for word in _HIGHER_IS_BETTER)
