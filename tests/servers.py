"""Real servers on 127.0.0.1 for tests, started and stopped by fixtures (every wait is bounded)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def llama_cpp_server(model: Path, alias: str, log: Path) -> Iterator[str]:
    """``python -m llama_cpp.server`` with ``model`` on a free loopback port; yields its /v1 URL.

    Its access log (one line per request) goes to ``log``, so tests can count the requests it saw.
    """
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
             "--port", str(port), "--model_alias", alias, "--logits_all", "true", "--n_ctx", "2048",
             "--n_threads", "2"],
            stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/v1/models", process)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            stop(process)


def completion_requests(log: Path) -> int:
    """Chat completion requests a llama.cpp server has logged so far."""
    return log.read_text(errors="replace").count('"POST /v1/chat/completions HTTP/1.1"')
