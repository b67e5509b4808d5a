"""The ModelRollout resource as the API client addresses it.

Kept here, not in the generic runtime (``rollouts.runtime`` knows no product: an import-linter
contract), because it joins the two: the runtime's :class:`~rollouts.runtime.kube.Resource` and
the API group, version and names of :mod:`rollouts.api.resource`.
"""

from __future__ import annotations

from rollouts.api import resource as model_rollout
from rollouts.runtime.kube import Resource

MODEL_ROLLOUTS = Resource(
    model_rollout.GROUP, model_rollout.VERSION, model_rollout.PLURAL, model_rollout.KIND, namespaced=True
)
