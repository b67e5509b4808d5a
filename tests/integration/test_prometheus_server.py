"""The local Prometheus launcher: scraping a real exporter, backfilling, failing loudly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, start_http_server

from analysis import ErrorRateCriteria, RateObservation
from analysis.observations import Window
from analysis.providers.base import Versions
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.local.prometheus import PrometheusError, PrometheusServer, ScrapeTarget, free_port

# Against Debian's Prometheus 2.x and the test bed's 3.x build (tests/support/prometheus.py).
pytestmark = pytest.mark.prometheus_majors("2", "3")

WAIT = 30.0


def value_of(server: PrometheusServer, query: str) -> float | None:
    body = requests.get(f"{server.url}/api/v1/query", params={"query": query}, timeout=5).json()
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def wait_for(server: PrometheusServer, query: str, expected: float) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and value_of(server, query) != expected:
        time.sleep(0.2)


@pytest.fixture
def exporter() -> Iterator[tuple[str, Counter]]:
    registry = CollectorRegistry()
    requests_total = Counter("demo_requests", "Requests served.", ["version"], registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}", requests_total
    server.shutdown()
    server.server_close()
    thread.join()


def test_scraped_counts_reach_the_provider(
    prometheus: PrometheusServer, exporter: tuple[str, Counter]
) -> None:
    address, requests_total = exporter
    begin = datetime.now(UTC) - timedelta(seconds=1)
    prometheus.set_targets([ScrapeTarget(address, {"team": "ml"})])
    requests_total.labels(version="v1").inc(0)
    requests_total.labels(version="v2").inc(0)
    wait_for(prometheus, 'demo_requests_total{version="v2",team="ml"}', 0.0)
    requests_total.labels(version="v1").inc(40)
    requests_total.labels(version="v2").inc(7)
    wait_for(prometheus, 'demo_requests_total{version="v2"}', 7.0)
    wait_for(prometheus, 'demo_requests_total{version="v1"}', 40.0)
    end = datetime.now(UTC) + timedelta(seconds=1)
    criteria = ErrorRateCriteria(
        "errors", 'demo_requests_total{version="{{version}}"}', 'demo_requests_total{version="{{version}}"}'
    )
    provider = PrometheusProvider(PrometheusSettings(prometheus.url))
    try:
        got = provider.observe(criteria, Window(begin, end), Versions(baseline="v1", candidate="v2"), {})
    finally:
        provider.close()
    assert isinstance(got, RateObservation)
    assert (got.candidate.requests, got.baseline.requests) == (7, 40)


def test_backfill_into_a_running_server_restarts_it(prometheus: PrometheusServer) -> None:
    at = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    address = prometheus.url
    prometheus.backfill_openmetrics(f"# TYPE late gauge\nlate 42 {at}\n")
    assert prometheus.url == address
    assert value_of(prometheus, f"late @ {at}") == 42.0


def test_start_failure_shows_the_log(prometheus_installed: None, tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path / "broken", extra_flags=["--no-such-flag"])
    with pytest.raises(PrometheusError, match="no-such-flag"):
        server.start()
    assert not server.running


def test_refused_backfill_says_why(prometheus_installed: None, tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path / "refused")
    with pytest.raises(PrometheusError, match="promtool refused"):
        server.backfill_openmetrics("this is not openmetrics\n")
