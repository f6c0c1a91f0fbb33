"""Tier routing: which tier (classic, LLM, human site) takes which cases of a policy, with claims
that hold at the stated production prevalence.

The data flow, one module each:

* :mod:`.data` — every candidate tier's decisions as arrays; one gold per set of tiers;
* :mod:`.goals` — the targets of one policy and how the error rate is shared;
* :mod:`.thresholds` — eligible thresholds on calibration items (the one selection path);
* :mod:`.cascades` — cascades of tiers, simulated;
* :mod:`.search` — every cascade on calibration items (:mod:`.tally` counts them);
  :mod:`.candidates` — the searched cascades as columns, the frontier, the short list;
* :mod:`.claims` — claims and their family-wise tests on validation items;
* :mod:`.evaluation` — a plan's claims, quality, shares and cost, at a prevalence;
* :mod:`.plans` — plans and first-tier thresholds as records; :mod:`.slices`, :mod:`.qa`;
* :mod:`.wording` — the plan in plain words; :mod:`.policy` — ``route_policy``;
* :mod:`evalharness.records.routing` — what ``routing.yaml`` holds.

Method: items are split by a seeded hash of their id into calibration and validation. Thresholds
and a short list of plans (``validation_plans``) are chosen on calibration items only; every
claim — each step's precision or false-negative ceiling, each end-to-end and slice target — is
tested on validation items, at the production prevalence when one is stated. The claims of each
short-listed plan form a family, the first-tier thresholds of every decider another; the families
share ``1 - confidence`` equally and Holm's procedure runs within each, so every claim reported
as guaranteed holds with probability at least ``confidence``, all together.
"""

from .cascades import Cascade, Simulation, Step, simulate
from .claims import Claim, check_claims
from .data import DeciderArrays, PolicyData, build_policy_data, calibration_mask
from .evaluation import evaluate_cascade
from .goals import PolicyGoals, resolve_goals, selection_confidence
from .policy import route_policy

__all__ = [
    "Cascade",
    "Claim",
    "DeciderArrays",
    "PolicyData",
    "PolicyGoals",
    "Simulation",
    "Step",
    "build_policy_data",
    "calibration_mask",
    "check_claims",
    "evaluate_cascade",
    "resolve_goals",
    "route_policy",
    "selection_confidence",
    "simulate",
]
