"""Sending notifications off the reconcile thread: bounded lanes, a few threads, back-off.

Why a sender of its own: a webhook that is slow, down or answering 500 must never hold up a
reconcile (an abort must still land at once). The reconciler only hands over the pending set
it derived from the status it wrote (rollouts.controller.core.notifications.pending) and reads
back what was sent (:meth:`NotificationSender.deliveries`), which it records in status at its
next write. The sender keeps nothing that status does not also imply:

- **Lanes.** One FIFO per (rollout, notifier), so a notifier's events arrive in order and its
  status record ("everything up to this event") stays true. Each :meth:`~NotificationSender.submit`
  replaces the rollout's lanes with the pending set given, so a notifier removed from the spec,
  or a deleted rollout, stops being tried. At most ``max_queued`` notifications are held; the
  rest stay pending in status and are handed over again by a later reconcile.
- **Back-off.** A failed try (connection refused, a timeout, any answer but 2xx) waits
  ``base · 2^failures`` seconds, capped, before the lane's next try; other lanes go on. Each
  success or failure that changes what status would say wakes the rollout's reconcile.
- **Ids.** Every request carries ``X-Model-Rollouts-Event-Id``, the same for every try and
  every controller, for receivers to drop a repeat (the one window that cannot be closed is a
  crash between a 2xx and the status write that records it: docs/notifications.md).
- **Credentials.** URLs and tokens are read from the Secret at each try (a rotation takes
  effect at once), registered with :func:`rollouts.runtime.logs.register_secret`, and never
  put in a message: errors are "HTTP 500", "connection failed", "timed out", or name a key.
  Redirects are not followed (a token must not travel to another host).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import requests
import structlog
import yaml
from pydantic import ValidationError

from rollouts.api.lint import format_path
from rollouts.api.notifications import (
    CONFIG_KEY,
    CONFIG_NAME,
    NotificationEvent,
    NotifierKind,
    NotifiersConfig,
)
from rollouts.controller.core.notifications import Delivery, Notification
from rollouts.controller.core.payloads import render
from rollouts.controller.shell.prometheus_source import SECRETS
from rollouts.runtime.clock import MonotonicClock
from rollouts.runtime.kube import CONFIG_MAPS, Forbidden, Kube, KubeError, KubeObject, NotFound, Resource
from rollouts.runtime.logs import register_secret
from rollouts.runtime.ratelimit import ExponentialBackoff

EVENT_ID_HEADER = "X-Model-Rollouts-Event-Id"
TIMEOUT = (5.0, 10.0)
"""Seconds to connect and to read an answer, per try."""
MAX_QUEUED = 1000
MAX_SENT_IDS = 10_000
"""Ids sent but maybe not yet recorded in status, kept to never send one twice meanwhile."""

log = structlog.get_logger(__name__)

Lane = tuple[str, str]
"""(rollout key, notifier)."""


class NotifierUnusableError(Exception):
    """A notifier cannot be used as configured; the message names the key, never a value."""


@dataclass(frozen=True)
class Target:
    """Where and how to send for one notifier (the URL and token never printed)."""

    kind: NotifierKind
    url: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    events: frozenset[NotificationEvent] | None = None
    """The events the notifier takes (None: whatever rollouts ask)."""


class NotifierConfigs:
    """Reads a notifier's :class:`Target` from the ConfigMap and the Secret, at each call."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self._kube = kube
        self._namespace = namespace

    def target(self, notifier: str) -> Target:
        """The notifier's target now (NotifierUnusableError when it cannot be used)."""
        where = f"{self._namespace}/{CONFIG_NAME}"
        config_map = self._read(CONFIG_MAPS, "ConfigMap")
        try:
            listed = yaml.safe_load((config_map.get("data") or {}).get(CONFIG_KEY) or "[]")
            config = NotifiersConfig.model_validate({"notifiers": listed})
        except yaml.YAMLError:
            raise NotifierUnusableError(f"ConfigMap {where}: {CONFIG_KEY} is not YAML") from None
        except ValidationError as invalid:
            first = invalid.errors()[0]
            raise NotifierUnusableError(
                f"ConfigMap {where}: {CONFIG_KEY}: {format_path(tuple(first['loc']))}: {first['msg']}"
            ) from None
        chosen = config.named(notifier)
        if chosen is None:
            raise NotifierUnusableError(f"notifier {notifier!r} is not in ConfigMap {where}")
        secret = self._read(SECRETS, "Secret")
        url = self._value(secret, chosen.url_key)
        try:
            parts = urlsplit(url)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # an unclosed IPv6 bracket, a port that is no number; the text quotes it
            usable = False
        if not usable:
            raise NotifierUnusableError(f"Secret {where}: key {chosen.url_key!r} holds no http(s) URL")
        register_secret(url)
        register_secret(parts.path + (f"?{parts.query}" if parts.query else ""))  # a Slack URL's secret
        token = self._value(secret, chosen.token_key) if chosen.token_key else None
        if token is not None:
            register_secret(token)
        events = frozenset(chosen.events) if chosen.events is not None else None
        return Target(kind=chosen.type, url=url, token=token, events=events)

    def _read(self, resource: Resource, kind: str) -> KubeObject:
        where = f"{kind} {self._namespace}/{CONFIG_NAME}"
        try:
            return self._kube.get(resource, CONFIG_NAME, self._namespace)
        except NotFound:
            raise NotifierUnusableError(f"{where} not found") from None
        except Forbidden:
            raise NotifierUnusableError(f"{where}: forbidden to read it (docs/security.md)") from None
        except KubeError as failed:
            raise NotifierUnusableError(f"{where}: could not read it ({type(failed).__name__})") from None

    def _value(self, secret: KubeObject, key: str) -> str:
        where = f"Secret {self._namespace}/{CONFIG_NAME}"
        data = secret.get("data") or {}
        if not isinstance(data, dict) or key not in data:
            raise NotifierUnusableError(f"{where} has no key {key!r}")
        try:
            return base64.b64decode(str(data[key]), validate=True).decode("utf-8").strip()
        except (binascii.Error, ValueError):
            raise NotifierUnusableError(f"{where}: key {key!r} is not UTF-8 text") from None


@dataclass
class _Lanes:
    """The sender's state, guarded by its condition."""

    queued: dict[Lane, deque[Notification]] = field(default_factory=dict)
    due: dict[Lane, float] = field(default_factory=dict)
    busy: set[Lane] = field(default_factory=set)
    sent: OrderedDict[tuple[str, str], None] = field(default_factory=OrderedDict)
    """(notifier, event id) sent: one event has one id for every notifier it goes to."""
    deliveries: dict[str, dict[str, Delivery]] = field(default_factory=dict)

    def next_ready(self, now: float) -> tuple[Lane | None, float | None]:
        """A lane to try now, else how long until one is due (None: nothing queued)."""
        wait: float | None = None
        for lane, items in self.queued.items():
            if not items or lane in self.busy:
                continue
            due = self.due.get(lane, now)
            if due <= now:
                return lane, None
            wait = due - now if wait is None else min(wait, due - now)
        return None, wait


class NotificationSender:
    """Delivers notifications on ``workers`` threads; see the module docstring."""

    def __init__(
        self,
        configs: NotifierConfigs,
        on_progress: Callable[[str], None],
        *,
        workers: int = 2,
        max_queued: int = MAX_QUEUED,
        backoff: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self._configs = configs
        self._on_progress = on_progress
        self._max_queued = max_queued
        self._backoff = ExponentialBackoff(base=backoff[0], cap=backoff[1])
        self._clock = MonotonicClock()
        self._changed = threading.Condition()
        self._lanes = _Lanes()
        self._stopping = False
        self._workers = workers
        self._threads: list[threading.Thread] = []

    # --- the reconciler's side

    def submit(self, key: str, notifications: Sequence[Notification]) -> None:
        """Make ``notifications`` the rollout's pending set (never blocks on the network)."""
        with self._changed:
            if not self._threads and notifications and not self._stopping:
                self._start()
            lanes = self._lanes
            room = self._max_queued - sum(
                len(items) for lane, items in lanes.queued.items() if lane[0] != key
            )
            fresh: dict[Lane, deque[Notification]] = {}
            for notification in notifications:
                if (notification.notifier, notification.id) in lanes.sent or room <= 0:
                    continue
                fresh.setdefault((key, notification.notifier), deque()).append(notification)
                room -= 1
            for lane in [lane for lane in lanes.queued if lane[0] == key and lane not in fresh]:
                del lanes.queued[lane]
                lanes.due.pop(lane, None)
                self._backoff.forget(repr(lane))
            lanes.queued.update(fresh)
            if not notifications:
                lanes.deliveries.pop(key, None)  # status records everything sent
            self._changed.notify_all()

    def _start(self) -> None:
        """Start the threads (at the first notification: a controller that never sends has none)."""
        self._threads = [
            threading.Thread(target=self._work, name=f"notifier-{index}", daemon=True)
            for index in range(self._workers)
        ]
        for thread in self._threads:
            thread.start()

    def deliveries(self, key: str) -> dict[str, Delivery]:
        """Per notifier, what was sent (and the last error) for rollout ``key`` since start."""
        with self._changed:
            return dict(self._lanes.deliveries.get(key, {}))

    def close(self) -> None:
        """Stop trying; wait for requests in flight (bounded by their timeout)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=sum(TIMEOUT) + 5)

    # --- the sender's threads

    def _work(self) -> None:
        with requests.Session() as session:  # one per thread: connections reused, nothing shared
            while (lane := self._take()) is not None:
                self._attempt(session, lane)

    def _attempt(self, session: requests.Session, lane: Lane) -> None:
        """Try the head of ``lane`` once and settle the outcome."""
        with self._changed:
            items = self._lanes.queued.get(lane)
            head = items[0] if items else None
            if head is None:  # replaced by a submit meanwhile
                self._lanes.busy.discard(lane)
                return
        with structlog.contextvars.bound_contextvars(key=lane[0]):
            try:
                error = self._try(session, head)
            except Exception:  # a bug must not stop the sender: the lane backs off instead
                log.exception("sending a notification failed", notifier=head.notifier, id=head.id)
                error = "internal error (see the controller's log)"
            self._settle(lane, head, error)

    def _take(self) -> Lane | None:
        with self._changed:
            while not self._stopping:
                lane, wait = self._lanes.next_ready(self._clock.now())
                if lane is not None:
                    self._lanes.busy.add(lane)
                    return lane
                self._clock.wait(self._changed, wait)
            return None

    def _try(self, session: requests.Session, notification: Notification) -> str | None:
        """Send once; None on a 2xx (or an event the notifier does not take), else why not."""
        bound = {"notifier": notification.notifier, "about": notification.event.value, "id": notification.id}
        try:
            target = self._configs.target(notification.notifier)
        except NotifierUnusableError as unusable:
            return str(unusable)
        if target.events is not None and notification.event not in target.events:
            log.info("notifier does not take this event; skipped", **bound)
            return None
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: notification.id}
        if target.token is not None:
            headers["Authorization"] = f"Bearer {target.token}"
        try:
            answer = session.post(
                target.url,
                data=render(target.kind, notification),
                headers=headers,
                timeout=TIMEOUT,
                allow_redirects=False,
            )
        except requests.Timeout:
            return "timed out"
        except requests.ConnectionError:
            return "connection failed"
        except requests.RequestException as failed:  # its text may quote the URL: only its kind
            return f"request failed ({type(failed).__name__})"
        answer.close()
        if 200 <= answer.status_code < 300:
            log.info("notification sent", status=answer.status_code, **bound)
            return None
        return f"HTTP {answer.status_code}"

    def _settle(self, lane: Lane, notification: Notification, error: str | None) -> None:
        key, notifier = lane
        with self._changed:
            lanes = self._lanes
            lanes.busy.discard(lane)
            before = lanes.deliveries.get(key, {}).get(notifier, Delivery())
            if error is None:
                items = lanes.queued.get(lane)
                if items and items[0].id == notification.id:
                    items.popleft()
                lanes.sent[notifier, notification.id] = None
                while len(lanes.sent) > MAX_SENT_IDS:
                    lanes.sent.popitem(last=False)
                lanes.due.pop(lane, None)
                self._backoff.forget(repr(lane))
                after = Delivery(event_id=notification.id, time=notification.time)
            else:
                wait = self._backoff.when(repr(lane))
                lanes.due[lane] = self._clock.now() + wait
                after = replace(before, error=error)
                log.warning(
                    "notification not sent; trying again",
                    notifier=notifier,
                    about=notification.event.value,
                    id=notification.id,
                    error=error,
                    seconds=round(wait, 3),
                )
            lanes.deliveries.setdefault(key, {})[notifier] = after
            self._changed.notify_all()
        if after != before:
            self._on_progress(key)


__all__ = ["EVENT_ID_HEADER", "NotificationSender", "NotifierConfigs", "NotifierUnusableError", "Target"]
