"""The stub server as a child process: :func:`command` starts ``python -m
evalharness.testing.stub_server`` cheaply, :class:`StubProcess` waits for it to listen."""


from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from typing import Any



# Runs this module as __main__ without executing evalharness/__init__.py: the child then starts
# in ~0.3 s instead of ~2 s, and a broken or half-edited module elsewhere in the package cannot
# stop the test server from starting. evalharness.testing imports nothing from the package.
_BOOTSTRAP = (
    "import runpy, sys, types; pkg = types.ModuleType('evalharness'); pkg.__path__ = [{root!r}]; "
    "sys.modules['evalharness'] = pkg; "
    "runpy.run_module('evalharness.testing.stub_server', run_name='__main__', alter_sys=True)"
)


def command(python: str = sys.executable) -> list[str]:
    """The argv that starts the stub server CLI (add flags after it), without importing the
    rest of the evalharness package; equivalent to ``python -m evalharness.testing.stub_server``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [python, "-c", _BOOTSTRAP.format(root=root)]


class StubProcess:
    """The stub server as a child process (see :func:`command`).

    ``args`` are CLI flags (see ``--help``), e.g. ``StubProcess("--latency", "0.2")``. The port is
    picked by the child when ``port=0``; :attr:`url` is known once :meth:`start` returns.
    """

    def __init__(self, *args: str, port: int = 0, python: str = sys.executable,
                 env: Mapping[str, str] | None = None, ready_timeout_s: float = 30.0) -> None:
        self.args = list(args)
        self.port = port
        self.python = python
        self.env = dict(env) if env is not None else None
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._stderr: Any = None

    @property
    def base_url(self) -> str:
        return self.url.removesuffix("/v1")

    def start(self) -> StubProcess:
        self._stderr = tempfile.TemporaryFile()
        cmd = [*command(self.python), "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, env=self.env)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.ready_timeout_s
        line = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                chunk = os.read(self.proc.stdout.fileno(), 1)
                if not chunk:
                    break
                line += chunk
        text = line.decode(errors="replace").strip()
        if not text.startswith("listening on "):
            self.kill()
            self._stderr.seek(0)
            err = self._stderr.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"stub server did not start: {text!r}\n{err}")
        self.url = text.removeprefix("listening on ")
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        return self

    def _get(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(self.base_url + path, method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self, *, requests: bool = False) -> dict[str, Any]:
        return self._get("/stats?requests=1" if requests else "/stats")

    def reset(self) -> None:
        self._get("/reset", method="POST")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._close()

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> StubProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
