"""A reconcile reads its rollout from the cache only when the cache holds the newest version.

Against a real API server, with the rollouts cache filled by hand so that it can be held stale
on purpose: the first reconcile reads live; after its status write the cache (still at the old
version) is not used; once the cache's change feed delivers the written version, reconciles read
no rollout from the API server at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.informer import Store
from rollouts.runtime.kube import Kube, KubeObject, Resource, WatchEvent
from tests.support.controller import reconciler_alone
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]


@dataclass(frozen=True)
class CountingKube(Kube):
    """The real client, recording the rollout GETs."""

    rollout_gets: list[str] = field(default_factory=list)

    @property
    def rollout_reads(self) -> int:
        return len(self.rollout_gets)

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> KubeObject:
        if resource == MODEL_ROLLOUTS:
            self.rollout_gets.append(name)
        return super().get(resource, name, namespace)


def test_the_cache_is_read_only_once_it_holds_the_version_last_written(kube: Kube, namespace: str) -> None:
    created = kube.create(MODEL_ROLLOUTS, model_rollout("fraud", steps=[{"setWeight": 50}]), namespace)
    rollouts = Store()
    rollouts.apply(WatchEvent("ADDED", created))
    counting = CountingKube(kube.api_client, kube.timeout)
    reconciler = reconciler_alone(counting, rollouts=rollouts)
    key = f"{namespace}/fraud"

    reconciler.reconcile(key)
    assert counting.rollout_reads == 1, "the first reconcile in a process reads live"
    written = kube.get(MODEL_ROLLOUTS, "fraud", namespace)
    assert written["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]

    reconciler.reconcile(key)
    assert counting.rollout_reads == 2, "a cache that has not seen the status write was trusted"

    def deliver_from_the_feed() -> None:
        """What the rollouts informer does on a watch event: update the cache, then tell freshness."""
        change = rollouts.apply(WatchEvent("MODIFIED", kube.get(MODEL_ROLLOUTS, "fraud", namespace)))
        if change is not None:
            reconciler.freshness.rollout_changed(change)

    deliver_from_the_feed()
    before = counting.rollout_reads
    for _ in range(3):
        reconciler.reconcile(key)
        deliver_from_the_feed()
    assert counting.rollout_reads == before, "a cache holding the newest version was not used"
