"""Issue 14: both cohorts in one Prometheus query where the template allows, against a real one.

The backfilled counters of test_prometheus_provider (a reset, a series born mid-run, an errors
counter the baseline never has), plus versions ``1.2`` and ``1x2``: an unescaped dot would match
both. Every metric is observed twice per interval: with the documented template
(``version="{{version}}"``: one query for both cohorts, split by the ``version`` label) and with
the same selector written as a regex matcher (``version=~"{{version}}"``: the same series, but
not combinable, so one query per cohort). Observations, judgements and messages must be equal;
the queries counted by ``on_query`` halve (apart from the answers asked again over the full
lookback, counted here too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from analysis import AnalysisCriteria, NoData, RateObservation, judge, start, update
from analysis.criteria import MetricCriteria
from analysis.observations import Observation
from analysis.providers.base import Versions
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.local.prometheus import PrometheusServer
from tests.integration.test_prometheus_provider import (
    ERRORS,
    INTERVALS,
    LABELS,
    LATENCY,
    OFFSETS,
    VERSIONS,
    Series,
    intended,
    make_series,
    openmetrics,
    window,
)
from tests.support.prometheus import MakePrometheus

# Against Debian's Prometheus 2.x and the test bed's 3.x build (tests/support/prometheus.py).
pytestmark = pytest.mark.prometheus_majors("2", "3")

COMBINED = (ERRORS, LATENCY, LABELS)
COMBINED_QUERIES_PER_LOOK = 4
"""errors 2 (requests, errors), latency 1, labels 1; one query per cohort: 8."""
BORN = 2
"""The interval in which pod y's series are created (make_series)."""
ASKED_AGAIN_AT_BIRTH = 4
"""At interval BORN every query's near answer holds a series of pod y with no sample before the
window, so each is sent again over the full lookback (the provider's "Two reaches"), combined or
per cohort (only the candidate's have pod y)."""
ASKED_AGAIN_EMPTY = 1
"""Per cohort, the baseline's errors answer is empty (it never has an error): asked again."""
DOTTED = "1.2"
LOOKALIKE = "1x2"
"""What the regex ``1.2`` would also match."""


def per_cohort(metric: MetricCriteria) -> MetricCriteria:
    """``metric`` with each ``label="{{version}}"`` written ``label=~"{{version}}"``: same series,
    one query per cohort (a regex-escaped version in a regex matcher matches only itself)."""
    queries = {
        field.name: value.replace('="{{version}}"', '=~"{{version}}"')
        for field in dataclasses.fields(metric)
        if isinstance(value := getattr(metric, field.name), str) and "{{version}}" in value
    }
    return dataclasses.replace(metric, **queries)  # type: ignore[arg-type]


def dotted_series() -> list[Series]:
    """Requests of ``1.2`` from the third interval on, and of ``1x2`` all along."""
    rng = np.random.default_rng(14)
    shape = (INTERVALS, len(OFFSETS))
    found = [
        Series("model_requests_total", {"version": DOTTED}, rng.integers(0, 50, shape), born_at=2),
        Series("model_requests_total", {"version": LOOKALIKE}, rng.integers(50, 99, shape)),
    ]
    for item in found:
        item.build()
    return found


@pytest.fixture(scope="module")
def data() -> list[Series]:
    return make_series() + dotted_series()


@pytest.fixture
def server(prometheus_factory: MakePrometheus, data: list[Series]) -> PrometheusServer:
    return prometheus_factory(backfill=openmetrics(data))


@dataclasses.dataclass
class Counted:
    """A provider and the outcome of every query it sent (its ``on_query`` observer)."""

    provider: PrometheusProvider
    told: list[str]

    def look(
        self, metrics: tuple[MetricCriteria, ...], interval: int, versions: Versions
    ) -> list[Observation]:
        return [self.provider.observe(metric, window(interval), versions, {}) for metric in metrics]


@pytest.fixture
def counted(server: PrometheusServer) -> Iterator[Counted]:
    told: list[str] = []
    provider = PrometheusProvider(PrometheusSettings(server.url, timeout=10.0), on_query=told.append)
    yield Counted(provider, told)
    provider.close()


SPLIT = tuple(per_cohort(metric) for metric in COMBINED)


def test_one_query_for_both_cohorts_observes_what_two_do(counted: Counted, data: list[Series]) -> None:
    combined_state = start(AnalysisCriteria(metrics=COMBINED))
    split_state = start(AnalysisCriteria(metrics=SPLIT))
    for interval in range(INTERVALS):
        again = ASKED_AGAIN_AT_BIRTH if interval == BORN else 0
        sent = len(counted.told)
        combined = counted.look(COMBINED, interval, VERSIONS)
        assert len(counted.told) - sent == COMBINED_QUERIES_PER_LOOK + again
        sent = len(counted.told)
        split = counted.look(SPLIT, interval, VERSIONS)
        assert len(counted.told) - sent == 2 * COMBINED_QUERIES_PER_LOOK + ASKED_AGAIN_EMPTY + again
        expected = intended(data, interval)
        assert combined == split == [expected[metric.name] for metric in COMBINED], interval
        combined_state = update(combined_state, dict(zip((m.name for m in COMBINED), combined, strict=True)))
        split_state = update(split_state, dict(zip((m.name for m in SPLIT), split, strict=True)))
    assert set(counted.told) == {"success"}
    assert judge(combined_state) == judge(split_state)  # the same verdict inputs, the same verdict


@pytest.mark.parametrize(
    "versions",
    [Versions(baseline="v1", candidate="v9"), Versions(baseline="v9", candidate="v2")],
    ids=["candidate", "baseline"],
)
def test_a_missing_cohort_is_named(counted: Counted, versions: Versions) -> None:
    for metrics in (COMBINED, SPLIT):
        for metric, got in zip(metrics, counted.look(metrics, 1, versions), strict=True):
            assert isinstance(got, NoData), (metric.name, got)
            assert got.reason.endswith('{version=~"v9"} (v9)' if metrics is SPLIT else '{version="v9"} (v9)')
    combined = counted.look((ERRORS,), 1, versions)
    assert combined == [NoData('no series for model_requests_total{version="v9"} (v9)')]


def test_a_dotted_version_matches_only_itself(counted: Counted, data: list[Series]) -> None:
    requests = dataclasses.replace(ERRORS, errors_query='model_none_total{version="{{version}}"}')
    versions = Versions(baseline=LOOKALIKE, candidate=DOTTED)
    # Before 1.2 exists, the regex must not take 1x2's series for it (nor refuse them as foreign).
    early = counted.look((requests, per_cohort(requests)), 0, Versions(baseline="v1", candidate=DOTTED))
    assert early == [
        NoData(f'no series for model_requests_total{{version="{DOTTED}"}} ({DOTTED})'),
        NoData(f'no series for model_requests_total{{version=~"1\\\\.2"}} ({DOTTED})'),
    ]
    for interval in range(2, INTERVALS):
        combined, split = counted.look((requests, per_cohort(requests)), interval, versions)
        assert combined == split
        assert isinstance(combined, RateObservation)
        counts = {
            s.labels["version"]: s.count(interval) for s in data if s.labels["version"] in (DOTTED, LOOKALIKE)
        }
        assert (combined.candidate.requests, combined.baseline.requests) == (
            counts[DOTTED],
            counts[LOOKALIKE],
        )
        assert not combined.errors_matched  # an errors counter that never matched, in either form
