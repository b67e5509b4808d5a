"""The controller's own metrics and probes, on small HTTP ports.

Why: an operator must see whether the controller keeps up (queue depth and latency, reconcile
duration), fails (reconcile errors) and which replica leads — and the kubelet must probe it. A
server serves ``/healthz`` (200 while the process runs) and ``/readyz`` (200 when the manager
says ready: standing by with synced caches, or leading with workers running; 503 while its
caches fill, while it starts to lead or shuts down), and, given the metrics, ``/metrics``
(Prometheus text). Each manager has its own registry, so several managers in one process
(tests) never collide on metric names.

The names and labels are those of Go controllers — controller-runtime's
``controller_runtime_reconcile_*``, client-go's ``workqueue_*``, ``rest_client_requests_total``
and ``leader_election_master_status`` — with their semantics, so the dashboards and alerts
people already run for Go controllers work unchanged (docs/operations.md lists every series):

- a reconcile is counted by result: ``success``, ``error`` (it raised), ``requeue`` (a 409
  Conflict, retried with back-off but no error: docs/runtime.md) or ``requeue_after`` (it asked
  to be looked at again later); every result label starts at 0, as controller-runtime does;
- the queue tells a :class:`WorkQueueMetrics` what happens to keys through the queue's
  observer hooks (rollouts.runtime.workqueue), timed on the queue's own clock;
- the process and the interpreter (``process_*``, ``python_*``) come from prometheus_client's
  collectors, registered on this registry (the default registry is never used).

What the controller costs is counted too: every request to the API server
(``rest_client_requests_total{code,method}``) — the manager hands its Kube client
:meth:`ControllerMetrics.count_request` — and every query sent to Prometheus
(``modelrollouts_prometheus_queries_total{result}``, labelled by outcome only: a label per
rollout or namespace would grow with the fleet). Prometheus queries are sent deep inside a
reconcile, by providers the controller builds once; the controller hands them
:meth:`ControllerMetrics.count_prometheus_query`. Series about each rollout are the
controller's business, not the runtime's: it registers its own collector on :attr:`registry`.

Where it listens is a security decision (docs/security.md): ``/metrics`` has no
authentication, so the metrics server binds to the loopback interface unless told otherwise,
while a probes-only server (no metrics) may listen on every interface for the kubelet, whose
probes come from the node, not from inside the pod.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from enum import StrEnum
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)

from rollouts.runtime.clock import Clock

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Seconds: a cached reconcile takes milliseconds; one with Prometheus queries, up to seconds."""

QUEUE_BUCKETS = tuple(10.0**exponent for exponent in range(-8, 2))
"""client-go's ``ExponentialBuckets(10e-9, 10, 10)``: 10 ns to 10 s, for queue and work durations."""


class ResultLabel(StrEnum):
    """controller-runtime's ``result`` label of ``controller_runtime_reconcile_total``."""

    SUCCESS = "success"
    ERROR = "error"
    REQUEUE = "requeue"
    REQUEUE_AFTER = "requeue_after"


class WorkQueueMetrics:
    """client-go's ``workqueue_*`` series for one queue: the queue's observer (QueueObserver).

    As client-go counts them: a key is *added* when it becomes waiting (not again while it
    waits), its queue duration runs from then until a worker takes it, its work duration from
    then until ``done``; ``retries`` counts every delayed add (back-offs and timers alike); the
    unfinished-work gauges are read from the keys being processed when scraped.
    """

    def __init__(self, name: str, registry: CollectorRegistry, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._added_at: dict[str, float] = {}
        self._started_at: dict[str, float] = {}
        self._depth = Gauge(
            "workqueue_depth", "Current depth of workqueue", ["name"], registry=registry
        ).labels(name=name)
        self._adds = Counter(
            "workqueue_adds", "Total number of adds handled by workqueue", ["name"], registry=registry
        ).labels(name=name)
        self._queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            ["name"],
            buckets=QUEUE_BUCKETS,
            registry=registry,
        ).labels(name=name)
        self._work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            ["name"],
            buckets=QUEUE_BUCKETS,
            registry=registry,
        ).labels(name=name)
        self._retries = Counter(
            "workqueue_retries", "Total number of retries handled by workqueue", ["name"], registry=registry
        ).labels(name=name)
        Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.",
            ["name"],
            registry=registry,
        ).labels(name=name).set_function(lambda: sum(self._running()))
        Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            ["name"],
            registry=registry,
        ).labels(name=name).set_function(lambda: max(self._running(), default=0.0))

    def added(self, key: str) -> None:
        """client-go ``add``: depth up, the key's wait starts (once)."""
        with self._lock:
            self._adds.inc()
            self._depth.inc()
            self._added_at.setdefault(key, self._clock.now())

    def taken(self, key: str) -> None:
        """client-go ``get``: depth down, the wait observed, the work starts."""
        with self._lock:
            now = self._clock.now()
            self._depth.dec()
            self._started_at[key] = now
            added = self._added_at.pop(key, None)
            if added is not None:
                self._queue_duration.observe(now - added)

    def finished(self, key: str) -> None:
        """client-go ``done``: the work observed."""
        with self._lock:
            started = self._started_at.pop(key, None)
            if started is not None:
                self._work_duration.observe(self._clock.now() - started)

    def retried(self, key: str) -> None:
        """client-go ``retry``: every delayed add."""
        self._retries.inc()

    def _running(self) -> list[float]:
        with self._lock:
            now = self._clock.now()
            return [now - started for started in self._started_at.values()]


class ControllerMetrics:
    """One controller's series (module docstring), in a registry of its own.

    ``controller`` names the controller and its queue (the ``controller`` and ``name`` labels);
    ``lease``, the leader-election Lease: ``leader_election_master_status{name}`` is served only
    with leader election, as client-go registers it only then.
    """

    def __init__(
        self,
        controller: str,
        workers: int,
        clock: Clock,
        leading: Callable[[], bool],
        lease: str | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.queue = WorkQueueMetrics(controller, self.registry, clock)
        """The queue's observer: give it to the WorkQueue."""
        reconciles = Counter(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=self.registry,
        )
        self._reconciles = {result: reconciles.labels(controller, result.value) for result in ResultLabel}
        self._errors = Counter(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=self.registry,
        ).labels(controller)
        self._reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        ).labels(controller)
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"],
            registry=self.registry,
        ).labels(controller)
        """Up while a worker reconciles (the manager's ``track_inprogress``)."""
        Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ["controller"],
            registry=self.registry,
        ).labels(controller).set(workers)
        if lease is not None:
            Gauge(
                "leader_election_master_status",
                "Gauge of if the reporting system is master of the relevant lease, 0 indicates "
                "backup, 1 indicates master. 'name' is the string used to identify the lease.",
                ["name"],
                registry=self.registry,
            ).labels(lease).set_function(lambda: float(leading()))
        self.rest_client_requests = Counter(
            "rest_client_requests",
            "Requests sent to the Kubernetes API server, by HTTP status code ('<error>': no answer) "
            "and method; watches count once, when they start.",
            ["code", "method"],
            registry=self.registry,
        )
        self.prometheus_queries = Counter(
            "modelrollouts_prometheus_queries",
            "Queries sent to Prometheus by the analysis, by result: success, error (an HTTP error, "
            "a refusal, no connection, an answer that is no API result), timeout, or skipped (not "
            "sent: that Prometheus timed out recently and is left alone for a back-off).",
            ["result"],
            registry=self.registry,
        )

    def reconciled(self, result: ResultLabel, seconds: float) -> None:
        """Count one reconcile by result and observe how long it took (failed ones included)."""
        self._reconciles[result].inc()
        if result is ResultLabel.ERROR:
            self._errors.inc()
        self._reconcile_time.observe(seconds)

    def count_request(self, method: str, code: str) -> None:
        """Count one request to the API server (the Kube client's ``on_request``)."""
        self.rest_client_requests.labels(code=code, method=method).inc()

    def count_prometheus_query(self, result: str) -> None:
        """Count one query to Prometheus: ``success``, ``error``, ``timeout`` or ``skipped``."""
        self.prometheus_queries.labels(result=result).inc()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would drown the controller's own log lines."""


LOOPBACK = "127.0.0.1"
"""Default address of the metrics server: reachable from inside the pod (a sidecar) only."""

ALL_INTERFACES = "0.0.0.0"
"""Default address of the probes-only server: the kubelet probes from the node."""


class MetricsServer:
    """``/healthz``, ``/readyz`` and (given ``metrics``) ``/metrics``, from a thread until :meth:`close`.

    Without ``metrics`` it is a probes-only server: every other path is 404, so listening on
    all interfaces exposes nothing but "alive" and "ready".
    """

    def __init__(
        self,
        metrics: ControllerMetrics | None,
        ready: Callable[[], bool],
        port: int,
        address: str = LOOPBACK,
    ) -> None:
        self._metrics_app = make_wsgi_app(metrics.registry) if metrics is not None else None
        self._ready = ready
        self._server = make_server(
            address, port, self._app, server_class=_Server, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port served (the one the OS chose when asked for port 0)."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok")
        if path == "/readyz":
            return (
                _text(start_response, "200 OK", "ready")
                if self._ready()
                else _text(start_response, "503 Service Unavailable", "not ready")
            )
        if self._metrics_app is None or path not in ("/metrics", "/"):
            return _text(start_response, "404 Not Found", "not found")
        return self._metrics_app(environ, start_response)  # type: ignore[no-any-return]


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]
