"""The reconciler: observe → decide → apply idempotent changes → write status once.

One ``reconcile("namespace/name")`` does all the work for one rollout; the manager guarantees
it never runs twice at once for the same key. The steps:

1. Read the rollout from the API server (not the cache: status is the only memory, and a
   cache that has not yet seen our last status write would replay an older decision) and
   parse it. An invalid spec (possible when the CRD was installed by an older version, or
   with validation off) is reported in a ``SpecValid`` condition naming the field, and
   nothing else happens.
2. Observe (caches, guardrails, router, and Prometheus only when needed).
3. Check the cache for a newer spec: if an abort arrived while Prometheus was slow, decide
   with the new spec — abort wins, within this very reconcile.
4. ``decide`` (pure).
5. Write status once, with the resourceVersion read, only when it changed. A 409 (someone
   else wrote first) raises before any effect, and the manager retries the key with back-off.
6. Apply what status now records: router weight, Deployment sizes (through the ``scale``
   subresource), then Events and a log line per transition. Status first, effects second: a
   crash or a failed call in between is repaired by the next reconcile, which re-applies the
   recorded weight — so traffic never follows a decision that was not recorded, and the
   weights a route shows never go backwards except on rollback.

Every write goes through a client that checks the Lease first (see rollouts.runtime.manager).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from rollouts.api.lint import format_path
from rollouts.api.resource import ModelRollout
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import Condition, ModelRolloutStatus
from rollouts.api.timestamps import format_timestamp
from rollouts.controller.decide import abort_applies, decide
from rollouts.controller.events import EventRecorder
from rollouts.controller.looks import LookContext
from rollouts.controller.observe import World, observe
from rollouts.controller.observed import Decision, Event, EventType
from rollouts.controller.prometheus_source import PrometheusProviders, SourceError
from rollouts.routers import Router, RouterError, router_for
from rollouts.runtime.informer import Store
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    MODEL_ROLLOUTS,
    Kube,
    KubeError,
    KubeObject,
    NotFound,
    PatchType,
)
from rollouts.runtime.manager import ReconcileResult

log = structlog.get_logger(__name__)

NAMESPACE_INDEX = "namespace"
"""The pod cache's index by namespace (set up by rollouts.controller.app)."""

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Caches:
    """The informers' stores the reconciler reads."""

    rollouts: Store
    deployments: Store
    pods: Store
    nodes: Store


class Reconciler:
    """Turns one ModelRollout key into effects and a status (see the module docstring)."""

    def __init__(
        self,
        kube: Kube,
        caches: Caches,
        providers: PrometheusProviders,
        clock: Clock,
        routers: Callable[[Kube, ModelRolloutSpec, str], Router] | None = None,
    ) -> None:
        self._kube = kube
        self._caches = caches
        self._providers = providers
        self._clock = clock
        self._events = EventRecorder(kube)
        self._routers = routers or (
            lambda kube, spec, namespace: router_for(
                kube, spec.traffic, namespace, spec.baseline.deployment, spec.candidate.deployment
            )
        )

    def reconcile(self, key: str) -> ReconcileResult:
        """Do all the work for one rollout; raise to be retried with back-off."""
        namespace, name = key.split("/", 1)
        try:
            obj = self._kube.get(MODEL_ROLLOUTS, name, namespace)
        except NotFound:
            return ReconcileResult()
        structlog.contextvars.bind_contextvars(key=key)
        try:
            return self._reconcile(obj, namespace)
        finally:
            structlog.contextvars.unbind_contextvars("key")

    def _reconcile(self, obj: KubeObject, namespace: str) -> ReconcileResult:
        now = self._clock()
        try:
            rollout = ModelRollout.from_wire(obj)
        except ValidationError as invalid:
            self._report_invalid(obj, invalid, now)
            return ReconcileResult()
        spec = rollout.spec
        status = rollout.status or ModelRolloutStatus()
        generation = int(obj.get("metadata", {}).get("generation") or 0)
        router, router_error = self._router(spec, namespace)
        looks, source_error = self._look_context(obj, spec, status, namespace)
        observed = observe(
            spec,
            status,
            generation=generation,
            world=self._world(namespace),
            router=router,
            router_error=router_error,
            looks=looks,
            now=now,
        )
        latest = self._latest(obj, namespace)
        if latest is not None and abort_applies(latest.spec, status) and not abort_applies(spec, status):
            spec = latest.spec
        decision = decide(spec, status, observed, now)
        if source_error:
            decision = _with_message(decision, f"{decision.status.message} (metrics: {source_error})")
        self._write_status(obj, status, decision.status)
        self._apply(obj, spec=spec, namespace=namespace, router=router, decision=decision, now=now)
        return ReconcileResult(requeue_after=decision.requeue_after)

    # --- observation helpers --------------------------------------------------------------

    def _world(self, namespace: str) -> World:
        caches = self._caches
        return World(
            deployment=lambda name: caches.deployments.get(name, namespace),
            pods=lambda: caches.pods.by_index(NAMESPACE_INDEX, namespace),
            nodes=caches.nodes.list,
        )

    def _router(self, spec: ModelRolloutSpec, namespace: str) -> tuple[Router | None, str | None]:
        try:
            return self._routers(self._kube, spec, namespace), None
        except RouterError as unusable:
            return None, str(unusable)

    def _look_context(
        self, obj: KubeObject, spec: ModelRolloutSpec, status: ModelRolloutStatus, namespace: str
    ) -> tuple[LookContext | None, str | None]:
        source = spec.analysis.prometheus
        if source is None:
            return None, None
        try:
            provider = self._providers.provider(namespace, source)
        except (SourceError, KubeError) as unusable:
            return None, str(unusable)
        variables = {**spec.analysis.variables, "namespace": namespace}

        def abort_requested() -> bool:
            """An abort that arrived since the read, by the same rule decide() applies."""
            latest = self._latest(obj, namespace)
            return latest is not None and abort_applies(latest.spec, status)

        return LookContext(provider=provider, variables=variables, abort_requested=abort_requested), None

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
        if router is not None:
            try:
                router.set_weight(decision.weight)
            except RouterError as unusable:
                # Recorded in status.message by the next reconcile (get_weight fails the same way).
                log.warning("could not set the router weight", weight=decision.weight, error=str(unusable))
        for deployment, replicas in (
            (spec.baseline.deployment, decision.baseline_replicas),
            (spec.candidate.deployment, decision.candidate_replicas),
        ):
            if replicas is not None:
                self._scale(namespace, deployment, replicas)
        for event in decision.events:
            self._events.record(obj, event, now)

    def _scale(self, namespace: str, deployment: str, replicas: int) -> None:
        current = self._caches.deployments.get(deployment, namespace)
        if current is None or current.get("spec", {}).get("replicas") == replicas:
            return
        log.info("scaling", deployment=deployment, replicas=replicas)
        self._kube.patch(
            DEPLOYMENTS,
            deployment,
            {"spec": {"replicas": replicas}},
            PatchType.MERGE,
            namespace,
            subresource="scale",
        )

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
        self._kube.replace(MODEL_ROLLOUTS, body, subresource="status")

    def _report_invalid(self, obj: KubeObject, invalid: ValidationError, now: datetime) -> None:
        problems = [f"{format_path(tuple(e['loc']))}: {e['msg']}" for e in invalid.errors()]
        message = "; ".join(problems)[:32768]
        raw_status: Mapping[str, Any] = obj.get("status") or {}
        status = ModelRolloutStatus.model_validate(raw_status)
        previous = next((c for c in status.conditions if c.type == "SpecValid"), None)
        if previous is not None and previous.status == "False" and previous.message == message:
            return
        condition = Condition(
            type="SpecValid",
            status="False",
            reason="SpecInvalid",
            message=message,
            last_transition_time=format_timestamp(now),
            observed_generation=obj.get("metadata", {}).get("generation"),
        )
        others = tuple(c for c in status.conditions if c.type != "SpecValid")
        updated = status.model_copy(
            update={"conditions": (*others, condition), "message": f"invalid spec: {message}"}
        )
        self._events.record(obj, Event("SpecInvalid", message, EventType.WARNING), now)
        self._write_status(obj, status, updated)


def _with_message(decision: Decision, message: str) -> Decision:
    status = decision.status.model_copy(update={"message": message[:1024]})
    return Decision(
        status=status,
        weight=decision.weight,
        baseline_replicas=decision.baseline_replicas,
        candidate_replicas=decision.candidate_replicas,
        events=decision.events,
        requeue_after=decision.requeue_after,
    )
