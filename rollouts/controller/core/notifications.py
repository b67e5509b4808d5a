"""Which notifications are still to send, derived from status alone (pure).

Why from status: a notification is about a transition, and every transition is already a
``status.history`` entry written with the resourceVersion read (rollouts.controller.core.decide).
``status.notifications`` records, per notifier, the last entry done with. The notifications
still to send are the later entries whose event the rollout asked for (:func:`pending`), so a
restarted controller derives the same set from the same status: nothing kept only in memory
can be lost, and nothing recorded as sent is sent again.

The record moves forward only through :func:`records`, which the reconciler applies to the
status it is about to write: a new subscription starts after the history it finds (no page
about the past), and a delivery the sender reports (:class:`Delivery`) advances its notifier's
record, never backwards. Between a receiver's 2xx and that write lies the one window that
cannot be closed (a crash there sends the event again on restart); every request carries the
event's id so a receiver can drop the repeat (docs/notifications.md).

Events come from history reasons (:func:`event_of`): the reasons that end a rollout map to its
result (the reasons ``decide._end`` is called with), the reasons that start one to Started, and
a hold, or a step start that lands on an approve step, to Waiting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rollouts.api.conditions import Reason
from rollouts.api.notifications import NotificationEvent
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import HistoryEntry, MetricResult, ModelRolloutStatus, NotifierRecord, Verdict
from rollouts.api.timestamps import parse_timestamp

EVENTS: Mapping[Reason, NotificationEvent] = {
    Reason.ROLLOUT_STARTED: NotificationEvent.STARTED,
    Reason.ROLLOUT_RETRIED: NotificationEvent.STARTED,
    Reason.CANDIDATE_CHANGED: NotificationEvent.STARTED,
    Reason.HELD: NotificationEvent.WAITING,
    Reason.PROMOTED: NotificationEvent.PROMOTED,
    Reason.ABORTED: NotificationEvent.ABORTED,
    Reason.PROGRESS_DEADLINE_EXCEEDED: NotificationEvent.FAILED,
    Reason.ANALYSIS_FAILED: NotificationEvent.ROLLED_BACK,
    Reason.ANALYSIS_INCONCLUSIVE: NotificationEvent.ROLLED_BACK,
    Reason.ERROR_BUDGET_EXHAUSTED: NotificationEvent.ROLLED_BACK,
    Reason.MAX_DURATION_EXCEEDED: NotificationEvent.ROLLED_BACK,
    Reason.CANDIDATE_FAILING: NotificationEvent.ROLLED_BACK,
    Reason.CANDIDATE_MISSING: NotificationEvent.ROLLED_BACK,
}
"""History reasons that are notification events by themselves."""

STEP_REASONS = frozenset({Reason.STEP_STARTED, Reason.STEPS_CHANGED})
"""History reasons that are Waiting when the step they land on is an approve step."""


@dataclass(frozen=True)
class RolloutRef:
    """The rollout a notification is about; ``uid`` tells a re-created rollout of the same name apart."""

    namespace: str
    name: str
    uid: str = ""


@dataclass(frozen=True)
class Notification:
    """One event for one notifier, with everything a payload says (rollouts.controller.core.payloads)."""

    id: str
    """The same for every try and every controller: receivers de-duplicate on it."""
    notifier: str
    event: NotificationEvent
    rollout: RolloutRef
    time: str
    reason: str
    message: str
    baseline_version: str
    candidate_version: str
    step: int | None
    weight: int | None
    failing_metrics: tuple[MetricResult, ...] = ()
    """RolledBack by the analysis: the metrics judged FAIL, with their numbers."""
    aborted_by: str | None = None
    abort_reason: str | None = None


@dataclass(frozen=True)
class Delivery:
    """What the sender reports for one notifier of one rollout since this process started."""

    event_id: str | None = None
    """The last event sent (a 2xx answer); None: none yet."""
    time: str | None = None
    """That event's history time."""
    error: str | None = None
    """Why the next event is not sent yet; None once it is (never a URL or token)."""


def event_id(rollout: RolloutRef, entry: HistoryEntry) -> str:
    """A stable id for the history entry ``entry`` of ``rollout`` (32 hex digits).

    >>> entry = HistoryEntry(time="2026-11-28T06:00:00Z", reason="Promoted")
    >>> event_id(RolloutRef("ml", "fraud", "u1"), entry)
    'd79e4b6a54bbed52858071808edd8085'
    """
    text = f"{rollout.namespace}/{rollout.name}/{rollout.uid}/{entry.time}/{entry.reason}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def event_of(spec: ModelRolloutSpec, entry: HistoryEntry) -> NotificationEvent | None:
    """The notification event a history entry is, if any."""
    try:
        reason = Reason(entry.reason)
    except ValueError:
        return None
    if reason in STEP_REASONS:
        step = entry.step
        on_approve = step is not None and step < len(spec.steps) and spec.steps[step].approve is not None
        return NotificationEvent.WAITING if on_approve else None
    return EVENTS.get(reason)


def _first_pending(rollout: RolloutRef, history: Sequence[HistoryEntry], record: NotifierRecord) -> int:
    """Index of the first history entry after ``record``'s (0: every entry is pending).

    The record's entry is found by id; once it has left the bounded history, by time (entries
    at the very same instant as it count as done).
    """
    if record.through_event_id is None:
        return 0
    for index, entry in enumerate(history):
        if event_id(rollout, entry) == record.through_event_id:
            return index + 1
    if record.through_time is None:
        return 0
    through = parse_timestamp(record.through_time)
    for index, entry in enumerate(history):
        if parse_timestamp(entry.time) > through:
            return index
    return len(history)


def pending(
    rollout: RolloutRef, spec: ModelRolloutSpec, status: ModelRolloutStatus
) -> tuple[Notification, ...]:
    """Every notification still to send, per notifier oldest first (pure).

    Only notifiers with a record in ``status`` (written by :func:`records`) have pending events.
    """
    recorded = {record.notifier: record for record in status.notifications}
    found: list[Notification] = []
    for route in spec.notifications:
        record = recorded.get(route.notifier)
        if record is None:
            continue
        history = status.history
        for entry in history[_first_pending(rollout, history, record) :]:
            event = event_of(spec, entry)
            if event is not None and event in route.events:
                found.append(_notification(rollout, spec, status, route.notifier, (event, entry)))
    return tuple(found)


def _notification(
    rollout: RolloutRef,
    spec: ModelRolloutSpec,
    status: ModelRolloutStatus,
    notifier: str,
    what: tuple[NotificationEvent, HistoryEntry],
) -> Notification:
    event, entry = what
    outcome = status.outcome
    ending = outcome is not None and (outcome.at, outcome.reason) == (entry.time, entry.reason)
    failing: tuple[MetricResult, ...] = ()
    if ending and event is NotificationEvent.ROLLED_BACK and status.analysis is not None:
        failing = tuple(metric for metric in status.analysis.metrics if metric.verdict is Verdict.FAIL)
    abort = spec.abort if ending and event is NotificationEvent.ABORTED else None
    return Notification(
        id=event_id(rollout, entry),
        notifier=notifier,
        event=event,
        rollout=rollout,
        time=entry.time,
        reason=entry.reason,
        message=entry.message,
        baseline_version=spec.baseline.version,
        candidate_version=status.candidate_version or spec.candidate.version,
        step=entry.step,
        weight=entry.weight,
        failing_metrics=failing,
        aborted_by=abort.requested_by if abort is not None else None,
        abort_reason=abort.reason if abort is not None else None,
    )


def records(
    rollout: RolloutRef,
    spec: ModelRolloutSpec,
    before: ModelRolloutStatus,
    after: ModelRolloutStatus,
    deliveries: Mapping[str, Delivery],
) -> ModelRolloutStatus:
    """``after`` with its ``notifications`` records brought up to date (pure).

    - one record per notifier of ``spec.notifications`` (a notifier no longer named is dropped);
    - a new one starts after the last entry of ``before.history``: events that happened before
      the rollout named the notifier are not sent;
    - a delivery moves its record forward to the event sent (never backwards) and sets or clears
      ``lastError``.
    """
    recorded = {record.notifier: record for record in after.notifications}
    updated: list[NotifierRecord] = []
    for route in spec.notifications:
        record = recorded.get(route.notifier) or _subscribed(rollout, route.notifier, before.history)
        delivery = deliveries.get(route.notifier)
        if delivery is not None:
            if delivery.event_id is not None and _ahead(rollout, after.history, delivery, record):
                record = record.model_copy(
                    update={"through_event_id": delivery.event_id, "through_time": delivery.time}
                )
            record = record.model_copy(update={"last_error": delivery.error})
        updated.append(record)
    return after.model_copy(update={"notifications": tuple(updated)})


def _subscribed(rollout: RolloutRef, notifier: str, history: Sequence[HistoryEntry]) -> NotifierRecord:
    if not history:
        return NotifierRecord(notifier=notifier)
    last = history[-1]
    return NotifierRecord(notifier=notifier, through_event_id=event_id(rollout, last), through_time=last.time)


def _ahead(
    rollout: RolloutRef, history: Sequence[HistoryEntry], delivery: Delivery, record: NotifierRecord
) -> bool:
    """Whether the delivered event comes after the record's (unknown order: it does not)."""
    if record.through_event_id is None:
        return True
    if delivery.event_id == record.through_event_id:
        return False
    ids = [event_id(rollout, entry) for entry in history]
    if delivery.event_id in ids and record.through_event_id in ids:
        return ids.index(delivery.event_id) > ids.index(record.through_event_id)
    if delivery.time is None or record.through_time is None:
        return False
    return parse_timestamp(delivery.time) > parse_timestamp(record.through_time)


__all__ = ["Delivery", "Notification", "RolloutRef", "event_id", "event_of", "pending", "records"]
