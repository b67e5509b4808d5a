"""The controller's own metrics and probes, on small HTTP ports.

Why: an operator must see whether the controller keeps up (queue depth, reconcile duration),
fails (reconcile errors) and which replica leads — and the kubelet must probe it. A server
serves ``/healthz`` (200 while the process runs) and ``/readyz`` (200 when the manager says
ready: standing by with synced caches, or leading with workers running; 503 while its caches
fill, while it starts to lead or shuts down), and, given the metrics, ``/metrics`` (Prometheus
text). Each manager has its own registry, so several managers in one process (tests) never
collide on metric names.

What the controller costs is counted too: every request to the API server
(``rest_client_requests_total{code,method}``, client-go's name, so dashboards made for Go
controllers work) — the manager hands its Kube client :meth:`ControllerMetrics.count_request` —
and every query sent to Prometheus (``modelrollouts_prometheus_queries_total{result}``, labelled
by outcome only: a label per rollout or namespace would grow with the fleet). Reconciles are
counted by the duration histogram (``modelrollouts_reconcile_duration_seconds_count``).

Prometheus queries are sent deep inside a reconcile, by providers the controller builds once;
the controller hands them :meth:`ControllerMetrics.count_prometheus_query`.

Where it listens is a security decision (docs/security.md): ``/metrics`` has no
authentication, so the metrics server binds to the loopback interface unless told otherwise,
while a probes-only server (no metrics) may listen on every interface for the kubelet, whose
probes come from the node, not from inside the pod.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Seconds: a cached reconcile takes milliseconds; one with Prometheus queries, up to seconds."""


class ControllerMetrics:
    """Queue depth, reconcile duration and errors, and leadership, in a registry of their own."""

    def __init__(
        self, depth: Callable[[], int], waiting: Callable[[], int], leading: Callable[[], bool]
    ) -> None:
        self.registry = CollectorRegistry()
        Gauge(
            "modelrollouts_workqueue_depth", "Rollout keys ready to be reconciled.", registry=self.registry
        ).set_function(lambda: float(depth()))
        Gauge(
            "modelrollouts_workqueue_waiting",
            "Rollout keys scheduled for later (timers and back-offs).",
            registry=self.registry,
        ).set_function(lambda: float(waiting()))
        Gauge(
            "modelrollouts_leader",
            "1 while this replica holds the leader Lease, else 0.",
            registry=self.registry,
        ).set_function(lambda: float(leading()))
        self.reconcile_duration = Histogram(
            "modelrollouts_reconcile_duration_seconds",
            "Time one reconcile took, failed ones included.",
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "modelrollouts_reconcile_errors",
            "Reconciles that raised (and were retried).",
            registry=self.registry,
        )
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
