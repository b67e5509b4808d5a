"""A reconcile reads its rollout from the cache only when the cache holds the newest version.

Against a real API server, with the rollouts cache filled by hand so that it can be held stale
on purpose: the first reconcile of the process lists the rollouts live, once, for all of them;
after its status write the cache (still at the old version) is not used; once the cache's change
feed delivers the written version, reconciles read no rollout from the API server at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.informer import Store
from rollouts.runtime.kube import Kube, KubeObject, ObjectList, PatchType, Resource, WatchEvent
from tests.support.controller import reconciler_alone
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]


@dataclass(frozen=True)
class CountingKube(Kube):
    """The real client, recording the rollout GETs and LISTs."""

    rollout_gets: list[str] = field(default_factory=list)
    rollout_lists: list[str | None] = field(default_factory=list)

    @property
    def rollout_reads(self) -> int:
        return len(self.rollout_gets) + len(self.rollout_lists)

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> KubeObject:
        if resource == MODEL_ROLLOUTS:
            self.rollout_gets.append(name)
        return super().get(resource, name, namespace)

    def list(self, resource: Resource, namespace: str | None = None, **options: Any) -> ObjectList:
        if resource == MODEL_ROLLOUTS:
            self.rollout_lists.append(namespace)
        return super().list(resource, namespace, **options)


def test_the_cache_is_read_only_once_it_holds_the_version_last_written(kube: Kube, namespace: str) -> None:
    created = kube.create(MODEL_ROLLOUTS, model_rollout("fraud", steps=[{"setWeight": 50}]), namespace)
    rollouts = Store()
    rollouts.apply(WatchEvent("ADDED", created))
    counting = CountingKube(kube.api_client, kube.timeout)
    reconciler = reconciler_alone(counting, rollouts=rollouts, scope=namespace)
    key = f"{namespace}/fraud"

    reconciler.reconcile(key)
    assert (counting.rollout_lists, counting.rollout_gets) == ([namespace], []), (
        "the first reconcile lists live"
    )
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


def test_one_list_stands_for_every_rollout_and_a_later_or_stale_one_is_read_live(
    kube: Kube, namespace: str
) -> None:
    """At start or takeover one LIST reads every rollout live (freshness rule 1): the rollouts
    the cache holds at the listed version are read from it; one the cache holds at an older
    version, and one created after the list, are read with a GET."""
    steps = [{"setWeight": 50}]
    current, stale = (
        kube.create(MODEL_ROLLOUTS, model_rollout(name, steps=steps), namespace) for name in ("a", "b")
    )
    rollouts = Store()
    rollouts.apply(WatchEvent("ADDED", current))
    rollouts.apply(WatchEvent("ADDED", stale))
    kube.patch(
        MODEL_ROLLOUTS,
        "b",
        {"metadata": {"labels": {"edited": "after-the-cache"}}},
        PatchType.MERGE,
        namespace,
    )
    counting = CountingKube(kube.api_client, kube.timeout)
    reconciler = reconciler_alone(counting, rollouts=rollouts, scope=namespace)

    reconciler.reconcile(f"{namespace}/a")
    assert (len(counting.rollout_lists), counting.rollout_gets) == (1, []), "listed, then read from the cache"
    reconciler.reconcile(f"{namespace}/b")
    assert (len(counting.rollout_lists), counting.rollout_gets) == (1, ["b"]), "the cache is behind: a GET"
    later = kube.create(MODEL_ROLLOUTS, model_rollout("c", steps=steps), namespace)
    rollouts.apply(WatchEvent("ADDED", later))
    reconciler.reconcile(f"{namespace}/c")
    assert (len(counting.rollout_lists), counting.rollout_gets) == (1, ["b", "c"]), "created after the list"
