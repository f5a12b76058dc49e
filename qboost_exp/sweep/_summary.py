"""The end of a sweep: every job's outcome counted, the parent run closed with the best child, one summary, one exit status.

The outcomes come from the jobs (:mod:`._jobs`), not from the store: a job
that failed before its run existed, was killed, or never started counts all
the same, and a store that fails at the end costs the parent run's final
status (the saved account says so), never the summary.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig

from ..cosmetic import attempt
from ..errors import QBoostError
from ..tracking import (
    JOB_NUM_TAG,
    best_run,
    client_for,
    higher_is_better,
    metric_value,
    store_failure_reason,
    training_runs,
)
from ._jobs import ACCOUNT_FILE, EARLIER, FAILED, FINISHED, KILLED, NOT_STARTED, JobOutcome, SweepAccount, counts
from ._parent import LAUNCHED_TAG, bounded_store, close_run, objective_of, print_link

#: The exit status of a sweep in which a job did not finish (Hydra's own is 0).
FAILED_SWEEP_EXIT = 1
#: Show at most this many jobs one per line; the rest are counted by state.
_LISTED = 20


def finish_sweep(config: DictConfig, account: SweepAccount, outcomes: Sequence[JobOutcome], *, uri: str | None, parent_run_id: str | None, resume_hint: str | None) -> int:
    """Close the sweep: parent run (when tracked), summary lines, saved account; returns the exit status.

    Parameters
    ----------
    config : DictConfig
        The sweep's config.
    account : SweepAccount
        This launch's account (its interrupt, if any).
    outcomes : sequence of JobOutcome
        Every job's outcome (:meth:`SweepAccount.outcomes`).
    uri, parent_run_id : str or None
        The tracking store and the parent run; None for an untracked sweep
        or one whose parent run could not be created.
    resume_hint : str or None
        How the user runs only what did not finish (the sweeper's words: a
        grid sweep's ``hydra.sweeper.resume=true``, a study's same command);
        None when the sweeper cannot.
    """
    objective = objective_of(config)
    lines: list[str] = []
    store_error = None
    if uri and parent_run_id:
        try:
            with bounded_store(config):
                lines = _close_in_store(config, account, outcomes, uri, parent_run_id, objective)
        except Exception as exc:  # noqa: BLE001 - the store failing here must cost the final status, not the summary
            store_error = store_failure_reason(exc) or " ".join(str(exc).split())[:300] or type(exc).__name__
    summary = _outcome_lines(account, outcomes, known_runs=bool(uri and not store_error))
    unfinished = [o for o in outcomes if o.state not in (FINISHED, EARLIER)]
    saved = account.save(outcomes, tracking_uri=uri, parent_run_id=parent_run_id, parent_closed=bool(parent_run_id and not store_error))
    if store_error:
        where = f"; every job's outcome is in {saved}" if saved else ""
        summary.append(f"[sweep] error: the tracking store {uri} failed at the sweep's end ({store_error}): parent run {parent_run_id} is left RUNNING{where}")
    if unfinished and resume_hint:
        summary.append(f"[sweep] to run only the jobs that did not finish: {resume_hint}")
    print("\n".join(summary + lines), flush=True)
    if uri and parent_run_id and not store_error:
        try:
            with bounded_store(config):
                print_link(uri, parent_run_id)
        except Exception:  # noqa: BLE001 - the link is a convenience
            pass
    if account.exit_status is not None:
        return account.exit_status
    return FAILED_SWEEP_EXIT if unfinished or store_error or (uri and not parent_run_id) else 0


def _outcome_lines(account: SweepAccount, outcomes: Sequence[JobOutcome], *, known_runs: bool) -> list[str]:
    """The summary's count of every state, how the sweep stopped, and a line for each job that did not finish.

    ``known_runs``: the store answered at the end, so a failed job without a
    run failed before its run opened (runs are matched by job number).
    """
    tally = counts(outcomes)
    done = tally[FINISHED] + tally[EARLIER]
    parts = [f"{done} finished" + (f" ({tally[EARLIER]} in an earlier launch)" if tally[EARLIER] else ""), f"{tally[FAILED]} failed"]
    parts += [f"{tally[state]} {state}" for state in (KILLED, NOT_STARTED) if tally[state]]
    summary = [f"[sweep] {len(outcomes)} jobs: {', '.join(parts)}"]
    if account.interrupted:
        summary.append(f"[sweep] {account.interrupted}: the sweep stopped early")
    elif account.launcher_error:
        summary.append(f"[sweep] the launcher failed: {account.launcher_error}")
    unfinished = [o for o in outcomes if o.state not in (FINISHED, EARLIER)]
    for outcome in unfinished[:_LISTED]:
        if outcome.state == NOT_STARTED:
            continue
        if outcome.run_id:
            run = f", run {outcome.run_id}"
        else:
            run = " (no MLflow run: it failed before its run opened)" if known_runs and outcome.state == FAILED else ""
        reason = (outcome.reason or outcome.state).rstrip(". ")  # a reason's own full stop would stand before ", run ..."
        summary.append(f"[sweep] {outcome.state.upper()} job {outcome.job} ({outcome.overrides}): {reason}{run}")
    never = [o.job for o in outcomes if o.state == NOT_STARTED]
    if never:
        summary.append(f"[sweep] not started: job{'s' if len(never) > 1 else ''} {_ranges(never)}")
    if len(unfinished) > _LISTED:
        summary.append(f"[sweep] ... and {len(unfinished) - _LISTED} more jobs that did not finish (see {Path(account.sweep_dir) / ACCOUNT_FILE})")
    return summary


def _ranges(numbers: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` as ``1-3, 7``."""
    out, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(f"{start}" if start == n else f"{start}-{n}")
            start = None
    return ", ".join(out)


def _close_in_store(config: DictConfig, account: SweepAccount, outcomes: Sequence[JobOutcome], uri: str, parent_run_id: str, objective: str) -> list[str]:
    """Close what the jobs left open, log the best child into the parent, end the parent; the lines about the best run."""
    client = client_for(uri)
    experiment = client.get_experiment(client.get_run(parent_run_id).info.experiment_id).name

    def children() -> list[Any]:
        return training_runs(experiment, tracking_uri=uri, parent_run_id=parent_run_id, statuses=None)

    runs = children()
    if _close_stale(client, runs, outcomes):
        runs = children()
    _name_runs(client, parent_run_id, runs, outcomes)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if config.get("benchmark") is not None and finished:
        # A benchmark compares methods over datasets and seeds: its report, not a best run per split, is the answer.
        lines = attempt("benchmark report", _log_benchmark, config, uri, experiment, parent_run_id) or []
    else:
        lines = _log_best(client, uri, experiment, parent_run_id, objective, finished)
    if account.interrupted:
        status = "KILLED"
        client.set_tag(parent_run_id, "error", f"{account.interrupted}: {sum(o.state in (FINISHED, EARLIER) for o in outcomes)} of {len(outcomes)} jobs finished")
    elif not finished:
        status = "FAILED"
    else:
        status = "FINISHED"
    client.set_terminated(parent_run_id, status=status)
    return lines


def _close_stale(client: Any, runs: list[Any], outcomes: Sequence[JobOutcome]) -> bool:
    """Close the child runs still RUNNING; whether there were any.

    Every job of this launch has ended: a run still open belongs to a job that
    was killed from outside (a scheduler's time limit, the OOM killer, Ctrl-C).
    """
    by_job = {o.job: o for o in outcomes}
    stale = [run for run in runs if run.info.status == "RUNNING"]
    for run in stale:
        outcome = by_job.get(int(run.data.tags.get(JOB_NUM_TAG, "-1")))
        status = "FAILED" if outcome is not None and outcome.state == FAILED else "KILLED"
        why = outcome.reason if outcome is not None and outcome.reason else "the job ended without closing its run (killed from outside)"
        close_run(client, run, status, why)
    return bool(stale)


def _name_runs(client: Any, parent_run_id: str, runs: list[Any], outcomes: Sequence[JobOutcome]) -> None:
    """Give each outcome that has none this launch's run of its job (runs come oldest first, so a job's last run wins)."""
    parent = client.get_run(parent_run_id)
    launched = int(parent.data.tags.get(LAUNCHED_TAG) or parent.info.start_time)
    latest = {run.data.tags.get(JOB_NUM_TAG): run.info.run_id for run in runs if run.info.start_time >= launched}
    for outcome in outcomes:
        if outcome.run_id is None and outcome.state != NOT_STARTED:
            outcome.run_id = latest.get(str(outcome.job))


def _log_best(client: Any, uri: str, experiment: str, parent_run_id: str, objective: str, finished: list[Any]) -> list[str]:
    """Log the best finished child's metrics into the parent (a best per dataset when there are several); the lines saying so."""
    lines = []
    without = [r for r in finished if metric_value(r, objective) is None]
    if without:
        lines.append(f"[sweep] {len(without)} finished jobs logged no objective {objective!r}")
    direction = "highest" if higher_is_better(objective) else "lowest"
    by_dataset = _by_dataset(finished)
    if len(by_dataset) > 1:
        # Runs of different datasets are never ranked against each other: a best per dataset.
        for label, group in sorted(by_dataset.items()):
            champion = best_run(group, objective)
            if champion is not None:
                client.set_tag(parent_run_id, f"best_run_id.{label.replace('@', '-')}"[:250], champion.info.run_id)
                lines.append(
                    f"[sweep] best {objective} ({direction}) on {label} {champion.data.metrics[objective]:.4g}: job "
                    f"{champion.data.tags.get(JOB_NUM_TAG, '?')} ({champion.data.tags.get('hydra.overrides', '')}), run {champion.info.run_id}"
                )
        return lines
    best = best_run(finished, objective)
    if best is not None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        client.log_batch(parent_run_id, metrics=[Metric(k, v, now, 0) for k, v in best.data.metrics.items()])
        client.set_tag(parent_run_id, "best_run_id", best.info.run_id)
        client.set_tag(parent_run_id, "best_job_overrides", best.data.tags.get("hydra.overrides", ""))
        lines.append(
            f"[sweep] best {objective} ({direction}) {best.data.metrics[objective]:.4g}: job {best.data.tags.get(JOB_NUM_TAG, '?')} "
            f"({best.data.tags.get('hydra.overrides', '')}), run {best.info.run_id}"
        )
        attempt("sweep figure", _log_lambda_plot, uri, experiment, parent_run_id, objective)
    return lines


def _log_lambda_plot(uri: str, experiment: str, parent_run_id: str, objective: str) -> None:
    from ..compare import load_runs, plot_metric_vs_lambda

    runs = load_runs(experiment, tracking_uri=uri, parent=parent_run_id)
    if runs.empty:
        return
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = plot_metric_vs_lambda(runs, objective, Path(tmp) / f"{objective}_vs_lambda.png")
        except QBoostError:
            return  # nothing to plot (no numeric λ): the summary says enough
        client_for(uri).log_artifact(parent_run_id, str(path), "plots")


def _log_benchmark(config: DictConfig, uri: str, experiment: str, parent_run_id: str) -> list[str]:
    """The benchmark report of the sweep (``+benchmark=NAME``): written to ``<sweep dir>/benchmark/<metric>``, logged on the parent; its lines."""
    from ..compare import artifact_path, format_summary, load_runs, log_report, report_dir, sweep_report, write_report

    bench = config.benchmark
    runs = load_runs(experiment, tracking_uri=uri, parent=parent_run_id)
    report = sweep_report(runs, uri, parent_run_id, str(bench.metric), str(bench.against))
    out = Path(str(config.hydra.sweep.dir))
    paths = write_report(report, out)
    log_report(uri, parent_run_id, out, report.metric)
    return [
        "",
        format_summary(report),
        "",
        f"[sweep] benchmark report: {len(paths)} files in {report_dir(out, report.metric)}, logged as the artifacts "
        f"{artifact_path(report.metric)}/ of parent run {parent_run_id} "
        f"(redraw: python -m qboost_exp.compare --experiment {experiment} --parent {parent_run_id} --metric {report.metric})",
    ]


def _by_dataset(runs: list[Any]) -> dict[str, list[Any]]:
    """``runs`` grouped by the dataset each was trained on (name and digest, as compare names it)."""
    from ..compare import dataset_of

    groups: dict[str, list[Any]] = {}
    for run in runs:
        groups.setdefault(dataset_of(run).label, []).append(run)
    return groups


def exit_with(status: int) -> None:
    """End the process with ``status`` after flushing (Hydra lets a SystemExit through)."""
    if status:
        sys.stdout.flush()
        sys.exit(status)
