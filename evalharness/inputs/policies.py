"""Policy files: the label set, the violating labels and the prompt, with a content hash."""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ..records.base import Strict
from ..records.errors import PolicyError, did_you_mean
from ..records import OUTCOMES_NOT_OK, GoldenItem, Turn
from .yamlfile import load_yaml, parse_model

PLACEHOLDER = re.compile(r"\{(text|context|(?:fields|meta)\.[A-Za-z_][\w-]*)\}")
"""What a prompt may show of an item: ``{text}``, ``{context}`` (its earlier turns),
``{fields.<name>}`` and ``{meta.<key>}``; any other brace is literal text."""
_BRACED_WORD = re.compile(r"\{([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)?)\}")
"""A brace around one (dotted) word: a placeholder, or a mistyped one (``{Text}``, ``{field.x}``)."""
_ITEM_PARTS = ("text", "context", "fields.")
"""A prompt must show at least one of these (meta alone is not the item)."""
NO_CONTEXT = "(no earlier messages)"
"""What ``{context}`` shows for an item that starts its conversation."""
_LABEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TAG = re.compile(r"<([A-Za-z][\w-]*)>")
# A fake delimiter inside an item may hide invisible characters or be spelt as an entity,
# fullwidth or escaped; all of these are neutralised (see Policy.render_user).
_GAP = r"[\s\\\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*"
_OPEN = r"(?:<|＜|&lt;?|&#0*60;?|&#x0*3c;?|\\u003c|\\x3c)"
_CLOSE = r"(?:>|＞|&gt;?|&#0*62;?|&#x0*3e;?|\\u003e|\\x3e)"


class PolicyLabel(Strict):
    name: str
    """Lower-case word the decider answers with, e.g. ``hate`` or ``none``."""
    description: str = ""
    """What the label means, shown to policy owners and in the prompt."""

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not _LABEL_NAME.match(name):
            raise ValueError("label names are lower-case words: letters, digits and _")
        if name in OUTCOMES_NOT_OK:
            raise ValueError(f"{name!r} is reserved for outcomes; choose another name")
        return name


class Example(Strict):
    """A few-shot example shown to the model before the item; it gives what the prompt shows
    of an item (``fields``, ``meta``, ``context`` when the prompt uses them)."""

    text: str
    label: str
    fields: dict[str, Any] = Field(default_factory=dict, exclude_if=operator.not_)
    meta: dict[str, Any] = Field(default_factory=dict, exclude_if=operator.not_)
    context: list[Turn] = Field(default_factory=list, exclude_if=operator.not_)
    """(Left out of the prompt hash when empty, as ``fields`` and ``meta`` are, so examples
    without them keep the hash they had.)"""


class Prompt(Strict):
    system: str
    """Static policy text; it comes first so provider prompt caching and llama.cpp prefix reuse
    work. Must not show the item (no ``{text}``, ``{fields.<name>}``...)."""
    user: str
    """The item message: ``{text}``, and for structured items ``{fields.<name>}``,
    ``{meta.<key>}`` and ``{context}``, each at most once, inside delimiters such as
    ``<item>...</item>``."""

    @model_validator(mode="after")
    def _placeholder(self) -> Prompt:
        shown = PLACEHOLDER.search(self.system)
        if shown:
            raise ValueError(f"prompt.system must not contain {shown.group(0)}: the item goes in "
                             "prompt.user")
        for word in _BRACED_WORD.findall(self.user):
            if not PLACEHOLDER.fullmatch(f"{{{word}}}"):
                raise ValueError(f"prompt.user has {{{word}}}, which is no part of an item: use "
                                 "{text}, {context}, {fields.<name>} or {meta.<key>}")
        used = self.placeholders
        if not any(part.startswith(_ITEM_PARTS) for part in used):
            raise ValueError("prompt.user must show the item: {text} exactly once (or "
                             "{fields.<name>} / {context})")
        twice = sorted({name for name in used if used.count(name) > 1})
        if twice:
            raise ValueError(f"prompt.user shows {{{twice[0]}}} more than once; show it once")
        return self

    @property
    def placeholders(self) -> list[str]:
        """The item parts ``user`` shows, in order (``text``, ``fields.title``...)."""
        return PLACEHOLDER.findall(self.user)


class Severity(Strict):
    """Ordered labels and the enforcement action each one calls for."""

    order: list[str] = Field(min_length=2)
    """Every label of the policy once, least severe first (e.g. ``[none, low, high]``)."""
    actions: dict[str, str] = Field(default_factory=dict)
    """The enforcement action of each label (e.g. ``{none: allow, low: limit, high: remove}``).
    Actions are as severe as their labels: ordered as they first appear along ``order``, so each
    action's labels come together. Default: each label is its own action."""

    def action_of(self, label: str) -> str:
        return self.actions.get(label, label)

    @property
    def action_order(self) -> list[str]:
        """The actions, mildest first."""
        return list(dict.fromkeys(self.action_of(label) for label in self.order))


class Policy(Strict):
    """One moderation policy as a decider sees it."""

    id: str
    """Stable id, equal to the file name without ``.yaml``."""
    version: str
    """Bump when the policy text or labels change; recorded with every run."""
    owner: str
    """Who signs off on changes (a team or person)."""
    description: str
    labels: list[PolicyLabel] = Field(min_length=2)
    violating: list[str] = Field(min_length=1)
    """The labels that mean the content breaks the policy (auto-action targets)."""
    prompt: Prompt
    variants: dict[str, Prompt] = Field(default_factory=dict)
    """Alternative prompts (e.g. ``terse``) that an llm decider can run with ``prompt_variants``."""
    examples: list[Example] = Field(default_factory=list)
    severity: Severity | None = Field(default=None, exclude_if=lambda v: v is None)
    """Ordered severities and their enforcement actions, for ordinal metrics (weighted κ,
    under- and over-enforcement by action) and per-action routing targets."""

    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _label_set(self) -> Policy:
        names = self.label_names
        if len(set(names)) != len(names):
            raise ValueError("labels: each label name may appear once")
        unknown = [v for v in self.violating if v not in names]
        if unknown:
            raise ValueError(f"violating: {unknown} not in labels {names}")
        if set(self.violating) == set(names):
            raise ValueError("violating: at least one label must be non-violating")
        for i, ex in enumerate(self.examples):
            if ex.label not in names:
                raise ValueError(f"examples: label {ex.label!r} not in labels {names}")
            for prompt in (self.prompt, *self.variants.values()):
                lacking = missing_parts(prompt, ex)
                if lacking:
                    raise ValueError(f"examples[{i}] has no {lacking[0]}, which the prompt shows "
                                     f"({{{lacking[0]}}}); give it one")
        if self.severity is not None:
            _check_severity(self.severity, names, self.violating)
        if "default" in self.variants:
            raise ValueError("variants: `default` is the name of prompt:; choose another name")
        return self

    def prompt_for(self, variant: str = "default") -> Prompt:
        """The prompt of ``variant`` (``default`` is ``prompt:``)."""
        if variant == "default":
            return self.prompt
        if variant not in self.variants:
            raise KeyError(variant)
        return self.variants[variant]

    @cached_property
    def label_names(self) -> list[str]:
        """The labels' names in order (worked out once: a run asks for them per decision)."""
        return [label.name for label in self.labels]

    @property
    def path(self) -> Path | None:
        return self._path

    @cached_property
    def prompt_hash(self) -> str:
        """sha256 of everything that changes what a decider is asked (default prompt)."""
        return self.prompt_hash_for("default")

    def prompt_hash_for(self, variant: str) -> str:
        payload = {
            "labels": [label.model_dump() for label in self.labels],
            "violating": self.violating,
            "prompt": self.prompt_for(variant).model_dump(),
            "examples": [ex.model_dump() for ex in self.examples],
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def render_user(self, item: Shown | str, variant: str = "default") -> str:
        """The user message for ``item`` (or a bare text): each part the template shows, with
        the template's delimiters neutralised inside it (also spelt with invisible characters
        inside, as entities, fullwidth or escaped). The work plan has checked that every item
        has the parts its policy's prompt shows (:func:`missing_parts`)."""
        return render_template(self.prompt_for(variant).user, item)

    def messages(
        self, item: Shown | str, *, answer_instruction: str = "", variant: str = "default",
        example_reply: Callable[[str], str] = str,
    ) -> list[dict[str, str]]:
        """Chat messages: policy text (plus the decider's answer format), examples, then the item.

        ``example_reply`` turns an example's label into the reply the decider expects (e.g. JSON),
        so few-shot answers show the same format the model is asked for."""
        system = self.prompt_for(variant).system.rstrip()
        if answer_instruction:
            system = f"{system}\n\n{answer_instruction}"
        msgs = [{"role": "system", "content": system}]
        for ex in self.examples:
            msgs.append({"role": "user", "content": self.render_user(ex, variant)})
            msgs.append({"role": "assistant", "content": example_reply(ex.label)})
        msgs.append({"role": "user", "content": self.render_user(item, variant)})
        return msgs


def _check_severity(severity: Severity, labels: list[str], violating: list[str]) -> None:
    if sorted(severity.order) != sorted(labels):
        raise ValueError(f"severity.order must list every label once: {labels}")
    unknown = sorted(set(severity.actions) - set(labels))
    if unknown:
        raise ValueError(f"severity.actions: {unknown} not in labels {labels}")
    if severity.actions and set(severity.actions) != set(labels):
        raise ValueError(f"severity.actions: give every label an action: {labels}")
    rank = {action: i for i, action in enumerate(severity.action_order)}
    ranks = [rank[severity.action_of(label)] for label in severity.order]
    if ranks != sorted(ranks):
        raise ValueError("severity.actions: a more severe label may not call for a milder "
                         "action than a less severe one: list each action's labels together")
    first_bad = next(i for i, label in enumerate(severity.order) if label in violating)
    if any(label not in violating for label in severity.order[first_bad:]):
        raise ValueError("severity.order: the violating labels must be the most severe ones, "
                         "after every label that is not violating")


Shown = GoldenItem | Example
"""What a prompt can show: an item of the golden set, or a few-shot example."""


def render_template(template: str, item: Shown | str) -> str:
    """``template`` (a ``prompt.user``) for ``item``: each part it shows, with the template's
    delimiters neutralised inside it (see :meth:`Policy.render_user`)."""
    tags = set(_TAG.findall(template))

    def neutral(text: str) -> str:
        for tag in tags:
            name = _GAP.join(re.escape(c) for c in tag)
            text = re.sub(rf"{_OPEN}{_GAP}([/／]?){_GAP}{name}\b[^>＞]*?{_CLOSE}",
                          lambda m, t=tag: f"[{'/' if m.group(1) else ''}{t}]", text, flags=re.I)
        return text

    return PLACEHOLDER.sub(lambda m: neutral(part_text(item, m.group(1))), template)


def part_text(item: Shown | str, part: str) -> str:
    """The text of ``part`` (a :data:`PLACEHOLDER` name) of ``item``; a bare string is an item
    with only a text."""
    if isinstance(item, str):
        return item if part == "text" else ""
    if part == "text":
        return item.text
    if part == "context":
        return "\n".join(f"{_one_line(turn.role)}: {_one_line(turn.text)}"
                         for turn in item.context) or NO_CONTEXT
    value = _keyed(item, part)
    return "" if value is None else str(value)


def _one_line(text: str) -> str:
    """A turn's text on one line, so that no line break inside it can start a forged turn."""
    return " ".join(text.split("\n")).replace("\r", " ")


def missing_parts(prompt: Prompt, item: Shown) -> list[str]:
    """The parts ``prompt`` shows that ``item`` lacks: a ``fields.<name>`` or ``meta.<key>``
    absent or null (an empty ``context`` is a conversation's first message, not a gap)."""
    return [part for part in prompt.placeholders
            if part not in ("text", "context") and _keyed(item, part) is None]


def _keyed(item: Shown, part: str) -> Any:
    """The value of ``fields.<name>`` or ``meta.<key>`` (None when absent)."""
    head, _, key = part.partition(".")
    return (item.fields if head == "fields" else item.meta).get(key)


def load_policy(path: Path) -> Policy:
    """Load and check one policy file."""
    doc = load_yaml(path, PolicyError)
    policy = parse_model(Policy, doc, PolicyError,
                         fix="compare with the shipped policies/*.yaml (README.md, ## Policies)")
    assert isinstance(policy, Policy)
    if policy.id != path.stem:
        raise PolicyError(
            f"id {policy.id!r} differs from the file name",
            file=str(path),
            line=doc.line_of(("id",)),
            field="id",
            fix=f"rename the file to {policy.id}.yaml or set id: {path.stem}",
        )
    policy._path = path
    return policy


def find_policy(policy_id: str, policies_dir: Path) -> Path:
    """The file of ``policy_id`` in ``policies_dir``."""
    path = policies_dir / f"{policy_id}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in policies_dir.glob("*.yaml"))
        close = did_you_mean(policy_id, known)
        hint = f"did you mean {close!r}? Or use one of {known}" if close else f"use one of {known}"
        raise PolicyError(
            f"no policy {policy_id!r} in {policies_dir}",
            file=str(path),
            fix=hint if known else "create the policy file",
        )
    return path
