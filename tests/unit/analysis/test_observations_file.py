"""The observations file: documented format in, observations out; bad input is an error, never a PASS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from analysis import (
    AnalysisCriteria,
    ClassObservation,
    ErrorRateCriteria,
    HistogramObservation,
    NoData,
    QueryFailed,
    RateCounts,
    RateObservation,
    ScalarObservation,
    Verdict,
    judge,
    start,
    update,
)
from analysis.observations import Window
from analysis.providers.base import Versions
from analysis.providers.observations_file import (
    FORMAT,
    Interval,
    ObservationsFileError,
    ObservationsFileProvider,
    dump_observations,
    parse_observations,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def document(*metrics: dict[str, object], start: datetime = T0) -> str:
    intervals = [
        {
            "start": (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            "end": (start + timedelta(minutes=i + 1)).isoformat().replace("+00:00", "Z"),
            "metrics": entry,
        }
        for i, entry in enumerate(metrics)
    ]
    return json.dumps({"format": FORMAT, "intervals": intervals})


def test_every_kind_round_trips() -> None:
    observations = {
        "errors": RateObservation(RateCounts(50, 1), RateCounts(950, 9)),
        "latency": HistogramObservation((0.1, 0.5), (3, 4, 5), (30, 40, 50), 1, 2),
        "labels": ClassObservation(("ok", "fraud"), (47, 3), (900, 50)),
        "gpu": ScalarObservation(51234.5),
        "flaky": QueryFailed("timed out"),
        "quiet": NoData("no series"),
    }
    intervals = (Interval(Window(T0, T0 + timedelta(minutes=1)), observations),)
    assert parse_observations(dump_observations(intervals)) == intervals


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"intervals": []}', "format"),
        (json.dumps({"format": FORMAT, "intervals": []}), "non-empty list"),
        (
            json.dumps({"format": FORMAT, "intervals": [{"start": "x", "end": "y", "metrics": {}}]}),
            "RFC 3339",
        ),
        (
            json.dumps(
                {
                    "format": FORMAT,
                    "intervals": [
                        {"start": "2026-01-01T00:00:00", "end": "2026-01-01T00:01:00Z", "metrics": {}}
                    ],
                }
            ),
            "no time zone",
        ),
        (
            json.dumps(
                {
                    "format": FORMAT,
                    "intervals": [
                        {"start": "2026-01-01T00:01:00Z", "end": "2026-01-01T00:00:00Z", "metrics": {}}
                    ],
                }
            ),
            "not after its start",
        ),
        (
            json.dumps({"format": FORMAT, "intervals": [{"start": "2026-01-01T00:00:00Z"}]}),
            "start, end and metrics",
        ),
    ],
)
def test_malformed_files_are_refused_with_the_place(text: str, message: str) -> None:
    with pytest.raises(ObservationsFileError, match=message):
        parse_observations(text)


def test_overlapping_intervals_are_refused() -> None:
    text = document({}, {})
    data = json.loads(text)
    data["intervals"][1]["start"] = data["intervals"][0]["start"]
    with pytest.raises(ObservationsFileError, match=r"intervals\[1\]: starts before"):
        parse_observations(json.dumps(data))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"candidate": {"requests": -5, "errors": 0}, "baseline": {"requests": 5, "errors": 0}},
            "must not be negative",
        ),
        ({"candidate": {"requests": 5, "errors": 0}}, "missing 'baseline'"),
        ({"candidate": {"requests": float("nan")}, "baseline": {"requests": 5}}, "must be finite"),
        ({"candidate": {"requests": 5.5}, "baseline": {"requests": 5}}, "whole number"),
        ({"edges": [0.1, "x"], "candidate": [1, 2, 3], "baseline": [1, 2, 3]}, "list of numbers"),
        ({"edges": [0.1], "candidate": [1, 2, 3], "baseline": [1, 2]}, "candidate has 3 counts"),
        ({"value": "high"}, "must be a number"),
        ([1, 2], "expected an object"),
    ],
)
def test_bad_counts_make_that_metric_an_error(entry: object, message: str) -> None:
    (interval,) = parse_observations(document({"errors": entry}))
    observation = interval.observations["errors"]
    assert isinstance(observation, QueryFailed)
    assert message in observation.message
    assert observation.message.startswith("intervals[0].metrics.errors: ")
    state = update(
        start(AnalysisCriteria(metrics=(ErrorRateCriteria("errors", "", ""),))), interval.observations
    )
    assert judge(state).verdict is Verdict.ERROR


def test_provider_finds_intervals_by_window() -> None:
    provider = ObservationsFileProvider(parse_observations(document({"errors": {"noData": "x"}})))
    metric = ErrorRateCriteria("errors", "", "")
    versions = Versions("v1", "v2")
    assert provider.observe(metric, Window(T0, T0 + timedelta(minutes=1)), versions, {}) == NoData("x")
    later = Window(T0 + timedelta(minutes=5), T0 + timedelta(minutes=6))
    assert "no interval" in provider.observe(metric, later, versions, {}).reason  # type: ignore[union-attr]
    other = ErrorRateCriteria("other", "", "")
    missing = provider.observe(other, Window(T0, T0 + timedelta(minutes=1)), versions, {})
    assert missing == NoData("the file has no 'other' in this interval")
    assert isinstance(provider.scalar("up", T0, {}), NoData)
