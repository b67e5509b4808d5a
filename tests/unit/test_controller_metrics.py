"""The controller's /metrics: Go controllers' names and semantics, and the per-rollout series.

Read back as a scraper reads them (the exposition parsed by prometheus_client.parser); the
queue's timings on a ManualClock, so every duration is exact.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rollouts.controller.shell.rollout_metrics import (
    FAMILIES,
    PROMOTION_REASONS,
    ROLLBACK_REASONS,
    RolloutCollector,
    rollout_series,
)
from rollouts.runtime.clock import ManualClock
from rollouts.runtime.informer import Store
from rollouts.runtime.metrics import ControllerMetrics, ResultLabel
from rollouts.runtime.workqueue import WorkQueue
from tests.cases.rollouts import valid_rollout

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(registry: CollectorRegistry) -> Samples:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metrics(lease: str | None = None, clock: ManualClock | None = None) -> ControllerMetrics:
    return ControllerMetrics("modelrollout", 4, clock or ManualClock(), lambda: True, lease=lease)


Q = (("name", "modelrollout"),)
C = (("controller", "modelrollout"),)


def test_the_work_queue_is_measured_as_client_go_measures_it() -> None:
    clock = ManualClock(start=100.0)
    controller = metrics(clock=clock)
    queue = WorkQueue(clock=clock, observer=controller.queue)
    queue.add("ml/a")
    queue.add("ml/a")  # waiting already: not added twice
    queue.add("ml/b")
    assert samples(controller.registry)[("workqueue_depth", Q)] == 2
    clock.advance(0.5)
    assert queue.get(timeout=0) == "ml/a"
    queue.add("ml/a")  # added while processing: waiting again, counted again
    clock.advance(2.0)
    seen = samples(controller.registry)
    assert seen[("workqueue_adds_total", Q)] == 3
    assert seen[("workqueue_depth", Q)] == 2
    assert seen[("workqueue_queue_duration_seconds_count", Q)] == 1
    assert seen[("workqueue_queue_duration_seconds_sum", Q)] == 0.5
    assert seen[("workqueue_unfinished_work_seconds", Q)] == 2.0
    assert seen[("workqueue_longest_running_processor_seconds", Q)] == 2.0
    queue.done("ml/a")
    queue.add_rate_limited("ml/a")  # a retry, as every delayed add is for client-go
    queue.add_after("ml/c", 10)
    seen = samples(controller.registry)
    assert seen[("workqueue_work_duration_seconds_count", Q)] == 1
    assert seen[("workqueue_work_duration_seconds_sum", Q)] == 2.0
    assert seen[("workqueue_unfinished_work_seconds", Q)] == 0
    assert seen[("workqueue_retries_total", Q)] == 2


def test_reconciles_are_counted_by_result_from_zero() -> None:
    controller = metrics()
    assert {
        labels: value
        for (name, labels), value in samples(controller.registry).items()
        if name == "controller_runtime_reconcile_total"
    } == {(*C, ("result", result.value)): 0.0 for result in ResultLabel}
    controller.reconciled(ResultLabel.ERROR, 0.25)
    controller.reconciled(ResultLabel.REQUEUE, 0.5)  # a 409: retried, no error
    seen = samples(controller.registry)
    assert seen[("controller_runtime_reconcile_total", (*C, ("result", "error")))] == 1
    assert seen[("controller_runtime_reconcile_total", (*C, ("result", "requeue")))] == 1
    assert seen[("controller_runtime_reconcile_errors_total", C)] == 1
    assert seen[("controller_runtime_reconcile_time_seconds_count", C)] == 2
    assert seen[("controller_runtime_reconcile_time_seconds_sum", C)] == 0.75
    assert seen[("controller_runtime_max_concurrent_reconciles", C)] == 4
    assert seen[("controller_runtime_active_workers", C)] == 0


def test_leadership_is_served_with_leader_election_only_and_the_process_always() -> None:
    without = samples(metrics().registry)
    assert not any(name == "leader_election_master_status" for name, _ in without)
    assert any(name.startswith("process_") for name, _ in without)
    assert any(name.startswith("python_") for name, _ in without)
    with_lease = samples(metrics(lease="model-rollouts-controller").registry)
    assert with_lease[("leader_election_master_status", (("name", "model-rollouts-controller"),))] == 1


# --- per rollout ------------------------------------------------------------------------------


def with_status(status: dict[str, Any], name: str = "fraud-scorer") -> dict[str, Any]:
    rollout = valid_rollout(name, namespace="ml")
    rollout["status"] = status
    return rollout


START = 1_795_168_800.0  # 2026-11-20T10:00:00Z
RUNNING = {
    "phase": "Progressing",
    "candidateVersion": "2026-11-20",
    "startedAt": "2026-11-20T10:00:00Z",
    "candidateReadyAt": "2026-11-20T10:01:00Z",
    "currentStep": 1,
    "stepStartedAt": "2026-11-20T10:02:00Z",
    "weight": 5,
    "analysis": {
        "looks": 3,
        "consecutiveErrors": 1,
        "tuning": {"alpha": 0.01},
        "metrics": [{"name": "errors", "kind": "errorRate", "verdict": "INCONCLUSIVE", "log10E": 0.5}],
    },
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "CandidateReady",
            "lastTransitionTime": "2026-11-20T10:01:00Z",
        }
    ],
}


def by_family(obj: dict[str, Any]) -> dict[str, dict[tuple[str, ...], float]]:
    found: dict[str, dict[tuple[str, ...], float]] = {}
    for series in rollout_series(obj):
        found.setdefault(series.family, {})[series.labels] = series.value
    return found


def test_a_running_rollout_is_described_by_its_status() -> None:
    found = by_family(with_status(RUNNING))
    assert found["modelrollout_info"] == {("2026-11-01", "2026-11-20", "gatewayAPI"): 1}
    assert found["modelrollout_phase"][("Progressing",)] == 1
    assert sum(found["modelrollout_phase"].values()) == 1
    assert len(found["modelrollout_phase"]) == 7
    assert found["modelrollout_step"] == {(): 1}
    assert found["modelrollout_weight"] == {(): 5}
    assert found["modelrollout_metric_verdict"][("errors", "INCONCLUSIVE")] == 1
    assert sum(found["modelrollout_metric_verdict"].values()) == 1
    assert found["modelrollout_metric_evidence"] == {("errors",): 0.5}
    assert found["modelrollout_metric_evidence_threshold"] == {("errors",): pytest.approx(2.0)}
    assert found["modelrollout_analysis_consecutive_errors"] == {(): 1}
    assert found["modelrollout_analysis_error_budget"] == {(): 3}
    assert found["modelrollout_condition"] == {
        ("Ready", "True"): 1,
        ("Ready", "False"): 0,
        ("Ready", "Unknown"): 0,
    }
    step_end = START + 120 + 15 * 60  # 10:02 + the analyze step's 15m
    assert found["modelrollout_deadline_timestamp_seconds"] == {(): step_end}
    assert found["modelrollout_waiting_for_approval"] == {(): 0}
    assert "modelrollout_duration_seconds" not in found
    assert set(found["modelrollout_rollbacks"]) == {(str(reason),) for reason in ROLLBACK_REASONS}
    assert sum(found["modelrollout_rollbacks"].values()) == 0


def test_an_approve_step_waits_and_an_ended_rollout_has_a_duration_and_a_count() -> None:
    waiting = by_family(with_status({**RUNNING, "currentStep": 4}))
    assert waiting["modelrollout_waiting_for_approval"] == {(): 1}
    assert waiting["modelrollout_deadline_timestamp_seconds"] == {(): START + 6 * 3600}  # maxDuration
    ended = {
        **RUNNING,
        "phase": "RolledBack",
        "outcome": {"result": "RolledBack", "reason": "AnalysisFailed", "at": "2026-11-20T10:30:00Z"},
    }
    found = by_family(with_status(ended))
    assert found["modelrollout_duration_seconds"] == {(): 1800}
    assert found["modelrollout_rollbacks"][("AnalysisFailed",)] == 1
    assert sum(found["modelrollout_rollbacks"].values()) == 1
    assert sum(found["modelrollout_promotions"].values()) == 0
    assert "modelrollout_deadline_timestamp_seconds" not in found


def test_an_unparsable_spec_still_shows_its_phase() -> None:
    broken = with_status({"phase": "Pending"})
    broken["spec"]["steps"] = "not a list"
    assert {series.family for series in rollout_series(broken)} == {"modelrollout_phase"}


def test_the_collector_serves_the_leaders_rollouts_of_its_shard_and_forgets_deleted_ones() -> None:
    store = Store()
    store.replace([with_status(RUNNING, "a"), with_status(RUNNING, "b"), with_status(RUNNING, "other-shard")])
    leading = [True]
    registry = CollectorRegistry()
    registry.register(
        RolloutCollector(store, lambda obj: obj["metadata"]["name"] != "other-shard", lambda: leading[0])
    )

    def named() -> set[str]:
        return {dict(labels)["name"] for name, labels in samples(registry) if name == "modelrollout_info"}

    assert named() == {"a", "b"}
    store.replace([with_status(RUNNING, "a")])  # b deleted
    assert named() == {"a"}
    assert not any(dict(labels).get("name") == "b" for _, labels in samples(registry))
    leading[0] = False
    assert samples(registry) == {}


def test_the_collector_rebuilds_a_rollouts_series_when_its_resource_version_changes() -> None:
    store = Store()
    registry = CollectorRegistry()
    registry.register(RolloutCollector(store, lambda obj: True, lambda: True))
    weight = ("modelrollout_weight", (("name", "a"), ("namespace", "ml")))

    def stored(version: str, weight: int) -> dict[str, Any]:
        rollout = with_status({**RUNNING, "weight": weight}, "a")
        rollout["metadata"]["resourceVersion"] = version
        return rollout

    store.replace([stored("1", 5)])
    assert samples(registry)[weight] == 5
    store.replace([stored("1", 50)])  # the same version is the same object: not parsed again
    assert samples(registry)[weight] == 5
    store.replace([stored("2", 50)])
    assert samples(registry)[weight] == 50


def test_every_family_is_served_and_documented() -> None:
    store = Store()
    ended = {
        **RUNNING,
        "outcome": {"result": "Succeeded", "reason": "Promoted", "at": "2026-11-20T11:00:00Z"},
    }
    store.replace([with_status(RUNNING, "running"), with_status(ended, "ended")])
    registry = CollectorRegistry()
    registry.register(RolloutCollector(store, lambda obj: True, lambda: True))
    served = {name.removesuffix("_total") for name, _ in samples(registry)}
    assert served == set(FAMILIES)
    documented = (ROOT / "docs" / "operations.md").read_text()
    for family in FAMILIES:
        assert f"`{family}" in documented, f"{family} is not in docs/operations.md"


def test_the_rollback_and_promotion_reasons_are_those_decide_ends_with() -> None:
    source = (ROOT / "rollouts" / "controller" / "core" / "decide.py").read_text()
    ends = re.findall(r"_end\(\s*t,\s*Result\.(\w+),\s*Reason\.(\w+)", source)
    assert ends, "decide no longer ends rollouts with _end(t, Result.X, Reason.Y, ...)"
    assert {reason for result, reason in ends if result == "ROLLED_BACK"} == {
        r.name for r in ROLLBACK_REASONS
    }
    assert {reason for result, reason in ends if result == "SUCCEEDED"} == {r.name for r in PROMOTION_REASONS}
