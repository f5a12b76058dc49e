"""Benchmark: a serving image's cold start under serverless memory sizes, to the first 200 from /invocations.

A serverless endpoint starts a container for a request that finds none warm,
and that request waits for it. This measures what such a request waits for
here: from the moment ``podman run -d`` is called (its own time included) to
the first ``POST /invocations`` that answers 200, with the container's memory
capped as a serverless size caps it (``--memory M --memory-swap M``), for each
size ``--starts`` times (the sizes alternating, so each meets the same machine
load), then the median. /invocations is polled every 10 ms with one row of
``--features`` values (not /ping: a ready /ping does not prove the first
prediction is fast too). Each container is removed after its measurement.

The image must hold its model (``python -m serving package`` bakes it in, as
the tests' images do), or give ``--model DIR`` to mount one read-only.

Usage::

    .venv/bin/python benchmarks/bench_cold_start.py --image localhost/qboost-sagemaker-test:session-serve \\
        [--memory 1g,2g] [--starts 5] [--features 30] [--json OUT]

Only memory is capped here: SageMaker also gives a serverless container CPU in
proportion to its memory, which podman on this machine does not imitate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.error
import urllib.request

from bench_image import free_port, podman  # the same podman call and port choice as the image benchmark


def first_prediction(image: str, memory: str, row: bytes, model: str | None, timeout: float = 120) -> tuple[float, float]:
    """(seconds from calling `podman run -d` to the first /invocations 200, seconds `podman run -d` took)."""
    port = free_port()
    name = f"bench-cold-{port}"
    volume = ["-v", f"{model}:/opt/ml/model:ro"] if model else []
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    called = time.monotonic()
    podman("run", "-d", "--name", name, "--memory", memory, "--memory-swap", memory, *volume, "-p", f"127.0.0.1:{port}:8080", image, "serve")
    returned = time.monotonic()
    try:
        while time.monotonic() - called < timeout:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=row, headers={"Content-Type": "text/csv"})
            try:
                with opener.open(request, timeout=2) as answer:
                    if answer.status == 200:
                        answer.read()
                        return time.monotonic() - called, returned - called
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.01)
        raise SystemExit(f"{image} with --memory {memory}: no 200 from /invocations within {timeout} s")
    finally:
        podman("rm", "-f", "-t", "0", name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", required=True, help="a serving image holding its model (or see --model)")
    ap.add_argument("--model", help="an MLflow model directory to mount at /opt/ml/model")
    ap.add_argument("--memory", default="1g,2g", help="podman --memory values, comma-separated (default 1g,2g)")
    ap.add_argument("--starts", type=int, default=5, help="measurements per memory size (default 5)")
    ap.add_argument("--features", type=int, default=30, help="values in the row sent (default 30, wisc)")
    ap.add_argument("--json", dest="json_out", help="write the figures to this JSON file")
    args = ap.parse_args()
    sizes = [m.strip() for m in args.memory.split(",") if m.strip()]
    row = (",".join(["1.0"] * args.features) + "\n").encode()
    first_prediction(args.image, sizes[0], row, args.model)  # warm podman's own caches once, not measured
    runs: dict[str, list[tuple[float, float]]] = {m: [] for m in sizes}
    for i in range(args.starts):
        for memory in sizes:
            runs[memory].append(first_prediction(args.image, memory, row, args.model))
            print(f"[bench_cold_start] {memory} #{i + 1}: {runs[memory][-1][0]:.2f} s", file=sys.stderr, flush=True)
    figures = {
        m: {"median_s": statistics.median(t for t, _ in r), "all_s": [round(t, 3) for t, _ in r],
            "podman_run_median_s": statistics.median(p for _, p in r)}
        for m, r in runs.items()
    }
    print("| memory | first 200 from /invocations, median (s) | all starts (s) | of which `podman run -d` (median, s) |")
    print("|---|---:|---|---:|")
    for m, f in figures.items():
        print(f"| {m} | {f['median_s']:.2f} | {', '.join(f'{t:.2f}' for t in f['all_s'])} | {f['podman_run_median_s']:.2f} |")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as out:
            json.dump({"image": args.image, "starts": args.starts, "figures": figures}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
