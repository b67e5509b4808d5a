"""End to end: shadow traffic and header routes on a real HTTPRoute, real model servers, Prometheus.

The load generator mirrors and header-routes requests exactly as the route says (it reads the
route with :func:`rollouts.traffic.gateway_api.gateway_api_routing`, the router's own reading),
so the candidate's metrics come from mirrored requests only while its live weight is 0. Route
writes are recorded from a watch: the live weight and the mirror, at every change.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.local.loadgen import HeaderClient
from rollouts.local.model_server.config import Device, Switches
from rollouts.local.stack import BASELINE, CANDIDATE, ROUTE, LocalStack, demo_analysis, demo_rollout
from rollouts.runtime.kube import HTTP_ROUTES, Kube
from rollouts.traffic.gateway_api import gateway_api_routing
from tests.e2e.conftest import StackFactory, header_routed_at_the_gate
from tests.support.controller import ShareRecorder, phase, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MIRROR_PLAN = [
    {"setMirror": 50},
    {"analyze": {"duration": "90s"}},
    {"setWeight": 25},
    {"analyze": {"duration": "60s"}},
    {"setWeight": 100},
]
CANARY = {"name": "x-canary", "value": "internal"}


def _recorders(kube: Kube, stack: LocalStack) -> tuple[ShareRecorder, ShareRecorder]:
    """The live weight and the mirror of the stack's HTTPRoute, in whole percent, at every change."""

    def routing(obj: dict[str, Any]) -> Any:
        return gateway_api_routing(obj, 0, BASELINE[0], CANDIDATE[0])

    return (
        ShareRecorder(kube, HTTP_ROUTES, ROUTE, stack.namespace, lambda obj: routing(obj).share),
        ShareRecorder(kube, HTTP_ROUTES, ROUTE, stack.namespace, lambda obj: routing(obj).mirror),
    )


def _ended(stack: LocalStack, timeout: float) -> dict[str, Any]:
    return wait_for(
        stack.rollout,
        lambda o: phase(o) in ("Succeeded", "RolledBack", "Failed", "Aborted"),
        timeout,
        "the end",
    )


def test_a_cpu_fallback_is_rolled_back_at_the_mirror_step_before_any_live_traffic(
    make_stack: StackFactory, kube: Kube
) -> None:
    stack = make_stack(candidate=Switches(device=Device.CPU, error_rate=0.01))
    weights, mirrors = _recorders(kube, stack)
    with weights, mirrors:
        stack.create_rollout(
            demo_rollout(demo_analysis(stack.prometheus_url, ready_query=False), steps=MIRROR_PLAN)
        )
        done = _ended(stack, 240)
        wait_for(
            lambda: {"mirror": stack.routing().mirror}, lambda seen: seen["mirror"] == 0, 20, "no mirror"
        )
    status = done["status"]
    assert phase(done) == "RolledBack", status.get("message")
    assert "latency" in status["outcome"]["message"]
    assert status["currentStep"] == 1  # at the analyze step on mirrored requests
    assert weights.weights == [0]  # no user ever got the candidate's answer
    assert mirrors.weights == [0, 50, 0]
    assert status.get("mirror") is None
    assert stack.load is not None
    counts = stack.load.counts()
    assert counts.sent.get(CANDIDATE[1], 0) == 0
    assert sum(counts.mirrored.values()) > 0


def test_a_good_candidate_passes_the_mirror_step_and_goes_on_to_live_traffic(
    make_stack: StackFactory, kube: Kube
) -> None:
    stack = make_stack(candidate=Switches(error_rate=0.01))
    weights, mirrors = _recorders(kube, stack)
    with weights, mirrors:
        stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url), steps=MIRROR_PLAN))
        done = _ended(stack, 420)
    assert phase(done) == "Succeeded", done["status"].get("message")
    assert weights.weights == [0, 25, 100]
    assert mirrors.weights == [0, 50, 0]  # the mirror ended when live traffic moved
    history = done["status"]["history"]
    judged = next(e for e in history if e["reason"] in ("AnalysisPassed", "InconclusivePromoted"))
    assert (judged["step"], judged["weight"]) == (1, 0)  # judged on mirrored requests, before live traffic
    assert "n=0/" not in judged["message"]


def test_a_header_route_sends_only_matching_requests_to_the_candidate(make_stack: StackFactory) -> None:
    stack = make_stack(
        candidate=Switches(error_rate=0.01), header_client=HeaderClient({"x-canary": "internal"}, 0.2)
    )
    plan = [{"setHeaderRoute": {"match": [CANARY]}}, {"approve": {}}, {"setWeight": 100}]
    stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url), steps=plan))
    counts = header_routed_at_the_gate(stack)
    assert counts.sent.get(CANDIDATE[1], 0) == counts.header_routed  # the header's requests and no others
    assert counts.sent[BASELINE[1]] > counts.header_routed
