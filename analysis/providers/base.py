"""The provider Protocol: one interval's observation of one metric, or a scalar at a time.

Why a Protocol of our own: the controller, ``rollouts analyze`` and the tests depend on this
small seam, not on Prometheus. Expected failures are data: a provider returns
:class:`~analysis.observations.QueryFailed` (verdict ERROR) or
:class:`~analysis.observations.NoData` (verdict NO_DATA) instead of raising, so one broken
query never hides the other metrics of the same look.

Query templates use ``{{version}}`` (each cohort's version in turn; the candidate's for guards),
``{{interval}}`` (the window length as a PromQL duration such as ``60s``) and the user's
variables; :mod:`analysis.templates` renders them with every value escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from analysis.criteria import MetricCriteria
from analysis.observations import NoData, Observation, QueryFailed, ScalarObservation, Window


@dataclass(frozen=True)
class Versions:
    """The model versions of the two cohorts, as their metrics are labelled."""

    baseline: str
    candidate: str


ScalarResult = ScalarObservation | NoData | QueryFailed


class MetricsProvider(Protocol):
    """Where observations come from (Prometheus, a file)."""

    def observe(
        self, metric: MetricCriteria, window: Window, versions: Versions, variables: Mapping[str, str]
    ) -> Observation:
        """The counts of both cohorts over ``window`` (guards: the candidate's value at its end)."""
        ...

    def scalar(self, query: str, at: datetime, variables: Mapping[str, str]) -> ScalarResult:
        """One number at time ``at`` (guards, and the controller's readyQuery: true when non-zero)."""
        ...
