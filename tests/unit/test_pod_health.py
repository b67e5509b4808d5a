"""Pod-status guards: restarts beyond maxRestarts, OOM kills and crash loops roll back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.guardrails.pod_health import HealthReason, assess_pod_health

STARTED = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
BEFORE = "2026-11-28T05:00:00Z"
AFTER = "2026-11-28T06:10:00Z"
LATER = "2026-11-28T06:20:00Z"


def exited(reason: str = "Error", code: int = 1, at: str = AFTER) -> dict[str, Any]:
    return {"terminated": {"reason": reason, "exitCode": code, "finishedAt": at}}


def container(
    name: str = "model-server",
    restarts: int = 0,
    last: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "ready": restarts == 0,
        "restartCount": restarts,
        "state": state or {"running": {"startedAt": LATER}},
        "lastState": last or {},
    }
    return status


BACK_OFF = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s restarting failed container"}}


def pod(
    name: str,
    *statuses: dict[str, Any],
    created: str = AFTER,
    init: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {
            "containers": [{"name": "model-server", "resources": {"limits": {"memory": "16Gi"}}}],
            "initContainers": [{"name": "fetch-model"}],
        },
        "status": {"containerStatuses": list(statuses), "initContainerStatuses": list(init)},
    }


@dataclass(frozen=True)
class Case:
    name: str
    pods: list[dict[str, Any]]
    max_restarts: int
    expected: list[tuple[HealthReason, str, str]]
    restarts: int
    message: str = ""


CASES = [
    Case("healthy", [pod("p1", container()), pod("p2", container())], 0, [], 0),
    Case(
        "one restart over a budget of zero",
        [pod("p1", container(restarts=1, last=exited()))],
        0,
        [(HealthReason.RESTARTS_EXCEEDED, "p1", "model-server")],
        1,
        message="container model-server of pod p1 restarted 1 time since the rollout started; "
        "last exit: Error (exit code 1) (candidate total 1, maxRestarts 0)",
    ),
    Case("within the budget", [pod("p1", container(restarts=1, last=exited()))], 1, [], 1),
    Case(
        "the budget is for the whole candidate",
        [pod("p1", container(restarts=1, last=exited())), pod("p2", container(restarts=1, last=exited()))],
        1,
        [
            (HealthReason.RESTARTS_EXCEEDED, "p1", "model-server"),
            (HealthReason.RESTARTS_EXCEEDED, "p2", "model-server"),
        ],
        2,
    ),
    Case(
        "crash loop over the budget",
        [pod("p1", container(restarts=3, last=exited(), state=BACK_OFF))],
        2,
        [(HealthReason.CRASH_LOOP_BACK_OFF, "p1", "model-server")],
        3,
        message="is in CrashLoopBackOff after 3 restarts since the rollout started",
    ),
    Case(
        "back-off within the budget is tolerated",
        [pod("p1", container(restarts=1, last=exited(), state=BACK_OFF))],
        3,
        [],
        1,
    ),
    Case(
        "oom kill rolls back whatever the budget",
        [pod("p1", container(restarts=1, last=exited("OOMKilled", 137)))],
        5,
        [(HealthReason.OOM_KILLED, "p1", "model-server")],
        1,
        message=f"container model-server of pod p1 was OOMKilled at {AFTER} (memory limit 16Gi)",
    ),
    Case(
        "oom kill happening now",
        [pod("p1", container(state=exited("OOMKilled", 137)))],
        5,
        [(HealthReason.OOM_KILLED, "p1", "model-server")],
        0,
    ),
    Case(
        "oom kill and another restart: each named once",
        [
            pod("p1", container(restarts=1, last=exited("OOMKilled", 137))),
            pod("p2", container(restarts=1, last=exited())),
        ],
        0,
        [
            (HealthReason.OOM_KILLED, "p1", "model-server"),
            (HealthReason.RESTARTS_EXCEEDED, "p2", "model-server"),
        ],
        2,
    ),
    Case(
        "old pod: crashes before the rollout do not count",
        [pod("p1", container(restarts=7, last=exited(at=BEFORE)), created=BEFORE)],
        0,
        [],
        0,
    ),
    Case(
        "old pod: an oom kill before the rollout does not count",
        [pod("p1", container(restarts=1, last=exited("OOMKilled", 137, at=BEFORE)), created=BEFORE)],
        0,
        [],
        0,
    ),
    Case(
        "old pod: a crash after the start counts once",
        [pod("p1", container(restarts=7, last=exited(at=AFTER)), created=BEFORE)],
        0,
        [(HealthReason.RESTARTS_EXCEEDED, "p1", "model-server")],
        1,
    ),
    Case(
        "old pod without timestamps counts nothing",
        [pod("p1", container(restarts=2, last={"terminated": {"reason": "Error"}}), created="")],
        0,
        [],
        0,
    ),
    Case(
        "init container restarts count",
        [pod("p1", container(), init=(container("fetch-model", restarts=2, last=exited(code=2)),))],
        1,
        [(HealthReason.RESTARTS_EXCEEDED, "p1", "fetch-model")],
        2,
        message="last exit: Error (exit code 2)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_pod_health(case: Case) -> None:
    health = assess_pod_health(case.pods, STARTED, case.max_restarts)
    assert [(f.reason, f.pod, f.container) for f in health.findings] == case.expected, [
        f.message for f in health.findings
    ]
    assert health.restarts == case.restarts
    assert health.rollback is bool(case.expected)
    if case.message:
        assert any(case.message in f.message for f in health.findings), [f.message for f in health.findings]


def test_summary_and_json() -> None:
    pods = [
        pod("p1", container(restarts=2, last=exited(), state=BACK_OFF)),
        pod("p2", container(restarts=1, last=exited("OOMKilled", 137))),
    ]
    health = assess_pod_health(pods, STARTED, 0)
    first = health.findings[0]
    assert first.reason is HealthReason.OOM_KILLED
    assert health.summary() == first.message + " (and 1 more)"
    assert health.findings[1].as_json() == {
        "reason": "CrashLoopBackOff",
        "pod": "p1",
        "container": "model-server",
        "restarts": 2,
        "message": health.findings[1].message,
    }
    assert assess_pod_health([], STARTED, 2).summary() == "0 candidate container restarts (maxRestarts 2)"
