"""The page of `trendoff serve` in a real headless Chromium (Debian's, driven by Playwright): suggestions,
the table and the chart of a comparison, a shared URL, an unknown user, and nothing fetched from elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.support import EXPECTED_SERVING_ANSWER as EXPECTED
from tests.support import running_service
from tests.support import seed_serving_views as seed_views
from trendoff.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; Playwright's own browser downloads are not used


@pytest.fixture
def page_and_base(pipeline_settings: Settings, cassandra_session: Any, tmp_path: Path) -> Iterator[tuple[Page, str]]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/setup.sh does it)")
    seed_views(cassandra_session)
    with running_service(pipeline_settings, tmp_path) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            yield page, base
            outside = [url for url in requested if not url.startswith(base + "/")]
            assert outside == [], f"the page fetched from elsewhere: {outside}"
        finally:
            browser.close()


def table_rows(page: Page) -> list[list[str]]:
    rows = page.locator("#table tbody tr").all()
    return [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in rows]


def bar_counts(page: Page) -> list[tuple[str, int]]:
    bars = page.locator("#chart svg rect.bar")
    return [(bar.get_attribute("data-word") or "", int(bar.get_attribute("data-count") or -1)) for bar in bars.all()]


def expected_rows(answer: dict[str, Any]) -> list[list[str]]:
    return [[row["word"], f"{row['counts'][0]:,}", f"{row['counts'][1]:,}"] for row in answer["top"]]


def test_type_two_handles_see_the_table_and_the_chart_then_follow_a_shared_url(
    page_and_base: tuple[Page, str],
) -> None:
    page, base = page_and_base
    page.goto(f"{base}/")
    assert page.locator("#result").is_hidden()

    page.locator("#a").press_sequentially("BaRa", delay=30)  # suggestions from /api/users
    page.wait_for_function("document.querySelectorAll('#users-a option').length === 3")
    options = page.locator("#users-a option").evaluate_all("options => options.map(o => o.value)")
    assert options == ["barackfriend", "baracklive", "barackobama"]

    page.locator("#a").fill("BarackObama")
    page.locator("#b").fill("realDonaldTrump")
    page.locator("#go").click()
    page.wait_for_function("document.querySelectorAll('#table tbody tr').length === 4")
    assert page.url == f"{base}/?a=BarackObama&b=realDonaldTrump"  # the query is in the URL, to be shared
    assert table_rows(page) == expected_rows(EXPECTED)
    assert page.locator("#head-a").inner_text() == "barackobama"
    assert page.locator("#as-of").inner_text() == "batch cutoff T: 2026-01-01T12:00:00+00:00"
    # The chart: one bar per user and word, in the table's order, sized by the counts.
    assert bar_counts(page) == [(row["word"], count) for row in EXPECTED["top"] for count in row["counts"]]
    widths = [float(bar.get_attribute("width") or 0) for bar in page.locator("#chart svg rect.bar").all()]
    assert widths[3] == max(widths) and widths[0] < widths[1]  # jobs 9 is the longest; america 4 < 7

    # A shared URL loads its comparison by itself, the page agreeing with the API.
    shared = f"{base}/?a=realDonaldTrump&b=BarackObama&top=2"
    page.goto(shared)
    page.wait_for_function("document.querySelectorAll('#table tbody tr').length === 2")
    api = httpx.get(f"{base}/api/compare", params={"a": "realDonaldTrump", "b": "BarackObama", "top": 2}).json()
    assert table_rows(page) == expected_rows(api) == [["america", "7", "4"], ["jobs", "9", "3"]]
    assert page.locator("#a").input_value() == "realDonaldTrump" and page.locator("#top").input_value() == "2"

    # An unknown user: the service's message, no stale table.
    page.locator("#b").fill("nobody_here")
    page.locator("#go").click()
    page.wait_for_function("document.getElementById('message').classList.contains('error')")
    assert "@nobody_here" in page.locator("#message").inner_text()
    assert page.locator("#result").is_hidden()

    page.go_back()  # history: back to the shared comparison
    page.wait_for_function("document.querySelectorAll('#table tbody tr').length === 2 && "
                           "!document.getElementById('result').hidden")
    assert page.url == shared
