"""Text formatting shared by every report: escaping data for Markdown, and numbers, intervals,
money, durations and p-values as people read them (intervals by
:meth:`~evalharness.records.Interval.text`, the one definition)."""

from __future__ import annotations

from collections.abc import Sequence

from ..records import Interval
from .terminal import visible

__all__ = ["TEXT_LIMIT", "fmt_interval", "fmt_num", "fmt_p", "fmt_rate", "fmt_seconds", "fmt_signed",
           "fmt_usd", "md_code", "md_escape", "md_escape_text", "symbols", "table"]


TEXT_LIMIT = 160
"""Characters of item text shown in a table cell."""


def md_escape(text: object, limit: int | None = None) -> str:
    """Make data safe inside a markdown table cell: no pipes, backticks, newlines, HTML or
    markup, and control and bidi characters shown as escapes (see :func:`.terminal.visible`)."""
    out = " ".join(str(text).split())
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + "…"
    out = visible(out, keep="").replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    out = out.replace("<", "&lt;").replace(">", "&gt;").replace("#", "\\#").replace("~", "\\~")
    return out.replace("*", "\\*").replace("_", "\\_").replace("[", "\\[").replace("]", "\\]")


def md_code(text: object) -> str:
    """Data as an inline code span (outside tables): backticks and line breaks cannot escape it."""
    return "`" + visible(" ".join(str(text).replace("`", "'").split()), keep="") + "`"


def fmt_num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_interval(iv: Interval | None, digits: int = 2) -> str:
    return "–" if iv is None else iv.text(digits)


def fmt_signed(iv: Interval | None, digits: int = 2) -> str:
    """A difference with its interval, signs shown: ``−0.12 [−0.20, −0.04]``."""
    if iv is None or iv.value is None:
        return "–"

    def s(x: float) -> str:
        text = f"{x:+.{digits}f}"
        return ("±" + text[1:]) if float(text) == 0 else text.replace("-", "−")

    if iv.low is None or iv.high is None:
        return s(iv.value)
    return f"{s(iv.value)} [{s(iv.low)}, {s(iv.high)}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_usd(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "$0"
    return f"${value:.2g}" if value < 0.01 else f"${value:.4f}"


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def fmt_rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def symbols(text: str) -> str:
    return text.replace(">=", "≥").replace("<=", "≤")


def md_escape_text(text: str) -> str:
    """Escape running text (not a table cell): keep it readable, neutralise markup and HTML."""
    return symbols(visible(text)).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")\
        .replace("*", "\\*").replace("_", "\\_")
