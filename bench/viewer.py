"""The viewer at scale (issue 17): load time and filter latency at 100k decisions.

Writes the synthetic case of ``bench/scale.py`` (precomputed scorers, 3 policies, 2 slice keys)
with about N decisions, runs it, then measures, in one script run:

1. ``evalharness view RUN`` from process start to its printed URL, and within it ``open_review``
   — reading the run (columnar decisions, items) and building the review table
   and the disagreement queue, as ``evalharness view`` does before it listens;
2. ``GET /api/rows`` over HTTP for a set of filters (median of ``--repeats``), server side;
3. headless Chromium: the page from navigation to its first table, and a filter change from the
   hash change to the drawn table (the page's own ``performance.now()`` measure, median).

Prints markdown; paste it into RESULTS.md.
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import scale  # noqa: E402

FILTERS = ["", "policy=hate_speech", "decider=d0&gold=hate&decided=none",
           "slice=market:br&conf_min=0.8", "agree=no", "queue=1", "q=item%201234",
           "policy=violence&decider=d3&outcome=ok&conf_max=0.6&offset=200"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def http_ms(url: str, repeats: int) -> tuple[float, int]:
    times, total = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            total = json.load(response)["total"]
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), total


def browser_ms(url: str, repeats: int) -> tuple[float, float] | None:
    try:
        from playwright import sync_api
    except ImportError:
        return None
    import shutil

    chromium = os.environ.get("EVALHARNESS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        load = 1000 * (time.perf_counter() - start)
        changes = []
        for k in range(repeats):
            state = FILTERS[1 + k % (len(FILTERS) - 1)]
            page.evaluate("s => { location.hash = s; }", state)
            page.wait_for_function("s => document.body.dataset.state === '#' + s", arg=state,
                                   timeout=60_000)
            changes.append(float(page.evaluate("document.body.dataset.loadedMs")))
        browser.close()
    return load, statistics.median(changes)


def command_ready_s(run: Path) -> float:
    """Seconds from starting ``evalharness view RUN`` to its printed URL (it then serves)."""
    import signal
    import subprocess

    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "evalharness", "view", str(run)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    process.stdout.readline()
    ready = time.perf_counter() - start
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    return ready


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from evalharness import run_eval
    from evalharness.api import open_review
    from evalharness.review.server import ViewServer

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = scale.make_case(work, args.decisions)
        os.environ["EVALHARNESS_HOME"] = str(work / "home")
        run = run_eval(config, out_dir=work / "runs", run_id="r", live_progress=False).run_dir
        start = time.perf_counter()
        state = open_review([run])
        opened = time.perf_counter() - start
        n = state.table.n
        ready = statistics.median(command_ready_s(run) for _ in range(3))
        rows = []
        with ViewServer(state) as server:
            for query in FILTERS:
                ms, total = http_ms(f"{server.url}api/rows?{query}", args.repeats)
                rows.append((query or "(none)", total, ms))
            page = browser_ms(server.url, args.repeats)
    print(f"## viewer.py — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
          f"({platform.machine()}, {os.cpu_count()} cores, load {load_before:.2f} -> "
          f"{os.getloadavg()[0]:.2f})\n")
    print(f"{n:,} decisions ({args.decisions:,} asked), median of {args.repeats}:\n")
    print(f"- `evalharness view RUN`, process start to serving (median of 3): **{ready:.2f} s**")
    print(f"- of which open_review (read the run, build rows and queue): **{opened:.2f} s**")
    if page is not None:
        print(f"- headless Chromium: page to first table **{page[0]:.0f} ms**; a filter change "
              f"to the drawn table **{page[1]:.0f} ms** (median)")
    print("\n| filter | matching | GET /api/rows ms |")
    print("|---|---:|---:|")
    for query, total, ms in rows:
        print(f"| `{query}` | {total:,} | {ms:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
