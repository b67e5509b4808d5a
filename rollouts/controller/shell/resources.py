"""The ModelRollout resource, and each autoscaler kind's, as the API client addresses them.

Kept here, not in the generic runtime (``rollouts.runtime`` knows no product: an import-linter
contract), because it joins the two: the runtime's :class:`~rollouts.runtime.kube.Resource` and
the API group, version and names of :mod:`rollouts.api.resource`, or the kinds
``spec.autoscaler`` accepts.
"""

from __future__ import annotations

from collections.abc import Mapping

from rollouts.api import resource as model_rollout
from rollouts.api.spec import AutoscalerKind
from rollouts.runtime.kube import HORIZONTAL_POD_AUTOSCALERS, SCALED_OBJECTS, Resource

MODEL_ROLLOUTS = Resource(
    model_rollout.GROUP, model_rollout.VERSION, model_rollout.PLURAL, model_rollout.KIND, namespaced=True
)

AUTOSCALERS: Mapping[AutoscalerKind, Resource] = {
    AutoscalerKind.HPA: HORIZONTAL_POD_AUTOSCALERS,
    AutoscalerKind.SCALED_OBJECT: SCALED_OBJECTS,
}
"""The resource of each autoscaler kind: what is watched, and what the handover patches."""
