"""The web UI in a real browser: Debian's chromium driven by Playwright, against
``embank serve``'s app (uvicorn on a free loopback port, in a thread) over a bank holding
BlogCatalog (spectral) and MovieLens-100K (ALS, users and items co-embedded, two
versions), and a copy of that bank with BlogCatalog refreshed once (for the drift section).
What each page shows is checked against the registry and the JSON API.

Screenshots of every page go to a pytest temporary folder (printed; the README's come
from there), and also to ``$EMBANK_SCREENSHOTS`` when that names a folder.

Never downloads a browser: without /usr/bin/chromium (``apt-get install chromium``, which
``.ci/run`` does) or the playwright package the tests skip, except under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest

import embank
from embank.pipeline import run_spec
from embank.report.compare import compare_versions, format_delta, format_value
from embank.serve.maps import MAP_KIND, stored_map
from embank.serve.overlap import neighbour_overlap
from embank.spec.load import load_spec
from embank.vector_table import VectorTable

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 860}
TOP_OF_PAGE = {"x": 0, "y": 0, "width": 1280, "height": 1120}  # a table page down to its map
BLOG = "demo/blogcatalog"
MOVIES = "demo/movielens"


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def playwright_browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable('playwright is not installed: pip install -e ".[test]"')
    if not CHROMIUM.exists():
        _unavailable(f"no browser at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    print(f"\nweb UI screenshots: {folder}")
    extra = os.environ.get("EMBANK_SCREENSHOTS")
    if extra and Path(extra).is_dir():
        for png in folder.glob("*.png"):
            shutil.copy(png, Path(extra) / png.name)


class Server:
    """``embank serve``'s app on a free loopback port, in a thread."""

    def __init__(self, bank_path: Path) -> None:
        import uvicorn

        from embank.serve import ServeSettings, create_app

        self.bank = embank.open(bank_path, create=False)
        app = create_app(ServeSettings(bank=str(bank_path)), bank=self.bank)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=120)

    def stop(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.bank.close()


@pytest.fixture(scope="module")
def ui_bank(blogcatalog_bank, shared_data, tmp_path_factory) -> Path:
    """A copy of the session's BlogCatalog bank, plus demo/movielens@1 (the example) and
    @2 (weaker regularisation), both through ``run_spec``, which stores their maps."""
    bank_path = tmp_path_factory.mktemp("web-ui") / "bank"
    shutil.copytree(blogcatalog_bank, bank_path)
    spec = REPO_ROOT / "examples" / "movielens.yaml"
    with embank.open(bank_path, create=False) as bank, pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBANK_DATA", str(shared_data))
        run_spec(load_spec(spec), bank)
        run_spec(load_spec(spec, ["algorithm.params.regularization=5.0"]), bank, force=True)
    return bank_path


@pytest.fixture(scope="module")
def server(ui_bank) -> Iterator[Server]:
    running = Server(ui_bank)
    yield running
    running.stop()


@pytest.fixture
def page(playwright_browser, server):
    context = playwright_browser.new_context(viewport=VIEWPORT, base_url=server.url)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def test_catalog_lists_every_table_and_search_finds_one(page, server, shots):
    page.goto("/")
    cards = page.locator("li.table-card")
    assert sorted(cards.evaluate_all("els => els.map(e => e.dataset.table)")) == [BLOG, MOVIES]
    headline = page.locator(f'li[data-table="{BLOG}"] .headline .value')
    shown = server.bank.show(BLOG)
    figure = {f.figure: f for f in shown.benchmarks}[headline.get_attribute("data-figure")]
    assert headline.inner_text() == format_value(figure.value)
    page.screenshot(path=shots / "catalog.png")

    page.fill("#q", "bloggers")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r"[?&]q=bloggers"))
    assert cards.evaluate_all("els => els.map(e => e.dataset.table)") == [BLOG]

    page.goto("/")
    page.select_option("#f-entity", "item")  # filters apply at once
    page.wait_for_url(re.compile(r"[?&]entity=item"))
    assert cards.evaluate_all("els => els.map(e => e.dataset.table)") == [MOVIES]
    page.click(f'li[data-table="{MOVIES}"] h2 a')
    page.wait_for_url(re.compile(f"/t/{MOVIES}$"))


@pytest.mark.parametrize("name", [MOVIES, BLOG])
def test_table_page_shows_the_registry_and_a_map(page, server, shots, name):
    page.goto(f"/t/{name}")
    bank = server.bank
    versions = bank.versions(name)
    rows = page.locator("table.versions tbody tr")
    assert rows.evaluate_all("els => els.map(e => +e.dataset.version)") == [
        v.number for v in reversed(versions)
    ]
    for version in versions:
        row = page.locator(f'table.versions tr[data-version="{version.number}"]')
        assert row.locator("td.rows").inner_text() == f"{version.n_rows:,}"
        for alias in version.aliases:
            assert alias in row.inner_text()
        shown = bank.show(f"{name}@{version.number}")
        assert shown.benchmarks
        for figure in shown.benchmarks:
            cell = page.locator(
                f'tr[data-figure="{figure.figure}"] td[data-version="{version.number}"]'
            )
            assert cell.inner_text().startswith(format_value(figure.value)), figure.figure
        summary = page.locator(f'details.lineage[data-version="{version.number}"] > summary')
        assert version.lineage["algorithm"]["name"] in summary.inner_text()
    assert page.locator("svg.chart").count() == len({f.task for f in shown.benchmarks})

    # the map: the stored sample, drawn on a canvas, one point per sampled row
    latest = bank.get(name)
    stored = stored_map(bank, latest)
    assert stored is not None, "run_spec stores the map of the version it publishes"
    canvas = page.locator("canvas.map[data-points]")
    canvas.wait_for(timeout=20_000)
    assert int(canvas.get_attribute("data-points")) == stored["n_points"] > 0
    painted = canvas.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                  return n; }"""
    )
    assert painted > 1000
    box = canvas.bounding_box()
    x = box["x"] + stored["x"][0] * (box["width"] - 28) + 14
    y = box["y"] + (1 - stored["y"][0]) * (box["height"] - 28) + 14
    page.mouse.move(x, y)
    tip = page.locator(".map-tip")
    tip.wait_for(state="visible")
    assert tip.inner_text()  # the key of the nearest point
    snippet = page.locator("#snippet-python").inner_text()
    assert f'bank.get("{name}")' in snippet and stored["keys"][0] in snippet
    slug = name.split("/")[1]
    page.screenshot(path=shots / f"table-{slug}.png", full_page=True, clip=TOP_OF_PAGE)
    page.screenshot(path=shots / f"table-{slug}-full.png", full_page=True)


def test_neighbour_explorer_returns_what_the_api_returns(page, server, shots):
    page.goto(f"/t/{MOVIES}/explore")
    page.select_option("#explore-entity", "user")
    page.select_option("#explore-target", "item")
    key = page.locator("#explore-key")
    key.click()
    key.type("1", delay=50)
    options = page.locator("#explore-suggestions li")
    options.first.wait_for()
    suggested = server.http.get(
        f"/tables/{MOVIES}/keys", params={"prefix": "1", "entity": "user", "limit": 10}
    ).json()["keys"]
    assert options.locator("span:first-child").all_inner_texts() == [s["key"] for s in suggested]
    key.press("ArrowDown")  # keyboard: the first suggestion, "1"
    key.press("Enter")
    page.locator('#explore-results[data-key="1"]').wait_for()

    def shown() -> list[tuple[str, str, str]]:
        rows = page.locator("#explore-results tbody tr")
        return [
            (
                r.locator("td.key a").inner_text(),
                r.locator("td").nth(2).inner_text(),
                r.locator("td.score").inner_text(),
            )
            for r in rows.all()
        ]

    def api(key: str, entity: str) -> list[tuple[str, str, str]]:
        body = {"key": key, "entity": entity, "target": "item", "k": 10}
        answer = server.http.post(f"/tables/{MOVIES}/neighbors", json=body).json()
        return [(n["key"], n["entity"], f"{n['score']:.4f}") for n in answer["neighbors"]]

    expected = api("1", "user")
    assert shown() == expected and {e for _, e, _ in expected} == {"item"}
    page.screenshot(path=shots / "explorer.png")

    # click a neighbour (an item) to explore from it, among items
    first = expected[0][0]
    page.click(f'#explore-results a[data-key="{first}"]')
    page.locator(f'#explore-results[data-key="{first}"]').wait_for()
    assert page.input_value("#explore-entity") == "item"
    assert shown() == api(first, "item")
    assert f"key={first}" in page.url

    # a single-entity table, and the page rendered without JavaScript agrees too
    page.goto(f"/t/{BLOG}/explore?key=42")
    answer = server.http.post(f"/tables/{BLOG}/neighbors", json={"key": "42"}).json()
    keys = page.locator("#explore-results td.key a").all_inner_texts()
    assert keys == [n["key"] for n in answer["neighbors"]]


def test_compare_shows_the_right_deltas(page, server, shots):
    a, b = f"{MOVIES}@1", f"{MOVIES}@2"
    page.goto("/compare")  # the latest two versions of a table, by default
    assert page.input_value("#pick-a") == a and page.input_value("#pick-b") == b
    result = compare_versions(server.bank, [a, b], all_figures=True)
    assert result.figures
    for figure in result.figures:
        row = page.locator(f'table.deltas tr[data-figure="{figure.figure}"]')
        base, other = row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text()
        assert base == format_value(figure.values[0])
        assert other.startswith(format_value(figure.values[1]))
        assert format_delta(figure.deltas[1], figure.delta_pcts[1]) in other
    overlap = neighbour_overlap(server.bank.get(a), server.bank.get(b))
    section = page.locator("section.overlap")
    assert float(section.get_attribute("data-mean")) == pytest.approx(overlap.mean)
    assert 0 < overlap.mean < 10 and overlap.n_keys == 500
    page.screenshot(path=shots / "compare.png", full_page=True)

    # two tables: figures side by side, no neighbour overlap
    page.select_option("#pick-a", f"{BLOG}@1")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"/compare\?a="))
    assert page.locator("section.overlap").count() == 0
    assert page.locator("table.deltas").count() == 3  # topic, recommendation, metadata


def test_pages_are_read_only_and_say_what_is_missing(page, server):
    assert server.http.get("/healthz").json()["writable"] is False
    for url in ("/", f"/t/{MOVIES}", f"/t/{MOVIES}/explore", "/compare"):
        page.goto(url)
        assert page.locator("form[method=post]").count() == 0
        assert page.locator("a.skip").count() == 1 and page.locator("main#main").count() == 1
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select')]
                     .filter(e => !e.labels.length && !e.getAttribute('aria-label'))
                     .map(e => e.id || e.name)"""
        )
        assert unlabelled == [], url
    response = page.goto("/t/demo/nope")
    assert response.status == 404 and "no table 'demo/nope'" in page.inner_text("main")
    page.goto(f"/t/{MOVIES}/explore?key=no-such-key&entity=user")
    assert "not in" in page.inner_text("#explore-status")


@pytest.fixture(scope="module")
def drift_bank(blogcatalog_bank, shared_data, tmp_path_factory) -> Path:
    """A copy of the session's BlogCatalog bank plus demo/blogcatalog@2: a forced, warm
    refresh on unchanged data (aligned, so the space is kept), made cheap (~12 s on two
    cores) with one benchmark split, no map and no ANN index."""
    from embank.pipeline.refresh import refresh_table

    bank_path = tmp_path_factory.mktemp("web-ui-drift") / "bank"
    shutil.copytree(blogcatalog_bank, bank_path)
    cheap = [
        "refresh.warm_start=true",
        "benchmarks=[{topic_prediction: {train_ratios: [0.5], splits: 1}}]",
        "publish.map=false",
        "publish.index=none",
    ]
    spec = REPO_ROOT / "examples" / "blogcatalog.yaml"
    with embank.open(bank_path, create=False) as bank, pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBANK_DATA", str(shared_data))
        done = refresh_table(bank, BLOG, spec=load_spec(spec, cheap), force=True)
    assert done.published and done.space == "kept", done.message
    return bank_path


def test_table_page_shows_the_drift_of_a_refreshed_version(playwright_browser, drift_bank, shots):
    server = Server(drift_bank)
    context = playwright_browser.new_context(viewport=VIEWPORT, base_url=server.url)
    try:
        drift = server.bank.show(f"{BLOG}@2").drift
        assert drift is not None and drift["previous_version"] == 1 and drift["space"] == "kept"
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"/t/{BLOG}?v=1")  # v1's map is stored: the page draws none
        heading = page.locator("#drift-h")
        assert heading.text_content() == "Drift from the previous version"  # CSS upper-cases it
        table = page.locator("table.drift")
        figures = table.locator("thead th[data-figure]").evaluate_all(
            "els => els.map(e => e.dataset.figure)"
        )
        assert "drift.overlap_at_10.median" in figures and "drift.coverage.kept" in figures
        cells = table.locator('tr[data-version="2"] td').all_inner_texts()
        assert [c.strip() for c in cells[:2]] == ["v2", "v1"]
        shown = dict(zip(figures, cells[2:], strict=False))
        for figure in figures:
            value = drift["figures"].get(figure)
            if value is None:
                assert shown[figure] == "–", figure
            else:  # three decimals, or a whole number with thousands separators
                assert float(shown[figure].replace(",", "")) == pytest.approx(value, abs=5e-4)
        assert shown["drift.coverage.kept"] == f"{drift['figures']['drift.coverage.kept']:,}"
        residual, space = cells[2 + len(figures)], cells[3 + len(figures)]
        expected = drift["alignment"]["residual_after"]
        assert float(residual) == pytest.approx(expected, abs=5e-4)
        assert space.strip() == "kept"
        top = heading.bounding_box()
        section = page.locator('section[aria-labelledby="drift-h"]').bounding_box()
        clip = {
            "x": 0,
            "y": top["y"] - 16,
            "width": VIEWPORT["width"],
            "height": section["y"] + section["height"] - top["y"] + 32,
        }
        page.screenshot(path=shots / "drift.png", full_page=True, clip=clip)

        # the compare page of the two versions: the diff the API answers
        page.goto(f"/compare?a={BLOG}@1&b={BLOG}@2")
        diff = server.http.get(f"/tables/{BLOG}/diff", params={"a": "1", "b": "2"}).json()
        compared = page.locator('section[aria-labelledby="diff-h"] table.drift')
        names = compared.locator("th[data-figure]").evaluate_all(
            "els => els.map(e => e.dataset.figure)"
        )
        values = compared.locator("td").all_inner_texts()
        assert len(names) == len(values) == 6
        for figure, text in zip(names, values, strict=True):
            assert float(text.replace(",", "")) == pytest.approx(
                diff["figures"][figure], abs=5e-4
            ), figure
        assert "(same space)" in compared.inner_text()
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        context.close()
        server.stop()


@pytest.fixture(scope="module")
def million_bank(tmp_path_factory) -> Path:
    """demo/random: 1,000,000 x 32 random vectors, published through the Python API (so
    its map is not drawn at publish)."""
    path = tmp_path_factory.mktemp("million") / "bank"
    n, dim = 1_000_000, 32
    vectors = np.random.default_rng(0).standard_normal((n, dim), dtype=np.float32)
    keys = pa.array(np.char.add("k", np.arange(n).astype(str)))
    rows = VectorTable.from_arrow(pa.array(["item"] * n), keys, vectors)
    with embank.open(path) as bank:
        bank.publish(
            "demo/random",
            rows,
            description="A million random vectors",
            owner="test",
        )
    return path


def test_a_million_row_table_page_loads_in_under_a_second(playwright_browser, million_bank, shots):
    server = Server(million_bank)
    try:
        bank = server.bank
        assert stored_map(bank, bank.get("demo/random")) is None
        context = playwright_browser.new_context(viewport=VIEWPORT, base_url=server.url)
        page = context.new_page()
        page.goto("/t/demo/random")  # no stored map: the page asks the API to draw it
        canvas = page.locator("canvas.map[data-points]")
        canvas.wait_for(timeout=120_000)
        stored = stored_map(bank, bank.get("demo/random"))
        assert stored is not None and stored["n_points"] == 5_000 == int(
            canvas.get_attribute("data-points")
        )
        assert stored["method"] in ("umap", "pca") and stored["n_rows"] == 1_000_000

        server.http.get("/t/demo/random")  # warm: templates compiled, version resolved
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            response = server.http.get("/t/demo/random")
            timings.append(time.perf_counter() - start)
            assert response.status_code == 200 and 'id="map-data"' in response.text
        assert min(timings) < 1.0, timings
        start = time.perf_counter()
        page.goto("/t/demo/random")
        canvas.wait_for()
        print(
            f"1M-row page: HTTP {min(timings) * 1000:.0f} ms, in the browser with its map "
            f"drawn {(time.perf_counter() - start) * 1000:.0f} ms"
        )
        page.screenshot(path=shots / "table-million.png")
        context.close()
    finally:
        server.stop()
    with embank.open(million_bank, create=False) as bank, bank.registry.read() as conn:
        kinds = conn.exec_driver_sql("SELECT kind FROM artifacts").scalars().all()
    assert kinds == [MAP_KIND]  # drawn once, stored once
