"""Bundled llm deciders (``bundle: <name>``): one call per item answers every policy of a bundle.

The runner groups an item's requests into one call (:meth:`~.model.ModelDecider.call_groups`);
every request of the group has the same payload, so the cache holds one answer per item, and
:meth:`parse` reads each policy's decision from it. A policy's decision carries its even share of
the call's cost and tokens, so totals add up to what the call cost; its latency is the call's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..inputs.bundles import Bundle, answer_schema, json_answer, shares, text_answer
from ..inputs.policies import Policy
from ..records import Decision, GoldenItem, Usage
from ..records.errors import DeciderError
from .base import DecisionRequest
from .chat import ChatLlm
from .embedded import EmbeddedLlm, normalised
from .model import ModelDecider
from .parsing import parse_bundle_reply

if TYPE_CHECKING:
    from .llm_options import LlmDeciderConfig

__all__ = ["BundledChatLlm", "BundledEmbeddedLlm"]


class _Bundled(ModelDecider):
    """What both bundled deciders share: the bundle, the grouping by item, the cost split."""

    config: LlmDeciderConfig
    bundle: Bundle
    bundle_user: str | None = None
    """The bundle's own item message (``bundles.<name>.user``), set by the factory."""

    def _check_bundle(self, policies: Sequence[Policy]) -> None:
        name = self.config.bundle
        assert name is not None, "only made for a decider with bundle:"
        self.bundle = Bundle(name, tuple(policies), self.bundle_user)  # in bundle order
        other = self.bundle.mismatched_user()
        if other is not None:
            raise DeciderError(
                f"bundle {name}: {other.id}'s prompt.user differs from {policies[0].id}'s; the "
                "item is shown once, so they must agree", field=f"deciders.{self.config.name}",
                fix="give the bundle's policies the same prompt.user, or run them unbundled")

    @property
    def answers_per_call(self) -> int:
        return len(self.bundle.policies)

    def _asked(self, request: DecisionRequest) -> list[str]:
        """The bundle's policies decided for this item (those it has gold for: the run asks no
        other); the call's cost and tokens are split over them."""
        asked = [pid for pid in self.bundle.ids if pid in request.item.labels]
        return asked if request.policy.id in asked else self.bundle.ids

    def call_groups(self, requests: Sequence[DecisionRequest]) -> list[list[DecisionRequest]]:
        """Each item's requests together, in the order the items first appear."""
        groups: dict[str, list[DecisionRequest]] = {}
        for request in requests:
            groups.setdefault(request.item.id, []).append(request)
        return list(groups.values())

    def _share(self, request: DecisionRequest, usage: dict[str, int]) -> Usage:
        """This policy's share of the call's tokens (the shares of the item's decisions add up
        to the call's)."""
        asked = self._asked(request)
        at = asked.index(request.policy.id)
        return Usage(**{key: shares(int(value), len(asked))[at] for key, value in usage.items()})

    def _cost_share(self, request: DecisionRequest, cost: float) -> float:
        return cost / len(self._asked(request))

    def _describe_bundle(self, described: dict[str, Any]) -> dict[str, Any]:
        return {**described, "bundle": self.bundle.name, "bundle_policies": self.bundle.ids,
                "bundle_prompt_hash": self.bundle.prompt_hash}


class BundledChatLlm(_Bundled, ChatLlm):
    """An endpoint LLM asked every policy of a bundle in one structured-output call."""

    def check(self, policies: list[Policy], items: list[GoldenItem]) -> None:
        super().check(policies, items)
        self._check_bundle(policies)

    def describe(self) -> dict[str, Any]:
        return self._describe_bundle(super().describe())

    def _max_tokens(self) -> int:
        return self.config.max_tokens or (8 if self.mode == "text" else 40) * self.answers_per_call

    def payload(self, request: DecisionRequest) -> dict[str, Any]:
        bundle = self.bundle
        instruction = text_answer(bundle) if self.mode == "text" else json_answer(bundle)
        schema = answer_schema(bundle)
        fmt = {"json_schema": {"type": "json_schema", "json_schema": {
                   "name": "moderation_decisions", "strict": True, "schema": schema}},
               "json_object": {"type": "json_object", "schema": schema}}.get(self.mode)
        return self._body(request.item, bundle.messages(request.item, instruction), fmt,
                          bundle=[bundle.name, [[p.id, p.version] for p in bundle.policies]])

    def parse(self, request: DecisionRequest, response: dict[str, Any], *, cached: bool,
              attempts: int) -> Decision:
        parsed = parse_bundle_reply(response, request.policy.id, request.policy.label_names,
                                    self.mode)
        assert self.price is not None, "check() runs first"
        whole = Usage(**response.get("usage", {}))
        return self.decision(
            request, label=parsed.label, outcome=parsed.outcome, confidence=parsed.confidence,
            confidence_source=parsed.confidence_source, scores=parsed.scores, error=parsed.error,
            raw=None if parsed.outcome == "ok" else (response.get("text") or response.get("refusal")),
            usage=self._share(request, whole.model_dump()),
            cost_usd=self._cost_share(request, self.price.cost(whole)),
            latency_s=response.get("latency_s"), cached=cached, attempts=attempts,
            endpoint=response.get("endpoint"), bundle=self.bundle.name)


class BundledEmbeddedLlm(_Bundled, EmbeddedLlm):
    """The embedded model asked every policy of a bundle in one pass: the prompt is evaluated
    once, then the answer ``policy: label`` lines are scored one policy after the other, each
    label by its log-probability given the labels chosen before it."""

    def check(self, policies: Sequence[Policy], items: Sequence[Any]) -> None:
        super().check(policies, items)
        self._check_bundle(policies)

    def describe(self) -> dict[str, Any]:
        described = self._describe_bundle(super().describe())
        described["scoring"] = ("label log-probability per policy line, normalised over the "
                                "policy's labels, after the labels chosen for earlier policies")
        return described

    def payload(self, request: DecisionRequest) -> dict[str, Any]:
        assert self.model_path is not None, "check() runs first"
        bundle = self.bundle
        return {
            "model": self.model_id,
            "scoring": "bundle-label-logprobs-v1",
            "n_ctx": self.config.n_ctx,
            "bundle": [[p.id, p.version, p.label_names] for p in bundle.policies],
            "messages": bundle.messages(request.item, text_answer(bundle)),
        }

    @property
    def answer_reserve(self) -> int:  # type: ignore[override]
        return 16 * self.answers_per_call

    def _score(self, payload: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        llm = self._llm
        tokens, truncated, shared = self.evaluate_prompt(payload["messages"])
        scores, answer = {}, 0
        for i, (policy_id, _, labels) in enumerate(payload["bundle"]):
            head = llm.tokenize(f"{chr(10) if i else ''}{policy_id}:".encode(), add_bos=False,
                                special=False)
            llm.eval(head)
            logprobs = self.label_logprobs(labels, lead=" ")
            scores[policy_id] = normalised(logprobs)
            chosen = max(logprobs, key=logprobs.__getitem__)
            chosen_tokens = llm.tokenize(f" {chosen}".encode(), add_bos=False, special=False)
            llm.eval(chosen_tokens)
            answer += len(head) + len(chosen_tokens)
        return {
            "scores": scores,
            "usage": {"prompt_tokens": len(tokens), "completion_tokens": answer,
                      "cached_tokens": shared},
            "truncated": truncated,
            "latency_s": time.perf_counter() - start,
        }

    def parse(self, request: DecisionRequest, response: dict[str, Any], *, cached: bool,
              attempts: int) -> Decision:
        scores = response["scores"][request.policy.id]
        label = max(scores, key=scores.__getitem__)
        latency = response["latency_s"]
        return self.decision(
            request, label=label, outcome="ok", confidence=scores[label],
            confidence_source="logprobs", scores=scores, latency_s=latency,
            cost_usd=self._cost_share(request, self.config.compute_cost_per_hour_usd * latency / 3600),
            usage=self._share(request, response["usage"]), truncated=response["truncated"],
            cached=cached, attempts=attempts, bundle=self.bundle.name)
