"""A status write prepared from a stale read meets a real 409, and nothing follows it.

The reconcile protocol writes status once, with the resourceVersion it read, and applies
effects only after that write. Here another client changes the rollout's metadata at the last
moment before the controller's first write (from the write guard, which the client asks before
every write), so the real API server answers 409: the reconcile raises ``Conflict`` with no
other write made, and the next reconcile, reading afresh, writes status.
"""

from __future__ import annotations

import pytest

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.kube import Conflict, Kube, PatchType
from tests.support.controller import reconciler_alone
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]


class InterferingWriter:
    """A write guard that lets every write through, after a concurrent change before the first."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self._kube, self._namespace, self._name = kube, namespace, name
        self.writes = 0

    def __call__(self) -> bool:
        self.writes += 1
        if self.writes == 1:
            patch = {"metadata": {"labels": {"touched-by": "someone-else"}}}
            self._kube.patch(MODEL_ROLLOUTS, self._name, patch, PatchType.MERGE, self._namespace)
        return True


def test_a_stale_status_write_is_a_conflict_with_no_effect_and_the_next_reconcile_writes(
    kube: Kube, namespace: str
) -> None:
    kube.create(MODEL_ROLLOUTS, model_rollout("fraud", steps=[{"setWeight": 50}]), namespace)
    interfering = InterferingWriter(kube, namespace, "fraud")
    reconciler = reconciler_alone(kube.guarded(interfering))
    key = f"{namespace}/fraud"

    with pytest.raises(Conflict):
        reconciler.reconcile(key)
    assert interfering.writes == 1, "a write followed the status write that failed"
    assert "status" not in kube.get(MODEL_ROLLOUTS, "fraud", namespace)

    reconciler.reconcile(key)
    assert interfering.writes >= 2
    written = kube.get(MODEL_ROLLOUTS, "fraud", namespace)
    assert written["metadata"]["labels"]["touched-by"] == "someone-else"
    assert written["status"]["conditions"], "the retried reconcile wrote no status"
