"""The run history as a Markdown table per policy, and one metric over runs as an inline SVG
(for ``report.html`` and ``evalharness history --svg``)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..records import Interval
from ..records.history import HistoryRow, RunHistory
from .format import fmt_interval, fmt_usd, md_escape
from .terminal import terminal_safe

__all__ = ["history_markdown", "history_svg"]


def _by_label(values: dict[str, Interval]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return fmt_interval(next(iter(values.values())))
    return "; ".join(f"{md_escape(k)} {fmt_interval(v)}" for k, v in values.items())


def history_markdown(history: RunHistory, *, policy: str | None = None,
                     decider: str | None = None) -> str:
    """One table per policy: runs in start order, with version, short prompt hash and metrics."""
    lines = [f"# Run history: {md_escape(history.results_dir)}", ""]
    rows = [r for r in history.rows
            if (policy is None or r.policy == policy) and (decider is None or r.decider == decider)]
    if not rows:
        lines += ["No runs found" + (" for that policy/decider." if policy or decider else "."), ""]
    for pid in dict.fromkeys(r.policy for r in rows):
        prows = [r for r in rows if r.policy == pid]
        violating = ", ".join(md_escape(v) for v in prows[-1].violating) or "–"
        lines += [f"## {md_escape(pid)}", ""]
        header = ["started", "run", "status", "version", "prompt", "decider", "n", "accuracy",
                  f"precision [{violating}]", f"recall [{violating}]", "$/decision"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for r in prows:
            status = r.status + ("" if r.metrics_source == "metrics.json" else " (partial)"
                                 if r.status != "complete" else " (recomputed)")
            cells = [
                md_escape((r.started_at or "–").replace("T", " ")[:16]),
                md_escape(r.run_id),
                md_escape(status),
                md_escape(r.policy_version or "–"),
                f"`{r.prompt_hash[:8]}`" if r.prompt_hash else "–",
                md_escape(r.decider) + (f" ({md_escape(r.decider_kind)})"
                                        if r.decider_kind != "llm" else ""),
                str(r.n),
                fmt_interval(r.accuracy),
                _by_label(r.precision),
                _by_label(r.recall),
                fmt_usd(r.cost_per_decision_usd),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if history.skipped:
        lines += ["Skipped:", ""]
        lines += [f"- {md_escape(s.path)}: {md_escape(s.reason)}" for s in history.skipped]
        lines.append("")
    return terminal_safe("\n".join(lines).rstrip() + "\n")


_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


_METRICS = ("accuracy", "precision", "recall", "f1")


def _value(row: HistoryRow, metric: str, label: str | None) -> Interval | None:
    if metric == "accuracy":
        return row.accuracy
    values = getattr(row, metric)
    key = label if label is not None else (row.violating[0] if row.violating else None)
    return values.get(key) if key is not None else None


def history_svg(
    history: RunHistory,
    *,
    policy: str,
    metric: str = "accuracy",
    label: str | None = None,
    deciders: Sequence[str] | None = None,
    width: int = 640,
    height: int = 260,
) -> str:
    """An inline SVG of ``metric`` over the runs of ``policy``: one line per decider, with the
    95% interval as a whisker at each run, oldest run on the left.

    ``metric`` is ``accuracy``, or ``precision``/``recall``/``f1`` of ``label`` (default: the
    policy's first violating label). Every text from the data (run ids, versions, decider names)
    is XML-escaped; each point has a ``<title>`` tooltip. Returns a complete ``<svg>`` element
    (no scripts, no external references). No runs gives a small SVG saying so.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {list(_METRICS)}, got {metric!r}")
    rows = [r for r in history.for_policy(policy) if deciders is None or r.decider in deciders]
    runs = list(dict.fromkeys(r.run_id for r in rows))
    esc = html.escape
    name = metric if metric == "accuracy" else f"{metric}[{label or (rows[0].violating[0] if rows and rows[0].violating else '?')}]"
    title = f"{policy}: {name} by run"
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
            'font-family="sans-serif" font-size="11">')
    parts = [head, f"<title>{esc(title)}</title>",
             f'<text x="8" y="16" font-size="13" font-weight="bold">{esc(title)}</text>']
    if not runs:
        parts += [f'<text x="8" y="40">no runs of {esc(policy)}</text>', "</svg>"]
        return "".join(parts)
    left, right, top, bottom = 44, 130, 28, 56
    plot_w, plot_h = width - left - right, height - top - bottom

    pad = 36  # room for the tick labels of the first and last run

    def x_of(i: int) -> float:
        if len(runs) == 1:
            return left + plot_w / 2
        return left + pad + (plot_w - 2 * pad) * i / (len(runs) - 1)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - v)

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     'stroke="#ddd" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    info = {r.run_id: r for r in rows}
    for i, run_id in enumerate(runs):
        r = info[run_id]
        tick = f"{r.policy_version or '?'} {(r.prompt_hash or '')[:6]}"
        x = x_of(i)
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                     f"{esc(tick)}</text>")
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 27}" text-anchor="middle" '
                     f'fill="#666">{esc(run_id[:18])}</text>')
    names = list(dict.fromkeys(r.decider for r in rows))
    for k, decider in enumerate(names):
        color = _COLORS[k % len(_COLORS)]
        points = []
        for i, run_id in enumerate(runs):
            row = next((r for r in rows if r.run_id == run_id and r.decider == decider), None)
            iv = _value(row, metric, label) if row else None
            if iv is None or iv.value is None:
                continue
            points.append((i, iv, row))
        if len(points) > 1:
            path = " ".join(f"{x_of(i):.1f},{y_of(iv.value):.1f}" for i, iv, _ in points
                            if iv.value is not None)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                         'stroke-width="1.5"/>')
        for i, iv, row in points:
            assert iv.value is not None and row is not None
            x, y = x_of(i), y_of(iv.value)
            tip = (f"{row.run_id} · {decider} · {row.policy_version or '?'} "
                   f"{(row.prompt_hash or '')[:8]} · {name} {fmt_interval(iv)} (n={row.n})")
            parts.append(f"<g><title>{esc(tip)}</title>")
            if iv.low is not None and iv.high is not None:
                y1, y2 = y_of(iv.low), y_of(iv.high)
                parts.append(f'<line x1="{x:.1f}" y1="{y1:.1f}" x2="{x:.1f}" y2="{y2:.1f}" '
                             f'stroke="{color}" stroke-width="1"/>')
                for yy in (y1, y2):
                    parts.append(f'<line x1="{x - 4:.1f}" y1="{yy:.1f}" x2="{x + 4:.1f}" '
                                 f'y2="{yy:.1f}" stroke="{color}" stroke-width="1"/>')
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"/></g>')
        ly = top + 12 + 16 * k
        lx = left + plot_w + 12
        parts.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{lx + 14}" y="{ly + 1}">{esc(decider[:16])}</text>')
    parts.append("</svg>")
    return "".join(parts)
