"""Keep secrets out of everything written: error messages, raw outputs, logs."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

# Provider key shapes that error messages sometimes echo in part (e.g. "sk-abc***wxyz").
_KEY_SHAPES = re.compile(r"\b(sk|pk|rk|key|api[-_]?key)[-_][A-Za-z0-9_\-*]{6,}", re.I)


SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET")


def environment_secrets() -> list[str]:
    """Every key-like environment variable's value (``*_KEY``, ``*_TOKEN``, ``*_SECRET``) a client
    library may read on its own (OPENAI_API_KEY, ...)."""
    return [v for k, v in os.environ.items() if k.upper().endswith(SECRET_SUFFIXES) and len(v) >= 8]


def key_and_environment_secrets(key_env: str | None) -> list[str]:
    """The value of the variable ``key_env`` names (when set), and :func:`environment_secrets`:
    what a decider that calls a provider with that key must never write anywhere."""
    key = os.environ.get(key_env) if key_env else None
    found = environment_secrets()
    return [key, *found] if key else found


class Redactor:
    """Replaces every known secret value, and anything shaped like an API key, with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    @classmethod
    def for_deciders(cls, deciders: Iterable[object]) -> Redactor:
        found: list[str] = []
        for decider in deciders:
            secrets = getattr(decider, "secrets", None)
            if callable(secrets):
                found.extend(secrets())
        return cls(found)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return _KEY_SHAPES.sub("[redacted]", text)
