import pytest

from embank.algorithms import algorithms
from embank.benchmarks import benchmarks
from embank.errors import EmbankError, UnknownPluginError
from embank.plugins import PluginRegistry


def test_unknown_name_lists_known_ones():
    registry: PluginRegistry[object] = PluginRegistry("widget", "embank.tests.no_such_group")
    registry.register("alpha", int)
    registry.register("beta", str)
    with pytest.raises(
        UnknownPluginError, match="unknown widget 'gamma'; known widgets: alpha, beta"
    ):
        registry.get("gamma")


def test_duplicate_name_refused():
    registry: PluginRegistry[object] = PluginRegistry("widget", "embank.tests.no_such_group")
    registry.register("alpha", int)
    registry.register("alpha", int)  # the same plugin twice is harmless
    with pytest.raises(EmbankError, match="two widgets are registered as 'alpha'"):
        registry.register("alpha", str)


def test_builtins_come_through_entry_points():
    assert "spectral" in algorithms.names()
    assert "topic_prediction" in benchmarks.names()
    with pytest.raises(UnknownPluginError, match=r"known algorithms: .*spectral"):
        algorithms.get("no-such-algorithm")
