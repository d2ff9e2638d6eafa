"""The API against its own OpenAPI schema (schemathesis): no 5xx for any request, and every
answer (status, content type, headers, body) as the schema says.

Bounded: per operation 15 examples with generated path parameters and 15 on a real table
of a small seeded bank, with the write token, so writes are exercised too. (Driven through
hypothesis directly: schemathesis' pytest loader does not run under pytest 9.)
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from embank.serve import create_app  # noqa: E402

TOKEN = "test-token-0123456789"
REAL_TABLE = {"ns": "demo", "name": "users"}
EXAMPLES = 15
# Uploads are generated as arbitrary bytes (refused with 422: not an Arrow stream).
schemathesis.serializer.alias("application/vnd.apache.arrow.stream", "application/octet-stream")

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]
OPERATIONS = [
    (method.upper(), path)
    for path, item in create_app().openapi()["paths"].items()
    for method in item
]
CASES = [
    (method, path, real)
    for method, path in OPERATIONS
    for real in (False, True)
    if not real or "{ns}" in path
]


@pytest.fixture
def api_schema(bank, settings, monkeypatch):
    monkeypatch.setenv("EMBANK_TOKEN", TOKEN)
    app = create_app(settings, bank=bank)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize(("method", "path", "real_table"), CASES)
def test_operation_conforms_to_the_schema(api_schema, method, path, real_table):
    operation = api_schema[path][method]
    strategy = operation.as_strategy(path_parameters=REAL_TABLE if real_table else None)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

    run()


def test_every_operation_is_covered():
    # the web UI adds keys and map, drift the diff; its pages are not in it
    assert len(OPERATIONS) == 12
