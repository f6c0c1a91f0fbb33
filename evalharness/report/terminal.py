"""Data text made safe to show on a terminal, in Markdown, HTML and XML.

Item texts, ids, slice values, site names and model output are data: shown, never obeyed. Control
characters (C0, DEL and C1: ESC sequences that recolour, clear the screen or write OSC hyperlinks,
``\\r`` overwrites, null bytes), Unicode format characters (bidi embeddings, overrides and isolates
U+202A–U+202E and U+2066–U+2069, zero-width spaces, invisible tags) and line/paragraph separators
become visible escapes such as ``\\x1b`` and ``\\u202e``, so data can neither drive a terminal nor
reorder or hide the text around it. ZWNJ and ZWJ (U+200C, U+200D) are kept: scripts (Persian,
Indic) and emoji sequences need them, and they reorder nothing.
"""

from __future__ import annotations

import re

__all__ = ["SHOWN_AS_ESCAPE", "terminal_safe", "visible"]

# Cc (C0, DEL, C1), every Cf (format) character except ZWNJ/ZWJ (Unicode 15), Zl and Zp.
SHOWN_AS_ESCAPE = (
    "\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
"""The characters :func:`visible` escapes, as a regex character class body."""

_PATTERNS: dict[str, re.Pattern[str]] = {}


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(text: object, keep: str = "\n\t") -> str:
    """``text`` with every control, format and separator character (except those in ``keep``)
    replaced by its escape: ``"a\\x1b[2Jb"`` shows as ``a\\x1b[2Jb``.

    >>> visible("red \\x1b[31m, rlo \\u202e, nul \\x00.")
    'red \\\\x1b[31m, rlo \\\\u202e, nul \\\\x00.'
    """
    pattern = _PATTERNS.get(keep)
    if pattern is None:
        kept = "".join(re.escape(c) for c in keep)
        body = f"(?![{kept}])[{SHOWN_AS_ESCAPE}]" if kept else f"[{SHOWN_AS_ESCAPE}]"
        pattern = _PATTERNS[keep] = re.compile(body)
    return pattern.sub(_escape, str(text))


def terminal_safe(text: object, *, one_line: bool = False) -> str:
    """What the CLI prints: :func:`visible` keeping only newlines (no ESC, ``\\r``, tab or bidi
    control from data ever reaches the terminal); ``one_line`` escapes newlines too, so data
    cannot forge a line of its own."""
    return visible(text, keep="" if one_line else "\n")
