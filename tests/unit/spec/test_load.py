"""Spec loading: every mistake names the file, the field and what is allowed."""

import textwrap

import pytest

from embank.errors import SpecError
from embank.spec.load import load_spec

GOOD = """\
table: demo/t
entities: [user]
data:
  edges: {entity: user, path: edges.tsv}
algorithm: {name: spectral, params: {dim: 16}}
benchmarks:
  - topic_prediction: {train_ratios: [0.5], splits: 2}
"""


def _write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_good_spec_resolves_defaults_and_params(tmp_path):
    loaded = load_spec(_write(tmp_path, GOOD))
    spec = loaded.spec
    assert loaded.base_dir == tmp_path.resolve()
    assert spec.table == "demo/t" and spec.entities == ["user"]
    assert spec.algorithm.params["dim"] == 16 and "seed" in spec.algorithm.params
    assert spec.benchmark_tasks()[0][0] == "topic_prediction"
    assert spec.benchmark_tasks()[0][1]["splits"] == 2
    assert spec.select.drop_self_loops is True


@pytest.mark.parametrize("publish_metric", ["cosine", "dot"])
def test_tasks_score_with_the_tables_metric_unless_the_spec_says(tmp_path, publish_metric):
    text = GOOD.replace(
        "  - topic_prediction: {train_ratios: [0.5], splits: 2}\n",
        "  - link_prediction: {}\n  - recommendation: {metric: cosine}\n",
    )
    text += f"publish: {{metric: {publish_metric}}}\n"
    tasks = dict(load_spec(_write(tmp_path, text)).spec.benchmark_tasks())
    assert tasks["link_prediction"]["metric"] == publish_metric
    assert tasks["recommendation"]["metric"] == "cosine"  # set in the spec: kept


def test_entities_default_to_the_edges_entity(tmp_path):
    text = GOOD.replace("entities: [user]\n", "")
    assert load_spec(_write(tmp_path, text)).spec.entities == ["user"]


def test_overrides_are_typed(tmp_path):
    loaded = load_spec(
        _write(tmp_path, GOOD), ["algorithm.params.dim=64", "tags=[a, b]", "description=hello"]
    )
    assert loaded.spec.algorithm.params["dim"] == 64
    assert loaded.spec.tags == ["a", "b"] and loaded.spec.description == "hello"
    with pytest.raises(SpecError, match="FIELD=VALUE"):
        load_spec(_write(tmp_path, GOOD), ["algorithm.params.dim"])


def test_env_expansion(tmp_path, monkeypatch):
    text = GOOD.replace("edges.tsv", "'${DATA_DIR:-fallback}/edges.tsv'")
    assert load_spec(_write(tmp_path, text)).spec.data.edges.path == "fallback/edges.tsv"
    monkeypatch.setenv("DATA_DIR", "/data")
    assert load_spec(_write(tmp_path, text)).spec.data.edges.path == "/data/edges.tsv"
    text = GOOD.replace("edges.tsv", "'${NOPE_NOT_SET}/edges.tsv'")
    with pytest.raises(SpecError, match="NOPE_NOT_SET is not set"):
        load_spec(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda t: t + "algoritm: {name: x}\n",
            r"spec.yaml: algoritm: unknown field; allowed here: .*algorithm",
        ),
        (
            lambda t: t.replace(
                "{entity: user, path: edges.tsv}", "{entity: user, path: edges.tsv, colums: {}}"
            ),
            r"data.edges.colums: unknown field; allowed here: .*columns",
        ),
        (lambda t: t.replace("dim: 16", "dim: sixteen"), r"algorithm.params.dim: .*integer"),
        (
            lambda t: t.replace("dim: 16", "dims: 16"),
            r"algorithm.params.dims: unknown field; allowed here: .*dim",
        ),
        (
            lambda t: t.replace("spectral", "nope"),
            r"algorithm.name: unknown algorithm 'nope'; known algorithms: .*spectral",
        ),
        (lambda t: t.replace("demo/t", "Demo T"), r"table: .*namespace/name"),
        (
            lambda t: t.replace("splits: 2", "splitz: 2"),
            r"benchmarks\[0\].topic_prediction.splitz: unknown field",
        ),
        (
            lambda t: t.replace("topic_prediction", "no_task"),
            r"benchmarks\[0\]: unknown benchmark 'no_task'",
        ),
        (
            lambda t: t.replace("path: edges.tsv", "sql: SELECT 1, path: edges.tsv"),
            r"data.edges: .*exactly one of 'path' or 'sql'",
        ),
        (lambda t: t.replace("entities: [user]", "entities: [item]"), r"does not declare"),
        (lambda t: t.replace("table: demo/t\n", ""), r"table: required field is missing"),
        (lambda t: t + "  - [unclosed\n", r"line \d+ is not valid YAML"),
    ],
)
def test_mistakes_name_file_and_field(tmp_path, edit, match):
    with pytest.raises(SpecError, match=match):
        load_spec(_write(tmp_path, edit(GOOD)))


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_every_spec_field_has_a_description():
    from pydantic import BaseModel

    from embank.algorithms import algorithms
    from embank.benchmarks import benchmarks
    from embank.spec import models

    checked = [getattr(models, name) for name in models.__all__]
    checked += [algorithms.get(n).Params for n in algorithms.names()]
    checked += [benchmarks.get(n).Params for n in benchmarks.names()]
    for model in checked:
        assert issubclass(model, BaseModel)
        for field_name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{field_name} has no description"
