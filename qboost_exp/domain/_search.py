"""Choosing λ and the largest weight together, by cross-validation on the training data only.

The search's cost is its sampler calls. The QUBOs of one split and one
largest weight ``W`` differ only in λ, which enters the energy linearly, so
every sample drawn at one λ is re-scored exactly at every other (see
:func:`._sampling.solve_path`): the sampler is called at a few λ of the grid
per (split, W) (:func:`draw_lambdas`), not at every grid point. The splits
are independent and run in worker threads (:func:`run_tasks`).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

CV_RULES = ("one_se", "best")
#: How the search draws samples for one (split, largest weight): ``ends`` calls the
#: sampler at the smallest and the largest λ of the grid (local samplers that take
#: ``num_reads``), ``middle`` once at the median λ (remote samplers: a QPU call
#: costs access time), ``every`` at each λ (samplers of one answer per call).
DRAWS = ("ends", "middle", "every")


@dataclass
class GridPoint:
    lam: float
    max_weight: float | str  # a number, or "1/M" (resolved per fit: M is the number of candidates)


def choose(scores: np.ndarray, selected: np.ndarray, grid: Sequence[GridPoint], rule: str) -> int:
    """The index of the grid point to use, from per-split scores and selected counts.

    ``scores`` and ``selected`` have shape ``(n_splits, n_points)``. ``best``
    takes the highest mean score. ``one_se`` (the one-standard-error rule of
    Breiman et al.) takes, among the points whose mean score is within one
    standard error of the best, the one with the fewest learners on average:
    the sparsest model the data cannot tell apart from the best. Ties go to
    the larger λ, then to the smaller largest weight.
    """
    mean = scores.mean(axis=0)
    best = int(np.argmax(mean))
    if rule == "one_se" and scores.shape[0] > 1:
        se = scores[:, best].std(ddof=1) / np.sqrt(scores.shape[0])
        eligible = np.flatnonzero(mean >= mean[best] - se)
    else:
        eligible = np.flatnonzero(mean == mean[best])
    size = selected.mean(axis=0)

    def key(i: int) -> tuple[float, float, float]:
        w = grid[i].max_weight
        return (size[i] if rule == "one_se" else 0.0, -grid[i].lam, 0.0 if isinstance(w, str) else float(w))

    return min(eligible, key=key)


def search_record(points: dict[str, Any], scores: np.ndarray, selected: np.ndarray, rule: str, chosen: int) -> dict[str, Any]:
    """A CV search's record (``search_``): its grid ``points`` by name, per-split scores and counts, their means, the rule, the choice."""
    return {
        **points,
        "split_scores": scores,
        "split_selected": selected,
        "mean_score": scores.mean(axis=0),
        "mean_selected": selected.mean(axis=0),
        "rule": rule,
        "chosen": chosen,
    }


def weight_groups(grid: Sequence[GridPoint]) -> list[list[int]]:
    """The grid's point indices grouped by largest weight, in the grid's order."""
    groups: dict[Any, list[int]] = {}
    for g, point in enumerate(grid):
        groups.setdefault(point.max_weight, []).append(g)
    return list(groups.values())


def draw_lambdas(lams: Sequence[float], draws: str) -> list[int]:
    """Indices into ``lams`` at which the sampler is called (see :data:`DRAWS`)."""
    order = sorted(range(len(lams)), key=lambda i: (lams[i], i))
    if draws == "every" or len(order) == 1:
        return order
    if draws == "middle":
        return [order[(len(order) - 1) // 2]]
    return [order[0], order[-1]]


def sampler_calls(n_splits: int, grid: Sequence[GridPoint], draws: str) -> int:
    """Sampler calls of a one-shot search: splits x largest weights x draws per (split, W), at most."""
    return n_splits * sum(len(draw_lambdas([grid[g].lam for g in group], draws)) for group in weight_groups(grid))


def plan_message(n_splits: int, grid: Sequence[GridPoint], draws: str | None, rounds: int = 0) -> str:
    """What the search will cost, in one line (verbose fits print it before they start); ``rounds``: generation rounds after the fit."""
    groups = weight_groups(grid)
    n_lams = max(len(group) for group in groups)
    folds = _count(n_splits, "fold")
    if draws is None:  # no λ path (iterative QBoost): one fit per grid point
        return (
            f"lambda search: {_count(n_splits * len(grid), 'fit')} ({folds} x {_count(len(grid), 'grid point')}), each as many "
            f"sampler calls as its rounds, then the final fit"
        )
    per = len(draw_lambdas(list(range(n_lams)), draws))
    calls = sampler_calls(n_splits, grid, draws)
    lambdas = _count(per, "lambda")
    how = {"middle": "", "ends": f" x {lambdas}" + (" (the smallest and the largest)" if per > 1 else ""), "every": f" x {lambdas}"}[draws]
    return (
        f"lambda search: {_count(calls, 'sampler call')} ({folds} x {_count(len(groups), 'largest weight')}{how}), "
        f"then 1 for the final fit" + (f" and up to {rounds} more for its generation rounds" if rounds else "")
    )


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1 ("1 fold", "2 lambdas")."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def run_tasks(
    tasks: Sequence[Callable[[threading.Event], Any]],
    n_jobs: int,
    on_done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Run ``task(stop)`` for every task, in up to ``n_jobs`` worker threads; their results in order.

    With ``n_jobs == 1`` the tasks run one after the other in the calling
    thread (Ctrl-C as in a plain fit). Otherwise the calling thread waits in
    short steps, so Ctrl-C reaches it at once: it then sets ``stop`` (which
    every sampler call of the tasks watches), cancels the tasks not yet
    started, and raises KeyboardInterrupt without waiting for the others.
    The first task error is raised as it is. ``on_done(index, result)`` runs
    in the calling thread as each task finishes.
    """
    stop = threading.Event()
    if n_jobs <= 1 or len(tasks) <= 1:
        results = []
        for i, task in enumerate(tasks):
            results.append(task(stop))
            if on_done is not None:
                on_done(i, results[-1])
        return results
    pool = ThreadPoolExecutor(max_workers=min(n_jobs, len(tasks)), thread_name_prefix="qboost-search")
    futures: dict[Future, int] = {pool.submit(task, stop): i for i, task in enumerate(tasks)}
    results: list[Any] = [None] * len(tasks)
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=futures.__getitem__):
                i = futures[future]
                results[i] = future.result()
                if on_done is not None:
                    on_done(i, results[i])
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def cross_validate(
    grid: Sequence[GridPoint],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    score_split: Callable[[int, np.ndarray, np.ndarray, threading.Event], tuple[np.ndarray, np.ndarray, int]],
    rule: str,
    verbose: int = 0,
    n_jobs: int = 1,
    extra: Sequence[Callable[[threading.Event], Any]] = (),
) -> tuple[GridPoint, dict[str, Any], list[Any]]:
    """Score every grid point on every split and choose one.

    ``score_split(s, train, val, stop)`` fits split ``s`` (the candidates on
    ``train``) and scores every grid point on ``val``: ``(accuracies,
    learners selected, sampler calls)``, arrays over the grid. The splits
    run as :func:`run_tasks`, with the ``extra`` tasks (the final fit's
    candidates, which do not depend on the choice) alongside; their
    results are returned last.
    """
    scores = np.zeros((len(splits), len(grid)))
    selected = np.zeros((len(splits), len(grid)))
    calls = np.zeros(len(splits), dtype=np.int64)
    finished: list[int] = []
    t0 = time.perf_counter()

    def on_done(i: int, result: Any) -> None:
        if i >= len(splits):
            return
        scores[i], selected[i], calls[i] = result
        finished.append(i)
        if verbose:
            done = choose(scores[finished], selected[finished], grid, rule)
            print(
                f"  lambda search: split {len(finished)}/{len(splits)} done ({time.perf_counter() - t0:.1f} s), "
                f"best so far lambda={grid[done].lam:g} max_weight={grid[done].max_weight}",
                flush=True,
            )

    tasks = [
        (lambda stop, s=s, train=train, val=val: score_split(s, train, val, stop)) for s, (train, val) in enumerate(splits)
    ]
    results = run_tasks([*tasks, *extra], n_jobs, on_done)
    chosen = choose(scores, selected, grid, rule)
    points = {"lam": np.array([p.lam for p in grid]), "max_weight": [p.max_weight for p in grid]}
    details = {**search_record(points, scores, selected, rule, chosen), "split_sampler_calls": calls, "sampler_calls": int(calls.sum())}
    return grid[chosen], details, results[len(splits):]
