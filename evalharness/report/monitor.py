"""``monitor.md`` and ``monitor.html``: each claim's verdict, and its trend across weeks."""

from __future__ import annotations

import html

from ..records.monitor import ClaimWatch, MonitorReport
from .charts import _el, _line, _svg, _text, escape
from .format import md_escape, table

__all__ = ["render_monitor_html", "render_monitor_markdown", "trend_svg"]

VERDICT = {"holds": "holds", "too_early": "too early to tell", "revoke": "**REVOKE**"}
COLOURS = {"holds": "#15803d", "too_early": "#6b7280", "revoke": "#b91c1c"}


def _interval(c: ClaimWatch) -> str:
    last = c.weeks[-1]
    if last.estimate is None:
        return "–"
    return f"{last.estimate:.3f} [{last.low:.3f}, {last.high:.3f}]"


def render_monitor_markdown(report: MonitorReport) -> str:
    head = [f"# Plan monitor: run {md_escape(report.run_id)}", "",
            f"{report.rows:,} QA rows from `{md_escape(report.qa_file)}` over "
            f"{len(report.weeks)} weeks ({report.weeks[0]} to {report.weeks[-1]}); plan "
            f"`{md_escape(report.routing_file)}`.", "",
            "Each claim is two anytime-valid bets on its QA rows in order — that the target is "
            "missed (revoke) and that it is met (holds) — valid even when the rate drifts: with "
            f"probability at least {1 - report.alpha:.0%} no verdict of any week is wrong "
            f"({len(report.claims)} claims at {report.claim_alpha:.3g} each, Bonferroni), so "
            "looking every week raises no false alarm. The interval is the rate's confidence "
            "sequence over all rows so far. Rates are the QA sample's: a tier's estimate "
            "production when QA samples its decisions at random; the plan's (end to end) pool "
            "every tier's rows, so they do only when QA samples in proportion to each tier's "
            "traffic.", ""]
    rows = [[md_escape(c.policy), md_escape(c.tier), md_escape(c.target), VERDICT[c.verdict],
             _interval(c), str(c.weeks[-1].n), md_escape(c.message)] for c in report.claims]
    head += table(["policy", "tier", "claim", "verdict", "QA rate [sequence]", "n", "in words"],
                  rows)
    head += ["", "## Week by week (cumulative)", ""]
    for c in report.claims:
        head += [f"**{md_escape(c.policy)} · {md_escape(c.tier)}: {md_escape(c.target)}**", ""]
        head += table(["week", "n", "rate", "sequence", "evidence missed / met", "verdict"],
                      [[w.week, str(w.n), "–" if w.estimate is None else f"{w.estimate:.3f}",
                        f"[{w.low:.3f}, {w.high:.3f}]",
                        f"{w.evidence_against:.3g} / {w.evidence_for:.3g}", VERDICT[w.verdict]]
                       for w in c.weeks])
        head.append("")
    return "\n".join(head) + "\n"


def trend_svg(c: ClaimWatch, width: int = 560, height: int = 200) -> str:
    """The claim's cumulative QA rate (dots), its confidence sequence (band) and the target
    (dashed) across weeks; no scripts, every data text escaped."""
    left, right, top, bottom = 44, 16, 26, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    weeks = c.weeks
    values = [v for w in weeks for v in (w.low, w.high)] + [c.required]
    lo, hi = max(0.0, min(values) - 0.05), min(1.0, max(values) + 0.05)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / len(weeks))

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / ((hi - lo) or 1))

    body = [_text(4, 16, f"{c.policy} · {c.tier}: {c.target}", size=12)]
    for tick in (lo, (lo + hi) / 2, hi):
        body += [_line(left, y(tick), left + plot_w, y(tick)),
                 _text(left - 4, y(tick) + 4, f"{tick:.2f}", size=10, anchor="end")]
    band = " ".join(f"{x(i):.1f},{y(w.high):.1f}" for i, w in enumerate(weeks))
    band += " " + " ".join(f"{x(i):.1f},{y(w.low):.1f}" for i, w in reversed(list(enumerate(weeks))))
    body.append(_el("polygon", points=band, fill="#dbeafe", stroke="none"))
    body.append(_line(left, y(c.required), left + plot_w, y(c.required), stroke="#111827",
                      stroke_dasharray="4 3"))
    for i, w in enumerate(weeks):
        if w.estimate is not None:
            body.append(_el("circle", f"<title>{escape(w.week)}: {w.estimate:.3f} on {w.n} "
                                      f"({escape(w.verdict)})</title>", cx=x(i), cy=y(w.estimate),
                            r=3.5, fill=COLOURS[w.verdict]))
        if len(weeks) <= 12 or i % max(1, len(weeks) // 8) == 0:
            body.append(_text(x(i), top + plot_h + 16, w.week[5:], size=10, anchor="middle"))
    return str(_svg(width, height, body, f"{c.tier} {c.target} by week"))


def render_monitor_html(report: MonitorReport) -> str:
    """A self-contained page: no scripts, no external references, every data text escaped."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(c.policy)}</td><td>{esc(c.tier)}</td><td>{esc(c.target)}</td>"
        f'<td style="color:{COLOURS[c.verdict]};font-weight:600">{esc(c.verdict.replace("_", " "))}'
        f"</td><td>{esc(_interval(c))}</td><td>{c.weeks[-1].n}</td><td>{esc(c.message)}</td></tr>"
        for c in report.claims)
    charts = "".join(f"<figure>{trend_svg(c)}</figure>" for c in report.claims)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>Plan monitor: {esc(report.run_id)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:24px;color:#111827}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #e5e7eb;padding:4px 8px;"
        "text-align:left;font-size:13px}figure{display:inline-block;margin:8px}</style></head><body>"
        f"<h1>Plan monitor: run {esc(report.run_id)}</h1>"
        f"<p>{report.rows:,} QA rows, {len(report.weeks)} weeks; anytime-valid confidence "
        f"sequences, family-wise {1 - report.alpha:.0%} over every claim and week.</p>"
        "<table><thead><tr><th>policy</th><th>tier</th><th>claim</th><th>verdict</th>"
        "<th>QA rate [sequence]</th><th>n</th><th>in words</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><h2>Trend across weeks</h2>{charts}</body></html>\n")
