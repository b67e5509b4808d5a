"""Issue 10 item 14 against a real Prometheus: an errors query that never matched cannot PASS.

The candidate fails 10% of its requests, the baseline 1%. With the errors metric's name misspelt
in the query, every interval reads "no errors series", which used to count as zero errors for
both versions and PASS the candidate. Now every look is NO_DATA, naming the query and the fix,
and the rollout never passes. With a counter that is initialised at 0 at start-up (and so
exists before any error), a healthy candidate with no error at all still passes; with the
query spelt right, the 10% candidate fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from analysis import AnalysisCriteria, ErrorRateCriteria, Verdict, judge, start, update
from analysis.observations import Window
from analysis.providers.base import Versions
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from analysis.state import ErrorRateState
from tests.support.prometheus import MakePrometheus

# Against Debian's Prometheus 2.x and the test bed's 3.x build (tests/support/prometheus.py).
pytestmark = pytest.mark.prometheus_majors("2", "3")

INTERVAL = 60
INTERVALS = 6
OFFSETS = (0, 15, 30, 45)
PER_SAMPLE = 1000
T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
VERSIONS = Versions(baseline="v1", candidate="v2")
REQUESTS = 'model_requests_total{version="{{version}}"}'


def counter(name: str, version: str, per_sample: int) -> list[str]:
    """A counter that exists from before the first window, growing by ``per_sample`` per sample."""
    value = 0
    lines = [f'{name}{{version="{version}"}} 0 {(T0 - timedelta(seconds=INTERVAL)).timestamp():.3f}']
    for interval in range(INTERVALS):
        for offset in OFFSETS:
            value += per_sample
            at = T0 + timedelta(seconds=interval * INTERVAL + offset)
            lines.append(f'{name}{{version="{version}"}} {value} {at.timestamp():.3f}')
    return lines


def openmetrics() -> str:
    lines: list[str] = []
    for name, rates in (
        ("model_requests_total", {"v1": PER_SAMPLE, "v2": PER_SAMPLE}),
        ("model_errors_total", {"v1": PER_SAMPLE // 100, "v2": PER_SAMPLE // 10}),
        ("healthy_errors_total", {"v1": 0, "v2": 0}),  # initialised at 0, no error ever
    ):
        lines.append(f"# TYPE {name} counter")
        for version, per_sample in rates.items():
            lines += counter(name, version, per_sample)
    return "\n".join([*lines, "# EOF"]) + "\n"


@pytest.fixture
def provider(prometheus_factory: MakePrometheus) -> Iterator[PrometheusProvider]:
    server = prometheus_factory(backfill=openmetrics())
    client = PrometheusProvider(PrometheusSettings(server.url, timeout=10.0))
    yield client
    client.close()


def looks(provider: PrometheusProvider, errors_query: str) -> list[tuple[Verdict, str, ErrorRateState]]:
    """Verdict, reason and state after every interval, as the controller computes them."""
    metric = ErrorRateCriteria("errors", errors_query, REQUESTS)
    state = start(AnalysisCriteria(metrics=(metric,)))
    found = []
    for interval in range(INTERVALS):
        begin = T0 + timedelta(seconds=interval * INTERVAL)
        observation = provider.observe(
            metric, Window(begin, begin + timedelta(seconds=INTERVAL)), VERSIONS, {}
        )
        state = update(state, {"errors": observation})
        judgement = judge(state)
        current = state.metrics["errors"]
        assert isinstance(current, ErrorRateState)
        found.append((judgement.verdict, judgement.reason, current))
    return found


def test_a_misspelt_errors_query_never_passes_a_ten_percent_candidate(provider: PrometheusProvider) -> None:
    typo = 'model_errros_total{version="{{version}}"}'
    history = looks(provider, typo)
    assert [verdict for verdict, _, _ in history] == [Verdict.NO_DATA] * INTERVALS
    _, reason, state = history[-1]
    assert typo in reason
    assert "initialise it at 0 at start-up" in reason
    assert "check the metric name" in reason
    assert not state.errors_matched
    assert state.rates.candidate_requests == INTERVALS * len(OFFSETS) * PER_SAMPLE  # requests were read


def test_the_same_candidate_fails_with_the_query_spelt_right(provider: PrometheusProvider) -> None:
    history = looks(provider, 'model_errors_total{version="{{version}}"}')
    assert Verdict.FAIL in [verdict for verdict, _, _ in history]
    assert all(verdict is not Verdict.PASS for verdict, _, _ in history)


def test_a_counter_initialised_at_zero_lets_a_healthy_candidate_pass(provider: PrometheusProvider) -> None:
    history = looks(provider, 'healthy_errors_total{version="{{version}}"}')
    assert all(state.errors_matched for _, _, state in history)
    assert history[-1][0] is Verdict.PASS
