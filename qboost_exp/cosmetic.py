"""Cosmetic steps: what a run makes beside its result, each best-effort.

A run's result is its model, params, metrics and tags; they are logged first,
and a failure in them fails the run (or, when the tracking store fails, goes
to the run's local record). Everything else a run makes is cosmetic: the
figures, the selected-learners table, the dataset inputs, the model's input
example, the report and its MLflow UI link, a sweep's figure. A cosmetic step
runs through :func:`attempt`: when it raises, the step is skipped, one line

    warning: figure energy_histogram.png skipped (ValueError: Too many bins ...); the run goes on without it

goes to stderr, and the run records everything else. A cosmetic step never
costs a result.

:data:`STEPS` names every cosmetic step; :func:`attempt` refuses any other
name, so the chaos test (tests/tracking/test_cosmetic_chaos.py) that makes
each step in :data:`STEPS` fail in turn covers them all.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, TypeVar

T = TypeVar("T")

#: Every cosmetic step: its name (as the warning says it) -> what it makes.
STEPS: dict[str, str] = {
    "dataset inputs": "the train, validation and test splits as the run's MLflow dataset inputs",
    "input example": "five training rows stored with the model (MLflow's input example)",
    "figure weights.png": "every candidate's weight (or AdaBoost's stage weights)",
    "figure confusion_matrix.png": "the confusion matrix of the test split",
    "figure roc_curve.png": "the ROC curve of the test split",
    "figure energy_histogram.png": "the energies of the sampler's reads (QBoost only)",
    "plots upload": "plots/ uploaded to the run",
    "selected_learners.json": "the table of the selected learners",
    "report": "the aligned report printed after a run",
    "MLflow UI link": "the report's line with the run's link in the MLflow UI",
    "sweep figure": "the sweep parent's figure of the objective against λ",
    "benchmark report": "a benchmark sweep's tables, tests and figures (python -m qboost_exp -m +benchmark=NAME), logged on its parent",
}

#: Longest reason a warning line quotes.
_REASON_CHARS = 300


def warning_line(step: str, exc: BaseException) -> str:
    """The one line that says ``step`` was skipped and why."""
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())
    if len(reason) > _REASON_CHARS:
        reason = reason[: _REASON_CHARS - 3] + "..."
    return f"warning: {step} skipped ({reason}); the run goes on without it"


def run_step(step: str, action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one cosmetic step's ``action``: the one place every step passes (the chaos test wraps it)."""
    return action(*args, **kwargs)


def attempt(step: str, action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """``action(*args, **kwargs)`` as the cosmetic step ``step``: its value, or None after one warning line.

    Parameters
    ----------
    step : str
        A key of :data:`STEPS`.
    action : callable
        The step's work.

    Returns
    -------
    object or None
        What ``action`` returned; None when it raised (the warning is on stderr).

    Raises
    ------
    KeyError
        ``step`` is not in :data:`STEPS` (a programming error, never swallowed).
    """
    if step not in STEPS:
        raise KeyError(f"{step!r} is not a cosmetic step (qboost_exp.cosmetic.STEPS)")
    try:
        return run_step(step, action, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a cosmetic step never costs a result; Ctrl-C and SIGTERM still stop it
        print(warning_line(step, exc), file=sys.stderr, flush=True)
        return None
