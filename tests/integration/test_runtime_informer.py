"""The informer against a real kube-apiserver: sync, the change feed, indexes, and a real 410 Gone."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from rollouts.runtime.informer import Change, Informer
from rollouts.runtime.kube import (
    CUSTOM_RESOURCE_DEFINITIONS,
    LEASES,
    Kube,
    NotFound,
    PatchType,
    Resource,
)
from rollouts.runtime.ratelimit import ExponentialBackoff
from rollouts.testbed import install_crds

pytestmark = pytest.mark.cluster

WAIT = 30.0  # seconds to wait for an event before calling the test hung; never a speed assertion


class Recorder:
    """A handler that keeps every change, and waits for the next one."""

    def __init__(self) -> None:
        self._changes: queue.Queue[Change] = queue.Queue()

    def __call__(self, change: Change) -> None:
        self._changes.put(change)

    def next(self) -> tuple[str, str]:
        change = self._changes.get(timeout=WAIT)
        return change.type, change.object["metadata"]["name"]

    def next_change(self) -> Change:
        return self._changes.get(timeout=WAIT)


@pytest.fixture
def start_informer(kube: Kube) -> Iterator[Callable[..., tuple[Informer, Recorder]]]:
    started: list[Informer] = []

    def start(resource: Resource, namespace: str, **options: Any) -> tuple[Informer, Recorder]:
        # Retry within 0.1–1 s: the production back-off (0.8 s → 30 s) only slows the tests down.
        informer = Informer(
            kube, resource, namespace, backoff=ExponentialBackoff(base=0.1, cap=1.0), **options
        )
        recorder = Recorder()
        informer.add_handler(recorder)
        started.append(informer)
        informer.start()
        assert informer.wait_for_sync(WAIT)
        return informer, recorder

    yield start
    for informer in started:
        informer.stop()


def lease(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata = {"name": name, "namespace": namespace, "labels": labels or {}}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": {}}


def test_sync_then_every_add_update_and_delete(
    kube: Kube, namespace: str, start_informer: Callable[..., tuple[Informer, Recorder]]
) -> None:
    kube.create(LEASES, lease("early", namespace))
    informer, changes = start_informer(LEASES, namespace)
    assert informer.has_synced()
    assert changes.next() == ("added", "early")
    assert informer.store.get("early", namespace) is not None

    kube.create(LEASES, lease("late", namespace))
    assert changes.next() == ("added", "late")
    kube.patch(LEASES, "late", {"spec": {"holderIdentity": "x"}}, PatchType.MERGE, namespace)
    update = changes.next_change()
    assert update.type == "updated"
    assert update.old is not None
    assert "holderIdentity" not in update.old["spec"]
    assert update.object["spec"]["holderIdentity"] == "x"
    kube.delete(LEASES, "early", namespace)
    assert changes.next() == ("deleted", "early")
    assert informer.store.get("early", namespace) is None
    assert [obj["metadata"]["name"] for obj in informer.store.list()] == ["late"]
    assert informer.store.get("late", namespace) == update.object


def test_selectors_scope_the_cache_and_indexes_group_it(
    kube: Kube, namespace: str, start_informer: Callable[..., tuple[Informer, Recorder]]
) -> None:
    kube.create(LEASES, lease("a1", namespace, {"app": "a", "tier": "model"}))
    kube.create(LEASES, lease("b1", namespace, {"app": "b", "tier": "model"}))
    kube.create(LEASES, lease("other", namespace, {"tier": "web"}))
    informer, changes = start_informer(LEASES, namespace, label_selector="tier=model")
    informer.add_index("app", lambda obj: [obj["metadata"]["labels"]["app"]])
    kube.create(LEASES, lease("a2", namespace, {"app": "a", "tier": "model"}))
    assert sorted(changes.next() for _ in range(3)) == [("added", "a1"), ("added", "a2"), ("added", "b1")]
    assert [obj["metadata"]["name"] for obj in informer.store.by_index("app", "a")] == ["a1", "a2"]
    kube.delete(LEASES, "a1", namespace)
    assert changes.next() == ("deleted", "a1")
    assert [obj["metadata"]["name"] for obj in informer.store.by_index("app", "a")] == ["a2"]
    assert informer.store.by_index("app", "web") == []
    assert len(informer.store) == 2


def test_resync_replays_the_cache_as_updates(
    kube: Kube, namespace: str, start_informer: Callable[..., tuple[Informer, Recorder]]
) -> None:
    kube.create(LEASES, lease("one", namespace))
    _, changes = start_informer(LEASES, namespace, resync_period=0.2)
    assert changes.next() == ("added", "one")
    resync = changes.next_change()
    assert (resync.type, resync.old) == ("updated", resync.object)


def test_stop_ends_a_long_watch(kube: Kube, namespace: str) -> None:
    informer = Informer(kube, LEASES, namespace, watch_timeout=300)
    informer.start()
    assert informer.wait_for_sync(WAIT)
    informer.stop()  # returns only once the watching thread has ended


# --- a real 410 Gone ----------------------------------------------------------------------------

WIDGETS = Resource("runtime-test.modelops.io", "v1", "widgets", "Widget", namespaced=True)


def widget_crd(path: Path) -> Path:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{WIDGETS.plural}.{WIDGETS.group}"},
        "spec": {
            "group": WIDGETS.group,
            "scope": "Namespaced",
            "names": {"plural": WIDGETS.plural, "singular": "widget", "kind": WIDGETS.kind},
            "versions": [
                {
                    "name": WIDGETS.version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    path.write_text(yaml.safe_dump(crd))
    return path


def delete_crd(kube: Kube) -> None:
    name = f"{WIDGETS.plural}.{WIDGETS.group}"
    try:
        kube.delete(CUSTOM_RESOURCE_DEFINITIONS, name)
    except NotFound:
        return
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            kube.get(CUSTOM_RESOURCE_DEFINITIONS, name)
        except NotFound:
            return
        time.sleep(0.1)
    raise TimeoutError(f"CRD {name} still there after {WAIT} s")


def widget(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": WIDGETS.api_version,
        "kind": WIDGETS.kind,
        "metadata": {"name": name, "namespace": namespace},
    }


def test_relists_after_a_real_gone_when_the_crd_is_recreated(
    kube: Kube,
    api_client: ApiClient,
    namespace: str,
    tmp_path: Path,
    start_informer: Callable[..., tuple[Informer, Recorder]],
) -> None:
    """Re-creating a CRD starts a new watch cache, so the informer's old version is now too old.

    The informer is watching from version v. The CRD is deleted (its objects go with it) and
    installed again; the API server's new watch cache begins at a version above v, so the
    informer's next watch is answered 410 Gone — by the server, nothing injected — and the
    informer must list again to see the widget created meanwhile.
    """
    crd = widget_crd(tmp_path / "widget-crd.yaml")
    install_crds(api_client, modelrollout=False, gateway_api=False, files=(crd,))
    try:
        kube.create(WIDGETS, widget("before", namespace))
        informer, changes = start_informer(WIDGETS, namespace)
        assert changes.next() == ("added", "before")
        assert informer.relists == 1

        delete_crd(kube)
        assert changes.next() == ("deleted", "before")
        install_crds(api_client, modelrollout=False, gateway_api=False, files=(crd,))
        kube.create(WIDGETS, widget("after", namespace))

        assert changes.next() == ("added", "after")
        assert informer.relists == 2
        assert [obj["metadata"]["name"] for obj in informer.store.list()] == ["after"]
    finally:
        delete_crd(kube)
