"""Refinement cycles: a signed routing plan checked against production QA samples."""
