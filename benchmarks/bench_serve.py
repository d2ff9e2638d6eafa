"""The HTTP API's lookup path: batches of 1,000 random keys over HTTP against in-process.

One table (default 100,000 rows x dim 64, float32) in an embedded bank, served by
``embank serve --workers 2`` (uvicorn[standard]); client processes each send batch
lookups of 1,000 random keys back to back for a fixed time, as JSON and as Arrow IPC
(and raw float32). The same batches through ``emb.vectors`` in this process give the
floor of the embedded store. If Redis answers (``--redis``, default
redis://127.0.0.1:6379/0), the same table is also published into a Redis-backed bank and
measured the same three ways, beside a bare redis-py pipelined MGET of the same 1,000
keys (values: the 256-byte float32 rows, names encoded beforehand) as the floor of Redis
itself.

    python benchmarks/bench_serve.py
    python benchmarks/bench_serve.py --rows 1000000 --seconds 20 --clients 4

Everything runs on one machine: the clients, the server's workers and Redis share the
cores, so read the ratios within one run. Clients decode nothing in the throughput runs
(they read the bytes); the latency column is one client alone, decoding its answer.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import embank
from embank.serve.formats import ARROW_STREAM, OCTET_STREAM, decode_arrow, decode_raw
from embank.vector_table import VectorTable

TABLE = "bench/serve"
N_BATCHES = 64  # distinct random batches, cycled


@dataclass
class Row:
    bank: str
    path: str
    batches_per_s: float
    p50_ms: float


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_table(n_rows: int, dim: int, seed: int = 0) -> VectorTable:
    rng = np.random.default_rng(seed)
    keys = [f"user{i}" for i in range(n_rows)]
    return VectorTable.single_entity(
        "user", keys, rng.standard_normal((n_rows, dim), dtype=np.float32)
    )


def batches(n_rows: int, batch: int, seed: int = 1) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [[f"user{i}" for i in rng.integers(0, n_rows, batch)] for _ in range(N_BATCHES)]


# -- in process ---------------------------------------------------------------------------


def rate(call: Callable[[list[str]], object], keys: list[list[str]], seconds: float) -> Row:
    """Calls per second of ``call`` over the batches, one thread, and its median time."""
    for batch in keys[:4]:
        call(batch)  # warm: key index, memory maps, connections
    times = []
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        call(keys[i % len(keys)])
        times.append(time.perf_counter() - start)
        i += 1
    return Row("", "", len(times) / sum(times), float(np.median(times) * 1000))


# -- over HTTP ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(bank: Path, workers: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "embank", "serve", "--bank", str(bank)]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k != "EMBANK_TOKEN"}
    process = subprocess.Popen(command, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"embank serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(process)
    raise SystemExit("embank serve did not answer in 120 s")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group this script started
        process.wait(timeout=10)


def _client(base: str, accept: str, keys: list[list[str]], seconds: float, out: mp.Queue) -> None:
    import httpx

    url = f"{base}/tables/{TABLE}/lookup"
    headers = {"Accept": accept}
    with httpx.Client(timeout=60) as client:
        for batch in keys[:2]:
            client.post(url, json={"keys": batch}, headers=headers).raise_for_status()
        done = 0
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            response = client.post(url, json={"keys": keys[done % len(keys)]}, headers=headers)
            response.raise_for_status()
            done += 1
        out.put((done, time.perf_counter() - start))


def http_throughput(
    base: str, accept: str, keys: list[list[str]], seconds: float, n_clients: int
) -> float:
    """Batches per second answered to ``n_clients`` processes posting back to back."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(base, accept, keys[i::n_clients] or keys, seconds, out))
        for i in range(n_clients)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    return sum(done / elapsed for done, elapsed in results)


def http_latency_ms(base: str, accept: str, keys: list[list[str]], n: int = 100) -> float:
    """Median time of one lookup, one client alone, decoding the answer."""
    import httpx

    url = f"{base}/tables/{TABLE}/lookup"
    times = []
    with httpx.Client(timeout=60) as client:
        for i in range(n + 5):
            start = time.perf_counter()
            response = client.post(
                url, json={"keys": keys[i % len(keys)]}, headers={"Accept": accept}
            )
            response.raise_for_status()
            if accept == ARROW_STREAM:
                _, table = decode_arrow(response.content)
                vectors = table.column("vector").combine_chunks().flatten().to_numpy()
            elif accept == OCTET_STREAM:
                _, vectors = decode_raw(response.content)
            else:
                vectors = np.asarray(response.json()["vectors"], dtype=np.float32)
            assert vectors.size
            if i >= 5:
                times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def measure_http(
    label: str, bank: Path, keys: list[list[str]], args: argparse.Namespace
) -> list[Row]:
    process, base = start_server(bank, args.workers)
    rows = []
    try:
        for name, accept in (
            ("JSON", "application/json"),
            ("Arrow", ARROW_STREAM),
            ("raw", OCTET_STREAM),
        ):
            log(f"  {label}: HTTP {name} ...")
            qps = http_throughput(base, accept, keys, args.seconds, args.clients)
            rows.append(Row(label, f"HTTP {name}", qps, http_latency_ms(base, accept, keys)))
    finally:
        stop_server(process)
    return rows


# -- bare Redis -----------------------------------------------------------------------------


def redis_client(url: str):
    try:
        import redis
    except ImportError:
        return None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
    except Exception as exc:
        log(f"Redis at {url} does not answer ({exc}): skipping the Redis rows")
        return None
    return client


def bare_mget(client, table: VectorTable, keys: list[list[str]], seconds: float) -> Row:
    """One MGET of the same keys (names encoded beforehand), stored as raw float32 rows
    under a fresh prefix: the round trip and the reply's parsing, nothing else."""
    prefix = f"bench-serve:{uuid.uuid4().hex}:"
    names = [f"{prefix}{k}".encode() for k in table.keys]
    rows = np.ascontiguousarray(table.vectors, dtype="<f4")
    encoded = {id(batch): [f"{prefix}{k}".encode() for k in batch] for batch in keys}
    try:
        for lo in range(0, len(names), 10_000):
            client.mset({n: rows[i].tobytes() for i, n in enumerate(names[lo : lo + 10_000], lo)})

        def lookup(batch: list[str]) -> np.ndarray:
            values = client.mget(encoded[id(batch)])
            return np.frombuffer(b"".join(values), dtype="<f4").reshape(len(batch), -1)

        return rate(lookup, keys, seconds)
    finally:
        for lo in range(0, len(names), 10_000):
            client.unlink(*names[lo : lo + 10_000])


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1_000, help="keys per lookup")
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput run")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    table = make_table(args.rows, args.dim)
    keys = batches(args.rows, args.batch)
    results: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        log(f"publishing {args.rows:,} x {args.dim} into an embedded bank ...")
        bank = embank.open(Path(tmp) / "embedded")
        emb = bank.publish(TABLE, table)
        row = rate(emb.vectors, keys, args.seconds)
        results.append(Row("embedded", "emb.vectors in process", row.batches_per_s, row.p50_ms))
        bank.close()
        results += measure_http("embedded", Path(tmp) / "embedded", keys, args)

        client = redis_client(args.redis)
        if client is not None:
            log("publishing into a Redis-backed bank ...")
            rbank = embank.open(Path(tmp) / "redis", online=args.redis)
            remb = rbank.publish(TABLE, table)
            try:
                row = rate(remb.vectors, keys, args.seconds)
                results.append(
                    Row("redis", "emb.vectors in process", row.batches_per_s, row.p50_ms)
                )
                results += measure_http("redis", Path(tmp) / "redis", keys, args)
                row = bare_mget(client, table, keys, args.seconds)
                results.append(Row("redis", "bare redis-py MGET", row.batches_per_s, row.p50_ms))
            finally:
                rbank.online.delete(remb.version_id)
                rbank.close()
                client.close()

    base = {r.bank: r.batches_per_s for r in results if r.path == "emb.vectors in process"}
    print(
        f"\n{args.batch:,} random keys per lookup; {args.rows:,} rows x dim {args.dim}; "
        f"{args.workers} workers, {args.clients} client processes, {args.seconds:.0f} s per run, "
        f"{os.cpu_count()} cores\n"
    )
    print("| bank | path | lookups/s | keys/s | p50 ms (1 client) | vs in-process |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in results:
        ratio = r.batches_per_s / base[r.bank]
        print(
            f"| {r.bank} | {r.path} | {r.batches_per_s:,.0f} | {r.batches_per_s * args.batch:,.0f} "
            f"| {r.p50_ms:.2f} | {ratio:.2f} |"
        )


if __name__ == "__main__":
    main()
