"""``report.html``: one self-contained page (inline CSS, SVG and a few lines of vanilla JS).

Rendered with a Jinja2 template under autoescape, so every piece of data text (item text, raw
model output, labels, decider, rater and site names, meta values) is HTML-escaped, and its control,
bidi and invisible characters are shown as escapes (:func:`.terminal.visible`). The page
carries a Content-Security-Policy that forbids any network access and allows only its own script
(by hash): an escaping bug would still not run injected code.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup

from ..records import HUMAN_KINDS, OUTCOMES_NOT_OK, Interval, Manifest, MetricRow, MetricsFile
from ..scoring.rootcause import MIN_SLICE_ITEMS, PolicyCauses
from . import charts
from .terminal import visible
from .format import fmt_interval, fmt_num, fmt_p, fmt_seconds, fmt_signed, fmt_usd
from .views import (
    PolicyView,
    assumed_seconds,
    decider_notes,
    golden_prevalence,
    n_judgments,
    not_ok,
    policy_views,
)

TEXT_LIMIT = 400
"""Characters of item text shown before the "full text" toggle."""


@dataclass
class Cell:
    count: int
    share: float
    """Share of the gold row."""
    style: str


@dataclass
class Heatmap:
    row: MetricRow
    columns: list[str]
    rows: list[tuple[str, list[Cell]]]


def heatmap(row: MetricRow) -> Heatmap:
    """A confusion matrix with each cell shaded by its share of the gold row."""
    columns = [*row.labels, *OUTCOMES_NOT_OK]
    out = []
    for i, (label, counts) in enumerate(zip(row.labels, row.confusion)):
        total = sum(counts) or 1
        cells = []
        for j, count in enumerate(counts):
            share = count / total
            rgb = ("22, 163, 74" if i == j else "217, 119, 6" if j >= len(row.labels)
                   else "220, 38, 38")
            alpha = 0.08 + 0.82 * share if count else 0.0
            ink = "#fff" if alpha > 0.55 else "#111827"
            cells.append(Cell(count, share, f"background: rgba({rgb}, {alpha:.2f}); color: {ink}"))
        out.append((label, cells))
    return Heatmap(row=row, columns=columns, rows=out)


def _points(view: PolicyView) -> list[charts.Point]:
    points = [charts.Point(r.decider, r.decider_kind, r.cost_per_decision_usd, r.accuracy)
              for r in view.overall]
    for a in view.agreement:
        points += [charts.Point(s.site, "site", s.cost_per_decision_usd, s.accuracy)
                   for s in a.sites]
    return points


def _reliability(row: MetricRow) -> Markup:
    sq = row.score_quality
    assert sq is not None
    subtitle = (f"ECE {fmt_interval(sq.ece)} · n={sq.n_scored}, "
                f"{sq.n_unscored} not ok left out")
    return charts.reliability(sq.reliability, title=row.decider, subtitle=subtitle,
                              kind=row.decider_kind)


def _charts(view: PolicyView) -> dict[str, object]:
    ceiling = view.ceiling.rater_accuracy if view.ceiling else None
    return {
        "forest": charts.accuracy_forest(
            [(r.decider, r.decider_kind, r.accuracy) for r in view.overall], ceiling,
            title="Accuracy vs QA gold (95% intervals)"),
        "scatter": charts.cost_quality(_points(view), ceiling,
                                       title="Cost vs quality (deciders and sites)"),
        "reliability": [_reliability(r) for r in view.scored],
        "heatmaps": [heatmap(r) for r in view.overall],
    }


@cache
def _asset(name: str) -> str:
    return resources.files("evalharness.report").joinpath("templates", name).read_text("utf-8")


@cache
def _template() -> jinja2.Template:
    """The report template, compiled once per process."""
    return _environment().from_string(_asset("report.html.j2"))


def compile_template() -> None:
    """Compile the report template now (~0.13 s), e.g. while a run still awaits its models."""
    _template()


def _shown(value: object) -> object:
    """Every ``{{ ... }}`` output: data strings get their control and bidi characters escaped
    (markup we built, already checked, is left alone)."""
    return visible(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        autoescape=True,
        finalize=_shown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        iv=fmt_interval, sgn=lambda v: fmt_signed(Interval(value=v)), usd=fmt_usd, sec=fmt_seconds,
        num=fmt_num, p=fmt_p,
        pct=lambda v: "–" if v is None else f"{v:.0%}",
        v=lambda v: "" if v is None else f"{v:.6g}",
        clip=lambda text, n=TEXT_LIMIT: text if len(text) <= n else text[: n - 1] + "…",
    )
    return env


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")


def render_html(metrics: MetricsFile, manifest: Manifest,
                causes: dict[str, PolicyCauses] | None = None,
                history: dict[str, str] | None = None) -> str:
    """The whole ``report.html`` (deterministic: the same inputs give the same bytes).

    ``history`` maps a policy to an SVG of its metrics across runs (already escaped)."""
    views = policy_views(metrics, manifest, causes)
    script = _asset("report.js")
    return _template().render(
        manifest=manifest,
        title=str(manifest.config.get("name", manifest.run_id)),
        views=views,
        adjudication=metrics.adjudication,
        charts={v.policy: _charts(v) for v in views},
        history={policy: Markup(svg) for policy, svg in (history or {}).items()},
        css=Markup(_asset("report.css")),
        script=Markup(script),
        csp=_csp(script),
        HUMAN_KINDS=HUMAN_KINDS,
        not_ok=not_ok,
        decider_notes=decider_notes,
        golden_prevalence=golden_prevalence,
        n_judgments=n_judgments,
        assumed_seconds=assumed_seconds,
        outcomes_not_ok=OUTCOMES_NOT_OK,
        min_slice_items=MIN_SLICE_ITEMS,
    )
