"""Notifications, the pure parts: which events are pending, how status records them, payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from rollouts.api.notifications import (
    CONFIG_KEY,
    CONFIG_NAME,
    NotificationEvent,
    NotifierKind,
    NotifiersConfig,
)
from rollouts.api.resource import ModelRollout
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import (
    AnalysisStatus,
    HistoryEntry,
    MetricResult,
    ModelRolloutStatus,
    NotifierRecord,
    Outcome,
    Result,
    Verdict,
)
from rollouts.cli.views import rollout_view
from rollouts.controller.core.notifications import (
    Delivery,
    Notification,
    RolloutRef,
    event_id,
    event_of,
    pending,
    records,
)
from rollouts.controller.core.payloads import render
from tests.cases.rollouts import valid_rollout

ROLLOUT = RolloutRef("ml", "fraud", "uid-1")
ALL = [event.value for event in NotificationEvent]


def spec_of(notifications: list[dict[str, Any]], **changes: Any) -> ModelRolloutSpec:
    body: dict[str, Any] = {
        "baseline": {"deployment": "model-v1", "version": "v1"},
        "candidate": {"deployment": "model-v2", "version": "v2"},
        "traffic": {"replicas": {}},
        "steps": [{"setWeight": 10}, {"analyze": {"duration": "10m"}}, {"approve": {}}, {"setWeight": 50}],
        "notifications": notifications,
    }
    body.update(changes)
    return ModelRolloutSpec.model_validate(body)


def entry(second: int, reason: str, step: int | None = 0, message: str = "") -> HistoryEntry:
    return HistoryEntry(
        time=f"2026-11-28T06:00:{second:02d}Z", reason=reason, step=step, weight=10, message=message
    )


HISTORY = (
    entry(0, "RolloutStarted", 0, "rolling out v2"),
    entry(1, "WeightSet", 0),
    entry(2, "CandidateReady", 0),
    entry(3, "StepStarted", 1, "step 1: analyze up to 10m"),
    entry(4, "StepStarted", 2, "step 2: approve"),
    entry(5, "Approved", 2),
    entry(6, "StepStarted", 3),
    entry(7, "Held", 3, "drift — approve step 3 to continue"),
    entry(8, "Promoted", 3, "v2 is the stable version"),
)


def status_of(history: tuple[HistoryEntry, ...] = HISTORY, **fields: Any) -> ModelRolloutStatus:
    return ModelRolloutStatus(candidate_version="v2", history=history, **fields)


def kinds(found: tuple[Notification, ...]) -> list[tuple[str, str]]:
    return [(n.notifier, n.event.value) for n in found]


# --- which history entries are events ---------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "step", "expected"),
    [
        ("RolloutStarted", 0, NotificationEvent.STARTED),
        ("RolloutRetried", 0, NotificationEvent.STARTED),
        ("CandidateChanged", 0, NotificationEvent.STARTED),
        ("StepStarted", 2, NotificationEvent.WAITING),  # lands on the approve step
        ("StepStarted", 1, None),  # an analyze step waits for the analysis, not a person
        ("StepsChanged", 2, NotificationEvent.WAITING),
        ("Held", 3, NotificationEvent.WAITING),
        ("Promoted", 3, NotificationEvent.PROMOTED),
        ("Aborted", 1, NotificationEvent.ABORTED),
        ("ProgressDeadlineExceeded", 0, NotificationEvent.FAILED),
        ("AnalysisFailed", 1, NotificationEvent.ROLLED_BACK),
        ("MaxDurationExceeded", 1, NotificationEvent.ROLLED_BACK),
        ("CandidateFailing", 1, NotificationEvent.ROLLED_BACK),
        ("ErrorBudgetExhausted", 1, NotificationEvent.ROLLED_BACK),
        ("WeightSet", 0, None),
        ("ScaledDown", 3, None),
        ("SomethingNewer", 0, None),  # a reason from a newer controller is no event
    ],
)
def test_history_reasons_map_to_events(reason: str, step: int, expected: NotificationEvent | None) -> None:
    assert event_of(spec_of([]), entry(0, reason, step)) == expected


def test_event_ids_are_stable_and_tell_rollouts_apart() -> None:
    first = event_id(ROLLOUT, HISTORY[0])
    assert first == event_id(ROLLOUT, HISTORY[0])
    assert len(first) == 32
    assert first != event_id(RolloutRef("ml", "fraud", "uid-2"), HISTORY[0])  # re-created rollout
    assert first != event_id(ROLLOUT, HISTORY[1])


# --- the pending set --------------------------------------------------------------------------


def test_nothing_is_pending_without_a_record_or_a_subscription() -> None:
    assert pending(ROLLOUT, spec_of([]), status_of()) == ()
    spec = spec_of([{"notifier": "oncall", "events": ALL}])
    assert pending(ROLLOUT, spec, status_of()) == ()  # no record yet: records() makes one first


def test_every_asked_event_after_an_empty_record_is_pending_in_order() -> None:
    spec = spec_of(
        [
            {"notifier": "oncall", "events": ["Waiting", "RolledBack"]},
            {"notifier": "audit", "events": ["Started", "Promoted"]},
        ]
    )
    status = status_of(notifications=(NotifierRecord(notifier="oncall"), NotifierRecord(notifier="audit")))
    assert kinds(pending(ROLLOUT, spec, status)) == [
        ("oncall", "Waiting"),
        ("oncall", "Waiting"),
        ("audit", "Started"),
        ("audit", "Promoted"),
    ]


def test_only_entries_after_the_record_are_pending() -> None:
    spec = spec_of([{"notifier": "oncall", "events": ALL}])
    through = NotifierRecord(
        notifier="oncall", through_event_id=event_id(ROLLOUT, HISTORY[4]), through_time=HISTORY[4].time
    )
    found = pending(ROLLOUT, spec, status_of(notifications=(through,)))
    assert kinds(found) == [("oncall", "Waiting"), ("oncall", "Promoted")]
    assert [n.id for n in found] == [event_id(ROLLOUT, HISTORY[7]), event_id(ROLLOUT, HISTORY[8])]


def test_a_record_whose_entry_left_the_history_is_found_by_time() -> None:
    spec = spec_of([{"notifier": "oncall", "events": ALL}])
    gone = NotifierRecord(notifier="oncall", through_event_id="0" * 32, through_time=HISTORY[6].time)
    assert kinds(pending(ROLLOUT, spec, status_of(notifications=(gone,)))) == [
        ("oncall", "Waiting"),
        ("oncall", "Promoted"),
    ]


# --- the record in status ---------------------------------------------------------------------


def test_a_new_subscription_starts_after_the_history_it_finds() -> None:
    spec = spec_of([{"notifier": "oncall", "events": ALL}])
    before = status_of(HISTORY[:7])
    after = status_of(HISTORY)  # this reconcile added Held and Promoted
    written = records(ROLLOUT, spec, before, after, {})
    (record,) = written.notifications
    assert record.through_event_id == event_id(ROLLOUT, HISTORY[6])
    assert kinds(pending(ROLLOUT, spec, written)) == [("oncall", "Waiting"), ("oncall", "Promoted")]


def test_a_rollout_created_with_notifications_sends_its_start() -> None:
    spec = spec_of([{"notifier": "audit", "events": ["Started"]}])
    written = records(ROLLOUT, spec, ModelRolloutStatus(), status_of(HISTORY[:2]), {})
    assert written.notifications == (NotifierRecord(notifier="audit"),)
    assert kinds(pending(ROLLOUT, spec, written)) == [("audit", "Started")]


def test_a_delivery_moves_the_record_forward_never_back() -> None:
    spec = spec_of([{"notifier": "oncall", "events": ALL}])
    status = status_of(notifications=(NotifierRecord(notifier="oncall"),))
    sent = Delivery(event_id=event_id(ROLLOUT, HISTORY[7]), time=HISTORY[7].time)
    forward = records(ROLLOUT, spec, status, status, {"oncall": sent})
    assert forward.notifications[0].through_event_id == sent.event_id
    assert kinds(pending(ROLLOUT, spec, forward)) == [("oncall", "Promoted")]
    older = Delivery(event_id=event_id(ROLLOUT, HISTORY[0]), time=HISTORY[0].time)
    assert records(ROLLOUT, spec, forward, forward, {"oncall": older}) == forward
    assert records(ROLLOUT, spec, forward, forward, {"oncall": sent}) == forward  # idempotent


def test_the_last_error_is_recorded_and_cleared() -> None:
    spec = spec_of([{"notifier": "oncall", "events": ALL}])
    status = status_of(notifications=(NotifierRecord(notifier="oncall"),))
    failing = records(ROLLOUT, spec, status, status, {"oncall": Delivery(error="HTTP 500")})
    assert failing.notifications[0].last_error == "HTTP 500"
    assert failing.notifications[0].through_event_id is None
    sent = Delivery(event_id=event_id(ROLLOUT, HISTORY[0]), time=HISTORY[0].time)
    assert records(ROLLOUT, spec, failing, failing, {"oncall": sent}).notifications[0].last_error is None


def test_a_notifier_no_longer_named_loses_its_record() -> None:
    status = status_of(notifications=(NotifierRecord(notifier="oncall"),))
    assert records(ROLLOUT, spec_of([]), status, status, {}).notifications == ()


def test_a_restart_derives_the_same_pending_set_from_status_alone() -> None:
    """What one process recorded, the next reads: nothing sent again, nothing left out."""
    spec = spec_of([{"notifier": "oncall", "events": ALL}])
    status = status_of(notifications=(NotifierRecord(notifier="oncall"),))
    first = pending(ROLLOUT, spec, status)
    delivered = Delivery(event_id=first[0].id, time=first[0].time)
    written = records(ROLLOUT, spec, status, status, {"oncall": delivered})
    after_restart = pending(ROLLOUT, spec, ModelRolloutStatus.model_validate(written.to_wire()))
    assert after_restart == first[1:]


# --- payloads ---------------------------------------------------------------------------------

FAILING = MetricResult(
    name="errors",
    kind="errorRate",
    verdict=Verdict.FAIL,
    effect=1.8,
    lower=1.2,
    upper=2.6,
    log10_e=2.3,
    p_value=0.004,
    baseline_samples=12000,
    candidate_samples=1300,
    reason="errors 1.8x the baseline's <b>",
    state={"opaque": [1, 2, 3]},
)


def ended(reason: str, result: Result, **spec_changes: Any) -> tuple[ModelRolloutSpec, ModelRolloutStatus]:
    spec = spec_of([{"notifier": "n", "events": ALL}], **spec_changes)
    end = entry(9, reason, 1, "the end")
    status = status_of(
        (*HISTORY[:3], end),
        outcome=Outcome(result=result, reason=reason, message="the end", at=end.time),
        analysis=AnalysisStatus(verdict=Verdict.FAIL, metrics=(FAILING,)),
        notifications=(NotifierRecord(notifier="n", through_event_id=event_id(ROLLOUT, HISTORY[2])),),
    )
    return spec, status


def test_a_rollback_carries_the_failing_metric_and_its_evidence() -> None:
    spec, status = ended("AnalysisFailed", Result.ROLLED_BACK)
    (notification,) = pending(ROLLOUT, spec, status)
    body = json.loads(render(NotifierKind.WEBHOOK, notification))
    assert body["event"] == "RolledBack"
    assert body["id"] == notification.id
    assert body["rollout"] == {"namespace": "ml", "name": "fraud"}
    assert (body["baselineVersion"], body["candidateVersion"]) == ("v1", "v2")
    assert (body["step"], body["weight"], body["reason"]) == (1, 10, "AnalysisFailed")
    (metric,) = body["failingMetrics"]
    assert metric["name"] == "errors"
    assert (metric["effect"], metric["lower"], metric["upper"]) == (1.8, 1.2, 2.6)
    assert (metric["log10E"], metric["pValue"]) == (2.3, 0.004)
    assert (metric["baselineSamples"], metric["candidateSamples"]) == (12000, 1300)
    assert "state" not in metric  # the engine's accumulators are no one's business
    assert "abortedBy" not in body


def test_an_abort_says_who_and_why() -> None:
    abort = {"reason": "latency page", "requestedBy": "alice@example.com", "version": "v2"}
    spec, status = ended("Aborted", Result.ABORTED, abort=abort)
    (notification,) = pending(ROLLOUT, spec, status)
    body = json.loads(render(NotifierKind.WEBHOOK, notification))
    assert (body["event"], body["abortedBy"], body["abortReason"]) == (
        "Aborted",
        "alice@example.com",
        "latency page",
    )
    assert "failingMetrics" not in body


def test_slack_gets_text_and_blocks_with_mrkdwn_escaped() -> None:
    spec, status = ended("AnalysisFailed", Result.ROLLED_BACK)
    (notification,) = pending(ROLLOUT, spec, status)
    body = json.loads(render(NotifierKind.SLACK, notification))
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("ml/fraud: v2 rolled back (baseline v1)")
    section, context = body["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "errors (errorRate) FAIL: effect 1.8, lower 1.2, upper 2.6" in section["text"]["text"]
    assert "&lt;b&gt;" in section["text"]["text"] and "<b>" not in section["text"]["text"]
    assert context["type"] == "context"
    assert notification.id in context["elements"][0]["text"]


def test_the_example_configures_every_notifier_its_rollout_names() -> None:
    folder = Path(__file__).parents[2] / "examples" / "notifications"
    config_map, secret = yaml.safe_load_all((folder / "notifiers.yaml").read_text())
    assert config_map["metadata"]["name"] == secret["metadata"]["name"] == CONFIG_NAME
    config = NotifiersConfig.model_validate({"notifiers": yaml.safe_load(config_map["data"][CONFIG_KEY])})
    rollout = ModelRollout.model_validate(yaml.safe_load((folder / "rollout.yaml").read_text()))
    for route in rollout.spec.notifications:
        notifier = config.named(route.notifier)
        assert notifier is not None, route.notifier
        assert notifier.url_key in secret["stringData"]
        assert notifier.token_key is None or notifier.token_key in secret["stringData"]


def test_on_call_sees_a_notifier_that_cannot_send() -> None:
    rollout = valid_rollout()
    rollout["status"] = {
        "notifications": [{"notifier": "oncall", "lastError": "HTTP 500"}, {"notifier": "ok"}]
    }
    console = Console(width=200, record=True)
    console.print(rollout_view(rollout))
    text = console.export_text()
    assert "notifier oncall: not sent yet — HTTP 500" in text
    assert "notifier ok" not in text
