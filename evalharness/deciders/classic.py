"""Classic tier: TF-IDF features and logistic regression, trained on a disjoint golden set."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..inputs.config import DeciderOptions, GoldenSetSpec, RunConfig
from ..inputs.policies import Policy
from ..records import Decision, GoldenItem
from .base import Decider, DecisionRequest
from .registry import decider
from .training import TrainingSet

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class ClassicDeciderConfig(DeciderOptions):
    """TF-IDF features and logistic regression, trained on a disjoint golden set."""

    kind: Literal["classic"]
    train: GoldenSetSpec
    """Training items; their ids must not overlap the evaluated items."""
    features: Literal["word", "char", "word+char"] = "word+char"
    """Word 1-2 grams, character 2-5 grams within word bounds, or both."""
    max_features: int = Field(default=100_000, gt=0)
    """Vocabulary size per feature kind."""
    c: float = Field(default=4.0, gt=0)
    """Inverse regularisation strength of the logistic regression."""
    class_weight: Literal["balanced", "none"] = "balanced"
    """``balanced`` weights classes inversely to their frequency (rare violations count more)."""
    seed: int = 0
    """Seed of the logistic regression solver."""


def build_pipeline(config: ClassicDeciderConfig) -> Pipeline:
    """The untrained scikit-learn pipeline a classic decider config describes."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    def vectorizer(analyzer: str, ngrams: tuple[int, int]) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, min_df=2, sublinear_tf=True,
                               max_features=config.max_features, lowercase=True)

    parts = []
    if config.features in ("word", "word+char"):
        parts.append(("word", vectorizer("word", (1, 2))))
    if config.features in ("char", "word+char"):
        parts.append(("char", vectorizer("char_wb", (2, 5))))
    return Pipeline([
        ("features", FeatureUnion(parts)),
        ("model", LogisticRegression(
            C=config.c, max_iter=2000, random_state=config.seed,
            class_weight=None if config.class_weight == "none" else "balanced",
        )),
    ])


class ClassicDecider(Decider):
    """One TF-IDF + logistic regression model per policy; confidence = predicted probability."""

    kind = "classic"
    recomputable = True

    def __init__(self, config: ClassicDeciderConfig, run_config: RunConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self.run_config = run_config
        self.train = TrainingSet(config.train, run_config, config.name)
        self.models: dict[str, Pipeline] = {}
        self.train_counts: dict[str, dict[str, int]] = {}
        self.train_seconds: dict[str, float] = {}

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """Load the training set; refuse overlap with the evaluated items or a single class."""
        self.train.load(policies, items)

    def setup(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        for policy in policies:
            labeled = self.train.labeled(policy)
            start = time.perf_counter()
            pipeline = build_pipeline(self.config)
            try:
                pipeline.fit([t for t, _ in labeled], [label for _, label in labeled])
            except ValueError as exc:  # e.g. too few items for min_df: bad training data, not a bug
                raise self.train.problem(
                    f"cannot train on {len(labeled)} items labeled for {policy.id}: {exc}",
                    fix="train on a larger set (thousands of items are typical)") from None
            self.train_seconds[policy.id] = time.perf_counter() - start
            self.models[policy.id] = pipeline
            self.train_counts[policy.id] = self.train.counts(policy)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "model": f"tfidf[{self.config.features}]+logistic_regression",
            "params": self.config.model_dump(exclude={"name", "kind", "train", "policies"}),
            "train": self.config.train.model_dump(),
            "train_counts": self.train_counts,
            "train_seconds": {k: round(v, 3) for k, v in self.train_seconds.items()},
        }

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        by_policy: dict[str, list[DecisionRequest]] = {}
        for request in requests:
            by_policy.setdefault(request.policy.id, []).append(request)
        for policy_id, batch in by_policy.items():
            model = self.models[policy_id]
            start = time.perf_counter()
            probabilities = model.predict_proba([r.item.text for r in batch])
            per_item = (time.perf_counter() - start) / len(batch)
            classes = [str(c) for c in model.classes_]
            for request, row in zip(batch, probabilities):
                scores = {label: 0.0 for label in request.policy.label_names}
                scores.update({c: float(p) for c, p in zip(classes, row)})
                label = max(scores, key=scores.__getitem__)
                yield self.decision(
                    request, label=label, outcome="ok", confidence=scores[label],
                    confidence_source="probability", scores=scores, latency_s=per_item,
                )


@decider("classic", options=ClassicDeciderConfig)
def _make(config: ClassicDeciderConfig, run_config: RunConfig) -> Decider:
    return ClassicDecider(config, run_config)
