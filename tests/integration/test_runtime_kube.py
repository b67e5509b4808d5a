"""kube.py against a real kube-apiserver: every verb, every patch type, and the error mapping."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    LEASES,
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_REVIEWS,
    AlreadyExists,
    ConfigError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    Kube,
    NotFound,
    NotLeader,
    PatchTestFailed,
    PatchType,
    Unavailable,
    WatchEvent,
    connect,
)
from rollouts.testbed import LocalCluster
from rollouts.testbed.cluster import free_ports
from tests.cases.rollouts import valid_rollout

pytestmark = pytest.mark.cluster


def lease(name: str, namespace: str, holder: str = "a") -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"holderIdentity": holder},
    }


def deployment(name: str, namespace: str) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "server", "image": "example.invalid/model:1", "env": [{"name": "A", "value": "1"}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


# --- connecting --------------------------------------------------------------------------------


def test_connect_without_configuration_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no cluster configuration"):
        connect(str(tmp_path / "missing.kubeconfig"))


def test_connect_to_a_server_that_is_not_there_says_where(testbed: LocalCluster, tmp_path: Path) -> None:
    config = yaml.safe_load(testbed.kubeconfig.read_text())
    (port,) = free_ports(1)
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path / "nowhere.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(Unavailable, match=f"unreachable: no answer from https://127.0.0.1:{port}"):
        connect(str(path))


# --- reads and writes ------------------------------------------------------------------------


def test_get_of_a_missing_object_is_not_found(kube: Kube, namespace: str) -> None:
    with pytest.raises(NotFound) as raised:
        kube.get(LEASES, "absent", namespace)
    assert (raised.value.status, raised.value.verb, raised.value.resource) == (404, "get", LEASES)
    assert str(raised.value).startswith(f"get leases.coordination.k8s.io {namespace}/absent: ")


def test_create_get_list_delete(kube: Kube, namespace: str) -> None:
    created = kube.create(LEASES, lease("one", namespace))
    assert kube.get(LEASES, "one", namespace)["metadata"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(AlreadyExists):
        kube.create(LEASES, lease("one", namespace))
    kube.delete(LEASES, "one", namespace)
    with pytest.raises(NotFound):
        kube.delete(LEASES, "one", namespace)


def test_list_pages_through_everything_and_fills_kind(kube: Kube, namespace: str) -> None:
    for index in range(5):
        kube.create(LEASES, lease(f"l{index}", namespace))
    listed = kube.list(LEASES, namespace, page_size=2)
    assert sorted(item["metadata"]["name"] for item in listed.items) == [f"l{i}" for i in range(5)]
    assert {(item["apiVersion"], item["kind"]) for item in listed.items} == {
        ("coordination.k8s.io/v1", "Lease")
    }
    assert int(listed.resource_version) > 0
    assert (
        kube.list(LEASES, namespace, field_selector="metadata.name=l3").items[0]["metadata"]["name"] == "l3"
    )


def test_a_metadata_only_list_carries_names_and_versions_but_no_spec(kube: Kube, namespace: str) -> None:
    for index in range(3):
        kube.create(LEASES, lease(f"m{index}", namespace))
    full = {item["metadata"]["name"]: item for item in kube.list(LEASES, namespace).items}
    listed = kube.list(LEASES, namespace, page_size=2, metadata_only=True)
    assert {item["metadata"]["name"] for item in listed.items} == set(full)
    for item in listed.items:
        assert "spec" not in item
        assert item["kind"] == "PartialObjectMetadata"
        assert (
            item["metadata"]["resourceVersion"]
            == full[item["metadata"]["name"]]["metadata"]["resourceVersion"]
        )
        assert item["metadata"]["namespace"] == namespace


def test_replace_with_a_stale_resource_version_is_a_conflict(kube: Kube, namespace: str) -> None:
    first = kube.create(LEASES, lease("one", namespace))
    kube.replace(LEASES, {**first, "spec": {"holderIdentity": "b"}})
    with pytest.raises(Conflict) as raised:
        kube.replace(LEASES, {**first, "spec": {"holderIdentity": "c"}})
    assert type(raised.value) is Conflict
    assert raised.value.status == 409


def test_delete_with_a_stale_resource_version_is_a_conflict(kube: Kube, namespace: str) -> None:
    first = kube.create(LEASES, lease("one", namespace))
    kube.patch(LEASES, "one", {"spec": {"holderIdentity": "b"}}, PatchType.MERGE, namespace)
    with pytest.raises(Conflict):
        kube.delete(LEASES, "one", namespace, resource_version=first["metadata"]["resourceVersion"])


def test_json_patch_test_op_guards_the_write(kube: Kube, namespace: str) -> None:
    kube.create(LEASES, lease("one", namespace, holder="a"))
    guarded = [
        {"op": "test", "path": "/spec/holderIdentity", "value": "a"},
        {"op": "replace", "path": "/spec/holderIdentity", "value": "b"},
    ]
    assert kube.patch(LEASES, "one", guarded, PatchType.JSON, namespace)["spec"]["holderIdentity"] == "b"
    with pytest.raises(PatchTestFailed) as raised:  # holder is now "b", not "a"
        kube.patch(LEASES, "one", guarded, PatchType.JSON, namespace)
    assert isinstance(raised.value, Conflict)
    assert raised.value.status == 422


def test_strategic_merge_patch_merges_containers_by_name(kube: Kube, namespace: str) -> None:
    kube.create(DEPLOYMENTS, deployment("model", namespace))
    env = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "server", "env": [{"name": "B", "value": "2"}]}]}}
        }
    }
    patched = kube.patch(DEPLOYMENTS, "model", env, PatchType.STRATEGIC, namespace)
    (container,) = patched["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "example.invalid/model:1"
    assert [item["name"] for item in container["env"]] == ["B", "A"]


def test_server_side_apply_conflicts_unless_forced(kube: Kube, namespace: str) -> None:
    intent = lease("one", namespace, holder="a")
    kube.patch(LEASES, "one", intent, PatchType.APPLY, namespace, field_manager="first")
    other = lease("one", namespace, holder="b")
    with pytest.raises(Conflict, match="conflict"):
        kube.patch(LEASES, "one", other, PatchType.APPLY, namespace, field_manager="second")
    forced = kube.patch(LEASES, "one", other, PatchType.APPLY, namespace, field_manager="second", force=True)
    assert forced["spec"]["holderIdentity"] == "b"


def test_patch_arguments_are_checked_before_sending(kube: Kube, namespace: str) -> None:
    with pytest.raises(TypeError):
        kube.patch(LEASES, "one", {"spec": {}}, PatchType.JSON, namespace)
    with pytest.raises(ValueError, match="field_manager"):
        kube.patch(LEASES, "one", {"spec": {}}, PatchType.APPLY, namespace)
    with pytest.raises(ValueError, match="force"):
        kube.patch(LEASES, "one", {"spec": {}}, PatchType.MERGE, namespace, force=True)


@pytest.mark.usefixtures("crds")
def test_status_is_written_only_through_its_subresource(kube: Kube, namespace: str) -> None:
    kube.create(MODEL_ROLLOUTS, valid_rollout("r", namespace), field_validation="Strict")
    status = {"status": {"observedGeneration": 1}}
    ignored = kube.patch(MODEL_ROLLOUTS, "r", status, PatchType.MERGE, namespace)
    assert "status" not in ignored
    written = kube.patch(MODEL_ROLLOUTS, "r", status, PatchType.MERGE, namespace, subresource="status")
    assert written["status"] == {"observedGeneration": 1}
    written["status"]["observedGeneration"] = 2
    replaced = kube.replace(MODEL_ROLLOUTS, written, subresource="status")
    assert replaced["status"] == {"observedGeneration": 2}


# --- refusals ----------------------------------------------------------------------------------


def test_strict_field_validation_names_each_unknown_field(kube: Kube, namespace: str) -> None:
    body = lease("one", namespace)
    body["spec"]["holder"] = "typo"
    body["metadata"]["labelz"] = {}
    with pytest.raises(Invalid) as raised:
        kube.create(LEASES, body, field_validation="Strict")
    assert {(cause.field, cause.reason) for cause in raised.value.causes} == {
        ("spec.holder", "UnknownField"),
        ("metadata.labelz", "UnknownField"),
    }
    assert "holder" not in kube.create(LEASES, body)["spec"]  # without Strict: pruned


@pytest.mark.usefixtures("crds")
def test_schema_and_cel_refusals_carry_their_causes(kube: Kube, namespace: str) -> None:
    body = valid_rollout("r", namespace)
    body["spec"]["steps"] = [{"setWeight": 50}, {"setWeight": 10}]  # CEL: weights non-decreasing
    body["spec"]["analysis"]["interval"] = "soon"  # schema: duration pattern
    with pytest.raises(Invalid) as raised:
        kube.create(MODEL_ROLLOUTS, body, field_validation="Strict")
    fields = {cause.field for cause in raised.value.causes}
    assert {"spec.steps", "spec.analysis.interval"} <= fields
    assert raised.value.status == 422


def test_a_user_without_rights_is_forbidden(testbed: LocalCluster, kube: Kube, namespace: str) -> None:
    kube.create(LEASES, lease("one", namespace))
    with connect(str(testbed.kubeconfig_for("alice", ["viewers"]))) as alice:
        with pytest.raises(Forbidden) as raised:
            alice.get(LEASES, "one", namespace)
        assert (raised.value.verb, raised.value.resource, raised.value.status) == ("get", LEASES, 403)
        assert 'User "alice" cannot get resource "leases"' in raised.value.message
        review = alice.create(
            SELF_SUBJECT_REVIEWS, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
        assert review["status"]["userInfo"]["username"] == "alice"
        assert "viewers" in review["status"]["userInfo"]["groups"]
        access = alice.create(
            SELF_SUBJECT_ACCESS_REVIEWS,
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {
                    "resourceAttributes": {
                        "group": "coordination.k8s.io",
                        "resource": "leases",
                        "verb": "update",
                        "namespace": namespace,
                    }
                },
            },
        )
        assert access["status"]["allowed"] is False


def test_a_write_guard_refuses_writes_before_sending(kube: Kube, namespace: str) -> None:
    follower = kube.guarded(lambda: False)
    with pytest.raises(NotLeader):
        follower.create(LEASES, lease("one", namespace))
    with pytest.raises(NotFound):  # reads still go out
        follower.get(LEASES, "one", namespace)


# --- watch -------------------------------------------------------------------------------------


def test_watch_reports_changes_after_the_listed_version(kube: Kube, namespace: str) -> None:
    kube.create(LEASES, lease("before", namespace))
    since = kube.list(LEASES, namespace).resource_version
    kube.create(LEASES, lease("one", namespace))
    kube.patch(LEASES, "one", {"spec": {"holderIdentity": "b"}}, PatchType.MERGE, namespace)
    kube.delete(LEASES, "one", namespace)
    seen: list[tuple[str, str]] = []
    with kube.watch(LEASES, namespace, resource_version=since, timeout_seconds=5) as stream:
        for event in stream:
            if event.type != "BOOKMARK":
                seen.append((event.type, event.object["metadata"]["name"]))
            if len(seen) == 3:
                break
    assert seen == [("ADDED", "one"), ("MODIFIED", "one"), ("DELETED", "one")]


def test_a_quiet_watch_still_gets_bookmarks_with_newer_versions(kube: Kube, namespace: str) -> None:
    """Bookmarks let a quiet watch resume from a recent version after it ends.

    kube-apiserver sends one about 2 s before the watch's deadline, carrying the newest version
    its Lease cache has processed — and not one that is not newer than what this watcher was
    sent. So a Lease in another namespace keeps changing while this watch sees no event at all.
    """
    since = kube.list(LEASES, namespace).resource_version
    name = f"elsewhere-{namespace}"
    kube.create(LEASES, lease(name, "default"))
    watching = threading.Event()

    def churn() -> None:
        while not watching.wait(0.2):
            kube.patch(
                LEASES, name, {"spec": {"holderIdentity": str(time.monotonic())}}, PatchType.MERGE, "default"
            )

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    try:
        with kube.watch(LEASES, namespace, resource_version=since, timeout_seconds=5) as stream:
            events = list(stream)  # the server ends the watch after 5 s
    finally:
        watching.set()
        churner.join()
        kube.delete(LEASES, name, "default")
    assert events, "kube-apiserver sends a bookmark before it ends a watch that allowed them"
    assert {event.type for event in events} == {"BOOKMARK"}
    assert int(events[-1].resource_version) > int(since)


@pytest.mark.usefixtures("crds")
def test_watch_from_a_version_the_server_no_longer_keeps_is_gone(kube: Kube, namespace: str) -> None:
    """The ModelRollout CRD's watch cache began when the CRD was installed, long after version 1."""
    with pytest.raises(Gone) as raised:
        list(kube.watch(MODEL_ROLLOUTS, namespace, resource_version="1", timeout_seconds=5))
    assert raised.value.status == 410


def test_closing_a_watch_from_another_thread_ends_it_quietly(kube: Kube, namespace: str) -> None:
    since = kube.list(LEASES, namespace).resource_version
    stream = kube.watch(LEASES, namespace, resource_version=since, bookmarks=False, timeout_seconds=60)
    events: list[WatchEvent] = []
    reader = threading.Thread(target=lambda: events.extend(stream), daemon=True)
    reader.start()
    stream.close()
    reader.join(10)
    assert not reader.is_alive()
    assert events == []
    kube.create(LEASES, lease("after", namespace))  # the pool still works
