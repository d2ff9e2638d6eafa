"""The HTTP API under load: requests/s and p50/p99 latency per route, beside two floors.

wrk (``apt-get install wrk``) drives each case over loopback for a fixed time, at 1
connection and at 16: single-key lookup (JSON, raw float32), batch lookup of 100 random
keys (JSON, Arrow), and neighbours k=10 of a random key. The floors, measured the same
way in the same run:

- a bare FastAPI endpoint that returns one constant 64-float vector as JSON, served by
  uvicorn[standard] with as many workers as ``embank serve`` gets: what HTTP + FastAPI
  cost before embank does anything (a GET; and a POST whose one-key JSON body FastAPI
  parses into a pydantic model, as a lookup's is);
- ``redis-benchmark`` GET of a 256-byte value (one row of float32 x 64), when Redis
  answers at ``--redis-port``: the floor of a network key-value lookup.

    python benchmarks/bench_http.py
    python benchmarks/bench_http.py --rows 1000000 --seconds 10 --workers 2

The table is ``--rows`` x 64 float32 in an embedded bank (clustered, so that neighbours
mean something; cosine), with the hnswlib index ``embank run`` builds after a publish.
Everything shares the machine's cores: read the ratios within one run. The goals
(issue 6): single-key lookup p99 under 2 ms at 1 connection; at 16 connections at least
50 % of the bare endpoint's requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import embank
from embank.ann.stored import build_version_index
from embank.vector_table import VectorTable

TABLE = "bench/http"
DIM = 64
N_BODIES = 500  # distinct random request bodies per case, cycled by the wrk script

_BARE_APP = """
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

app = FastAPI()
BODY = ('{"vector": [' + ", ".join(["0.123456789"] * 64) + ']}').encode()


@app.get("/vector")
def vector() -> Response:
    return Response(content=BODY, media_type="application/json")


class Keys(BaseModel):
    keys: list[str]


@app.post("/lookup")
def lookup(body: Keys) -> Response:
    return Response(content=BODY, media_type="application/json")
"""

# wrk cycles through pre-written request bodies so each request asks for other keys
_LUA = """
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "%(method)s"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "%(accept)s"
request = function()
  i = i %% #bodies + 1
  if wrk.method == "GET" then return wrk.format(nil, wrk.path) end
  return wrk.format(nil, wrk.path, nil, bodies[i])
end
"""


@dataclass
class Row:
    case: str
    connections: int
    requests_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clustered(n_rows: int, seed: int = 0) -> VectorTable:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(n_rows // 100, 1), DIM)).astype(np.float32)
    vectors = centers[rng.integers(0, len(centers), n_rows)]
    vectors += 0.3 * rng.standard_normal((n_rows, DIM), dtype=np.float32)
    return VectorTable.single_entity("user", [f"user{i}" for i in range(n_rows)], vectors)


def wait_for(url: str, process: subprocess.Popen, what: str) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not answer in 120 s")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_embank(bank: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "embank", "serve", "--bank", str(bank), "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k != "EMBANK_TOKEN"}
    process = subprocess.Popen(command, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/healthz", process, "embank serve")
    return process, base


def start_bare(folder: Path, workers: int) -> tuple[subprocess.Popen, str]:
    (folder / "bare_app.py").write_text(_BARE_APP)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=folder, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/vector", process, "the bare FastAPI app")
    return process, base


_REQS = re.compile(r"Requests/sec:\s+([\d.]+)")
_PCT = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors:(.*)")


def wrk(
    url: str,
    bodies: list[str],
    folder: Path,
    connections: int,
    seconds: float,
    method: str = "POST",
    accept: str = "application/json",
) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, failed requests) of wrk against ``url``."""
    body_file = folder / f"bodies-{abs(hash((url, accept)))}.txt"
    body_file.write_text("\n".join(bodies or ["{}"]) + "\n")
    script = folder / "script.lua"
    script.write_text(_LUA % {"bodies": body_file, "method": method, "accept": accept})
    threads = min(connections, 2)
    duration = max(round(seconds), 1)  # wrk takes whole seconds
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    done = subprocess.run(
        [*command, "-s", str(script), url], capture_output=True, text=True, check=True
    )
    out = done.stdout
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    pct = {p: float(v) * scale[u] for p, v, u in _PCT.findall(out)}
    errors = sum(int(n) for n in _NON_2XX.findall(out))
    errors += sum(int(n) for line in _SOCKET.findall(out) for n in re.findall(r"\d+", line))
    return float(_REQS.search(out).group(1)), pct["50"], pct["99"], errors


def redis_floor(port: int, connections: int, seconds: float) -> Row | None:
    """redis-benchmark GET of a 256-byte value: requests/s and p50/p99 (ms)."""
    if shutil.which("redis-benchmark") is None:
        return None
    n = int(40_000 * seconds) if connections > 1 else int(8_000 * seconds)
    command = ["redis-benchmark", "-p", str(port), "-t", "get", "-d", "256", "-c"]
    command += [str(connections), "-n", str(n), "--csv", "-q"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith('"GET"')]
    if not lines:
        return None
    fields = [f.strip('"') for f in lines[0].split(",")]
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95","p99","max"
    return Row("bare Redis GET (redis-benchmark)", connections, float(fields[1]),
               float(fields[4]), float(fields[6]), 0)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-port", type=int, default=6379)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    rng = np.random.default_rng(7)
    work = Path(tempfile.mkdtemp(prefix="bench-http-"))
    rows: list[Row] = []
    try:
        log(f"publishing {args.rows:,} x {DIM} into {work / 'bank'}")
        with embank.open(work / "bank") as bank:
            bank.publish(TABLE, clustered(args.rows))
            # what `embank run` builds after a publish: the neighbours route searches it
            log("building the version's ANN index (hnswlib, tuned to recall@10 0.95)")
            build_version_index(bank, bank.get(TABLE))

        def keys(n: int) -> list[str]:
            return [f"user{i}" for i in rng.integers(0, args.rows, n)]

        one = [json.dumps({"keys": keys(1)}) for _ in range(N_BODIES)]
        hundred = [json.dumps({"keys": keys(100)}) for _ in range(N_BODIES)]
        near = [json.dumps({"key": keys(1)[0], "k": 10}) for _ in range(N_BODIES)]
        raw = "application/octet-stream"
        arrow = "application/vnd.apache.arrow.stream"
        cases = [
            ("lookup 1 key, JSON", "lookup", one, "application/json"),
            ("lookup 1 key, raw float32", "lookup", one, raw),
            ("lookup 100 keys, JSON", "lookup", hundred, "application/json"),
            ("lookup 100 keys, Arrow", "lookup", hundred, arrow),
            ("neighbours k=10 by key", "neighbors", near, "application/json"),
        ]
        bare, bare_base = start_bare(work, args.workers)
        try:
            for connections in (1, 16):
                found = wrk(f"{bare_base}/vector", [], work, connections, args.seconds, "GET")
                rows.append(Row("bare FastAPI constant vector", connections, *found))
                log(f"  {rows[-1]}")
                # the same answer to a POST whose JSON body FastAPI parses into a model,
                # as every lookup's is: the floor of a POST route
                found = wrk(f"{bare_base}/lookup", one, work, connections, args.seconds)
                rows.append(Row("bare FastAPI POST, pydantic body", connections, *found))
                log(f"  {rows[-1]}")
        finally:
            stop(bare)
        server, base = start_embank(work / "bank", args.workers)
        try:
            for label, route, bodies, accept in cases:
                url = f"{base}/tables/{TABLE}/{route}"
                wrk(url, bodies, work, 4, 2.0, accept=accept)  # warm: key index, maps
                for connections in (1, 16):
                    found = wrk(url, bodies, work, connections, args.seconds, accept=accept)
                    rows.append(Row(label, connections, *found))
                    log(f"  {rows[-1]}")
        finally:
            stop(server)
        for connections in (1, 16):
            floor = redis_floor(args.redis_port, connections, args.seconds)
            if floor is not None:
                rows.append(floor)
                log(f"  {rows[-1]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def rates(case: str) -> dict[int, float]:
        return {r.connections: r.requests_s for r in rows if r.case == case}

    bare_get = rates("bare FastAPI constant vector")
    bare_post = rates("bare FastAPI POST, pydantic body")
    print(f"\n{args.rows:,} x {DIM} float32, embank serve --workers {args.workers}, "
          f"wrk {args.seconds:g} s per case\n")  # fmt: skip
    print(
        "| case | connections | requests/s | p50 ms | p99 ms | x bare GET | x bare POST | errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        get = r.requests_s / bare_get.get(r.connections, float("nan"))
        post = r.requests_s / bare_post.get(r.connections, float("nan"))
        print(f"| {r.case} | {r.connections} | {r.requests_s:,.0f} | {r.p50_ms:.2f} | "
              f"{r.p99_ms:.2f} | {get:.2f} | {post:.2f} | {r.errors} |")  # fmt: skip
    single = [r for r in rows if r.case.startswith("lookup 1 key") and r.connections == 1]
    p99 = max(r.p99_ms for r in single)
    print(f"\nsingle-key lookup p99 at 1 connection: {p99:.2f} ms (goal < 2 ms)")
    for r in rows:
        if r.case.startswith("lookup 1 key") and r.connections == 16:
            print(f"{r.case} at 16 connections: {r.requests_s / bare_get[16]:.0%} of the bare "
                  f"GET endpoint (goal >= 50 %), {r.requests_s / bare_post[16]:.0%} of the "
                  "bare POST")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2))


if __name__ == "__main__":
    main()
