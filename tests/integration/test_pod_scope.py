"""Pods of Deployments no rollout names are not cached, and never make a blind view.

Against a real kube-apiserver, controller-manager and kwok: the informer's relist on demand
(rollouts.runtime.informer) and the controller's pod scope (rollouts.controller.shell.pod_scope).
The safety case: a Deployment whose pods crash-loop while no rollout names it — the controller
has dropped them — then a rollout for it is created; the controller must see the crash loop in
its very first decision, never "no pods".
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rollouts.controller.shell.app import _deployments_of
from rollouts.controller.shell.pod_scope import PodScope
from rollouts.controller.shell.reconciler import DEPLOYMENT_INDEX
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import model_deployment
from rollouts.runtime.informer import Change, Informer, object_key
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    LEASES,
    NAMESPACES,
    PODS,
    Kube,
    KubeObject,
    ObjectList,
    PatchType,
    Resource,
)
from rollouts.runtime.ratelimit import ExponentialBackoff
from rollouts.testbed import LocalCluster
from tests.support.controller import _WatchRecorder, condition, rollout_reader, running_controller, wait_for
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

WAIT = 60.0  # seconds before calling a test hung; never a speed assertion
CRASH_LOOP = "model-rollouts.modelops.io/crash-loop"


def lease(name: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name}, "spec": {}}


@pytest.fixture
def filtered(kube: Kube, namespace: str) -> Iterator[tuple[Informer, set[str], queue.Queue[Change]]]:
    """An informer of Leases that keeps only those named in a set the test changes."""
    wanted: set[str] = set()
    lock = threading.Lock()

    def keep(obj: KubeObject) -> KubeObject | None:
        with lock:
            return obj if obj["metadata"]["name"] in wanted else None

    changes: queue.Queue[Change] = queue.Queue()
    informer = Informer(
        kube, LEASES, namespace, backoff=ExponentialBackoff(base=0.1, cap=1.0), transform=keep
    )
    informer.add_handler(changes.put)
    yield informer, wanted, changes
    informer.stop()


def test_a_relist_brings_what_a_transform_dropped_and_a_dropped_update_removes_it(
    kube: Kube, namespace: str, filtered: tuple[Informer, set[str], queue.Queue[Change]]
) -> None:
    informer, wanted, changes = filtered
    kube.create(LEASES, lease("a"), namespace)
    kube.create(LEASES, lease("b"), namespace)
    listed = threading.Event()
    informer.add_list_handler(listed.set)
    informer.start()
    assert informer.wait_for_sync(WAIT)
    assert len(informer.store) == 0  # nothing wanted: nothing kept

    wanted.add("a")  # wanted first, then the ticket (the pod scope's order)
    ticket = informer.relist()
    listed.clear()
    while not informer.relisted(ticket):
        assert listed.wait(WAIT), "no relist came"
        listed.clear()
    assert [obj["metadata"]["name"] for obj in informer.store.list()] == ["a"]
    assert informer.relists == 2
    added = changes.get(timeout=WAIT)
    assert (added.type, added.object["metadata"]["name"]) == ("added", "a")

    # Many requests while one list is pending are served together.
    tickets = [informer.relist() for _ in range(50)]
    listed.clear()
    while not informer.relisted(tickets[-1]):
        assert listed.wait(WAIT), "no relist came"
        listed.clear()
    assert informer.relists <= 4

    wanted.discard("a")  # no longer wanted: its next event takes it out of the cache
    kube.patch(LEASES, "a", {"spec": {"holderIdentity": "x"}}, PatchType.MERGE, namespace)
    gone = changes.get(timeout=WAIT)
    assert (gone.type, gone.object["metadata"]["name"]) == ("deleted", "a")
    assert len(informer.store) == 0


def test_relists_asked_right_after_a_list_wait_out_the_spacing_and_share_one_list(
    kube: Kube, namespace: str
) -> None:
    spacing = 3.0  # seconds; a list of a few Leases takes milliseconds
    informer = Informer(kube, LEASES, namespace, relist_spacing=spacing)
    lists_in: list[float] = []  # when each list was in the cache (time.monotonic)
    listed = threading.Event()

    def list_in() -> None:
        lists_in.append(time.monotonic())
        listed.set()

    informer.add_list_handler(list_in)
    informer.start()
    try:
        assert informer.wait_for_sync(WAIT)
        tickets = [informer.relist() for _ in range(3)]  # as three rollouts created one by one
        listed.clear()
        while not informer.relisted(tickets[-1]):
            assert listed.wait(WAIT), "no relist came"
            listed.clear()
        assert informer.relists == 2  # the first list, then one for all three
        assert lists_in[1] - lists_in[0] >= spacing - 0.1  # not before the spacing had passed
    finally:
        informer.stop()  # also cancels a cut still scheduled


@dataclass(frozen=True)
class EditsBeforeListing(Kube):
    """A client that makes edits just before it lists: changes the list contains and the watch,
    resuming from before the list, sends again."""

    before_listing: Callable[[str | None], None] = lambda namespace: None

    def list(self, resource: Resource, namespace: str | None = None, **options: Any) -> ObjectList:
        self.before_listing(namespace)
        return super().list(resource, namespace, **options)


def test_a_relist_of_one_namespace_keeps_the_other_namespaces_events_and_skips_what_it_listed(
    kube: Kube, namespace: str
) -> None:
    other = f"{namespace[:50]}-other"
    kube.create(NAMESPACES, {"metadata": {"name": other}})
    try:
        for name in ("a", "b"):
            kube.create(LEASES, lease(name), namespace)
        kube.create(LEASES, lease("c"), other)
        ours = {namespace, other}
        wanted = {f"{other}/c"}

        def keep(obj: KubeObject) -> KubeObject | None:
            return obj if object_key(obj) in wanted else None

        edited = threading.Event()

        def edits(listing: str | None) -> None:
            if listing != namespace or edited.is_set():
                return  # only before the list of the namespace, once
            edited.set()
            kube.patch(LEASES, "c", {"spec": {"holderIdentity": "during"}}, PatchType.MERGE, other)
            for holder in ("first", "second"):  # two versions of a: the list holds the second
                kube.patch(LEASES, "a", {"spec": {"holderIdentity": holder}}, PatchType.MERGE, namespace)
            kube.create(LEASES, lease("e"), namespace)  # created and deleted before the list
            kube.delete(LEASES, "e", namespace)

        client = EditsBeforeListing(kube.api_client, before_listing=edits)
        informer = Informer(client, LEASES, transform=keep, backoff=ExponentialBackoff(base=0.1, cap=1.0))
        seen: queue.Queue[Change] = queue.Queue()
        informer.add_handler(
            lambda change: seen.put(change) if change.object["metadata"]["namespace"] in ours else None
        )
        listed = threading.Event()
        informer.add_list_handler(listed.set)
        informer.start()
        try:
            assert informer.wait_for_sync(WAIT)
            assert (seen.get(timeout=WAIT).type, informer.relists) == ("added", 1)  # c, from the full list

            wanted.update({f"{namespace}/a", f"{namespace}/e"})
            ticket = informer.relist(namespace)
            assert ticket.namespace == namespace
            listed.clear()
            while not informer.relisted(ticket):
                assert listed.wait(WAIT), "no relist came"
                listed.clear()
            assert (informer.relists, informer.namespace_lists) == (1, 1)  # one namespace, not the cluster
            assert {object_key(obj) for obj in informer.store.list() if object_key(obj) in wanted} == {
                f"{other}/c",
                f"{namespace}/a",
            }
            # A mark after everything: once its event is in, every earlier event was handled.
            kube.patch(LEASES, "c", {"spec": {"holderIdentity": "after"}}, PatchType.MERGE, other)
            changes: list[tuple[str, str, str]] = []
            while ("updated", f"{other}/c", "after") not in changes:
                change = seen.get(timeout=WAIT)
                holder = str(change.object["spec"].get("holderIdentity", ""))
                changes.append((change.type, object_key(change.object), holder))
        finally:
            informer.stop()
        assert changes == [
            ("added", f"{namespace}/a", "second"),  # from the namespace's list: its latest version
            ("updated", f"{other}/c", "during"),  # the other namespace's event, not lost
            ("updated", f"{other}/c", "after"),
        ]  # and nothing of a's older versions or of e, which the watch sent again
    finally:
        kube.delete(NAMESPACES, other)


def test_the_scope_is_warm_only_once_the_pods_of_every_named_deployment_were_listed(
    kube: Kube, namespace: str
) -> None:
    # What a standby's readiness waits for (Manager.add_warm_check): taking over earlier, it
    # would wait rollout by rollout for the pod list.
    rollouts = Informer(kube, MODEL_ROLLOUTS, namespace)
    rollouts.add_index(DEPLOYMENT_INDEX, _deployments_of)
    scope = PodScope(rollouts.store, DEPLOYMENT_INDEX, _deployments_of)
    rollouts.add_handler(scope.rollout_changed)
    pods = Informer(kube, PODS, namespace, transform=scope.transform)
    listed = threading.Event()
    scope.attach(pods)
    pods.add_list_handler(scope.listed)
    pods.add_list_handler(listed.set)  # after the scope's own handler
    assert scope.all_known()  # nothing wanted yet
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=[{"setWeight": 50}]), namespace)
    try:
        rollouts.start()
        assert rollouts.wait_for_sync(WAIT)
        assert scope.wanted() == {f"{namespace}/model-v1", f"{namespace}/model-v2"}
        assert not scope.all_known()  # wanted, but no pod list has begun since
        pods.start()
        assert listed.wait(WAIT)
        assert scope.all_known()
        assert scope.known(namespace, "model-v1") and scope.known(namespace, "model-v2")
    finally:
        pods.stop()
        rollouts.stop()


class ReadyConditions(_WatchRecorder):
    """Every (reason, message) the rollout's Ready condition took, in order, from a watch."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        super().__init__(kube, MODEL_ROLLOUTS, namespace, field_selector=f"metadata.name={name}")
        self.seen: list[tuple[str, str]] = []

    def _record(self, obj: KubeObject) -> None:
        ready = condition(obj, "Ready")
        said = (str(ready.get("reason", "")), str(ready.get("message", "")))
        if ready and (not self.seen or self.seen[-1] != said):
            self.seen.append(said)


def crash_looping(kube: Kube, namespace: str) -> bool:
    pods = kube.list(PODS, namespace, label_selector="version=v2").items
    return bool(pods) and all(
        status.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
        for pod in pods
        for status in pod.get("status", {}).get("containerStatuses", [{}])
    )


@pytest.mark.parametrize("watching", ["its namespace", "every namespace"])
def test_a_rollout_created_after_its_pods_crash_sees_them_in_its_first_decision(
    testbed: LocalCluster, kube: Kube, namespace: str, watching: str
) -> None:
    # Watching every namespace, the pod informer lists this namespace alone for the new rollout
    # (Informer.relist(namespace)); watching one, it lists its whole scope.
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=1), namespace)
    candidate = model_deployment("model-v2", "v2", replicas=1)
    candidate["spec"]["template"]["metadata"]["labels"][CRASH_LOOP] = "true"
    kube.create(DEPLOYMENTS, candidate, namespace)
    scope = namespace if watching == "its namespace" else None
    with running_controller(testbed.kubeconfig, scope) as manager:
        wait_for(lambda: {"ok": crash_looping(kube, namespace)}, lambda o: o["ok"], WAIT, "a crash loop")
        pods = next(informer for informer in manager._informers if informer.resource == PODS)
        assert pods.wait_for_sync(WAIT)

        def ours() -> list[KubeObject]:
            return [pod for pod in pods.store.list() if pod["metadata"]["namespace"] == namespace]

        # No rollout names them yet: the controller's cache holds none of these pods.
        assert ours() == []
        with ReadyConditions(kube, namespace, "model") as ready:
            kube.create(
                MODEL_ROLLOUTS, model_rollout("model", steps=[{"setWeight": 50}], route=None), namespace
            )
            failing = wait_for(
                rollout_reader(kube, "model", namespace),
                lambda o: condition(o, "Ready").get("reason") == "CandidateFailing",
                WAIT,
                "the crash loop reported",
            )
        assert "CrashLoopBackOff" in condition(failing, "Ready")["message"]
        # Never decided blind: the very first decision already names the pod's crash loop (a
        # crash before the rollout started is "not ready", one after it "failing"), where a view
        # without the pods would have said only that the Deployment is not available.
        first_reason, first_message = ready.seen[0]
        assert "CrashLoopBackOff" in first_message, ready.seen
        assert first_reason in ("CandidateNotReady", "CandidateFailing"), ready.seen
        assert {pod["metadata"]["labels"]["version"] for pod in ours()} == {"v1", "v2"}
        assert "managedFields" not in ours()[0]["metadata"]
        if scope is None:  # one list of this namespace (two if the second Deployment's ask came late)
            assert (pods.relists, pods.namespace_lists >= 1) == (1, True)
        else:
            assert pods.namespace_lists == 0
