"""The classifier head trained on embeddings: logistic regression unless the config names another
scikit-learn estimator."""

from __future__ import annotations

import importlib
from typing import Any

from .options import HeadOptions

__all__ = ["DEFAULT_LOGISTIC_PARAMS", "build_head"]

DEFAULT_LOGISTIC_PARAMS: dict[str, Any] = {"C": 1.0, "class_weight": "balanced", "max_iter": 2000}
"""Balanced classes (violations are rare in training sets too) and enough iterations to converge
on 384-dimensional e5 vectors."""

_LOGISTIC = "sklearn.linear_model.LogisticRegression"


def build_head(options: HeadOptions, seed: int = 0) -> Any:
    """An unfitted estimator; ``ValueError`` naming what is wrong when the path cannot be imported,
    the parameters do not fit it, or it is not a classifier with probabilities."""
    module_name, _, class_name = options.estimator.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name) if module_name else None
    except ImportError as exc:
        raise ValueError(f"cannot import {options.estimator!r}: {exc}") from None
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"{options.estimator!r} is not a class (give module.Class)")
    params = dict(options.params if options.params is not None else
                  DEFAULT_LOGISTIC_PARAMS if options.estimator == _LOGISTIC else {})
    if options.estimator == _LOGISTIC:
        params.setdefault("random_state", seed)
    try:
        head = cls(**params)
    except TypeError as exc:
        raise ValueError(f"{options.estimator}: {exc}") from None
    from sklearn.base import is_classifier

    if not is_classifier(head) or not hasattr(head, "predict_proba"):
        raise ValueError(f"{options.estimator} is not a scikit-learn classifier with predict_proba "
                         "(e.g. SVC needs probability: true)")
    return head
