"""The notification sender against real HTTP receivers on loopback, without a cluster.

The sender tests give each notifier's target directly; everything else is the controller's
sender: lanes per notifier, back-off, the event id header, deliveries reported for status, the
memory bound. The configuration tests read a ConfigMap and a Secret from a stand-in for the API
server: an unusable one is named by object and key, never by a value.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import pytest

from rollouts.api.notifications import CONFIG_KEY, CONFIG_NAME, NotificationEvent, NotifierKind
from rollouts.controller.core.notifications import Delivery, Notification, RolloutRef
from rollouts.controller.shell.notifier import (
    NotificationSender,
    NotifierConfigs,
    NotifierUnusableError,
    Target,
)
from rollouts.runtime.kube import Kube, KubeObject, Resource
from tests.support.receiver import Receiver, accepted_by_id


class Configs(NotifierConfigs):
    """Targets by notifier name, as the ConfigMap and Secret would give them."""

    def __init__(self, targets: dict[str, Target]) -> None:
        self._targets = targets

    def target(self, notifier: str) -> Target:
        if notifier not in self._targets:
            raise NotifierUnusableError(f"notifier {notifier!r} is not in ConfigMap ns/x")
        return self._targets[notifier]


def notification(
    notifier: str, second: int, event: NotificationEvent = NotificationEvent.STARTED
) -> Notification:
    return Notification(
        id=f"id-{second}",
        notifier=notifier,
        event=event,
        rollout=RolloutRef("ml", "fraud"),
        time=f"2026-11-28T06:00:{second:02d}Z",
        reason="RolloutStarted",
        message="rolling out v2",
        baseline_version="v1",
        candidate_version="v2",
        step=0,
        weight=0,
    )


class Progress:
    """The sender's ``on_progress``: records the keys it is told about; tests wait on it."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._changed = threading.Condition()

    def __call__(self, key: str) -> None:
        with self._changed:
            self.keys.append(key)
            self._changed.notify_all()

    def wait(self, count: int, timeout: float) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.keys) >= count, timeout), self.keys


@contextmanager
def sender(
    targets: dict[str, Target], max_queued: int = 100
) -> Iterator[tuple[NotificationSender, Progress]]:
    progress = Progress()
    running = NotificationSender(Configs(targets), progress, backoff=(0.01, 0.05), max_queued=max_queued)
    try:
        yield running, progress
    finally:
        running.close()


def webhook(receiver: Receiver, events: frozenset[NotificationEvent] | None = None) -> Target:
    return Target(kind=NotifierKind.WEBHOOK, url=f"http://127.0.0.1:{receiver.port}/hook", events=events)


def test_one_event_to_two_notifiers_is_sent_to_each_even_when_one_fails_first() -> None:
    with (
        Receiver(answers=[500]) as flaky,
        Receiver() as steady,
        sender({"flaky": webhook(flaky), "steady": webhook(steady)}) as (running, progress),
    ):
        pending = [notification("flaky", 1), notification("steady", 1)]
        running.submit("ml/fraud", pending)
        progress.wait(3, 10)  # steady sent; flaky failed, then sent
        running.submit("ml/fraud", pending)  # as a reconcile would before status records them
        sent = Delivery(event_id="id-1", time="2026-11-28T06:00:01Z")
        assert running.deliveries("ml/fraud") == {"flaky": sent, "steady": sent}
    assert accepted_by_id(flaky.received) == {"id-1": 1}
    assert accepted_by_id(steady.received) == {"id-1": 1}
    assert [r.event_id for r in flaky.received] == ["id-1", "id-1"]
    assert set(progress.keys) == {"ml/fraud"}


def test_a_notifier_sends_in_order_and_waits_for_its_head() -> None:
    with Receiver(answers=[503, 503]) as receiver, sender({"n": webhook(receiver)}) as (running, progress):
        running.submit("ml/fraud", [notification("n", 1), notification("n", 2)])
        progress.wait(3, 10)  # failed (the same error again is no change), sent, sent
    assert [(r.event_id, r.answered) for r in receiver.received] == [
        ("id-1", 503),
        ("id-1", 503),
        ("id-1", 200),
        ("id-2", 200),
    ]


def test_an_unusable_notifier_is_reported_and_events_it_does_not_take_are_skipped() -> None:
    with Receiver() as receiver:
        only_ends = webhook(receiver, events=frozenset({NotificationEvent.PROMOTED}))
        with sender({"ends": only_ends}) as (running, progress):
            running.submit("ml/fraud", [notification("ends", 1), notification("missing", 1)])
            progress.wait(2, 10)  # one change per notifier: skipped as sent, and an error
            seen = running.deliveries("ml/fraud")
            assert seen["ends"] == Delivery(event_id="id-1", time="2026-11-28T06:00:01Z")
            assert seen["missing"] == Delivery(error="notifier 'missing' is not in ConfigMap ns/x")
    assert receiver.received == []


def test_memory_is_bounded_and_what_did_not_fit_comes_with_a_later_submit() -> None:
    """Pending events that do not fit stay pending in status; the next reconcile hands them over."""
    with Receiver() as receiver, sender({"n": webhook(receiver)}, max_queued=1) as (running, progress):
        both = [notification("n", 1), notification("n", 2)]
        running.submit("ml/fraud", both)
        progress.wait(1, 10)
        assert [r.event_id for r in receiver.received] == ["id-1"]
        running.submit("ml/fraud", both)  # status does not record id-1 yet: it is not sent again
        progress.wait(2, 10)
    assert [r.event_id for r in receiver.received] == ["id-1", "id-2"]


class Objects:
    """Stands in for the API server: the ConfigMap and Secret by resource name."""

    def __init__(self, notifiers: str, secret: dict[str, str]) -> None:
        self._objects = {
            "configmaps": {"data": {CONFIG_KEY: notifiers}},
            "secrets": {"data": {k: base64.b64encode(v.encode()).decode() for k, v in secret.items()}},
        }

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> KubeObject:
        assert (name, namespace) == (CONFIG_NAME, "home")
        return self._objects[resource.plural]


@pytest.mark.parametrize(
    ("notifiers", "secret", "problem"),
    [
        (
            "- {name: a, type: webhook, urlKey: u}",
            {"u": "ftp://PLANTED-host/x"},
            "key 'u' holds no http(s) URL",
        ),
        (
            "- {name: a, type: webhook, urlKey: u}",
            {"u": "http://[PLANTED::1/x"},
            "key 'u' holds no http(s) URL",
        ),
        (
            "- {name: a, type: webhook, urlKey: u}",
            {},
            "Secret home/model-rollouts-notifications has no key 'u'",
        ),
        (
            "- {name: a, type: pager, urlKey: u}",
            {"u": "http://x"},
            "notifiers.yaml: notifiers[0].type: Input",
        ),
        ("- {name: b, type: slack, urlKey: u}", {"u": "http://x"}, "notifier 'a' is not in ConfigMap home/"),
        ("[unclosed", {}, "notifiers.yaml is not YAML"),
    ],
)
def test_an_unusable_configuration_is_named_by_key_never_by_value(
    notifiers: str, secret: dict[str, str], problem: str
) -> None:
    configs = NotifierConfigs(cast(Kube, Objects(notifiers, secret)), "home")
    with pytest.raises(NotifierUnusableError) as unusable:
        configs.target("a")
    assert problem in str(unusable.value)
    assert "PLANTED" not in str(unusable.value)


def test_a_configuration_gives_the_target_without_printing_it() -> None:
    notifiers = "- {name: a, type: slack, urlKey: u, tokenKey: t, events: [Promoted]}"
    secret = {"u": " https://hooks.example/services/PLANTED-path \n", "t": "PLANTED-token-value"}
    target = NotifierConfigs(cast(Kube, Objects(notifiers, secret)), "home").target("a")
    assert target == Target(
        kind=NotifierKind.SLACK,
        url="https://hooks.example/services/PLANTED-path",
        token="PLANTED-token-value",
        events=frozenset({NotificationEvent.PROMOTED}),
    )
    assert "PLANTED" not in repr(target)
