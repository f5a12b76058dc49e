"""What issue 15 asks of every fault, measured the same way in every fault test, and the table benchmarks/bench_faults.py prints.

Each fault test ends with :func:`report`: the figures it measured (jobs
unaccounted for, runs and trials left RUNNING, models lost, distinct
configurations after a resume, seconds from the end of training to exit)
are asserted against the targets there, and, with ``QBOOST_FAULT_TABLE``
set to a file, appended to it as one JSON line for the benchmark's table.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any, Iterable

#: The summary line of a sweep: ``[sweep] 6 jobs: 3 finished (1 in an earlier launch), 0 failed, 1 killed, 2 not started``.
_SUMMARY = re.compile(r"^\[sweep\] (\d+) jobs: (.*)$", re.M)
_STATE = re.compile(r"(\d+) (finished|failed|killed|not started)")


def summary_counts(stdout: str) -> dict[str, int]:
    """The last sweep summary's counts by state, and ``total``; raises if the output has none."""
    found = _SUMMARY.findall(stdout)
    assert found, f"no [sweep] summary line in:\n{stdout[-3000:]}"
    total, states = found[-1]
    counts = {state: int(n) for n, state in _STATE.findall(re.sub(r"\(.*?\)", "", states))}
    return {"total": int(total), **counts}


def jobs_unaccounted(stdout: str, jobs: int) -> int:
    """Jobs of the sweep the summary does not name in any state (0 is the target)."""
    counts = summary_counts(stdout)
    assert counts["total"] == jobs, f"the summary counts {counts['total']} jobs, the sweep has {jobs}"
    return jobs - sum(v for k, v in counts.items() if k != "total")


def running_runs(db: Path) -> list[str]:
    """Ids of the runs a SQLite MLflow store holds RUNNING (read-only, plain sqlite3)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return [row[0] for row in con.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'")]


def running_trials(db: Path) -> int:
    """Trials an Optuna SQLite storage holds RUNNING."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return int(con.execute("SELECT COUNT(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0])


def finished_runs_without_a_model(db: Path) -> list[str]:
    """FINISHED training runs (child or single) of a SQLite store with no READY logged model: models lost."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        finished = {
            row[0]
            for row in con.execute(
                "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "WHERE r.status = 'FINISHED' AND t.key = 'qboost.role' AND t.value IN ('child', 'single')"
            )
        }
        # status 2: LoggedModelStatus.READY as the SQL store keeps it
        ready = {row[0] for row in con.execute("SELECT source_run_id FROM logged_models WHERE status = 2 AND lifecycle_stage = 'active'")}
    return sorted(finished - ready)


def report(fault: str, *, unaccounted: int | None = None, running: int | None = None, lost: int | None = None,
           distinct: tuple[int, int] | None = None, seconds: float | None = None, seconds_limit: float = 70.0) -> None:
    """Assert the issue's targets for one fault and record its figures for the benchmark's table.

    ``distinct`` is (distinct configurations after the resume, n_trials); ``seconds`` the
    time from the end of training to the CLI's exit with the server gone.
    """
    assert unaccounted in (None, 0), f"{fault}: {unaccounted} jobs unaccounted for"
    assert running in (None, 0), f"{fault}: {running} runs or trials left RUNNING"
    assert lost in (None, 0), f"{fault}: {lost} models lost"
    if distinct is not None:
        assert distinct[0] == distinct[1], f"{fault}: {distinct[0]} distinct configurations for n_trials={distinct[1]}"
    if seconds is not None:
        assert seconds <= seconds_limit, f"{fault}: {seconds:.1f} s from the end of training to exit (limit {seconds_limit} s)"
    table = os.environ.get("QBOOST_FAULT_TABLE")
    if table:
        row: dict[str, Any] = {"fault": fault, "unaccounted": unaccounted, "running": running, "lost": lost,
                               "distinct": list(distinct) if distinct else None, "seconds": seconds}
        with open(table, "a") as out:
            out.write(json.dumps(row) + "\n")


def read_table(path: Path) -> Iterable[dict[str, Any]]:
    for line in Path(path).read_text().splitlines():
        if line.strip():
            yield json.loads(line)
