"""E2E fixtures: the whole stack of rollouts.local.stack on the session's test bed.

Each test gets its own namespace and its own kwok GPU node (so GPU capacity never depends on
what earlier tests left behind), two real model-server processes, a real Prometheus scraping
them every second, load at 30 requests/s routed by the HTTPRoute's weights, and the controller.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rollouts.local import prometheus
from rollouts.local.loadgen import LoadCounts
from rollouts.local.model_server.config import Switches
from rollouts.local.stack import LocalStack
from rollouts.runtime.kube import Kube
from rollouts.testbed import LocalCluster
from rollouts.testbed.cluster import NodeSpec
from tests.support.controller import wait_for
from tests.support.need import need

StackFactory = Callable[..., LocalStack]


@pytest.fixture
def make_stack(
    testbed: LocalCluster, kube: Kube, crds: list[str], namespace: str, tmp_path: Path
) -> Iterator[StackFactory]:
    need(prometheus.available(), "prometheus and promtool", "apt-get install prometheus")
    testbed.add_node(NodeSpec(f"gpu-{secrets.token_hex(4)}", cpu="64", memory="256Gi", gpus=8))
    stacks: list[LocalStack] = []

    def make(
        candidate: Switches | None = None, baseline: Switches | None = None, **options: object
    ) -> LocalStack:
        stack = LocalStack(
            kube,
            namespace,
            tmp_path / f"stack-{len(stacks)}",
            candidate=candidate or Switches(error_rate=0.01),
            baseline=baseline or Switches(error_rate=0.01),
            **options,  # type: ignore[arg-type]
        )
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in stacks:
        stack.stop()


def wait_for_share(stack: LocalStack, share: float, what: str, timeout: float = 20.0) -> None:
    """Wait until the HTTPRoute sends ``share`` of requests to the candidate.

    The controller writes status before it moves traffic (so a conflict can never replay an
    older step), so a status that already says a weight is followed, not preceded, by the
    route edit: tests that read the route after a status change wait for it here.
    """
    wait_for(lambda: {"share": stack.route_share()}, lambda seen: seen["share"] == share, timeout, what)


def header_routed_at_the_gate(stack: LocalStack, more: int = 30) -> LoadCounts:
    """At the plan's step 1 (a gate behind a header route, weight 0), the load's counts once
    ``more`` requests have been sent with the header since the gate was reached."""
    gate = wait_for(stack.rollout, lambda o: o.get("status", {}).get("currentStep") == 1, 120, "the gate")
    assert gate["status"]["weight"] == 0
    load = stack.load
    assert load is not None
    first = load.counts().header_routed
    counts: LoadCounts = wait_for(
        lambda: {"counts": load.counts()},
        lambda seen: seen["counts"].header_routed >= first + more,
        60,
        "header-routed requests",
    )["counts"]
    return counts
