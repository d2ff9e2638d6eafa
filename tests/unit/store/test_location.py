"""Where the bank is: --bank / keywords, then EMBANK_*, then embank.toml, then ./bank."""

import numpy as np
import pytest

import embank
from embank.errors import NotFoundError, UsageError
from embank.store.backends import redact, same_url, scheme_of
from embank.store.location import resolve_location
from embank.vector_table import VectorTable

ENV = ("EMBANK_BANK", "EMBANK_REGISTRY", "EMBANK_OFFLINE", "EMBANK_ONLINE")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def _table():
    return VectorTable.single_entity("user", ["a", "b"], np.eye(2))


def test_default_is_the_bank_folder(tmp_path):
    where = resolve_location(cwd=tmp_path)
    assert where.root == tmp_path / "bank" and where.source == "default"
    assert where.registry_url == f"sqlite:///{tmp_path / 'bank' / 'registry.db'}"
    assert where.own_registry and where.offline_url is None and where.online_url is None


def test_explicit_folder_and_registry_url(tmp_path):
    assert resolve_location(tmp_path / "b").root == tmp_path / "b"
    where = resolve_location("postgresql://db.example/embank")
    assert where.root is None and where.registry_url == "postgresql://db.example/embank"
    assert where.label == "postgresql://db.example/embank"
    keywords = resolve_location(registry="sqlite:///x.db", offline="s3://b/p", online="embedded")
    assert (keywords.registry_url, keywords.offline_url, keywords.online_url) == (
        "sqlite:///x.db",
        "s3://b/p",
        "embedded",
    )
    assert keywords.source == "embank.open()"


@pytest.mark.parametrize("url", ["s3://bucket/x", "redis://localhost:6379/0", "ftp://x/y"])
def test_a_store_url_is_not_a_bank(url):
    with pytest.raises(UsageError, match="opened by its folder or its registry URL"):
        resolve_location(url)


def test_registry_must_be_a_registry_url(tmp_path):
    with pytest.raises(UsageError, match="not a registry URL"):
        resolve_location(tmp_path, registry="s3://b/p")
    with pytest.raises(UsageError, match="name two registries"):
        resolve_location("sqlite:///a.db", registry="postgresql://h/db")


def test_env_wins_over_toml_and_settings_never_mix(tmp_path, monkeypatch):
    (tmp_path / "embank.toml").write_text(
        '[bank]\nurl = "from-toml"\noffline = "files"\nonline = "redis://h:6379/1"\n'
    )
    from_toml = resolve_location(cwd=tmp_path)
    assert from_toml.root == tmp_path / "from-toml"
    assert from_toml.offline_url == str(tmp_path / "files")  # relative to the toml's folder
    assert from_toml.online_url == "redis://h:6379/1"
    monkeypatch.setenv("EMBANK_REGISTRY", "postgresql://h/db")
    monkeypatch.setenv("EMBANK_ONLINE", "redis://h:6379/2")
    from_env = resolve_location(cwd=tmp_path)
    assert from_env.registry_url == "postgresql://h/db" and from_env.offline_url is None
    assert from_env.online_url == "redis://h:6379/2"
    assert from_env.source == "EMBANK_REGISTRY, EMBANK_ONLINE"
    explicit = resolve_location(tmp_path / "x", cwd=tmp_path)
    assert explicit.online_url is None and explicit.source == "--bank"


def test_toml_errors_name_the_file(tmp_path):
    (tmp_path / "embank.toml").write_text('[bank]\nurl = "b"\nofline = "x"\n')
    with pytest.raises(UsageError, match=r"embank.toml: \[bank\] has unknown key"):
        resolve_location(cwd=tmp_path)
    (tmp_path / "embank.toml").write_text("[bank]\nurl = 3\n")
    with pytest.raises(UsageError, match="url must be a string"):
        resolve_location(cwd=tmp_path)
    (tmp_path / "embank.toml").write_text('[bank]\noffline = "x"\n')
    with pytest.raises(UsageError, match="needs url"):
        resolve_location(cwd=tmp_path)


def test_urls_compare_without_secrets_or_endpoints(tmp_path):
    assert redact("redis://user:secret@h:6379/0") == "redis://user@h:6379/0"
    assert redact("postgresql://u:pw@h/db?x=1") == "postgresql://u@h/db?x=1"
    assert same_url("s3://b/p/", "s3://b/p?endpoint_override=http://127.0.0.1:9000")
    assert not same_url("s3://b/p", "s3://b/q")
    assert same_url(str(tmp_path / "a" / ".." / "b"), f"file://{tmp_path / 'b'}")
    assert scheme_of("postgresql+psycopg://h/db") == "postgresql" and scheme_of("/x") == "file"


def test_folder_bank_records_itself_and_can_move(tmp_path):
    first = tmp_path / "one"
    with embank.open(first) as bank:
        bank.publish("demo/t", _table())
        assert bank.info["offline"] == "." and bank.info["online"] == "embedded"
    moved = tmp_path / "two"
    first.rename(moved)
    with embank.open(moved, create=False) as bank:
        assert bank.get("demo/t").vectors(["a"]).tolist() == [[1.0, 0.0]]
    # the registry URL alone finds the version files beside it
    with embank.open(f"sqlite:///{moved / 'registry.db'}", create=False) as bank:
        assert bank.get("demo/t").verify() == []


def test_new_bank_by_sqlite_url_keeps_files_beside_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'reg' / 'registry.db'}"
    with embank.open(url) as bank:
        emb = bank.publish("demo/t", _table())
        assert emb.folder.is_relative_to(tmp_path / "reg" / "data")


def test_refuses_other_backends_and_names_both(tmp_path):
    with embank.open(tmp_path / "b", offline=tmp_path / "files") as bank:
        bank.publish("demo/t", _table())
        assert bank.info["offline"] == str(tmp_path / "files")
    with pytest.raises(UsageError) as refused:
        embank.open(tmp_path / "b", offline=tmp_path / "other")
    assert str(tmp_path / "files") in str(refused.value)
    assert str(tmp_path / "other") in str(refused.value)
    with pytest.raises(UsageError, match="records its online store as embedded, but"):
        embank.open(tmp_path / "b", online="redis://127.0.0.1:6379/0")
    with embank.open(tmp_path / "b", create=False) as bank:  # the record is enough
        assert bank.get("demo/t").folder.is_relative_to(tmp_path / "files")


def test_new_bank_by_server_url_needs_an_offline_store(postgres_url):
    with pytest.raises(UsageError, match="needs an offline store"):
        embank.open(postgres_url)


def test_read_only_open_by_registry_url_creates_nothing(tmp_path):
    with pytest.raises(NotFoundError, match="no bank at sqlite:///"):
        embank.open(f"sqlite:///{tmp_path / 'none' / 'registry.db'}", create=False)
    assert not (tmp_path / "none").exists()


def test_docs_name_every_backend_and_setting():
    from pathlib import Path

    from embank.store.backends import offline_stores, online_stores, registry_dialects

    text = (Path(__file__).parents[3] / "docs" / "backends.md").read_text()
    for name in (*ENV, "EMBANK_CACHE", "EMBANK_REDIS_PASSWORD", "AWS_ENDPOINT_URL_S3"):
        assert name in text, f"docs/backends.md does not mention {name}"
    for scheme in {*registry_dialects.names(), *offline_stores.names(), *online_stores.names()}:
        if scheme != "file":
            assert f"{scheme}://" in text or f"`{scheme}`" in text, scheme
