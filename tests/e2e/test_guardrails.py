"""End to end, the ML guardrails: a model on CPU never gets traffic; a crash-looping one rolls back.

Real model-server processes report their device through ``model_device_info``; the candidate
pods are kwok's, and a project kwok stage (rollouts/testbed/stages/pod-crash-loop.yaml) makes
the ones labelled ``model-rollouts.modelops.io/crash-loop=true`` report a crash loop, as a
kubelet would for a server that keeps exiting.
"""

from __future__ import annotations

import pytest

from rollouts.local.model_server.config import Device, Switches
from rollouts.local.stack import CANDIDATE, ROUTE, demo_analysis, demo_rollout
from rollouts.runtime.kube import PODS, Kube, PatchType
from tests.e2e.conftest import StackFactory, wait_for_share
from tests.support.controller import WeightRecorder, condition, phase, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_candidate_serving_from_cpu_never_gets_traffic(make_stack: StackFactory, kube: Kube) -> None:
    stack = make_stack(candidate=Switches(device=Device.CPU, error_rate=0.01))
    with WeightRecorder(kube, ROUTE, stack.namespace, CANDIDATE[0]) as recorder:
        stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url), progressDeadline="40s"))
        blocked = wait_for(
            stack.rollout,
            lambda o: "= 0" in condition(o, "Ready").get("message", ""),
            60,
            "the readyQuery's value in the Ready condition",
        )
        ready = condition(blocked, "Ready")
        assert ready["reason"] == "ReadyQueryFalse"
        assert 'model_device_info{version="{{version}}", device!="cpu"}' in ready["message"]
        failed = wait_for(stack.rollout, lambda o: phase(o) == "Failed", 90, "the progress deadline")
    assert failed["status"]["outcome"]["reason"] == "ProgressDeadlineExceeded"
    assert "readyQuery" in failed["status"]["outcome"]["message"]
    assert recorder.weights == [0]


def test_crash_looping_candidate_is_rolled_back_naming_pod_and_container(
    make_stack: StackFactory, kube: Kube
) -> None:
    stack = make_stack(candidate=Switches(error_rate=0.01))
    steps = [{"setWeight": 25}, {"analyze": {"duration": "5m"}}, {"setWeight": 100}]
    stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url), steps=steps))
    wait_for(stack.rollout, lambda o: o.get("status", {}).get("weight") == 25, 90, "traffic to the candidate")
    wait_for_share(stack, 0.25, "the route at 25%")
    pods = kube.list(PODS, stack.namespace, label_selector=f"version={CANDIDATE[1]}").items
    assert pods
    for pod in pods:
        labels = {"metadata": {"labels": {"model-rollouts.modelops.io/crash-loop": "true"}}}
        kube.patch(PODS, pod["metadata"]["name"], labels, PatchType.MERGE, stack.namespace)
    done = wait_for(stack.rollout, lambda o: phase(o) in ("RolledBack", "Succeeded"), 60, "the rollback")
    outcome = done["status"]["outcome"]
    assert phase(done) == "RolledBack"
    assert outcome["reason"] == "CandidateFailing"
    assert pods[0]["metadata"]["name"] in outcome["message"] or any(
        pod["metadata"]["name"] in outcome["message"] for pod in pods
    )
    assert "server" in outcome["message"]
    wait_for_share(stack, 0.0, "the route back at 0%")
