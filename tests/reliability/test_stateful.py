"""RELIABILITY.md, "versions mutated after publish": never; only aliases move, one version
per alias at a time, every move in the audit log.

A hypothesis ``RuleBasedStateMachine`` publishes, sets / moves / deletes aliases,
deprecates and undeprecates versions, reads, garbage-collects and checks a bank, and
keeps a plain model of what the bank should hold: per table, each version's seed and
status, and where each alias points. After every step the registry equals the model,
``latest`` is the newest version, every alias move is in ``alias_history`` and the audit
log; every read returns the version's rows bit for bit as first published. On the local
bank, and on a PostgreSQL registry (fewer examples).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import embank
from embank.errors import InvalidNameError, NotFoundError, ValidationError
from embank.vector_table import VectorTable

NAMES = ["ns/a", "ns/b"]
ALIASES = ["production", "staging"]
DIM = 4


def _table(seed: int, dim: int = DIM) -> VectorTable:
    rng = np.random.default_rng(seed)
    n = 3 + seed % 17
    keys = [f"k{i}" for i in rng.permutation(n)]
    return VectorTable.single_entity("node", keys, rng.standard_normal((n, dim)) + 0.01)


@dataclass
class TableModel:
    versions: dict[int, list] = field(default_factory=dict)  # number -> [seed, status]
    aliases: dict[str, int] = field(default_factory=dict)
    n_moves: int = 0  # rows alias_history must hold
    n_admin: int = 0  # move_alias / delete_alias audit rows


class BankMachine(RuleBasedStateMachine):
    """What a bank holds, against a dict model."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="embank-stateful-")
        self.bank = self.open_bank()
        self.model = {name: TableModel() for name in NAMES}

    def open_bank(self) -> embank.Bank:
        return embank.open(self.folder)

    def teardown(self) -> None:
        self.bank.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- rules --------------------------------------------------------------------------

    @initialize()
    def nothing_yet(self) -> None:
        assert self.bank.tables() == []

    @rule(
        name=st.sampled_from(NAMES),
        seed=st.integers(0, 10_000),
        aliases=st.lists(st.sampled_from(ALIASES), max_size=1),
    )
    def publish(self, name: str, seed: int, aliases: list[str]) -> None:
        model = self.model[name]
        number = self.bank.publish(name, _table(seed), aliases=aliases).version
        assert number == len(model.versions) + 1
        model.versions[number] = [seed, "active"]
        for alias in ("latest", *aliases):
            model.aliases[alias] = number
            model.n_moves += 1

    @precondition(lambda self: any(m.versions for m in self.model.values()))
    @rule(name=st.sampled_from(NAMES), dim=st.sampled_from([DIM - 1, DIM + 1]))
    def publish_the_wrong_dimension(self, name: str, dim: int) -> None:
        if not self.model[name].versions:
            return
        with pytest.raises(ValidationError, match="dimension mismatch"):
            self.bank.publish(name, _table(1, dim=dim))

    @rule(name=st.sampled_from(NAMES), alias=st.sampled_from(ALIASES), number=st.integers(1, 6))
    def set_alias(self, name: str, alias: str, number: int) -> None:
        model = self.model[name]
        if number not in model.versions:
            with pytest.raises(NotFoundError):
                self.bank.set_alias(f"{name}@{number}", alias)
            return
        if model.versions[number][1] == "deprecated":
            with pytest.raises(ValidationError, match="deprecated"):
                self.bank.set_alias(f"{name}@{number}", alias)
            return
        result = self.bank.set_alias(f"{name}@{number}", alias)
        assert result.changed == (model.aliases.get(alias) != number)
        assert result.previous == model.aliases.get(alias)
        if result.changed:
            model.aliases[alias] = number
            model.n_moves += 1
            model.n_admin += 1

    @rule(name=st.sampled_from(NAMES), number=st.integers(1, 6))
    def latest_is_moved_only_by_publish(self, name: str, number: int) -> None:
        with pytest.raises(InvalidNameError, match="latest"):
            self.bank.set_alias(f"{name}@{number}", "latest")

    @rule(name=st.sampled_from(NAMES), alias=st.sampled_from(ALIASES))
    def delete_alias(self, name: str, alias: str) -> None:
        model = self.model[name]
        if alias not in model.aliases:
            with pytest.raises(NotFoundError):
                self.bank.delete_alias(name, alias)
            return
        assert self.bank.delete_alias(name, alias).previous == model.aliases.pop(alias)
        model.n_moves += 1
        model.n_admin += 1

    @rule(
        name=st.sampled_from(NAMES),
        number=st.integers(1, 6),
        deprecated=st.booleans(),
        reason=st.sampled_from([None, "bad recall", "wrong % data_"]),
    )
    def set_status(self, name: str, number: int, deprecated: bool, reason: str | None) -> None:
        model = self.model[name]
        ref = f"{name}@{number}"
        if number not in model.versions:
            with pytest.raises(NotFoundError):
                self.bank.deprecate(ref) if deprecated else self.bank.undeprecate(ref)
            return
        before = model.versions[number][1]
        if deprecated:
            result = self.bank.deprecate(ref, reason=reason)
        else:
            result = self.bank.undeprecate(ref)
        model.versions[number][1] = result.status
        assert result.status == ("deprecated" if deprecated else "active")
        assert result.changed == (before != result.status)

    @rule(name=st.sampled_from(NAMES), by=st.sampled_from(["number", "latest", *ALIASES]))
    def read(self, name: str, by: str) -> None:
        model = self.model[name]
        number = model.aliases.get(by) if by != "number" else max(model.versions, default=None)
        if number is None:
            with pytest.raises(NotFoundError):
                self.bank.get(f"{name}@{by}" if by != "number" else f"{name}@1")
            return
        emb = self.bank.get(f"{name}@{number if by == 'number' else by}")
        seed, status = model.versions[number]
        want = _table(seed).sorted()
        assert (emb.version, emb.version_info.status) == (number, status)
        assert list(emb.keys) == list(want.keys)
        assert np.asarray(emb.to_numpy()).tobytes() == want.vectors.tobytes()
        assert emb.vectors(want.keys).tobytes() == want.vectors.tobytes()

    @rule()
    def gc_finds_nothing_to_remove(self) -> None:
        assert self.bank.gc(min_age_s=0) == []

    @rule()
    def deep_check(self) -> None:
        result = self.bank.check(sample=10)
        assert result.ok and result.leftovers == [], result

    # -- what must hold after every step ----------------------------------------------

    @invariant()
    def registry_equals_the_model(self) -> None:
        tables = {t.name: t for t in self.bank.tables()}
        for name, model in self.model.items():
            if not model.versions:
                assert name not in tables
                continue
            info = tables[name]
            assert info.aliases == model.aliases
            assert info.latest_version == max(model.versions)  # never behind a newer version
            versions = self.bank.versions(name)
            assert {v.number: v.status for v in versions} == {
                n: status for n, (_, status) in model.versions.items()
            }
            history = self.bank.registry
            with history.read() as conn:
                row = history.require_table(conn, name)
                assert len(history.alias_history_of(conn, row.id)) == model.n_moves
            actions = [e["action"] for e in self.bank.audit_log(name)]
            assert actions.count("publish") == len(model.versions)
            assert actions.count("move_alias") + actions.count("delete_alias") == model.n_admin
        assert self.bank.check(deep=False).ok


class PostgresBankMachine(BankMachine):
    """The same, with the registry in a fresh PostgreSQL schema per example."""

    server = ""

    def open_bank(self) -> embank.Bank:
        import psycopg

        self.schema = f"embank_stateful_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
        separator = "&" if "?" in self.server else "?"
        registry = f"{self.server}{separator}options=-csearch_path%3D{self.schema}"
        return embank.open(registry=registry, offline=self.folder)

    def teardown(self) -> None:
        import psycopg

        super().teardown()
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


_SETTINGS = {
    "deadline": None,
    "stateful_step_count": 15,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}


def test_versions_are_never_mutated_after_publish_local():
    run_state_machine_as_test(BankMachine, settings=settings(max_examples=25, **_SETTINGS))


def test_versions_are_never_mutated_after_publish_postgresql(postgres_server):
    PostgresBankMachine.server = postgres_server
    run_state_machine_as_test(PostgresBankMachine, settings=settings(max_examples=8, **_SETTINGS))
