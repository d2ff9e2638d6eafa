"""The compare page's drift between two versions of one table: the API's diff, from the
same per-version cache, beside the benchmark deltas and the neighbours kept."""

from __future__ import annotations

import re

from embank.refresh.diff import diff_versions
from embank.serve.ui.drift_section import COMPARE_FIGURES


def _cells(page: str) -> dict[str, str]:
    section = page[page.index('id="diff-h"') :]
    section = section[: section.index("</table>")]
    figures = re.findall(r'data-figure="([^"]+)"', section)
    values = re.findall(r"<td>(.*?)</td>", section, re.S)
    return dict(zip(figures, [v.strip() for v in values], strict=True))


def test_compare_page_shows_the_diff_of_two_versions(client, bank, monkeypatch):
    import embank.serve.diff as served

    calls = []

    def counted(*args, **kwargs):
        calls.append(args[1:3])
        return diff_versions(*args, **kwargs)

    monkeypatch.setattr(served, "diff_versions", counted)
    page = client.get("/compare", params={"a": "demo/users@1", "b": "demo/users@2"})
    assert page.status_code == 200
    assert "Drift between them" in page.text and "Neighbours kept" in page.text
    expected = diff_versions(bank, "demo/users@1", "demo/users@2").figures
    cells = _cells(page.text)
    assert list(cells) == list(COMPARE_FIGURES)
    assert cells["drift.coverage.kept"] == "120" and cells["drift.coverage.added"] == "0"
    for figure in ("drift.overlap_at_10.median", "drift.cosine_distance.p90"):
        assert cells[figure] == f"{expected[figure]:.3f}"
    assert "(different spaces)" in page.text  # two fits, no alignment
    # the page and the API share one measurement per pair of versions
    api = client.get("/tables/demo/users/diff", params={"a": "production", "b": "latest"})
    assert (
        api.json()["figures"]["drift.cosine_distance.p90"] == expected["drift.cosine_distance.p90"]
    )
    client.get("/compare", params={"a": "demo/users@production", "b": "demo/users@latest"})
    assert len(calls) == 1


def test_compare_page_of_two_tables_has_no_drift(client):
    page = client.get("/compare", params={"a": "demo/users@1", "b": "demo/recs@1"})
    assert page.status_code == 200
    assert "Drift between them" not in page.text
