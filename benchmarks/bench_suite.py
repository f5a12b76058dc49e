"""The benchmark suite end to end, as a user runs it, timed: the sweep, then its report.

    .venv/bin/python benchmarks/bench_suite.py [--suite suite|quick] [--keep DIR] [-- OVERRIDE ...]

Runs ``python -m qboost_exp -m +benchmark=SUITE`` in a scratch directory with
a fresh SQLite store, then ``python -m qboost_exp.compare --parent ID --out
DIR/report``. Prints the wall time of both, where the sweep's time went (the
children's run time summed per method and per dataset: what dominates), and
the report's Markdown tables, ready for benchmarks/RESULTS.md. The load
average before and after is printed: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def run(args: list[str], cwd: Path) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DWAVE_"))}
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    (cwd / f"{args[1].replace('.', '_')}.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"python {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def preset_experiment(suite: str) -> str:
    """The MLflow experiment the preset conf/benchmark/SUITE.yaml logs to (its ``mlflow.experiment``)."""
    import yaml

    preset = yaml.safe_load((Path(__file__).resolve().parents[1] / "conf" / "benchmark" / f"{suite}.yaml").read_text())
    return str(preset["mlflow"]["experiment"])


def parent_of(work: Path, experiment: str) -> tuple[str, list]:
    """The sweep's parent run id and its children (mlflow.entities.Run)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=50_000)
    parents = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    if len(parents) != 1:
        raise SystemExit(f"expected one parent run in {experiment!r}, found {len(parents)}")
    parent = parents[0].info.run_id
    return parent, [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]


def where_time_went(children: list) -> list[str]:
    """Children's run time (end - start) summed by method and by dataset, largest first."""
    lines = []
    for key, label in (("qboost.method", "method"), ("dataset", "dataset")):
        total: dict[str, float] = defaultdict(float)
        for run in children:
            if run.info.end_time and run.info.start_time:
                total[run.data.tags.get(key) or run.data.tags.get("model", "?")] += (run.info.end_time - run.info.start_time) / 1000
        whole = sum(total.values()) or 1.0
        lines.append(f"\n| {label} | run time summed | share |\n|---|---:|---:|")
        lines += [f"| {name} | {seconds:.0f} s | {seconds / whole:.0%} |" for name, seconds in sorted(total.items(), key=lambda item: -item[1])]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="suite", help="conf/benchmark/SUITE.yaml (default suite)")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (store, sweep dir, report)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides after --")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-suite-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    try:
        sweep_s, _ = run(["-m", "qboost_exp", "-m", f"+benchmark={args.suite}", *args.overrides], work)
        experiment = preset_experiment(args.suite)
        parent, children = parent_of(work, experiment)
        report_s, report = run(["-m", "qboost_exp.compare", "--experiment", experiment, "--parent", parent, "--out", str(work / "report")], work)
        print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
        print(f"\nsweep: {len(children)} runs in {sweep_s / 60:.1f} min (parent run {parent}); report: {report_s:.1f} s")
        print("\n".join(where_time_went(children)))
        for table in sorted((work / "report").rglob("*.md")):
            print(f"\n### {table.name}\n\n{table.read_text()}")
        print(f"\n{report}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
