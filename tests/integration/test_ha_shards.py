"""Two controller shards on one cluster: each rollout is reconciled by exactly one of them.

Each shard is the real controller (rollouts.controller.shell.app.build_manager) on a thread,
with a client that records every status write that *landed* (the API server answered 2xx) with
the resourceVersion it created — etcd's revision, so the writes of both shards can be put in
the order the server stored them. The rules under test (rollouts.controller.core.shards): a
labelled rollout is written by its shard only; an unlabelled one by neither sharded controller;
a rollout moved by relabelling is taken over by the new shard, and no write of the old shard
lands after the new shard's first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.api.timestamps import format_timestamp
from rollouts.controller.core.shards import SHARD_LABEL
from rollouts.controller.shell.app import ControllerOptions, build_manager
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, Kube, KubeObject, PatchType, Resource, Subresource
from rollouts.testbed import LocalCluster
from tests.support.controller import rollout_reader, wait_for
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"approve": {}}, {"setWeight": 100}]


@dataclass(frozen=True)
class Write:
    shard: str
    rollout: str
    version: int


@dataclass(frozen=True)
class RecordingKube(Kube):
    """A client that notes every status write of a rollout that the API server accepted."""

    shard: str = ""
    writes: list[Write] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def replace(
        self, resource: Resource, body: KubeObject, *, subresource: Subresource | None = None, **options: Any
    ) -> KubeObject:
        stored = super().replace(resource, body, subresource=subresource, **options)
        if resource == MODEL_ROLLOUTS and subresource == "status":
            with self.lock:
                name = stored["metadata"]["name"]
                self.writes.append(Write(self.shard, name, int(stored["metadata"]["resourceVersion"])))
        return stored


@contextmanager
def shard_controller(kube: Kube, namespace: str, shard: str, writes: list[Write]) -> Iterator[None]:
    recording = RecordingKube(kube.api_client, kube.timeout, shard=shard, writes=writes)
    manager = build_manager(recording, ControllerOptions(namespace=namespace, shard=shard))
    thread = threading.Thread(target=manager.run, kwargs={"handle_signals": False}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        manager.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), f"shard {shard} did not stop"


def _rollout(name: str, shard: str | None) -> dict[str, Any]:
    body = model_rollout(
        name, steps=STEPS, baseline=(f"{name}-v1", "v1"), candidate=(f"{name}-v2", "v2"), route=None
    )
    if shard is not None:
        body["metadata"]["labels"] = {SHARD_LABEL: shard}
    return body


def _step(obj: KubeObject) -> int:
    return int(obj.get("status", {}).get("currentStep") or 0)


def test_each_rollout_is_reconciled_by_its_shard_only_and_a_relabelled_one_moves(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    for name, shard in (("one", "blue"), ("two", "green"), ("three", None)):
        kube.create(DEPLOYMENTS, model_deployment(f"{name}-v1", "v1", replicas=4, app=name), namespace)
        kube.create(DEPLOYMENTS, model_deployment(f"{name}-v2", "v2", replicas=0, app=name), namespace)
        kube.create(MODEL_ROLLOUTS, _rollout(name, shard), namespace)
    writes: list[Write] = []
    one, two = rollout_reader(kube, "one", namespace), rollout_reader(kube, "two", namespace)
    with (
        shard_controller(kube, namespace, "blue", writes),
        shard_controller(kube, namespace, "green", writes),
    ):
        wait_for(one, lambda o: _step(o) == 1, 60, "rollout one (blue) at its approve gate")
        wait_for(two, lambda o: _step(o) == 1, 60, "rollout two (green) at its approve gate")
        assert {w.shard for w in writes if w.rollout == "one"} == {"blue"}
        assert {w.shard for w in writes if w.rollout == "two"} == {"green"}

        relabel = {"metadata": {"labels": {SHARD_LABEL: "green"}}}
        moved_at = int(
            kube.patch(MODEL_ROLLOUTS, "one", relabel, PatchType.MERGE, namespace)["metadata"][
                "resourceVersion"
            ]
        )
        approval = {"step": 1, "version": "v2", "requestedAt": format_timestamp(datetime.now(UTC))}
        kube.patch(MODEL_ROLLOUTS, "one", {"spec": {"approvals": [approval]}}, PatchType.MERGE, namespace)
        wait_for(one, lambda o: _step(o) >= 2, 60, "rollout one, moved to green, past its gate")

    assert "status" not in kube.get(MODEL_ROLLOUTS, "three", namespace), (
        "a sharded controller took an unlabelled rollout"
    )
    assert {w.shard for w in writes if w.rollout == "two"} == {"green"}
    after_move = [w for w in writes if w.rollout == "one" and w.version > moved_at]
    taken_over = min((w.version for w in after_move if w.shard == "green"), default=None)
    assert taken_over is not None, "green never wrote rollout one after it moved"
    late = [w for w in after_move if w.shard == "blue" and w.version > taken_over]
    assert late == [], f"blue's writes landed after green's first: {late}"
