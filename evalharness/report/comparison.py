"""The comparison of two runs as markdown sized for a pull-request comment."""

from __future__ import annotations


from ..records.kinds import HUMAN_KINDS
from ..records.comparison import CompareResult, DeciderComparison, MetricDelta, PolicyComparison
from ..records.gate import GateResult
from ..records import Interval
from .terminal import terminal_safe
from .format import table, fmt_interval, fmt_seconds, fmt_usd, md_escape

_METRIC_NAMES = {
    "accuracy": "accuracy", "cohen_kappa": "κ", "coverage": "coverage",
    "invalid_rate": "invalid rate", "precision": "precision", "recall": "recall", "f1": "F1",
    "cost_per_decision_usd": "$/decision", "latency_p50_s": "p50 latency",
    "latency_p95_s": "p95 latency",
}
MARKER = "<!-- evalharness-compare -->"
COMMENT_LIMIT = 60_000
"""GitHub rejects comments over 65,536 characters; the summary is cut below that."""
"""First line of the summary, so a CI job can find and update its own PR comment."""


def metric_name(metric: str, label: str | None = None) -> str:
    name = _METRIC_NAMES.get(metric, metric)
    return f"{name}[{label}]" if label else name


def _fmt_value(metric: str, iv: Interval) -> str:
    if metric == "cost_per_decision_usd":
        return fmt_usd(iv.value)
    if metric.startswith("latency"):
        return fmt_seconds(iv.value)
    if metric == "cohen_kappa":
        return "–" if iv.value is None else f"{iv.value:.2f}"
    return fmt_interval(iv)


def _fmt_signed(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric == "cost_per_decision_usd":
        sign = "+" if value >= 0 else "-"
        return f"{sign}{fmt_usd(abs(value))}"
    if metric.startswith("latency"):
        sign = "+" if value >= 0 else "-"
        return f"{sign}{fmt_seconds(abs(value))}"
    return f"{value:+.2f}"


def _fmt_diff(d: MetricDelta) -> str:
    iv = d.diff
    text = _fmt_signed(d.metric, iv.value)
    if iv.value is not None and iv.low is not None and iv.high is not None:
        text += f" [{_fmt_signed(d.metric, iv.low)}, {_fmt_signed(d.metric, iv.high)}]"
    if d.p_value is not None:
        text += f" p={d.p_value:.2g}"
    if d.significant and (d.worse_by or 0) > 0:
        text = f"**{text}** ▼"
    elif d.significant:
        text += " ▲"
    return text


def _short(h: str | None) -> str:
    return h[:8] if h else "–"


def _policy_line(pc: PolicyComparison) -> str:
    if pc.prompt_changed:
        what = (f"prompt **changed**: {md_escape(pc.base_version or '–')} `{_short(pc.base_prompt_hash)}` "
                f"→ {md_escape(pc.candidate_version or '–')} `{_short(pc.candidate_prompt_hash)}`")
    else:
        what = (f"prompt unchanged: {md_escape(pc.candidate_version or '–')} "
                f"`{_short(pc.candidate_prompt_hash)}`")
    return (f"{what} · {pc.candidate_cached}/{pc.candidate_decisions} candidate model decisions "
            "from the response cache")


def compare_markdown(result: CompareResult, *, limit: int = COMMENT_LIMIT) -> str:
    """A summary sized for a PR comment: verdict, failed checks, then per policy a delta table.

    Everything taken from the runs is escaped. Details (per-label deltas, label transitions) sit
    in collapsed ``<details>`` blocks; the text is cut at ``limit`` characters.
    """
    lines = [MARKER]
    gate = result.gate
    if gate is None:
        lines.append("## evalharness compare")
    else:
        verdict = "✅ passed" if gate.passed else f"❌ failed ({len(gate.failures)} checks)"
        lines.append(f"## evalharness regression gate: {verdict}")
    lines += [
        "",
        f"base **{md_escape(result.base.run_id)}** → candidate **{md_escape(result.candidate.run_id)}** · "
        f"{result.items.both} items in both"
        + (f" ({result.items.only_base} only in base, {result.items.only_candidate} only in "
           "candidate: left out)" if result.items.only_base or result.items.only_candidate else "")
        + f" · intervals: {result.confidence:.0%} paired bootstrap, accuracy p: McNemar exact",
        "",
    ]
    if gate is not None and gate.failures:
        lines += ["### Failed checks", ""]
        lines += [f"- {md_escape(c.line())}" for c in gate.failures]
        lines.append("")
    if gate is not None:
        lines += _gate_checks(gate)
    for pc in result.policies:
        lines += [f"### {md_escape(pc.policy)}", "", _policy_line(pc), ""]
        header = ["decider", "n", "accuracy base → cand", "Δ accuracy",
                  *(f"Δ recall[{md_escape(v)}]" for v in pc.violating),
                  *(f"Δ precision[{md_escape(v)}]" for v in pc.violating),
                  "flips ✓→✗ / ✗→✓", "invalid", "Δ $/decision", "Δ p95 latency"]
        rows = []
        for dc in pc.deciders:
            acc = dc.delta("accuracy")
            assert acc is not None
            inv = dc.delta("invalid_rate")
            rows.append([
                md_escape(dc.decider) + ("" if dc.decider_kind not in HUMAN_KINDS else " (human)"),
                str(dc.n_graded),
                f"{_fmt_value('accuracy', acc.base)} → {_fmt_value('accuracy', acc.candidate)}",
                _fmt_diff(acc),
                *(_fmt_diff(d) if (d := dc.delta("recall", v)) else "–" for v in pc.violating),
                *(_fmt_diff(d) if (d := dc.delta("precision", v)) else "–" for v in pc.violating),
                f"{dc.flips.correct_to_wrong} / {dc.flips.wrong_to_correct}",
                "–" if inv is None or inv.candidate.value is None else f"{inv.candidate.value:.0%}",
                _fmt_diff(d) if (d := dc.delta("cost_per_decision_usd")) else "–",
                _fmt_diff(d) if (d := dc.delta("latency_p95_s")) else "–",
            ])
        if rows:
            lines += table(header, rows)
        else:
            lines.append("No decider is in both runs for this policy.")
        lines.append("")
        for dc in pc.deciders:
            lines += _decider_details(dc)
    if result.notes:
        lines += ["### Notes", ""] + [f"- {md_escape(n)}" for n in result.notes] + [""]
    text = terminal_safe("\n".join(lines).rstrip() + "\n")
    if len(text) > limit:
        cut = text[: limit - 200].rsplit("\n", 1)[0]
        text = cut + ("\n\n</details>" if cut.count("<details>") > cut.count("</details>") else "")
        text += "\n\n… summary cut to fit a PR comment; run `evalharness compare` for all of it.\n"
    return text


def _gate_checks(gate: GateResult) -> list[str]:
    """Every metric check of the gate: the test, the bound, and the smallest drop it detects."""
    checks = [c for c in gate.checks if c.check in ("floor", "max_drop", "max_invalid_rate")]
    if not checks:
        return []
    rows = []
    for c in checks:
        limit = "–" if c.threshold is None else f"{c.threshold:g}"
        what = {"floor": "≥ floor", "max_drop": "drop ≤", "max_invalid_rate": "≤"}[c.check]
        rows.append([
            md_escape(" · ".join(x for x in (c.policy, c.decider) if x)),
            metric_name(c.metric or "", md_escape(c.label) if c.label else None),
            f"{what} {limit}", "–" if c.bound is None else f"{c.bound:+.3f}"
            if c.check == "max_drop" else f"{c.bound:.3f}",
            "–" if c.detectable_drop is None else f"{c.detectable_drop:.3f} (n={c.n})"
            + (" ⚠ underpowered" if c.underpowered else ""),
            ("skipped" if c.skipped else "✅" if c.passed else "❌")
            + ("" if c.test != "point_estimate" else " (point estimate)"),
        ])
    flagged = [c for c in checks if c.underpowered]
    out = [f"<details{' open' if flagged else ''}><summary>Gate checks ({len(checks)}): one-sided "
           f"bounds at the gate's level; smallest drop each resolves"
           + (f" — {len(flagged)} underpowered" if flagged else "") + "</summary>", ""]
    out += table(["policy · decider", "metric", "check", "bound", "detectable drop", "result"],
                  rows)
    out += ["", "A drop check passes only when the one-sided bound of the drop is below the "
            "allowed drop (non-inferiority); the detectable drop is the smallest allowed drop at "
            "which an unchanged candidate passes with the gate's power, and ⚠ marks checks whose "
            "allowed drop is below it (they fail unchanged candidates too often).", "",
            "</details>", ""]
    return out


def _decider_details(dc: DeciderComparison) -> list[str]:
    lines = [f"<details><summary>{md_escape(dc.policy)} · {md_escape(dc.decider)}: every metric "
             f"and {dc.flips.changed} changed decisions</summary>", ""]
    rows = [[metric_name(d.metric, md_escape(d.label) if d.label else None),
             _fmt_value(d.metric, d.base), _fmt_value(d.metric, d.candidate), _fmt_diff(d),
             "–" if d.drop_bound is None else f"{d.drop_bound:+.3f}",
             "–" if d.detectable_drop is None else f"{d.detectable_drop:.3f}"]
            for d in dc.deltas]
    lines += table(["metric", "base", "candidate", "Δ [interval]", "drop ≤ (one-sided)",
                     "detectable drop"], rows)
    lines.append("")
    if dc.flips.transitions:
        rows = [[md_escape(t.gold), md_escape(t.base), md_escape(t.candidate), str(t.n),
                 ", ".join(md_escape(e) for e in t.examples)]
                for t in dc.flips.transitions[:20]]
        lines += table(["gold", "base decided", "candidate decided", "items", "e.g."], rows)
        lines.append("")
    by_gold = ", ".join(f"{md_escape(g)}: {c.correct_to_wrong} ✓→✗ / {c.wrong_to_correct} ✗→✓"
                        for g, c in dc.flips.by_gold.items())
    lines += [f"Flips by gold label: {by_gold}.", ""]
    if dc.n_only_base or dc.n_only_candidate:
        lines += [f"{dc.n_only_base} items only in base, {dc.n_only_candidate} only in candidate "
                  "(left out).", ""]
    lines += ["</details>", ""]
    return lines
