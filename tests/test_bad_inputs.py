"""The bad-input corpus (tests/bad_inputs/cases.yaml) through the real CLI: every bad case exits 2
with one to three `error:` lines naming the file, line, field and fix, no traceback and no finished
run folder; every good file saved with a BOM or CRLF line endings is accepted by its reader."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evalharness import run_eval

from conftest import REPO

CORPUS = REPO / "tests" / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
BAD = {case["id"]: case for case in CASES["bad"]}
ACCEPTED = {case["id"]: case for case in CASES["accepted"]}
RUNS = "_runs"


def _big_item(work: Path) -> None:
    """Item 5 of the golden set becomes 5,000,000 characters (5 MB), over the default limit."""
    path = work / "items.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[4]["text"] = "x" * 5_000_000
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


MAKERS = {"big_item": _big_item}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run of the shared good config (classic model and human raters)."""
    folder = tmp_path_factory.mktemp("bad-inputs-run")
    shutil.copytree(CORPUS / "shared", folder / "src")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALHARNESS_HOME", str(folder / "home"))
        result = run_eval(folder / "src" / "config.yaml", out_dir=folder / "runs", run_id="good",
                          live_progress=False)
    assert result.manifest.status == "complete"
    return result.run_dir


def _workdir(tmp_path: Path, case_id: str, run_dir: Path | None) -> Path:
    """shared/ overlaid with the case's own files, plus a copy of the finished run."""
    work = tmp_path / "work"
    shutil.copytree(CORPUS / "shared", work)
    if (CORPUS / case_id).is_dir():
        shutil.copytree(CORPUS / case_id, work, dirs_exist_ok=True)
    if run_dir is not None:
        shutil.copytree(run_dir, work / RUNS / "run")
    return work


def _args(case: dict, work: Path) -> list[str]:
    return [str(a).replace("{run}", str(Path(RUNS) / "run")) for a in case["args"]]


def _needs_run(case: dict) -> bool:
    return any("{run}" in str(a) for a in case["args"])


def _finished_runs(work: Path) -> list[Path]:
    """Folders outside the run copy that look like a finished run."""
    found = []
    for path in [*work.rglob("manifest.json"), *work.rglob("metrics.json")]:
        if RUNS in path.relative_to(work).parts or path.parent.name == "broken":
            continue
        if path.name == "metrics.json":
            found.append(path.parent)
            continue
        try:
            status = json.loads(path.read_text(encoding="utf-8")).get("status")
        except ValueError:
            continue
        if status == "complete":
            found.append(path.parent)
    return found


def test_the_corpus_is_big_and_every_case_has_its_files():
    assert len(BAD) >= 40 and len(ACCEPTED) >= 8
    assert len(BAD) == len(CASES["bad"]) and len(ACCEPTED) == len(CASES["accepted"])  # unique ids
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir()} - {"shared"}
    assert folders <= set(BAD), f"folders without a case: {folders - set(BAD)}"
    for case in BAD.values():
        assert case["expect"] and case.get("make", "big_item") in MAKERS


@pytest.mark.parametrize("case_id", sorted(BAD))
def test_bad_input_is_one_to_three_clear_lines(case_id, tmp_path, monkeypatch, cli_run,
                                               request):
    case = BAD[case_id]
    run_dir = request.getfixturevalue("finished_run") if _needs_run(case) else None
    work = _workdir(tmp_path, case_id, run_dir)
    if case.get("make"):
        MAKERS[case["make"]](work)
    monkeypatch.chdir(work)
    result = cli_run(*_args(case, work))
    err = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.stdout, err)
    assert "Traceback" not in err + result.stdout
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, err
    assert all(line.startswith("error: ") for line in lines), err
    for needle in case["expect"]:
        assert needle in err, f"{needle!r} not in {err!r}"
    assert _finished_runs(work) == []


def test_a_bad_input_through_a_real_process_is_one_line(tmp_path):
    """The same contract outside click's test runner: a real interpreter, real exit status."""
    work = _workdir(tmp_path, "golden_jsonl_non_utf8", None)
    proc = subprocess.run([sys.executable, "-m", "evalharness", "run", "config.yaml"], cwd=work,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "", "EVALHARNESS_HOME": str(tmp_path / "home"),
                               "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: items.jsonl:3: not UTF-8: byte 0xff at column 44 (save the file as UTF-8, e.g. "
        "Excel's CSV UTF-8 or `iconv -f latin1 -t utf-8`)"]
    assert not (work / "results").exists()


VARIANTS = {
    "bom": lambda data: b"\xef\xbb\xbf" + data,
    "crlf": lambda data: data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
    "bom_crlf": lambda data: b"\xef\xbb\xbf" + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("case_id", sorted(ACCEPTED))
def test_bom_and_crlf_files_are_accepted(case_id, variant, tmp_path, monkeypatch, cli_run,
                                         request):
    case = ACCEPTED[case_id]
    run_dir = request.getfixturevalue("finished_run") if _needs_run(case) else None
    work = _workdir(tmp_path, case_id, run_dir)
    for name in case["files"]:
        path = work / name
        before = path.read_bytes()
        path.write_bytes(VARIANTS[variant](before))
        assert path.read_bytes() != before
    monkeypatch.chdir(work)
    result = cli_run(*_args(case, work))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert not [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert case["stdout"] in result.stdout


def test_the_item_size_limit_is_a_knob(tmp_path, monkeypatch, cli_run):
    """The 5 MB item that fails by default validates once golden_set.max_item_chars is off."""
    work = _workdir(tmp_path, "golden_item_too_large", None)
    _big_item(work)
    config = yaml.safe_load((work / "config.yaml").read_text(encoding="utf-8"))
    config["golden_set"]["max_item_chars"] = None
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    monkeypatch.chdir(work)
    result = cli_run("validate", "config.yaml")
    assert result.exit_code == 0, result.stderr
    assert "ok — 12 items" in result.stdout
