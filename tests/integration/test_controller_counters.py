"""What the controller costs is counted: API requests by code and method, Prometheus queries by result.

A manager on the test bed reconciles keys with a stand-in reconcile that reads the API server (one
object that exists, one that does not) and queries Prometheus through the controller's own
source cache (a real Prometheus, a port nobody listens on, a server that never answers); the
counts are read back from the manager's ``/metrics`` as a scraper sees them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.api.spec import PrometheusSource
from rollouts.controller.shell.prometheus_source import PrometheusProviders
from rollouts.local.prometheus import PrometheusServer, free_port
from rollouts.runtime.kube import NAMESPACES, Kube, NotFound
from rollouts.runtime.manager import Manager, ReconcileResult

WAIT = 30.0  # seconds before calling a wait hung; never a speed assertion


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(manager: Manager) -> Samples:
    """Every sample of the manager's /metrics, as a scraper reads it."""
    assert manager.metrics_server is not None
    url = f"http://127.0.0.1:{manager.metrics_server.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        return samples(response.read().decode())


def samples(text: str) -> Samples:
    """Prometheus text as samples keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_api_requests_prometheus_queries_and_reconciles_are_counted(
    kube: Kube, prometheus: PrometheusServer, silent_server: str
) -> None:
    sources = {
        "up": PrometheusSource.model_validate({"address": prometheus.url, "timeout": "10s"}),
        "refused": PrometheusSource.model_validate({"address": f"http://127.0.0.1:{free_port()}"}),
        "silent": PrometheusSource.model_validate({"address": silent_server, "timeout": "1s"}),
    }
    done = threading.Semaphore(0)

    def reconcile(key: str) -> ReconcileResult:
        try:
            kube_of_manager.get(NAMESPACES, "default")
            with contextlib.suppress(NotFound):
                kube_of_manager.get(NAMESPACES, "no-such-namespace-counted")
            providers.provider("default", sources[key]).scalar("vector(1)", datetime.now(UTC), {})
        finally:
            done.release()
        return ReconcileResult()

    manager = Manager(kube, reconcile, workers=2, metrics_port=0)
    kube_of_manager = manager.kube
    providers = PrometheusProviders(kube, on_query=manager.metrics.count_prometheus_query)  # as app does
    thread = threading.Thread(target=manager.run, kwargs={"handle_signals": False}, daemon=True)
    thread.start()
    try:
        for key in sources:
            manager.queue.add(key)
        for _ in sources:
            assert done.acquire(timeout=WAIT), "the reconciles did not finish"
        served = scrape(manager)
    finally:
        manager.stop()  # in-flight reconciles finish (and are observed) before run returns
        thread.join(WAIT)
        providers.close()
    assert ("rest_client_requests_total", (("code", "200"), ("method", "GET"))) in served
    seen = samples(generate_latest(manager.metrics.registry).decode())

    def requests(code: str, method: str = "GET") -> float:
        return seen.get(("rest_client_requests_total", (("code", code), ("method", method))), 0.0)

    def queries(result: str) -> float:
        return seen.get(("modelrollouts_prometheus_queries_total", (("result", result),)), 0.0)

    assert seen[("controller_runtime_reconcile_time_seconds_count", (("controller", "controller"),))] == len(
        sources
    )
    assert requests("200") == len(sources)  # no informer, no Lease: only the reconciles' reads
    assert requests("404") == len(sources)
    assert (queries("success"), queries("error"), queries("timeout")) == (1, 1, 1)


def test_a_provider_tells_each_query_with_its_result(
    prometheus: PrometheusServer, silent_server: str
) -> None:
    told: list[str] = []
    at = datetime.now(UTC)
    for url, timeout in (
        (prometheus.url, 10.0),
        (silent_server, 0.5),
        (f"http://127.0.0.1:{free_port()}", 5.0),
    ):
        provider = PrometheusProvider(PrometheusSettings(url, timeout=timeout), told.append)
        try:
            provider.scalar("vector(1)", at, {})
        finally:
            provider.close()
    assert told == ["success", "timeout", "error"]
