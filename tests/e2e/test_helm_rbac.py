"""The Helm chart's RBAC, proven by use: whole rollouts run by a controller holding nothing but a
token of the chart's ServiceAccount.

Each test installs the chart with ``helm`` (its release in the test's namespace), asks the
TokenRequest API for a bound token of the chart's ServiceAccount, writes a kubeconfig with only
that token, and runs ``rollouts controller`` as a process with the arguments of the Deployment
the chart created (kwok's pods run nothing, so the process plays the pod). Every API call the
controller makes — informers, status, Events, the Lease, scaling, the HTTPRoute — is then
authorised by the chart's roles alone, and any refusal names the ServiceAccount in the log.

The rollouts are the e2e ones: real model servers, real Prometheus, load at 30 req/s routed by the
HTTPRoute's weights (rollouts.local.stack). The replicas router's share is a share of Ready pods,
which the load generator does not follow, so that rollout has no analysis: it proves the rights
the replicas router uses (scale patches, pod reads), not a verdict.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from rollouts.local.model_server.config import Device, Switches
from rollouts.local.stack import LocalStack, demo_analysis, demo_rollout
from rollouts.runtime.kube import DEPLOYMENTS, Kube, KubeObject
from rollouts.testbed import LocalCluster
from rollouts.testbed.cluster import free_ports
from tests.e2e.conftest import StackFactory, wait_for_share
from tests.integration.test_deploy_controller import controller_process, shipped_arguments, wait_ready
from tests.support.controller import phase, wait_for
from tests.support.helm import install, run_helm, service_account_token_kubeconfig
from tests.support.identities import wait_allowed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IDENTICAL = Switches(error_rate=0.01)
SHORT_STEPS = [{"setWeight": 50}, {"analyze": {"duration": "40s"}}, {"setWeight": 100}]
CLUSTER_WIDE: dict[str, Any] = {"replicaCount": 1}

ChartController = Callable[[dict[str, Any]], Any]


@pytest.fixture
def chart_controller(
    helm_binary: Path,
    testbed: LocalCluster,
    api_client: ApiClient,
    kube: Kube,
    namespace: str,
    tmp_path: Path,
) -> Iterator[Callable[[dict[str, Any]], Any]]:
    """``with chart_controller(values): ...`` installs the chart in the test's namespace and runs
    the controller there with the chart's ServiceAccount's token; the chart is uninstalled after."""
    release = f"mr-{secrets.token_hex(3)}"
    account = f"{release}-model-rollouts-controller"

    @contextmanager
    def run(values: dict[str, Any]) -> Iterator[Path]:
        installed = install(helm_binary, testbed, release, namespace, values)
        assert installed.returncode == 0, installed.stderr
        token = service_account_token_kubeconfig(api_client, testbed, namespace, account, tmp_path)
        wait_allowed(token, "list", "modelrollouts", namespace, group="rollouts.modelops.io")
        deployment = _controller_deployment(kube, namespace, release)
        metrics, health = free_ports(2)
        log = tmp_path / "controller.log"
        with controller_process(
            shipped_arguments(deployment, namespace, metrics, health), token, log
        ) as process:
            wait_ready(health, process, log)
            yield log
        assert process.returncode == 0, log.read_text()
        refused = [
            line for line in log.read_text().splitlines() if f"system:serviceaccount:{namespace}:" in line
        ]
        assert refused == [], "\n".join(refused)

    yield run
    run_helm(helm_binary, "uninstall", release, f"--namespace={namespace}", kubeconfig=testbed.kubeconfig)


def _controller_deployment(kube: Kube, namespace: str, release: str) -> KubeObject:
    """The release's one controller Deployment, as the API server stored it."""
    found = kube.list(DEPLOYMENTS, namespace, label_selector=f"app.kubernetes.io/instance={release}").items
    assert len(found) == 1, [d["metadata"]["name"] for d in found]
    return found[0]


def _the_end(stack: LocalStack, timeout: float) -> KubeObject:
    return wait_for(
        stack.rollout, lambda o: phase(o) in ("Succeeded", "RolledBack", "Failed"), timeout, "the end"
    )


def test_gateway_router_promotes_with_the_cluster_wide_roles(
    make_stack: StackFactory, chart_controller: ChartController
) -> None:
    stack = make_stack(candidate=IDENTICAL, run_controller=False)
    with chart_controller(CLUSTER_WIDE):
        stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url), steps=SHORT_STEPS))
        done = _the_end(stack, 240)
        assert phase(done) == "Succeeded", done["status"].get("message")
        wait_for_share(stack, 1.0, "the route on the candidate")
    assert done["status"]["stableVersion"] == "v2"


def test_replicas_router_promotes_with_the_namespaced_roles(
    make_stack: StackFactory, chart_controller: ChartController, kube: Kube, namespace: str
) -> None:
    stack = make_stack(candidate=IDENTICAL, run_controller=False)
    rollout = demo_rollout({}, traffic={"replicas": {}}, steps=[{"setWeight": 50}, {"setWeight": 100}])
    del rollout["spec"]["analysis"]
    with chart_controller({"replicaCount": 1, "rbac": {"scope": "namespaced", "namespaces": [namespace]}}):
        stack.create_rollout(rollout)
        done = _the_end(stack, 180)
        assert phase(done) == "Succeeded", done["status"].get("message")
        wait_for(
            lambda: kube.get(DEPLOYMENTS, "model-v1", namespace),
            lambda d: d["spec"]["replicas"] == 0,
            60,
            "the baseline scaled down after scaleDown.delay",
        )
    assert kube.get(DEPLOYMENTS, "model-v2", namespace)["spec"]["replicas"] >= 1


def test_a_slow_candidate_is_rolled_back_with_the_cluster_wide_roles(
    make_stack: StackFactory, chart_controller: ChartController
) -> None:
    stack = make_stack(candidate=Switches(device=Device.CPU, error_rate=0.01), run_controller=False)
    with chart_controller(CLUSTER_WIDE):
        stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url, ready_query=False)))
        done = _the_end(stack, 240)
        assert phase(done) == "RolledBack", done["status"].get("message")
        assert "latency" in done["status"]["outcome"]["message"]
        wait_for_share(stack, 0.0, "the route back on the baseline")
