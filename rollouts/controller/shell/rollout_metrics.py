"""Per-rollout series, built at scrape time from the rollouts cache: they vanish with the rollout.

Why derived from the cache and not kept in counters: status is the controller's only memory
(rollouts.api.status), so every series here is a function of a rollout object as the informer
holds it — :func:`rollout_series`, pure — and a scrape asks the cache for the rollouts that exist
now. A deleted rollout leaves the cache, so its series are simply not produced any more: nothing
to remove, nothing that leaks, and a restarted controller or a new leader exposes the same
values as the old one (they are read from status, not remembered in a process).

Rollbacks and promotions are counters derived the same way (docs/operations.md, "Rollbacks and
promotions"): ``modelrollout_rollbacks_total{reason}`` is 1 for the reason of the object's last
outcome when it rolled back, 0 for every other reason a rollback can have (:data:`ROLLBACK_REASONS`,
so ``increase()`` sees each series go from 0 to 1) and back to 0 when the object's next rollout
starts — a counter reset to Prometheus, which ``increase()`` and ``rate()`` handle. They
survive controller restarts and leader changes because status does; what they cannot count is
a rollback replaced by a new rollout between two scrapes.

Only the leader exposes them (``leading``), and only for its shard's rollouts (``mine``): a
standby's cache is warm and other shards' rollouts are cached too, so without these two rules a
``sum`` over the controller's replicas would count a rollout several times.

Cardinality is bounded per rollout and documented in docs/operations.md: every label value comes
from a closed set (Phase, Verdict, condition types, reasons) or from the spec (names, versions,
up to 16 metrics).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import ValidationError

from rollouts.api.conditions import Reason
from rollouts.api.resource import ModelRollout
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import ModelRolloutStatus, Phase, Result, Verdict
from rollouts.api.timestamps import parse_timestamp
from rollouts.controller.core.decide import approved
from rollouts.runtime.informer import Store
from rollouts.runtime.kube import KubeObject

ROLLBACK_REASONS = (
    Reason.ANALYSIS_FAILED,
    Reason.ANALYSIS_INCONCLUSIVE,
    Reason.CANDIDATE_FAILING,
    Reason.CANDIDATE_MISSING,
    Reason.ERROR_BUDGET_EXHAUSTED,
    Reason.MAX_DURATION_EXCEEDED,
)
"""Every reason with which the controller ends a rollout RolledBack (tests check decide agrees)."""

PROMOTION_REASONS = (Reason.PROMOTED,)
"""Every reason with which the controller ends a rollout Succeeded."""

CONDITION_STATUSES = ("True", "False", "Unknown")


class Kind(StrEnum):
    """The Prometheus type of a family."""

    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True)
class Family:
    """One metric family: its type, help and the labels after ``namespace`` and ``name``."""

    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


FAMILIES: dict[str, Family] = {
    "modelrollout_info": Family(
        Kind.GAUGE, "Always 1: the versions compared and the router.", ("baseline", "candidate", "router")
    ),
    "modelrollout_phase": Family(Kind.GAUGE, "1 for the rollout's phase, 0 for the others.", ("phase",)),
    "modelrollout_step": Family(Kind.GAUGE, "Index of the step in progress (from 0)."),
    "modelrollout_steps": Family(Kind.GAUGE, "Number of steps in the plan."),
    "modelrollout_weight": Family(Kind.GAUGE, "Candidate weight asked of the router, in percent."),
    "modelrollout_metric_verdict": Family(
        Kind.GAUGE, "1 for each metric's latest verdict, 0 for the others.", ("metric", "verdict")
    ),
    "modelrollout_metric_evidence": Family(
        Kind.GAUGE, "Evidence of harm: log10 of the metric's e-value (status log10E).", ("metric",)
    ),
    "modelrollout_metric_evidence_threshold": Family(
        Kind.GAUGE,
        "log10(1/alpha): evidence at or above it rejects 'no harm' at the rollout's alpha (before Holm).",
        ("metric",),
    ),
    "modelrollout_analysis_looks": Family(Kind.GAUGE, "Analysis intervals judged so far."),
    "modelrollout_analysis_consecutive_errors": Family(Kind.GAUGE, "Failed analysis looks in a row."),
    "modelrollout_analysis_error_budget": Family(
        Kind.GAUGE, "spec.analysis.errorBudget: failed looks in a row tolerated before rolling back."
    ),
    "modelrollout_started_timestamp_seconds": Family(Kind.GAUGE, "When the rollout started (Unix time)."),
    "modelrollout_step_started_timestamp_seconds": Family(
        Kind.GAUGE, "When the step in progress started (Unix time)."
    ),
    "modelrollout_deadline_timestamp_seconds": Family(
        Kind.GAUGE,
        "The earliest moment the controller must act by itself on a running rollout: maxDuration, "
        "progressDeadline while the candidate is not ready, the end of an analyze step (Unix time).",
    ),
    "modelrollout_duration_seconds": Family(Kind.GAUGE, "Ended rollouts: seconds from start to outcome."),
    "modelrollout_condition": Family(
        Kind.GAUGE, "1 for each condition's status, 0 for the other two.", ("type", "status")
    ),
    "modelrollout_waiting_for_approval": Family(
        Kind.GAUGE, "1 while an approve step waits for an approval, else 0."
    ),
    "modelrollout_held": Family(Kind.GAUGE, "1 while progress is held for a person (status.hold), else 0."),
    "modelrollout_rollbacks": Family(
        Kind.COUNTER, "1 for the reason the object's last rollout rolled back, else 0.", ("reason",)
    ),
    "modelrollout_promotions": Family(
        Kind.COUNTER, "1 for the reason the object's last rollout was promoted, else 0.", ("reason",)
    ),
}
"""Every family the collector serves; docs/operations.md has the same table."""


class Series(NamedTuple):
    """One sample: its family, the labels after ``namespace`` and ``name``, and its value."""

    family: str
    labels: tuple[str, ...]
    value: float


def rollout_series(obj: KubeObject) -> list[Series]:
    """Every sample of one rollout object (the module docstring); none for an unparsable one.

    A spec that does not parse (``SpecValid`` False) still shows its phase and conditions, read
    from status alone.
    """
    try:
        rollout = ModelRollout.from_wire(obj)
    except ValidationError:
        try:
            status = ModelRolloutStatus.model_validate(obj.get("status") or {})
        except ValidationError:
            return []
        return [*_phase(status), *_conditions(status)]
    status = rollout.status or ModelRolloutStatus()
    return [
        *_spec_series(rollout.spec),
        *_phase(status),
        *_conditions(status),
        *_progress(rollout.spec, status),
        *_analysis(rollout.spec, status),
        *_outcomes(status),
    ]


def _spec_series(spec: ModelRolloutSpec) -> Iterator[Series]:
    yield Series(
        "modelrollout_info", (spec.baseline.version, spec.candidate.version, spec.traffic.chosen()), 1.0
    )
    yield Series("modelrollout_steps", (), float(len(spec.steps)))
    yield Series("modelrollout_analysis_error_budget", (), float(spec.analysis.error_budget))


def _phase(status: ModelRolloutStatus) -> Iterator[Series]:
    current = status.phase or Phase.PENDING
    for phase in Phase:
        yield Series("modelrollout_phase", (phase.value,), float(phase is current))


def _conditions(status: ModelRolloutStatus) -> Iterator[Series]:
    for condition in status.conditions:
        for value in CONDITION_STATUSES:
            yield Series("modelrollout_condition", (condition.type, value), float(condition.status == value))


def _unix(text: str | None) -> float | None:
    return parse_timestamp(text).timestamp() if text else None


def _progress(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> Iterator[Series]:
    started = _unix(status.started_at)
    step_started = _unix(status.step_started_at)
    yield Series("modelrollout_weight", (), float(status.weight or 0))
    yield Series("modelrollout_held", (), float(status.hold is not None))
    yield Series("modelrollout_waiting_for_approval", (), float(waiting_for_approval(spec, status)))
    if status.current_step is not None:
        yield Series("modelrollout_step", (), float(status.current_step))
    if started is not None:
        yield Series("modelrollout_started_timestamp_seconds", (), started)
    if step_started is not None:
        yield Series("modelrollout_step_started_timestamp_seconds", (), step_started)
    if status.outcome is not None and started is not None:
        ended = parse_timestamp(status.outcome.at).timestamp()
        yield Series("modelrollout_duration_seconds", (), max(0.0, ended - started))
    deadline = next_deadline(spec, status)
    if deadline is not None:
        yield Series("modelrollout_deadline_timestamp_seconds", (), deadline.timestamp())


def waiting_for_approval(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> bool:
    """A running, unheld rollout whose current step is an approve step nobody approved yet."""
    index = status.current_step
    if status.outcome is not None or status.hold is not None or index is None or index >= len(spec.steps):
        return False
    return spec.steps[index].approve is not None and approved(spec, status, index) is None


def next_deadline(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> datetime | None:
    """The earliest moment a running rollout must change without anyone acting (None: ended).

    The controller's own deadlines (rollouts.controller.core.decide): ``maxDuration`` from the
    start (rule 4, always), ``progressDeadline`` from the start while the candidate is not ready
    (rule 9), and the end of an analyze step unless progress is held or paused (rule 10). A
    rollout still running past it means the controller is not acting: the ModelRolloutStuck alert.
    """
    if status.outcome is not None or status.started_at is None:
        return None
    started = parse_timestamp(status.started_at)
    deadlines = [started + spec.max_duration.delta]
    if status.candidate_ready_at is None:
        deadlines.append(started + spec.progress_deadline.delta)
    index = status.current_step
    if (
        index is not None
        and index < len(spec.steps)
        and status.step_started_at is not None
        and status.hold is None
        and not spec.paused
    ):
        analyze = spec.steps[index].analyze
        if analyze is not None:
            deadlines.append(parse_timestamp(status.step_started_at) + analyze.duration.delta)
    return min(deadlines)


def _analysis(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> Iterator[Series]:
    analysis = status.analysis
    if analysis is None:
        return
    yield Series("modelrollout_analysis_looks", (), float(analysis.looks))
    yield Series("modelrollout_analysis_consecutive_errors", (), float(analysis.consecutive_errors))
    threshold = -math.log10(analysis.tuning.get("alpha", spec.analysis.alpha))
    for metric in analysis.metrics:
        for verdict in Verdict:
            yield Series(
                "modelrollout_metric_verdict", (metric.name, verdict.value), float(verdict is metric.verdict)
            )
        if metric.log10_e is not None:
            yield Series("modelrollout_metric_evidence", (metric.name,), metric.log10_e)
            yield Series("modelrollout_metric_evidence_threshold", (metric.name,), threshold)


def _outcomes(status: ModelRolloutStatus) -> Iterator[Series]:
    outcome = status.outcome
    for family, result, reasons in (
        ("modelrollout_rollbacks", Result.ROLLED_BACK, ROLLBACK_REASONS),
        ("modelrollout_promotions", Result.SUCCEEDED, PROMOTION_REASONS),
    ):
        ended = outcome.reason if outcome is not None and outcome.result is result else None
        for reason in sorted({*reasons, *([ended] if ended is not None else [])}):
            yield Series(family, (str(reason),), float(reason == ended))


class RolloutCollector:
    """A prometheus_client collector of :func:`rollout_series` over the rollouts cache.

    Parsing a rollout costs a few hundred microseconds, a thousand rollouts a third of a
    second per scrape, so each rollout's series are remembered with the resourceVersion they
    were built from and rebuilt only when it changes; what a scrape does not find in the cache
    (a deleted rollout) is forgotten by that scrape.
    """

    def __init__(
        self, rollouts: Store, mine: Callable[[KubeObject], bool], leading: Callable[[], bool]
    ) -> None:
        self._rollouts = rollouts
        self._mine = mine
        self._leading = leading
        self._lock = threading.Lock()  # the metrics server may serve two scrapes at once
        self._built: dict[tuple[str, str], tuple[object, list[Series]]] = {}

    def describe(self) -> Iterable[Metric]:
        """Nothing to check at registration: the families are built when scraped."""
        return ()

    def collect(self) -> Iterable[Metric]:
        """The families of every rollout this replica leads for, built now."""
        if not self._leading():
            return []
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            name: (GaugeMetricFamily if family.kind is Kind.GAUGE else CounterMetricFamily)(
                name, family.help, labels=("namespace", "name", *family.labels)
            )
            for name, family in FAMILIES.items()
        }
        with self._lock:
            built: dict[tuple[str, str], tuple[object, list[Series]]] = {}
            for obj in self._rollouts.list():
                if not self._mine(obj):
                    continue
                metadata = obj.get("metadata", {})
                identity = (str(metadata.get("namespace", "")), str(metadata.get("name", "")))
                version = metadata.get("resourceVersion")
                before = self._built.get(identity)
                if before is not None and version is not None and before[0] == version:
                    built[identity] = before
                else:
                    built[identity] = (version, rollout_series(obj))
            self._built = built
        for identity, (_, samples) in built.items():
            for series in samples:
                families[series.family].add_metric([*identity, *series.labels], series.value)
        return list(families.values())
