"""A JSON file of per-interval observations: offline analysis, and a second provider to test against.

``rollouts analyze SPEC --observations FILE`` judges counts exported from anywhere (another
monitoring system, a notebook, a simulation) with the same engine the controller runs. The
format, by example (counts per interval, per bucket, never cumulative)::

    {
      "format": "model-rollouts/observations/v1",
      "intervals": [
        {
          "start": "2026-11-20T10:00:00Z",
          "end": "2026-11-20T10:01:00Z",
          "metrics": {
            "errors":  {"candidate": {"requests": 50, "errors": 1},
                        "baseline":  {"requests": 950, "errors": 9}},
            "latency": {"edges": [0.05, 0.1, 0.25, 0.5, 1.0],
                        "candidate": [3, 20, 18, 7, 2, 0],
                        "baseline":  [80, 410, 330, 110, 18, 2]},
            "scores":  {"edges": [0.25, 0.5, 0.75],
                        "candidate": [20, 15, 10, 5], "baseline": [380, 300, 190, 80],
                        "invalid": {"candidate": 0, "baseline": 1}},
            "labels":  {"classes": ["ok", "fraud"], "candidate": [47, 3], "baseline": [900, 50]},
            "gpu-memory": {"value": 51234.5},
            "flaky":   {"error": "query timed out after 30s"},
            "quiet":   {"noData": "no series"}
          }
        }
      ]
    }

Keys under ``metrics`` are metric names from the spec. ``edges`` are the finite upper bounds of
the buckets; each cohort has one more count, for the +Inf bucket. Intervals are in time order
and do not overlap. A file that breaks these rules is refused with its location; counts that
are negative, fractional or NaN make that metric ERROR at that interval (never a crash, never a
PASS); a metric missing from an interval is NO_DATA there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from analysis.criteria import MetricCriteria
from analysis.observations import (
    ClassObservation,
    HistogramObservation,
    NoData,
    Observation,
    ObservationError,
    QueryFailed,
    RateCounts,
    RateObservation,
    ScalarObservation,
    Window,
)
from analysis.providers.base import ScalarResult, Versions

FORMAT = "model-rollouts/observations/v1"


class ObservationsFileError(ValueError):
    """The file is not an observations file: bad JSON, a missing key, overlapping intervals."""


@dataclass(frozen=True)
class Interval:
    """One interval of the file: its window and the observation of each metric in it."""

    window: Window
    observations: Mapping[str, Observation]


def _timestamp(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise ObservationsFileError(f"{where}: expected an RFC 3339 time such as 2026-11-20T10:00:00Z")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ObservationsFileError(f"{where}: {value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ObservationsFileError(f"{where}: {value!r} has no time zone (add Z for UTC)")
    return moment


def _cohorts(data: Mapping[str, Any]) -> tuple[Any, Any]:
    try:
        return data["candidate"], data["baseline"]
    except KeyError as missing:
        raise ObservationError(f"missing {missing.args[0]!r}") from None


def _observation(data: object) -> Observation:
    """One metric's entry; count problems raise ObservationError (made QueryFailed by the caller)."""
    if not isinstance(data, Mapping):
        raise ObservationError(f"expected an object, got {data!r}")
    if "error" in data:
        return QueryFailed(str(data["error"]))
    if "noData" in data:
        return NoData(str(data["noData"]))
    if "value" in data:
        return ScalarObservation(data["value"])
    candidate, baseline = _cohorts(data)
    invalid = data.get("invalid", {})
    if not isinstance(invalid, Mapping):
        raise ObservationError(f"invalid must be an object, got {invalid!r}")
    invalid_counts = (invalid.get("candidate", 0), invalid.get("baseline", 0))
    if "edges" in data:
        edges = data["edges"]
        if not isinstance(edges, list) or not all(isinstance(e, int | float) for e in edges):
            raise ObservationError(f"edges must be a list of numbers, got {edges!r}")
        return HistogramObservation(tuple(edges), _list(candidate), _list(baseline), *invalid_counts)
    if "classes" in data:
        classes = data["classes"]
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ObservationError(f"classes must be a list of names, got {classes!r}")
        return ClassObservation(tuple(classes), _list(candidate), _list(baseline), *invalid_counts)
    return RateObservation(_rates(candidate, "candidate"), _rates(baseline, "baseline"))


def _list(counts: object) -> tuple[Any, ...]:
    if not isinstance(counts, list):
        raise ObservationError(f"expected a list of counts, got {counts!r}")
    return tuple(counts)


def _rates(cohort: object, name: str) -> RateCounts:
    if not isinstance(cohort, Mapping) or "requests" not in cohort:
        raise ObservationError(f"{name} needs requests and errors, got {cohort!r}")
    return RateCounts(requests=cohort["requests"], events=cohort.get("errors", 0))


def parse_observations(text: str) -> tuple[Interval, ...]:
    """Read an observations file; ObservationsFileError names what is wrong and where."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as broken:
        raise ObservationsFileError(f"not valid JSON: {broken}") from None
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise ObservationsFileError(f'expected an object with "format": "{FORMAT}"')
    entries = document.get("intervals")
    if not isinstance(entries, list) or not entries:
        raise ObservationsFileError('"intervals" must be a non-empty list')
    intervals: list[Interval] = []
    for index, entry in enumerate(entries):
        where = f"intervals[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("metrics"), Mapping):
            raise ObservationsFileError(f"{where}: expected an object with start, end and metrics")
        try:
            window = Window(
                _timestamp(entry.get("start"), f"{where}.start"), _timestamp(entry.get("end"), f"{where}.end")
            )
        except ValueError as wrong:
            raise ObservationsFileError(f"{where}: {wrong}") from None
        if intervals and window.start < intervals[-1].window.end:
            raise ObservationsFileError(f"{where}: starts before the previous interval ends")
        observations: dict[str, Observation] = {}
        for name, data in entry["metrics"].items():
            try:
                observations[str(name)] = _observation(data)
            except ObservationError as unusable:
                observations[str(name)] = QueryFailed(f"{where}.metrics.{name}: {unusable}")
        intervals.append(Interval(window, observations))
    return tuple(intervals)


def _cohort_json(observation: Observation) -> dict[str, Any]:
    if isinstance(observation, RateObservation):
        return {
            "candidate": {"requests": observation.candidate.requests, "errors": observation.candidate.events},
            "baseline": {"requests": observation.baseline.requests, "errors": observation.baseline.events},
        }
    if isinstance(observation, HistogramObservation | ClassObservation):
        bins = (
            {"edges": list(observation.edges)}
            if isinstance(observation, HistogramObservation)
            else {"classes": list(observation.classes)}
        )
        return {
            **bins,
            "candidate": list(observation.candidate),
            "baseline": list(observation.baseline),
            "invalid": {"candidate": observation.invalid_candidate, "baseline": observation.invalid_baseline},
        }
    if isinstance(observation, ScalarObservation):
        return {"value": observation.value}
    if isinstance(observation, QueryFailed):
        return {"error": observation.message}
    return {"noData": observation.reason}


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def dump_observations(intervals: Sequence[Interval]) -> str:
    """The observations file for ``intervals`` (the inverse of :func:`parse_observations`)."""
    document = {
        "format": FORMAT,
        "intervals": [
            {
                "start": _rfc3339(interval.window.start),
                "end": _rfc3339(interval.window.end),
                "metrics": {name: _cohort_json(obs) for name, obs in interval.observations.items()},
            }
            for interval in intervals
        ],
    }
    return json.dumps(document, indent=1, allow_nan=False)


class ObservationsFileProvider:
    """The MetricsProvider over an observations file: each window must be one of its intervals."""

    def __init__(self, intervals: Sequence[Interval]) -> None:
        self.intervals = tuple(intervals)
        self._by_window = {(i.window.start, i.window.end): i for i in self.intervals}

    @classmethod
    def from_path(cls, path: Path) -> ObservationsFileProvider:
        """Read and parse a file; OSError and ObservationsFileError pass through."""
        return cls(parse_observations(path.read_text(encoding="utf-8")))

    def observe(
        self, metric: MetricCriteria, window: Window, versions: Versions, variables: Mapping[str, str]
    ) -> Observation:
        """The file's observation of ``metric`` in the interval equal to ``window``."""
        interval = self._by_window.get((window.start, window.end))
        if interval is None:
            return NoData(f"the file has no interval [{_rfc3339(window.start)}, {_rfc3339(window.end)})")
        return interval.observations.get(
            metric.name, NoData(f"the file has no {metric.name!r} in this interval")
        )

    def scalar(self, query: str, at: datetime, variables: Mapping[str, str]) -> ScalarResult:
        """An observations file holds counts, not query results: always NoData."""
        return NoData("an observations file answers no queries")
