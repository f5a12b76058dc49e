"""Benchmark: the SageMaker image's size, build times and time from ``podman run`` to the first /ping 200.

Builds a ``python -m serving package --wheelhouse`` build context with
podman: once to fill the layer cache (not timed), once more timed (cached:
every layer reused), and once with ``--no-cache`` (cold: every layer built,
offline from the wheelhouse, on an existing base image). A ``--no-cache``
build leaves no layers in the cache, so the cached build must come first. Then starts ``podman run -p PORT:8080 IMAGE serve`` ``--starts``
times, each time measuring the seconds from the ``podman run`` call to the
first /ping that answers 200 (polled every 20 ms), and removes the container.

Usage::

    .venv/bin/python benchmarks/bench_image.py --context build/sagemaker --base BASE_IMAGE \\
        [--tag localhost/qboost-bench:latest] [--starts 5]

``BASE_IMAGE`` is e.g. ``python:3.11-slim`` where a registry is reachable, or
the Debian base the tests build (``podman images localhost/qboost-test-base``).
podman reads ``CONTAINERS_CONF`` if set (runc and ulimits where crun fails).
Targets: image <= 600 MB, first /ping <= 2 s.
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

SIZE_TARGET_MB = 600
PING_TARGET_S = 2.0


def log(message: str) -> None:
    print(f"[bench_image] {message}", file=sys.stderr, flush=True)


def podman(*args: str, timeout: float = 1800) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"podman {' '.join(args[:3])} ... exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def build(context: Path, base: str, tag: str, cold: bool) -> float:
    cmd = ["build", "--isolation=chroot", "--build-arg", f"BASE_IMAGE={base}", "-t", tag, str(context)]
    if cold:
        cmd.insert(1, "--no-cache")
    start = time.monotonic()
    podman(*cmd)
    return time.monotonic() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_ping(tag: str, timeout: float = 120) -> float:
    port = free_port()
    name = f"bench-image-{port}"
    start = time.monotonic()
    podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", tag, "serve")
    try:
        while time.monotonic() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.02)
        raise SystemExit(f"/ping did not answer 200 within {timeout} s")
    finally:
        podman("rm", "-f", "-t", "0", name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--context", type=Path, required=True, help="a `python -m serving package --wheelhouse` directory")
    ap.add_argument("--base", required=True, help="BASE_IMAGE for the Dockerfile")
    ap.add_argument("--tag", default="localhost/qboost-bench:latest")
    ap.add_argument("--starts", type=int, default=5, help="podman run -> first /ping measurements (default 5)")
    ap.add_argument("--json", dest="json_out", help="write the figures to this JSON file")
    args = ap.parse_args()
    if not (args.context / "Dockerfile").is_file():
        ap.error(f"--context {args.context}: no Dockerfile (run `python -m serving package --wheelhouse --out DIR` first)")

    log("filling the layer cache")
    build(args.context, args.base, args.tag, cold=False)
    cached = build(args.context, args.base, args.tag, cold=False)
    log(f"cached build {cached:.1f} s; cold build (--no-cache)")
    cold = build(args.context, args.base, args.tag, cold=True)
    log(f"cold build {cold:.1f} s")
    size_mb = int(podman("image", "inspect", "--format", "{{.Size}}", args.tag).strip()) / 1e6
    pings = []
    for i in range(args.starts):
        pings.append(first_ping(args.tag))
        log(f"start {i + 1}: first /ping after {pings[-1]:.2f} s")
    with open("/proc/loadavg") as f:
        load = f.read().strip()
    figures = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "argv": sys.argv,
        "requirements": sum(1 for line in (args.context / "requirements.txt").read_text().splitlines() if line.strip()),
        "size_mb": round(size_mb, 1),
        "cold_build_s": round(cold, 1),
        "cached_build_s": round(cached, 1),
        "first_ping_s": [round(p, 2) for p in pings],
        "first_ping_median_s": round(statistics.median(pings), 2),
        "loadavg_after": load,
    }
    print(json.dumps(figures, indent=2))
    print(f"- {'MET' if size_mb <= SIZE_TARGET_MB else 'MISSED'}: image {size_mb:.0f} MB (target <= {SIZE_TARGET_MB} MB)")
    median = statistics.median(pings)
    print(f"- {'MET' if median <= PING_TARGET_S else 'MISSED'}: first /ping median {median:.2f} s (target <= {PING_TARGET_S} s)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
