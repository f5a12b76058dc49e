"""Benchmark: our SageMaker serving stack vs MLflow's scoring server, same model, same load generator.

Both servers serve the same MLflow model directory (a small QBoost model
trained here unless ``--model-dir`` is given):

* ours: ``python -m serving.container.serve`` (nginx -> gunicorn -> Flask;
  ``MODEL_SERVER_WORKERS`` defaults to the CPU count);
* MLflow's: ``mlflow models serve --env-manager local`` (its default workers);
* with ``--image TAG``: the same program inside the SageMaker image,
  ``podman run -p PORT:8080 -v MODEL:/opt/ml/model TAG serve`` (cases
  ``image:FORMAT:ROWS``; podman configured by ``CONTAINERS_CONF`` if set);
* with ``--lean-image TAG``: the same inside the lean ``serve`` image (cases
  ``lean:FORMAT:ROWS``), run the same way beside the full one.

With an image, the model directory gets its compiled file
(``qboost-compiled.npz``, as ``python -m serving package`` writes it) before
any server starts, so every server predicts from the same compiled model.

Load comes from ``wrk`` (Debian: ``apt-get install -y wrk``) with
``benchmarks/wrk_post.lua``, which POSTs a fixed body and counts response
statuses. Before any load, both servers must return identical predictions for
the same 1000 rows (JSON ``dataframe_split`` to both, headerless CSV to ours).

Cases are ``server:format:rows`` -- ``ours:json:1``, ``ours:csv:1``,
``ours:json:1000``, ``ours:csv:1000``, ``mlflow:json:1``, ``mlflow:json:1000``
-- each run at every ``--concurrency`` level for ``--duration`` seconds
(``wrk -t2 -cN -dDs --latency``).

Usage::

    .venv/bin/python benchmarks/bench_serving.py [--duration 10] [--cases all] \
        [--concurrency 1,8,64] [--json OUT] [--model-dir DIR]

Prints a markdown table and which targets were met. Every server started is
stopped (its whole process group) on exit, including on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
LUA = Path(__file__).with_name("wrk_post.lua")
ALL_CASES = ["ours:json:1", "ours:csv:1", "mlflow:json:1", "ours:json:1000", "ours:csv:1000", "mlflow:json:1000"]
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv"}


def log(msg: str) -> None:
    print(f"[bench_serving] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- model


def train_model(model_dir: Path) -> None:
    from omegaconf import OmegaConf

    from qboost_exp.config import compose
    from qboost_exp.experiment import run_experiment
    from qboost_exp.tracking import save_model

    cfg = compose(["sampler.params.num_reads=20", "mlflow.enabled=false"])
    result = run_experiment(cfg)
    save_model(result, OmegaConf.to_container(cfg, resolve=True), str(model_dir))


def input_names(model_dir: Path) -> list[str]:
    from mlflow.models import Model

    sig = Model.load(str(model_dir)).signature
    if sig is None or sig.inputs is None:
        raise SystemExit(f"{model_dir}: model has no input signature")
    return list(sig.inputs.input_names())


def make_rows(names: list[str], n: int) -> np.ndarray:
    """n rows of the model's features: the breast-cancer data when its columns match, else random."""
    try:
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        if list(data.feature_names) == names:
            return np.resize(data.data, (n, len(names)))
    except Exception:
        pass
    return np.random.default_rng(0).normal(size=(n, len(names)))


def write_bodies(rows: np.ndarray, names: list[str], out: Path) -> dict[tuple[str, int], Path]:
    bodies = {}
    for n in (1, len(rows)):
        part = rows[:n]
        p = out / f"body_{n}.json"
        p.write_text(json.dumps({"dataframe_split": {"columns": names, "data": part.tolist()}}))
        bodies[("json", n)] = p
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([[repr(float(v)) for v in r] for r in part])
        p = out / f"body_{n}.csv"
        p.write_text(buf.getvalue())
        bodies[("csv", n)] = p
    return bodies


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, cmd: list[str], port: int, ready_path: str, log_path: Path, env: dict | None = None):
        self.name, self.cmd, self.port, self.ready_path = name, cmd, port, ready_path
        self.log_path = log_path
        # The venv's bin first on PATH: `mlflow models serve` execs `uvicorn` by name.
        self.env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> None:
        self._log = open(self.log_path, "wb")
        # Own session/process group, so stop() reaches every child (nginx, gunicorn, uvicorn workers).
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log(f"{self.name}: started pid {self.proc.pid} on port {self.port}: {' '.join(self.cmd)}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as r:
                    if r.status == 200:
                        log(f"{self.name}: ready ({self.ready_path} 200)")
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} not ready within {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # session leader: its pid is the group id
        if self.proc.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: did not stop within 20 s; SIGKILL to group {pgid}")
        # Whatever is left of the group (children that outlived the leader).
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        log(f"{self.name}: stopped (pid {pgid}, exit {self.proc.returncode})")
        self.proc = None
        self._log.close()


def post(url: str, body: bytes, content_type: str, accept: str = "application/json") -> tuple[int, bytes]:
    req = urllib.request.Request(url + "/invocations", data=body, method="POST",
                                 headers={"Content-Type": content_type, "Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def predictions(status: int, body: bytes, who: str) -> list:
    if status != 200:
        raise RuntimeError(f"{who}: HTTP {status}: {body[:500]!r}")
    doc = json.loads(body)
    return doc["predictions"] if isinstance(doc, dict) else doc


def sanity_check(servers: dict[str, Server], bodies: dict, n: int) -> dict:
    jbody = bodies[("json", n)].read_bytes()
    cbody = bodies[("csv", n)].read_bytes()
    got = {}
    if "mlflow" in servers:
        got["mlflow json"] = predictions(*post(servers["mlflow"].url, jbody, "application/json"), "mlflow json")
    for image in ("image", "lean"):
        if image in servers:
            got[f"{image} json"] = predictions(*post(servers[image].url, jbody, "application/json"), f"{image} json")
            got[f"{image} csv"] = predictions(*post(servers[image].url, cbody, "text/csv"), f"{image} csv")
    if "ours" in servers:
        got["ours json"] = predictions(*post(servers["ours"].url, jbody, "application/json"), "ours json")
        got["ours csv"] = predictions(*post(servers["ours"].url, cbody, "text/csv"), "ours csv")
    ref_name, ref = next(iter(got.items()))
    for name, preds in got.items():
        if len(preds) != n:
            raise RuntimeError(f"sanity check: {name} returned {len(preds)} predictions for {n} rows")
        if [float(p) for p in preds] != [float(p) for p in ref]:
            diff = sum(float(a) != float(b) for a, b in zip(preds, ref))
            raise RuntimeError(f"sanity check: {name} differs from {ref_name} on {diff} of {n} rows")
    counts = {str(k): int(v) for k, v in zip(*np.unique(np.asarray(ref, dtype=float), return_counts=True))}
    log(f"sanity check passed: {', '.join(got)} agree on all {n} rows (class counts {counts})")
    return {"rows": n, "compared": list(got), "identical": True, "class_counts": counts}


# --------------------------------------------------------------------------- load


def run_wrk(url: str, body_file: Path, content_type: str, conns: int, duration: int, threads: int = 2) -> dict:
    threads = min(threads, conns)
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "30s",
           "-s", str(LUA), url + "/invocations"]
    env = {**os.environ, "BODY_FILE": str(body_file), "CONTENT_TYPE": content_type}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 90)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr}\n{out.stdout}")
    statuses = {int(m[1]): int(m[2]) for m in re.finditer(r"^STATUS (\d+) (\d+)$", out.stdout, re.M)}
    m = re.search(r"^RESULT ((?:\d+ ?)+)$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"no RESULT line from wrk:\n{out.stdout}")
    req, dur, p50, p90, p99, mx, e_conn, e_read, e_write, e_status, e_timeout = map(int, m[1].split())
    nm = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out.stdout)
    non2xx = sum(v for k, v in statuses.items() if not 200 <= k < 300)
    return {
        "command": " ".join(cmd),
        "requests": req,
        "rps": req / (dur / 1e6),
        "p50_ms": p50 / 1000, "p90_ms": p90 / 1000, "p99_ms": p99 / 1000, "max_ms": mx / 1000,
        "statuses": statuses,
        "non2xx": non2xx,
        "wrk_non2xx_3xx": int(nm[1]) if nm else 0,
        "socket_errors": {"connect": e_conn, "read": e_read, "write": e_write, "timeout": e_timeout},
        "wrk_stdout": out.stdout,
    }


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


# --------------------------------------------------------------------------- report


def table(results: list[dict]) -> str:
    lines = ["| server | body | rows | conc. | req/s | p50 ms | p99 ms | max ms | requests | non-2xx | socket errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        errs = sum(r["socket_errors"].values())
        name = r["server"] + (f" (round {r['round']})" if max(x.get("round", 1) for x in results) > 1 else "")
        lines.append(f"| {name} | {r['format']} | {r['rows']} | {r['concurrency']} | {r['rps']:.1f} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['max_ms']:.1f} | {r['requests']} | {r['non2xx']} | {errs} |")
    return "\n".join(lines)


def targets(results: list[dict]) -> list[str]:
    def find(server, fmt, rows, conc):
        return next((r for r in results if (r["server"], r["format"], r["rows"], r["concurrency"]) == (server, fmt, rows, conc)), None)

    out = []
    concs = sorted({r["concurrency"] for r in results})
    def rates(server):
        return [r["rps"] for r in results if (r["server"], r["format"], r["rows"], r["concurrency"]) == (server, "csv", 1, 8)]

    lean, full = rates("lean"), rates("image")
    if lean and full:
        ml, mf = statistics.median(lean), statistics.median(full)
        each = f" (rounds: lean {', '.join(f'{x:.0f}' for x in lean)}; full {', '.join(f'{x:.0f}' for x in full)})" if len(lean) > 1 else ""
        out.append(f"{'MET' if ml >= mf else 'MISSED'}: single-row CSV at c=8, lean serve image ≥ full image (median of rounds): "
                   f"{ml:.0f} vs {mf:.0f} req/s{each}")
        if len(lean) == len(full) > 1:
            # Each round runs the two back to back: their ratio cancels the load that changes between rounds.
            ratios = [a / b for a, b in zip(lean, full) if b > 0]
            ratio = statistics.median(ratios)
            out.append(f"{'MET' if ratio >= 1 else 'MISSED'}: single-row CSV at c=8, lean/full paired by round (median ratio): {ratio:.3f} "
                       f"(lean ahead in {sum(r >= 1 for r in ratios)} of {len(ratios)} rounds)")
    for fmt in ("json", "csv"):
        for c in concs:
            o, m = find("ours", fmt, 1, c), find("mlflow", "json", 1, c)
            if o and m and m["rps"] > 0:
                ratio = o["rps"] / m["rps"]
                out.append(f"{'MET' if ratio >= 10 else 'MISSED'}: single-row req/s ours ({fmt}) ≥ 10× MLflow (json) at c={c}: "
                           f"{o['rps']:.0f} vs {m['rps']:.1f} = {ratio:.1f}×")
    for fmt in ("json", "csv"):
        o = find("ours", fmt, 1, 8)
        if o:
            out.append(f"{'MET' if o['p99_ms'] <= 5 else 'MISSED'}: ours ({fmt}) single-row p99 at c=8 ≤ 5 ms: {o['p99_ms']:.2f} ms"
                       + ("" if o["p99_ms"] <= 5 else f" ({o['p99_ms'] / 5:.1f}× the target)"))
    for fmt in ("json", "csv"):
        o = find("ours", fmt, 1000, 1)
        if o:
            ok = o["p50_ms"] < 20 and o["p99_ms"] < 20
            out.append(f"{'MET' if ok else 'MISSED'}: ours ({fmt}) 1000-row body at c=1 < 20 ms: p50 {o['p50_ms']:.2f} ms, p99 {o['p99_ms']:.2f} ms")
    ours = [r for r in results if r["server"] == "ours"]
    if ours:
        bad = sum(r["non2xx"] for r in ours)
        errs = sum(sum(r["socket_errors"].values()) for r in ours)
        out.append(f"{'MET' if bad == 0 and errs == 0 else 'MISSED'}: ours zero non-2xx: {bad} non-2xx, {errs} socket errors "
                   f"over {sum(r['requests'] for r in ours)} requests")
    ml = [r for r in results if r["server"] == "mlflow"]
    if ml:
        out.append(f"(MLflow: {sum(r['non2xx'] for r in ml)} non-2xx, {sum(sum(r['socket_errors'].values()) for r in ml)} socket errors "
                   f"over {sum(r['requests'] for r in ml)} requests)")
    return out


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    ap.add_argument("--cases", default="all", help=f"comma-separated server:format:rows, or 'all' ({','.join(ALL_CASES)})")
    ap.add_argument("--concurrency", default="1,8,64", help="comma-separated wrk connection counts (default 1,8,64)")
    ap.add_argument("--json", dest="json_out", help="write all results to this JSON file")
    ap.add_argument("--model-dir", help="serve this MLflow model dir instead of training one")
    ap.add_argument("--rows", type=int, default=1000, help="rows of the large body and the sanity check (default 1000)")
    ap.add_argument("--image", help="also serve through this SageMaker image with podman (cases image:FORMAT:ROWS)")
    ap.add_argument("--lean-image", help="also serve through this lean `serve` image with podman (cases lean:FORMAT:ROWS)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every case this many times, the image and lean cases in alternating order (default 1)")
    args = ap.parse_args()

    cases = ALL_CASES if args.cases == "all" else [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        parts = c.split(":")
        if len(parts) != 3 or parts[0] not in ("ours", "mlflow", "image", "lean") or parts[1] not in CONTENT_TYPES or parts[2] not in ("1", str(args.rows)):
            ap.error(f"bad case {c!r}; use server:format:rows with server ours|mlflow|image|lean, format json|csv, rows 1|{args.rows}")
        if parts[0] == "image" and not args.image:
            ap.error(f"case {c!r} needs --image TAG (the SageMaker image to run with podman)")
        if parts[0] == "lean" and not args.lean_image:
            ap.error(f"case {c!r} needs --lean-image TAG (the lean serve image to run with podman)")
        if parts[0] == "mlflow" and parts[1] == "csv":
            ap.error("mlflow:csv:* is not a case: MLflow needs CSV with a header; use mlflow:json:*")
    concs = [int(c) for c in args.concurrency.split(",")]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found; Debian: apt-get install -y wrk")

    # SIGTERM -> exception, so the finally below stops the servers.
    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    servers: dict[str, Server] = {}
    results: list[dict] = []
    try:
        if args.model_dir:
            model_dir = Path(args.model_dir).resolve()
        else:
            model_dir = work / "model"
            log(f"training a model into {model_dir}")
            t0 = time.monotonic()
            train_model(model_dir)
            log(f"trained in {time.monotonic() - t0:.1f} s")
        names = input_names(model_dir)
        rows = make_rows(names, args.rows)
        bodies = write_bodies(rows, names, work)
        log(f"model {model_dir}: {len(names)} inputs; bodies {', '.join(f'{k[0]}x{k[1]}={v.stat().st_size}B' for k, v in bodies.items())}")

        needed = {c.split(":")[0] for c in cases}
        if needed & {"image", "lean"}:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from serving.container.compiled_file import compile_model_dir

            reason = compile_model_dir(model_dir)
            log("wrote the compiled file beside the model" if reason is None else f"the model does not compile: {reason}")
        # Both servers are up for the sanity check (always both); each is idle while the other is loaded.
        p_ours, p_ml = free_port(), free_port()
        servers["ours"] = Server("ours", [str(VENV_BIN / "python"), "-m", "serving.container.serve", "--model-dir", str(model_dir),
                                          "--port", str(p_ours), "--host", "127.0.0.1"], p_ours, "/ping", work / "ours.log")
        servers["mlflow"] = Server("mlflow", [str(VENV_BIN / "mlflow"), "models", "serve", "-m", str(model_dir), "-p", str(p_ml),
                                              "--host", "127.0.0.1", "--env-manager", "local"], p_ml, "/ping", work / "mlflow.log")
        if "image" in needed:
            p_image = free_port()
            name = f"bench-serving-{p_image}"
            servers["image"] = Server("image", ["podman", "run", "--rm", "--name", name, "-p", f"127.0.0.1:{p_image}:8080",
                                                "-v", f"{model_dir}:/opt/ml/model:ro", args.image, "serve"],
                                      p_image, "/ping", work / "image.log")
        if "lean" in needed:
            p_lean = free_port()
            name = f"bench-serving-{p_lean}"
            servers["lean"] = Server("lean", ["podman", "run", "--rm", "--name", name, "-p", f"127.0.0.1:{p_lean}:8080",
                                              "-v", f"{model_dir}:/opt/ml/model:ro", args.lean_image, "serve"],
                                     p_lean, "/ping", work / "lean.log")
        for s in servers.values():
            s.start()
        sanity = sanity_check(servers, bodies, args.rows)

        load_before = loadavg()
        log(f"/proc/loadavg before: {load_before}")
        started = time.time()
        for round_no in range(args.rounds):
            # the two images swap places every round, so neither always meets the same minute's load
            for server in ("ours", "mlflow", *(("image", "lean") if round_no % 2 == 0 else ("lean", "image"))):
                if server not in needed:
                    continue
                for case in (c for c in cases if c.startswith(server + ":")):
                    _, fmt, n = case.split(":")
                    for c in concs:
                        s = servers[server]
                        r = run_wrk(s.url, bodies[(fmt, int(n))], CONTENT_TYPES[fmt], c, args.duration)
                        r.update(server=server, format=fmt, rows=int(n), concurrency=c, round=round_no + 1, loadavg_after=loadavg())
                        results.append(r)
                        log(f"{case} c={c}: {r['rps']:.1f} req/s p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms "
                            f"non-2xx {r['non2xx']} statuses {r['statuses']} errors {r['socket_errors']}")
        load_after = loadavg()
        log(f"/proc/loadavg after: {load_after}")

        md = table(results)
        verdicts = targets(results)
        print(md)
        print()
        for v in verdicts:
            print(f"- {v}")
        print(f"\nloadavg before: {load_before}; after: {load_after}")
        if args.json_out:
            doc = {
                "date": time.strftime("%Y-%m-%d", time.gmtime(started)),
                "argv": sys.argv,
                "model_inputs": len(names),
                "sanity_check": sanity,
                "loadavg_before": load_before,
                "loadavg_after": load_after,
                "results": [{k: v for k, v in r.items() if k != "wrk_stdout"} | {"wrk_stdout": r["wrk_stdout"]} for r in results],
                "targets": verdicts,
                "table_markdown": md,
            }
            Path(args.json_out).write_text(json.dumps(doc, indent=2, default=str))
            log(f"wrote {args.json_out}")
        return 0
    finally:
        for s in servers.values():
            try:
                s.stop()
            except Exception as exc:  # keep stopping the others
                log(f"stopping {s.name}: {exc}")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
