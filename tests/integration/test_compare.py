"""``embank compare A B ...``: figures side by side, deltas against the first, JSON, HTML."""

import json
import re
import textwrap

import pytest
from typer.testing import CliRunner

import embank
from embank.cli import app
from embank.report.compare import higher_is_better

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def bank(tmp_path_factory, write_communities):
    """test/small@1 (spectral eigen), @2 (prone), @3 (netmf); follow_jaccard only on @1;
    test/other@1 beside them."""
    root = tmp_path_factory.mktemp("compare")
    write_communities(root, p_same=0.12, p_other=0.04)
    (root / "spec.yaml").write_text(
        textwrap.dedent("""\
        table: test/small
        entities: [user]
        data:
          edges: {entity: user, path: edges.tsv, columns: {src: src, dst: dst, weight: weight}}
          labels: {entity: user, path: labels.tsv, columns: {key: node, label: topic}}
        algorithm: {name: spectral, params: {dim: 4, seed: 0}}
        benchmarks:
          - topic_prediction: {train_ratios: [0.1, 0.5], splits: 2, n_jobs: 1}
    """)
    )
    path = root / "bank"
    spec = root / "spec.yaml"
    for extra in ([], ["--set", "algorithm.params.method=prone"]):
        assert _invoke("run", spec, "--bank", path, *extra).exit_code == 0
    netmf = _invoke("run", spec, "--bank", path, "--set", "algorithm.params.method=netmf")
    assert netmf.exit_code == 0, netmf.output
    assert _invoke("run", spec, "--bank", path, "--set", "table=test/other").exit_code == 0
    follow = _invoke("benchmark", "test/small@1", "--task", "follow_jaccard", "--bank", path)
    assert follow.exit_code == 0, follow.output
    return path


def _shown(bank, ref):
    return {f.figure: f for f in embank.open(bank, create=False).show(ref).benchmarks}


def test_two_versions_print_their_deltas(bank, monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")
    result = _invoke("compare", "test/small@1", "test/small@2", "--bank", bank)
    assert result.exit_code == 0, result.output
    first, second = _shown(bank, "test/small@1"), _shown(bank, "test/small@2")
    shared = [name for name in first if name in second]
    assert shared and all(name.startswith("topic_prediction.") for name in shared)
    lines = result.output.splitlines()
    for name in shared:
        a, b = first[name].value, second[name].value
        delta = b - a
        want = f"{b:.4f} {delta:+.4f} ({delta / abs(a) * 100:+.1f}%)"
        (line,) = [line for line in lines if line.strip().startswith(name)]
        assert f"{a:.4f}" in line and want in line, line
        assert f"{first[name].baseline:.4f}" in line
    assert not any(line.strip().startswith("follow_jaccard") for line in lines)  # not shared
    assert "2 figure(s) not computed for every ref left out" in result.output


def test_json_shape_and_values(bank):
    result = _invoke(
        "compare", "test/small@1", "test/small@2", "test/small", "--bank", bank, "--json"
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"refs", "figures", "all_figures", "n_not_shared"}
    assert [(r["table"], r["version"]) for r in body["refs"]] == [
        ("test/small", 1),
        ("test/small", 2),
        ("test/small", 3),
    ]
    assert body["refs"][2]["ref"] == "test/small" and body["refs"][2]["aliases"] == ["latest"]
    assert body["refs"][1]["algorithm"] == "spectral"
    assert body["refs"][1]["params"]["method"] == "prone"
    assert {"created_at", "n_rows", "dim", "metric", "space_id"} <= set(body["refs"][0])
    assert body["all_figures"] is False and body["n_not_shared"] == 2
    shown = [_shown(bank, f"test/small@{v}") for v in (1, 2, 3)]
    assert [f["figure"] for f in body["figures"]] == [
        "topic_prediction.macro_f1_at_10",
        "topic_prediction.micro_f1_at_10",
        "topic_prediction.macro_f1_at_50",
        "topic_prediction.micro_f1_at_50",
    ]
    for figure in body["figures"]:
        name = figure["figure"]
        values = [s[name].value for s in shown]
        assert figure["task"] == "topic_prediction" and figure["higher_is_better"] is True
        assert figure["values"] == values
        assert figure["baselines"] == [s[name].baseline for s in shown]
        assert figure["baseline_name"] == "random"
        assert figure["deltas"] == pytest.approx(
            [0.0, values[1] - values[0], values[2] - values[0]]
        )
        assert figure["delta_pcts"] == pytest.approx(
            [0.0, *((v - values[0]) / values[0] * 100 for v in values[1:])]
        )


def test_all_keeps_figures_not_every_ref_has(bank):
    result = _invoke("compare", "test/small@1", "test/small@2", "--all", "--bank", bank, "--json")
    body = json.loads(result.stdout)
    assert body["all_figures"] is True
    by_name = {f["figure"]: f for f in body["figures"]}
    spearman = by_name["follow_jaccard.spearman"]
    assert spearman["values"][1] is None and spearman["deltas"] == [0.0, None]
    assert spearman["values"][0] == _shown(bank, "test/small@1")["follow_jaccard.spearman"].value


def test_html_report_is_self_contained(bank, tmp_path):
    out = tmp_path / "report.html"
    result = _invoke(
        "compare", "test/small@1", "test/small@2", "--all", "--html", out, "--bank", bank
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    page = out.read_text()
    sections = re.findall(r'<section class="card task">(.*?)</section>', page, flags=re.S)
    assert len(sections) == 2  # topic_prediction, follow_jaccard
    for section in sections:
        assert section.count("<svg") == 1 and "</svg>" in section
    assert page.count("<svg") == 2
    first, second = _shown(bank, "test/small@1"), _shown(bank, "test/small@2")
    for shown in (first, second):
        for figure in shown.values():
            assert f"{figure.value:.4f}" in page
    name = "topic_prediction.macro_f1_at_50"
    delta = second[name].value - first[name].value
    assert f"{delta:+.4f} ({delta / first[name].value * 100:+.1f}%)" in page
    assert "prone" in page and "test/small@1" in page  # the refs' lineage
    # nothing to fetch: no scripts, stylesheets, images or fonts from elsewhere
    assert not re.search(r"<script|<link|<img|@import|url\(\s*['\"]?http", page)
    assert not re.search(r'(src|href)="https?:', page)


def test_refs_of_different_tables(bank, monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")
    result = _invoke("compare", "test/small@1", "test/other", "--bank", bank)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.lstrip().startswith("figure"))
    assert "test/small@1" in header and "test/other@1" in header
    # same data, same spec: the same figures, so every delta is zero
    assert "+0.0000 (+0.0%)" in result.output


@pytest.mark.parametrize(
    ("refs", "code", "message"),
    [
        (["test/small@1", "test/nope"], 3, "no table 'test/nope'"),
        (["test/small@1", "test/small@99"], 3, "no version 99"),
        (["test/small@1", "test/small@staging"], 3, "no alias 'staging'"),
        (["test/small@1"], 2, "at least two refs"),
    ],
)
def test_bad_refs_one_line(bank, tmp_path, refs, code, message):
    out = tmp_path / "r.html"
    result = _invoke("compare", *refs, "--html", out, "--bank", bank)
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()


def test_direction_of_figures():
    assert higher_is_better("topic_prediction.macro_f1_at_50")
    assert higher_is_better("link_prediction.mrr")
    assert not higher_is_better("reconstruction.loss")
    assert not higher_is_better("link_prediction.mean_rank")
