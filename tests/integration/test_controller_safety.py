"""Issue 10's outages, each replayed on the test bed with the real controller (issue items 1-6).

Real kube-apiserver, controller-manager, scheduler and kwok: Deployment status (Ready pods) is
reported by the real Deployment controller, so "the app has serving pods" is what a person
would see. Every test watches the app's Ready pods from the start (:class:`ServingRecorder`)
and asserts they never dropped to zero once the app served.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.local.prometheus import PrometheusServer
from rollouts.runtime.kube import DEPLOYMENTS, HTTP_ROUTES, Kube, KubeObject, PatchType
from rollouts.testbed import LocalCluster
from tests.support.controller import (
    ServingRecorder,
    WeightRecorder,
    condition,
    phase,
    rollout_reader,
    running_controller,
    wait_for,
)
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

GATED = [{"setWeight": 20}, {"approve": {}}, {"setWeight": 60}, {"setWeight": 100}]
FULL_THEN_GATE = [{"setWeight": 50}, {"setWeight": 100}, {"approve": {}}]


def _deployment(kube: Kube, name: str, namespace: str) -> KubeObject:
    return kube.get(DEPLOYMENTS, name, namespace)


def _sized(kube: Kube, name: str, namespace: str, replicas: int, what: str) -> KubeObject:
    """Wait until Deployment ``name`` asks for ``replicas`` and has them all Ready."""
    return wait_for(
        lambda: _deployment(kube, name, namespace),
        lambda d: (
            d["spec"]["replicas"] == replicas
            and int(d.get("status", {}).get("readyReplicas") or 0) == replicas
        ),
        60,
        what,
    )


def _patch(kube: Kube, name: str, namespace: str, spec: dict[str, Any]) -> None:
    kube.patch(MODEL_ROLLOUTS, name, {"spec": spec}, PatchType.MERGE, namespace)


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


ABORT = {"abort": {"reason": "on-call", "requestedBy": "test", "version": "v2"}}


@pytest.mark.parametrize(
    ("ending", "phase_after", "reason"),
    [
        (ABORT, "Aborted", "Aborted"),
        ({"maxDuration": "1s"}, "RolledBack", "MaxDurationExceeded"),  # a rollback, at the gate
    ],
    ids=["abort", "rollback"],
)
def test_ending_at_full_weight_with_the_replicas_router_brings_the_baseline_back_first(
    testbed: LocalCluster,
    kube: Kube,
    namespace: str,
    ending: dict[str, Any],
    phase_after: str,
    reason: str,
) -> None:
    """Item 1: at 100% the replicas router's baseline is at 0; an abort or a rollback used to
    leave both Deployments at 0. The baseline comes back, the candidate goes as it serves."""
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=4), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    read = rollout_reader(kube, "model", namespace)
    with (
        ServingRecorder(kube, namespace, ("model-v1", "model-v2")) as serving,
        running_controller(testbed.kubeconfig, namespace),
    ):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=FULL_THEN_GATE, route=None), namespace)
        wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 2, 90, "the approve gate at 100%")
        _sized(kube, "model-v1", namespace, 0, "the baseline at 0, as the 100% step promises")
        _patch(kube, "model", namespace, ending)
        ended = wait_for(read, lambda o: phase(o) == phase_after, 30, f"the rollout {phase_after}")
        _sized(kube, "model-v1", namespace, 4, "the baseline back at its size")
        _sized(kube, "model-v2", namespace, 0, "the candidate stopped once the baseline serves")
        wait_for(read, lambda o: o["status"].get("weight") == 0, 30, "weight 0 once the baseline serves")
    assert serving.lowest is not None and serving.lowest > 0, serving.totals
    assert ended["status"]["outcome"]["reason"] == reason


def test_a_deleted_candidate_is_noticed_and_the_baseline_keeps_serving(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=4), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    read = rollout_reader(kube, "model", namespace)
    with (
        ServingRecorder(kube, namespace, ("model-v1", "model-v2")) as serving,
        WeightRecorder(kube, "model", namespace, "model-v2") as weights,
        running_controller(testbed.kubeconfig, namespace),
    ):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
        wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "the approve gate")
        kube.delete(DEPLOYMENTS, "model-v2", namespace)
        rolled = wait_for(read, lambda o: phase(o) == "RolledBack", 30, "the rollback")
        wait_for(
            lambda: kube.get(HTTP_ROUTES, "model", namespace),
            lambda r: [ref["weight"] for ref in r["spec"]["rules"][0]["backendRefs"]] == [100, 0],
            30,
            "all traffic back on the baseline",
        )
    assert rolled["status"]["outcome"]["reason"] == "CandidateMissing"
    assert "model-v2" in rolled["status"]["outcome"]["message"]
    assert _deployment(kube, "model-v1", namespace)["spec"]["replicas"] == 4
    assert weights.weights == [0, 20, 0]
    assert serving.lowest is not None and serving.lowest > 0, serving.totals


def test_two_rollouts_naming_the_same_deployments_do_not_fight(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=3), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    first = rollout_reader(kube, "first", namespace)
    second = rollout_reader(kube, "second", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("first", steps=GATED, route=None), namespace)
        wait_for(first, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "first at its gate")
        before = {name: _deployment(kube, name, namespace) for name in ("model-v1", "model-v2")}
        kube.create(
            MODEL_ROLLOUTS, model_rollout("second", steps=[{"setWeight": 100}], route=None), namespace
        )
        blocked = wait_for(second, lambda o: condition(o, "Conflict").get("status") == "True", 30, "Conflict")
        # One more reconcile of the second, synchronised on the status it writes for a new spec.
        _patch(kube, "second", namespace, {"maxDuration": "5h"})
        generation = int(second()["metadata"]["generation"])
        wait_for(
            second,
            lambda o: condition(o, "Conflict").get("observedGeneration") == generation,
            30,
            "the second rollout's next reconcile",
        )
        after = {name: _deployment(kube, name, namespace) for name in ("model-v1", "model-v2")}
    message = condition(blocked, "Conflict")["message"]
    assert "ModelRollout first" in message
    assert "Deployment model-v1" in message and "Deployment model-v2" in message
    assert blocked["status"].get("candidateVersion") is None  # it never started
    for name, deployment in after.items():  # the second rollout wrote nothing to them
        assert deployment["metadata"]["generation"] == before[name]["metadata"]["generation"], name
    assert first()["status"]["currentStep"] == 1


def test_replaced_candidates_are_scaled_down_and_the_share_is_the_served_share(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=3), namespace)
    for version in ("v2", "v3", "v4"):
        kube.create(DEPLOYMENTS, model_deployment(f"model-{version}", version, replicas=0), namespace)
    read = rollout_reader(kube, "model", namespace)
    steps = [{"setWeight": 50}, {"approve": {}}, {"setWeight": 100}]
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=steps, route=None), namespace)
        wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "v2 at its gate")
        for old, new in (("v2", "v3"), ("v3", "v4")):
            _patch(kube, "model", namespace, {"candidate": {"deployment": f"model-{new}", "version": new}})
            wait_for(
                read,
                lambda o, v=new: (
                    o.get("status", {}).get("candidateVersion") == v and o["status"].get("currentStep") == 1
                ),
                60,
                f"{new} at its gate",
            )
            _sized(kube, f"model-{old}", namespace, 0, f"replaced candidate {old} stopped")
        gate = read()
    ready = {
        name: int(_deployment(kube, name, namespace).get("status", {}).get("readyReplicas") or 0)
        for name in ("model-v1", "model-v2", "model-v3", "model-v4")
    }
    served = ready["model-v4"] / sum(ready.values())
    assert ready["model-v2"] == ready["model-v3"] == 0
    assert gate["status"]["effectiveWeight"] == pytest.approx(served * 100, abs=0.01)
    assert gate["status"].get("replacedCandidates", []) == []


def test_promotion_with_the_replicas_router_waits_scale_down_delay(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    read = rollout_reader(kube, "model", namespace)
    body = model_rollout(
        "model", steps=[{"setWeight": 50}], route=None, scaleDown={"delay": "8s", "drain": "1s"}
    )
    with (
        ServingRecorder(kube, namespace, ("model-v1", "model-v2")) as serving,
        running_controller(testbed.kubeconfig, namespace),
    ):
        kube.create(MODEL_ROLLOUTS, body, namespace)
        promoted = wait_for(read, lambda o: phase(o) == "Succeeded", 60, "promotion")
        baseline_at_promotion = _deployment(kube, "model-v1", namespace)["spec"]["replicas"]
        done = wait_for(read, lambda o: o["status"].get("scaledDownAt") is not None, 60, "the scale-down")
        _sized(kube, "model-v1", namespace, 0, "the baseline at 0 after the delay")
    assert baseline_at_promotion == 2
    waited = parse_timestamp(done["status"]["scaledDownAt"]) - parse_timestamp(
        promoted["status"]["outcome"]["at"]
    )
    assert waited.total_seconds() >= 8
    assert serving.lowest is not None and serving.lowest > 0, serving.totals


def test_the_ready_query_is_asked_even_when_the_candidate_is_ready_at_the_start(
    testbed: LocalCluster, kube: Kube, namespace: str, prometheus: PrometheusServer
) -> None:
    """A candidate already Ready when the rollout starts (also after a retry) gets no traffic
    until the readyQuery is true; here it is always 0, so it never gets any."""
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=1), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    _sized(kube, "model-v2", namespace, 1, "the candidate Ready before the rollout exists")
    read = rollout_reader(kube, "model", namespace)
    analysis = {
        "prometheus": {"address": prometheus.url},
        "readyQuery": 'count(model_device_info{version="{{version}}", device!="cpu"}) or vector(0)',
    }
    with (
        WeightRecorder(kube, "model", namespace, "model-v2") as weights,
        running_controller(testbed.kubeconfig, namespace),
    ):
        body = model_rollout("model", steps=GATED, analysis=analysis, progressDeadline="20s")
        kube.create(MODEL_ROLLOUTS, body, namespace)
        waiting = wait_for(
            read, lambda o: condition(o, "Ready").get("reason") == "ReadyQueryFalse", 30, "ReadyQueryFalse"
        )
        failed = wait_for(read, lambda o: phase(o) == "Failed", 60, "progressDeadline")
        _patch(kube, "model", namespace, {"retry": {"requestedAt": _now(), "version": "v2"}})
        retried = wait_for(
            read,
            lambda o: (
                o["status"].get("retriedAt") is not None
                and condition(o, "Ready").get("reason") == "ReadyQueryFalse"
            ),
            30,
            "the retry, waiting on the readyQuery again",
        )
    assert "= 0" in condition(waiting, "Ready")["message"]
    assert failed["status"]["outcome"]["reason"] == "ProgressDeadlineExceeded"
    assert retried["status"]["weight"] == 0
    assert weights.weights == [0]


def test_a_timestamp_the_api_server_accepts_in_lower_case_never_wedges_the_rollout(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    """Issue 10 item 18: ``2026-11-28t13:50:00z`` is a date-time to the API server; it used to
    raise at every reconcile (no status, ever) and crash ``rollouts get NAME``."""
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
        wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "the approve gate")
        lower = _now().replace("T", "t").replace("Z", "z")  # after the plan started: it counts
        _patch(kube, "model", namespace, {"approvals": [{"step": 1, "version": "v2", "requestedAt": lower}]})
        done = wait_for(read, lambda o: phase(o) == "Succeeded", 60, "promotion past the approved gate")
    assert done["status"]["stableVersion"] == "v2"
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "rollouts.cli.main",
            "get",
            "model",
            "-n",
            namespace,
            "--kubeconfig",
            str(testbed.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
