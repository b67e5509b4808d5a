"""The KServe traffic model: ``canaryTrafficPercent`` of one InferenceService in serverless mode.

In serverless (Knative) mode every change of an InferenceService's predictor makes a new Knative
revision. With ``spec.predictor.canaryTrafficPercent: w`` KServe writes two traffic targets on
its Knative Service — the latest revision (``latestRevision: true``) with ``w`` and the last
revision rolled out at 100% (tag ``prev``) with ``100 − w`` — and copies the traffic Knative then
reports into ``status.components.predictor.traffic`` (KServe v0.20.0,
pkg/controller/v1beta1/inferenceservice/reconcilers/knative/ksvc_reconciler.go and
``PropagateStatus`` in pkg/apis/serving/v1beta1/inference_service_status.go; docs/kserve.md).

Decision — the baseline is the latest *rolled-out* revision and the candidate the latest
*created* one, each named in the rollout by its Deployment (Knative's ``<revision>-deployment``),
so pods, readiness and preflight stay the Deployment-based ones: the share is read from what
Knative reports per **revision name**, never from the percent asked for. While the candidate
revision is not Ready, Knative resolves ``latestRevision: true`` to the latest *ready* revision,
the baseline: the status then names the baseline for both targets and the candidate's share is
0 — what the data plane does, not what was asked.

:func:`revision_share` is the one definition of that share, and :func:`kserve_routing` the
routing it makes — what the kserve router reports and what the local stack's load generator
follows, as a Knative data plane would. A third revision with traffic (an
older rollout's, a hand-made split) is an error: the share would not be the split between the
two versions the rollout compares — as the Gateway API model refuses a third weighted backend.

Sizing is Knative's: the controller sizes neither revision (``platform_sizes``, docs/kserve.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollouts.api.spec import KSERVE_REVISION_DEPLOYMENT_SUFFIX, ModelRolloutSpec
from rollouts.traffic.base import RouterError, Routing
from rollouts.traffic.gateway_api import GatewayAPITraffic


def revision_of(deployment: str) -> str:
    """The Knative revision whose Deployment is ``deployment`` (``<revision>-deployment``).

    >>> revision_of("fraud-scorer-predictor-00002-deployment")
    'fraud-scorer-predictor-00002'
    """
    return deployment.removesuffix(KSERVE_REVISION_DEPLOYMENT_SUFFIX)


def predictor_status(isvc: Mapping[str, Any]) -> dict[str, Any]:
    """``status.components.predictor`` of an InferenceService (empty before KServe wrote it)."""
    status: dict[str, Any] = (isvc.get("status") or {}).get("components", {}).get("predictor") or {}
    return status


def revision_share(isvc: Mapping[str, Any], baseline: str, candidate: str) -> float:
    """The candidate revision's share of the predictor's traffic as KServe reports it.

    :class:`RouterError` when no traffic is reported yet, when every percent is 0, or when a
    revision other than ``baseline`` and ``candidate`` receives traffic.

    >>> traffic = [{"revisionName": "m-predictor-00002", "latestRevision": True, "percent": 25},
    ...            {"revisionName": "m-predictor-00001", "percent": 75, "tag": "prev"}]
    >>> isvc = {"status": {"components": {"predictor": {"traffic": traffic}}}}
    >>> revision_share(isvc, "m-predictor-00001", "m-predictor-00002")
    0.25
    """
    name = isvc.get("metadata", {}).get("name", "<unnamed>")
    if baseline == candidate:
        raise RouterError(f"baseline and candidate are the same revision: {baseline}")
    targets: list[dict[str, Any]] = predictor_status(isvc).get("traffic") or []
    percents: dict[str, int] = {}
    for target in targets:
        revision = str(target.get("revisionName", ""))
        percents[revision] = percents.get(revision, 0) + int(target.get("percent") or 0)
    if not targets:
        raise RouterError(
            f"InferenceService {name} reports no predictor traffic yet (status.components.predictor.traffic)"
        )
    others = sorted(
        revision
        for revision, percent in percents.items()
        if percent and revision not in (baseline, candidate)
    )
    if others:
        raise RouterError(
            f"InferenceService {name} also sends traffic to revision(s) {', '.join(others)}; the rollout "
            f"compares {baseline} and {candidate} only"
        )
    total = sum(percents.values())
    if total == 0:
        raise RouterError(f"InferenceService {name} reports 0% traffic on every revision")
    return percents.get(candidate, 0) / total


def kserve_routing(isvc: Mapping[str, Any], baseline: str, candidate: str) -> Routing:
    """What the InferenceService's reported traffic does with requests, per :func:`revision_share`.

    Never a mirror or a header route (canaryTrafficPercent has neither); ``baseline`` and
    ``candidate`` are revisions.

    >>> traffic = [{"revisionName": "m-predictor-00002", "latestRevision": True, "percent": 100}]
    >>> kserve_routing({"status": {"components": {"predictor": {"traffic": traffic}}}},
    ...                "m-predictor-00001", "m-predictor-00002")
    Routing(share=1.0, mirror=0.0, header_match=())
    """
    return Routing(share=revision_share(isvc, baseline, candidate))


@dataclass(frozen=True)
class KServeTraffic(GatewayAPITraffic):
    """canaryTrafficPercent on one InferenceService (see the module docstring).

    The percent means what a Gateway API weight means (``w`` to the candidate, ``100 − w`` to the
    baseline), so the expected share is the Gateway API model's. Decision — Knative's autoscaler
    sizes every revision (``platform_sizes``): the controller writes no replicas, so it never
    fights the autoscaler; the revision no route references any more goes to 0 by Knative.
    """

    platform_sizes: bool = True

    def claimed(self, spec: ModelRolloutSpec) -> frozenset[str]:
        """The InferenceService whose canaryTrafficPercent the rollout writes."""
        kserve = spec.traffic.kserve
        return frozenset() if kserve is None else frozenset({f"InferenceService {kserve.inference_service}"})
