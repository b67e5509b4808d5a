"""Wiring: informers, triggers, the reconciler and the manager — ``rollouts controller``.

Triggers (each maps a changed object to the rollout keys to reconcile):

- a ModelRollout → itself;
- a Deployment → the rollouts naming it as baseline or candidate;
- a Pod → the rollouts of its namespace (readiness and crash guards read pods);
- an HTTPRoute → the rollouts routing through it (only when the Gateway API CRD is installed);
- timers → ``requeue_after`` from each decision (next look, step deadline, scale-down).

Nodes are cached (accelerator capacity) but trigger nothing by themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rollouts.controller.prometheus_source import PrometheusProviders
from rollouts.controller.reconciler import NAMESPACE_INDEX, Caches, Reconciler
from rollouts.runtime.informer import object_key
from rollouts.runtime.kube import (
    CUSTOM_RESOURCE_DEFINITIONS,
    DEPLOYMENTS,
    HTTP_ROUTES,
    MODEL_ROLLOUTS,
    NODES,
    PODS,
    Kube,
    KubeObject,
    NotFound,
)
from rollouts.runtime.manager import LeaderElection, Manager, ReconcileResult

HTTP_ROUTE_CRD = "httproutes.gateway.networking.k8s.io"


@dataclass(frozen=True)
class ControllerOptions:
    """How to run the controller."""

    workers: int = 2
    namespace: str | None = None
    """Watch one namespace only (None: all)."""
    leader_election: LeaderElection | None = None
    metrics_port: int | None = None
    ca_dir: Path | None = None


def _namespace(obj: KubeObject) -> str:
    return str(obj.get("metadata", {}).get("namespace", ""))


def _deployments_of(rollout: KubeObject) -> Iterable[str]:
    spec = rollout.get("spec", {})
    namespace = _namespace(rollout)
    for side in ("baseline", "candidate"):
        name = (spec.get(side) or {}).get("deployment")
        if name:
            yield f"{namespace}/{name}"


def _routes_of(rollout: KubeObject) -> Iterable[str]:
    route = ((rollout.get("spec", {}).get("traffic") or {}).get("gatewayAPI") or {}).get("httpRoute")
    if route:
        yield f"{_namespace(rollout)}/{route}"


def _has_crd(kube: Kube, name: str) -> bool:
    try:
        kube.get(CUSTOM_RESOURCE_DEFINITIONS, name)
    except NotFound:
        return False
    return True


def build_manager(kube: Kube, options: ControllerOptions) -> Manager:
    """A manager with every informer, trigger and the reconciler wired in (not started)."""
    holder: list[Reconciler] = []

    def reconcile(key: str) -> ReconcileResult:
        return holder[0].reconcile(key)

    manager = Manager(
        kube,
        reconcile,
        workers=options.workers,
        leader_election=options.leader_election,
        metrics_port=options.metrics_port,
    )
    scope = options.namespace
    rollouts = manager.informer(MODEL_ROLLOUTS, scope, keys=lambda rollout: [object_key(rollout)])
    rollouts.add_index("deployment", _deployments_of)
    rollouts.add_index("route", _routes_of)
    rollouts.add_index(NAMESPACE_INDEX, lambda rollout: [_namespace(rollout)])

    def keys_by(index: str, value: str) -> list[str]:
        return [object_key(rollout) for rollout in rollouts.store.by_index(index, value)]

    deployments = manager.informer(
        DEPLOYMENTS, scope, keys=lambda deployment: keys_by("deployment", object_key(deployment))
    )
    pods = manager.informer(PODS, scope, keys=lambda pod: keys_by(NAMESPACE_INDEX, _namespace(pod)))
    pods.add_index(NAMESPACE_INDEX, lambda pod: [_namespace(pod)])
    nodes = manager.informer(NODES, keys=lambda node: [])
    if _has_crd(kube, HTTP_ROUTE_CRD):
        manager.informer(HTTP_ROUTES, scope, keys=lambda route: keys_by("route", object_key(route)))
    holder.append(
        Reconciler(
            manager.kube,
            Caches(
                rollouts=rollouts.store, deployments=deployments.store, pods=pods.store, nodes=nodes.store
            ),
            PrometheusProviders(manager.kube, options.ca_dir),
            clock=lambda: datetime.now(UTC),
        )
    )
    return manager
