"""Lease-based leader election (coordination.k8s.io/v1), following client-go's leaderelection.

Why: two controller replicas run for fast fail-over, and two replicas reconciling one rollout
would fight over weights and status. Exactly one may write: the replica whose identity is the
Lease's ``holderIdentity`` and who renewed it recently enough. Defaults as client-go:

- ``lease_duration`` 15 s: a candidate may take over a Lease whose record it has seen unchanged
  for this long — measured on the candidate's own monotonic clock from when *it* first saw that
  record, never by comparing its wall clock with the holder's ``renewTime`` (clock skew);
- ``renew_deadline`` 10 s: the holder gives up if it could not renew for this long;
- ``retry_period`` 2 s: the pause between tries (acquire: × a random 1–1.2 jitter).

The exact rule of :meth:`LeaderElector.still_leader`, which the controller asks before every
write: it is leading, and less than ``renew_deadline`` has passed since the *start* of its last
successful acquire or renew request. Why the start: the server stored that record at some moment
after the request began, so no candidate saw it earlier, and none takes over before
``lease_duration`` after seeing it. A write begun while ``still_leader()`` is True therefore has
``lease_duration − renew_deadline`` = 5 s to reach the server before another replica can lead
(assuming clocks that run at the same rate, as client-go does). The renew loop declares the
lease lost by the same deadline, so the flag and the loop never disagree for long.

Writes are optimistic: the Lease is read, then replaced with its resourceVersion; a 409 means
another replica wrote first, and the try simply fails. On a clean stop the holder releases the
Lease (``holderIdentity`` cleared), so a successor takes over at its next try instead of waiting
out the lease. A candidate that watches the Lease (the manager does, when it may) is told of the
release by :meth:`LeaderElector.lease_changed` and tries at once instead of at the end of its
retry pause (up to 2.4 s later): only *when* it tries changes, never the rules of a try, so the
argument above holds as it is. A watch that fails or is not allowed changes nothing but that
timing. After losing the Lease the elector does not run for it again: :meth:`run`
returns, and the process is expected to exit and be restarted clean (client-go's advice too).
"""

from __future__ import annotations

import math
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from rollouts.runtime.clock import Clock, MonotonicClock
from rollouts.runtime.kube import LEASES, Conflict, Kube, KubeError, NotFound, Timeout

JITTER = 1.2
"""Acquire tries are ``retry_period`` × a random factor in [1, JITTER) apart, as client-go."""

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LeaseTiming:
    """How long a Lease lasts, how long the holder may fail to renew, and how often to try."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period * JITTER > 0:
            raise ValueError(
                "need lease_duration > renew_deadline > retry_period × 1.2 > 0, got "
                f"{self.lease_duration}, {self.renew_deadline}, {self.retry_period}"
            )

    @property
    def lease_seconds(self) -> int:
        """``leaseDurationSeconds`` as written in the Lease (whole seconds, rounded up)."""
        return math.ceil(self.lease_duration)


@dataclass(frozen=True)
class LeaderRecord:
    """The Lease's spec as the election reads and writes it; ``holder`` "" means free."""

    holder: str
    lease_seconds: int
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_lease(cls, lease: dict[str, Any]) -> LeaderRecord:
        """Read a Lease object's spec (missing fields as a free Lease would have them)."""
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            lease_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> dict[str, Any]:
        """The Lease spec to write."""
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.lease_seconds,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


# --- the rules, as pure functions ------------------------------------------------------------


def may_claim(record: LeaderRecord, identity: str, observed_at: float, now: float) -> bool:
    """Whether ``identity`` may write itself as holder of a Lease holding ``record``.

    Yes if it holds it already, if nobody does, or if the record has not changed for the
    holder's own ``leaseDurationSeconds`` since this candidate first observed it (``observed_at``,
    on this candidate's monotonic clock).
    """
    return record.holder in ("", identity) or now >= observed_at + record.lease_seconds


def claim(record: LeaderRecord | None, identity: str, wall_time: str, timing: LeaseTiming) -> LeaderRecord:
    """The record to write to acquire or renew: a renewal keeps acquireTime and the transition count."""
    if record is not None and record.holder == identity:
        return LeaderRecord(
            identity, timing.lease_seconds, record.acquire_time, wall_time, record.transitions
        )
    transitions = 0 if record is None else record.transitions + 1
    return LeaderRecord(identity, timing.lease_seconds, wall_time, wall_time, transitions)


def release(record: LeaderRecord, wall_time: str) -> LeaderRecord:
    """The record that gives the Lease up: no holder, so any candidate may claim it at once."""
    return LeaderRecord("", 1, wall_time, wall_time, record.transitions)


def within_deadline(last_renew_started: float | None, now: float, timing: LeaseTiming) -> bool:
    """The still-leader rule: a successful acquire/renew began less than ``renew_deadline`` ago."""
    return last_renew_started is not None and now < last_renew_started + timing.renew_deadline


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime: ``2026-11-28T06:24:17.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def current_holder(kube: Kube, name: str, namespace: str) -> str | None:
    """Who holds the Lease ``namespace/name`` as the API server has it (None: no Lease, or released)."""
    try:
        lease = kube.get(LEASES, name, namespace)
    except NotFound:
        return None
    return LeaderRecord.from_lease(lease).holder or None


def default_identity() -> str:
    """Host name plus a random suffix, unique per process (use the pod name in a cluster)."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _nothing() -> None:
    """A callback that does nothing."""


# --- the elector ------------------------------------------------------------------------------


class LeaderElector:
    """Campaigns for one Lease in a thread, leads until stopped or the Lease is lost.

    ``on_started_leading`` and ``on_stopped_leading`` run on the elector's thread; keep them
    short (set an event). :meth:`still_leader` is cheap and thread-safe.
    """

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str | None = None,
        *,
        timing: LeaseTiming | None = None,
        clock: Clock | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_started_leading: Callable[[], None] = _nothing,
        on_stopped_leading: Callable[[], None] = _nothing,
    ) -> None:
        self.identity = identity or default_identity()
        self.namespace = namespace
        self.name = name
        self._timing = timing or LeaseTiming()
        # A Lease call that outlasts half the renew deadline would leave too little time to retry.
        half = self._timing.renew_deadline / 2
        self._kube = Kube(kube.api_client, Timeout(connect=min(half, kube.timeout.connect), read=half))
        self._clock = clock or MonotonicClock()
        self._wall_clock = wall_clock
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._changed = threading.Condition()
        self._stopping = False
        self._release_on_stop = True
        self._leading = False
        self._last_renew_started: float | None = None
        self._released_seen = False
        """Told by the Lease watch that the Lease was released: the next acquire wait ends at once."""
        self._observed: LeaderRecord | None = None
        self._observed_at = 0.0
        self._thread: threading.Thread | None = None
        self._log = log.bind(lease=f"{namespace}/{name}", identity=self.identity)

    # --- what callers ask

    @property
    def is_leader(self) -> bool:
        """Whether this elector currently considers itself the leader (see :meth:`still_leader`)."""
        with self._changed:
            return self._leading

    def still_leader(self) -> bool:
        """True while leading and the last successful renew began less than renew_deadline ago."""
        with self._changed:
            return self._leading and within_deadline(
                self._last_renew_started, self._clock.now(), self._timing
            )

    def wait_until_leading(self, timeout: float | None = None) -> bool:
        """Block until leading (True), stopped, or ``timeout`` clock seconds passed (False)."""
        with self._changed:
            deadline = None if timeout is None else self._clock.now() + timeout
            while not self._leading and not self._stopping:
                now = self._clock.now()
                if deadline is not None and now >= deadline:
                    return False
                self._clock.wait(self._changed, None if deadline is None else deadline - now)
            return self._leading

    def lease_changed(self, record: LeaderRecord) -> None:
        """The Lease as a watch saw it: if nobody holds it, a candidate tries now (thread-safe)."""
        if record.holder != "":
            return  # a renewal or a takeover: nothing to try before the usual retry
        with self._changed:
            self._released_seen = True
            self._changed.notify_all()

    # --- lifecycle

    def start(self) -> None:
        """Run :meth:`run` in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name=f"leader-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, release_lease: bool = True) -> None:
        """Stop campaigning or leading; release the Lease if held (``release_lease=False``: as a crash)."""
        with self._changed:
            self._stopping = True
            self._release_on_stop = release_lease
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def run(self) -> None:
        """Acquire the Lease, then renew it until stopped or lost; returns when no longer leading."""
        if not self._acquire():
            return
        self._set_leading(True)
        self._log.info("started leading")
        try:
            self._on_started()
            self._renew()
        finally:
            self._set_leading(False)
            if self._stopping and self._release_on_stop:
                self._release()
            self._on_stopped()

    # --- the loop

    def _acquire(self) -> bool:
        while not self._stopped_during(0):
            started = self._clock.now()
            if self._try_claim(started):
                with self._changed:
                    self._last_renew_started = started
                return True
            self._stopped_during(self._timing.retry_period * random.uniform(1.0, JITTER), until_released=True)
        return False

    def _renew(self) -> None:
        while not self._stopped_during(self._timing.retry_period):
            started = self._clock.now()
            if self._try_claim(started):
                with self._changed:
                    self._last_renew_started = started
            elif not self.still_leader():
                self._log.warning("lost leadership", renew_deadline=self._timing.renew_deadline)
                return

    def _try_claim(self, now: float) -> bool:
        """One read-then-write of the Lease; False if someone else holds it or a call failed."""
        try:
            try:
                lease = self._kube.get(LEASES, self.name, self.namespace)
            except NotFound:
                record = claim(None, self.identity, micro_time(self._wall_clock()), self._timing)
                lease = {
                    "apiVersion": LEASES.api_version,
                    "kind": LEASES.kind,
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": record.spec(),
                }
                self._kube.create(LEASES, lease)
                self._observe(record, now)
                return True
            current = LeaderRecord.from_lease(lease)
            if current != self._observed:
                self._observe(current, now)
            if not may_claim(current, self.identity, self._observed_at, now):
                return False
            record = claim(current, self.identity, micro_time(self._wall_clock()), self._timing)
            self._kube.replace(LEASES, {**lease, "spec": record.spec()})
            self._observe(record, now)
            return True
        except Conflict:
            return False  # another replica wrote between our read and write
        except KubeError as error:
            self._log.warning("lease call failed", error=str(error))
            return False

    def _release(self) -> None:
        try:
            lease = self._kube.get(LEASES, self.name, self.namespace)
            current = LeaderRecord.from_lease(lease)
            if current.holder == self.identity:
                record = release(current, micro_time(self._wall_clock()))
                self._kube.replace(LEASES, {**lease, "spec": record.spec()})
                self._log.info("released lease")
        except KubeError as error:
            self._log.warning("could not release lease; a successor waits for it to expire", error=str(error))

    def _observe(self, record: LeaderRecord, now: float) -> None:
        self._observed = record
        self._observed_at = now

    def _set_leading(self, leading: bool) -> None:
        with self._changed:
            self._leading = leading
            self._changed.notify_all()

    def _stopped_during(self, seconds: float, *, until_released: bool = False) -> bool:
        """Wait up to ``seconds`` (clock time) for a stop, or (``until_released``) a release seen.

        True if stopping.
        """
        with self._changed:
            deadline = self._clock.now() + seconds
            while (
                not self._stopping
                and not (until_released and self._released_seen)
                and (now := self._clock.now()) < deadline
            ):
                self._clock.wait(self._changed, deadline - now)
            if until_released:
                self._released_seen = False
            return self._stopping
