"""Benchmark: the two SageMaker images' sizes, build times and time from ``podman run -d`` to the first /ping 200.

Builds a ``python -m serving package --wheelhouse`` build context with podman,
both Dockerfile targets from the one context: ``full`` (trains and serves any
model) and ``serve`` (the lean serving image). Each target is built once to
fill the layer cache (not timed), once more timed (cached: every layer
reused), and, with ``--cold``, once with ``--no-cache`` (every layer built,
offline from the wheelhouse, on an existing base image; a ``--no-cache`` build
leaves no layers in the cache, so the cached build comes first). Then it
starts ``podman run -d -p PORT:8080 IMAGE serve`` ``--starts`` times per
image, the two images alternating (so both meet the same machine load),
each time measuring the seconds from the moment ``podman run -d`` returns to
the first /ping that answers 200 (polled every 10 ms; the time podman itself
takes to return is reported beside it), and removes the container.

Usage::

    .venv/bin/python benchmarks/bench_image.py --context build/sagemaker --base BASE_IMAGE \\
        [--tag localhost/qboost-bench] [--starts 5] [--cold] [--json OUT]

``BASE_IMAGE`` is e.g. ``python:3.11-slim`` where a registry is reachable, or
the Debian base the tests build (``podman images localhost/qboost-test-base``).
podman reads ``CONTAINERS_CONF`` if set (runc and ulimits where crun fails).
Targets: lean image <= 300 MB, first /ping of the lean image <= 1.0 s (median),
the full image no larger than before (709 MB).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

LEAN_SIZE_TARGET_MB = 300
LEAN_PING_TARGET_S = 1.0
FULL_SIZE_BEFORE_MB = 709
TARGETS = ("full", "serve")


def log(message: str) -> None:
    print(f"[bench_image] {message}", file=sys.stderr, flush=True)


def podman(*args: str, timeout: float = 1800) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"podman {' '.join(args[:3])} ... exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def build(context: Path, base: str, tag: str, target: str, cold: bool) -> float:
    cmd = ["build", "--isolation=chroot", "--build-arg", f"BASE_IMAGE={base}", "--target", target, "-t", tag, str(context)]
    if cold:
        cmd.insert(1, "--no-cache")
    start = time.monotonic()
    podman(*cmd)
    return time.monotonic() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_ping(tag: str, timeout: float = 120) -> tuple[float, float]:
    """(seconds from `podman run -d` returning to the first /ping 200, seconds `podman run -d` took)."""
    port = free_port()
    name = f"bench-image-{port}"
    called = time.monotonic()
    podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", tag, "serve")
    start = time.monotonic()
    try:
        while time.monotonic() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        return time.monotonic() - start, start - called
            except OSError:
                pass
            time.sleep(0.01)
        raise SystemExit(f"{tag}: /ping did not answer 200 within {timeout} s")
    finally:
        podman("rm", "-f", "-t", "0", name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--context", type=Path, required=True, help="a `python -m serving package --wheelhouse` directory")
    ap.add_argument("--base", required=True, help="BASE_IMAGE for the Dockerfile")
    ap.add_argument("--tag", default="localhost/qboost-bench", help="image name; the targets are tagged :full and :serve")
    ap.add_argument("--starts", type=int, default=5, help="podman run -> first /ping measurements per image (default 5)")
    ap.add_argument("--cold", action="store_true", help="also time a --no-cache build of each target")
    ap.add_argument("--json", dest="json_out", help="write the figures to this JSON file")
    args = ap.parse_args()
    if not (args.context / "Dockerfile").is_file():
        ap.error(f"--context {args.context}: no Dockerfile (run `python -m serving package --wheelhouse --out DIR` first)")
    tags = {t: f"{args.tag}:{t}" for t in TARGETS}

    log("filling the layer cache (both targets)")
    for target in TARGETS:
        build(args.context, args.base, tags[target], target, cold=False)
    cached = {t: build(args.context, args.base, tags[t], t, cold=False) for t in TARGETS}
    log(f"cached builds: {cached}")
    cold = {}
    if args.cold:
        for target in TARGETS:
            cold[target] = build(args.context, args.base, tags[target], target, cold=True)
            log(f"cold build {target}: {cold[target]:.1f} s")
    sizes = {t: int(podman("image", "inspect", "--format", "{{.Size}}", tags[t]).strip()) / 1e6 for t in TARGETS}
    pings: dict[str, list[float]] = {t: [] for t in TARGETS}
    run_s: dict[str, list[float]] = {t: [] for t in TARGETS}
    for i in range(args.starts):
        for target in TARGETS:
            ping, run = first_ping(tags[target])
            pings[target].append(ping)
            run_s[target].append(run)
            log(f"start {i + 1} {target}: first /ping {ping:.2f} s after `podman run -d` returned (which took {run:.2f} s)")
    with open("/proc/loadavg") as f:
        load = f.read().strip()
    medians = {t: statistics.median(pings[t]) for t in TARGETS}
    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "argv": sys.argv,
        "size_mb": {t: round(sizes[t], 1) for t in TARGETS},
        "cached_build_s": {t: round(cached[t], 1) for t in TARGETS},
        "cold_build_s": {t: round(cold[t], 1) for t in cold},
        "first_ping_s": {t: [round(p, 2) for p in pings[t]] for t in TARGETS},
        "first_ping_median_s": {t: round(medians[t], 2) for t in TARGETS},
        "podman_run_returns_median_s": {t: round(statistics.median(run_s[t]), 2) for t in TARGETS},
        "loadavg_after": load,
    }
    print(json.dumps(figures, indent=2))
    lean, full = sizes["serve"], sizes["full"]
    print(f"- {'MET' if lean <= LEAN_SIZE_TARGET_MB else 'MISSED'}: lean image {lean:.0f} MB (target <= {LEAN_SIZE_TARGET_MB} MB)")
    print(f"- {'MET' if medians['serve'] <= LEAN_PING_TARGET_S else 'MISSED'}: lean first /ping median {medians['serve']:.2f} s "
          f"(target <= {LEAN_PING_TARGET_S} s; full image {medians['full']:.2f} s in the same run)")
    print(f"- {'MET' if full <= FULL_SIZE_BEFORE_MB + 0.5 else 'MISSED'}: full image {full:.1f} MB (before: {FULL_SIZE_BEFORE_MB} MB)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
