"""Run the real controller (manager, informers, reconciler) in the test process, and watch it work.

``running_controller(kubeconfig)`` starts a :class:`~rollouts.runtime.manager.Manager` built by
:func:`rollouts.controller.shell.app.build_manager` on a thread and stops it cleanly, so a test can
kill and restart it mid-rollout; :func:`reconciler_alone` builds just the reconciler, over caches
filled by hand, for tests that call ``reconcile`` themselves. :func:`wait_for` polls an object
until a condition holds, :class:`WeightRecorder` records every candidate weight an HTTPRoute
takes, :class:`ServingRecorder` every total of Ready pods the app has, and
:class:`SizeRecorder` and :class:`PodRecorder` every total of asked-for sizes and of existing
pods (a GPU budget's two measures), from watches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from rollouts.controller.shell.app import CONTROLLER_NAME, ControllerOptions, build_manager
from rollouts.controller.shell.prometheus_source import PrometheusProviders
from rollouts.controller.shell.reconciler import (
    DEPLOYMENT_INDEX,
    ROUTE_INDEX,
    VIRTUAL_SERVICE_INDEX,
    Caches,
    Reconciler,
)
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.informer import Store
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    PODS,
    Kube,
    KubeError,
    KubeObject,
    Resource,
    connect,
)
from rollouts.runtime.manager import Manager
from rollouts.runtime.reflector import Listed, Reflection


def reconciler_alone(
    kube: Kube, *, rollouts: Store | None = None, deployments: Store | None = None, **options: Any
) -> Reconciler:
    """A reconciler over caches filled by hand (empty unless given; rollouts indexed as app does,
    naming nothing else); ``options`` go to :class:`Reconciler` (``routers=``, ...)."""
    rollouts = Store() if rollouts is None else rollouts
    for index in (DEPLOYMENT_INDEX, ROUTE_INDEX, VIRTUAL_SERVICE_INDEX):
        rollouts.add_index(index, lambda rollout: [])  # nothing else names these objects
    caches = Caches(rollouts=rollouts, deployments=deployments or Store(), pods=Store(), nodes=Store())
    return Reconciler(kube, caches, PrometheusProviders(kube), clock=lambda: datetime.now(UTC), **options)


@contextmanager
def running_controller(
    kubeconfig: Path, namespace: str | None = None, workers: int = 2, metrics_port: int | None = None
) -> Iterator[Manager]:
    """The controller, running on a thread until the block ends (``metrics_port`` 0: any free port)."""
    kube = connect(str(kubeconfig))
    manager = build_manager(
        kube, ControllerOptions(workers=workers, namespace=namespace, metrics_port=metrics_port)
    )
    thread = threading.Thread(target=manager.run, kwargs={"handle_signals": False}, daemon=True)
    thread.start()
    try:
        yield manager
    finally:
        manager.stop()
        thread.join(timeout=30)
        kube.close()
        if thread.is_alive():
            raise RuntimeError("the controller did not stop within 30 s")


def wait_for(
    read: Callable[[], KubeObject],
    condition: Callable[[KubeObject], bool],
    timeout: float,
    what: str,
    interval: float = 0.25,
) -> KubeObject:
    """Poll ``read()`` until ``condition`` holds; AssertionError with the last state otherwise."""
    deadline = time.monotonic() + timeout
    last: KubeObject = {}
    while time.monotonic() < deadline:
        try:
            last = read()
        except KubeError:
            last = {}
        if last and condition(last):
            return last
        time.sleep(interval)
    status = last.get("status", {}) if last else {}
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last status: {status}")


def reconciles(manager: Manager) -> int:
    """How many reconciles the manager finished (its reconcile-time histogram's count)."""
    count = manager.metrics.registry.get_sample_value(
        "controller_runtime_reconcile_time_seconds_count", {"controller": CONTROLLER_NAME}
    )
    return int(count or 0)


def rollout_reader(kube: Kube, name: str, namespace: str) -> Callable[[], KubeObject]:
    """A function returning the rollout as the API server has it now."""
    return lambda: kube.get(MODEL_ROLLOUTS, name, namespace)


def phase(obj: KubeObject) -> str | None:
    """``status.phase`` of a rollout object."""
    value = obj.get("status", {}).get("phase")
    return str(value) if value is not None else None


def condition(obj: KubeObject, kind: str) -> dict[str, Any]:
    """One condition of a rollout object ({} when absent)."""
    for entry in obj.get("status", {}).get("conditions", []):
        if entry.get("type") == kind:
            return dict(entry)
    return {}


class _WatchRecorder:
    """Lists then watches one kind of object in a namespace on a thread, feeding ``_record``.

    The list+watch loop is the runtime's own (rollouts.runtime.reflector); an error (the API
    server restarting, in the safety campaign) resumes the watch from the last resourceVersion
    seen, so the events on either side of it are all recorded.
    """

    def __init__(
        self, kube: Kube, resource: Resource, namespace: str, field_selector: str | None = None
    ) -> None:
        self._kube = kube
        self._resource = resource
        self._namespace = namespace
        self._field_selector = field_selector
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        listed = self._kube.list(self._resource, self._namespace, field_selector=self._field_selector)
        for item in listed.items:  # a last event in flight
            self._record(item)

    def _record(self, obj: KubeObject) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        reflection = Reflection(
            self._kube,
            self._resource,
            self._namespace,
            field_selector=self._field_selector,
            watch_timeout=lambda: 2,
            stopped=self._stop.is_set,
        )
        while not self._stop.is_set():
            try:
                for seen in reflection:
                    if isinstance(seen, Listed):
                        for item in seen.items:
                            self._record(item)
                    elif seen.type in ("ADDED", "MODIFIED"):
                        self._record(seen.object)
                    elif seen.type == "DELETED":
                        self._record(_gone(seen.object))
            except KubeError:
                self._stop.wait(0.2)  # the API server is restarting: resume from the last version seen


def _gone(obj: KubeObject) -> KubeObject:
    """A deleted object as the recorders see it: nothing Ready, no weight."""
    return {**obj, "status": {}, "spec": {**obj.get("spec", {}), "replicas": 0}, "deleted": True}


class WeightRecorder(_WatchRecorder):
    """Records the candidate backend's weight of an HTTPRoute rule at every change, from a watch."""

    def __init__(self, kube: Kube, route: str, namespace: str, candidate: str) -> None:
        super().__init__(kube, HTTP_ROUTES, namespace, field_selector=f"metadata.name={route}")
        self._candidate = candidate
        self.weights: list[int] = []

    def _record(self, route: KubeObject) -> None:
        if route.get("deleted"):
            return
        for ref in route["spec"]["rules"][0]["backendRefs"]:
            if ref["name"] == self._candidate:
                weight = int(ref.get("weight", 1))
                if not self.weights or self.weights[-1] != weight:
                    self.weights.append(weight)


class ShareRecorder(_WatchRecorder):
    """Records the candidate's share (in whole percent) of one routing object at every change,
    by a share rule such as the routers' own (``share``), from a watch."""

    def __init__(
        self, kube: Kube, resource: Resource, name: str, namespace: str, share: Callable[[KubeObject], float]
    ) -> None:
        super().__init__(kube, resource, namespace, field_selector=f"metadata.name={name}")
        self._share = share
        self.weights: list[int] = []

    def _record(self, obj: KubeObject) -> None:
        if obj.get("deleted"):
            return
        weight = round(self._share(obj) * 100)
        if not self.weights or self.weights[-1] != weight:
            self.weights.append(weight)


class ServingRecorder(_WatchRecorder):
    """Records the app's Ready pods — the sum of ``readyReplicas`` over named Deployments — at
    every change, from a watch: the "never without serving pods" invariant reads ``lowest``.

    ``lowest`` counts only from the first moment the app served (so the start-up of a fresh
    namespace is not a violation).
    """

    def __init__(self, kube: Kube, namespace: str, deployments: tuple[str, ...]) -> None:
        super().__init__(kube, DEPLOYMENTS, namespace)
        self._names = deployments
        self._ready: dict[str, int] = {}
        self.totals: list[int] = []

    @property
    def lowest(self) -> int | None:
        """The fewest Ready pods seen once the app first served (None: it never served)."""
        served = next((i for i, total in enumerate(self.totals) if total > 0), None)
        return None if served is None else min(self.totals[served:])

    def _record(self, deployment: KubeObject) -> None:
        name = deployment["metadata"]["name"]
        if name not in self._names:
            return
        self._ready[name] = int(deployment.get("status", {}).get("readyReplicas") or 0)
        total = sum(self._ready.values())
        if not self.totals or self.totals[-1] != total:
            self.totals.append(total)


class SizeRecorder(_WatchRecorder):
    """Records the sum of ``spec.replicas`` over named Deployments at every change, from a watch."""

    def __init__(self, kube: Kube, namespace: str, deployments: tuple[str, ...]) -> None:
        super().__init__(kube, DEPLOYMENTS, namespace)
        self._names = deployments
        self._sizes: dict[str, int] = {}
        self.totals: list[int] = []

    def _record(self, deployment: KubeObject) -> None:
        name = deployment["metadata"]["name"]
        if name not in self._names:
            return
        self._sizes[name] = int(deployment.get("spec", {}).get("replicas") or 0)
        total = sum(self._sizes.values())
        if not self.totals or self.totals[-1] != total:
            self.totals.append(total)


class PodRecorder(_WatchRecorder):
    """Records how many pods of the namespace exist (Terminating ones too) at every change."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        super().__init__(kube, PODS, namespace)
        self._existing: set[str] = set()
        self.totals: list[int] = []

    def _record(self, pod: KubeObject) -> None:
        name = pod["metadata"]["name"]
        if pod.get("deleted"):
            self._existing.discard(name)
        else:
            self._existing.add(name)
        if not self.totals or self.totals[-1] != len(self._existing):
            self.totals.append(len(self._existing))
