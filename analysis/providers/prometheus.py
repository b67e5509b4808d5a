"""Observations from Prometheus: raw counter samples, differenced per interval per series.

Why not ``increase()``: Prometheus extrapolates ``rate``/``increase`` to the window's edges, so
counts come out fractional, and Prometheus 3.x changed the range boundaries (left-open) so the
same query gives different numbers than 2.x. Instead each query fetches the raw samples of each
series, ``<selector>[range]`` evaluated 1 ms before the window's end, and this module differences
them itself:

- a window [start, end) counts the increase of every sample with start <= t < end over the
  sample before it (which may lie before start: the range reaches ``lookback`` further back);
- a sample lower than the one before it is a counter reset: its increase is its own value;
- a series with no sample before the window was created inside it and counts from zero.

Adjacent windows therefore partition every increment exactly, the counts are whole numbers, and
2.x and 3.x agree (the left boundary is filtered here, not by the server). Series are summed per
cohort (by ``le`` for histograms, by the class label for class counts).

Templates must therefore be series selectors (``metric{version="{{version}}"}``), not
expressions; Prometheus rejects a range over an expression and the metric shows ERROR.
A missing series is NO_DATA, except an errors counter (or invalid-predictions counter) that does
not exist yet, which counts as zero: labelled counters often appear with the first error.
Failures (timeouts, HTTP errors, bad PromQL, bucket layouts that differ between the cohorts) are
:class:`QueryFailed` with the message, never an exception and never a PASS.
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning
from urllib3.util.retry import Retry

from analysis.criteria import DriftCriteria, ErrorRateCriteria, GuardCriteria, LatencyCriteria, MetricCriteria
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
)
from analysis.providers.base import ScalarResult, Versions, Window
from analysis.templates import TemplateError, render

_NO_RETRIES = Retry(total=0, read=False)
"""Never retry (the next look is the retry); read timeouts surface as requests.ReadTimeout."""
EVALUATE_BEFORE_END = 0.001
"""Seconds before the window's end at which range queries are evaluated: a sample at exactly
``end`` belongs to the next window."""
WHOLE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class PrometheusSettings:
    """How to reach Prometheus: address, timeout, authentication, TLS."""

    url: str
    timeout: float = 30.0
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None
    ca_file: str | None = None
    """PEM bundle to verify the server with; None: the system's roots."""
    server_name: str | None = None
    """Name to verify the server certificate against instead of the URL's host."""
    insecure_skip_verify: bool = False
    lookback: float = 600.0
    """Seconds before a window searched for each series' previous sample."""


class _ServerNameAdapter(HTTPAdapter):
    """Verify the certificate (and send SNI) for a name other than the URL's host."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name
        super().__init__(max_retries=_NO_RETRIES)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._server_name
        kwargs["assert_hostname"] = self._server_name
        super().init_poolmanager(*args, **kwargs)


class _QueryError(Exception):
    """Internal: a query failed; carries the message for QueryFailed."""


Series = list[tuple[dict[str, str], list[tuple[float, float]]]]


class PrometheusProvider:
    """The MetricsProvider for Prometheus (see the module docstring for the counting rules)."""

    def __init__(self, settings: PrometheusSettings) -> None:
        self._settings = settings
        session = requests.Session()
        session.verify = False if settings.insecure_skip_verify else (settings.ca_file or True)
        if settings.server_name:
            # Mounted on a longer prefix than the client's own adapter, so it wins for the API.
            session.mount(settings.url.rstrip("/") + "/api/", _ServerNameAdapter(settings.server_name))
        headers = {"Authorization": f"Bearer {settings.bearer_token}"} if settings.bearer_token else None
        self._client = PrometheusConnect(
            url=settings.url.rstrip("/"),
            headers=headers,
            auth=settings.basic_auth,
            session=session,
            retry=_NO_RETRIES,
            timeout=settings.timeout,
        )

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    # --- the Protocol ------------------------------------------------------------------------

    def observe(
        self, metric: MetricCriteria, window: Window, versions: Versions, variables: Mapping[str, str]
    ) -> Observation:
        """One interval's counts of both cohorts for ``metric`` (guards: the candidate's value)."""
        if isinstance(metric, GuardCriteria):
            scope = {**variables, "version": versions.candidate, "interval": _duration(window.seconds)}
            return self.scalar(metric.query, window.end, scope)
        try:
            if isinstance(metric, ErrorRateCriteria):
                return self._rates(metric, window, versions, variables)
            if isinstance(metric, LatencyCriteria):
                return self._histogram(metric.buckets_query, None, window, versions, variables)
            if isinstance(metric, DriftCriteria) and metric.numeric:
                return self._histogram(
                    metric.buckets_query, metric.invalid_query, window, versions, variables
                )
            if isinstance(metric, DriftCriteria):
                return self._classes(metric, window, versions, variables)
        except _QueryError as failed:
            return QueryFailed(str(failed))
        except _NoSeriesError as missing:
            return NoData(str(missing))
        except ObservationError as unusable:
            return QueryFailed(f"unusable counts: {unusable}")
        raise TypeError(f"unknown metric kind {metric.kind!r}")

    def scalar(self, query: str, at: datetime, variables: Mapping[str, str]) -> ScalarResult:
        """The one number ``query`` returns at ``at``; NoData when it returns nothing or NaN."""
        try:
            rendered = render(query, variables)
            result = self._query(rendered, at.timestamp())
        except (_QueryError, TemplateError) as failed:
            return QueryFailed(str(failed))
        try:
            values = (
                [float(result[1])] if _is_scalar(result) else [float(item["value"][1]) for item in result]
            )
        except (KeyError, TypeError, ValueError):
            return QueryFailed(f"{rendered} did not return numbers: {str(result)[:200]}")
        if not values:
            return NoData(f"no series for {rendered}")
        if len(values) > 1:
            return QueryFailed(f"{rendered} returned {len(values)} series; one number is needed")
        if math.isnan(values[0]):
            return NoData(f"{rendered} returned NaN")
        if math.isinf(values[0]):
            return QueryFailed(f"{rendered} returned {values[0]}")
        return ScalarObservation(values[0])

    # --- kinds -------------------------------------------------------------------------------

    def _rates(
        self, metric: ErrorRateCriteria, window: Window, versions: Versions, variables: Mapping[str, str]
    ) -> RateObservation:
        def cohort(version: str) -> RateCounts:
            requests = self._total(metric.total_query, window, version, variables, missing_is_zero=False)
            errors = self._total(metric.errors_query, window, version, variables, missing_is_zero=True)
            return RateCounts(requests=requests, events=errors)

        return RateObservation(candidate=cohort(versions.candidate), baseline=cohort(versions.baseline))

    def _histogram(
        self,
        template: str,
        invalid_template: str | None,
        window: Window,
        versions: Versions,
        variables: Mapping[str, str],
    ) -> HistogramObservation:
        def cohort(version: str) -> tuple[tuple[float, ...], tuple[int, ...], int]:
            cumulative = self._grouped(template, window, version, variables, "le")
            edges, counts = _per_bucket(cumulative, version)
            invalid = 0
            if invalid_template is not None:
                invalid = self._total(invalid_template, window, version, variables, missing_is_zero=True)
            return edges, counts, invalid

        c_edges, candidate, invalid_c = cohort(versions.candidate)
        b_edges, baseline, invalid_b = cohort(versions.baseline)
        if c_edges != b_edges:
            raise _QueryError(
                "bucket layouts differ between cohorts: "
                f"candidate le {list(c_edges)}, baseline le {list(b_edges)}"
            )
        return HistogramObservation(c_edges, candidate, baseline, invalid_c, invalid_b)

    def _classes(
        self, metric: DriftCriteria, window: Window, versions: Versions, variables: Mapping[str, str]
    ) -> ClassObservation:
        candidate = self._grouped(metric.buckets_query, window, versions.candidate, variables, metric.by)
        baseline = self._grouped(metric.buckets_query, window, versions.baseline, variables, metric.by)
        classes = tuple(sorted(set(candidate) | set(baseline)))

        def invalid(version: str) -> int:
            if metric.invalid_query is None:
                return 0
            return self._total(metric.invalid_query, window, version, variables, missing_is_zero=True)

        return ClassObservation(
            classes,
            tuple(_whole(candidate.get(name, 0.0), name) for name in classes),
            tuple(_whole(baseline.get(name, 0.0), name) for name in classes),
            invalid(versions.candidate),
            invalid(versions.baseline),
        )

    # --- counters ----------------------------------------------------------------------------

    def _total(
        self,
        template: str,
        window: Window,
        version: str,
        variables: Mapping[str, str],
        *,
        missing_is_zero: bool,
    ) -> int:
        series = self._series(template, window, version, variables, missing_is_zero=missing_is_zero)
        return _whole(sum(_increase(samples, window) for _, samples in series), template)

    def _grouped(
        self, template: str, window: Window, version: str, variables: Mapping[str, str], label: str
    ) -> dict[str, float]:
        groups: dict[str, float] = defaultdict(float)
        for labels, samples in self._series(template, window, version, variables, missing_is_zero=False):
            if label not in labels:
                raise _QueryError(f"a series of {template!r} has no {label!r} label: {labels}")
            groups[labels[label]] += _increase(samples, window)
        return dict(groups)

    def _series(
        self,
        template: str,
        window: Window,
        version: str,
        variables: Mapping[str, str],
        *,
        missing_is_zero: bool,
    ) -> Series:
        scope = {**variables, "version": version, "interval": _duration(window.seconds)}
        try:
            selector = render(template, scope)
        except TemplateError as unsafe:
            raise _QueryError(str(unsafe)) from None
        reach = math.ceil(window.seconds + self._settings.lookback)
        result = self._query(f"{selector}[{reach}s]", window.end.timestamp() - EVALUATE_BEFORE_END)
        if _is_scalar(result) or any("values" not in item for item in result):
            raise _QueryError(f"{selector} is not a series selector")
        series: Series = [
            (item["metric"], [(float(t), float(v)) for t, v in item["values"]]) for item in result
        ]
        if not series and not missing_is_zero:
            raise _NoSeriesError(f"no series for {selector} ({version})")
        return series

    def _query(self, query: str, at: float) -> Any:
        """One instant query; Prometheus' ``result`` (a list of series, or a scalar pair)."""
        params = {"time": f"{at:.3f}", "timeout": f"{self._settings.timeout:g}s"}
        try:
            with warnings.catch_warnings():
                if self._settings.insecure_skip_verify:
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                return self._client.custom_query(query, params=params)
        except PrometheusApiClientException as refused:
            raise _QueryError(f"{_refusal(str(refused))} (query {query})") from None
        except requests.Timeout:
            raise _QueryError(f"timed out after {self._settings.timeout:g}s: {query}") from None
        except (requests.RequestException, ValueError) as unreachable:
            raise _QueryError(
                f"cannot query Prometheus at {self._settings.url}: {_cause(unreachable)}"
            ) from None


class _NoSeriesError(Exception):
    """Internal: a query returned no series; carries the message for NoData."""


_REFUSAL = re.compile(r"^HTTP Status Code (\d+) \((b['\"].*['\"])\)$", re.DOTALL)


def _refusal(message: str) -> str:
    """The refusal as "HTTP 400: bad_data: <Prometheus' error>", from the client's exception text."""
    match = _REFUSAL.match(message)
    if not match:
        return message
    try:
        body = json.loads(ast.literal_eval(match.group(2)))
        return f"HTTP {match.group(1)}: {body.get('errorType', 'error')}: {body.get('error', '')}"
    except (ValueError, SyntaxError, AttributeError):
        return f"HTTP {match.group(1)}: {ast.literal_eval(match.group(2))[:300]!r}"


def _cause(error: Exception) -> str:
    """The innermost reason of a requests error, e.g. "[Errno 111] Connection refused"."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return str(reason or error).rsplit(": ", 1)[-1][:300]


def _is_scalar(result: Any) -> bool:
    """A scalar (or string) result is a [time, "value"] pair, not a list of series."""
    return isinstance(result, list) and len(result) == 2 and isinstance(result[1], str)


def _duration(seconds: float) -> str:
    """A window length as a PromQL duration, e.g. 60s."""
    return f"{round(seconds)}s"


def _increase(samples: list[tuple[float, float]], window: Window) -> float:
    """The counter's increase over [start, end) from raw samples (module docstring)."""
    start, end = window.start.timestamp(), window.end.timestamp()
    total = 0.0
    previous: float | None = None
    for timestamp, value in sorted(samples):
        if timestamp >= end:
            break
        if timestamp >= start:
            if previous is None or value < previous:
                total += value
            else:
                total += value - previous
        previous = value
    return total


def _whole(value: float, what: str) -> int:
    rounded = round(value)
    if abs(value - rounded) > WHOLE_TOLERANCE * max(1.0, abs(value)):
        raise _QueryError(f"{what} increased by {value:g}, not a whole number of events")
    return int(rounded)


def _per_bucket(cumulative: dict[str, float], version: str) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Finite edges and per-bucket counts from cumulative ``le`` counts (which must end at +Inf)."""
    try:
        by_edge = sorted((float(le), count) for le, count in cumulative.items())
    except ValueError:
        raise _QueryError(f"le labels must be numbers, got {sorted(cumulative)} ({version})") from None
    if not by_edge or not math.isinf(by_edge[-1][0]):
        raise _QueryError(f'the histogram has no le="+Inf" bucket ({version})')
    counts: list[int] = []
    below = 0.0
    for edge, count in by_edge:
        if count < below - WHOLE_TOLERANCE:
            raise _QueryError(f"bucket counts are not cumulative at le={edge:g} ({version})")
        counts.append(_whole(count - below, f"bucket le={edge:g}"))
        below = count
    return tuple(edge for edge, _ in by_edge[:-1]), tuple(counts)
