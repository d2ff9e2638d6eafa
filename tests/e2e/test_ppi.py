"""examples/ppi.yaml: spectral on the PPI graph, judged by topic prediction.

PPI has proteins whose only edge is a self-loop; once self-loops are dropped they have no
edge and no vector, so their labels are skipped and counted, not scored as misses.
Measured: Macro-F1 at 50 % 0.1959 (node2vec paper, Table 2: DeepWalk 0.1768, node2vec
0.1791); 3,860 of 3,890 proteins keep an edge.
"""

from pathlib import Path

import pytest

from embank.pipeline import run_spec
from embank.spec.load import load_spec

pytestmark = pytest.mark.realdata
SPEC = Path(__file__).resolve().parents[2] / "examples" / "ppi.yaml"


def test_spectral_reaches_the_papers_figures_and_counts_isolated_proteins(shared_data, monkeypatch):
    monkeypatch.setenv("EMBANK_DATA", str(shared_data))
    loaded = load_spec(SPEC, ["benchmarks=[{topic_prediction: {train_ratios: [0.5]}}]"])
    result = run_spec(loaded, None)  # a dry run: select, fit, benchmark, gate
    dataset = result.dataset
    assert dataset.graph.n_nodes == 3_860
    assert (
        dataset.lineage["edges"]["rows"]["read"]
        > dataset.lineage["edges"]["rows"]["after_drop_self_loops"]
    )
    labels = dataset.labels
    assert labels.n_skipped > 0 and dataset.lineage["labels"]["n_keys_skipped"] == labels.n_skipped
    assert set(labels.pairs["key"]) <= set(dataset.graph.index_to_key)

    figures = {f.name: f for f in result.results[0].figures}
    macro = figures["topic_prediction.macro_f1_at_50"]
    assert macro.value >= 0.18, macro
    assert macro.baseline is not None and macro.baseline < 0.07
    assert macro.sample_size == labels.n_keys
    assert all(outcome.passed for outcome in result.gates)
