"""``evalharness compare``: two run folders item by item and, with a gate, the verdict."""

from __future__ import annotations

from pathlib import Path

from ..execution.rundir import RunDir
from ..gating.compare import compare_decisions
from ..gating.gate import check_gate
from ..inputs.gate_file import load_gate
from ..records.comparison import CompareResult
from ..records.gate import GateFile
from .adjudication import load_adjudication, regold_decisions

__all__ = ["compare_runs"]


def compare_runs(
    base_dir: Path | str,
    candidate_dir: Path | str,
    *,
    gate: GateFile | Path | str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    adjudicated: Path | str | None = None,
) -> CompareResult:
    """Compare two run folders item by item and, with a gate, check the candidate against it.

    Calls no model: only ``manifest.json`` and ``decisions.jsonl`` are read. A gate file is
    loaded first, so a malformed one fails before any run is read. With a gate, intervals use
    its ``alpha`` (confidence ``1 - alpha``); the verdict is ``result.gate`` (``result.passed``).
    Raises :class:`~evalharness.records.errors.RunDirError` or
    :class:`~evalharness.records.errors.ConfigError`
    for unreadable input, for runs that share no item (or no item of the same gold), and for a
    gate check over zero items or a gate that checks nothing; a failed gate is not raised here
    (the CLI turns it into exit 1). ``adjudicated`` (an adjudication file) grades both runs
    against its verdicts' labels.
    """
    gate_file = load_gate(gate) if isinstance(gate, (str, Path)) else gate
    alpha = gate_file.alpha if gate_file else 0.05
    adjudication = load_adjudication(adjudicated) if adjudicated is not None else None
    runs, changed = [], set()
    for path in (base_dir, candidate_dir):
        run = RunDir(Path(path))
        decisions = run.read_decisions()
        if adjudication is not None:
            decisions, moved = regold_decisions(decisions, adjudication)
            changed |= moved
        runs.append((run.read_manifest(), decisions))
    (mb, db), (mc, dc) = runs
    result = compare_decisions(mb, db, mc, dc, base_path=base_dir, candidate_path=candidate_dir,
                               confidence=1 - alpha, alpha=alpha, n_resamples=n_resamples,
                               seed=seed, power=gate_file.power if gate_file else 0.8)
    if adjudication is not None:
        result.notes.insert(0, f"graded against adjudicated gold {adjudication.file} (version "
                               f"{adjudication.version}): {len(changed)} gold labels changed")
    if gate_file is not None:
        result.gate = check_gate(result, gate_file)
    return result
