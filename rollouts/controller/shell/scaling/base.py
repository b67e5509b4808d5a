"""The scaling seam: decide() says how many replicas a side gets, a Scaler makes it so.

decide() knows sizes, not kinds: the reconciler looks up the scaler of the kind the spec names
(:func:`rollouts.controller.shell.scaling.registry.scaler_for`) and hands it the count. One
implementation per file — a Deployment's scale subresource, a KServe InferenceService's
min/max replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rollouts.routers.base import ObjectReader
from rollouts.runtime.informer import Store
from rollouts.runtime.kube import Kube


class Scaler(Protocol):
    """Sizes one kind of workload in one namespace."""

    def scale(self, name: str, replicas: int) -> None:
        """Make ``name`` run ``replicas`` replicas; a missing object is left alone."""


@dataclass(frozen=True)
class ScaleContext:
    """What a scaler may read and write: the namespace, the API, the controller's caches."""

    kube: Kube
    namespace: str
    deployments: Store
    read: ObjectReader
    """Cached reads of other kinds (live for what is not cached), as routers read."""


__all__ = ["ScaleContext", "Scaler"]
