"""The manager on a real kube-apiserver: triggers become reconciles, retries, timers, leadership.

The reconciler here is a recording stand-in for the controller's: it notes each key it is
given, can fail a key once or ask for a requeue, and logs one line so the ``key`` binding shows.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog

from rollouts.runtime.informer import object_key
from rollouts.runtime.kube import LEASES, Conflict, Kube, NotLeader, PatchType
from rollouts.runtime.leader import LeaderElector, LeaseTiming
from rollouts.runtime.logs import configure_logging
from rollouts.runtime.manager import CONFLICT_RETRIED, LeaderElection, Manager, Outcome, ReconcileResult

pytestmark = pytest.mark.cluster

WAIT = 30.0  # seconds before calling a wait hung; never a speed assertion
FAST = LeaseTiming(lease_duration=3, renew_deadline=2, retry_period=0.4)
SELECTOR = "app=model"  # the objects the tests create; the election's own Lease is not one


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    stream = io.StringIO()
    configure_logging("json", "debug", stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    structlog.reset_defaults()


class Recorder:
    """A reconcile function that records (who, key), optionally failing, conflicting (409) or
    requeueing once."""

    def __init__(
        self,
        who: str = "",
        fail_once: tuple[str, ...] = (),
        requeue_once: tuple[str, ...] = (),
        conflict_once: tuple[str, ...] = (),
    ) -> None:
        self.calls: list[tuple[str, str]] = []
        self._who = who
        self._fail_once = set(fail_once)
        self._requeue_once = set(requeue_once)
        self._conflict_once = set(conflict_once)
        self._changed = threading.Condition()

    def __call__(self, key: str) -> ReconcileResult:
        structlog.get_logger("test").info("reconciling")
        with self._changed:
            self.calls.append((self._who, key))
            self._changed.notify_all()
            if key in self._fail_once:
                self._fail_once.discard(key)
                raise RuntimeError(f"{key} failed on purpose")
            if key in self._conflict_once:
                self._conflict_once.discard(key)
                raise Conflict(f"{key} was modified since it was read", status=409, reason="Conflict")
            if key in self._requeue_once:
                self._requeue_once.discard(key)
                return ReconcileResult(requeue_after=0.05)
        return ReconcileResult()

    def wait_for(self, condition: Callable[[list[tuple[str, str]]], bool]) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: condition(self.calls), WAIT)

    def keys(self) -> list[str]:
        with self._changed:
            return [key for _, key in self.calls]


@contextmanager
def running(manager: Manager) -> Iterator[list[Outcome]]:
    """Run the manager in a thread; stop it and wait for its outcome on the way out."""
    outcome: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcome.append(manager.run(handle_signals=False)), daemon=True)
    thread.start()
    try:
        yield outcome
    finally:
        manager.stop()
        thread.join(WAIT)
        assert not thread.is_alive(), "the manager did not shut down"


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def lease(name: str, namespace: str) -> dict[str, Any]:
    metadata = {"name": name, "namespace": namespace, "labels": {"app": "model"}}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": {}}


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def test_changes_become_reconciles_with_retries_timers_metrics_and_keyed_logs(
    kube: Kube, namespace: str, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    first, second, third = f"{namespace}/first", f"{namespace}/second", f"{namespace}/third"
    kube.create(LEASES, lease("first", namespace))
    kube.create(LEASES, lease("third", namespace))
    reconcile = Recorder(fail_once=(first,), requeue_once=(second,), conflict_once=(third,))
    manager = Manager(kube, reconcile, workers=2, metrics_port=0)
    manager.informer(LEASES, namespace, keys=lambda obj: [object_key(obj)], label_selector=SELECTOR)
    with running(manager) as outcome:
        wait_until(manager.ready)
        assert reconcile.wait_for(
            lambda calls: [key for _, key in calls].count(first) == 2
        )  # failed, retried
        assert reconcile.wait_for(lambda calls: [key for _, key in calls].count(third) == 2)  # a 409, retried
        kube.create(LEASES, lease("second", namespace))
        assert reconcile.wait_for(lambda calls: [key for _, key in calls].count(second) == 2)  # requeued once
        assert manager.metrics_server is not None
        base = f"http://127.0.0.1:{manager.metrics_server.port}"
        status, metrics = get(f"{base}/metrics")
        assert status == 200
        assert 'controller_runtime_reconcile_errors_total{controller="controller"} 1.0' in metrics
        # the 409 is no error: a requeue
        assert 'controller_runtime_reconcile_total{controller="controller",result="requeue"} 1.0' in metrics
        assert 'controller_runtime_reconcile_time_seconds_count{controller="controller"}' in metrics
        assert 'workqueue_depth{name="controller"}' in metrics
        assert get(f"{base}/readyz") == (200, "ready")
        assert get(f"{base}/healthz") == (200, "ok")
    assert outcome == [Outcome.STOPPED]
    assert manager.queue.shutting_down

    lines = log_lines()
    inside = [line for line in lines if line["event"] == "reconciling"]
    assert {line["key"] for line in inside} == {first, second, third}
    (failure,) = [line for line in lines if line["event"].startswith("reconcile failed")]
    assert (failure["key"], failure["level"], failure["failures"]) == (first, "error", 1)
    (conflict,) = [line for line in lines if line["event"] == CONFLICT_RETRIED]
    assert (conflict["key"], conflict["level"]) == (third, "info")
    assert "failed on purpose" in json.dumps(failure["exception"])


def test_only_the_leader_reconciles_and_the_standby_takes_over_on_stop(kube: Kube, namespace: str) -> None:
    reconciles = {who: Recorder(who) for who in ("one", "two")}
    managers = {
        who: Manager(
            kube,
            reconciles[who],
            leader_election=LeaderElection(namespace, "controller", who, FAST),
        )
        for who in reconciles
    }
    for manager in managers.values():
        manager.informer(LEASES, namespace, keys=lambda obj: [object_key(obj)], label_selector=SELECTOR)
    kube.create(LEASES, lease("rollout", namespace))
    with running(managers["one"]) as first_outcome, running(managers["two"]):
        wait_until(lambda: any(manager.still_leader() for manager in managers.values()))
        leader, standby = ("one", "two") if managers["one"].still_leader() else ("two", "one")
        assert reconciles[leader].wait_for(bool)
        wait_until(managers[standby].ready)  # a warm standby is ready: it must not block a roll-out
        assert reconciles[standby].calls == []
        assert not managers[standby].still_leader()
        with pytest.raises(NotLeader):
            managers[standby].kube.create(LEASES, lease("from-standby", namespace))

        managers[leader].stop()
        assert reconciles[standby].wait_for(bool)
        assert managers[standby].still_leader()
    assert reconciles[leader].keys() == reconciles[standby].keys() == [f"{namespace}/rollout"]
    assert first_outcome == [Outcome.STOPPED]


def holder_and_standby(
    kube: Kube, namespace: str, timing: LeaseTiming
) -> tuple[LeaderElector, Recorder, Manager]:
    """An elector leading the Lease "controller" (stop it at the end) and a manager to stand by for it."""
    holder = LeaderElector(kube, namespace, "controller", "holder", timing=timing)
    holder.start()
    assert holder.wait_until_leading(WAIT)
    reconcile = Recorder()
    manager = Manager(
        kube, reconcile, leader_election=LeaderElection(namespace, "controller", "standby", timing)
    )
    return holder, reconcile, manager


def test_a_standby_keeps_its_caches_warm_and_reconciles_only_once_it_leads(
    kube: Kube, namespace: str
) -> None:
    kube.create(LEASES, lease("before", namespace))
    holder, reconcile, manager = holder_and_standby(kube, namespace, FAST)
    cache = manager.informer(LEASES, namespace, keys=lambda obj: [object_key(obj)], label_selector=SELECTOR)
    try:
        with running(manager):
            wait_until(manager.ready)  # ready as a standby only once its caches synced
            assert manager.synced()
            assert not manager.still_leader()
            assert cache.store.get("before", namespace) is not None
            kube.create(LEASES, lease("while-standing-by", namespace))
            wait_until(lambda: cache.store.get("while-standing-by", namespace) is not None)  # watching too
            assert reconcile.calls == []
            assert len(manager.queue) == 2  # the whole scope, queued for when it leads

            holder.stop()  # releases the Lease: the standby takes over with its caches full
            expected = {f"{namespace}/before", f"{namespace}/while-standing-by"}
            assert reconcile.wait_for(lambda calls: {key for _, key in calls} == expected)
            assert manager.still_leader()
    finally:
        holder.stop()


def test_a_standby_watching_the_lease_takes_over_on_release_without_waiting_for_its_next_try(
    kube: Kube, namespace: str
) -> None:
    # Retries 5 minutes apart, far past WAIT: only the Lease watch can make the standby try in time.
    slow = LeaseTiming(lease_duration=900, renew_deadline=600, retry_period=300)
    holder, reconcile, manager = holder_and_standby(kube, namespace, slow)
    manager.informer(LEASES, namespace, keys=lambda obj: [object_key(obj)], label_selector=SELECTOR)
    kube.create(LEASES, lease("queued", namespace))
    try:
        with running(manager):
            wait_until(manager.ready)  # standing by: it tried once, at start, and now waits 300 s
            assert not manager.still_leader()
            holder.stop()  # releases the Lease; the watch tells the standby
            assert reconcile.wait_for(bool)
            assert manager.still_leader()
            assert kube.get(LEASES, "controller", namespace)["spec"]["holderIdentity"] == "standby"
    finally:
        holder.stop()


def test_losing_the_lease_stops_the_workers_and_ends_run(kube: Kube, namespace: str) -> None:
    reconcile = Recorder()
    manager = Manager(kube, reconcile, leader_election=LeaderElection(namespace, "controller", "me", FAST))
    with running(manager) as outcome:
        wait_until(manager.still_leader)
        intruder = {"spec": {"holderIdentity": "intruder"}}
        kube.patch(LEASES, "controller", intruder, PatchType.MERGE, namespace)
        wait_until(lambda: bool(outcome))
        assert outcome == [Outcome.LOST_LEADERSHIP]
        assert not manager.ready()
        with pytest.raises(NotLeader):
            manager.kube.create(LEASES, lease("late", namespace))
    assert kube.get(LEASES, "controller", namespace)["spec"]["holderIdentity"] == "intruder"


def test_sigterm_shuts_down_cleanly_and_restores_the_handler(kube: Kube, namespace: str) -> None:
    before = signal.getsignal(signal.SIGTERM)
    manager = Manager(kube, Recorder())
    manager.informer(LEASES, namespace, keys=lambda obj: [object_key(obj)], label_selector=SELECTOR)

    def terminate_when_ready() -> None:
        wait_until(manager.ready)
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=terminate_when_ready, daemon=True)
    sender.start()
    assert manager.run() is Outcome.STOPPED  # on the main thread: handles signals
    sender.join(WAIT)
    assert signal.getsignal(signal.SIGTERM) is before
