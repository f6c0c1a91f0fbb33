"""Deciders: LLMs, classic classifiers, precomputed scores and human raters."""

from .base import Decider, DecisionRequest

__all__ = ["Decider", "DecisionRequest"]
