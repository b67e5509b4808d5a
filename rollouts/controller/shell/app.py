"""Wiring: informers, triggers, the reconciler and the manager — ``rollouts controller``.

Triggers (each maps a changed object to the rollout keys to reconcile):

- a ModelRollout → itself;
- a Deployment → the rollouts naming it as baseline or candidate;
- a Pod → the rollouts naming the Deployment that owns it (readiness and crash guards read pods);
- an HTTPRoute → the rollouts routing through it (only when the Gateway API CRD is installed);
- timers → ``requeue_after`` from each decision (next look, step deadline, scale-down).

Nodes are cached (accelerator capacity) but trigger nothing by themselves.

Start-up asks nothing of the cluster that the shipped roles (deploy/controller) do not grant:
whether the Gateway API is installed is learned by listing HTTPRoutes in the watched scope —
the informer needs that ``list`` anyway — never by reading CustomResourceDefinitions, which
are cluster-scoped and which a controller has no business reading (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from rollouts.controller.shell.prometheus_source import PrometheusProviders
from rollouts.controller.shell.reconciler import (
    DEPLOYMENT_INDEX,
    NAMESPACE_INDEX,
    ROUTE_INDEX,
    Caches,
    Reconciler,
)
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.informer import object_key
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    NODES,
    PODS,
    Forbidden,
    Kube,
    KubeObject,
    NotFound,
    Resource,
)
from rollouts.runtime.manager import LeaderElection, Manager, ReconcileResult
from rollouts.runtime.metrics import ALL_INTERFACES, LOOPBACK

log = structlog.get_logger(__name__)

NO_SUCH_NAME = "metadata.name=model-rollouts.probe.invalid"
"""A field selector no object matches: a list with it answers "is this served here?" cheaply."""


@dataclass(frozen=True)
class ControllerOptions:
    """How to run the controller."""

    workers: int = 2
    namespace: str | None = None
    """Watch one namespace only (None: all)."""
    leader_election: LeaderElection | None = None
    metrics_port: int | None = None
    metrics_address: str = LOOPBACK
    """Where /metrics listens: loopback unless asked (it has no authentication)."""
    health_port: int | None = None
    """A port serving /healthz and /readyz only, for the kubelet (None: probes on the metrics port)."""
    health_address: str = ALL_INTERFACES


def _namespace(obj: KubeObject) -> str:
    return str(obj.get("metadata", {}).get("namespace", ""))


def _deployments_of(rollout: KubeObject) -> Iterable[str]:
    spec = rollout.get("spec", {})
    namespace = _namespace(rollout)
    for side in ("baseline", "candidate"):
        name = (spec.get(side) or {}).get("deployment")
        if name:
            yield f"{namespace}/{name}"


def deployment_of_pod(pod: KubeObject) -> str | None:
    """``namespace/deployment`` that owns ``pod`` through its ReplicaSet, or None.

    A Deployment's ReplicaSet is named ``<deployment>-<pod-template-hash>`` and its pods carry
    the hash as a label, so the owner is read off the pod itself, with no lookup.

    >>> deployment_of_pod({"metadata": {"namespace": "ml", "labels": {"pod-template-hash": "5d9f"},
    ...     "ownerReferences": [{"kind": "ReplicaSet", "name": "fraud-v2-5d9f", "controller": True}]}})
    'ml/fraud-v2'
    >>> deployment_of_pod({"metadata": {"namespace": "ml", "name": "standalone"}}) is None
    True
    """
    metadata = pod.get("metadata", {})
    suffix = f"-{(metadata.get('labels') or {}).get('pod-template-hash', '')}"
    for owner in metadata.get("ownerReferences") or []:
        name = str(owner.get("name", ""))
        if (
            owner.get("kind") == "ReplicaSet"
            and owner.get("controller")
            and name.endswith(suffix)
            and suffix != "-"
        ):
            return f"{_namespace(pod)}/{name[: -len(suffix)]}"
    return None


def _rollouts_of_pod(pod: KubeObject, keys_by: Callable[[str, str], list[str]]) -> list[str]:
    """The rollouts a Pod change concerns: those naming the Deployment that owns it.

    Not every rollout of the namespace: with a thousand rollouts in one namespace, each Pod event
    used to queue all of them.
    """
    deployment = deployment_of_pod(pod)
    return [] if deployment is None else keys_by(DEPLOYMENT_INDEX, deployment)


def _routes_of(rollout: KubeObject) -> Iterable[str]:
    route = ((rollout.get("spec", {}).get("traffic") or {}).get("gatewayAPI") or {}).get("httpRoute")
    if route:
        yield f"{_namespace(rollout)}/{route}"


def serves(kube: Kube, resource: Resource, namespace: str | None) -> bool:
    """Whether the API server serves ``resource`` and lets us list it in ``namespace`` (None: all).

    404: not installed (no Gateway API CRDs), so the controller runs without that informer.
    403: installed but not granted to us — the controller still starts, without the informer,
    and says so; a rollout that needs the resource then fails on its own write with a
    condition naming it, rather than the whole controller failing to start.
    """
    try:
        kube.list(resource, namespace, field_selector=NO_SUCH_NAME, page_size=1)
    except NotFound:
        return False
    except Forbidden as refused:
        log.warning(
            "not watching a resource: forbidden to list it", resource=str(resource), error=refused.message
        )
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
        metrics_address=options.metrics_address,
        health_port=options.health_port,
        health_address=options.health_address,
    )
    scope = options.namespace
    rollouts = manager.informer(MODEL_ROLLOUTS, scope, keys=lambda rollout: [object_key(rollout)])
    rollouts.add_index(DEPLOYMENT_INDEX, _deployments_of)
    rollouts.add_index(ROUTE_INDEX, _routes_of)
    rollouts.add_index(NAMESPACE_INDEX, lambda rollout: [_namespace(rollout)])

    def keys_by(index: str, value: str) -> list[str]:
        return [object_key(rollout) for rollout in rollouts.store.by_index(index, value)]

    deployments = manager.informer(
        DEPLOYMENTS, scope, keys=lambda deployment: keys_by(DEPLOYMENT_INDEX, object_key(deployment))
    )
    pods = manager.informer(PODS, scope, keys=lambda pod: _rollouts_of_pod(pod, keys_by))
    pods.add_index(NAMESPACE_INDEX, lambda pod: [_namespace(pod)])
    nodes = manager.informer(NODES, keys=lambda node: [])
    routes = None
    if serves(kube, HTTP_ROUTES, scope):
        routes = manager.informer(
            HTTP_ROUTES, scope, keys=lambda route: keys_by(ROUTE_INDEX, object_key(route))
        )
    reconciler = Reconciler(
        manager.kube,
        Caches(
            rollouts=rollouts.store,
            deployments=deployments.store,
            pods=pods.store,
            nodes=nodes.store,
            routes=routes.store if routes is not None else None,
        ),
        PrometheusProviders(manager.kube),
        clock=lambda: datetime.now(UTC),
    )
    rollouts.add_handler(reconciler.aborts.rollout_changed)  # an abort cancels queries in flight
    holder.append(reconciler)
    return manager
