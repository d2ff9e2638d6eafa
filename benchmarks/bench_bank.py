"""How fast the bank publishes and serves lookups, beside the floor of writing the same data.

Publishes ``--rows`` x ``--dim`` float32 vectors (string keys, in no particular order) and
times, each case in a fresh subprocess (so each peak memory is its own):

- ``floor``: the same array written with ``np.save``, then the keys and vectors as a
  Parquet file (pyarrow defaults: one ``write_table`` call, snappy), no fsync: the raw
  floor a publish is compared with (its goal: at most 3x);
- ``embedded``: ``bank.publish`` into a folder bank (SQLite, version folder, embedded
  online files), then batch lookups of ``--lookups`` random keys through
  ``Embedding.vectors`` (goal: under 1 ms, once the key index is built);
- ``shared``: ``bank.publish`` with a PostgreSQL registry (a fresh schema), S3 (moto, run
  in this script's process: an in-memory fake whose upload speed says nothing about real
  S3) and Redis, then batch lookups through Redis beside a bare redis-py pipelined MGET
  of the same keys (goal: within 1.5x).

Peak memory is the peak resident set of the subprocess during the operation (its
high-water mark reset just before, through /proc/self/clear_refs), beside the size of the
raw array (goal: at most 2x). Prints one Markdown table.

    python benchmarks/bench_bank.py [--rows 1000000] [--dim 128] [--repeat 1]
        [--cases floor,embedded,shared] [--postgres URL] [--redis URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

TABLE = "bench/vectors"
LOOKUP_RUNS = 200
LABELS = {
    "floor": "raw floor (np.save + Parquet)",
    "embedded": "publish, embedded bank",
    "shared": "publish, PostgreSQL + S3 (moto) + Redis",
}


# -- inside a case's subprocess ------------------------------------------------------


def _data(rows: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((rows, dim), dtype=np.float32)
    keys = np.array([f"user-{i}" for i in rng.permutation(rows)], dtype=object)
    return keys, vectors


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def _measured(run: Any) -> dict[str, Any]:
    before = _rss_mb("VmRSS")
    reset = _reset_peak()
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    peak = _rss_mb("VmHWM")
    return {"seconds": seconds, "rss_before_mb": before, "peak_mb": peak, "peak_reset": reset}


#: the publish's phases, each ending at a fault point (embank.store.faults)
PHASES = {
    "checks": "publish:staging",
    "files": "publish:put",
    "put": "publish:online",
    "online": "publish:commit",
    "commit": "publish:after_commit",
}


def _publish_timed(bank: Any, table: Any) -> dict[str, Any]:
    """``bank.publish`` measured, with the seconds of each phase, timed at the publish's
    fault points (a no-op hook otherwise)."""
    from embank.store import faults

    marks: dict[str, float] = {}
    real = faults.point
    faults.point = lambda name: marks.setdefault(name, time.perf_counter())
    try:
        started = time.perf_counter()
        result = _measured(lambda: bank.publish(TABLE, table))
    finally:
        faults.point = real
    phases, last = {}, started
    for phase, point in PHASES.items():
        phases[phase] = marks[point] - last
        last = marks[point]
    result["phases"] = phases
    return result


def _lookup_times(lookup: Any, runs: int = LOOKUP_RUNS) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        lookup()
        times.append(time.perf_counter() - started)
    return {"median_ms": statistics.median(times) * 1e3, "p90_ms": np.quantile(times, 0.9) * 1e3}


def case_floor(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys, vectors = _data(args.rows, args.dim)
    result: dict[str, Any] = {}
    warm = pa.table({"key": ["a"], "vector": pa.FixedSizeListArray.from_arrays(pa.array([1.0]), 1)})
    pq.write_table(warm, work / "warm.parquet")  # first-use costs are not the floor's

    def write() -> None:
        started = time.perf_counter()
        np.save(work / "vectors.npy", vectors, allow_pickle=False)
        result["npy_s"] = time.perf_counter() - started
        started = time.perf_counter()
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        table = pa.table(
            {
                "key": pa.array(keys, pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, args.dim),
            }
        )
        pq.write_table(table, work / "vectors.parquet")
        result["parquet_s"] = time.perf_counter() - started

    result.update(_measured(write))
    return result


def _lookup_keys(keys: np.ndarray, n: int) -> list[str]:
    rng = np.random.default_rng(1)
    return [str(k) for k in keys[rng.choice(len(keys), size=n, replace=False)]]


def case_embedded(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import embank
    from embank.vector_table import VectorTable

    keys, vectors = _data(args.rows, args.dim)
    table = VectorTable.single_entity("user", keys, vectors)
    bank = embank.open(work / "bank")
    result = _publish_timed(bank, table)
    emb = embank.open(work / "bank", create=False).get(TABLE)
    asked = _lookup_keys(keys, args.lookups)
    started = time.perf_counter()
    first = emb.vectors(asked)
    result["first_lookup_s"] = time.perf_counter() - started  # builds the key index
    assert first.shape == (args.lookups, args.dim)
    result["lookup"] = _lookup_times(lambda: emb.vectors(asked))
    return result


def case_shared(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import redis

    import embank
    from embank.vector_table import VectorTable

    keys, vectors = _data(args.rows, args.dim)
    table = VectorTable.single_entity("user", keys, vectors)
    bank = embank.open(registry=args.registry, offline=args.offline, online=args.redis)
    try:
        result = _publish_timed(bank, table)
        emb = bank.get(TABLE)
        asked = _lookup_keys(keys, args.lookups)
        started = time.perf_counter()
        emb.vectors(asked)
        result["first_lookup_s"] = time.perf_counter() - started
        result["lookup"] = _lookup_times(lambda: emb.vectors(asked))
        client = redis.Redis.from_url(args.redis)
        prefix = bank.online.prefix(emb.version_id).encode()
        names = [prefix + b"user\x1f" + k.encode() for k in asked]

        def bare() -> list[bytes]:
            pipe = client.pipeline(transaction=False)
            pipe.mget(names)
            return pipe.execute()[0]

        got = np.frombuffer(b"".join(bare()), dtype="<f4").reshape(len(asked), -1)
        assert got.tobytes() == emb.vectors(asked).tobytes()
        result["bare_mget"] = _lookup_times(bare)
        mine = list(client.scan_iter(match=f"embank:{bank.bank_id}:*", count=10_000))
        for start in range(0, len(mine), 10_000):  # this bank's keys only, never a flush
            client.unlink(*mine[start : start + 10_000])
        client.close()
    finally:
        bank.close()
    return result


CASES = {"floor": case_floor, "embedded": case_embedded, "shared": case_shared}


# -- the driver ----------------------------------------------------------------------


def _run_case(name: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-bank-{name}-") as work:
        command = [
            sys.executable,
            __file__,
            "--case",
            name,
            "--work",
            work,
            "--rows",
            str(args.rows),
            "--dim",
            str(args.dim),
            "--lookups",
            str(args.lookups),
            "--registry",
            args.registry or "",
            "--offline",
            args.offline or "",
            "--redis",
            args.redis,
        ]
        done = subprocess.run(
            command, env={**os.environ, **env, "EMBANK_CACHE": str(Path(work) / "cache")},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"case {name} failed:\n{done.stderr[-4000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def _services(args: argparse.Namespace, cases: list[str]) -> tuple[dict[str, str], Any]:
    """Start moto, make a bucket and a PostgreSQL schema for the shared case."""
    if "shared" not in cases:
        return {}, lambda: None
    import logging

    import psycopg
    from moto.server import ThreadedMotoServer
    from pyarrow import fs as pafs

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    s3 = pafs.S3FileSystem(
        endpoint_override=f"{host}:{port}", scheme="http", region="us-east-1",
        access_key="bench", secret_key="bench", allow_bucket_creation=True,
    )  # fmt: skip
    s3.create_dir(bucket)
    # moto answers slowly under load: the AWS SDK's 3 s request timeout makes it retry
    # parts, and moto's multipart bookkeeping does not survive concurrent retries
    args.offline = f"s3://{bucket}/bank?request_timeout=300&connect_timeout=30"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in args.postgres else "?"
    args.registry = f"{args.postgres}{separator}options=-csearch_path%3D{schema}"

    def stop() -> None:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        server.stop()

    return env, stop


def _table(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    raw_mib = args.rows * args.dim * 4 / 2**20
    floors = results.get("floor", [])
    floor_s = min(r["seconds"] for r in floors) if floors else None
    lines = [
        f"{args.rows:,} x {args.dim} float32 ({raw_mib:,.0f} MiB raw), string keys; best of "
        f"{args.repeat} run(s) per case, each in its own process; peak = the process's peak "
        "RSS during the operation, added = peak minus the RSS just before it (the input "
        "rows, keys and interpreter are in the RSS before)",
        "",
        "| case | wall s | x floor | peak RSS MiB | peak / raw | added MiB | added / raw | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, runs in results.items():
        best = min(runs, key=lambda r: r["seconds"])
        peak = max(r["peak_mb"] for r in runs)
        added = max(r["peak_mb"] - r["rss_before_mb"] for r in runs)
        ratio = f"{best['seconds'] / floor_s:.2f}" if floor_s else "-"
        notes = []
        if name == "floor":
            notes.append(f"np.save {best['npy_s']:.2f} s + Parquet {best['parquet_s']:.2f} s")
        if "phases" in best:
            notes.append(", ".join(f"{k} {v:.2f}" for k, v in best["phases"].items()) + " s")
        if "lookup" in best:
            look = best["lookup"]
            notes.append(
                f"lookup of {args.lookups:,} keys: median {look['median_ms']:.3f} ms "
                f"(p90 {look['p90_ms']:.3f}; first {best['first_lookup_s'] * 1e3:.0f} ms)"
            )
        if "bare_mget" in best:
            bare = best["bare_mget"]["median_ms"]
            notes.append(f"bare MGET {bare:.3f} ms: x{best['lookup']['median_ms'] / bare:.2f}")
        lines.append(
            f"| {LABELS[name]} | {best['seconds']:.2f} | {ratio} | {peak:,.0f} | "
            f"{peak / raw_mib:.2f} | {added:,.0f} | {added / raw_mib:.2f} | {'; '.join(notes)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="Runs per case, interleaved.")
    parser.add_argument("--cases", default="floor,embedded,shared")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("EMBANK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument(
        "--redis", default=os.environ.get("EMBANK_TEST_REDIS", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--registry", help=argparse.SUPPRESS)
    parser.add_argument("--offline", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:  # one case, in its own process: print its figures as JSON
        print(json.dumps(CASES[args.case](args, Path(args.work))))
        return 0
    cases = [c for c in args.cases.split(",") if c]
    env, stop = _services(args, cases)
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}
    try:
        for _ in range(args.repeat):
            for case in cases:
                results[case].append(_run_case(case, args, env))
                print(f"{case}: {results[case][-1]}", file=sys.stderr, flush=True)
    finally:
        stop()
    print(_table(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
