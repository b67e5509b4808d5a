"""A load generator that splits requests between baseline and candidate as the router says.

In the test bed the pods are fake, so nothing routes real traffic by the HTTPRoute's weights;
this module does. It sends ``/predict`` requests at a fixed rate (open loop: a slow candidate
does not slow the schedule, exactly like real clients) and routes each one as a
:class:`~rollouts.traffic.base.Routing` read from a :data:`RoutingSource` says. The test bed's
source reads the HTTPRoute and applies the router's own reading of it
(:func:`rollouts.traffic.gateway_api.gateway_api_routing`), so the load follows exactly what
the controller reports:

- a request carrying every header of ``header_match`` goes to the candidate (a
  :class:`HeaderClient` makes a fraction of requests carry headers);
- any other goes to the candidate with probability ``share``, else to the baseline;
- a request that went to the baseline is *also* sent to the candidate with probability
  ``mirror``, with the header ``x-mirrored: true`` (the model server may label it): the
  request's outcome is the baseline's answer, the copy's outcome is counted apart
  (:attr:`LoadCounts.mirrored`), as a gateway discards a mirror's answer.

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
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

import requests

from rollouts.api.spec import HeaderMatch, HeaderMatchType
from rollouts.local.model_server.model import sample_features
from rollouts.testbed.process import hurried
from rollouts.traffic.base import Routing

RoutingSource = Callable[[], Routing]
"""Returns the routing in force now; may raise while the route is unreadable."""

ERROR = "error"
DROPPED = "dropped"
MIRRORED_HEADER = "x-mirrored"
"""Set to ``true`` on the mirror's copy of a request, so a model server can label it."""


def headers_match(headers: Mapping[str, str], match: tuple[HeaderMatch, ...]) -> bool:
    """Whether ``headers`` satisfy every entry of ``match`` (names case-insensitive); () never matches.

    A regular expression must match the whole value, as Envoy's header matcher does.

    >>> canary = HeaderMatch(name="X-Canary", value="internal")
    >>> headers_match({"x-canary": "internal"}, (canary,)), headers_match({"x-canary": "no"}, (canary,))
    (True, False)
    """
    if not match:
        return False
    lowered = {name.lower(): value for name, value in headers.items()}
    for entry in match:
        value = lowered.get(entry.name.lower())
        if value is None:
            return False
        if entry.type is HeaderMatchType.EXACT and value != entry.value:
            return False
        if entry.type is HeaderMatchType.REGULAR_EXPRESSION and re.fullmatch(entry.value, value) is None:
            return False
    return True


@dataclass(frozen=True)
class HeaderClient:
    """A client (internal users, a test harness) whose requests carry ``headers``: ``fraction`` of all."""

    headers: Mapping[str, str]
    fraction: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction {self.fraction} is outside [0, 1]")


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

    def draw(self, probability: float) -> bool:
        """True with ``probability``; no draw (so earlier runs replay the same) when it is 0."""
        return probability > 0 and self._draws.random() < probability


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
    """Times the routing source raised or returned a value outside [0, 1]; the last good routing stayed."""
    last_share_error: str | None = None
    mirrored: Mapping[str, int] = field(default_factory=dict)
    """Mirror copies sent to the candidate, by status (their answers are not the requests' outcomes)."""
    header_routed: int = 0
    """Requests sent to the candidate because their headers matched the header route."""

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
        routing: RoutingSource,
        *,
        header_client: HeaderClient | None = None,
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
        self._routing_source = routing
        self._header_client = header_client
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
        self._mirrored: Counter[str] = Counter()
        self._header_routed = 0
        self._routing = Routing(share=0.0)
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
                share=self._routing.share,
                share_errors=self._share_errors,
                last_share_error=self._last_share_error,
                mirrored=dict(self._mirrored),
                header_routed=self._header_routed,
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
            self._refresh_routing()
            self._share_read_at = now
        routing, client = self._routing, self._header_client
        headers: Mapping[str, str] = client.headers if client and self._picker.draw(client.fraction) else {}
        by_header = headers_match(headers, routing.header_match)
        to_candidate = by_header or self._picker.pick_candidate(routing.share)
        target = self.candidate if to_candidate else self.baseline
        mirror = not to_candidate and self._picker.draw(routing.mirror)
        body = {"features": sample_features(self._features)}
        with self._lock:
            self._sent[target.version] += 1
            self._header_routed += by_header
        if not self._slots.acquire(blocking=False):
            self._record(target, DROPPED)
        else:
            self._pool.submit(self._send, target, body, headers)
        if mirror:  # sent beside the request, as a gateway does: a slow mirror delays no answer
            if not self._slots.acquire(blocking=False):
                self._count_mirror(DROPPED)
            else:
                self._pool.submit(self._send_mirror, body, {**headers, MIRRORED_HEADER: "true"})

    def _refresh_routing(self) -> None:
        try:
            routing = self._routing_source()
            for name, value in (("share", routing.share), ("mirror", routing.mirror)):
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name} {value} is outside [0, 1]")
        except Exception as error:  # any failure of the source keeps the last good routing
            with self._lock:
                self._share_errors += 1
                self._last_share_error = f"{type(error).__name__}: {error}"
            return
        with self._lock:
            self._routing = routing

    def _send(self, target: Target, body: dict[str, list[float]], headers: Mapping[str, str]) -> None:
        try:
            self._record(target, self._post(target, body, headers))
        finally:
            self._slots.release()

    def _send_mirror(self, body: dict[str, list[float]], headers: Mapping[str, str]) -> None:
        try:
            self._count_mirror(self._post(self.candidate, body, headers))
        finally:
            self._slots.release()

    def _count_mirror(self, status: str) -> None:
        with self._lock:
            self._mirrored[status] += 1

    def _post(self, target: Target, body: dict[str, list[float]], headers: Mapping[str, str]) -> str:
        """One ``/predict`` request: its HTTP code, or ``"error"`` when there was no answer."""
        try:
            response = self._session().post(
                f"{target.url}/predict", json=body, headers=dict(headers), timeout=self._timeout
            )
            return str(response.status_code)
        except requests.RequestException:
            return ERROR

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
