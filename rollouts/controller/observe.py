"""Observation: from caches, guardrails, the router and Prometheus to one :class:`Observed`.

Reads come from the informers' caches (Deployments, pods, nodes) — no API calls — except the
router's current weights and the two kinds of Prometheus query: the readyQuery (only while the
candidate is not yet ready) and the analysis looks (only when a window is due). When an abort
intent applies nothing is queried at all: abort acts before any query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from analysis import NoData, QueryFailed
from analysis.providers.base import MetricsProvider
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import ModelRolloutStatus
from rollouts.api.timestamps import parse_timestamp
from rollouts.controller.decide import abort_applies
from rollouts.controller.looks import LookContext, run_looks, step_feasibility
from rollouts.controller.observed import CandidateHealth, Observed, ReadyQueryResult
from rollouts.controller.selectors import matches
from rollouts.guardrails.accelerators import AcceleratorResources
from rollouts.guardrails.pod_health import assess_pod_health
from rollouts.guardrails.preflight import preflight
from rollouts.guardrails.readiness import assess_candidate
from rollouts.routers import Router, RouterError
from rollouts.runtime.kube import KubeError, KubeObject


@dataclass(frozen=True)
class World:
    """Read access to the cached objects of the rollout's namespace."""

    deployment: Callable[[str], KubeObject | None]
    pods: Callable[[], Iterable[KubeObject]]
    nodes: Callable[[], Iterable[KubeObject]]


def replicas_of(obj: KubeObject | None) -> int:
    """A Deployment's spec.replicas as the cache shows it (0 when it is missing)."""
    if obj is None:
        return 0
    return int(obj.get("spec", {}).get("replicas", 1))


def candidate_health(
    spec: ModelRolloutSpec, status: ModelRolloutStatus, world: World, now: datetime
) -> CandidateHealth:
    """Preflight, readiness and pod failures of the candidate (no Prometheus needed)."""
    baseline = world.deployment(spec.baseline.deployment)
    candidate = world.deployment(spec.candidate.deployment)
    missing = [
        name
        for name, obj in ((spec.baseline.deployment, baseline), (spec.candidate.deployment, candidate))
        if obj is None
    ]
    if missing or baseline is None or candidate is None:
        return CandidateHealth(ready=False, not_ready_reason=f"Deployment {', '.join(missing)} not found")
    report = preflight(spec, baseline, candidate)
    selector = candidate.get("spec", {}).get("selector")
    pods = [pod for pod in world.pods() if matches(selector, pod.get("metadata", {}).get("labels"))]
    readiness = assess_candidate(
        pods, list(world.nodes()), candidate, AcceleratorResources.from_guardrails(spec.guardrails), now
    )
    started = parse_timestamp(status.started_at) if status.started_at else now
    health = assess_pod_health(pods, started, spec.guardrails.max_restarts)
    unschedulable = readiness.unschedulable
    return CandidateHealth(
        ready=readiness.ready,
        not_ready_reason="" if readiness.ready else readiness.summary(),
        unschedulable=unschedulable[0].message if unschedulable else None,
        failures=tuple(finding.message for finding in health.findings),
        preflight_errors=(report.summary(),) if report.errors else (),
        preflight_warnings=tuple(finding.render() for finding in report.warnings),
    )


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


def router_share(router: Router | None, error: str | None) -> tuple[float | None, str | None]:
    """The share the router reports, or the reason it cannot say."""
    if router is None:
        return None, error
    try:
        return router.get_weight(), None
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
    looks: LookContext | None,
    now: datetime,
) -> Observed:
    """Everything decide() needs at ``now``; no Prometheus query when an abort applies."""
    share, share_error = router_share(router, router_error)
    observed = Observed(
        generation=generation,
        baseline_replicas=replicas_of(world.deployment(spec.baseline.deployment)),
        health=candidate_health(spec, status, world, now),
        effective_share=share,
        router_error=share_error,
    )
    quiet = status.outcome is not None or status.candidate_version != spec.candidate.version
    if looks is None or quiet or abort_applies(spec, status):
        return observed
    readiness = ReadyQueryResult()
    if status.candidate_ready_at is None:
        readiness = ready_query(spec, looks.provider, looks.variables, now)
    return replace(
        observed,
        ready_query=readiness,
        look=run_looks(spec, status, looks, now),
        feasibility=step_feasibility(spec, status, now),
    )
