"""Kubernetes Events and log lines for transitions: one of each per transition.

An Event is best effort: failing to record one is logged and never fails the reconcile — the
transition itself is already in status.history.

**Decision: Events are created off the reconcile thread**, by one thread of the recorder, in the
order they were recorded (as client-go's event broadcaster does). The log line is written at
once, in the reconcile. Why: each Event is an API call; made inline it held a worker for a round
trip after every transition, and in a burst (1,000 rollouts created within minutes) workers spent
about a sixth of their sampled time waiting on Event creation (a py-spy profile,
bench/results/scale.md), time every other rollout's reaction queued behind. The rules:

1. At most ``max_queued`` Events wait; one recorded beyond that is dropped, with a log line
   and ``dropped`` counted (a flood of Events must not grow memory; status keeps the history).
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
from collections import deque
from datetime import datetime

import structlog

from rollouts.api.timestamps import format_timestamp
from rollouts.controller.core.observed import Event, EventType
from rollouts.runtime.kube import EVENTS, Kube, KubeError, KubeObject

COMPONENT = "model-rollouts-controller"
MAX_QUEUED_EVENTS = 1000
"""Events waiting to be sent, at most (module docstring, rule 1)."""
FLUSH_SECONDS = 1.0
"""How long :meth:`EventRecorder.close` keeps sending what waits (rule 2)."""

log = structlog.get_logger(__name__)


class EventRecorder:
    """Logs each transition at once and creates its core/v1 Event on a thread of its own."""

    def __init__(
        self,
        kube: Kube,
        instance: str | None = None,
        *,
        max_queued: int = MAX_QUEUED_EVENTS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._kube = kube
        self._instance = instance or socket.gethostname()
        self._max_queued = max_queued
        self._flush_seconds = flush_seconds
        self._waiting: deque[KubeObject] = deque()
        self._changed = threading.Condition()
        self._sending = False
        self._closing_by: float | None = None
        self._thread: threading.Thread | None = None
        self.dropped = 0
        """Events not sent: beyond ``max_queued``, or still waiting when closed."""

    def record(self, rollout: KubeObject, event: Event, now: datetime) -> None:
        """Log ``event`` now and queue it as an Event on ``rollout``."""
        metadata = rollout.get("metadata", {})
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        level = log.warning if event.type is EventType.WARNING else log.info
        level(event.message, key=key, reason=event.reason)
        body = self._body(rollout, event, now)
        with self._changed:
            if self._closing_by is not None or len(self._waiting) >= self._max_queued:
                self.dropped += 1
                log.warning("an Event was not sent: too many waiting", key=key, reason=event.reason)
                return
            self._waiting.append(body)
            if self._thread is None:
                self._thread = threading.Thread(target=self._send_all, name="events", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def idle(self, timeout: float) -> bool:
        """Wait until nothing waits or is being sent (at most ``timeout`` s); whether it is so."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._waiting and not self._sending, timeout)

    def close(self) -> None:
        """Send what waits for at most ``flush_seconds``, then drop the rest (rule 2)."""
        with self._changed:
            self._closing_by = time.monotonic() + self._flush_seconds
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=self._flush_seconds + 1.0)
        with self._changed:
            left = len(self._waiting)
            self._waiting.clear()
            self.dropped += left
        if left:
            log.warning("Events not sent at shutdown", dropped=left)

    def _send_all(self) -> None:
        while (body := self._next()) is not None:
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
                    self._sending = False
                    self._changed.notify_all()

    def _next(self) -> KubeObject | None:
        """The oldest waiting Event; None once closed and empty or past the flush deadline."""
        with self._changed:
            while not self._waiting:
                if self._closing_by is not None:
                    return None
                self._changed.wait()
            if self._closing_by is not None and time.monotonic() >= self._closing_by:
                return None
            self._sending = True
            return self._waiting.popleft()

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
