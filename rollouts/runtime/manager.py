"""The controller's main loop: elect, cache, and reconcile keys with a bounded pool of workers.

Why one place ties the runtime together: the order matters and is easy to get wrong.

1. **Elect.** With leader election on, nothing else starts until this replica holds the Lease;
   a standby replica only campaigns (and reports ready, so a Deployment roll-out of the
   controller is not blocked by it).
2. **Cache.** Informers start and the workers wait until every cache has synced, so no
   reconcile acts on a half-filled cache (a missing Deployment would look deleted).
3. **Reconcile.** ``workers`` threads take keys from the :class:`WorkQueue` and call
   ``reconcile(key)``. A result with ``requeue_after`` schedules the key again (the rollout's
   timers: next analysis window, step deadline); an exception is logged and the key retried
   with per-key back-off; a success resets the back-off. The queue guarantees one key is never
   reconciled by two workers at once.
4. **Stop.** On SIGTERM/SIGINT or :meth:`Manager.stop`: stop handing out keys, let in-flight
   reconciles finish, stop the caches, then release the Lease — last, so no write can follow it.
   When the Lease is *lost* instead, the same happens without the release and :meth:`Manager.run`
   returns :attr:`Outcome.LOST_LEADERSHIP`: the process should exit and be restarted clean.

Writes go through :attr:`Manager.kube`, which asks the elector's ``still_leader()`` before every
write and refuses with :class:`~rollouts.runtime.kube.NotLeader` once the Lease may be lost.
Every log line inside a reconcile carries ``key`` (``namespace/name``) via structlog's context.

How the controller plugs in::

    manager = Manager(kube, reconciler.reconcile, workers=4, metrics_port=8080,
                      leader_election=LeaderElection(namespace="model-rollouts"))
    rollouts = manager.informer(RESOURCE, keys=lambda obj: [object_key(obj)])
    rollouts.add_index("deployment", deployments_named_by)        # rollout → "ns/deployment" keys
    manager.informer(DEPLOYMENTS, keys=lambda deployment: [
        object_key(rollout) for rollout in rollouts.store.by_index("deployment", object_key(deployment))])
    sys.exit(0 if manager.run() is Outcome.STOPPED else 1)
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from types import FrameType

import structlog

from rollouts.runtime.informer import Change, Informer
from rollouts.runtime.kube import Kube, KubeObject, Resource
from rollouts.runtime.leader import LeaderElector, LeaseTiming, default_identity
from rollouts.runtime.metrics import ALL_INTERFACES, LOOPBACK, ControllerMetrics, MetricsServer
from rollouts.runtime.workqueue import WorkQueue

SYNC_POLL = 0.1
"""Seconds between checks that every cache has synced (only while starting to lead)."""

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReconcileResult:
    """What a reconcile asks of the queue: look again after ``requeue_after`` seconds, or not."""

    requeue_after: float | None = None


Reconcile = Callable[[str], ReconcileResult]
"""``reconcile("namespace/name")``: do all the work for one rollout; raise to be retried."""

SignalHandler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None

KeysOf = Callable[[KubeObject], Iterable[str]]
"""Maps a changed object to the rollout keys that must be reconciled because of it."""


@dataclass(frozen=True)
class LeaderElection:
    """Which Lease to campaign for, as whom, and with which timings."""

    namespace: str
    name: str = "model-rollouts-controller"
    identity: str = field(default_factory=lambda: os.environ.get("POD_NAME") or default_identity())
    timing: LeaseTiming = field(default_factory=LeaseTiming)


class Outcome(Enum):
    """Why :meth:`Manager.run` returned."""

    STOPPED = "stopped"
    """A signal or :meth:`Manager.stop`: a clean shutdown, the Lease released."""
    LOST_LEADERSHIP = "lost-leadership"
    """The Lease could not be renewed in time: exit and let the process be restarted."""


class Manager:
    """Runs informers, the work queue and ``workers`` reconcile threads, under leader election.

    A manager runs once: :meth:`run` blocks until stopped, and its queue is shut down after.
    """

    def __init__(
        self,
        kube: Kube,
        reconcile: Reconcile,
        *,
        workers: int = 2,
        leader_election: LeaderElection | None = None,
        metrics_port: int | None = None,
        metrics_address: str = LOOPBACK,
        health_port: int | None = None,
        health_address: str = ALL_INTERFACES,
        queue: WorkQueue | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.queue = queue or WorkQueue()
        self._raw_kube = kube
        self._reconcile = reconcile
        self._worker_count = workers
        self._metrics_port = metrics_port
        self._metrics_address = metrics_address
        self._health_port = health_port
        self._health_address = health_address
        self._informers: list[Informer] = []
        self._state = threading.Condition(threading.RLock())  # re-entrant: signal handlers take it too
        self._stopping = False
        self._lost = False
        self._leading = leader_election is None
        self._serving = False
        self._elector = (
            LeaderElector(
                kube,
                leader_election.namespace,
                leader_election.name,
                leader_election.identity,
                timing=leader_election.timing,
                on_started_leading=self._started_leading,
                on_stopped_leading=self._stopped_leading,
            )
            if leader_election is not None
            else None
        )
        self.kube = kube.guarded(self.still_leader) if self._elector is not None else kube
        """The client for the reconciler: every write first checks :meth:`still_leader`."""
        self.metrics = ControllerMetrics(lambda: len(self.queue), self.queue.waiting, self.still_leader)
        self.metrics_server: MetricsServer | None = None
        """Serving while :meth:`run` runs, if a metrics port was given (with the probes too)."""
        self.health_server: MetricsServer | None = None
        """The probes-only server while :meth:`run` runs, if a health port was given."""

    # --- wiring (before run)

    def informer(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        keys: KeysOf,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
    ) -> Informer:
        """Cache ``resource`` and enqueue ``keys(obj)`` for every object that changes."""
        informer = Informer(
            self._raw_kube,
            resource,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            resync_period=resync_period,
        )

        def enqueue(change: Change) -> None:
            for key in keys(change.object):
                self.queue.add(key)

        informer.add_handler(enqueue)
        self._informers.append(informer)
        return informer

    # --- state

    def still_leader(self) -> bool:
        """Whether this replica may write now (always, without leader election)."""
        return self._elector.still_leader() if self._elector is not None else True

    def ready(self) -> bool:
        """Standing by as a candidate, or leading with synced caches and workers running."""
        with self._state:
            if self._stopping or self._lost:
                return False
            return self._serving or not self._leading

    def stop(self) -> None:
        """Ask :meth:`run` to shut down (thread-safe; what SIGTERM and SIGINT do)."""
        with self._state:
            self._stopping = True
            self._state.notify_all()

    # --- running

    def run(self, *, handle_signals: bool | None = None) -> Outcome:
        """Elect, sync, reconcile until stopped or the Lease is lost; then shut down in order.

        ``handle_signals`` (default: when called on the main thread) makes SIGTERM and SIGINT
        call :meth:`stop`; the previous handlers are restored on return.
        """
        if handle_signals is None:
            handle_signals = threading.current_thread() is threading.main_thread()
        previous = self._handle_signals() if handle_signals else {}
        workers: list[threading.Thread] = []
        if self._metrics_port is not None:
            self.metrics_server = MetricsServer(
                self.metrics, self.ready, self._metrics_port, self._metrics_address
            )
        if self._health_port is not None:
            self.health_server = MetricsServer(None, self.ready, self._health_port, self._health_address)
        try:
            if self._elector is not None:
                log.info("campaigning for leadership", identity=self._elector.identity)
                self._elector.start()
            if self._wait_until(lambda: self._leading) and self._sync_caches():
                workers = [
                    threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
                    for index in range(self._worker_count)
                ]
                for worker in workers:
                    worker.start()
                with self._state:
                    self._serving = True
                log.info("workers started", workers=len(workers))
                self._wait_until(lambda: False)
            with self._state:
                return Outcome.LOST_LEADERSHIP if self._lost else Outcome.STOPPED
        finally:
            self._shut_down(workers)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _sync_caches(self) -> bool:
        """Start the informers and wait until all have synced; False if stopped meanwhile."""
        for informer in self._informers:
            informer.start()
        while not all(informer.has_synced() for informer in self._informers):
            self._wait_until(lambda: False, timeout=SYNC_POLL)
            if self._ended():
                return False
        log.info("caches synced", informers=len(self._informers))
        return True

    def _shut_down(self, workers: list[threading.Thread]) -> None:
        with self._state:
            self._serving = False
        self.queue.shutdown()
        for worker in workers:
            worker.join()
        for informer in self._informers:
            informer.stop()
        if self._elector is not None:
            self._elector.stop()  # releases the Lease if still held: after the last write
        for server in (self.metrics_server, self.health_server):
            if server is not None:
                server.close()
        log.info("stopped", lost_leadership=self._lost)

    def _work(self) -> None:
        while (key := self.queue.get()) is not None:
            with structlog.contextvars.bound_contextvars(key=key):
                self._process(key)

    def _process(self, key: str) -> None:
        started = time.monotonic()
        try:
            result = self._reconcile(key)
        except Exception:
            self.metrics.reconcile_errors.inc()
            log.exception("reconcile failed; retrying with back-off", failures=self.queue.failures(key) + 1)
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)
            if result.requeue_after is not None:
                self.queue.add_after(key, result.requeue_after)
        finally:
            self.metrics.reconcile_duration.observe(time.monotonic() - started)
            self.queue.done(key)

    # --- elector callbacks, signals, waiting

    def _started_leading(self) -> None:
        with self._state:
            self._leading = True
            self._state.notify_all()

    def _stopped_leading(self) -> None:
        with self._state:
            self._leading = False
            if not self._stopping:
                self._lost = True
                log.error("lost leadership; shutting down")
            self._state.notify_all()

    def _handle_signals(self) -> dict[signal.Signals, SignalHandler]:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("shutting down", signal=signal.Signals(signum).name)
            self.stop()

        return {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}

    def _ended(self) -> bool:
        with self._state:
            return self._stopping or self._lost

    def _wait_until(self, condition: Callable[[], bool], timeout: float | None = None) -> bool:
        """Wait for ``condition`` unless stopped or the Lease is lost first; True if it holds."""
        with self._state:
            self._state.wait_for(lambda: self._ended() or condition(), timeout)
            return condition() and not self._ended()
