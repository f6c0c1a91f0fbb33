"""What a command imports before it does anything: the public names load on first use, and a run
imports the analysis stack only while its model calls are awaited (:mod:`evalharness.execution.warmup`)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

import evalharness
from evalharness import api
from evalharness.execution.warmup import Warmup

ANALYSIS = ("scipy.stats", "statsmodels", "sklearn", "evalharness.scoring", "evalharness.report")


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {ANALYSIS!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.split()


def test_the_cli_and_the_run_api_import_no_analysis_before_they_are_used() -> None:
    assert _imported_after("import evalharness.cli.main") == []
    assert _imported_after("from evalharness import run_eval") == []
    # and the lazy names really are the analysis modules when asked for
    assert _imported_after("from evalharness import write_report") == list(ANALYSIS)


@pytest.mark.parametrize("package", [evalharness, api])
def test_every_public_name_resolves_and_unknown_names_raise(package) -> None:
    assert len(package.__all__) > 10
    for name in package.__all__:
        assert getattr(package, name) is not None, name
        assert name in dir(package)
    with pytest.raises(AttributeError, match="no attribute 'run_evall'"):
        package.run_evall  # noqa: B018


def test_warmup_steps_wait_for_begin_and_are_joined_at_the_end() -> None:
    begin, ran = threading.Event(), []
    with Warmup([lambda: ran.append("a"), lambda: ran.append("b")], begin):
        time.sleep(0.05)
        assert ran == []  # nothing before a model has answered
        begin.set()
    assert ran == ["a", "b"]


def test_warmup_runs_its_steps_at_the_end_when_begin_never_came() -> None:
    ran: list[str] = []
    with Warmup([lambda: ran.append("a")], threading.Event()):
        pass
    assert ran == ["a"]


def test_a_failing_step_ends_the_warmup_quietly() -> None:
    ran: list[str] = []

    def fail() -> None:
        raise ImportError("no such module")

    with Warmup([fail, lambda: ran.append("later")], threading.Event()):
        pass
    assert ran == []


def test_an_interrupted_block_does_not_wait_for_the_warmup() -> None:
    release = threading.Event()
    begin = threading.Event()
    begin.set()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with Warmup([lambda: release.wait(30)], begin):
            raise KeyboardInterrupt
    assert time.monotonic() - started < 5
    release.set()


def test_an_interrupted_block_drops_the_steps_not_begun() -> None:
    ran: list[str] = []
    warmup = Warmup([lambda: ran.append("a")], threading.Event())
    with pytest.raises(KeyboardInterrupt):
        with warmup:
            raise KeyboardInterrupt
    assert warmup._thread is not None
    warmup._thread.join(5)
    assert not warmup._thread.is_alive() and ran == []  # woken, and stopped without running
