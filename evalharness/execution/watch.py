"""The fail-closed watch over a model decider's calls: a provider that refuses the key, model or
permission (401, 403, 404) stops the run at once; one whose first calls all fail stops it too."""

from __future__ import annotations

from ..deciders import ModelDecider
from ..records import Decision
from ..records.errors import DeciderError

FIRST_CALLS = 5
"""A model decider with at least this many calls to make whose first this-many calls all end in
``error`` stops the run: an endpoint that answers nothing would otherwise be asked for every item.
(With fewer calls to make, errors are outcomes like any other, and count in the error budget.)"""


class CallWatch:
    """Stops a decider whose calls cannot succeed: a fatal answer, or only errors at first."""

    def __init__(self, decider: ModelDecider) -> None:
        self.decider = decider
        self.done = 0
        self.errors = 0
        self.last_error = ""

    def saw(self, decision: Decision, fatal: str | None) -> None:
        if fatal:
            raise DeciderError(
                f"decider {self.decider.name}: the provider refused the request ({fatal}); the "
                f"run stopped after {self.done + 1} call{'s' if self.done else ''}",
                fix="check the key (api_key_env), the model name and api_base, then run again "
                    "with --resume")
        self.done += 1
        if decision.outcome == "error":
            self.errors += 1
            self.last_error = decision.error or ""
        if self.done == FIRST_CALLS and self.errors == FIRST_CALLS:
            raise DeciderError(
                f"decider {self.decider.name}: its first {FIRST_CALLS} calls all failed (last: "
                f"{self.last_error}); the run stopped",
                fix="check that the endpoint is up and answers, then run again with --resume")
