"""Gating prompt changes: two runs paired item by item, the deltas a gate checks, the gate's rules
and checks, and history rows."""
