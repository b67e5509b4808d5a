"""Sizing a Deployment through its ``scale`` subresource (moved here from the reconciler)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from rollouts.controller.shell.scaling.base import ScaleContext
from rollouts.runtime.kube import DEPLOYMENTS, Conflict, NotFound, PatchType

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DeploymentScaler:
    """Scaler of Deployments (reads the size from the controller's Deployment cache)."""

    context: ScaleContext

    def scale(self, name: str, replicas: int) -> None:
        """Size Deployment ``name`` through its ``scale`` subresource, from the size as read.

        A JSON patch whose ``test`` op requires ``spec.replicas`` to still hold the size read
        (from the cache): a write prepared before someone else's — a successor that took the
        Lease while this replica was paused mid-write, a person's ``kubectl scale`` — fails the
        test instead of landing after it. The test is on the size, not on the resourceVersion:
        the Deployment controller rewrites the status (and so the version) as pods come and go,
        exactly while a rollout scales, and that is no reason to refuse. After a failed test the
        Deployment is read live and the write tried again, a few times (a lagging cache is the
        usual cause); each try passes the write guard again, so a replica that lost the Lease
        meanwhile stops.
        """
        c = self.context
        current = c.deployments.get(name, c.namespace)
        attempts = 3
        for attempt in range(attempts):
            if current is None or current.get("spec", {}).get("replicas") == replicas:
                return
            log.info("scaling", deployment=name, replicas=replicas)
            swap = [_size_is(current.get("spec", {}).get("replicas")), _SET_SIZE | {"value": replicas}]
            try:
                c.kube.patch(DEPLOYMENTS, name, swap, PatchType.JSON, c.namespace, subresource="scale")
                return
            except Conflict:
                if attempt == attempts - 1:
                    raise
            try:
                current = c.kube.get(DEPLOYMENTS, name, c.namespace)
            except NotFound:
                return


_SET_SIZE: dict[str, Any] = {"op": "add", "path": "/spec/replicas"}
"""Sets the size (``add`` sets a member whether or not it is there: see :func:`_size_is`)."""


def _size_is(replicas: object) -> dict[str, Any]:
    """A JSON-patch ``test`` that the Scale's size is still ``replicas``.

    ``autoscaling/v1`` Scale leaves ``spec.replicas`` out when it is 0 (``omitempty``), so a
    size of 0 is tested as an empty ``spec``.
    """
    if not replicas:
        return {"op": "test", "path": "/spec", "value": {}}
    return {"op": "test", "path": "/spec/replicas", "value": replicas}


__all__ = ["DeploymentScaler"]
