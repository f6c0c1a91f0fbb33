"""Inline SVG charts for ``report.html``: small render functions, no JavaScript, no network.

Every attribute value and piece of text that reaches the SVG goes through
:func:`markupsafe.escape` (after :func:`.terminal.visible`: control and bidi characters become
escapes); the chart functions return :class:`markupsafe.Markup` so the template inserts them as
they are. Coordinates are rounded to two decimals, so output is byte-stable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup
from markupsafe import escape as _markup_escape

from ..records import Interval, ReliabilityBin
from .format import fmt_interval
from .terminal import visible


def escape(text: object) -> Markup:
    """Data text for SVG: control and bidi characters shown as escapes, then XML-escaped."""
    return _markup_escape(visible(text))

KIND_COLORS = {
    "llm": "#2563eb",
    "classic": "#7c3aed",
    "precomputed": "#0891b2",
    "human": "#15803d",
    "human_rater": "#15803d",
    "site": "#b45309",
}
CEILING = "#15803d"
GRID = "#eef0f3"
AXIS = "#9ca3af"
INK = "#374151"
MUTED = "#6b7280"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


def color(kind: str) -> str:
    return KIND_COLORS.get(kind, MUTED)


def _n(x: float) -> str:
    """A coordinate with at most two decimals."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _el(tag: str, content: str = "", **attrs: object) -> str:
    """An SVG element; ``stroke_width=2`` becomes ``stroke-width="2"``; values are escaped."""
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        text = _n(value) if isinstance(value, float) else str(value)
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{escape(text)}"')
    head = f"<{tag} {' '.join(parts)}"
    return f"{head}>{content}</{tag}>" if content else f"{head}/>"


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = GRID, **attrs: object) -> str:
    return _el("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), stroke=stroke,
               **attrs)


def _text(x: float, y: float, text: str, *, size: int = 11, anchor: str = "start",
          fill: str = INK, **attrs: object) -> str:
    return _el("text", str(escape(text)), x=float(x), y=float(y), font_size=size,
               text_anchor=anchor, fill=fill, **attrs)


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}" '
        f'font-family="{FONT}">' + "".join(body) + "</svg>"
    )


def _usd(x: float) -> str:
    """A tick label: $0, $0.002, $0.05, $1, $20."""
    if x == 0:
        return "$0"
    if x >= 1:
        return f"${x:.0f}"
    return f"${x:.{max(0, -math.floor(math.log10(x) + 1e-9))}f}"


def _short(name: str, limit: int) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


@dataclass(frozen=True)
class Point:
    """One decider (or site) on the cost-vs-quality chart."""

    name: str
    kind: str
    """Decider kind, or ``site``."""
    cost: float | None
    """Cost per decision in USD."""
    accuracy: Interval


def _log_ticks(costs: Sequence[float]) -> tuple[float, float, list[float]]:
    """Range (log10) of the cost axis with some margin, and the ticks inside it."""
    if not costs:
        return -3.0, 0.0, [0.001, 0.01, 0.1, 1.0]
    lo, hi = math.log10(min(costs)) - 0.35, math.log10(max(costs)) + 0.35
    if hi - lo < 1:
        mid = (hi + lo) / 2
        lo, hi = mid - 0.5, mid + 0.5
    steps = (1, 2, 5) if hi - lo < 2.5 else (1,)
    ticks = [s * 10.0 ** e for e in range(math.floor(lo), math.ceil(hi) + 1) for s in steps
             if lo <= math.log10(s * 10.0 ** e) <= hi]
    return lo, hi, ticks


def cost_quality(points: Sequence[Point], ceiling: Interval | None, *, title: str) -> Markup:
    """Accuracy (with its interval) against cost per decision on a log axis.

    Deciders that cost nothing sit in a separate ``$0`` column left of the axis break, since
    log(0) is not on the axis. The raters' agreement with QA is drawn as a band.
    """
    W, H = 520, 320
    left, right, top, bottom, zero_w = 56, 140, 28, 44, 46
    plot_l, plot_r, plot_t, plot_b = left + zero_w + 14, W - right, top, H - bottom
    lo, hi, ticks = _log_ticks([p.cost for p in points if p.cost])

    def x_of(cost: float | None) -> float:
        if not cost:
            return left + zero_w / 2
        return plot_l + (math.log10(cost) - lo) / (hi - lo) * (plot_r - plot_l)

    def y_of(acc: float) -> float:
        return plot_b - acc * (plot_b - plot_t)

    mid_y = (plot_t + plot_b) / 2
    body = [_text((W - right + left) / 2, 16, title, size=12, anchor="middle", fill="#111827",
                  font_weight=600)]
    for i in range(0, 11, 2):
        body.append(_line(left, y_of(i / 10), plot_r, y_of(i / 10), stroke="#e5e7eb"))
        body.append(_text(left - 6, y_of(i / 10) + 4, f"{i / 10:.1f}", size=10, anchor="end",
                          fill=MUTED))
    for tick in ticks:
        body.append(_line(x_of(tick), plot_t, x_of(tick), plot_b))
        body.append(_text(x_of(tick), plot_b + 16, _usd(tick), size=10, anchor="middle",
                          fill=MUTED))
    body.append(_el("rect", x=left, y=plot_t, width=zero_w, height=plot_b - plot_t,
                    fill="#f9fafb", stroke="#e5e7eb"))
    body.append(_text(left + zero_w / 2, plot_b + 16, "$0", size=10, anchor="middle", fill=MUTED))
    brk = left + zero_w + 7
    body.append(_el("path", d=f"M{brk - 4} {plot_b + 5} l4 -10 M{brk} {plot_b + 5} l4 -10",
                    stroke=AXIS))
    body.append(_line(plot_l, plot_b, plot_r, plot_b, stroke=AXIS))
    body.append(_text((plot_l + plot_r) / 2, H - 8, "cost per decision (log scale)", size=10,
                      anchor="middle", fill="#4b5563"))
    body.append(_text(14, mid_y, "accuracy vs QA", size=10, anchor="middle", fill="#4b5563",
                      transform=f"rotate(-90 14 {_n(mid_y)})"))
    if ceiling is not None and ceiling.value is not None:
        y_hi = y_of(ceiling.high if ceiling.high is not None else ceiling.value)
        y_lo = y_of(ceiling.low if ceiling.low is not None else ceiling.value)
        body.append(_el("rect", x=left, y=y_hi, width=plot_r - left, height=max(1.0, y_lo - y_hi),
                        fill=CEILING, fill_opacity="0.10"))
        body.append(_line(left, y_of(ceiling.value), plot_r, y_of(ceiling.value), stroke=CEILING,
                          stroke_dasharray="4 3"))
        body.append(_text(plot_r + 6, y_of(ceiling.value) + 4,
                          f"raters vs QA {ceiling.value:.2f}", size=10, fill=CEILING))
    placed: list[tuple[float, float]] = []
    for p in sorted(points, key=lambda p: (-(p.accuracy.value or 0.0), p.name)):
        if p.accuracy.value is None:
            continue
        x, y, c = x_of(p.cost), y_of(p.accuracy.value), color(p.kind)
        if p.accuracy.low is not None and p.accuracy.high is not None:
            body.append(_line(x, y_of(p.accuracy.high), x, y_of(p.accuracy.low), stroke=c,
                              stroke_width=2, opacity="0.55"))
        cost = f"${p.cost:.4g}" if p.cost else "$0"
        tip = _title(f"{p.name} ({p.kind}): accuracy {fmt_interval(p.accuracy)}, {cost} a decision")
        if p.kind == "site":
            mark = _el("rect", tip, x=x - 5, y=y - 5, width=10, height=10, fill=c, stroke="#fff",
                       stroke_width="1.5", transform=f"rotate(45 {_n(x)} {_n(y)})")
        else:
            mark = _el("circle", tip, cx=x, cy=y, r="5.5", fill=c, stroke="#fff",
                       stroke_width="1.5")
        body.append(mark)
        lx, ly = x + 9, y + 4
        while any(abs(ly - py) < 12 and abs(lx - px) < 90 for px, py in placed):
            ly += 12
        placed.append((lx, ly))
        body.append(_text(lx, ly, _short(p.name, 18), size=10, fill=c))
    return _svg(W, H, body, title)


def accuracy_forest(rows: Sequence[tuple[str, str, Interval]], ceiling: Interval | None, *,
                    title: str) -> Markup:
    """Each decider's accuracy and interval on one 0-1 scale, beside the raters' band."""
    W, row_h = 520, 26
    left, right, top = 130, 118, 48
    bottom = top + row_h * max(1, len(rows))
    H = bottom + 30
    x0, x1 = left, W - right

    def x_of(v: float) -> float:
        return x0 + v * (x1 - x0)

    body = [_text(W / 2, 16, title, size=12, anchor="middle", fill="#111827", font_weight=600)]
    for i in range(0, 11, 2):
        body.append(_line(x_of(i / 10), top, x_of(i / 10), bottom))
        body.append(_text(x_of(i / 10), bottom + 14, f"{i / 10:.1f}", size=10, anchor="middle",
                          fill=MUTED))
    if ceiling is not None and ceiling.value is not None:
        lo = ceiling.low if ceiling.low is not None else ceiling.value
        hi = ceiling.high if ceiling.high is not None else ceiling.value
        body.append(_el("rect", x=x_of(lo), y=top - 6, width=max(1.0, x_of(hi) - x_of(lo)),
                        height=bottom - top + 6, fill=CEILING, fill_opacity="0.12"))
        body.append(_line(x_of(ceiling.value), top - 6, x_of(ceiling.value), bottom,
                          stroke=CEILING, stroke_dasharray="4 3"))
        body.append(_text(x_of(ceiling.value), top - 12, f"raters vs QA {fmt_interval(ceiling)}", size=10,
                          anchor="end" if ceiling.value > 0.5 else "start", fill=CEILING))
    for i, (name, kind, acc) in enumerate(rows):
        y = top + row_h * i + row_h / 2 + 4
        body.append(_text(left - 8, y + 4, _short(name, 20), size=11, anchor="end",
                          fill="#111827"))
        if acc.value is None:
            body.append(_text(x0 + 4, y + 4, "no graded decisions", size=10, fill=MUTED))
            continue
        c = color(kind)
        if acc.low is not None and acc.high is not None:
            body.append(_line(x_of(acc.low), y, x_of(acc.high), y, stroke=c, stroke_width=3,
                              stroke_linecap="round", opacity="0.45"))
        body.append(_el("circle", _title(f"{name}: {fmt_interval(acc)}"), cx=x_of(acc.value), cy=y,
                        r="5.5", fill=c))
        body.append(_text(W - right + 8, y + 4, fmt_interval(acc), size=10))
    return _svg(W, H, body, title)


def reliability(bins: Sequence[ReliabilityBin], *, title: str, subtitle: str,
                kind: str = "llm") -> Markup:
    """Reliability diagram: observed violating rate per bin of predicted P(violating).

    Points sit at the bin's mean prediction, sized by the number of decisions, with Wilson
    interval bars; the strip below shows how many decisions fall in each bin.
    """
    W, H = 300, 334
    left, top, size, strip = 42, 40, 220, 34
    x0, y0 = left, top + size

    def px(v: float) -> float:
        return x0 + v * size

    def py(v: float) -> float:
        return y0 - v * size

    c = color(kind)
    mid = top + size / 2
    body = [_text(W / 2, 15, title, size=12, anchor="middle", fill="#111827", font_weight=600),
            _text(W / 2, 30, subtitle, size=10, anchor="middle", fill=MUTED)]
    for i in range(0, 11, 2):
        v = i / 10
        body.append(_line(px(v), top, px(v), y0, stroke="#f1f2f4"))
        body.append(_line(x0, py(v), x0 + size, py(v), stroke="#f1f2f4"))
        body.append(_text(x0 - 5, py(v) + 3, f"{v:.1f}", size=9, anchor="end", fill=MUTED))
    body.append(_el("rect", x=x0, y=top, width=size, height=size, fill="none", stroke="#d1d5db"))
    body.append(_el("line", _title("perfect calibration"), x1=x0, y1=y0, x2=x0 + size, y2=top,
                    stroke=AXIS, stroke_dasharray="4 3"))
    body.append(_text(11, mid, "observed violating rate", size=9, anchor="middle", fill="#4b5563",
                      transform=f"rotate(-90 11 {_n(mid)})"))
    most = max((b.n for b in bins), default=0) or 1
    for b in bins:
        if not b.n or b.mean_confidence is None or b.observed_rate is None:
            continue
        x = px(b.mean_confidence)
        body.append(_line(x, py(b.ci_high), x, py(b.ci_low), stroke=c, stroke_width=2,
                          opacity="0.5"))
        tip = _title(f"P(violating) {b.low:.1f}–{b.high:.1f}: {b.n} decisions, mean predicted "
                     f"{b.mean_confidence:.2f}, observed {b.observed_rate:.2f} "
                     f"[{b.ci_low:.2f}, {b.ci_high:.2f}]")
        radius = 3 + 6 * math.sqrt(b.n / most)
        body.append(_el("circle", tip, cx=x, cy=py(b.observed_rate), r=radius, fill=c,
                        fill_opacity="0.85", stroke="#fff"))
        h = strip * b.n / most
        body.append(_el("rect", _title(f"{b.n} decisions"), x=px(b.low) + 1, y=y0 + 8 + strip - h,
                        width=size * (b.high - b.low) - 2, height=h, fill=c, fill_opacity="0.3"))
    body.append(_text(x0 + size / 2, y0 + strip + 24,
                      "predicted P(violating) · bars: decisions per bin", size=9, anchor="middle",
                      fill="#4b5563"))
    return _svg(W, H, body, title)
