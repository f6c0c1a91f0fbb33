"""report.html in real headless Chromium: loads offline, stays inert, sorts, and is screenshotted."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


from playwright import sync_api

from conftest import SOUTH

CHROMIUM = os.environ.get("EVALHARNESS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():  # the report is checked in a real browser, never skipped
        pytest.fail(f"no Chromium at {CHROMIUM} (make test installs it with "
                    "scripts/system-deps.sh; or set EVALHARNESS_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def watched(pg):
    """``pg`` keeping every console message, page error, dialog (dismissed) and request it
    sees in ``pg.events``."""
    pg.events = {"console": [], "pageerror": [], "dialog": [], "request": []}
    pg.on("console", lambda msg: pg.events["console"].append(f"{msg.type}: {msg.text}"))
    pg.on("pageerror", lambda err: pg.events["pageerror"].append(str(err)))
    pg.on("dialog", lambda d: (pg.events["dialog"].append(d.message), d.dismiss()))
    pg.on("request", lambda req: pg.events["request"].append(req.url))
    return pg


@pytest.fixture
def page(browser, report_run):
    """The report loaded from file://, with every console message, page error and dialog kept."""
    context = browser.new_context(viewport={"width": 1320, "height": 1000})
    pg = watched(context.new_page())
    pg.goto((report_run / "report.html").as_uri())
    pg.wait_for_load_state("load")
    yield pg
    context.close()


def test_loads_offline_without_errors_and_renders_text_inert(page, tmp_path):
    page.wait_for_timeout(300)  # give any injected handler (onerror, onload) the chance to fire
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    assert page.events["pageerror"] == []
    assert [m for m in page.events["console"] if m.startswith(("error", "warning"))] == []
    assert page.events["dialog"] == [], "an item text ran as code"
    assert all(url.startswith(("file://", "data:")) for url in page.events["request"])
    page.eval_on_selector_all("details", "els => els.forEach(d => { d.open = true; })")
    body = page.inner_text("body")
    for text in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
                 "<svg onload=alert(1)>", SOUTH, "</td></tr></table><h1>broken</h1>"):
        assert text in body, f"{text!r} is not shown as text"
    assert page.eval_on_selector_all("img, iframe, object, embed", "els => els.length") == 0
    assert page.eval_on_selector_all("script", "els => els.length") == 1
    assert page.eval_on_selector_all("[onerror], [onload]", "els => els.length") == 0
    assert page.eval_on_selector_all("h1", "els => els.length") == 1
    assert page.title() == "Eval report: report-fixture"
    # charts are there: two per policy plus a reliability diagram per scored decider
    assert page.eval_on_selector_all("svg", "els => els.length") == 4


def _column(page, table: str, col: int) -> list[str]:
    return page.eval_on_selector_all(
        f"{table} tbody tr", f"rows => rows.map(r => r.cells[{col}].getAttribute('data-v'))")


def test_clicking_a_header_sorts_the_table(page):
    table = "#summary-table"
    headers = page.eval_on_selector_all(f"{table} thead th", "ths => ths.map(t => t.textContent)")
    col = headers.index("accuracy")
    before = _column(page, table, col)
    page.click(f"{table} thead th:nth-child({col + 1})")
    ascending = _column(page, table, col)
    assert [float(v) for v in ascending] == sorted(float(v) for v in before)
    assert page.get_attribute(f"{table} thead th:nth-child({col + 1})", "aria-sort") == "ascending"
    page.click(f"{table} thead th:nth-child({col + 1})")
    descending = _column(page, table, col)
    assert [float(v) for v in descending] == sorted((float(v) for v in before), reverse=True)
    # text columns sort too; rows move as a whole
    page.click(f"{table} thead th:nth-child(2)")
    names = page.eval_on_selector_all(f"{table} tbody tr", "rows => rows.map(r => r.cells[1].textContent.trim())")
    assert names == sorted(names)
