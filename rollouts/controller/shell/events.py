"""Kubernetes Events and log lines for transitions: one of each per transition.

An Event is best effort: failing to record one is logged and never fails the reconcile — the
transition itself is already in status.history.
"""

from __future__ import annotations

import socket
from datetime import datetime

import structlog

from rollouts.api.timestamps import format_timestamp
from rollouts.controller.core.observed import Event, EventType
from rollouts.runtime.kube import EVENTS, Kube, KubeError, KubeObject

COMPONENT = "model-rollouts-controller"

log = structlog.get_logger(__name__)


class EventRecorder:
    """Creates core/v1 Events about ModelRollouts and logs each transition once."""

    def __init__(self, kube: Kube, instance: str | None = None) -> None:
        self._kube = kube
        self._instance = instance or socket.gethostname()

    def record(self, rollout: KubeObject, event: Event, now: datetime) -> None:
        """Log ``event`` and create it as an Event on ``rollout``."""
        metadata = rollout.get("metadata", {})
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        level = log.warning if event.type is EventType.WARNING else log.info
        level(event.message, key=key, reason=event.reason)
        stamp = format_timestamp(now.replace(microsecond=0))
        body: KubeObject = {
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
        try:
            self._kube.create(EVENTS, body)
        except KubeError as failed:
            log.warning("could not record an Event", key=key, reason=event.reason, error=str(failed))
