"""Per-rollout series on the controller's /metrics: there while the rollout exists, gone once deleted.

The real controller on the test bed, its /metrics read as a scraper reads it. Waits are on what
/metrics serves (tests.support.controller.wait_for), never on time.
"""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, HTTP_ROUTES, Kube
from rollouts.runtime.manager import Manager
from rollouts.testbed import LocalCluster
from tests.support.controller import running_controller, wait_for
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

GATED = [{"setWeight": 20}, {"approve": {}}, {"setWeight": 100}]


def rollout_samples(manager: Manager) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every modelrollout_* sample /metrics serves, by rollout name, keyed by metric and other labels."""
    assert manager.metrics_server is not None
    url = f"http://127.0.0.1:{manager.metrics_server.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("modelrollout_"):
                labels = dict(sample.labels)
                rollout = labels.pop("name")
                labels.pop("namespace")
                key = (("__name__", sample.name), *sorted(labels.items()))
                found.setdefault(rollout, {})[key] = sample.value
    return found


def test_a_rollouts_series_follow_its_status_and_vanish_when_it_is_deleted(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    for name in ("kept", "deleted"):
        kube.create(DEPLOYMENTS, model_deployment(f"{name}-v1", "v1", replicas=2), namespace)
        kube.create(DEPLOYMENTS, model_deployment(f"{name}-v2", "v2", replicas=0), namespace)
        kube.create(HTTP_ROUTES, http_route(name, f"{name}-v1", f"{name}-v2"), namespace)
    with running_controller(testbed.kubeconfig, namespace, metrics_port=0) as manager:
        for name in ("kept", "deleted"):
            rollout = model_rollout(
                name, steps=GATED, baseline=(f"{name}-v1", "v1"), candidate=(f"{name}-v2", "v2"), route=name
            )
            kube.create(MODEL_ROLLOUTS, rollout, namespace)

        def waiting(seen: dict[str, Any]) -> bool:
            return all(
                seen["served"].get(name, {}).get((("__name__", "modelrollout_waiting_for_approval"),)) == 1
                for name in ("kept", "deleted")
            )

        seen = wait_for(lambda: {"served": rollout_samples(manager)}, waiting, 60, "both at the approve gate")
        served = seen["served"]
        assert served["kept"][(("__name__", "modelrollout_weight"),)] == 20
        assert served["kept"][(("__name__", "modelrollout_phase"), ("phase", "Progressing"))] == 1
        assert served["kept"][(("__name__", "modelrollout_step"),)] == 1
        kube.delete(MODEL_ROLLOUTS, "deleted", namespace)
        gone = wait_for(
            lambda: {"served": rollout_samples(manager)},
            lambda seen: "deleted" not in seen["served"],
            30,
            "the deleted rollout's series to vanish",
        )
        assert "kept" in gone["served"]
