"""API keys reach no file the harness writes and no line it prints.

A canary key sits in the variable the decider reads (``api_key_env``), in ``OPENAI_API_KEY`` and,
a second canary, in an unrelated ``*_TOKEN`` variable. The stub server requires the key (so it
really is sent) and, in its ``--echo-headers`` mode, quotes the request headers —
``Authorization: Bearer <key>`` included — in every error answer, as some providers and proxies
do. Then ``run``, ``report``, ``compare --gate --junit`` (with ``GITHUB_STEP_SUMMARY``) and
``route`` run as subprocesses, and every file under the test's folder (run folders, the SQLite
cache read as bytes, reports, JUnit, step summary) plus every captured stdout and stderr is
searched for the canaries, plain and base64-encoded.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml

from evalharness.deciders.redaction import Redactor
from evalharness.testing import StubProcess, StubServer

from conftest import REPO, read_jsonl

pytestmark = pytest.mark.timeout(180)

PRICE = {"input_per_mtok": 0.5, "output_per_mtok": 1.5}


def _forms(secret: str) -> list[bytes]:
    """The secret as bytes, URL-encoded, and the alignment-independent core of its base64
    encoding at each of the three offsets it can sit at in a longer encoded text."""
    raw = secret.encode()
    forms = [raw, urllib.parse.quote(secret).encode(), urllib.parse.quote_plus(secret).encode()]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw)
        forms.append(encoded[4:-4])
        forms.append(base64.urlsafe_b64encode(b"\0" * pad + raw)[4:-4])
    return forms


def _leaks(blobs: dict[str, bytes], canaries: list[str]) -> list[str]:
    found = []
    for canary in canaries:
        core = canary.split("-")[-1]  # the random hex part alone, in case a prefix was rewritten
        for form in [*_forms(canary), core.encode()]:
            found += [f"{name}: {form[:24]!r}" for name, data in blobs.items() if form in data]
    return found


def _items(path: Path) -> Path:
    words = ["i hate them all", "kill the lights please", "lovely weather", "see you soon",
             "you stupid thing", "nice shoes"]
    with open(path, "w") as fh:
        for i in range(36):
            text = f"{words[i % len(words)]} number {i}"
            if i % 9 == 4:
                text += " FAULTEVER500"   # always 500: an error row, its message echoed headers
            elif i % 9 == 7:
                text += " FAULTONCE429"   # one 429, then answered
            gold = "hate" if any(w in text for w in ("hate", "kill", "stupid")) else "none"
            fh.write(json.dumps({"id": f"s{i:02d}", "text": text,
                                 "labels": {"hate_speech": gold}}) + "\n")
    return path


def test_canary_key_reaches_no_file_and_no_output(tmp_path: Path) -> None:
    canary = "sk-canary-" + secrets.token_hex(16)
    other = "tok-canary-" + secrets.token_hex(16)
    env = {**os.environ, "EVALHARNESS_CANARY_KEY": canary, "OPENAI_API_KEY": canary,
           "UNRELATED_SERVICE_TOKEN": other, "EVALHARNESS_HOME": str(tmp_path / "home"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary.md"), "PYTHONUNBUFFERED": "1"}
    env.pop("EVALHARNESS_CACHE_DIR", None)
    outputs: dict[str, bytes] = {}

    def start(name: str, *args: object) -> tuple[str, subprocess.Popen[bytes]]:
        return name, subprocess.Popen([sys.executable, "-m", "evalharness", *map(str, args)],
                                      env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)

    def finish(name: str, process: subprocess.Popen[bytes]) -> int:
        outputs[f"{name} stdout"], outputs[f"{name} stderr"] = process.communicate(timeout=120)
        assert b"Traceback" not in outputs[f"{name} stderr"], outputs[f"{name} stderr"].decode()
        return process.returncode

    with StubProcess("--echo-headers", "--api-key-env", "EVALHARNESS_CANARY_KEY",
                     "--fault-times", "0", "--retry-after", "0.1",
                     "--fault", "FAULTEVER500=500:always", "--fault", "FAULTONCE429=429:1",
                     env=env) as server:
        deciders = [
            {"name": name, "kind": "llm", "model": "openai/stub", "api_base": server.url,
             "api_key_env": "EVALHARNESS_CANARY_KEY", "client": client, "price": PRICE,
             "structured_output": "json_object", "timeout_s": 5, "max_attempts": 2}
            for name, client in (("sdk", "openai"), ("via-litellm", "litellm"))]
        config = {"name": "secrets", "golden_set": {"path": str(_items(tmp_path / "items.jsonl"))},
                  "policies": ["hate_speech"], "policies_dir": str(REPO / "policies"),
                  "deciders": deciders, "max_error_rate": 0.5}
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        code = finish(*start("run", "run", config_path, "--out", tmp_path / "results",
                             "--run-id", "base"))
        assert code == 0, outputs["run stderr"].decode()[-2000:]
        stats = server.stats()
    assert stats["by_status"].get("401", 0) == 0, "the canary key was sent and accepted"
    assert stats["by_status"]["500"] >= 8 and stats["by_status"]["429"] >= 4

    base, candidate = tmp_path / "results" / "base", tmp_path / "results" / "candidate"
    rows = read_jsonl(base / "decisions.jsonl")
    errors = [r for r in rows if r["outcome"] == "error"]
    assert len(errors) == 8 and {r["decider"] for r in errors} == {"sdk", "via-litellm"}
    # the provider's message is kept — it quoted the headers — with the key taken out
    assert all("500" in r["error"] and "[redacted]" in r["error"] for r in errors), errors[0]
    assert any("authorization" in r["error"].lower() for r in errors), errors[0]

    # the candidate is a copy (no model is called after the run); the three commands in parallel
    shutil.copytree(base, candidate)
    codes = {name: finish(name, process) for name, process in [
        start("report", "report", base),
        start("compare", "compare", base, candidate, "--gate", REPO / "configs" / "gate.yaml",
              "--junit", tmp_path / "junit.xml"),
        start("route", "route", base)]}
    assert codes["report"] == 0 and codes["compare"] in (0, 1) and codes["route"] in (0, 2), \
        {name: outputs[f"{name} stderr"].decode()[-500:] for name in codes}
    assert (tmp_path / "junit.xml").stat().st_size and (tmp_path / "step_summary.md").stat().st_size

    files = {str(p.relative_to(tmp_path)): p.read_bytes()
             for p in tmp_path.rglob("*") if p.is_file()}
    assert any(name.endswith(".sqlite") for name in files), sorted(files)
    assert {"results/base/decisions.jsonl", "results/base/manifest.json", "results/base/report.md",
            "results/base/report.html", "junit.xml", "step_summary.md"} <= set(files)
    leaks = _leaks({**files, **outputs}, [canary, other])
    assert not leaks, f"secrets leaked: {leaks}"
    print(f"\nsecrets: {len(files)} files and {len(outputs)} captured outputs scanned, no canary:",
          ", ".join(sorted(files)))


def test_a_401_quoting_the_key_stops_the_run_and_leaks_nothing(write_config, tmp_path, monkeypatch,
                                                              cli_run):
    canary = "sk-canary-" + secrets.token_hex(12)
    monkeypatch.setenv("EVALHARNESS_CANARY_KEY", canary)
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("EVALHARNESS_CACHE_DIR", str(cache_dir))
    items = tmp_path / "items.jsonl"
    items.write_text("".join(
        json.dumps({"id": f"x{i}", "text": t, "labels": {"hate_speech": "none"}}) + "\n"
        for i, t in enumerate(["hate it", "fine", "FAULT401 unauthorised", "FAULTALWAYS500 x"])))
    with StubServer(faults={"FAULT401": "401:always"}, echo_headers=True) as server:
        config = {"name": "k", "golden_set": {"path": str(items)}, "policies": ["hate_speech"],
                  "policies_dir": str(REPO / "policies"),
                  "deciders": [{"name": "stub-llm", "kind": "llm", "model": "openai/stub",
                                "api_base": server.url, "price": PRICE, "concurrency": 1,
                                "api_key_env": "EVALHARNESS_CANARY_KEY", "max_attempts": 2}]}
        result = cli_run("run", write_config(config), "--out", tmp_path / "results")
        # the 401 stops the run (fail closed); what finished is on disk, and no key anywhere
        assert result.exit_code == 2, result.output
        assert "401" in result.stderr and "[redacted]" in result.stderr
        assert server.stats()["completions"] >= 1
    files = {str(p): p.read_bytes() for p in (tmp_path / "results").rglob("*") if p.is_file()}
    files |= {str(p): p.read_bytes() for p in cache_dir.rglob("*") if p.is_file()}
    assert files and any(name.endswith(".sqlite") for name in files)
    leaks = _leaks({**files, "stdout": result.stdout.encode(), "stderr": result.stderr.encode()},
                   [canary])
    assert not leaks, f"the API key leaked: {leaks}"


def test_the_scan_finds_plain_url_and_base64_forms():
    canary = "sk-canary-" + secrets.token_hex(16)
    assert not _leaks({"clean": b"nothing to see [redacted]"}, [canary])
    for pad in ("", "a", "ab"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            blob = b"header " + encode(f"{pad}Bearer {canary}".encode()) + b" tail"
            assert _leaks({"f": blob}, [canary]), (pad, encode)
    assert _leaks({"f": f"key={canary.split('-')[-1]}".encode()}, [canary])


def test_redactor_hides_keys_and_key_shaped_strings():
    redact = Redactor(["sk-secret-value-123"])
    assert redact("bad key sk-secret-value-123 given") == "bad key [redacted] given"
    assert "sk-abc" not in redact("Incorrect API key provided: sk-abc*********wxyz.")
