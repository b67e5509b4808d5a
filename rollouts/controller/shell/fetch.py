"""The fetch step: from caches, guardrails, the router and Prometheus to one :class:`Observed`.

This is the reconcile's only I/O before the decision. Reads come from the informers' caches
(Deployments, pods, nodes, autoscalers) — no API calls — except the router's current weights
and the two kinds of Prometheus query: the readyQuery (while the candidate's readiness is
judged) and the windows that are due (:func:`fetch_windows`). What it fetches is data, failures included (a
failed query is a ``QueryFailed`` observation, an unusable source a ``source_error``); it
judges nothing — the evidence fold (:mod:`rollouts.controller.core.evidence`) and the state machine
(:mod:`rollouts.controller.core.decide`) do, purely.

A window's metrics are queried at once (at most :data:`QUERIES_IN_FLIGHT` at a time, on threads of
this reconcile): a look then waits for its slowest metric, not for the sum of them all, which is
what a look against a distant or loaded Prometheus costs (bench/results/scale.md). The threads
belong to the look, never to a pool shared between rollouts, so a hanging source holds only the
threads of the looks that name it.

When an abort intent applies nothing is queried at all: abort acts before any query. An abort
that arrives while queries run sets ``cancel`` (the informer does, see
:class:`rollouts.controller.shell.reconciler.AbortSignals`); fetching stops before the next window,
whose queries are never sent, so a slow Prometheus delays an abort by at most one query's
timeout (a window's queries wait together), and only complete windows are returned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime

from analysis import NoData, Observation, QueryFailed
from analysis.providers.base import MetricsProvider, Versions
from rollouts.api.spec import AutoscalerKind, ModelRolloutSpec
from rollouts.api.status import ModelRolloutStatus
from rollouts.api.timestamps import parse_timestamp
from rollouts.controller.core.analysis_config import analysis_criteria
from rollouts.controller.core.decide import abort_applies, retry_requested
from rollouts.controller.core.observed import (
    CandidateHealth,
    DeploymentState,
    Observed,
    ReadyQueryResult,
    WindowObservations,
)
from rollouts.controller.core.schedule import due_windows
from rollouts.controller.core.selectors import matches
from rollouts.guardrails.accelerators import AcceleratorResources, pod_demand
from rollouts.guardrails.autoscalers import Autoscaler, autoscaler_of
from rollouts.guardrails.headroom import budget_problem
from rollouts.guardrails.inference_services import inference_service_report, predictor_deployment
from rollouts.guardrails.objects import mapping
from rollouts.guardrails.pod_health import assess_pod_health
from rollouts.guardrails.preflight import preflight
from rollouts.guardrails.readiness import assess_candidate
from rollouts.routers.base import Router, RouterError, Routing
from rollouts.runtime.kube import KubeError, KubeObject


@dataclass(frozen=True)
class World:
    """Read access to the cached objects of the rollout's namespace."""

    deployment: Callable[[str], KubeObject | None]
    pods: Callable[[], Iterable[KubeObject]]
    nodes: Callable[[], Iterable[KubeObject]]
    autoscalers: Callable[[AutoscalerKind], Iterable[KubeObject]] = lambda kind: ()
    """The namespace's autoscalers of a kind (none when that kind is not watched)."""
    inference_service: Callable[[str], KubeObject | None] = lambda name: None
    """A KServe InferenceService of the namespace (from the cache, or live when not cached)."""

    def autoscaler_list(self) -> tuple[Autoscaler, ...]:
        """The namespace's autoscalers of every kind as the guardrails read them."""
        return tuple(autoscaler_of(obj, kind) for kind in AutoscalerKind for obj in self.autoscalers(kind))


def deployment_state(
    name: str, obj: KubeObject | None, accelerators: AcceleratorResources, pods: Iterable[KubeObject] = ()
) -> DeploymentState:
    """A Deployment's size, Ready pods and accelerators per pod as the cache shows it.

    Not existing when missing; the accelerators are those ``accelerators`` names that its pod
    template asks for (the rollout's cost counts them, rollouts.controller.core.cost).
    """
    if obj is None:
        return DeploymentState(name=name, exists=False)
    pod_spec = mapping(obj, "spec", "template", "spec")
    return DeploymentState(
        name=name,
        replicas=int(obj.get("spec", {}).get("replicas", 1)),
        ready=int(obj.get("status", {}).get("readyReplicas") or 0),
        accelerators=sum(pod_demand(pod_spec, accelerators).values()),
        pods=sum(1 for pod in pods if _selected(obj, pod)),
    )


def candidate_health(
    spec: ModelRolloutSpec, status: ModelRolloutStatus, world: World, now: datetime
) -> CandidateHealth:
    """Preflight, readiness and pod failures of the candidate (no Prometheus needed)."""
    baseline = world.deployment(spec.baseline.workload_deployment)
    candidate = world.deployment(spec.candidate.workload_deployment)
    isvc = None
    if spec.candidate.inference_service is not None:
        isvc = world.inference_service(spec.candidate.inference_service)
    missing = [
        f"{ref.workload} not found"
        if ref.inference_service is None
        else f"{ref.workload}: its predictor Deployment {ref.workload_deployment} not found"
        for ref, obj in ((spec.baseline, baseline), (spec.candidate, candidate))
        if obj is None
    ]
    if spec.candidate.inference_service is not None and isvc is None:
        missing = [f"{spec.candidate.workload} not found"]  # not the Deployment KServe would make
    judged = candidate if isvc is None else predictor_deployment(isvc, spec.candidate.workload_deployment)
    report = (
        None
        if baseline is None or judged is None
        else preflight(spec, baseline, judged, world.autoscaler_list())
    )
    if report is not None and isvc is not None:
        report = inference_service_report(report, isvc)  # before KServe has made the Deployment too
    errors = () if report is None or not report.errors else (report.summary(),)
    warnings = () if report is None else tuple(finding.render() for finding in report.warnings)
    if missing or baseline is None or candidate is None:
        return CandidateHealth(
            ready=False,
            not_ready_reason="; ".join(missing),
            preflight_errors=errors,
            preflight_warnings=warnings,
        )
    pods = [pod for pod in world.pods() if _selected(candidate, pod)]
    readiness = assess_candidate(
        pods,
        list(world.nodes()),
        candidate,
        AcceleratorResources.from_guardrails(spec.guardrails),
        now,
        inference_service=isvc,
    )
    started = parse_timestamp(status.started_at) if status.started_at else now
    health = assess_pod_health(pods, started, spec.guardrails.max_restarts)
    unschedulable = readiness.unschedulable
    budget = _budget_problems(spec, status, baseline, candidate, world)
    return CandidateHealth(
        ready=readiness.ready,
        not_ready_reason="" if readiness.ready else readiness.summary(),
        unschedulable=unschedulable[0].message if unschedulable else None,
        failures=tuple(finding.message for finding in health.findings),
        preflight_errors=errors + budget,
        preflight_warnings=warnings,
    )


def _budget_problems(
    spec: ModelRolloutSpec,
    status: ModelRolloutStatus,
    baseline: KubeObject,
    candidate: KubeObject,
    world: World,
) -> tuple[str, ...]:
    """The GPU budget's preflight (rollouts.guardrails.headroom), when spec.capacity sets one."""
    if spec.capacity is None:
        return ()
    size = status.baseline_replicas
    problem = budget_problem(
        spec.capacity.max_surge,
        baseline_replicas=int(baseline.get("spec", {}).get("replicas", 1)) if size is None else size,
        baseline=baseline,
        candidate=candidate,
        nodes=world.nodes(),
        others=[pod for pod in world.pods() if not _selected(candidate, pod)],
        accelerators=AcceleratorResources.from_guardrails(spec.guardrails),
    )
    return () if problem is None else (problem,)


def _selected(deployment: KubeObject, pod: KubeObject) -> bool:
    """Whether ``deployment``'s selector matches ``pod``."""
    return matches(deployment.get("spec", {}).get("selector"), pod.get("metadata", {}).get("labels"))


def ready_query(
    spec: ModelRolloutSpec, provider: MetricsProvider, variables: Mapping[str, str], now: datetime
) -> ReadyQueryResult:
    """The readyQuery's answer: true when it returns a non-zero number for the candidate."""
    query = spec.analysis.ready_query
    if query is None:
        return ReadyQueryResult()
    result = provider.scalar(query, now, {**variables, "version": spec.candidate.version})
    if isinstance(result, QueryFailed):
        return ReadyQueryResult(ok=False, message=f"readyQuery failed: {result.message}")
    if isinstance(result, NoData):
        return ReadyQueryResult(ok=False, message=f"readyQuery {query!r} returned nothing ({result.reason})")
    if result.value == 0:
        return ReadyQueryResult(
            ok=False, message=f"readyQuery {query!r} = {result.value:g} (must be non-zero)"
        )
    return ReadyQueryResult(ok=True, message=f"readyQuery = {result.value:g}")


QUERIES_IN_FLIGHT = 4
"""A look's metrics queried at the same time, at most (module docstring). A controller with W
workers then has at most 4 W queries in flight, which sizes each source's connection pool
(rollouts.controller.shell.prometheus_source)."""


@dataclass(frozen=True)
class MetricsSource:
    """What the Prometheus queries need besides spec and status."""

    provider: MetricsProvider
    variables: Mapping[str, str]
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set when an abort for this rollout arrives while its queries run (never, offline)."""


def fetch_windows(
    spec: ModelRolloutSpec, status: ModelRolloutStatus, source: MetricsSource, now: datetime
) -> tuple[WindowObservations, ...]:
    """Every metric's observation for each window due now, oldest first; only complete windows.

    A window's metrics are queried together (module docstring). Stops before the next window once
    ``source.cancel`` is set: the windows complete by then are returned, the rest are due again at
    the next reconcile.
    """
    criteria = analysis_criteria(spec.analysis)
    windows = due_windows(spec, status, now)
    if not windows or not criteria.metrics:
        return ()
    versions = Versions(baseline=spec.baseline.version, candidate=spec.candidate.version)
    complete: list[WindowObservations] = []
    in_flight = min(QUERIES_IN_FLIGHT, len(criteria.metrics))
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="look") as queries:
        for window in windows:
            if source.cancel.is_set():
                break
            asked = {
                metric.name: queries.submit(
                    source.provider.observe, metric, window, versions, source.variables
                )
                for metric in criteria.metrics
            }
            observations: dict[str, Observation] = {name: answer.result() for name, answer in asked.items()}
            complete.append(WindowObservations(window, observations))
    return tuple(complete)


def named_autoscaler(spec: ModelRolloutSpec, world: World) -> Autoscaler | None:
    """The autoscaler spec.autoscaler names, as cached (None: none named, or not found)."""
    ref = spec.autoscaler
    if ref is None:
        return None
    return next((found for found in world.autoscaler_list() if found.named(ref.kind, ref.name)), None)


def router_routing(router: Router | None, error: str | None) -> tuple[Routing | None, str | None]:
    """The routing (share, mirror, header route) the router reports, or the reason it cannot say."""
    if router is None:
        return None, error
    try:
        return router.get_routing(), None
    except (RouterError, KubeError) as failed:
        return None, str(failed)


def observe(
    spec: ModelRolloutSpec,
    status: ModelRolloutStatus,
    *,
    generation: int,
    world: World,
    router: Router | None,
    router_error: str | None,
    source: MetricsSource | None,
    now: datetime,
) -> Observed:
    """Everything decide() needs at ``now``; no Prometheus query when an abort applies.

    The readyQuery is asked whenever decide() may judge readiness in this reconcile: while the
    candidate is not ready yet, and also when this reconcile starts a rollout (a new candidate
    or a retry), whose readiness is judged afresh at once — an already-Ready Deployment must
    still pass the readyQuery before it gets traffic.
    """
    routing, share_error = router_routing(router, router_error)
    accelerators = AcceleratorResources.from_guardrails(spec.guardrails)

    def state(name: str) -> DeploymentState:
        obj = world.deployment(name)
        return deployment_state(name, obj, accelerators, () if obj is None else world.pods())

    observed = Observed(
        generation=generation,
        baseline=state(spec.baseline.workload_deployment),
        candidate=state(spec.candidate.workload_deployment),
        health=candidate_health(spec, status, world, now),
        effective_share=None if routing is None else routing.share,
        effective_mirror=None if routing is None else routing.mirror,
        effective_header_match=None if routing is None else routing.header_match,
        router_error=share_error,
        replaced=tuple(state(name) for name in status.replaced_candidates),
        autoscaler=named_autoscaler(spec, world),
    )
    if source is None or abort_applies(spec, status):
        return observed
    starts = status.candidate_version != spec.candidate.version or retry_requested(spec, status)
    if starts or (status.outcome is None and status.candidate_ready_at is None):
        observed = replace(observed, ready_query=ready_query(spec, source.provider, source.variables, now))
    if starts or status.outcome is not None or not spec.analysis.metrics:
        return observed
    return replace(observed, windows=fetch_windows(spec, status, source, now))
