"""The kserve router: ``spec.predictor.canaryTrafficPercent`` of one InferenceService (serverless).

The candidate's share is :func:`rollouts.traffic.kserve.revision_share` — the traffic KServe
copies from Knative into ``status.components.predictor.traffic``, per revision — so the
controller sees what the data plane does: a candidate revision that is not Ready yet gets 0%
whatever the percent asked for, and ``status.effectiveWeight`` stays 0 until Knative routes to it.

Writes are JSON patches that ``test`` the InferenceService's ``metadata.generation`` as read
(every spec change bumps it) and the percent as read when one is set, so a change made since —
a newer predictor, someone else's percent — is detected by the API server instead of
overwritten; the router then reads live and tries again, a few times. Before writing, the
router checks that the InferenceService's latest revision (``latestCreatedRevision``) is the
rollout's candidate: after someone applies a newer predictor, a percent would send traffic to a
revision the rollout never judged. Writing 0 is not checked: it sends the latest revision,
whichever it is, nothing — so an abort always gets through.

Mirroring and header routes are refused (``canaryTrafficPercent`` is a weight; the spec refuses
those steps with this router too). ``reset`` writes 0: all traffic to the ``prev`` revision.

Example: candidate ``m-predictor-00002-deployment``, status reports ``[{revisionName:
m-predictor-00002, latestRevision: true, percent: 10}, {revisionName: m-predictor-00001,
percent: 90, tag: prev}]``; ``set_weight(25)`` sends::

    [{"op": "test", "path": "/metadata/generation", "value": 3},
     {"op": "test", "path": "/spec/predictor/canaryTrafficPercent", "value": 10},
     {"op": "add", "path": "/spec/predictor/canaryTrafficPercent", "value": 25}]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollouts.api.spec import HeaderMatch, Traffic
from rollouts.routers.base import RouterError, RouterTarget, Routing
from rollouts.runtime.kube import INFERENCE_SERVICES, KubeObject, PatchTestFailed, PatchType
from rollouts.traffic.kserve import kserve_routing, predictor_status, revision_of, revision_share

PATCH_ATTEMPTS = 3
PERCENT_PATH = "/spec/predictor/canaryTrafficPercent"


@dataclass(frozen=True)
class KServeRouter:
    """canaryTrafficPercent of one InferenceService (see the module docstring)."""

    target: RouterTarget
    inference_service: str

    @classmethod
    def create(cls, traffic: Traffic, target: RouterTarget) -> KServeRouter:
        """Build from ``spec.traffic.kserve``; the revisions come from the target's Deployments."""
        spec = traffic.kserve
        if spec is None:
            raise RouterError("spec.traffic.kserve is not set")
        return cls(target, spec.inference_service)

    @property
    def baseline_revision(self) -> str:
        """The baseline's Knative revision (its Deployment's name without ``-deployment``)."""
        return revision_of(self.target.baseline)

    @property
    def candidate_revision(self) -> str:
        """The candidate's Knative revision."""
        return revision_of(self.target.candidate)

    def _read(self, live: bool = False) -> KubeObject:
        target = self.target
        isvc = (target.get_live if live else target.get)(INFERENCE_SERVICES, self.inference_service)
        if isvc is None:
            raise RouterError(f"InferenceService {target.namespace}/{self.inference_service} not found")
        return isvc

    def get_weight(self) -> float:
        """The candidate revision's share of the traffic KServe reports."""
        return revision_share(self._read(), self.baseline_revision, self.candidate_revision)

    def get_routing(self) -> Routing:
        """The share; never a mirror or a header route."""
        return kserve_routing(self._read(), self.baseline_revision, self.candidate_revision)

    def set_weight(self, weight: int) -> None:
        """Write ``canaryTrafficPercent: weight``; a no-op when already there.

        Above 0, :class:`RouterError` unless the latest revision is the candidate's.
        """
        for attempt in range(PATCH_ATTEMPTS):
            isvc = self._read(live=attempt > 0)
            if weight:
                self._check_latest(isvc)
            current = isvc.get("spec", {}).get("predictor", {}).get("canaryTrafficPercent")
            if current == weight:
                return
            try:
                self.target.kube.patch(
                    INFERENCE_SERVICES,
                    self.inference_service,
                    self._patch(isvc, current, weight),
                    PatchType.JSON,
                    self.target.namespace,
                )
                return
            except PatchTestFailed:
                if attempt == PATCH_ATTEMPTS - 1:
                    raise

    def set_mirror(self, percent: int) -> None:
        """Nothing for 0; canaryTrafficPercent cannot mirror, so any other percent is a RouterError."""
        if percent:
            raise RouterError("the kserve router cannot mirror requests: use the gatewayAPI router")

    def set_header_route(self, match: tuple[HeaderMatch, ...]) -> None:
        """Nothing for (); canaryTrafficPercent cannot match headers, so any match is a RouterError."""
        if match:
            raise RouterError("the kserve router cannot route by header: use the gatewayAPI router")

    def reset(self) -> None:
        """All traffic to the rolled-out (baseline) revision."""
        self.set_weight(0)

    def _check_latest(self, isvc: KubeObject) -> None:
        """RouterError unless the InferenceService's latest revision is the rollout's candidate."""
        latest = predictor_status(isvc).get("latestCreatedRevision")
        if latest != self.candidate_revision:
            raise RouterError(
                f"InferenceService {self.inference_service}'s latest revision is {latest or 'not reported'}, "
                f"not the candidate's {self.candidate_revision}: canaryTrafficPercent would send traffic to "
                "a revision this rollout does not judge"
            )

    @staticmethod
    def _patch(isvc: KubeObject, current: object, weight: int) -> list[dict[str, Any]]:
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/generation", "value": isvc["metadata"]["generation"]}
        ]
        if current is not None:
            patch.append({"op": "test", "path": PERCENT_PATH, "value": current})
        patch.append({"op": "add", "path": PERCENT_PATH, "value": weight})
        return patch
