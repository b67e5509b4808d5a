"""Native histograms end to end: the real model server, the real Prometheus 3, the provider.

Two model servers expose request latency as classic and native buckets at once (protobuf, only
because Prometheus asks for it); Prometheus 3 stores both; the provider reads both for the same
window. The candidate answers half of its requests on the slow cpu path. Every number the
test asserts is derived from the requests it sent: their count, and the exact Mann-Whitney CLES
of the durations the server reported (the ``Server-Timing`` header is the duration the histogram
counted), never a wall-clock time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import requests
from scipy.stats import mannwhitneyu

from analysis import HistogramObservation, LatencyCriteria
from analysis.criteria import HistogramKind
from analysis.observations import Window
from analysis.providers.base import Versions
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from analysis.ranks import stratum_ranks
from rollouts.local.model_server import Device, ServerConfig, Switches
from rollouts.local.model_server.exposition import PROTOBUF_CONTENT_TYPE
from rollouts.local.model_server.model import sample_features
from rollouts.local.model_servers import ModelServers, RunningModelServer
from rollouts.local.prometheus import PrometheusServer, ScrapeTarget
from tests.support.prometheus import MakePrometheus

pytestmark = pytest.mark.prometheus_majors("3")

WAIT = 60.0
FAST, SLOW = 80, 80
"""Requests per cohort on the fast path, then the candidate's on the cpu path (the baseline's stay fast)."""
NATIVE = 'model_request_duration_seconds{version="{{version}}"}'
CLASSIC = 'model_request_duration_seconds_bucket{version="{{version}}"}'


def config(version: str) -> ServerConfig:
    return ServerConfig(
        version=version, load_seconds=0.2, warmup_requests=5, enable_admin=True, native_histograms=True
    )


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ModelServers]:
    with ModelServers(tmp_path / "servers") as running:
        running.start(config("v1"), config("v2"))
        yield running


def request_count(prometheus: PrometheusServer, version: str) -> float | None:
    query = f'histogram_count(model_request_duration_seconds{{version="{version}"}})'
    body = requests.get(f"{prometheus.url}/api/v1/query", params={"query": query}, timeout=5).json()
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def wait_for_count(prometheus: PrometheusServer, version: str, at_least: float) -> float:
    """The native series' count once Prometheus has scraped at least ``at_least`` requests."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        count = request_count(prometheus, version)
        if count is not None and count >= at_least:
            return count
        time.sleep(0.2)
    raise AssertionError(f"Prometheus never saw {at_least} requests of {version}:\n{prometheus.log_tail()}")


def duration(session: requests.Session, server: RunningModelServer, draws: random.Random) -> float:
    """Send one prediction; the seconds it took, as the server counted it."""
    answer = session.post(f"{server.url}/predict", json={"features": sample_features(draws)}, timeout=10)
    assert answer.status_code == 200, answer.text
    timing = answer.headers["Server-Timing"]
    return float(timing.split("dur=")[1]) / 1e3


def tie_share(observation: HistogramObservation) -> float:
    """P(a candidate and a baseline request share a bucket)."""
    c, b = np.array(observation.candidate), np.array(observation.baseline)
    return float((c * b).sum() / (c.sum() * b.sum()))


def test_prometheus3_scrapes_native_latency_and_the_rank_test_sees_finer_ranks(
    prometheus_factory: MakePrometheus, servers: ModelServers
) -> None:
    baseline, candidate = servers["v1"], servers["v2"]
    text = requests.get(f"{baseline.url}/metrics", timeout=5)
    assert text.headers["Content-Type"].startswith("text/plain")
    assert "model_request_duration_seconds_bucket" in text.text
    proto = requests.get(f"{baseline.url}/metrics", headers={"Accept": PROTOBUF_CONTENT_TYPE}, timeout=5)
    assert proto.headers["Content-Type"] == PROTOBUF_CONTENT_TYPE

    prometheus = prometheus_factory(
        targets=[ScrapeTarget(server.address) for server in (baseline, candidate)], native_histograms=True
    )
    before = {
        server.version: wait_for_count(prometheus, server.version, 0) for server in (baseline, candidate)
    }
    begin = datetime.now(UTC)
    # Interleaved, one request of each in turn, so a burst of load on this machine slows both alike.
    baseline_seconds: list[float] = []
    candidate_seconds: list[float] = []
    baseline_draws, candidate_draws = random.Random(1), random.Random(2)
    with requests.Session() as session:
        for on_cpu, count in ((False, FAST), (True, SLOW)):
            if on_cpu:
                candidate.set_switches(Switches(device=Device.CPU))
            for _ in range(count):
                baseline_seconds.append(duration(session, baseline, baseline_draws))
                candidate_seconds.append(duration(session, candidate, candidate_draws))
    for server in (baseline, candidate):
        wait_for_count(prometheus, server.version, before[server.version] + FAST + SLOW)
    end = datetime.now(UTC) + timedelta(seconds=1)

    provider = PrometheusProvider(PrometheusSettings(prometheus.url))
    versions = Versions(baseline="v1", candidate="v2")
    try:
        fine = provider.observe(
            LatencyCriteria("latency", NATIVE, histogram=HistogramKind.NATIVE),
            Window(begin, end),
            versions,
            {},
        )
        coarse = provider.observe(LatencyCriteria("latency", CLASSIC), Window(begin, end), versions, {})
    finally:
        provider.close()
    assert isinstance(fine, HistogramObservation), fine
    assert isinstance(coarse, HistogramObservation), coarse
    for observation in (fine, coarse):
        assert (sum(observation.candidate), sum(observation.baseline)) == (FAST + SLOW, FAST + SLOW)

    # Native buckets are 2^(1/8) wide: every populated bucket, and far more of them than classic ones.
    bounds = [
        (fine.edges[i - 1], fine.edges[i]) for i, n in enumerate(np.add(fine.candidate, fine.baseline)) if n
    ]
    assert all(upper / lower < 2 ** (1 / 8) * 1.0001 for lower, upper in bounds)
    assert len(bounds) > 2 * np.count_nonzero(np.add(coarse.candidate, coarse.baseline))

    # The exact statistic from the durations the server counted; binning moves CLES by at most half
    # the share of tied pairs, and native buckets tie far fewer pairs than classic ones.
    exact = mannwhitneyu(candidate_seconds, baseline_seconds, method="asymptotic", use_continuity=False)
    exact_cles = float(exact.statistic) / (len(candidate_seconds) * len(baseline_seconds))
    native_ranks = stratum_ranks(fine.candidate, fine.baseline)
    classic_ranks = stratum_ranks(coarse.candidate, coarse.baseline)
    assert tie_share(fine) < tie_share(coarse)
    for ranks, observation in ((native_ranks, fine), (classic_ranks, coarse)):
        assert abs(float(ranks.cles) - exact_cles) <= tie_share(observation) / 2 + 0.01
    assert float(native_ranks.z) > 3.0, (native_ranks, exact_cles)
