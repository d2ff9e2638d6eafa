"""What the CLI prints for machines: JSON that strict parsers read."""

import io
import json

import pytest
from pydantic import BaseModel
from rich.console import Console

from embank.cli import render


class _Figure(BaseModel):
    name: str
    value: float


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def printed(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(render, "out", Console(file=buffer, width=200))
    return buffer


def test_a_dict_with_unmeasured_figures_prints_them_as_null(printed):
    render.print_json({"a": float("nan"), "b": {"p99": float("inf")}, "c": [1.5, -float("inf")]})
    assert _strict(printed.getvalue()) == {"a": None, "b": {"p99": None}, "c": [1.5, None]}


def test_a_list_of_models_with_an_unmeasured_figure_prints_it_as_null(printed):
    render.print_json([_Figure(name="x", value=float("nan")), _Figure(name="y", value=0.5)])
    assert _strict(printed.getvalue()) == [
        {"name": "x", "value": None},
        {"name": "y", "value": 0.5},
    ]
