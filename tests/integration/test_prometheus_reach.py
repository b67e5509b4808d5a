"""Issue 14: a look asks for the window plus 60 s, and over the full lookback only when it must.

Against a real Prometheus (2.x and 3.x) holding backfilled counters, 60 s windows:

- the baseline's requests, a sample every 15 s since ten minutes before the first window: each
  look's near answer holds its previous sample;
- the candidate's requests, a sample every 300 s (at -300 s, +30 s and +330 s): its previous
  sample lies outside the near reach at the first window and at the sixth, and at the third to the
  fifth it has no sample in the near reach at all (the cohort's near answer is empty, the full one
  holds the series with an increase of zero);
- the candidate's errors, a sample every 15 s from +315 s on (created inside the sixth window);
  the baseline never has one.

Each look must return the counts written and exactly those of a provider that always asks for the
full lookback, and send a second query exactly where the provider's "Two reaches" rule says so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analysis import ErrorRateCriteria, RateCounts, RateObservation
from analysis.observations import Observation, Window
from analysis.providers import prometheus
from analysis.providers.base import Versions
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.local.prometheus import PrometheusServer
from tests.support.prometheus import MakePrometheus

pytestmark = pytest.mark.prometheus_majors("2", "3")

T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
INTERVAL = 60
VERSIONS = Versions(baseline="v1", candidate="v2")
ERRORS = ErrorRateCriteria(
    "errors", 'reach_errors_total{version="{{version}}"}', 'reach_requests_total{version="{{version}}"}'
)
SPARSE = ((-300, 100.0), (30, 110.0), (330, 140.0))
"""The candidate's requests: (seconds after T0, counter value)."""
ERRORS_BORN = 315
ERRORS_VALUE = 3.0


def at(seconds: float) -> str:
    return f"{(T0 + timedelta(seconds=seconds)).timestamp():.3f}"


def openmetrics() -> str:
    dense = [f'reach_requests_total{{version="v1"}} {n} {at(-600 + 15 * n)}' for n in range(81)]
    sparse = [f'reach_requests_total{{version="v2"}} {value:g} {at(t)}' for t, value in SPARSE]
    errors = [
        f'reach_errors_total{{version="v2"}} {ERRORS_VALUE:g} {at(t)}' for t in range(ERRORS_BORN, 601, 15)
    ]
    return "\n".join(
        [
            "# TYPE reach_requests_total unknown",
            *dense,
            *sparse,
            "# TYPE reach_errors_total unknown",
            *errors,
            "# EOF",
            "",
        ]
    )


def window(index: int) -> Window:
    begin = T0 + timedelta(seconds=index * INTERVAL)
    return Window(begin, begin + timedelta(seconds=INTERVAL))


EXPECTED = [
    # (candidate requests, candidate errors, errors matched, queries sent): requests first, then errors
    (10, 0, False, 2 + 2),  # the candidate's previous sample is 300 s back; errors: empty, asked again
    (0, 0, False, 1 + 2),  # every previous sample in the near reach
    (0, 0, False, 2 + 2),  # the candidate has no sample in the near reach: empty cohort, asked again
    (0, 0, False, 2 + 2),
    (0, 0, False, 2 + 2),
    (30, 3, True, 2 + 2),  # previous requests sample 300 s back; the errors series born in the window
    (0, 0, True, 1 + 1),  # steady: one query each (the baseline's empty errors cohort counts zero)
]
BASELINE_REQUESTS = 4
"""A sample every 15 s, each one more: four per 60 s window."""


@pytest.fixture
def server(prometheus_factory: MakePrometheus) -> PrometheusServer:
    return prometheus_factory(backfill=openmetrics())


def looks(provider: PrometheusProvider, sent: list[str]) -> tuple[list[Observation], list[int]]:
    """Each window's observation and the queries it sent."""
    observed: list[Observation] = []
    queries: list[int] = []
    for index in range(len(EXPECTED)):
        before = len(sent)
        observed.append(provider.observe(ERRORS, window(index), VERSIONS, {}))
        queries.append(len(sent) - before)
    return observed, queries


def test_counts_are_those_written_and_a_second_query_only_where_needed(
    server: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    provider = PrometheusProvider(PrometheusSettings(server.url, timeout=10.0), on_query=sent.append)
    try:
        observed, queries = looks(provider, sent)
    finally:
        provider.close()
    assert observed == [
        RateObservation(
            RateCounts(requests=requests, events=errors),
            RateCounts(requests=BASELINE_REQUESTS, events=0),
            errors_matched=matched,
        )
        for requests, errors, matched, _ in EXPECTED
    ]
    assert queries == [expected[3] for expected in EXPECTED]
    assert set(sent) == {"success"}

    # The code before: the first query already reaches over the whole lookback.
    monkeypatch.setattr(prometheus, "NEAR_REACH", PrometheusSettings(server.url).lookback)
    sent.clear()
    full = PrometheusProvider(PrometheusSettings(server.url, timeout=10.0), on_query=sent.append)
    try:
        assert looks(full, sent) == (observed, [2] * len(EXPECTED))  # the same counts, one query each
    finally:
        full.close()
