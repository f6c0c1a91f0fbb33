"""Test and benchmark helpers: a real OpenAI-compatible HTTP server on loopback with fault injection.

Not imported by the package itself; tests and ``bench/`` use it (install the ``testing`` extra,
which brings aiohttp)::

    from evalharness.testing import StubServer

    with StubServer(latency_s=0.05) as server:
        client = openai.OpenAI(base_url=server.url, api_key="x")
        ...
        assert server.stats()["completions"] == 1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .faults import DEFAULT_FAULTS, RANDOM_KINDS, Fault, RandomFaults, parse_fault
from .stub_model import StubModel

if TYPE_CHECKING:
    from .stub_process import StubProcess
    from .stub_server import StubServer

__all__ = ["DEFAULT_FAULTS", "RANDOM_KINDS", "Fault", "RandomFaults", "StubModel", "StubProcess",
           "StubServer", "parse_fault"]


def __getattr__(name: str) -> Any:
    # imported on first use, so `python -m evalharness.testing.stub_server` does not find the
    # module already imported by this package (runpy warns and runs it twice otherwise)
    if name == "StubServer":
        from .stub_server import StubServer

        return StubServer
    if name == "StubProcess":
        from .stub_process import StubProcess

        return StubProcess
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
