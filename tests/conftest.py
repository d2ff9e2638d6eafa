"""Fixtures shared by every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder: ``$EMBANK_DATA``, else ``<repo root>/../shared/data``.

    Skips the test when the folder is missing, except under ``CI=true``, where it fails.
    """
    folder = Path(os.environ.get("EMBANK_DATA") or REPO_ROOT.parent / "shared" / "data")
    if not folder.is_dir():
        message = f"shared data folder {folder} not found; set EMBANK_DATA"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def blogcatalog_bank(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bank holding demo/blogcatalog@1, made once per session by the real CLI."""
    import subprocess
    import sys

    bank = tmp_path_factory.mktemp("blogcatalog") / "bank"
    env = {**os.environ, "EMBANK_DATA": str(shared_data)}
    command = [
        sys.executable,
        "-m",
        "embank",
        "run",
        str(REPO_ROOT / "examples" / "blogcatalog.yaml"),
        "--bank",
        str(bank),
        "--json",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return bank


# -- services for the bank's backends (PostgreSQL, Redis, S3 through moto) ---------------


def _unavailable(message: str) -> None:
    """Skip, or fail under ``CI=true``, where every service must be there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """A PostgreSQL database URL: ``$EMBANK_TEST_POSTGRES``, else the local server's
    ``test`` database (trust auth, user postgres)."""
    url = os.environ.get("EMBANK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        import psycopg
    except ImportError:
        _unavailable('psycopg is not installed: pip install -e ".[test]"')
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(
            f"PostgreSQL at {url} is not reachable ({exc}); start it, or set EMBANK_TEST_POSTGRES"
        )
    return url


@pytest.fixture
def postgres_url(postgres_server: str):
    """A registry URL of a fresh, empty schema (dropped after the test), chosen through
    ``search_path`` in the connection options."""
    import uuid

    import psycopg

    schema = f"embank_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '20s'")
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL: ``$EMBANK_TEST_REDIS``, else the local server's database 0. Tests keep
    to their own banks' key prefixes (``embank:<bank_id>:``) and never flush."""
    url = os.environ.get("EMBANK_TEST_REDIS", "redis://127.0.0.1:6379/0")
    try:
        import redis
    except ImportError:
        _unavailable('the redis client is not installed: pip install -e ".[test]"')
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        _unavailable(f"Redis at {url} is not reachable ({exc}); start it, or set EMBANK_TEST_REDIS")
    return url


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3 endpoint (moto in server mode, in this process), with fake credentials and
    the endpoint in the environment as a real deployment would set them."""
    import logging

    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        _unavailable('moto[server] is not installed: pip install -e ".[test]"')
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            patch.setenv(name, value)
        yield endpoint
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket on the test S3 endpoint."""
    import uuid

    from pyarrow import fs as pafs

    bucket = f"embank-test-{uuid.uuid4().hex[:12]}"
    host = s3_endpoint.split("://", 1)[1]
    s3 = pafs.S3FileSystem(
        endpoint_override=host, scheme="http", region="us-east-1", allow_bucket_creation=True
    )
    s3.create_dir(bucket)
    return bucket
