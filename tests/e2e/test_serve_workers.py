"""``embank serve`` for real: a subprocess with two uvicorn workers on a free port, over
HTTP. Lookups (JSON, Arrow, raw) and neighbours equal the Python API; a publish through the
Python API is served by the next requests of every worker; writes need the token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

import embank  # noqa: E402
from embank.serve.formats import ARROW_STREAM, OCTET_STREAM, decode_arrow, decode_raw  # noqa: E402
from embank.vector_table import VectorTable  # noqa: E402

pytestmark = pytest.mark.slow

TOKEN = "e2e-token-abcdef"
START_TIMEOUT_S = 90.0


def _table(seed: int, n: int = 500, dim: int = 16) -> VectorTable:
    rng = np.random.default_rng(seed)
    return VectorTable.single_entity(
        "user", [f"u{i}" for i in range(n)], rng.standard_normal((n, dim))
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def server(tmp_path):
    bank_path = tmp_path / "bank"
    bank = embank.open(bank_path)
    bank.publish("demo/users", _table(1), aliases=["production"])
    port = _free_port()
    env = {**os.environ, "EMBANK_TOKEN": TOKEN}
    env.pop("EMBANK_SERVE_SETTINGS", None)
    log = (tmp_path / "server.log").open("wb")
    command = [sys.executable, "-m", "embank", "serve", "--bank", str(bank_path)]
    command += ["--port", str(port), "--workers", "2", "--log-level", "warning"]
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"embank serve exited: {(tmp_path / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no answer in {START_TIMEOUT_S} s: {(tmp_path / 'server.log').read_text()}"
                )
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client, bank, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this test started
            process.wait(timeout=10)
        log.close()
        bank.close()


def test_two_workers_serve_lookups_and_neighbors(server):
    client, bank, process = server
    if Path("/proc").is_dir():
        assert len(_children(process.pid)) >= 2  # the workers (and a resource tracker)
    emb = bank.get("demo/users")
    keys = [f"u{i}" for i in range(0, 500, 7)] + ["nobody"]
    for _ in range(6):  # several requests, so both workers answer some
        response = client.post("/tables/demo/users/lookup", json={"keys": keys})
        assert response.status_code == 200
        assert response.headers["X-Embank-Version"] == "demo/users@1"
        body = response.json()
        assert body["found"][-1] is False
        np.testing.assert_array_equal(
            np.array(body["vectors"][:-1], np.float32), emb.vectors(keys[:-1])
        )

    arrow = client.post(
        "/tables/demo/users/lookup", json={"keys": keys[:-1]}, headers={"Accept": ARROW_STREAM}
    )
    _, table = decode_arrow(arrow.content)
    np.testing.assert_array_equal(
        np.array(table.column("vector").to_pylist(), np.float32), emb.vectors(keys[:-1])
    )
    raw = client.post(
        "/tables/demo/users/lookup", json={"keys": keys[:-1]}, headers={"Accept": OCTET_STREAM}
    )
    meta, vectors = decode_raw(raw.content)
    assert meta["version"] == 1
    np.testing.assert_array_equal(vectors, emb.vectors(keys[:-1]))

    found = client.post("/tables/demo/users/neighbors", json={"key": "u3", "k": 10}).json()
    assert found["neighbors"] == [n.model_dump() for n in emb.neighbors("u3", k=10)]


def test_a_publish_is_served_by_every_worker_within_a_second(server):
    client, bank, _ = server
    assert client.post("/tables/demo/users/lookup", json={"keys": ["u1"]}).json()["version"] == 1
    new = bank.publish("demo/users", _table(2))
    published = time.monotonic()
    first = client.post("/tables/demo/users/lookup", json={"keys": ["u1"]})
    assert first.headers["X-Embank-Version"] == "demo/users@2"  # the very next request
    assert time.monotonic() - published < 1.0
    for _ in range(8):  # and every worker
        response = client.post("/tables/demo/users/lookup", json={"keys": ["u1"]})
        assert response.headers["X-Embank-Version"] == "demo/users@2"
        assert response.json()["space_id"] == new.space_id
        np.testing.assert_array_equal(
            np.array(response.json()["vectors"], np.float32), new.vectors(["u1"])
        )


def test_writes_over_http_need_the_token(server):
    client, bank, _ = server
    bank.publish("demo/users", _table(3))
    url = "/tables/demo/users/aliases/production"
    assert client.put(url, json={"version": 2}).status_code == 401
    assert (
        client.put(url, json={"version": 2}, headers={"Authorization": "Bearer x"}).status_code
        == 403
    )
    moved = client.put(url, json={"version": 2}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert moved.status_code == 200 and moved.json()["previous"] == 1
    response = client.post(
        "/tables/demo/users/lookup", json={"keys": ["u1"], "version": "production"}
    )
    assert response.headers["X-Embank-Version"] == "demo/users@2"
