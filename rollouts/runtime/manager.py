"""The controller's main loop: elect, cache, and reconcile keys with a bounded pool of workers.

Why one place ties the runtime together: the order matters and is easy to get wrong.

1. **Cache.** Informers start at once, on every replica, leader or standby, and their handlers
   queue keys; a standby's caches therefore stay synced while it stands by ("warm standby"), so
   a new leader reconciles at once instead of spending a full list of the cluster first. The
   queue collects keys (deduplicated) that nobody takes until this replica leads.
2. **Elect.** With leader election on, the replica campaigns meanwhile. A standby does nothing
   but cache and campaign: no reconcile runs, and no write could leave it anyway (the write
   guard below refuses every write of a replica that does not hold the Lease). It reports ready
   once its caches have synced — "ready" means "could lead now", so a roll-out of the controller
   Deployment waits for the new replica to be warm before stopping an old one.
3. **Reconcile.** Only when *both* hold — this replica leads and every cache has synced, in
   either order (:func:`may_reconcile`) — do ``workers`` threads start taking keys from the
   :class:`WorkQueue` and call ``reconcile(key)``: no reconcile acts on a half-filled cache (a
   missing Deployment would look deleted). The keys queued while standing by are the whole
   fleet in scope, so every rollout is reconciled once right after a takeover. A result with
   ``requeue_after`` schedules the key again (the rollout's timers: next analysis window, step
   deadline); an exception is logged and the key retried with per-key back-off (a 409
   ``Conflict`` — the object changed since it was read — is retried the same way but is no
   error: it is logged at info and counted as ``result="requeue"``, not in the reconcile
   errors); a success resets the back-off. The queue guarantees one key is never reconciled
   by two workers at once.
4. **Stop.** On SIGTERM/SIGINT or :meth:`Manager.stop`: stop handing out keys, let in-flight
   reconciles finish, run what :meth:`Manager.on_shutdown` registered (a sender that acts on
   the reconciles' results stops after the last of them), stop the caches, then release the
   Lease — last, so no write can follow it. When the Lease is *lost* instead, the same happens
   without the release and :meth:`Manager.run` returns :attr:`Outcome.LOST_LEADERSHIP`: the
   process should exit and be restarted clean.

Writes go through :attr:`Manager.kube`, which asks the elector's ``still_leader()`` before every
write and refuses with :class:`~rollouts.runtime.kube.NotLeader` once the Lease may be lost.
That check cannot cover a write already past it when the process is paused (SIGSTOP, a long GC,
a frozen VM) and sent after a successor took over; so every write the controller makes also
carries a precondition that any successor's write to the same object invalidates (a
resourceVersion, JSON-patch ``test`` ops): the stale write meets a 409 instead of landing after
the successor's, and its retry meets the guard (docs/runtime.md, "High availability").
Every log line inside a reconcile carries ``key`` (``namespace/name``) via structlog's context.

How the controller plugs in::

    manager = Manager(kube, reconciler.reconcile, name="modelrollout", workers=4, metrics_port=8080,
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

from rollouts.runtime.clock import MonotonicClock
from rollouts.runtime.informer import Change, Informer
from rollouts.runtime.kube import LEASES, Conflict, Kube, KubeObject, ObjectTransform, Resource
from rollouts.runtime.leader import LeaderElector, LeaderRecord, LeaseTiming, default_identity
from rollouts.runtime.metrics import (
    ALL_INTERFACES,
    LOOPBACK,
    ControllerMetrics,
    MetricsServer,
    ResultLabel,
)
from rollouts.runtime.workqueue import WorkQueue

SYNC_POLL = 0.1
"""Seconds between checks that every cache has synced (only while starting)."""

SIGNAL_POLL = 1.0
"""Seconds the main thread waits at most before it looks again whether it was told to stop.

Why: Python runs a signal's handler on the main thread, once that thread runs Python code. A
lock wait without a timeout is woken by a signal only when the kernel delivers the signal to
that thread; delivered to another of the process's threads, SIGTERM would wait for the next
wake-up of the main thread. A 5-rollout bench run once saw a controller log nothing for 40 s
after its SIGTERM and die by SIGKILL (bench/results/scale.md, 2026-12-07, night); whether this
was the cause is not proven, so this bounds the wait in any case: a SIGTERM is acted on within
a second.
"""

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


def may_reconcile(*, leading: bool, synced: bool) -> bool:
    """Whether workers may take keys: this replica leads *and* every cache has synced.

    Either may come first: a standby syncs while it campaigns (a warm standby), and a replica
    that wins the Lease before its caches are full waits for them.
    """
    return leading and synced


def is_ready(*, ended: bool, synced: bool, leading: bool, serving: bool, warm: bool = True) -> bool:
    """``/readyz``: a standby once its caches synced and are warm (could lead now); a leader serving.

    ``warm``: the reconciler's own checks that the caches hold what a takeover reads
    (:meth:`Manager.add_warm_check`; the controller's: every rollout's pods are known). A standby
    that is synced but not warm would take over and then wait, rollout by rollout, for its caches;
    a roll-out of the controller Deployment should not stop the old leader for it yet. Never
    ready while stopping or after losing the Lease. A leader between winning the Lease and
    starting its workers is not ready yet, for a moment.
    """
    return not ended and synced and (serving or (not leading and warm))


CONFLICT_RETRIED = "the object changed since it was read; reconciling again"
"""The log line of a reconcile that met a 409: not an error (logs and campaigns count these)."""


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
        name: str = "controller",
        workers: int = 2,
        leader_election: LeaderElection | None = None,
        metrics_port: int | None = None,
        metrics_address: str = LOOPBACK,
        health_port: int | None = None,
        health_address: str = ALL_INTERFACES,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        clock = MonotonicClock()
        self.metrics = ControllerMetrics(
            name,
            workers,
            clock,
            self.still_leader,
            lease=leader_election.name if leader_election is not None else None,
        )
        """``name`` labels its series (``controller``, the queue's ``name``)."""
        self.queue = WorkQueue(clock=clock, observer=self.metrics.queue)
        kube = kube.observed(self.metrics.count_request)  # every request counted: informers, Lease too
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
        self._synced = False
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
        self._lease_watch = self._watch_lease(kube, self._elector) if self._elector is not None else None
        self.kube = kube.guarded(self.still_leader) if self._elector is not None else kube
        """The client for the reconciler: every write first checks :meth:`still_leader`."""
        self.metrics_server: MetricsServer | None = None
        """Serving while :meth:`run` runs, if a metrics port was given (with the probes too)."""
        self.health_server: MetricsServer | None = None
        """The probes-only server while :meth:`run` runs, if a health port was given."""
        self._on_shutdown: list[Callable[[], None]] = []
        self._warm_checks: list[Callable[[], bool]] = []
        self._warm = False
        """Latched by :meth:`ready` once the caches synced and every warm check held."""

    @staticmethod
    def _watch_lease(kube: Kube, elector: LeaderElector) -> Informer:
        """A watch on the Lease alone, telling the elector of each change (a release: try now).

        Not among the caches the workers wait for: it only makes a standby notice a release at
        once rather than at its next retry, and without it (a failed watch, an older Role without
        list and watch on leases) election works as before.
        """
        watch = Informer(kube, LEASES, elector.namespace, field_selector=f"metadata.name={elector.name}")

        def tell(change: Change) -> None:
            # A deleted Lease reads as a free one: the next try creates it.
            elector.lease_changed(LeaderRecord.from_lease({} if change.type == "deleted" else change.object))

        watch.add_handler(tell)
        return watch

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
        transform: ObjectTransform | None = None,
        relist_spacing: float = 0.0,
    ) -> Informer:
        """Cache ``resource`` and enqueue ``keys(obj)`` for every object that changes.

        ``transform``: what the cache keeps of each object; ``relist_spacing``: how soon after a
        list another may cut the watch (both: rollouts.runtime.informer.Informer).
        """
        informer = Informer(
            self._raw_kube,
            resource,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            resync_period=resync_period,
            transform=transform,
            relist_spacing=relist_spacing,
        )

        def enqueue(change: Change) -> None:
            for key in keys(change.object):
                self.queue.add(key)

        informer.add_handler(enqueue)
        self._informers.append(informer)
        return informer

    def add_warm_check(self, check: Callable[[], bool]) -> None:
        """Count a standby ready only once ``check()`` has also held (:func:`is_ready`).

        Latched: once every check held, later churn (a new rollout's pods being listed) does not
        take readiness back, so a warm standby's probe does not flap.
        """
        self._warm_checks.append(check)

    def on_shutdown(self, close: Callable[[], None]) -> None:
        """Call ``close`` when shutting down, once the workers have stopped (before the caches)."""
        self._on_shutdown.append(close)

    # --- state

    def still_leader(self) -> bool:
        """Whether this replica may write now (always, without leader election)."""
        return self._elector.still_leader() if self._elector is not None else True

    def ready(self) -> bool:
        """Standing by with synced caches, or leading with workers running (:func:`is_ready`)."""
        with self._state:
            if self._synced and not self._warm:
                self._warm = all(check() for check in self._warm_checks)
            return is_ready(
                ended=self._ended(),
                synced=self._synced,
                leading=self._leading,
                serving=self._serving,
                warm=self._warm,
            )

    def synced(self) -> bool:
        """Whether every informer has listed once (on a standby too: its caches are warm)."""
        with self._state:
            return self._synced

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
            for informer in self._informers:
                informer.start()  # leader or standby: a standby keeps its caches warm
            if self._lease_watch is not None:
                self._lease_watch.start()
            if self._elector is not None:
                log.info("campaigning for leadership", identity=self._elector.identity)
                self._elector.start()
            if self._sync_caches() and self._wait_until(
                lambda: may_reconcile(leading=self._leading, synced=self._synced)
            ):
                workers = [
                    threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
                    for index in range(self._worker_count)
                ]
                for worker in workers:
                    worker.start()
                with self._state:
                    self._serving = True
                log.info("workers started", workers=len(workers))
                while not self._ended():  # woken at least every second (SIGNAL_POLL)
                    self._wait_until(lambda: False, timeout=SIGNAL_POLL)
            with self._state:
                return Outcome.LOST_LEADERSHIP if self._lost else Outcome.STOPPED
        finally:
            self._shut_down(workers)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _sync_caches(self) -> bool:
        """Wait until every (started) informer has synced; False if stopped or the Lease lost first."""
        while not all(informer.has_synced() for informer in self._informers):
            self._wait_until(lambda: False, timeout=SYNC_POLL)
            if self._ended():
                return False
        with self._state:
            self._synced = True
            leading = self._leading
            self._state.notify_all()
        log.info("caches synced", informers=len(self._informers), leading=leading)
        return True

    def _shut_down(self, workers: list[threading.Thread]) -> None:
        with self._state:
            self._serving = False
        self.queue.shutdown()
        for worker in workers:
            worker.join()
        for close in self._on_shutdown:
            close()
        for informer in self._informers:
            informer.stop()
        if self._lease_watch is not None:
            self._lease_watch.stop()
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
        label = ResultLabel.ERROR
        self.metrics.active_workers.inc()
        try:
            result = self._reconcile(key)
        except Conflict as conflict:
            # Someone wrote the object after it was read: expected, not a failure. Read afresh,
            # after the same back-off, so two writers cannot spin against each other.
            log.info(CONFLICT_RETRIED, error=str(conflict))
            label = ResultLabel.REQUEUE
            self.queue.add_rate_limited(key)
        except Exception:
            log.exception("reconcile failed; retrying with back-off", failures=self.queue.failures(key) + 1)
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)
            label = ResultLabel.SUCCESS
            if result.requeue_after is not None:
                label = ResultLabel.REQUEUE_AFTER
                self.queue.add_after(key, result.requeue_after)
        finally:
            self.metrics.reconciled(label, time.monotonic() - started)
            self.metrics.active_workers.dec()
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
