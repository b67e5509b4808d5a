"""A load generator that splits requests between baseline and candidate as the router says.

In the test bed the pods are fake, so nothing routes real traffic by the HTTPRoute's weights;
this module does. It sends ``/predict`` requests at a fixed rate (open loop: a slow candidate
does not slow the schedule, exactly like real clients) and sends each one to the candidate with
probability *share*, read from a :data:`ShareSource` — a callable returning the candidate's
share in [0, 1] now. The test bed's source reads the HTTPRoute and applies the router's own
rule (:func:`rollouts.traffic.gateway_api.backend_share`), so the load follows exactly the share
the controller reports.

The choice of version and the request features come from seeded generators, so a run is
reproducible given the shares it saw. Every request is bounded: the generator stops after
``max_requests`` or ``duration_seconds``, whichever comes first, or when stopped; targets must
be loopback addresses. Counts per version and per status are kept for inspection: an HTTP code
(``"200"``, ``"500"``), ``"error"`` (no answer: refused, reset, timed out) or ``"dropped"``
(``max_in_flight`` requests were already waiting, so this one was never sent).
"""

from __future__ import annotations

import ipaddress
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

import requests

from rollouts.local.model_server.model import sample_features
from rollouts.testbed.process import hurried

ShareSource = Callable[[], float]
"""Returns the candidate's share of traffic now, in [0, 1]; may raise while the route is unreadable."""

ERROR = "error"
DROPPED = "dropped"


@dataclass(frozen=True)
class Target:
    """One version's server: its version label and base URL, which must be a loopback address."""

    version: str
    url: str

    def __post_init__(self) -> None:
        host = urlsplit(self.url).hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"load goes to loopback addresses only, not {self.url!r}")


class CohortPicker:
    """Seeded choice of cohort: the candidate with probability ``share``, else the baseline."""

    def __init__(self, seed: int) -> None:
        self._draws = random.Random(seed)

    def pick_candidate(self, share: float) -> bool:
        """True for the candidate; ``share`` 0 never picks it, 1 always does."""
        return self._draws.random() < share


@dataclass(frozen=True)
class LoadCounts:
    """What a load generator has done so far."""

    sent: Mapping[str, int] = field(default_factory=dict)
    """Requests routed to each version, answered or not (dropped ones included)."""
    outcomes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """``(version, status)`` → count, status an HTTP code, ``"error"`` or ``"dropped"``."""
    share: float = 0.0
    """The candidate share in force at the last request."""
    share_errors: int = 0
    """Times the share source raised or returned a value outside [0, 1]; the last good share stayed."""
    last_share_error: str | None = None

    def outcome(self, version: str, status: str) -> int:
        """How many requests to ``version`` ended with ``status``."""
        return self.outcomes.get((version, status), 0)

    @property
    def answered(self) -> int:
        """Requests that got an HTTP answer, of any code."""
        return sum(count for (_, status), count in self.outcomes.items() if status not in (ERROR, DROPPED))


class LoadGenerator:
    """Sends ``/predict`` requests at ``rate`` per second in a background thread until bounded or stopped.

    ``max_in_flight`` worker threads send the requests, each with its own HTTP session; when all
    are busy (the servers cannot keep up) a request is counted ``"dropped"`` instead of queued, so
    the schedule never drifts and memory stays bounded.
    """

    def __init__(
        self,
        baseline: Target,
        candidate: Target,
        share: ShareSource,
        *,
        rate: float = 20.0,
        max_requests: int = 100_000,
        duration_seconds: float | None = None,
        seed: int = 0,
        share_refresh_seconds: float = 1.0,
        request_timeout: float = 5.0,
        max_in_flight: int = 8,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number of requests per second, got {rate}")
        if max_requests < 1 or max_in_flight < 1:
            raise ValueError("max_requests and max_in_flight must be at least 1")
        if baseline.version == candidate.version:
            raise ValueError(f"baseline and candidate are the same version: {baseline.version}")
        self.baseline = baseline
        self.candidate = candidate
        self._share_source = share
        self._rate = rate
        self._max_requests = max_requests
        self._duration = duration_seconds
        self._share_refresh = share_refresh_seconds
        self._timeout = request_timeout
        self._picker = CohortPicker(seed)
        self._features = random.Random(seed + 1)
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="loadgen")
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._sent: Counter[str] = Counter()
        self._outcomes: Counter[tuple[str, str]] = Counter()
        self._share = 0.0
        self._share_read_at = -math.inf
        self._share_errors = 0
        self._last_share_error: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadgen-schedule", daemon=True)

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LoadGenerator:
        """Begin sending; returns ``self``."""
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a bounded run to finish (all requests answered); True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> LoadCounts:
        """Stop scheduling, let requests in flight finish (each bounded by ``request_timeout``).

        Once a second shutdown signal hurries the process (rollouts.testbed.process), it stops
        waiting for them: the servers are about to be killed, which ends those requests.
        """
        self._stopping.set()
        while self._thread.is_alive() and not hurried():
            self._thread.join(0.1)
        return self.counts()

    def counts(self) -> LoadCounts:
        """A snapshot of the counts so far."""
        with self._lock:
            return LoadCounts(
                sent=dict(self._sent),
                outcomes=dict(self._outcomes),
                share=self._share,
                share_errors=self._share_errors,
                last_share_error=self._last_share_error,
            )

    def _run(self) -> None:
        started = time.monotonic()
        try:
            for index in range(self._max_requests):
                due = started + index / self._rate
                if self._duration is not None and due - started >= self._duration:
                    break
                if self._stopping.wait(max(0.0, due - time.monotonic())):
                    break
                self._dispatch(due)
        finally:
            self._pool.shutdown(wait=True)
            for session in self._sessions:
                session.close()

    def _dispatch(self, now: float) -> None:
        if now - self._share_read_at >= self._share_refresh:
            self._refresh_share()
            self._share_read_at = now
        target = self.candidate if self._picker.pick_candidate(self._share) else self.baseline
        body = {"features": sample_features(self._features)}
        with self._lock:
            self._sent[target.version] += 1
        if not self._slots.acquire(blocking=False):
            self._record(target, DROPPED)
            return
        self._pool.submit(self._send, target, body)

    def _refresh_share(self) -> None:
        try:
            share = float(self._share_source())
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"share {share} is outside [0, 1]")
        except Exception as error:  # any failure of the source keeps the last good share
            with self._lock:
                self._share_errors += 1
                self._last_share_error = f"{type(error).__name__}: {error}"
            return
        with self._lock:
            self._share = share

    def _send(self, target: Target, body: dict[str, list[float]]) -> None:
        try:
            response = self._session().post(f"{target.url}/predict", json=body, timeout=self._timeout)
            self._record(target, str(response.status_code))
        except requests.RequestException:
            self._record(target, ERROR)
        finally:
            self._slots.release()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _record(self, target: Target, status: str) -> None:
        with self._lock:
            self._outcomes[(target.version, status)] += 1
