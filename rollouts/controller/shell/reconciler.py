"""The reconciler: observe → decide → apply idempotent changes → write status once.

One ``reconcile("namespace/name")`` does all the work for one rollout; the manager guarantees
it never runs twice at once for the same key. The steps:

1. Read the rollout from the cache when it is known to hold the newest version this process
   has written or read, else from the API server (status is the only memory, and a cache that
   has not yet seen our last status write would replay an older decision: see
   rollouts.controller.shell.freshness), and parse it. An invalid spec (possible when the
   CRD was installed by an older version, or with validation off) is reported in a
   ``SpecValid`` condition naming the field, and nothing else happens.
2. Find which rollouts of the namespace name the same objects (from the cache, through the
   deployment and route indexes) and whether one of them owns them
   (rollouts.controller.core.claims): a rollout that does not own what it names is observed without
   Prometheus and decided into a ``Conflict`` condition, with no effect at all.
   Observe (caches, guardrails, router, and Prometheus only when needed).
3. Check the cache for a newer spec: if an abort arrived while Prometheus was slow, decide
   with the new spec — abort wins, within this very reconcile.
4. ``decide`` (pure).
5. Write status once, with the resourceVersion read, only when it changed. A 409 (someone
   else wrote first) raises before any effect, and the manager retries the key with back-off.
6. Apply what status now records: router weight, the autoscaler's move to a promoted
   candidate (``status.autoscaler``; docs/autoscalers.md), Deployment sizes (through the
   ``scale`` subresource; a shrink before a growth, so a GPU budget holds between the
   writes), then Events and a log line per transition. Status first, effects second: a crash
   or a failed call in between is repaired by the next reconcile, which re-applies the
   recorded weight and move — so traffic never follows a decision that was
   not recorded, and the weights a route shows never go backwards except on rollback.
7. Hand the notifications still to send, derived from the status written
   (rollouts.controller.core.notifications), to the sender, which delivers them on its own
   threads (rollouts.controller.shell.notifier); what it has sent since is merged into the
   status of step 5 by the next reconcile, so a notification is never about a transition that
   was not recorded, and the record of what was sent lives in status.

Every write goes through a client that checks the Lease first (see rollouts.runtime.manager).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from rollouts.api.conditions import ConditionType, Reason
from rollouts.api.lint import format_path
from rollouts.api.resource import ModelRollout
from rollouts.api.spec import AutoscalerKind, ModelRolloutSpec
from rollouts.api.status import Condition, ModelRolloutStatus
from rollouts.api.timestamps import format_timestamp
from rollouts.controller.core.claims import Claimant, claimed_objects, conflict, is_active, owned_elsewhere
from rollouts.controller.core.decide import abort_applies, decide
from rollouts.controller.core.evidence import assess
from rollouts.controller.core.notifications import RolloutRef, pending, records
from rollouts.controller.core.observed import AutoscalerMove, Decision, Event, EventType
from rollouts.controller.shell.events import EventRecorder
from rollouts.controller.shell.fetch import MetricsSource, World, observe
from rollouts.controller.shell.freshness import CacheFreshness
from rollouts.controller.shell.notifier import NotificationSender
from rollouts.controller.shell.prometheus_source import PrometheusProviders, SourceError
from rollouts.controller.shell.resources import AUTOSCALERS, MODEL_ROLLOUTS
from rollouts.controller.shell.scaling.base import ScaleContext
from rollouts.controller.shell.scaling.registry import scale_replaced, scaler_for
from rollouts.guardrails.autoscalers import TARGET_NAME
from rollouts.routers.base import ObjectReader, Router, RouterError, RouterTarget
from rollouts.routers.registry import router_for
from rollouts.runtime.informer import Change, Store, object_key
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    INFERENCE_SERVICES,
    VIRTUAL_SERVICES,
    Kube,
    KubeError,
    KubeObject,
    NotFound,
    PatchType,
    Resource,
)
from rollouts.runtime.manager import ReconcileResult

log = structlog.get_logger(__name__)


class AbortSignals:
    """A cancel signal per rollout under reconcile, set by the informer when an abort appears.

    The reconciler takes a fresh, clear :class:`threading.Event` for a key when a reconcile
    starts (:meth:`begin`) and drops it at the end (:meth:`end`); the rollouts informer calls
    :meth:`rollout_changed` for every change, which sets the key's event when the new spec
    carries an abort that applies. The fetch step checks the event before each query, so it
    never calls back into the reconciler or its caches.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def begin(self, key: str) -> threading.Event:
        """A clear cancel event for this reconcile of ``key``."""
        event = threading.Event()
        with self._lock:
            self._events[key] = event
        return event

    def end(self, key: str) -> None:
        """The reconcile of ``key`` is over."""
        with self._lock:
            self._events.pop(key, None)

    def rollout_changed(self, change: Change) -> None:
        """Informer handler: cancel the running reconcile's queries when an abort applies now."""
        key = object_key(change.object)
        with self._lock:
            event = self._events.get(key)
        if event is None or event.is_set():
            return
        try:
            rollout = ModelRollout.from_wire(change.object)
        except ValidationError:
            return
        if abort_applies(rollout.spec, rollout.status or ModelRolloutStatus()):
            event.set()


NAMESPACE_INDEX = "namespace"
"""The pod cache's index by namespace (set up by rollouts.controller.shell.app)."""
DEPLOYMENT_INDEX = "deployment"
"""The rollout cache's index by ``namespace/deployment`` named (set up by rollouts.controller.shell.app)."""
ROUTE_INDEX = "route"
VIRTUAL_SERVICE_INDEX = "virtualservice"
"""The rollout cache's index by ``namespace/virtualservice`` named (set up by the app module)."""
INFERENCE_SERVICE_INDEX = "inferenceservice"
"""The rollout cache's index by ``namespace/inferenceservice`` named (set up by the app module)."""
AUTOSCALER_INDEX = "autoscaler"
"""The rollout cache's index by ``namespace/autoscaler`` named (set up by rollouts.controller.shell.app)."""
"""The rollout cache's index by ``namespace/httproute`` named (set up by rollouts.controller.shell.app)."""

Clock = Callable[[], datetime]

PODS_UNKNOWN_RETRY = 5.0
"""Seconds before a rollout whose pods the cache does not hold yet looks again, should the pod
scope's notice (rollouts.controller.shell.pod_scope) not come first."""


@dataclass(frozen=True)
class Caches:
    """The informers' stores the reconciler reads."""

    rollouts: Store
    deployments: Store
    pods: Store
    nodes: Store
    routes: Store | None = None
    """HTTPRoutes, when the Gateway API is installed and readable (else routers read live)."""
    virtual_services: Store | None = None
    """Istio VirtualServices, when Istio's CRDs are installed and readable (else routers read live)."""
    inference_services: Store | None = None
    """KServe InferenceServices, when KServe's CRDs are installed and readable (else read live)."""
    autoscalers: Mapping[AutoscalerKind, Store] = field(default_factory=dict)
    """The autoscalers of each kind the controller may list (a kind left out: none are seen)."""
    pods_known: Callable[[str, str], bool] = lambda namespace, deployment: True
    """Whether ``pods`` holds every pod of ``namespace``'s Deployment (the default: a pod cache
    that keeps all pods). rollouts.controller.shell.pod_scope says when a filtered cache does."""

    def reader(self, kube: Kube, namespace: str) -> ObjectReader:
        """Reads for a router in ``namespace``: from these caches, live for what they lack."""
        stores = {
            DEPLOYMENTS: self.deployments,
            HTTP_ROUTES: self.routes,
            VIRTUAL_SERVICES: self.virtual_services,
            INFERENCE_SERVICES: self.inference_services,
        }

        def read(resource: Resource, name: str) -> KubeObject | None:
            store = stores.get(resource)
            if store is None:
                try:
                    return kube.get(resource, name, namespace)
                except NotFound:
                    return None
            return store.get(name, namespace)

        return read


class Reconciler:
    """Turns one ModelRollout key into effects and a status (see the module docstring)."""

    def __init__(
        self,
        kube: Kube,
        caches: Caches,
        providers: PrometheusProviders,
        clock: Clock,
        routers: Callable[[RouterTarget, ModelRolloutSpec], Router] | None = None,
        *,
        aborts: AbortSignals | None = None,
        accepts: Callable[[KubeObject], bool] = lambda rollout: True,
        notifications: NotificationSender | None = None,
        scope: str | None = None,
    ) -> None:
        self._kube = kube
        self._scope = scope
        """The namespace the rollouts informer watches (None: all): the scope of the first list."""
        self._listed = False
        self._list_lock = threading.Lock()
        self._notifications = notifications
        """Delivers spec.notifications (None: notifications are off; status records nothing)."""
        self._accepts = accepts
        """Whether this controller reconciles a rollout as read (its shard: app passes the rule)."""
        self._caches = caches
        self._providers = providers
        self._clock = clock
        self.events = EventRecorder(kube)
        """Creates the transitions' Events off the reconcile thread; app closes it at shutdown."""
        self.aborts = aborts or AbortSignals()
        """Set by the rollouts informer (rollouts.controller.shell.app wires ``rollout_changed``)."""
        self.freshness = CacheFreshness()
        """Told by the rollouts informer what the cache holds (app wires ``rollout_changed``)."""
        self._routers = routers or (lambda target, spec: router_for(spec.traffic, target))

    def reconcile(self, key: str) -> ReconcileResult:
        """Do all the work for one rollout; raise to be retried with back-off."""
        namespace, name = key.split("/", 1)
        obj = self._read(key, namespace, name)
        if obj is None or not self._accepts(obj):
            if self._notifications is not None:
                self._notifications.submit(key, ())  # nothing of it is this controller's to send
            return ReconcileResult()  # gone, or (read live) moved to another shard since queued
        # Restores what was bound before (the manager binds the key too): a failed reconcile's
        # log line, written by the manager after this returns, still carries the key.
        cancel = self.aborts.begin(key)
        try:
            with structlog.contextvars.bound_contextvars(key=key):
                return self._reconcile(obj, namespace, cancel)
        finally:
            self.aborts.end(key)

    def _read(self, key: str, namespace: str, name: str) -> KubeObject | None:
        self._list_versions_once()
        cached = self._caches.rollouts.get(name, namespace)
        if cached is not None and self.freshness.trusted(key):
            return cached
        try:
            live = self._kube.get(MODEL_ROLLOUTS, name, namespace)
        except NotFound:
            self.freshness.forget(key)
            return None
        self.freshness.read_live(key, _version(live), _cached_version(cached))
        return live

    def _list_versions_once(self) -> None:
        """Once per process, one live LIST of the rollouts in scope, read as a GET of each.

        Freshness rule 1 at start or takeover: one call per 500 rollouts instead of one per
        rollout, and metadata only: the server leaves out each rollout's spec and status, which
        with analysis state are most of its bytes. Only names and versions are kept. Every
        worker's first reconcile waits for the list (a takeover's first write comes after it);
        a failed list raises (the key is retried) and the next reconcile lists again.
        """
        if self._listed:  # every reconcile after the first: no lock taken
            return
        with self._list_lock:
            if self._listed:
                return
            listing = self._kube.list(
                MODEL_ROLLOUTS, self._scope, transform=_name_and_version, metadata_only=True
            )
            for item in listing.items:
                metadata = item["metadata"]
                cached = self._caches.rollouts.get(metadata["name"], metadata["namespace"])
                self.freshness.read_live(object_key(item), _version(item), _cached_version(cached))
            self._listed = True

    def _reconcile(self, obj: KubeObject, namespace: str, cancel: threading.Event) -> ReconcileResult:
        now = self._clock()
        try:
            rollout = ModelRollout.from_wire(obj)
        except ValidationError as invalid:
            self._report_invalid(obj, invalid, now)
            return ReconcileResult()
        spec = rollout.spec
        status = rollout.status or ModelRolloutStatus()
        if not self._pods_known(spec, namespace) and not abort_applies(spec, status):
            # Not a blind view: no decision until the cache holds this rollout's pods (an abort
            # reads no pod). The pod scope enqueues the key when they are in; this is a fallback.
            log.info("waiting for the pod cache to hold this rollout's pods")
            return ReconcileResult(requeue_after=PODS_UNKNOWN_RETRY)
        generation = int(obj.get("metadata", {}).get("generation") or 0)
        me = _claimant(obj, spec, status)
        others = self._claimants(spec, namespace, me.name)
        owner = conflict(me, others)
        router, router_error = self._router(spec, status, namespace)
        source, source_error = (None, None) if owner else self._metrics_source(spec, namespace, cancel)
        observed = observe(
            spec,
            status,
            generation=generation,
            world=self._world(namespace),
            router=router,
            router_error=router_error,
            source=source,
            now=now,
        )
        observed = assess(spec, status, replace(observed, conflict=owner, source_error=source_error))
        latest = self._latest(obj, namespace)
        if latest is not None and abort_applies(latest.spec, status) and not abort_applies(spec, status):
            spec = latest.spec
        decision = decide(spec, status, observed, now)
        written = self._with_notifications(obj, spec, status, decision.status)
        try:
            self._write_status(obj, status, written)
        except NotFound:
            # Deleted while it was reconciled (a reconcile may wait on a slow Prometheus): no
            # status to write and no effect to apply; nothing failed, so nothing is retried.
            log.info("the rollout was deleted while it was reconciled")
            self.freshness.forget(object_key(obj))
            return ReconcileResult()
        stoppable = tuple(
            name for name in decision.scale_to_zero if not owned_elsewhere(me.name, name, others)
        )
        self._apply(
            obj,
            spec=spec,
            namespace=namespace,
            router=router,
            decision=replace(decision, scale_to_zero=stoppable),
            now=now,
        )
        if self._notifications is not None:
            self._notifications.submit(object_key(obj), pending(_rollout_ref(obj), spec, written))
        return ReconcileResult(requeue_after=decision.requeue_after)

    def _with_notifications(
        self, obj: KubeObject, spec: ModelRolloutSpec, old: ModelRolloutStatus, new: ModelRolloutStatus
    ) -> ModelRolloutStatus:
        """``new`` with status.notifications recording what the sender has sent since."""
        if self._notifications is None:
            return new
        sent = self._notifications.deliveries(object_key(obj))
        return records(_rollout_ref(obj), spec, old, new, sent)

    def _pods_known(self, spec: ModelRolloutSpec, namespace: str) -> bool:
        known = self._caches.pods_known
        return known(namespace, spec.baseline.workload_deployment) and known(
            namespace, spec.candidate.workload_deployment
        )

    def _claimants(self, spec: ModelRolloutSpec, namespace: str, me: str) -> list[Claimant]:
        """The other rollouts of the namespace naming this one's Deployments or route (``me``: its name)."""
        store = self._caches.rollouts
        traffic = spec.traffic
        named = [(DEPLOYMENT_INDEX, side.workload_deployment) for side in (spec.baseline, spec.candidate)]
        if traffic.gateway_api is not None:
            named.append((ROUTE_INDEX, traffic.gateway_api.http_route))
        if traffic.istio is not None:
            named.append((VIRTUAL_SERVICE_INDEX, traffic.istio.virtual_service))
        if traffic.kserve is not None:
            named.append((INFERENCE_SERVICE_INDEX, traffic.kserve.inference_service))
        found: dict[str, KubeObject] = {}
        for index, name in named:
            for other in store.by_index(index, f"{namespace}/{name}"):
                found[other["metadata"]["name"]] = other
        found.pop(me, None)  # the rollout itself: conflict() skips it, so it is not parsed again
        claimants = []
        for other in found.values():
            try:
                parsed = ModelRollout.from_wire(other)
            except ValidationError:
                continue  # an invalid rollout touches nothing
            claimants.append(_claimant(other, parsed.spec, parsed.status or ModelRolloutStatus()))
        return claimants

    # --- observation helpers --------------------------------------------------------------

    def _world(self, namespace: str) -> World:
        caches = self._caches
        read = caches.reader(self._kube, namespace)
        return World(
            deployment=lambda name: caches.deployments.get(name, namespace),
            pods=lambda: caches.pods.by_index(NAMESPACE_INDEX, namespace),
            nodes=caches.nodes.list,
            inference_service=lambda name: read(INFERENCE_SERVICES, name),
            autoscalers=lambda kind: (
                store.by_index(NAMESPACE_INDEX, namespace)
                if (store := caches.autoscalers.get(kind)) is not None
                else ()
            ),
        )

    def _router(
        self, spec: ModelRolloutSpec, status: ModelRolloutStatus, namespace: str
    ) -> tuple[Router | None, str | None]:
        target = RouterTarget(
            kube=self._kube,
            namespace=namespace,
            baseline=spec.baseline.workload_deployment,
            candidate=spec.candidate.workload_deployment,
            replaced=status.replaced_candidates,
            read=self._caches.reader(self._kube, namespace),
        )
        try:
            return self._routers(target, spec), None
        except RouterError as unusable:
            return None, str(unusable)

    def _metrics_source(
        self, spec: ModelRolloutSpec, namespace: str, cancel: threading.Event
    ) -> tuple[MetricsSource | None, str | None]:
        source = spec.analysis.prometheus
        if source is None:
            return None, None
        try:
            provider = self._providers.provider(namespace, source)
        except (SourceError, KubeError) as unusable:
            return None, str(unusable)
        variables = {**spec.analysis.variables, "namespace": namespace}
        return MetricsSource(provider=provider, variables=variables, cancel=cancel), None

    def _latest(self, obj: KubeObject, namespace: str) -> ModelRollout | None:
        current = self._caches.rollouts.get(obj["metadata"]["name"], namespace)
        if current is None or current["metadata"].get("resourceVersion") == obj["metadata"].get(
            "resourceVersion"
        ):
            return None
        try:
            return ModelRollout.from_wire(current)
        except ValidationError:
            return None

    # --- effects -----------------------------------------------------------------------------

    def _apply(
        self,
        obj: KubeObject,
        *,
        spec: ModelRolloutSpec,
        namespace: str,
        router: Router | None,
        decision: Decision,
        now: datetime,
    ) -> None:
        if decision.weight is None:
            return  # another rollout owns what this one names: touch nothing
        if router is not None:
            # Mirror and header route first: a rollback at a mirror step removes the mirror before
            # anything else, and a setWeight after a mirror ends the mirror first. Each write is
            # tried on its own: a route the router cannot rewrite for one must not keep the others
            # (a rollback's weight 0 above all) from being applied.
            writes: tuple[tuple[str, Callable[[], None]], ...] = (
                ("mirror", lambda: router.set_mirror(decision.mirror or 0)),
                ("header route", lambda: router.set_header_route(decision.header_match or ())),
                ("weight", lambda: router.set_weight(decision.weight or 0)),
            )
            for what, write in writes:
                try:
                    write()
                except RouterError as unusable:
                    # Recorded in status.message by the next reconcile (get_routing fails the same way).
                    log.warning(
                        "could not set the router", part=what, weight=decision.weight, error=str(unusable)
                    )
        if decision.autoscaler_move is not None:
            self._move_autoscaler(namespace, decision.autoscaler_move)
        context = ScaleContext(
            self._kube, namespace, self._caches.deployments, self._caches.reader(self._kube, namespace)
        )
        refs = {ref.workload_deployment: ref for ref in (spec.baseline, spec.candidate)}
        sizes = {
            spec.baseline.workload_deployment: decision.baseline_replicas,
            spec.candidate.workload_deployment: decision.candidate_replicas,
        }
        for deployment, replicas in self._shrinks_first(namespace, sizes):
            ref = refs[deployment]
            scaler_for(ref.kind, context).scale(ref.name, replicas)
        for deployment in decision.scale_to_zero:  # earlier candidates, by Deployment (docs/kserve.md)
            scale_replaced(context, deployment, 0)
        for event in decision.events:
            self.events.record(obj, event, now)

    def _shrinks_first(self, namespace: str, sizes: Mapping[str, int | None]) -> list[tuple[str, int]]:
        """The sizes to write, decreases before increases (as the cache shows the sizes now).

        Under a GPU budget (rollouts.controller.core.capacity) one side gives room that the other
        takes: writing the shrink first keeps the sum of both sizes within the budget at every
        instant, also when the second write fails.
        """

        def growth(item: tuple[str, int]) -> int:
            current = self._caches.deployments.get(item[0], namespace)
            return item[1] - int((current or {}).get("spec", {}).get("replicas", item[1]))

        return sorted(((name, size) for name, size in sizes.items() if size is not None), key=growth)

    def _move_autoscaler(self, namespace: str, move: AutoscalerMove) -> None:
        """Point the autoscaler at the promoted candidate, only while it still names the baseline.

        A JSON patch whose ``test`` requires ``spec.scaleTargetRef.name`` to still be the
        baseline: a person's edit since the cache read fails the test (PatchTestFailed; the
        manager retries the key, and the next decision sees the edit) instead of being
        overwritten. Re-applied by every reconcile until the cache shows the move, so a crash
        after the status write only delays it. A ScaledObject is patched, never KEDA's HPA:
        KEDA rewrites that HPA from the ScaledObject.
        """
        log.info("moving the autoscaler", kind=move.kind, name=move.name, source=move.source, to=move.target)
        path = "/" + "/".join(TARGET_NAME)
        swap = [
            {"op": "test", "path": path, "value": move.source},
            {"op": "replace", "path": path, "value": move.target},
        ]
        self._kube.patch(AUTOSCALERS[move.kind], move.name, swap, PatchType.JSON, namespace)

    def _write_status(self, obj: KubeObject, old: ModelRolloutStatus, new: ModelRolloutStatus) -> None:
        if new.to_wire() == old.to_wire():
            return
        body: dict[str, Any] = {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "metadata": {
                "name": obj["metadata"]["name"],
                "namespace": obj["metadata"]["namespace"],
                "resourceVersion": obj["metadata"]["resourceVersion"],
            },
            "spec": obj.get("spec", {}),
            "status": new.to_wire(),
        }
        written = self._kube.replace(MODEL_ROLLOUTS, body, subresource="status")
        metadata = obj["metadata"]
        cached = self._caches.rollouts.get(metadata["name"], metadata["namespace"])
        self.freshness.wrote(object_key(obj), _version(written), _cached_version(cached))

    def _report_invalid(self, obj: KubeObject, invalid: ValidationError, now: datetime) -> None:
        problems = [f"{format_path(tuple(e['loc']))}: {e['msg']}" for e in invalid.errors()]
        message = "; ".join(problems)[:32768]
        raw_status: Mapping[str, Any] = obj.get("status") or {}
        status = ModelRolloutStatus.model_validate(raw_status)
        previous = next((c for c in status.conditions if c.type == ConditionType.SPEC_VALID), None)
        if previous is not None and previous.status == "False" and previous.message == message:
            return
        condition = Condition(
            type=ConditionType.SPEC_VALID,
            status="False",
            reason=Reason.SPEC_INVALID,
            message=message,
            last_transition_time=format_timestamp(now),
            observed_generation=obj.get("metadata", {}).get("generation"),
        )
        others = tuple(c for c in status.conditions if c.type != ConditionType.SPEC_VALID)
        updated = status.model_copy(
            update={"conditions": (*others, condition), "message": f"invalid spec: {message}"}
        )
        self.events.record(obj, Event(Reason.SPEC_INVALID, message, EventType.WARNING), now)
        self._write_status(obj, status, updated)


def _claimant(obj: KubeObject, spec: ModelRolloutSpec, status: ModelRolloutStatus) -> Claimant:
    metadata = obj.get("metadata", {})
    return Claimant(
        name=str(metadata.get("name", "")),
        created=str(metadata.get("creationTimestamp", "")),
        objects=claimed_objects(spec),
        active=is_active(status),
    )


def _rollout_ref(obj: KubeObject) -> RolloutRef:
    metadata = obj.get("metadata", {})
    return RolloutRef(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
    )


def _version(obj: KubeObject) -> str:
    return str(obj["metadata"]["resourceVersion"])


def _cached_version(cached: KubeObject | None) -> str | None:
    return None if cached is None else _version(cached)


def _name_and_version(rollout: KubeObject) -> KubeObject:
    metadata = rollout["metadata"]
    return {"metadata": {key: metadata[key] for key in ("name", "namespace", "resourceVersion")}}
