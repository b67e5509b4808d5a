"""Wiring: informers, triggers, the reconciler and the manager — ``rollouts controller``.

Triggers (each maps a changed object to the rollout keys to reconcile):

- a ModelRollout → itself;
- a Deployment → the rollouts naming it as baseline or candidate;
- a Pod → the rollouts naming the Deployment that owns it (readiness and crash guards read pods);
- an HTTPRoute → the rollouts routing through it (only when the Gateway API CRD is installed);
- an Istio VirtualService → the rollouts routing through it (only when Istio's CRD is installed
  and the controller may list it);
- a HorizontalPodAutoscaler or KEDA ScaledObject → the rollouts naming it in spec.autoscaler
  and those naming the Deployment it sizes (each kind only when it is installed and the
  controller may list it, so a cluster without KEDA runs without that informer:
  docs/autoscalers.md);
- timers → ``requeue_after`` from each decision (next look, step deadline, scale-down).

Nodes are cached (accelerator capacity) but trigger nothing by themselves.

The manager's /metrics also serves a series set per rollout, built from the rollouts cache at
scrape time (rollouts.controller.shell.rollout_metrics), so they vanish with the rollout.

The caches keep only what rollouts read (rollouts.controller.shell.trim), and pods only of the
Deployments rollouts name (rollouts.controller.shell.pod_scope, which also says when those pods
are known), so memory follows the rollouts, not the cluster.

Shards (rollouts.controller.core.shards): every rollout in scope is cached, so the claims rule
sees rollouts of other shards, but only this controller's shard's rollouts are queued, and a
key is reconciled only while the rollout as the reconciler reads it is in this shard.

Notifications (rollouts.controller.shell.notifier) are on when a namespace holding their
ConfigMap and Secret is given: a sender with threads of its own, stopped with the manager once
the last reconcile is done. It reads only those two objects, by name, when it sends.

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

from rollouts.api.spec import KSERVE_PREDICTOR_SUFFIX, AutoscalerKind
from rollouts.controller.core.shards import field_manager, in_shard
from rollouts.controller.shell.fetch import QUERIES_IN_FLIGHT
from rollouts.controller.shell.notifier import NotificationSender, NotifierConfigs
from rollouts.controller.shell.pod_scope import POD_RELIST_SPACING, PodScope, deployment_of_pod
from rollouts.controller.shell.prometheus_source import PrometheusProviders
from rollouts.controller.shell.reconciler import (
    AUTOSCALER_INDEX,
    DEPLOYMENT_INDEX,
    INFERENCE_SERVICE_INDEX,
    NAMESPACE_INDEX,
    ROUTE_INDEX,
    VIRTUAL_SERVICE_INDEX,
    Caches,
    Reconciler,
)
from rollouts.controller.shell.resources import AUTOSCALERS, MODEL_ROLLOUTS
from rollouts.controller.shell.rollout_metrics import RolloutCollector
from rollouts.controller.shell.trim import drop_bookkeeping, trim_autoscaler, trim_deployment, trim_node
from rollouts.runtime.informer import Informer, Store, object_key
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    INFERENCE_SERVICES,
    NODES,
    PODS,
    VIRTUAL_SERVICES,
    Forbidden,
    Kube,
    KubeObject,
    NotFound,
    Resource,
)
from rollouts.runtime.manager import LeaderElection, Manager, ReconcileResult
from rollouts.runtime.metrics import ALL_INTERFACES, LOOPBACK

log = structlog.get_logger(__name__)

CONTROLLER_NAME = "modelrollout"
"""The ``controller`` label of the controller_runtime_* series and the ``name`` of the workqueue_* ones."""

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
    shard: str | None = None
    """Reconcile only rollouts labelled with this shard (None: the unlabelled ones);
    rollouts.controller.core.shards. Its writes name it as their field manager."""
    notifications_namespace: str | None = None
    """Where the ConfigMap and Secret model-rollouts-notifications are (None: notifications off)."""


def _namespace(obj: KubeObject) -> str:
    return str(obj.get("metadata", {}).get("namespace", ""))


def _deployments_of(rollout: KubeObject) -> Iterable[str]:
    spec = rollout.get("spec", {})
    namespace = _namespace(rollout)
    for side in ("baseline", "candidate"):
        ref = spec.get(side) or {}
        if name := ref.get("deployment") or ref.get("inferenceService"):
            suffix = "" if ref.get("deployment") else KSERVE_PREDICTOR_SUFFIX  # ModelRef.workload_deployment
            yield f"{namespace}/{name}{suffix}"


def _rollouts_of_pod(pod: KubeObject, keys_by: Callable[[str, str], list[str]]) -> list[str]:
    """The rollouts a Pod change concerns: those naming the Deployment that owns it.

    Not every rollout of the namespace: with a thousand rollouts in one namespace, each Pod event
    used to queue all of them.
    """
    deployment = deployment_of_pod(pod)
    return [] if deployment is None else keys_by(DEPLOYMENT_INDEX, deployment)


def _autoscalers_of(rollout: KubeObject) -> Iterable[str]:
    name = (rollout.get("spec", {}).get("autoscaler") or {}).get("name")
    if name:
        yield f"{_namespace(rollout)}/{name}"


def _rollouts_of_autoscaler(autoscaler: KubeObject, keys_by: Callable[[str, str], list[str]]) -> list[str]:
    """The rollouts an autoscaler change concerns: those naming it or the Deployment it sizes."""
    target = ((autoscaler.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
    keys = keys_by(AUTOSCALER_INDEX, object_key(autoscaler))
    if target:
        keys += keys_by(DEPLOYMENT_INDEX, f"{_namespace(autoscaler)}/{target}")
    return sorted(set(keys))


def _traffic_object(router: str, field: str) -> Callable[[KubeObject], Iterable[str]]:
    """An index function: ``namespace/name`` of the object ``spec.traffic.<router>.<field>`` names."""

    def named(rollout: KubeObject) -> Iterable[str]:
        name = ((rollout.get("spec", {}).get("traffic") or {}).get(router) or {}).get(field)
        if name:
            yield f"{_namespace(rollout)}/{name}"

    return named


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
    shard = options.shard
    kube = kube.managed_as(field_manager(shard))  # managedFields name the shard that wrote

    def mine(rollout: KubeObject | None) -> bool:
        return rollout is not None and in_shard(rollout.get("metadata", {}).get("labels"), shard)

    def reconcile(key: str) -> ReconcileResult:
        # The reconciler checks the shard on the rollout as it reads it (accepts=mine below).
        with structlog.contextvars.bound_contextvars(shard=shard or "default"):
            return holder[0].reconcile(key)

    manager = Manager(
        kube,
        reconcile,
        name=CONTROLLER_NAME,
        workers=options.workers,
        leader_election=options.leader_election,
        metrics_port=options.metrics_port,
        metrics_address=options.metrics_address,
        health_port=options.health_port,
        health_address=options.health_address,
    )
    scope = options.namespace
    # Every rollout in scope is cached (claims across shards), only this shard's are queued.
    rollouts = manager.informer(
        MODEL_ROLLOUTS,
        scope,
        keys=lambda rollout: [object_key(rollout)] if mine(rollout) else [],
        transform=drop_bookkeeping,
    )
    rollouts.add_index(DEPLOYMENT_INDEX, _deployments_of)
    rollouts.add_index(ROUTE_INDEX, _traffic_object("gatewayAPI", "httpRoute"))
    rollouts.add_index(VIRTUAL_SERVICE_INDEX, _traffic_object("istio", "virtualService"))
    rollouts.add_index(INFERENCE_SERVICE_INDEX, _traffic_object("kserve", "inferenceService"))
    rollouts.add_index(AUTOSCALER_INDEX, _autoscalers_of)
    rollouts.add_index(NAMESPACE_INDEX, lambda rollout: [_namespace(rollout)])
    manager.metrics.registry.register(RolloutCollector(rollouts.store, mine, manager.still_leader))

    def keys_by(index: str, value: str) -> list[str]:
        return [object_key(rollout) for rollout in rollouts.store.by_index(index, value) if mine(rollout)]

    deployments = manager.informer(
        DEPLOYMENTS,
        scope,
        keys=lambda deployment: keys_by(DEPLOYMENT_INDEX, object_key(deployment)),
        transform=trim_deployment,
    )
    pod_scope = PodScope(rollouts.store, DEPLOYMENT_INDEX, _deployments_of)  # pods rollouts name
    rollouts.add_handler(pod_scope.rollout_changed)
    pods = manager.informer(
        PODS,
        scope,
        keys=lambda pod: _rollouts_of_pod(pod, keys_by),
        transform=pod_scope.transform,
        relist_spacing=POD_RELIST_SPACING,
    )
    pods.add_index(NAMESPACE_INDEX, lambda pod: [_namespace(pod)])

    def pods_known(deployments: list[str]) -> None:  # rollouts waiting for these pods look again
        for deployment in deployments:
            for key in keys_by(DEPLOYMENT_INDEX, deployment):
                manager.queue.add(key)

    pod_scope.attach(pods, on_known=pods_known)
    pods.add_list_handler(pod_scope.listed)
    # A standby is ready once the pods of every rollout are known: taking over before that, it
    # would wait rollout by rollout for the pod list (seen at 1,000 rollouts: 2 s to a first write).
    manager.add_warm_check(pod_scope.all_known)
    nodes = manager.informer(NODES, keys=lambda node: [], transform=trim_node)

    def routing_informer(resource: Resource, index: str) -> Informer | None:
        """An informer of a routing object's kind, keyed to the rollouts naming it; None when not served."""
        if not serves(kube, resource, scope):
            return None
        return manager.informer(
            resource, scope, keys=lambda obj: keys_by(index, object_key(obj)), transform=drop_bookkeeping
        )

    routes = routing_informer(HTTP_ROUTES, ROUTE_INDEX)
    virtual_services = routing_informer(VIRTUAL_SERVICES, VIRTUAL_SERVICE_INDEX)
    inference_services = None
    if serves(kube, INFERENCE_SERVICES, scope):  # as a side (PredictorReady), or the kserve router's
        inference_services = manager.informer(
            INFERENCE_SERVICES,
            scope,
            keys=lambda isvc: (
                keys_by(DEPLOYMENT_INDEX, object_key(isvc) + KSERVE_PREDICTOR_SUFFIX)
                + keys_by(INFERENCE_SERVICE_INDEX, object_key(isvc))
            ),
            transform=drop_bookkeeping,
        )
    autoscalers: dict[AutoscalerKind, Store] = {}
    for kind, resource in AUTOSCALERS.items():  # a kind not installed or not granted is not seen
        if serves(kube, resource, scope):
            informer = manager.informer(
                resource,
                scope,
                keys=lambda autoscaler: _rollouts_of_autoscaler(autoscaler, keys_by),
                transform=trim_autoscaler,
            )
            informer.add_index(NAMESPACE_INDEX, lambda autoscaler: [_namespace(autoscaler)])
            autoscalers[kind] = informer.store
    sender = None
    if options.notifications_namespace is not None:
        sender = NotificationSender(
            NotifierConfigs(manager.kube, options.notifications_namespace),
            on_progress=manager.queue.add,
        )
        manager.on_shutdown(sender.close)
    reconciler = Reconciler(
        manager.kube,
        Caches(
            rollouts=rollouts.store,
            deployments=deployments.store,
            pods=pods.store,
            pods_known=pod_scope.known,
            nodes=nodes.store,
            routes=routes.store if routes is not None else None,
            virtual_services=virtual_services.store if virtual_services is not None else None,
            inference_services=inference_services.store if inference_services is not None else None,
            autoscalers=autoscalers,
        ),
        PrometheusProviders(
            manager.kube,
            on_query=manager.metrics.count_prometheus_query,
            connections=options.workers * QUERIES_IN_FLIGHT,
        ),
        clock=lambda: datetime.now(UTC),
        accepts=mine,  # checked again on what is read, live or cached
        notifications=sender,
        scope=scope,
    )
    manager.on_shutdown(reconciler.events.close)  # before the Lease is released: no Event after it
    rollouts.add_handler(reconciler.aborts.rollout_changed)  # an abort cancels queries in flight
    rollouts.add_handler(reconciler.freshness.rollout_changed)  # when the cache may be read
    holder.append(reconciler)
    return manager
