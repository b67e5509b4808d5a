"""A source's connection pool holds as many connections as the controller sends queries at once.

Before, every provider kept requests' default of 10: a controller with 30 workers whose rollouts
share one source opened a new connection (with TLS, a handshake) for every query beyond the
tenth in flight and closed it after. A real HTTP server on 127.0.0.1 answers a query only when
all of a round's queries have arrived (a barrier), so every round really has them all in flight,
and it records the client port of every request: the connections the provider opened.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.api.spec import PrometheusSource
from rollouts.controller.shell.prometheus_source import PrometheusProviders
from rollouts.runtime.kube import Kube

IN_FLIGHT = 12
ROUNDS = 3
ANSWER = json.dumps(
    {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]}}
).encode()
"""What the server answers every query: one number, 1."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.barrier = threading.Barrier(IN_FLIGHT, timeout=30)
        self.ports: list[int] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Prometheus
    server: _Server

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.ports.append(self.client_address[1])
        self.server.barrier.wait()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _connections_used(provider: PrometheusProvider, server: _Server) -> int:
    """Distinct connections over ROUNDS rounds of IN_FLIGHT queries at once."""
    answers: list[object] = []

    def ask() -> None:
        answers.append(provider.scalar("up", datetime.now(UTC), {}))

    for _ in range(ROUNDS):
        answers.clear()
        threads = [threading.Thread(target=ask) for _ in range(IN_FLIGHT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(answers) == IN_FLIGHT and all(getattr(a, "value", None) == 1.0 for a in answers), answers
    assert len(server.ports) == IN_FLIGHT * ROUNDS
    return len(set(server.ports))


def test_a_pool_sized_to_the_queries_in_flight_reuses_every_connection(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.server_port}"
    provider = PrometheusProvider(PrometheusSettings(url, timeout=30, connections=IN_FLIGHT))
    try:
        assert _connections_used(provider, server) == IN_FLIGHT
    finally:
        provider.close()


def test_a_smaller_pool_opens_a_connection_per_query_beyond_it(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.server_port}"
    provider = PrometheusProvider(PrometheusSettings(url, timeout=30, connections=2))
    try:
        # Round one opens IN_FLIGHT, keeps 2; each later round opens IN_FLIGHT - 2 more.
        assert _connections_used(provider, server) == IN_FLIGHT + (ROUNDS - 1) * (IN_FLIGHT - 2)
    finally:
        provider.close()


def test_the_controllers_providers_carry_the_pool_size_they_are_given() -> None:
    providers = PrometheusProviders(Kube.__new__(Kube), connections=120)  # no Secret: never called
    source = PrometheusSource.model_validate({"address": "http://prometheus.monitoring:9090"})
    assert providers.settings("ml", source).connections == 120
    assert PrometheusProviders(Kube.__new__(Kube)).settings("ml", source).connections == 10
