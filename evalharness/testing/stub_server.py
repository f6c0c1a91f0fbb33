"""A small, real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

In-process (a background thread running an aiohttp server on its own event loop)::

    with StubServer(latency_s=0.2, fault_times=2) as server:
        openai.OpenAI(base_url=server.url, api_key="x").chat.completions.create(...)
        server.stats()["completions"]

As a separate process (benchmarks, tests that SIGKILL a run)::

    python -m evalharness.testing.stub_server --port 8011 --latency 0.2
    # prints "listening on http://127.0.0.1:8011/v1" once ready

or :class:`StubProcess`, which starts that command and waits for the line.

The endpoints, statistics and faults are described in :mod:`.stub_app`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any


from .faults import RANDOM_KINDS, Fault, RandomFaults, parse_fault
from .stub_model import DEFAULT_VIOLATING_WORDS

from .stub_app import StubApp


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


class StubServer:
    """The stub server in a background thread of this process.

    Parameters
    ----------
    port
        TCP port on 127.0.0.1; 0 picks a free one (see :attr:`port` / :attr:`url` after start).
    latency_s
        Seconds every answered completion waits before replying (status faults do not wait).
    violating_words
        Words (case-insensitive, matched at a word start) that make the item violating.
    json_schema_supported
        When False, ``response_format: {"type": "json_schema"}`` gets a 400; ``json_object``
        always works. (llama-cpp-python's server rejects ``json_schema`` too, but with a 500
        carrying a pydantic ``literal_error``.)
    refusal_word, offlabel_word
        Case-sensitive trigger words in the item text: an OpenAI-style refusal, or an off-label
        answer (``"I think it might be hateful"``). None disables.
    confidence
        The chosen label's probability, in JSON replies and in logprobs.
    model
        The model id listed by ``/v1/models`` (replies echo the requested model).
    fault_times
        N for the built-in markers: FAULT429, FAULT500, FAULTHANG, FAULTJSON fail the first N
        attempts of each conversation (0 turns them off); FAULTALWAYS500 always fails.
    faults
        Extra or overriding markers: ``{"FAULT503": Fault("503", 2)}`` or ``{"FAULT503": "503:2"}``.
    hang_s
        How long FAULTHANG requests sleep (ended early by stop()).
    retry_after_s
        ``Retry-After`` of injected 429s (a fraction also sends ``retry-after-ms``).
    fault_rate, fault_seed, fault_kinds, fault_max_times, fault_always_share
        Seeded random faults (:class:`.faults.RandomFaults`): a ``fault_rate`` share of distinct
        conversations gets a kind from ``fault_kinds`` (default: every kind), failing always
        (``fault_always_share`` of them) or its first 1..``fault_max_times`` attempts. What was
        planned and injected is in ``stats()["random_faults"]``. None = off.
    echo_headers
        Error answers quote the request's headers, Authorization included (as some proxies do).
    rate_limit_rps, rate_limit_burst
        A global token bucket: requests over it get 429 with ``Retry-After``. None = no limit.
    upstream
        Proxy mode: forward completions and models to this OpenAI-compatible base URL (e.g. a
        ``python -m llama_cpp.server``), after rate limit, faults and latency; count requests.
    upstream_timeout_s
        Total timeout of one forwarded request.
    vision
        Whether the model takes image parts (checked: base64 data URLs of real images); without
        it every image part is a 400, as a text-only model answers.
    batch_duration_s, batch_answer_limit
        The Batch API (:mod:`.stub_batches`): seconds from a batch's creation to its end, and
        how many lines a batch answers before it expires (None: all).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        latency_s: float = 0.0,
        violating_words: Sequence[str] = DEFAULT_VIOLATING_WORDS,
        json_schema_supported: bool = True,
        refusal_word: str | None = "REFUSEME",
        offlabel_word: str | None = "RAMBLE",
        confidence: float = 0.9,
        model: str = "stub",
        fault_times: int = 1,
        faults: Mapping[str, Fault | str] | None = None,
        hang_s: float = 30.0,
        retry_after_s: float = 1,
        rate_limit_rps: float | None = None,
        rate_limit_burst: float | None = None,
        upstream: str | None = None,
        upstream_timeout_s: float = 300.0,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        require_model: bool = False,
        fault_rate: float | None = None,
        fault_seed: int = 0,
        fault_kinds: Sequence[str] = RANDOM_KINDS,
        fault_max_times: int = 3,
        fault_always_share: float = 0.25,
        echo_headers: bool = False,
        vision: bool = True,
        batch_duration_s: float = 0.3,
        batch_answer_limit: int | None = None,
    ) -> None:
        random_faults = None if fault_rate is None else RandomFaults(
            fault_rate, fault_seed, kinds=fault_kinds, max_times=fault_max_times,
            always_share=fault_always_share)
        self._stub = StubApp(
            latency_s=latency_s, violating_words=violating_words,
            json_schema_supported=json_schema_supported, refusal_word=refusal_word,
            offlabel_word=offlabel_word, confidence=confidence, model=model,
            fault_times=fault_times, faults=faults, hang_s=hang_s, retry_after_s=retry_after_s,
            rate_limit_rps=rate_limit_rps, rate_limit_burst=rate_limit_burst, upstream=upstream,
            upstream_timeout_s=upstream_timeout_s, api_key=api_key, require_model=require_model,
            random_faults=random_faults, echo_headers=echo_headers, vision=vision,
            batch_duration_s=batch_duration_s, batch_answer_limit=batch_answer_limit,
        )
        self.host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (for /health, /stats, /reset)."""
        return f"http://{self.host}:{self._port}"

    @property
    def url(self) -> str:
        """The OpenAI base URL: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.base_url}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every completion and models request so far: t, path, item, text, marker, fault,
        status (None if the client went away or the server stopped), answer, latency_s."""
        return self._stub.request_log()

    def stats(self, *, requests: bool = False) -> dict[str, Any]:
        """What ``GET /stats`` returns (format in the module docstring)."""
        return self._stub.stats(requests=requests)

    def reset(self) -> None:
        """What ``POST /reset`` does: forget requests, fault attempts and cached prefixes."""
        self._stub.reset()

    def start(self) -> StubServer:
        if self._thread is not None:
            raise RuntimeError("the stub server is already running")
        sock = _bind(self.host, self._port)
        self._port = sock.getsockname()[1]
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._stub.serve(sock, ready))
            except BaseException as exc:  # surfaced by start()/stop()
                self._error = exc
                ready.set()
            finally:
                try:
                    self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                finally:
                    self._loop.close()
                    sock.close()

        self._thread = threading.Thread(target=run, name=f"stub-server-{self._port}", daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the stub server did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; in-flight hangs and sleeps end at once. Returns within ~1 s."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._stub.request_stop)
            except RuntimeError:  # the loop closed in between
                pass
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the stub server thread did not stop within {timeout} s")
        self._thread = self._loop = None

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m evalharness.testing.stub_server",
        description="A deterministic OpenAI-compatible server on loopback, with fault injection. "
                    "Prints 'listening on http://HOST:PORT/v1' when ready.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--latency", type=float, default=0.0, metavar="S",
                   help="seconds every answered completion waits (default 0)")
    p.add_argument("--violating-words", default=",".join(DEFAULT_VIOLATING_WORDS),
                   metavar="W1,W2", help="comma-separated words that make an item violating")
    p.add_argument("--no-json-schema", action="store_true",
                   help="reject response_format json_schema with 400 (llama-cpp-python's "
                        "server rejects it too, with a 500)")
    p.add_argument("--refusal-word", default="REFUSEME", help="'' disables")
    p.add_argument("--offlabel-word", default="RAMBLE", help="'' disables")
    p.add_argument("--confidence", type=float, default=0.9)
    p.add_argument("--model", default="stub", help="model id listed by /v1/models")
    p.add_argument("--fault-times", type=int, default=1, metavar="N",
                   help="N for the built-in markers FAULT429/500/HANG/JSON (default 1)")
    p.add_argument("--fault", action="append", default=[], metavar="MARKER=KIND[:TIMES]",
                   help="add or override a marker; KIND is a fault kind (hang, badjson, "
                        "truncated, reset, html, empty_choices, 429bare) or a 4xx/5xx status, "
                        "TIMES an integer or 'always' (repeatable)")
    p.add_argument("--hang", type=float, default=30.0, metavar="S",
                   help="how long FAULTHANG requests sleep (default 30)")
    p.add_argument("--retry-after", type=float, default=1, metavar="S",
                   help="Retry-After of injected 429s (default 1)")
    p.add_argument("--fault-rate", type=float, default=None, metavar="P",
                   help="seeded random faults: this share of distinct conversations is faulted")
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("--fault-kinds", default=",".join(RANDOM_KINDS), metavar="K1,K2",
                   help="kinds random faults draw from (default: all)")
    p.add_argument("--fault-max-times", type=int, default=3, metavar="N")
    p.add_argument("--fault-always-share", type=float, default=0.25, metavar="P")
    p.add_argument("--echo-headers", action="store_true",
                   help="error answers quote the request headers (Authorization included)")
    p.add_argument("--api-key-env", default=None, metavar="NAME",
                   help="require the key in this environment variable (others get 401)")
    p.add_argument("--rate-limit-rps", type=float, default=None)
    p.add_argument("--rate-limit-burst", type=float, default=None)
    p.add_argument("--upstream", default=None, metavar="URL",
                   help="proxy mode: forward to this OpenAI-compatible base URL")
    p.add_argument("--upstream-timeout", type=float, default=300.0, metavar="S")
    p.add_argument("--batch-duration", type=float, default=0.3, metavar="S",
                   help="Batch API: seconds from a batch's creation to its end")
    p.add_argument("--batch-answer-limit", type=int, default=None, metavar="N",
                   help="Batch API: lines a batch answers before it expires")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        faults = dict(parse_fault(spec) for spec in args.fault)
        random_faults = None if args.fault_rate is None else RandomFaults(
            args.fault_rate, args.fault_seed, kinds=[k for k in args.fault_kinds.split(",") if k],
            max_times=args.fault_max_times, always_share=args.fault_always_share)
        stub = StubApp(
            latency_s=args.latency,
            violating_words=[w.strip() for w in args.violating_words.split(",") if w.strip()],
            json_schema_supported=not args.no_json_schema,
            refusal_word=args.refusal_word or None, offlabel_word=args.offlabel_word or None,
            confidence=args.confidence, model=args.model, fault_times=args.fault_times,
            faults=faults, hang_s=args.hang, retry_after_s=args.retry_after,
            rate_limit_rps=args.rate_limit_rps, rate_limit_burst=args.rate_limit_burst,
            upstream=args.upstream, upstream_timeout_s=args.upstream_timeout,
            random_faults=random_faults, echo_headers=args.echo_headers,
            api_key=os.environ[args.api_key_env] if args.api_key_env else None,
            batch_duration_s=args.batch_duration, batch_answer_limit=args.batch_answer_limit,
        )
        sock = _bind(args.host, args.port)
    except (ValueError, OSError, KeyError) as exc:
        print(f"stub_server: {exc}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stub.request_stop)
        await stub.serve(sock, on_ready=lambda: print(
            f"listening on http://{args.host}:{port}/v1", flush=True))

    try:
        asyncio.run(run())
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
