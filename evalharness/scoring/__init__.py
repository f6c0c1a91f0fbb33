"""Scoring a run from its decisions alone: ``metrics.json`` rows with intervals, the best decider,
human agreement and BPO sites, production-prevalence rates and root causes."""
