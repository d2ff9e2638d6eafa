import pytest

from embank.errors import InvalidNameError
from embank.names import (
    TableRef,
    check_alias,
    check_entity,
    check_key,
    check_table_name,
    key_text,
    parse_ref,
)


@pytest.mark.parametrize("name", ["cortex/follow-graph", "demo/blogcatalog", "a/b", "x.y/z_1-2"])
def test_valid_table_names(name):
    assert check_table_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "blogcatalog",
        "Demo/x",
        "demo/",
        "/x",
        "a/b/c",
        "../x",
        "a/..",
        "a/.b",
        "-a/b",
        "a b/c",
        "a/b\x00",
        "a\\b/c",
        "a/" + "x" * 64,
        "a/b%2e",
    ],
)
def test_invalid_table_names(name):
    with pytest.raises(InvalidNameError, match="namespace/name"):
        check_table_name(name)


def test_aliases_and_entities():
    assert check_alias("production") == "production"
    for bad in ("Prod", "1st", "", "a" * 64, "a b"):
        with pytest.raises(InvalidNameError):
            check_alias(bad)
    assert check_entity("user") == "user"
    for bad in ("User", "_x", "a-b", "a" * 33):
        with pytest.raises(InvalidNameError):
            check_entity(bad)


def test_keys():
    assert check_key("é" * 256) == "é" * 256  # 512 bytes
    for bad in ("", "é" * 257, "a\tb", "a\nb", "a\x00"):
        with pytest.raises(InvalidNameError):
            check_key(bad)
    assert key_text(42) == "42"
    assert key_text("42") == "42"
    with pytest.raises(InvalidNameError):
        key_text(4.2)
    with pytest.raises(InvalidNameError):
        key_text(True)


def test_parse_ref():
    assert parse_ref("a/b") == TableRef("a/b", alias="latest")
    assert parse_ref("a/b@3") == TableRef("a/b", version=3)
    assert parse_ref("a/b@production") == TableRef("a/b", alias="production")
    assert str(parse_ref("a/b@3")) == "a/b@3"
    for bad in ("a/b@0", "a/b@Prod", "a@1", "a/b@¹", "a/b@٣"):
        with pytest.raises(InvalidNameError):
            parse_ref(bad)
