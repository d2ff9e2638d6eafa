"""``GET /tables/{ns}/{name}/diff``: the body of ``embank diff --json``, the same figures
as :func:`embank.refresh.diff.diff_versions`, memoised per pair of versions."""

from __future__ import annotations

import pytest

from embank.refresh.diff import DiffResult, diff_versions


def test_diff_answers_what_diff_versions_measures(client, bank):
    answer = client.get("/tables/demo/users/diff", params={"a": "production", "b": "2"})
    assert answer.status_code == 200, answer.text
    body = DiffResult.model_validate(answer.json())
    expected = diff_versions(bank, "demo/users@production", "demo/users@2")
    assert body == expected
    assert (body.a.ref, body.a.version, body.b.version) == ("demo/users@production", 1, 2)
    assert body.figures["drift.coverage.kept"] == 120  # the same 120 keys, refitted
    assert 0 <= body.figures["drift.overlap_at_10.median"] <= 1
    assert body.same_space is False and body.metric == "cosine"


def test_diff_is_measured_once_per_pair_of_versions(client, bank, monkeypatch):
    import embank.serve.diff as served

    calls = []

    def counted(*args, **kwargs):
        calls.append(args[1:3])
        return diff_versions(*args, **kwargs)

    monkeypatch.setattr(served, "diff_versions", counted)
    first = client.get("/tables/demo/users/diff", params={"a": "1", "b": "latest"})
    again = client.get("/tables/demo/users/diff", params={"a": "production", "b": "2"})
    assert first.status_code == again.status_code == 200
    assert len(calls) == 1  # the second names the same versions by other refs
    assert first.json()["figures"] == again.json()["figures"]
    assert again.json()["a"]["ref"] == "demo/users@production"  # each answer keeps its refs
    assert first.json()["b"]["ref"] == "demo/users@latest"
    other_k = client.get("/tables/demo/users/diff", params={"a": "1", "b": "2", "k": 5})
    assert other_k.json()["settings"]["k"] == 5 and len(calls) == 2


def test_diff_of_two_tables(client, bank, make_users):
    bank.publish("demo/others", make_users(1, n=100))
    answer = client.get(
        "/tables/demo/users/diff", params={"a": "1", "b": "latest", "other": "demo/others"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["b"]["table"] == "demo/others" and body["a"]["table"] == "demo/users"
    # demo/others@1 holds the first 100 of the same vectors as demo/users@1
    assert body["figures"]["drift.coverage.kept"] == 100
    assert body["figures"]["drift.coverage.dropped"] == 20
    assert body["figures"]["drift.cosine_distance.median"] == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize(
    ("params", "status", "kind"),
    [
        ({"a": "1", "b": "9"}, 404, "not_found_error"),
        ({"a": "staging", "b": "2"}, 404, "not_found_error"),
        ({"a": "1", "b": "1", "other": "demo/missing"}, 404, "not_found_error"),
        ({"a": "1", "b": "1", "other": "demo/recs"}, 422, "validation_error"),  # dim 4 vs 8
        ({"a": "1", "b": "1", "other": "../x"}, 422, None),
        ({"a": "1"}, 422, "request_validation_error"),
        ({"a": "1", "b": "2", "k": 0}, 422, "request_validation_error"),
    ],
)
def test_diff_errors_are_json_and_say_what_is_wrong(client, params, status, kind):
    answer = client.get("/tables/demo/users/diff", params=params)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["status"] == status and error["message"]
    if kind:
        assert error["type"] == kind


def test_diff_of_an_unknown_table_is_404(client):
    answer = client.get("/tables/demo/nothing/diff", params={"a": "1", "b": "2"})
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found_error"


def test_a_figure_that_is_not_finite_is_answered_as_null(client, monkeypatch):
    """JSON has no NaN: pydantic answers it as null (``ser_json_inf_nan``), not a 500."""
    import embank.serve.diff as served

    def with_nan(*args, **kwargs):
        result = diff_versions(*args, **kwargs)
        figures = {**result.figures, "drift.cosine_distance.median": float("nan")}
        return result.model_copy(update={"figures": figures})

    monkeypatch.setattr(served, "diff_versions", with_nan)
    answer = client.get("/tables/demo/users/diff", params={"a": "1", "b": "2"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["figures"]["drift.cosine_distance.median"] is None
