"""``evalharness view`` in real headless Chromium, over two runs of the hostile report fixture
(the second with another threshold, so decisions flip): every filter's count equals a count made
independently from ``decisions.jsonl``; the confusion-matrix cells (in the viewer and in the
report it serves) open exactly their decisions; hostile item text stays inert; the page makes no
request off 127.0.0.1 and logs no error; a verdict given in the page lands in the adjudication
file."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from playwright import sync_api
from evalharness import run_eval
from evalharness.api import view_runs

from conftest import HOSTILE, SOUTH, read_jsonl, report_config
from test_report_html import ARGS, CHROMIUM, watched

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("viewer")
    out = []
    for run_id, threshold in (("a", 0.5), ("b", 0.3)):
        config = report_config()
        config["deciders"][1]["threshold"] = threshold
        path = folder / f"{run_id}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("EVALHARNESS_HOME", str(folder / "home"))
            out.append(run_eval(path, out_dir=folder / "runs", run_id=run_id,
                                live_progress=False).run_dir)
    return out[0], out[1]


def _answer(row: dict) -> str:
    return row["label"] if row["outcome"] == "ok" and row["label"] is not None else row["outcome"]


def _expected(a: Path, b: Path) -> dict[str, int]:
    """Counts straight from the two decisions.jsonl files and items.jsonl."""
    rows = read_jsonl(a / "decisions.jsonl")
    theirs = {(r["item_id"], r["policy"], r["decider"]): _answer(r)
              for r in read_jsonl(b / "decisions.jsonl")}
    items = {i["id"]: i for i in read_jsonl(a / "items.jsonl")}
    deciding = defaultdict(set)
    for r in rows:
        if r["decider_kind"] != "human_rater":
            deciding[(r["item_id"], r["policy"])].add(_answer(r))
    split = {(i, p) for i, item in items.items()
             for p in {p for a in item.get("annotations", []) for p in a["labels"]}
             if len({a["labels"].get(p) for a in item["annotations"]} - {None}) > 1}

    def markets(item_id: str) -> list:
        value = items[item_id].get("meta", {}).get("market")
        return value if isinstance(value, list) else [value]

    return {
        "": len(rows),
        "decider=prod": sum(r["decider"] == "prod" for r in rows),
        "decider=tfidf&gold=hate&decided=none": sum(
            r["decider"] == "tfidf" and r["gold"] == "hate" and _answer(r) == "none" for r in rows),
        "outcome=ok": sum(r["outcome"] == "ok" for r in rows),
        "slice=market:us": sum("us" in markets(r["item_id"]) for r in rows),
        "agree=no": sum(len(deciding[(r["item_id"], r["policy"])]) > 1 for r in rows),
        "conf_min=0.8": sum(r.get("confidence") is not None and r["confidence"] >= 0.8
                            for r in rows),
        "flipped=1": sum(theirs.get((r["item_id"], r["policy"], r["decider"])) not in (None, _answer(r))
                         for r in rows),
        "split=1": sum((r["item_id"], r["policy"]) in split for r in rows),
        "q=ALERT(1)": sum("alert(1)" in items[r["item_id"]]["text"].lower() for r in rows),
        "decider=prod&flipped=1&conf_max=0.6": sum(
            r["decider"] == "prod" and r.get("confidence") is not None and r["confidence"] <= 0.6
            and theirs.get((r["item_id"], r["policy"], r["decider"])) not in (None, _answer(r))
            for r in rows),
    }


@pytest.fixture
def viewer(runs, tmp_path):
    server = view_runs(list(runs), adjudications=tmp_path / "items.adjudications.jsonl")
    with server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        yield p.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def _open(browser, url: str):
    page = watched(browser.new_page(viewport={"width": 1400, "height": 900}))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    return page


def _show(page, state: str) -> int:
    page.evaluate("s => { location.hash = s; }", state)
    page.wait_for_function("s => document.body.dataset.state === (s ? '#' + s : '')", arg=state,
                           timeout=15_000)
    return int(page.inner_text("#summary").split()[0])


def test_filters_count_what_decisions_jsonl_counts(browser, viewer, runs):
    page = _open(browser, viewer.url)
    for state, expected in _expected(*runs).items():
        assert _show(page, state) == expected, state
    assert _show(page, "flipped=1") > 0  # the fixture really flips something
    # paging: 50 rows a page, and the next page starts where the first ended
    _show(page, "")
    assert page.eval_on_selector_all("#rows tbody tr", "els => els.length") == 50
    first = page.eval_on_selector_all("#rows tbody tr", "els => els.map(e => e.dataset.row)")
    page.click("#next")
    page.wait_for_function("() => document.body.dataset.state.includes('offset=50')")
    second = page.eval_on_selector_all("#rows tbody tr", "els => els.map(e => e.dataset.row)")
    assert second and not set(first) & set(second)
    assert page.events["pageerror"] == []
    assert [m for m in page.events["console"] if m.startswith(("error", "warning"))] == []
    assert all(url.startswith(viewer.url) for url in page.events["request"])
    page.close()


def test_hostile_text_stays_inert(browser, viewer):
    page = _open(browser, viewer.url)
    for text in [t for t in HOSTILE if t != SOUTH]:  # item texts, and a market (SOUTH: a site)
        where = "slice=market:" if text.startswith("<svg") else "q="
        assert _show(page, where + quote(text)) > 0, text
        assert text in page.inner_text("#rows"), f"{text!r} is not shown as text"
    options = page.eval_on_selector_all("select[name=slice] option", "els => els.map(e => e.text)")
    assert "market:<svg onload=alert(1)>" in options
    page.wait_for_timeout(300)  # any injected handler would have fired by now
    assert page.events["dialog"] == []
    assert page.eval_on_selector_all("#rows img, #rows svg, #rows script, #rows h1",
                                     "els => els.length") == 0
    page.close()


def test_matrix_cells_open_their_decisions(browser, viewer, runs):
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    row = next(r for r in metrics["results"] if r["slice"] is None and r["decider"] == "tfidf")
    columns = [*row["labels"], "invalid", "refusal", "error"]
    page = _open(browser, viewer.url)
    page.click("#matrices-box summary")
    for i, gold in enumerate(row["labels"]):
        for j, decided in enumerate(columns[:len(row["labels"])]):
            links = page.locator(".matrix", has_text="tfidf").locator("a.cell")
            links.nth(i * len(columns) + j).click()
            page.wait_for_function("() => document.body.dataset.state.includes('decided=')")
            assert int(page.inner_text("#summary").split()[0]) == row["confusion"][i][j]
            assert f"gold={gold}" in page.evaluate("location.hash")
    # the report the viewer serves links its cells the same way
    page.goto(viewer.url + "report.html")
    cell = page.locator("td[data-view] a.cm-link").first
    href = cell.get_attribute("href")
    cell.click()
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("location.hash") == href.removeprefix("/")
    assert page.events["pageerror"] == []
    page.close()


def test_a_verdict_given_in_the_page_is_appended(browser, viewer, tmp_path):
    page = _open(browser, viewer.url)
    _show(page, "queue=1")
    row = page.locator("#rows tbody tr").first
    form = row.locator("form.adj")
    form.locator("input[name=reason]").fill("the post quotes a slur to condemn it")
    form.locator("input[name=reviewer]").fill("qa-lead")
    form.locator("button").click()
    page.wait_for_function("() => document.querySelector('#rows form.adj span').textContent")
    said = row.locator("form.adj span").inner_text()
    assert said.startswith("recorded: "), said
    lines = read_jsonl(tmp_path / "items.adjudications.jsonl")
    assert len(lines) == 1 and lines[0]["reviewer"] == "qa-lead"
    assert lines[0]["item_id"] == row.locator("td").first.inner_text()
    assert said == f"recorded: {lines[0]['old_label']} → {lines[0]['new_label']}"
    # the same stale form again is refused: the gold has changed since the page was loaded
    form.locator("button").click()
    page.wait_for_function("() => document.querySelector('#rows form.adj span').textContent"
                           ".includes('is now')")
    assert len(read_jsonl(tmp_path / "items.adjudications.jsonl")) == 1
    # a fresh page shows the standing verdict, and corrects from it
    item = lines[0]["item_id"]
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    _show(page, f"q={quote(item)}&decider=tfidf")
    row = page.locator("#rows tbody tr").first
    assert f"→ {lines[0]['new_label']} (adjudicated)" in row.locator("td").nth(5).inner_text()
    form = row.locator("form.adj")
    assert form.locator("select option").all_inner_texts() == [lines[0]["old_label"]]
    form.locator("input[name=reason]").fill("second look: the first verdict was wrong")
    form.locator("button").click()
    page.wait_for_function("() => document.querySelector('#rows form.adj span').textContent")
    lines = read_jsonl(tmp_path / "items.adjudications.jsonl")
    assert len(lines) == 2 and lines[1]["old_label"] == lines[0]["new_label"]
    page.close()


def test_the_view_command_serves_on_loopback_until_ctrl_c(runs):
    import signal
    import subprocess
    import sys
    import urllib.request

    process = subprocess.Popen([sys.executable, "-m", "evalharness", "view", str(runs[0])],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # "viewing RUN at http://127.0.0.1:PORT/ (Ctrl-C stops)"
        url = line.split(" at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/meta", timeout=30) as response:
            meta = json.load(response)
        assert meta["runs"] == ["a"] and meta["n"] == len(read_jsonl(runs[0] / "decisions.jsonl"))
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in stderr


def test_bad_filters_and_foreign_posts_are_refused(viewer):
    import urllib.error
    import urllib.request

    for query, needle in (("conf_min=high", "not a number"), ("colour=red", "unknown filter"),
                          ("agree=maybe", "agree: yes or no"), ("limit=100000", "limit")):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{viewer.url}api/rows?{query}", timeout=10)
        assert error.value.code == 400 and needle in json.load(error.value)["error"]
    request = urllib.request.Request(f"{viewer.url}api/adjudicate", method="POST",
                                     data=json.dumps({"item_id": "x"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as error:  # no page token: another site's form
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 403
