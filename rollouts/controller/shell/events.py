"""Kubernetes Events and log lines for transitions: one of each per transition.

An Event is best effort: failing to record one is logged and never fails the reconcile — the
transition itself is already in status.history.

**Decision: Events are created off the reconcile thread**, by :data:`SENDERS` threads of the
recorder; all Events of one rollout go to the same thread, so each rollout's arrive in the order
recorded (client-go's event broadcaster also sends off the caller's thread). The log line is
written at once, in the reconcile. Why: each Event is an API call; made inline it held a worker
for a round trip after every transition, and in a burst (1,000 rollouts created within minutes)
workers spent about a sixth of their sampled time waiting on Event creation (a py-spy profile,
bench/results/scale.md), time every other rollout's reaction queued behind. Why several threads:
one thread sent about 20 Events a second on the loaded test machine, and that burst records
thousands (one sender dropped 4,998 of them). The rules:

1. At most ``max_queued`` Events wait per sender; one recorded beyond that is dropped and
   counted in ``dropped`` (a flood of Events must not grow memory; status keeps the history),
   with one log line when a sender starts dropping, not one per Event.
2. :meth:`EventRecorder.close` (the manager calls it once the workers have stopped, before the
   Lease is released) sends what is waiting for at most ``flush_seconds`` and drops the rest:
   no Event is sent after the Lease is released, and a handover waits for Events at most that
   long.
3. Writes go through the controller's Kube client, so an Event is refused, like any write,
   once this replica may no longer hold the Lease.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections import deque
from datetime import datetime

import structlog

from rollouts.api.timestamps import format_timestamp
from rollouts.controller.core.observed import Event, EventType
from rollouts.runtime.kube import EVENTS, Kube, KubeError, KubeObject

COMPONENT = "model-rollouts-controller"
SENDERS = 8
"""Threads creating Events (module docstring)."""
MAX_QUEUED_EVENTS = 500
"""Events waiting per sender, at most (module docstring, rule 1): 4,000 in all, a few MB."""
FLUSH_SECONDS = 1.0
"""How long :meth:`EventRecorder.close` keeps sending what waits (rule 2)."""

log = structlog.get_logger(__name__)


class EventRecorder:
    """Logs each transition at once and creates its core/v1 Event on a sender thread."""

    def __init__(
        self,
        kube: Kube,
        instance: str | None = None,
        *,
        senders: int = SENDERS,
        max_queued: int = MAX_QUEUED_EVENTS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._kube = kube
        self._instance = instance or socket.gethostname()
        self._max_queued = max_queued
        self._flush_seconds = flush_seconds
        self._lanes: list[deque[KubeObject]] = [deque() for _ in range(senders)]
        self._overflowing = [False] * senders
        self._threads: list[threading.Thread | None] = [None] * senders
        self._changed = threading.Condition()
        self._sending = 0
        self._closing_by: float | None = None
        self.dropped = 0
        """Events not sent: beyond ``max_queued``, or still waiting when closed."""

    def record(self, rollout: KubeObject, event: Event, now: datetime) -> None:
        """Log ``event`` now and queue it as an Event on ``rollout``."""
        metadata = rollout.get("metadata", {})
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        level = log.warning if event.type is EventType.WARNING else log.info
        level(event.message, key=key, reason=event.reason)
        body = self._body(rollout, event, now)
        lane = zlib.crc32(key.encode()) % len(self._lanes)  # one rollout, one sender: in order
        with self._changed:
            waiting = self._lanes[lane]
            if self._closing_by is not None:
                self.dropped += 1  # shutting down: close() logs what it dropped
                return
            if len(waiting) >= self._max_queued:
                self.dropped += 1
                if not self._overflowing[lane]:
                    self._overflowing[lane] = True
                    log.warning("Events are being dropped: too many waiting", dropped=self.dropped)
                return
            if len(waiting) < self._max_queued // 2:
                self._overflowing[lane] = False
            waiting.append(body)
            if self._threads[lane] is None:
                thread = threading.Thread(
                    target=self._send_all, args=(lane,), name=f"events-{lane}", daemon=True
                )
                self._threads[lane] = thread
                thread.start()
            self._changed.notify_all()

    def idle(self, timeout: float) -> bool:
        """Wait until nothing waits or is being sent (at most ``timeout`` s); whether it is so."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._sending and not any(self._lanes), timeout)

    def close(self) -> None:
        """Send what waits for at most ``flush_seconds``, then drop the rest (rule 2)."""
        with self._changed:
            self._closing_by = time.monotonic() + self._flush_seconds
            self._changed.notify_all()
            threads = [thread for thread in self._threads if thread is not None]
        for thread in threads:
            thread.join(timeout=max(0.0, self._closing_by - time.monotonic()) + 1.0)
        with self._changed:
            left = sum(len(waiting) for waiting in self._lanes)
            for waiting in self._lanes:
                waiting.clear()
            self.dropped += left
        if left:
            log.warning("Events not sent at shutdown", dropped=left)

    def _send_all(self, lane: int) -> None:
        while (body := self._next(lane)) is not None:
            try:
                self._kube.create(EVENTS, body)
            except KubeError as failed:
                involved = body["involvedObject"]
                log.warning(
                    "could not record an Event",
                    key=f"{involved['namespace']}/{involved['name']}",
                    reason=body["reason"],
                    error=str(failed),
                )
            finally:
                with self._changed:
                    self._sending -= 1
                    self._changed.notify_all()

    def _next(self, lane: int) -> KubeObject | None:
        """The lane's oldest waiting Event; None once closed and empty, or past the flush deadline."""
        with self._changed:
            waiting = self._lanes[lane]
            while not waiting:
                if self._closing_by is not None:
                    return None
                self._changed.wait()
            if self._closing_by is not None and time.monotonic() >= self._closing_by:
                return None
            self._sending += 1
            return waiting.popleft()

    def _body(self, rollout: KubeObject, event: Event, now: datetime) -> KubeObject:
        metadata = rollout.get("metadata", {})
        stamp = format_timestamp(now.replace(microsecond=0))
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{metadata.get('name')}.", "namespace": metadata.get("namespace")},
            "involvedObject": {
                "apiVersion": rollout.get("apiVersion"),
                "kind": rollout.get("kind"),
                "name": metadata.get("name"),
                "namespace": metadata.get("namespace"),
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "reason": event.reason,
            "message": event.message[:1024],
            "type": event.type.value,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
        }
