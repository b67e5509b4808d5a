"""Events are created off the reconcile thread, in order, bounded, and never after close().

Against the test bed's real API server (rollouts.controller.shell.events, rules 1-2).
"""

from __future__ import annotations

from datetime import UTC, datetime

from rollouts.api.conditions import Reason
from rollouts.controller.core.observed import Event, EventType
from rollouts.controller.shell.events import EventRecorder
from rollouts.runtime.kube import EVENTS, Kube, KubeObject

REASONS = (Reason.ROLLOUT_STARTED, Reason.STEP_STARTED, Reason.WEIGHT_SET, Reason.APPROVED, Reason.PROMOTED)


def _rollout(namespace: str, name: str = "fraud-scorer") -> KubeObject:
    return {
        "apiVersion": "modelrollouts.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "resourceVersion": "1"},
    }


def _sent(kube: Kube, namespace: str) -> list[KubeObject]:
    """The namespace's Events in the order the API server stored them."""
    return sorted(kube.list(EVENTS, namespace).items, key=lambda e: int(e["metadata"]["resourceVersion"]))


def test_every_rollouts_events_are_sent_in_the_order_recorded(kube: Kube, namespace: str) -> None:
    recorder = EventRecorder(kube, "controller-0")
    now = datetime.now(UTC)
    names = [f"model-{index}" for index in range(12)]  # spread over the senders
    for reason in REASONS:
        for name in names:
            recorder.record(
                _rollout(namespace, name), Event(reason, f"{reason} happened", EventType.NORMAL), now
            )
    assert recorder.idle(timeout=60)
    sent = _sent(kube, namespace)
    assert len(sent) == len(REASONS) * len(names)
    for name in names:
        mine = [e["reason"] for e in sent if e["involvedObject"]["name"] == name]
        assert mine == [str(reason) for reason in REASONS], name
    assert {e["reportingInstance"] for e in sent} == {"controller-0"}
    recorder.close()
    assert recorder.dropped == 0


def test_close_sends_nothing_after_it_returns_and_counts_what_it_dropped(kube: Kube, namespace: str) -> None:
    recorder = EventRecorder(kube, flush_seconds=0.0)
    now = datetime.now(UTC)
    many = 50
    for index in range(many):
        recorder.record(
            _rollout(namespace), Event(Reason.ROLLOUT_STARTED, f"event {index}", EventType.NORMAL), now
        )
    recorder.close()
    created = len(_sent(kube, namespace))
    assert created + recorder.dropped == many
    assert recorder.dropped > 0  # no time to flush: the rest were dropped, not sent later
    recorder.record(_rollout(namespace), Event(Reason.ROLLOUT_STARTED, "after close", EventType.NORMAL), now)
    assert recorder.dropped == many - created + 1
    assert len(_sent(kube, namespace)) == created


def test_events_beyond_the_bound_are_dropped_not_queued(kube: Kube, namespace: str) -> None:
    recorder = EventRecorder(kube, max_queued=0)
    recorder.record(
        _rollout(namespace), Event(Reason.ROLLOUT_STARTED, "no room", EventType.WARNING), datetime.now(UTC)
    )
    assert recorder.dropped == 1
    assert recorder.idle(timeout=0)
    assert _sent(kube, namespace) == []
