"""``evalharness monitor``: a signed routing plan against a production QA sample, week by week."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from ..execution.rundir import write_atomic
from ..importers.bpo_qa import BpoImport, import_bpo_qa
from ..inputs.qa_file import read_qa_file
from ..monitoring.watch import plan_claims, watch
from ..records.errors import Problem, QaFileError
from ..records.monitor import MonitorReport, QaRow
from ..records.routing import RoutingPlan
from ..report.monitor import render_monitor_html, render_monitor_markdown

__all__ = ["BpoImport", "import_bpo_qa", "monitor_plan", "read_routing_plan"]


def read_routing_plan(path: Path) -> RoutingPlan:
    """``routing.yaml`` as written by ``evalharness route``."""
    fix = "give the routing.yaml that `evalharness route` wrote for the deployed plan"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RoutingPlan.model_validate(doc)
    except OSError as exc:
        raise QaFileError(f"cannot read: {exc.strerror}", file=str(path), fix=fix) from None
    except UnicodeDecodeError as exc:
        raise QaFileError(f"not UTF-8 text (byte {exc.start})", file=str(path), fix=fix) from None
    except yaml.YAMLError as exc:
        raise QaFileError(f"not valid YAML: {exc}", file=str(path), fix=fix) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise QaFileError(f"not a routing plan: {first['msg']}", file=str(path),
                          field=".".join(str(p) for p in first["loc"]), fix=fix) from None


def _checked(rows: list[QaRow], plan: RoutingPlan, source: str) -> list[QaRow]:
    """The rows with their policy filled in; one problem per row that names a policy, tier or
    label the plan does not have."""
    policies = {p.policy: p for p in plan.policies}
    only = next(iter(policies)) if len(policies) == 1 else None
    out, problems = [], []
    for r in rows:
        pid = r.policy or only
        if pid not in policies:
            problems.append(Problem(
                f"policy {r.policy!r} is not in the plan" if r.policy else
                "no policy: the plan has several", source, r.line, "policy",
                f"use one of {sorted(policies)}"))
            continue
        p = policies[pid]
        tiers = [t.decider for t in p.plan.tiers]
        if r.tier not in tiers:
            problems.append(Problem(f"tier {r.tier!r} is not a tier of {pid}'s plan", source,
                                    r.line, "tier", f"use one of {tiers}"))
            continue
        for column, label in (("decided", r.decided), ("qa", r.qa)):
            if label not in p.labels:
                problems.append(Problem(f"{label!r} is not a label of {pid}", source, r.line,
                                        column, f"use one of {p.labels}"))
                break
        else:
            out.append(QaRow(r.line, r.item_id, pid, r.tier, r.decided, r.qa, r.week))
    if problems:
        raise QaFileError(problems=problems[:20])
    return out


def monitor_plan(routing_file: Path | str, qa_file: Path | str, *, alpha: float = 0.05,
                 out_dir: Path | str | None = None) -> MonitorReport:
    """Check every claim of the plan in ``routing_file`` that a QA sample can check against the
    rows of ``qa_file``; write ``monitor.json``, ``monitor.md`` and ``monitor.html`` into
    ``out_dir`` (default: the routing file's folder). Raises
    :class:`~evalharness.records.errors.QaFileError` for bad input; a revoked claim is in the
    report (``report.exit_code`` is 1), not raised."""
    routing_path, qa_path = Path(routing_file), Path(qa_file)
    if not 0 < alpha < 1:
        raise QaFileError(f"alpha {alpha} is not between 0 and 1", field="--alpha",
                          fix="use e.g. 0.05")
    plan = read_routing_plan(routing_path)
    rows = _checked(read_qa_file(qa_path), plan, str(qa_path))
    claims = plan_claims(plan)
    if not claims:
        raise QaFileError("the plan signs no claim a QA sample can check (no auto-action, "
                          "auto-clear or end-to-end target)", file=str(routing_path),
                          fix="monitor the plan `route` recommended with targets")
    weeks = sorted({r.week for r in rows})
    each = alpha / len(claims)
    watched = [watch(c, [r for r in rows if r.policy == c.policy.policy], weeks, each)
               for c in claims]
    report = MonitorReport(routing_file=str(routing_path), qa_file=str(qa_path),
                           run_id=plan.run_id, alpha=alpha, claim_alpha=each, rows=len(rows),
                           weeks=weeks, claims=watched,
                           revoked=sum(c.verdict == "revoke" for c in watched))
    folder = Path(out_dir) if out_dir is not None else routing_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "monitor.json", report.model_dump_json(indent=2) + "\n")
    write_atomic(folder / "monitor.md", render_monitor_markdown(report))
    write_atomic(folder / "monitor.html", render_monitor_html(report))
    return report
