"""Runtime guards from pod status: restarts, OOM kills and crash loops in candidate pods.

These need no Prometheus: the kubelet writes them into every pod's status, so they work when
metrics are missing or late, and they catch what metrics smooth over (a server that crashes
and comes back answers most requests, but drops those in flight and reloads its model each
time). Any finding rolls the rollout back:

- **OOMKilled** since the rollout started, in any candidate container, whatever
  ``maxRestarts`` says: a model that does not fit its memory limit under this load will be
  killed again under the same load;
- **RestartsExceeded** / **CrashLoopBackOff**: more candidate container restarts since the
  rollout started than ``spec.guardrails.maxRestarts`` (a budget for the whole candidate,
  all pods and containers together, so that scaling the candidate up does not loosen it). Each
  container that restarted is named; one in back-off now is reported as CrashLoopBackOff.
  A first crash always passes through back-off, so back-off within the budget is tolerated.

Counting restarts "since the rollout started" needs no memory in status. A pod created after
the start has had every one of its restarts since then: its ``restartCount`` counts. A pod
created before (a candidate Deployment that was already running) counts one restart when its
last termination (``lastState.terminated.finishedAt``) came after the start, else none: a lower
bound, since Kubernetes keeps only the last termination. It never blames a pod for crashes
before the rollout, and with the default budget of 0 a lower bound of 1 is already decisive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from rollouts.guardrails.objects import KubeObject, mapping, mappings, moment, name_of, number, text, value


class HealthReason(StrEnum):
    """Why pod status rolls the candidate back; CamelCase, usable as a condition reason."""

    OOM_KILLED = "OOMKilled"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    RESTARTS_EXCEEDED = "RestartsExceeded"


@dataclass(frozen=True)
class HealthFinding:
    """A candidate container that makes the rollout roll back."""

    reason: HealthReason
    pod: str
    container: str
    restarts: int
    """Restarts of this container since the rollout started (see the module docstring)."""
    message: str

    def as_json(self) -> dict[str, Any]:
        """Plain data for status, logs and ``-o json``."""
        return {
            "reason": str(self.reason),
            "pod": self.pod,
            "container": self.container,
            "restarts": self.restarts,
            "message": self.message,
        }


@dataclass(frozen=True)
class PodHealth:
    """The candidate's restarts since the rollout started, and the findings that roll it back."""

    restarts: int
    max_restarts: int
    findings: tuple[HealthFinding, ...]

    @property
    def rollback(self) -> bool:
        """True when the candidate must be rolled back."""
        return bool(self.findings)

    def summary(self) -> str:
        """One line for a condition or Event message: the first finding, and how many others."""
        if not self.findings:
            return f"{self.restarts} candidate container restarts (maxRestarts {self.max_restarts})"
        more = len(self.findings) - 1
        return self.findings[0].message + (f" (and {more} more)" if more else "")


@dataclass(frozen=True)
class _Container:
    """One container status of one pod, with what the rules need from the pod."""

    pod: KubeObject
    status: KubeObject
    started_at: datetime

    @property
    def pod_name(self) -> str:
        return name_of(self.pod)

    @property
    def name(self) -> str:
        return text(self.status, "name")

    def after_start(self, when: datetime | None) -> bool:
        """Whether an event at ``when`` (None: unrecorded) happened after the rollout started."""
        if when is not None:
            return when >= self.started_at
        created = moment(self.pod, "metadata", "creationTimestamp")
        return created is not None and created >= self.started_at

    @property
    def restarts(self) -> int:
        count = number(self.status, "restartCount", default=0)
        if self.after_start(None):
            return count
        last_exit = moment(self.status, "lastState", "terminated", "finishedAt")
        return min(count, 1) if last_exit is not None and self.after_start(last_exit) else 0

    @property
    def oom_kill(self) -> KubeObject | None:
        """The termination record of an OOM kill after the start, current or last, if any."""
        for key in ("state", "lastState"):
            terminated = mapping(self.status, key, "terminated")
            if text(terminated, "reason") == "OOMKilled" and self.after_start(
                moment(terminated, "finishedAt")
            ):
                return terminated
        return None

    def memory_limit(self) -> str:
        for section in ("containers", "initContainers"):
            for container in mappings(self.pod, "spec", section):
                if text(container, "name") == self.name:
                    return str(value(container, "resources", "limits", "memory") or "")
        return ""

    def last_exit(self) -> str:
        terminated = mapping(self.status, "lastState", "terminated")
        if not terminated:
            return ""
        code = value(terminated, "exitCode")
        return f"; last exit: {text(terminated, 'reason') or 'unknown reason'}" + (
            f" (exit code {code})" if code is not None else ""
        )


def assess_pod_health(pods: Sequence[KubeObject], started_at: datetime, max_restarts: int) -> PodHealth:
    """Judge the candidate's pods; ``started_at`` is when the rollout started, ``max_restarts`` the budget."""
    containers = [
        _Container(pod, status, started_at)
        for pod in pods
        for section in ("initContainerStatuses", "containerStatuses")
        for status in mappings(pod, "status", section)
    ]
    total = sum(container.restarts for container in containers)
    findings = [*_oom_kills(containers), *_restarts(containers, total, max_restarts)]
    order = list(HealthReason)
    findings.sort(key=lambda f: (order.index(f.reason), f.pod, f.container))
    return PodHealth(total, max_restarts, tuple(findings))


def _oom_kills(containers: Sequence[_Container]) -> Iterator[HealthFinding]:
    for container in containers:
        killed = container.oom_kill
        if killed is None:
            continue
        limit = container.memory_limit()
        when = text(killed, "finishedAt")
        yield HealthFinding(
            HealthReason.OOM_KILLED,
            container.pod_name,
            container.name,
            container.restarts,
            f"container {container.name} of pod {container.pod_name} was OOMKilled"
            + (f" at {when}" if when else "")
            + (f" (memory limit {limit})" if limit else "")
            + ": the model does not fit its memory under this load; raise resources.limits.memory "
            "or lower the batch size",
        )


def _restarts(containers: Sequence[_Container], total: int, max_restarts: int) -> Iterator[HealthFinding]:
    if total <= max_restarts:
        return
    for container in containers:
        restarts = container.restarts
        if restarts == 0 or container.oom_kill is not None:
            continue
        backing_off = text(container.status, "state", "waiting", "reason") == "CrashLoopBackOff"
        reason = HealthReason.CRASH_LOOP_BACK_OFF if backing_off else HealthReason.RESTARTS_EXCEEDED
        plural = "s" * (restarts != 1)
        state = (
            f"is in CrashLoopBackOff after {restarts} restart{plural}"
            if backing_off
            else f"restarted {restarts} time{plural}"
        )
        yield HealthFinding(
            reason,
            container.pod_name,
            container.name,
            restarts,
            f"container {container.name} of pod {container.pod_name} {state} since the rollout "
            f"started{container.last_exit()} (candidate total {total}, maxRestarts {max_restarts})",
        )
