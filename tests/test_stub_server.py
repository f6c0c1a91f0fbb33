"""The stub OpenAI-compatible server, over real HTTP on loopback (the openai SDK as the client)."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
import urllib.request
from typing import Any

import openai
import pytest

from evalharness.testing import Fault, StubProcess, StubServer, parse_fault

pytestmark = pytest.mark.timeout(60)

SYSTEM = "Decide whether the item is hate speech.\n\nAnswer with exactly one word, one of: hate, none."


def messages(text: str, system: str = SYSTEM) -> list[dict[str, str]]:
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"<item>\n{text}\n</item>"}]


def client(server: StubServer | StubProcess, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="x", max_retries=0, timeout=timeout)


def ask(c: openai.OpenAI, text: str, **kwargs: Any) -> Any:
    return c.chat.completions.create(model="stub", messages=messages(text), **kwargs)


def http_json(url: str, method: str = "GET") -> Any:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture
def server():
    with StubServer() as s:
        yield s


def test_text_mode_answers_the_policy_labels(server: StubServer) -> None:
    c = client(server)
    hateful = ask(c, "I hate those people")
    assert hateful.choices[0].message.content == "hate"
    assert hateful.choices[0].finish_reason == "stop"
    assert ask(c, "lovely weather").choices[0].message.content == "none"
    # without an "one of:" line the labels are violating / none
    plain = c.chat.completions.create(model="stub", messages=messages("what a scam", system="Judge."))
    assert plain.choices[0].message.content == "violating"
    assert http_json(server.url + "/models")["data"][0]["id"] == "stub"
    assert http_json(server.base_url + "/health") == {"status": "ok"}


def test_usage_counts_cached_prefix(server: StubServer) -> None:
    c = client(server)
    first, second = ask(c, "one item"), ask(c, "another item")
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens == 1
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert 0 < second.usage.prompt_tokens_details.cached_tokens < second.usage.prompt_tokens


@pytest.mark.parametrize("fmt", [
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "decision", "schema": {"type": "object"}}},
])
def test_json_modes(server: StubServer, fmt: dict[str, Any]) -> None:
    reply = ask(client(server), "kill them", response_format=fmt)
    assert json.loads(reply.choices[0].message.content) == {"label": "hate", "confidence": 0.9}


def test_json_schema_unsupported_and_stream_are_400() -> None:
    with StubServer(json_schema_supported=False) as s:
        c = client(s)
        with pytest.raises(openai.BadRequestError, match="json_schema"):
            ask(c, "x", response_format={"type": "json_schema",
                                         "json_schema": {"name": "d", "schema": {}}})
        assert json.loads(ask(c, "x", response_format={"type": "json_object"})
                          .choices[0].message.content)["label"] == "none"
        with pytest.raises(openai.BadRequestError, match="stream"):
            ask(c, "x", stream=True)
        assert s.stats()["by_status"] == {"400": 2, "200": 1}


def test_logprobs_shape(server: StubServer) -> None:
    system = "Moderate.\n\nAnswer with exactly one word, one of: hate, abuse, none."
    reply = client(server).chat.completions.create(
        model="stub", messages=messages("you idiot", system=system), logprobs=True, top_logprobs=5)
    content = reply.choices[0].logprobs.content
    assert [t.token for t in content] == ["hate"]
    top = content[0].top_logprobs
    assert [t.token for t in top] == ["hate", "abuse", "none"]
    assert top[0].logprob == content[0].logprob == pytest.approx(math.log(0.9))
    assert sum(math.exp(t.logprob) for t in top) <= 1.0
    assert all(t.bytes == list(t.token.encode()) for t in top)
    # JSON mode: the label token is found among the output tokens; top_logprobs is capped at k
    reply = client(server).chat.completions.create(
        model="stub", messages=messages("fine", system=system), logprobs=True, top_logprobs=2,
        response_format={"type": "json_object"})
    tokens = reply.choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == reply.choices[0].message.content
    label = next(t for t in tokens if t.token == "none")
    assert [t.token for t in label.top_logprobs] == ["none", "hate"]
    assert reply.usage.completion_tokens == len(tokens)


def test_refusal_and_off_label(server: StubServer) -> None:
    c = client(server)
    refused = ask(c, "REFUSEME please").choices[0].message
    assert refused.content is None and refused.refusal
    assert ask(c, "RAMBLE on").choices[0].message.content == "I think it might be hateful"
    assert [r["answer"] for r in server.requests] == ["refusal", "offlabel"]


def test_429_with_retry_after_first_n_attempts() -> None:
    with StubServer(fault_times=2) as s:
        c = client(s)
        for _ in range(2):
            with pytest.raises(openai.RateLimitError) as err:
                ask(c, "FAULT429 item")
            assert err.value.response.headers["retry-after"] == "1"
            assert err.value.response.headers["x-ratelimit-remaining-requests"] == "0"
        assert ask(c, "FAULT429 item").choices[0].message.content == "none"
        stats = s.stats()
        assert stats["faults"]["429"] == 2 and stats["ok"] == 1 and stats["completions"] == 3
        assert stats["fault_markers"]["FAULT429"] == 2


@pytest.mark.parametrize("marker, error", [
    ("FAULT500", openai.InternalServerError),
    ("FAULTJSON", json.JSONDecodeError),
])
def test_status_and_malformed_json_faults_then_success(marker: str, error: type) -> None:
    with StubServer(fault_times=2) as s:
        c = client(s)
        for _ in range(2):
            with pytest.raises(error):
                ask(c, f"hate {marker}")
        assert ask(c, f"hate {marker}").choices[0].message.content == "hate"
        # a different conversation with the same marker has its own attempt count
        with pytest.raises(error):
            ask(c, f"other {marker}")
        kind = {"FAULT500": "500", "FAULTJSON": "badjson"}[marker]
        assert [r["fault"] for r in s.requests] == [kind, kind, None, kind]


def test_always500_never_succeeds(server: StubServer) -> None:
    c = client(server)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            ask(c, "FAULTALWAYS500")
    assert server.stats()["faults"]["500"] == 3


def test_hang_past_client_timeout_then_success() -> None:
    with StubServer(hang_s=30) as s:
        c = client(s, timeout=0.3)
        start = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            ask(c, "FAULTHANG")
        assert time.monotonic() - start < 5
        assert ask(c, "FAULTHANG").choices[0].message.content == "none"
        assert s.stats()["faults"]["hang"] == 1


def test_custom_fault_spec() -> None:
    marker, fault = parse_fault("FAULT503=503:always")
    assert (marker, fault) == ("FAULT503", Fault("503", None))
    with pytest.raises(ValueError):
        parse_fault("FAULTX=teapot")
    with StubServer(faults={"FAULT503": "503:1"}) as s:
        with pytest.raises(openai.InternalServerError) as err:
            ask(client(s), "FAULT503")
        assert err.value.status_code == 503
        assert ask(client(s), "FAULT503").choices[0].message.content == "none"


def test_global_rate_limit() -> None:
    with StubServer(rate_limit_rps=0.5, rate_limit_burst=2) as s:
        c = client(s)
        ask(c, "a"), ask(c, "b")
        with pytest.raises(openai.RateLimitError) as err:
            ask(c, "c")
        assert int(err.value.response.headers["retry-after"]) >= 1
        assert s.stats()["faults"]["rate_limit"] == 1


def test_stats_over_http_and_reset(server: StubServer) -> None:
    c = client(server)
    for text in ("one", "two", "FAULT500 three"):
        try:
            ask(c, text)
        except openai.InternalServerError:
            pass
    stats = http_json(server.base_url + "/stats")
    assert stats == server.stats()
    assert stats["completions"] == 3 and stats["ok"] == 2 and stats["faults"]["500"] == 1
    assert stats["items"] == ["one", "two", "FAULT500 three"]
    assert stats["texts"][0] == "<item>\none\n</item>"
    log = http_json(server.base_url + "/stats?requests=1")["requests"]
    assert [(r["item"], r["status"], r["fault"]) for r in log] == [
        ("one", 200, None), ("two", 200, None), ("FAULT500 three", 500, "500")]
    assert http_json(server.base_url + "/reset", method="POST") == {"status": "ok"}
    assert server.stats()["completions"] == 0 and server.requests == []
    # the fault attempt counter is reset too
    with pytest.raises(openai.InternalServerError):
        ask(c, "FAULT500 three")


def test_proxy_mode_counts_what_reaches_upstream() -> None:
    # fault_times=0: the upstream injects nothing itself, so only the proxy's faults show
    with StubServer(model="upstream-model", fault_times=0) as upstream, \
            StubServer(upstream=upstream.url) as proxy:
        c = client(proxy)
        assert ask(c, "hate them").choices[0].message.content == "hate"
        with pytest.raises(openai.InternalServerError):
            ask(c, "FAULT500")  # injected by the proxy, never forwarded
        assert ask(c, "FAULT500").choices[0].message.content == "none"
        assert [m.id for m in c.models.list()] == ["upstream-model"]
        assert proxy.stats()["completions"] == 3
        assert upstream.stats()["completions"] == 2
        assert upstream.stats()["items"] == ["hate them", "FAULT500"]
    with StubServer(upstream="http://127.0.0.1:9") as dead:  # nothing listens on port 9
        with pytest.raises(openai.APIStatusError) as err:
            ask(client(dead), "x")
        assert err.value.status_code == 502


def test_64_concurrent_slow_requests_do_not_block() -> None:
    async def burst(url: str) -> list[str]:
        async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0, timeout=10) as c:
            replies = await asyncio.gather(*[
                c.chat.completions.create(model="stub", messages=messages(f"item {i}"))
                for i in range(64)])
        return [r.choices[0].message.content for r in replies]

    with StubServer(latency_s=0.5) as s:
        start = time.monotonic()
        labels = asyncio.run(burst(s.url))
        elapsed = time.monotonic() - start
    assert labels == ["none"] * 64
    assert elapsed < 3.0, f"64 requests of 0.5 s took {elapsed:.2f} s: the server serialises"


def test_stop_is_prompt_with_requests_in_flight() -> None:
    s = StubServer(hang_s=30, latency_s=20).start()
    outcomes: list[str] = []
    c = client(s, timeout=30)

    def call(text: str) -> None:
        try:
            ask(c, text)
            outcomes.append("ok")
        except openai.APIError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=call, args=(t,)) for t in ("FAULTHANG", "slow")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while s.stats()["completions"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    start = time.monotonic()
    s.stop()
    assert time.monotonic() - start < 2.0
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 2 and "ok" not in outcomes
    assert not any(t.name.startswith("stub-server") for t in threading.enumerate())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=1).close()


def test_subprocess_serves_and_dies_on_sigkill() -> None:
    proc = StubProcess("--latency", "0.01", "--fault", "FAULT418=418:always").start()
    try:
        c = client(proc)
        assert ask(c, "hate").choices[0].message.content == "hate"
        with pytest.raises(openai.APIStatusError) as err:
            ask(c, "FAULT418")
        assert err.value.status_code == 418
        assert proc.stats()["completions"] == 2
    finally:
        proc.kill()
    assert proc.proc is not None and proc.proc.returncode == -9
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proc.port), timeout=1).close()


@pytest.mark.parametrize("kind", ["reset", "truncated"])
def test_dropped_connections(kind: str) -> None:
    with StubServer(faults={"FAULTX": f"{kind}:1"}) as s:
        with pytest.raises(openai.APIConnectionError) as err:
            ask(client(s), "FAULTX")
        cause = repr(err.value.__cause__)
        assert ("without sending a response" in cause) if kind == "reset" else \
            ("complete message body" in cause), cause
        assert ask(client(s), "FAULTX").choices[0].message.content == "none"
        assert s.requests[0]["status"] is None and s.requests[0]["answer"] == kind
        assert s.stats()["faults"][kind] == 1 and s.stats()["ok"] == 1


def test_html_empty_choices_and_429_without_retry_after() -> None:
    faults = {"FAULTHTML": "html:1", "FAULTEMPTY": "empty_choices:1", "FAULTBARE": "429bare:1"}
    with StubServer(faults=faults) as s:
        c = client(s)
        page = c.chat.completions.with_raw_response.create(model="stub",
                                                           messages=messages("FAULTHTML"))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert isinstance(page.parse(), str) and "<html>" in page.parse()
        assert ask(c, "FAULTEMPTY").choices == []
        with pytest.raises(openai.RateLimitError) as err:
            ask(c, "FAULTBARE")
        assert "retry-after" not in err.value.response.headers
        assert "x-ratelimit-remaining-requests" not in err.value.response.headers
        assert s.stats()["ok"] == 0
        assert all(ask(c, t).choices[0].message.content == "none" for t in faults)
        assert s.stats()["ok"] == 3


def test_fractional_retry_after_also_sends_milliseconds() -> None:
    with StubServer(retry_after_s=0.25) as s:
        with pytest.raises(openai.RateLimitError) as err:
            ask(client(s), "FAULT429")
        headers = err.value.response.headers
        assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "250")


def test_random_faults_are_seeded_bounded_and_recorded() -> None:
    texts = [f"item {i}" for i in range(60)]

    def failing(seed: int) -> tuple[set[str], dict[str, Any]]:
        with StubServer(fault_rate=0.3, fault_seed=seed, fault_kinds=["500", "503"],
                        fault_always_share=0.0, fault_max_times=1, fault_times=0) as s:
            c = client(s)
            failed = set()
            for text in texts:
                try:
                    ask(c, text)
                except openai.InternalServerError:
                    failed.add(text)
            # times=1: each faulted conversation succeeds on its second attempt
            assert all(ask(c, text).choices[0].message.content == "none" for text in failed)
            return failed, s.stats()

    failed, stats = failing(7)
    assert 8 <= len(failed) <= 30, "about 30% of 60 conversations"
    planned = stats["random_faults"]["planned"]
    assert {p["item"] for p in planned} == failed
    assert all(p["times"] == 1 and p["attempts"] == 2 and p["injected"] == 1 for p in planned)
    by_kind = stats["random_faults"]["by_kind"]
    assert sum(k["items"] for k in by_kind.values()) == len(failed)
    assert stats["faults"]["500"] + stats["faults"]["503"] == len(failed)
    assert failing(7)[0] == failed, "the same seed faults the same conversations"
    assert failing(8)[0] != failed


def test_echo_headers_quotes_the_key_in_error_answers() -> None:
    with StubServer(echo_headers=True, faults={"FAULTX": "502:always"}) as s:
        c = openai.OpenAI(base_url=s.url, api_key="sk-echo-me-123456", max_retries=0)
        with pytest.raises(openai.APIStatusError) as err:
            ask(c, "FAULTX")
        assert err.value.status_code == 502 and "Bearer sk-echo-me-123456" in str(err.value)
        assert ask(c, "fine").choices[0].message.content == "none"
