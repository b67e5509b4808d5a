"""A leader paused mid-write never has that write land after its successor's: one test per write kind.

What can go wrong with leader election alone: the old leader asks ``still_leader()`` (yes),
is paused (SIGSTOP, a long GC, a frozen VM) before its request reaches the server, a successor
takes the Lease and writes, and the old leader wakes up and sends. The write guard cannot stop
a write already past it; only a precondition the successor's write invalidates can. Pausing a
process exactly there is not controllable from outside, so each test puts the successor's
write *inside* the write guard — after the old leader's check, before its request — and then
makes the guard answer as it would after the pause (the Lease is lost). The real API server
must refuse the old leader's write (409), and any retry must meet the guard: the object shows
the successor's write, never the old leader's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rollouts.controller.shell.reconciler import Reconciler
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.controller.shell.scaling.base import ScaleContext
from rollouts.controller.shell.scaling.deployment import DeploymentScaler
from rollouts.local.manifests import http_route, model_deployment
from rollouts.routers.base import RouterTarget
from rollouts.routers.gateway_api import GatewayAPIRouter
from rollouts.runtime.informer import Store
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    Conflict,
    Kube,
    KubeObject,
    NotLeader,
    PatchType,
    Resource,
)
from tests.support.controller import reconciler_alone
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]


class PausedLeader:
    """A write guard: the first write passes, but a successor writes first; then the Lease is lost."""

    def __init__(self, successor: Callable[[], object]) -> None:
        self._successor = successor
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        if self.asked == 1:
            self._successor()  # while the old leader is "paused" between its check and its request
            return True
        return False  # woken up after the Lease was taken over


def _context(kube: Kube, namespace: str, deployments: Store) -> ScaleContext:
    """What a scaler of the old leader reads: its Deployment cache (nothing else is read)."""
    return ScaleContext(kube, namespace, deployments, read=lambda resource, name: None)


def _reconciler(kube: Kube) -> Reconciler:
    return reconciler_alone(kube)


def test_a_status_write_prepared_before_the_successors_is_refused(kube: Kube, namespace: str) -> None:
    kube.create(MODEL_ROLLOUTS, model_rollout("fraud", steps=[{"setWeight": 50}]), namespace)
    successor_status = {"status": {"message": "written by the successor"}}

    def successor() -> None:
        kube.patch(
            MODEL_ROLLOUTS, "fraud", successor_status, PatchType.MERGE, namespace, subresource="status"
        )

    paused = PausedLeader(successor)
    with pytest.raises(Conflict):
        _reconciler(kube.guarded(paused)).reconcile(f"{namespace}/fraud")
    assert paused.asked == 1, "a write followed the refused status write"
    assert kube.get(MODEL_ROLLOUTS, "fraud", namespace)["status"] == successor_status["status"]


def test_a_scale_write_prepared_before_the_successors_is_refused(kube: Kube, namespace: str) -> None:
    read = kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    deployments = Store()
    deployments.replace([read])  # the old leader's cache: the Deployment as it read it

    def successor() -> None:
        kube.patch(
            DEPLOYMENTS,
            "model-v2",
            {"spec": {"replicas": 5}},
            PatchType.MERGE,
            namespace,
            subresource="scale",
        )

    paused = PausedLeader(successor)
    scaler = DeploymentScaler(_context(kube.guarded(paused), namespace, deployments))
    with pytest.raises(NotLeader):  # 409 on the stale version, then the retry meets the guard
        scaler.scale("model-v2", 2)
    assert paused.asked == 2
    assert kube.get(DEPLOYMENTS, "model-v2", namespace)["spec"]["replicas"] == 5


def test_a_stale_scale_write_without_a_successor_is_retried_on_a_live_read(
    kube: Kube, namespace: str
) -> None:
    read = kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    deployments = Store()
    deployments.replace([read])
    someone = {"spec": {"replicas": 1}}  # e.g. a person's kubectl scale: the cache (0) now lags
    kube.patch(DEPLOYMENTS, "model-v2", someone, PatchType.MERGE, namespace, subresource="scale")
    DeploymentScaler(_context(kube, namespace, deployments)).scale("model-v2", 2)
    assert kube.get(DEPLOYMENTS, "model-v2", namespace)["spec"]["replicas"] == 2


def test_a_scale_write_is_not_refused_for_a_status_change_of_the_deployment(
    kube: Kube, namespace: str
) -> None:
    """The Deployment controller rewrites status (and the resourceVersion) as pods come and go."""
    read = kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    deployments = Store()
    deployments.replace([read])
    labels = {"metadata": {"labels": {"touched": "yes"}}}
    kube.patch(DEPLOYMENTS, "model-v2", labels, PatchType.MERGE, namespace)  # a newer version, same size
    sends: list[int] = []

    def count() -> bool:
        sends.append(1)
        return True

    DeploymentScaler(_context(kube.guarded(count), namespace, deployments)).scale("model-v2", 2)
    assert kube.get(DEPLOYMENTS, "model-v2", namespace)["spec"]["replicas"] == 2
    assert len(sends) == 1, "the size read was still the size: one write, no retry"


def _weights(route: dict[str, Any]) -> list[int]:
    return [int(ref["weight"]) for ref in route["spec"]["rules"][0]["backendRefs"]]


def test_a_route_write_prepared_before_the_successors_is_refused(kube: Kube, namespace: str) -> None:
    read = kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)

    def successor() -> None:
        weights = [
            {"op": "replace", "path": f"/spec/rules/0/backendRefs/{i}/weight", "value": 50} for i in (0, 1)
        ]
        kube.patch(HTTP_ROUTES, "model", weights, PatchType.JSON, namespace)

    paused = PausedLeader(successor)
    guarded = kube.guarded(paused)

    def cached(resource: Resource, name: str) -> KubeObject | None:
        return read  # the old leader's cache: the route as it read it (100/0)

    target = RouterTarget(
        kube=guarded, namespace=namespace, baseline="model-v1", candidate="model-v2", replaced=(), read=cached
    )
    router = GatewayAPIRouter(target, "model", 0, "model-v1", "model-v2")
    with pytest.raises(NotLeader):  # the `test` ops fail, then the live retry meets the guard
        router.set_weight(25)
    assert paused.asked == 2
    assert _weights(kube.get(HTTP_ROUTES, "model", namespace)) == [50, 50]
