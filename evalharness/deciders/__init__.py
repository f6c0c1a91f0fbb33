"""Deciders: LLMs, classic classifiers, precomputed scores and human raters."""

from .base import CallError, Decider, DecisionRequest, ModelDecider

__all__ = ["CallError", "Decider", "DecisionRequest", "ModelDecider"]
