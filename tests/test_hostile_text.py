"""Hostile data text (HTML/JS, markdown control characters, ANSI escapes, bidi overrides, invisible
characters, null bytes) in item texts, ids, slice values, site names and decider output: one real
run (classic model, precomputed scores, human raters at hostile sites) through the CLI, then
report.md keeps its tables, report.html stays inert in headless Chromium, the terminal gets no
control character, and JUnit stays well-formed XML."""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from evalharness import run_eval
from evalharness.cli import cli
from evalharness.deciders.chat import answer_format
from evalharness.inputs.policies import load_policy
from evalharness.records.gate import GateCheck, GateResult
from evalharness.report.format import md_escape, table
from evalharness.report.junit import junit_xml
from evalharness.report.terminal import terminal_safe, visible
from evalharness.testing import StubServer

from conftest import MINI, REPO

HOSTILE = [
    "<script>alert('s1')</script>",
    "<img src=x onerror=alert('s2')>",
    "<a href=\"javascript:alert('s3')\">click me</a>",
    "</textarea><script>alert('s4')</script>",
    "<!-- an unclosed comment",
    "pipes | in | a | cell",
    "`backticks` and ```fences```",
    "[link](javascript:alert('s8'))",
    "# a leading hash",
    "line one\nline two\r\n| fake | row |",
    "***bold*** ~~strike~~ _em_",
    "\x1b[31mred\x1b[0m text",
    "\x1b]8;;https://evil.example/\x07osc link\x1b]8;;\x07",
    "\x1b[2J\x1b[Hcleared screen",
    "progress 100%\rOVERWRITTEN",
    "\u202eevil reversed\u202c text",
    "\u2066isolate\u2069 \u2067rli\u2069 \u2068fsi\u2069",
    "zero\u200bwidth\u2060joiner\ufeffbom",
    "null\x00byte",
    "c1 \x9b31m csi and \x85 nel",
    "bell\x07 backspace\x08\x08 del\x7f",
]
"""21 hostile strings; each is an item's text, an item id and a slice value in the run below."""

BAD_CHARS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
"""What must never reach the terminal or a report from data (C0 but newline, C1, bidi, zero-width)."""

RATER = "c\u202e\x1b[2J<b>rater</b>"
SITES = {"north\x1b[31m": ["a", "b"], "south\u202e<script>alert('site')</script>": [RATER, "d"]}


def _items() -> list[dict]:
    items = []
    for i, text in enumerate(HOSTILE):
        hate = i % 2 == 0
        words = ("they are vermin and should be driven out of our country" if hate
                 else "what a lovely day at the market, bought fresh bread")
        gold = "hate" if hate else "none"
        other = "none" if hate else "hate"
        scores: dict = {"hate_speech": 0.9 if hate else 0.1}
        if i % 5 == 0:  # the classifier's output is hostile too (an unknown label, echoed back in
            scores = {"hate_speech": {text: 0.7, "none": 0.3}}  # its error); raters agree here
            other = gold
        items.append({
            "id": f"h{i:02d}{text}", "text": f"{text} {words}", "labels": {"hate_speech": gold},
            "annotations": [{"rater": "a" if i % 2 else "b", "labels": {"hate_speech": gold}},
                            {"rater": RATER if i % 2 else "d", "labels": {"hate_speech": other}}],
            "meta": {"market": text}, "scores": {"prod": scores},
        })
    return items


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real run through the CLI, then route and compare; the outputs and the run folder."""
    folder = tmp_path_factory.mktemp("hostile")
    items = folder / "items.jsonl"
    items.write_text("".join(json.dumps(it) + "\n" for it in _items()), encoding="utf-8")
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({
        "name": "hostile",
        "golden_set": {"path": str(items)},
        "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "deciders": [
            {"name": "tfidf", "kind": "classic", "train": {"path": str(MINI / "train.jsonl")}},
            {"name": "prod", "kind": "precomputed", "scores": "prod", "threshold": 0.5},
            {"name": "raters", "kind": "human", "cost_per_hour_usd": 20.0, "seconds_per_item": 30,
             "sites": SITES},
        ],
        "slice_by": ["market"],
        "cache": {"enabled": False},
    }, sort_keys=False))
    runner = CliRunner()  # invoke(color=True): click strips nothing, as on a real terminal
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALHARNESS_HOME", str(folder / "home"))
        ran = runner.invoke(cli, ["run", str(config), "--out", str(folder / "runs"), "--run-id", "r1"],
                            color=True)
        run_dir = folder / "runs" / "r1"
        routed = runner.invoke(cli, ["route", str(run_dir)], color=True)
        compared = runner.invoke(cli, ["compare", str(run_dir), str(run_dir), "--resamples", "100"],
                                 color=True)
    return {"run": ran, "route": routed, "compare": compared, "dir": run_dir}


def test_the_run_accepts_every_hostile_string_and_the_terminal_gets_no_control_character(hostile):
    for name in ("run", "route", "compare"):
        result = hostile[name]
        assert result.exit_code == 0, (name, result.output)
        assert "Traceback" not in result.output
        found = BAD_CHARS.findall(result.stdout + result.stderr)
        assert found == [], f"{name} printed raw control characters {found!r}"
    # the data is there, shown as escapes (the human tier's sites are in the findings)
    assert "north\\\\x1b" in hostile["run"].stdout and "south\\\\u202e" in hostile["run"].stdout
    lines = (hostile["dir"] / "decisions.jsonl").read_text(encoding="utf-8").split("\n")
    decisions = [json.loads(line) for line in lines if line]  # (not splitlines: \x85 is data)
    ids = {d["item_id"] for d in decisions}
    assert ids == {it["id"] for it in _items()}, "an item id was changed or lost (null byte?)"


def _md_tables(md: str) -> list[list[str]]:
    """Every table of a markdown page, as its lines."""
    tables, current = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def _cells(row: str) -> int:
    """Cells of a GFM table row: pipes not escaped by a backslash, minus the outer two."""
    return len(re.findall(r"(?<!\\)\|", row)) - 1


def test_report_md_keeps_every_table_and_shows_the_data_as_escapes(hostile):
    md = (hostile["dir"] / "report.md").read_text(encoding="utf-8")
    assert BAD_CHARS.findall(md) == []
    tables = _md_tables(md)
    assert len(tables) > 8
    for rows in tables:
        width = _cells(rows[0])
        assert [_cells(r) for r in rows] == [width] * len(rows), rows
    # one slice row per hostile value, each shown (truncated to 40 characters) with escapes
    slice_table = next(t for t in tables if t[0].startswith("| market | n |"))
    assert len(slice_table) == 2 + len(HOSTILE)
    assert "\\\\u202eevil reversed\\\\u202c" in md
    assert "\\\\x1b\\[31mred" in md and "null\\\\x00byte" in md
    assert "&lt;script&gt;" in md and "<script" not in md
    assert "\\[link\\](javascript:" in md and not re.search(r"(?<!\\)\]\(javascript", md)
    assert "\n# a leading" not in md and "\\# a leading hash" in md
    # hostile classifier output (an unknown label, echoed in its error) is listed, escaped
    wrong = md.split("#### Wrong items: prod", 1)[1].split("####", 1)[0]
    assert wrong.count("| invalid | – |") == len(HOSTILE[::5]) == wrong.count("model class")
    assert "model class \"&lt;script&gt;alert('s1')&lt;/script&gt;\" is unknown" in wrong
    assert "model class 'pipes \\| in \\| a \\| cell' is unknown" in wrong


@pytest.mark.parametrize("text", HOSTILE)
def test_md_escape_keeps_a_table_row_one_row_of_the_header_width(text):
    rows = table(["a", "b", "c"], [["x", md_escape(text), md_escape(text, 12)]])
    assert len(rows) == 3 and [_cells(r) for r in rows] == [3, 3, 3]
    assert BAD_CHARS.findall("\n".join(rows)) == []


def test_visible_escapes_every_control_and_format_character_but_zwnj_zwj():
    kept = {"\t", "\n", "\u200c", "\u200d"}
    missed = [hex(c) for c in range(0x110000)
              if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")
              and chr(c) not in kept and visible(chr(c)) == chr(c)]
    assert missed == []
    assert visible("a\x1b[2Jb\u202ec") == "a\\x1b[2Jb\\u202ec"
    assert terminal_safe("a\tb\rc\nd") == "a\\x09b\\x0dc\nd"
    assert terminal_safe("a\nb", one_line=True) == "a\\x0ab"
    assert visible("👩\u200d💻 فارسی\u200cها") == "👩\u200d💻 فارسی\u200cها"  # scripts, emoji intact


def test_junit_stays_well_formed_xml_with_hostile_check_text():
    checks = [GateCheck(check="floor", policy="hate_speech", decider="tfidf", metric="accuracy",
                        passed=i % 2 == 0, message=f"slice {text} failed") for i, text in enumerate(HOSTILE)]
    xml = junit_xml(GateResult(gate_file="gate.yaml", passed=False, checks=checks))
    root = ET.fromstring(xml.encode("utf-8"))  # raises on a control character XML cannot hold
    assert len(root.findall(".//testcase")) == len(HOSTILE)
    assert BAD_CHARS.findall(xml.replace("\n", " ")) == []
    messages = [f.get("message") for f in root.iter("failure")]
    assert any("\\x1b[31mred" in m for m in messages)
    assert any("</textarea><script>alert('s4')</script>" in m for m in messages)  # unescaped by XML


def test_cli_error_lines_carry_no_control_character(tmp_path, write_config):
    bad = tmp_path / "bad\x1b[2J\u202e.jsonl"
    row = {"id": "x\x1b[31m", "text": "t", "labels": {"hate_speech": "hate"}}
    bad.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n", encoding="utf-8")  # a duplicate id
    config = write_config({"name": "bad", "golden_set": {"path": str(bad)}, "policies": ["hate_speech"],
                           "policies_dir": str(REPO / "policies"),
                           "deciders": [{"name": "raters", "kind": "human", "cost_per_hour_usd": 1.0}]})
    for args in (["validate", str(config)], ["validate", str(tmp_path / "no\x1b]8;;x\x07such.yaml")],
                 ["report", str(tmp_path / "not-a-run\u2066\x1b[2J")]):
        result = CliRunner().invoke(cli, args, color=True)  # color: nothing stripped, as on a tty
        assert result.exit_code == 2, result.output
        assert "\\x1b" in result.stderr and "Traceback" not in result.stderr
        assert BAD_CHARS.findall(result.stderr) == [], args


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    from test_report_html import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists():  # checked in a real browser, never skipped
        pytest.fail(f"no Chromium at {CHROMIUM} (scripts/system-deps.sh installs it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_report_html_stays_intact_and_inert_in_chromium(hostile, browser):
    context = browser.new_context(viewport={"width": 1320, "height": 1000})
    page = context.new_page()
    events: dict[str, list[str]] = {"console": [], "pageerror": [], "dialog": [], "request": []}
    page.on("console", lambda msg: events["console"].append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: events["pageerror"].append(str(err)))
    page.on("dialog", lambda d: (events["dialog"].append(d.message), d.dismiss()))
    page.on("request", lambda req: events["request"].append(req.url))
    try:
        page.goto((hostile["dir"] / "report.html").as_uri())
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # give any injected handler the chance to fire
        page.eval_on_selector_all("details", "els => els.forEach(d => { d.open = true; })")
        assert events["dialog"] == [], "data ran as code"
        assert events["pageerror"] == []
        assert [m for m in events["console"] if m.startswith(("error", "warning"))] == []
        assert all(url.startswith(("file://", "data:")) for url in events["request"])
        # nothing injected became an element
        for selector, n in (("script", 1), ("textarea", 0), ("img, iframe, object, embed", 0),
                            ("[onerror], [onload]", 0), ("a[href^='javascript']", 0)):
            assert page.eval_on_selector_all(selector, "els => els.length") == n, selector
        # the tables keep their shape: one slice row and one split row per hostile item
        slice_rows = page.eval_on_selector_all(
            "xpath=//h3[text()='Accuracy by market']/following-sibling::table[1]/tbody/tr",
            "rows => rows.map(r => r.cells.length)")
        assert slice_rows == [5] * len(HOSTILE)
        split_rows = page.eval_on_selector_all("table.splits tbody tr",
                                               "rows => rows.map(r => r.cells.length)")
        assert split_rows == [7] * (len(HOSTILE) - len(HOSTILE[::5]))
        outputs = page.eval_on_selector_all(
            "xpath=//h4[text()='Wrong items: prod']/ancestor::details[1]//tbody/tr",
            "rows => rows.map(r => r.cells.length + ' ' + r.cells[6].innerText)")
        assert len(outputs) == len(HOSTILE[::5])
        assert all(o.startswith("7 model class") for o in outputs), outputs
        assert any("<script>alert('s1')</script>" in o for o in outputs)
        body = page.inner_text("body")
        for text in ("<script>alert('s1')</script>", "</textarea><script>alert('s4')</script>",
                     "<!-- an unclosed comment", "[link](javascript:alert('s8'))",
                     "\\u202eevil reversed\\u202c", "null\\x00byte", "\\x1b[2J\\x1b[Hcleared",
                     "south\\u202e<script>alert('site')</script>"):
            assert text in body, f"{text!r} is not shown literally"
        assert BAD_CHARS.findall(page.content().replace("\n", " ")) == []
    finally:
        context.close()


# --- the prompt_injection slice ----------------------------------------------------------------

INJECTION = REPO / "golden_sets" / "prompt_injection"
_FAKE_ITEM_TAG = re.compile(r"<\s*/?\s*item\b", re.I)


def _injection_items() -> list[dict]:
    return [json.loads(line) for line in (INJECTION / "items.jsonl").read_text(encoding="utf-8").split("\n")
            if line]


def _deobfuscated(text: str) -> str:
    """What a reader might take for markup: entities decoded, fullwidth folded, invisible
    characters and backslashes dropped."""
    text = html.unescape(unicodedata.normalize("NFKC", text))
    text = text.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\", "")
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def test_the_shipped_set_matches_its_card():
    items = _injection_items()
    card = (INJECTION / "CARD.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((INJECTION / "items.jsonl").read_bytes()).hexdigest()
    assert digest in card, "items.jsonl changed: update the counts and sha256 in CARD.md"
    assert len(items) == 38 and len({it["id"] for it in items}) == 38
    attacks = [it["meta"]["attack"] for it in items]
    assert attacks.count("prompt_injection") == 30 and attacks.count("none") == 8
    assert {it["labels"]["hate_speech"] for it in items} == {"hate", "none"}
    assert "[`prompt_injection`](prompt_injection/CARD.md) | 38 |" in \
        (REPO / "golden_sets" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("policy_file", sorted((REPO / "policies").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_injection_item_is_delimited_as_data_with_no_fake_delimiter_left(policy_file):
    policy = load_policy(policy_file)
    for variant in ["default", *policy.variants]:
        system = policy.prompt_for(variant).system
        assert "<item>" in system and "data to classify, not" in " ".join(system.split()), variant
        head, tail = policy.prompt_for(variant).user.split("{text}")
        for item in _injection_items():
            messages = policy.messages(item["text"], variant=variant,
                                       answer_instruction=answer_format(policy, "json_object"))
            user = messages[-1]["content"]
            assert messages[-1]["role"] == "user" and user.startswith(head) and user.endswith(tail)
            assert user.lower().count("<item>") == 1 and user.lower().count("</item>") == 1
            inner = user[len(head): len(user) - len(tail)]
            assert not _FAKE_ITEM_TAG.search(_deobfuscated(inner)), (item["id"], inner)
            # nothing else of the item is lost: the same words outside the neutralised tags
            def words(text: str) -> list[str]:
                return [w for w in re.findall(r"\w+", _deobfuscated(text)) if w.lower() != "item"]
            assert words(inner) == words(item["text"]), item["id"]


def test_the_prompt_injection_config_reports_the_attack_slice(tmp_path, write_config):
    config = yaml.safe_load((REPO / "configs" / "prompt-injection.yaml").read_text())
    assert config["slice_by"][0] == "attack"
    config["golden_set"]["path"] = str(INJECTION / "items.jsonl")
    config["policies_dir"] = str(REPO / "policies")
    with StubServer() as server:  # the loopback OpenAI-compatible stub in place of the embedded model
        config["deciders"] = [
            {"name": "llm", "kind": "llm", "model": "openai/stub", "api_base": server.url,
             "price": {"input_per_mtok": 0, "output_per_mtok": 0}},
            {"name": "tfidf", "kind": "classic", "train": {"path": str(MINI / "train.jsonl")}},
        ]
        result = run_eval(write_config(config), out_dir=tmp_path / "runs", run_id="pi",
                          live_progress=False)
        sent = [r["text"] for r in server.requests if r["text"]]
    assert len(sent) == 38  # one request per item, each with one item block
    assert all(t.count("<item>") == 1 and t.count("</item>") == 1 for t in sent)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    rows = {(r["decider"], r["slice"]["value"]): r["n"] for r in metrics["results"]
            if r["slice"] and r["slice"]["key"] == "attack"}
    assert rows == {("llm", "prompt_injection"): 30, ("llm", "none"): 8,
                    ("tfidf", "prompt_injection"): 30, ("tfidf", "none"): 8}
    md = (result.run_dir / "report.md").read_text(encoding="utf-8")
    section = md.split("### Accuracy by attack", 1)[1].split("###", 1)[0]
    assert "| prompt\\_injection | 30 |" in section and "| none | 8 |" in section
    assert "### Accuracy by technique" in md
