"""Deciders: LLMs, classic classifiers, precomputed scores and human raters — and any kind a
plugin registers. A plugin needs only what this package exports: subclass :class:`Decider` and
:class:`DeciderOptions`, and register a factory with :func:`decider` (see
:mod:`evalharness.deciders.registry`)."""

from ..inputs.config import DeciderOptions
from .base import Decider, DecisionRequest
from .model import CallError, ModelDecider
from .registry import decider

__all__ = ["CallError", "Decider", "DeciderOptions", "DecisionRequest", "ModelDecider", "decider"]
