"""Benchmark: time and peak memory of the QBoost QUBO build.

The build is ``gram_statistics(packed predictions, y)`` followed by
``build_bqm(stats, lam)``; both parts and their total are reported for
``S`` samples x ``M`` candidate learners.

The +-1 predictions are generated directly as bits, learner by learner (each
learner agrees with ``y`` with a probability drawn from U[0.55, 0.85]), so an
``S x M`` float matrix never exists. Generation is excluded from the build
time; the peak RSS of a case *does* include the packed input (``M * S / 8``
bytes), which a real fit also holds.

Every (S, M) case runs in a fresh child interpreter, so its peak RSS
(``VmHWM`` from /proc/self/status, i.e. ``ru_maxrss``) belongs to that case
alone. Nothing is subtracted: the table shows the raw peak together with the
baseline RSS of the child after its imports.

The machine may be shared, so each child also reports how much CPU other
processes used while it was timing (``other load``, in cores, from
/proc/stat minus the child's own CPU time).

Usage::

    .venv/bin/python benchmarks/bench_qubo_build.py                     # all 6 cases, 3 repeats
    .venv/bin/python benchmarks/bench_qubo_build.py --cases 1e6x1000 --repeat 5
    .venv/bin/python benchmarks/bench_qubo_build.py --weight-bits 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

DEFAULT_CASES = "1e4x100,1e4x1000,1e5x100,1e5x1000,1e6x100,1e6x1000"
TARGET = {"case": (1_000_000, 1000), "seconds": 30.0, "peak_mb": 2.5 * 1024}


# ----------------------------------------------------------------- helpers
def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise KeyError(field)


def _busy_ticks() -> int:
    """Non-idle CPU ticks of the whole machine (all cores) since boot."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal


def _parse_case(text: str) -> tuple[int, int]:
    s, m = text.lower().split("x")
    return int(float(s)), int(float(m))


class _TimedDimod:
    """Stands in for the ``dimod`` module inside ``qboost_exp.domain._qubo``: adds up
    the seconds spent constructing ``BinaryQuadraticModel`` objects."""

    def __init__(self, module) -> None:
        self._module = module
        self.seconds = 0.0

    def __getattr__(self, name: str):
        attr = getattr(self._module, name)
        if name not in ("BinaryQuadraticModel", "BQM"):
            return attr

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return timed


# -------------------------------------------------------------------- child
def run_child(n_samples: int, n_learners: int, repeat: int, weight_bits: int, lam: float, seed: int, qubo_file: str | None = None, blas_threads: int | None = None) -> dict:
    import dimod
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    if qubo_file:  # another version of _qubo.py, e.g. `git show HEAD~1:qboost_exp/domain/_qubo.py > old.py`
        import importlib.util

        import qboost_exp  # noqa: F401  (same imports as the real module, for a comparable baseline RSS)

        spec = importlib.util.spec_from_file_location("qboost_exp._qubo_alt", qubo_file)
        qubo = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = qubo
        spec.loader.exec_module(qubo)
    else:
        import qboost_exp.domain._qubo as qubo
    PackedPredictions, build_bqm, gram_statistics = qubo.PackedPredictions, qubo.build_bqm, qubo.gram_statistics
    if blas_threads:  # after the imports, so that scipy's BLAS is loaded
        threadpool_limits(blas_threads, user_api="blas")

    # Time dimod's own BQM construction inside build_bqm.
    timed_dimod = _TimedDimod(dimod)
    qubo.dimod = timed_dimod

    baseline_mb = _status_mb("VmRSS")
    blas = [
        {"lib": i.get("internal_api"), "threads": i.get("num_threads"), "file": os.path.basename(i.get("filepath", ""))}
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]

    # ---- generate the packed predictions, one learner at a time (not timed)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    y_on = rng.random(n_samples) < 0.5
    y = np.where(y_on, 1, -1).astype(np.int8)
    y_bits = np.packbits(y_on)
    del y_on
    bits = np.empty((n_learners, y_bits.size), dtype=np.uint8)
    for i in range(n_learners):
        p_agree = rng.uniform(0.55, 0.85)
        wrong = np.packbits(rng.random(n_samples) >= p_agree)  # 1 where h_i disagrees with y
        np.bitwise_xor(y_bits, wrong, out=bits[i])
    preds = PackedPredictions(bits, n_samples)
    gen_seconds = time.perf_counter() - t0
    after_gen_mb = _status_mb("VmRSS")

    # ---- the build, `repeat` times
    gram_s, bqm_s, total_s, dimod_s = [], [], [], []
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    busy0, cpu0, wall0 = _busy_ticks(), sum(os.times()[:2]), time.perf_counter()
    stats = bqm = None
    for _ in range(repeat):
        del stats, bqm
        t0 = time.perf_counter()
        stats = gram_statistics(preds, y)
        t1 = time.perf_counter()
        timed_dimod.seconds = 0.0
        bqm, _layout = build_bqm(stats, lam, weight_bits)
        t2 = time.perf_counter()
        dimod_s.append(timed_dimod.seconds)
        gram_s.append(t1 - t0)
        bqm_s.append(t2 - t1)
        total_s.append(t2 - t0)
    wall = time.perf_counter() - wall0
    own_cpu = sum(os.times()[:2]) - cpu0
    own_cores = own_cpu / wall
    other_cores = max(0.0, ((_busy_ticks() - busy0) / ticks_per_s - own_cpu) / wall)
    n_vars, n_inter = bqm.num_variables, bqm.num_interactions
    peak_build_mb = _status_mb("VmHWM")

    return {
        "S": n_samples,
        "M": n_learners,
        "weight_bits": weight_bits,
        "repeat": repeat,
        "gram_s": gram_s,
        "bqm_s": bqm_s,
        "total_s": total_s,
        "dimod_s": dimod_s,
        "gen_s": gen_seconds,
        "packed_mb": bits.nbytes / 2**20,
        "baseline_rss_mb": baseline_mb,
        "rss_after_gen_mb": after_gen_mb,
        "peak_rss_mb": peak_build_mb,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "own_cores": own_cores,
        "other_load_cores": other_cores,
        "n_variables": n_vars,
        "n_interactions": n_inter,
        "blas": blas,
        "cpus": os.cpu_count(),
    }


# ------------------------------------------------------------------- parent
def _fmt_s(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f}"


def markdown_table(rows: list[dict]) -> str:
    head = (
        "| S | M | gram_statistics s | build_bqm s | (of which dimod BQM ctor s) | **total s** | peak RSS MB | "
        "baseline RSS MB | packed input MB | generation s | own CPU (cores) | other load (cores) |"
    )
    sep = "|" + "---:|" * 12
    lines = [head, sep]
    for r in rows:
        lines.append(
            f"| {r['S']:.0e} | {r['M']} | {_fmt_s(r['gram_s'])} | {_fmt_s(r['bqm_s'])} | {_fmt_s(r['dimod_s'])} | "
            f"**{_fmt_s(r['total_s'])}** | {r['peak_rss_mb']:.0f} | {r['baseline_rss_mb']:.0f} | {r['packed_mb']:.1f} | "
            f"{r['gen_s']:.1f} | {r['own_cores']:.2f} | {r['other_load_cores']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated SxM (default {DEFAULT_CASES})")
    ap.add_argument("--repeat", type=int, default=3, help="builds per case; times shown as min / median (default 3)")
    ap.add_argument("--weight-bits", type=int, default=1, help="weight_bits of build_bqm (default 1)")
    ap.add_argument("--lam", type=float, default=0.01, help="sparsity penalty of build_bqm (default 0.01)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the raw per-case results to this file")
    ap.add_argument("--blas-threads", type=int, help="limit BLAS to this many threads (default: BLAS's own choice)")
    ap.add_argument("--qubo-file", help="benchmark this copy of qboost_exp/domain/_qubo.py instead (before/after comparisons)")
    ap.add_argument("--child", nargs=2, metavar=("S", "M"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        s, m = (int(float(v)) for v in args.child)
        print(json.dumps(run_child(s, m, args.repeat, args.weight_bits, args.lam, args.seed, args.qubo_file, args.blas_threads)))
        return 0

    rows = []
    for case in args.cases.split(","):
        s, m = _parse_case(case.strip())
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(s), str(m), "--repeat", str(args.repeat),
               "--weight-bits", str(args.weight_bits), "--lam", str(args.lam), "--seed", str(args.seed)]
        if args.qubo_file:
            cmd += ["--qubo-file", os.path.abspath(args.qubo_file)]
        if args.blas_threads:
            cmd += ["--blas-threads", str(args.blas_threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"case {case} failed (exit code {proc.returncode})")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"# done S={s:.0e} M={m}: total {min(row['total_s']):.2f} s, peak RSS {row['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)

    blas = rows[0]["blas"] if rows else []
    impl = args.qubo_file or "qboost_exp/domain/_qubo.py (installed)"
    print(f"implementation: {impl}; weight_bits={args.weight_bits}, lam={args.lam}, repeat={args.repeat}; times are min / median over repeats.")
    print("BLAS: " + ", ".join(f"{b['file']} ({b['lib']}, {b['threads']} threads)" for b in blas) + f"; cpus={rows[0]['cpus'] if rows else '?'}")
    print()
    print(markdown_table(rows))
    for r in rows:
        if (r["S"], r["M"]) == TARGET["case"]:
            t, peak = min(r["total_s"]), r["peak_rss_mb"]
            ok_t, ok_m = t <= TARGET["seconds"], peak <= TARGET["peak_mb"]
            print()
            print(
                f"Target S=1e6, M=1000: build {t:.2f} s (<= {TARGET['seconds']:.0f} s: {'met' if ok_t else 'MISSED'}), "
                f"peak RSS {peak:.0f} MB (<= {TARGET['peak_mb']:.0f} MB: {'met' if ok_m else 'MISSED'})."
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
