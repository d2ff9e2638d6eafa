"""The multi-relation model (twhin) on BlogCatalog through the pipeline, as a dry run.

The graph is one relation over one entity (the ``data.edges`` fallback). Published for
comparison (node2vec paper, Table 2, Macro-F1 at 50 %): DeepWalk 0.211; a bare PyTorch
dot-product loop reached 0.205 here after 30 epochs. Three epochs must reach 0.20.
"""

from pathlib import Path

import numpy as np
import pytest

from embank.pipeline import run_spec
from embank.spec.load import load_spec

pytestmark = pytest.mark.realdata

REPO = Path(__file__).resolve().parents[2]


def test_twhin_reaches_the_topic_bar(shared_data, monkeypatch):
    monkeypatch.setenv("EMBANK_DATA", str(shared_data))
    loaded = load_spec(
        REPO / "examples" / "blogcatalog.yaml",
        [
            "algorithm.name=twhin",
            "algorithm.params={dim: 128, seed: 0, epochs: 3}",
            "benchmarks=[{topic_prediction: {train_ratios: [0.5], splits: 5}}]",
            "gates=[]",
        ],
    )
    result = run_spec(loaded, None)
    vectors = result.vectors
    assert vectors.n_rows == 10_312 and vectors.dim == 128
    assert np.isfinite(vectors.vectors).all()
    figures = {f.name: f for r in result.results for f in r.figures}
    macro = figures["topic_prediction.macro_f1_at_50"]
    assert macro.value >= 0.20, macro
    assert macro.baseline is not None and macro.baseline < 0.1
