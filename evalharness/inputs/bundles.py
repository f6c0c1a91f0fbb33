"""Policy bundles: several policies asked of a model in one call per item.

A bundle's prompt puts every policy's own text one after the other in one static system message
(so provider prompt caching and llama.cpp prefix reuse still apply across items), then the item,
shown once by the template the policies share. The model answers every policy's label at once;
each answer becomes that policy's decision, as if it had been asked alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..records import GoldenItem
from .policies import Policy, render_template

__all__ = ["BUNDLE_PREAMBLE", "Bundle", "answer_schema", "json_answer", "shares", "text_answer"]

BUNDLE_PREAMBLE = (
    "You moderate one item under several policies at once. Judge it under each policy "
    "separately, by that policy's own text below: one policy's answer does not decide another's."
)


@dataclass(frozen=True)
class Bundle:
    """Named policies asked in one call; ``policies`` in the config's bundle order."""

    name: str
    policies: tuple[Policy, ...]
    user: str | None = None
    """The item message's template; default: the ``prompt.user`` the policies share."""

    @property
    def ids(self) -> list[str]:
        return [policy.id for policy in self.policies]

    def mismatched_user(self) -> Policy | None:
        """The first policy whose ``prompt.user`` differs from the first policy's (the item is
        shown once, so they must agree), or None; None too when the bundle has its own."""
        if self.user is not None:
            return None
        first = self.policies[0].prompt.user
        return next((p for p in self.policies[1:] if p.prompt.user != first), None)

    @cached_property
    def system(self) -> str:
        """Every policy's text, each under a heading naming its id and labels."""
        parts = [BUNDLE_PREAMBLE]
        for policy in self.policies:
            parts.append(f"### Policy {policy.id} (labels: {', '.join(policy.label_names)})\n\n"
                         f"{policy.prompt.system.strip()}")
        return "\n\n".join(parts)

    @cached_property
    def prompt_hash(self) -> str:
        """sha256 of what changes the bundled call: its name, order and each policy's prompt."""
        blob = json.dumps([self.name, [[p.id, p.prompt_hash] for p in self.policies], self.user])
        return hashlib.sha256(blob.encode()).hexdigest()

    def messages(self, item: GoldenItem, answer_instruction: str) -> list[dict[str, Any]]:
        """System (the policies and the answer format), then the item as the policies show it
        (few-shot examples are not shown: each is one policy's)."""
        return [{"role": "system", "content": f"{self.system}\n\n{answer_instruction}"},
                {"role": "user", "content": render_template(
                    self.user or self.policies[0].prompt.user, item)}]



def shares(total: int, parts: int) -> list[int]:
    """``total`` (tokens) split into ``parts``, the remainder to the first ones, so the shares
    add up to it exactly."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def json_answer(bundle: Bundle) -> str:
    """The instruction for a JSON answer with one key per policy."""
    keys = ", ".join(f'"{p.id}": {{"label": one of {"/".join(p.label_names)}, "confidence": ...}}'
                     for p in bundle.policies)
    return ("Respond with only a JSON object with one key per policy: {" + keys + "}, where each "
            '"confidence" is your probability (0 to 1) that that label is right.')


def text_answer(bundle: Bundle) -> str:
    """The instruction for a plain-text answer: one ``policy: label`` line per policy."""
    lines = "; ".join(f"{p.id} (one of: {', '.join(p.label_names)})" for p in bundle.policies)
    return (f"Answer with one line per policy, in this order, each `policy: label` with exactly "
            f"one word as the label: {lines}.")


def answer_schema(bundle: Bundle) -> dict[str, Any]:
    """The JSON schema of a bundled answer (strict: every policy, nothing else)."""
    def one(policy: Policy) -> dict[str, Any]:
        return {"type": "object",
                "properties": {"label": {"type": "string", "enum": policy.label_names},
                               "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
                "required": ["label", "confidence"], "additionalProperties": False}

    return {"type": "object", "properties": {p.id: one(p) for p in bundle.policies},
            "required": bundle.ids, "additionalProperties": False}

