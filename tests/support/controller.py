"""Run the real controller (manager, informers, reconciler) in the test process, and watch it work.

``running_controller(kubeconfig)`` starts a :class:`~rollouts.runtime.manager.Manager` built by
:func:`rollouts.controller.app.build_manager` on a thread and stops it cleanly, so a test can
kill and restart it mid-rollout. :func:`wait_for` polls an object until a condition holds, and
:class:`WeightRecorder` records every candidate weight an HTTPRoute takes, from a watch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rollouts.controller.app import ControllerOptions, build_manager
from rollouts.runtime.kube import HTTP_ROUTES, MODEL_ROLLOUTS, Kube, KubeError, KubeObject, connect
from rollouts.runtime.manager import Manager


@contextmanager
def running_controller(kubeconfig: Path, namespace: str | None = None, workers: int = 2) -> Iterator[Manager]:
    """The controller, running on a thread until the block ends."""
    kube = connect(str(kubeconfig))
    manager = build_manager(kube, ControllerOptions(workers=workers, namespace=namespace))
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


class WeightRecorder:
    """Records the candidate backend's weight of an HTTPRoute rule at every change, from a watch."""

    def __init__(self, kube: Kube, route: str, namespace: str, candidate: str) -> None:
        self._kube = kube
        self._route = route
        self._namespace = namespace
        self._candidate = candidate
        self.weights: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WeightRecorder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._record(self._kube.get(HTTP_ROUTES, self._route, self._namespace))  # a last event in flight

    def _record(self, route: KubeObject) -> None:
        for ref in route["spec"]["rules"][0]["backendRefs"]:
            if ref["name"] == self._candidate:
                weight = int(ref.get("weight", 1))
                if not self.weights or self.weights[-1] != weight:
                    self.weights.append(weight)

    def _run(self) -> None:
        listed = self._kube.list(HTTP_ROUTES, self._namespace, field_selector=f"metadata.name={self._route}")
        for item in listed.items:
            self._record(item)
        version = listed.resource_version
        while not self._stop.is_set():
            with self._kube.watch(
                HTTP_ROUTES,
                self._namespace,
                resource_version=version,
                field_selector=f"metadata.name={self._route}",
                timeout_seconds=2,
            ) as stream:
                for event in stream:
                    version = event.resource_version or version
                    if event.type in ("ADDED", "MODIFIED"):
                        self._record(event.object)
