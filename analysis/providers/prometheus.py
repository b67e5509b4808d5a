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
cohort (by ``le`` for histograms, by the class label for class counts). Native histogram series
(``histogram: native``, Prometheus 3) are differenced bucket by bucket by the same rules and both
cohorts put on one grid (analysis.native).

**Two reaches** (issue 14: a look's answer is most of a controller's work at scale). The sample
before a window is the only one needed from before it, and for a series scraped every minute or
more often it lies within :data:`NEAR_REACH` (60 s) of the window's start. So a look first asks
for the window plus 60 s, not plus ``lookback`` (600 s: with a 60 s window, an answer 5.5 times
smaller). The same query is sent again over the window plus ``lookback``, and that answer used,
when the near one is empty, or a cohort's part of it is empty where a missing series is NoData
(requests, buckets, classes; not an errors counter beside the other cohort's), or a series in it
has no sample before the window (created inside it — a new pod, an errors counter's first error
— or scraped less often than every minute). So the counts are exactly those of the full reach:
a series with a sample in the near reach before the window has the same previous sample in both
answers (the latest one before the start) and the same samples inside the window. The one
difference: a series with no sample at all in the near reach or the window (its pod gone for
over a minute) is missing from the near answer, where the full one has it with an increase of
zero — the count is the same; only its label values (an ``le`` edge, a class) are not listed.
The price of a new series is one more query at the look it appears in.

Templates must therefore be series selectors (``metric{version="{{version}}"}``), not
expressions; Prometheus rejects a range over an expression and the metric shows ERROR.

**Both cohorts in one query** where the template allows (issue 14: fewer queries per look): when
``{{version}}`` is only the whole value of equality matchers on one label, the query is
``metric{version=~"<baseline>|<candidate>"}`` (each regex-escaped; analysis.templates.
render_combined) and its series are split by that label; otherwise one query per cohort. The
counting, the missing-series rules and the messages (which name the cohort's own selector) are
the same either way. A series in a combined answer whose label is neither version is refused
(ERROR), not ignored: Prometheus never sends one for that anchored regex.
A missing series is NO_DATA, except an errors counter (or invalid-predictions counter) that does
not exist yet, which counts as zero: labelled counters often appear with the first error.
Failures (timeouts, HTTP errors, bad PromQL, bucket layouts that differ between the cohorts) are
:class:`QueryFailed` with the message, never an exception and never a PASS.

Whether an errors query matched any series at all is reported too
(:attr:`RateObservation.errors_matched`): zero errors from a counter that does not exist yet and
zero errors from a misspelt metric name look the same in one interval, and the engine must tell
them apart over the whole analysis (a query that never matched cannot PASS).

**Nothing the server sends is repeated.** The address is spec data that whoever may create a
rollout controls, and what this module returns ends up in status, Events and logs, which that
person (and CI) can read; a server that answers with the text of something it should not know, or
with arbitrary text, must not get it published. So messages use a fixed vocabulary: the HTTP
status, Prometheus' ``errorType`` when it is one of the documented ones, the address's host, the
query (from the spec), and a reason chosen here from the exception's type (never its text: an
invalid status line, for one, is quoted in http.client's exception). Redirects are not followed
(a 3xx is an error), and answers larger than :data:`MAX_ANSWER_BYTES` are refused. Class
names, which are label values and are kept in status, must be printable and short, and at most
:data:`MAX_CLASSES` of them (or of histogram buckets) are accepted.

**Credentials** (bearer token, basic-auth password) are :class:`Credential` objects whose
``repr`` and ``str`` are ``***``, so a settings object in a log line or a traceback shows no
secret. **A CA bundle** is PEM text loaded into an ``ssl.SSLContext`` in memory (``cadata``):
the controller runs with a read-only root file system and no writable ``/tmp``.
"""

from __future__ import annotations

import base64
import hmac
import http.client
import json
import math
import os
import re
import socket
import ssl
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from analysis import native
from analysis.criteria import (
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    HistogramKind,
    LatencyCriteria,
    MetricCriteria,
)
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
from analysis.providers.unresponsive import Unresponsive
from analysis.templates import Combined, TemplateError, render, render_combined

_NO_RETRIES = Retry(total=0, read=False, redirect=False)
"""Never retry (the next look is the retry); read timeouts surface as requests.ReadTimeout."""
EVALUATE_BEFORE_END = 0.001
"""Seconds before the window's end at which range queries are evaluated: a sample at exactly
``end`` belongs to the next window."""
WHOLE_TOLERANCE = 1e-6
NEAR_REACH = 60.0
"""Seconds before a window that a look's first query reaches (module docstring, "Two reaches"):
the previous sample of a series scraped every minute or more often lies within it."""
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The largest answer read: a server that sends more is refused, not held in memory."""
PROMETHEUS_ERROR_TYPES = frozenset(
    {"bad_data", "timeout", "canceled", "execution", "internal", "unavailable", "not_found", "not_acceptable"}
)
"""The ``errorType`` values of Prometheus' HTTP API; anything else is not repeated."""
MAX_CLASSES = 256
"""Most classes (or histogram buckets) one metric may have: they are kept in status."""
MAX_CLASS_NAME = 128
_VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


class Credential:
    """A secret value (token, password) that never prints: ``repr`` and ``str`` are ``***``.

    Why: settings objects travel through dataclass reprs, log lines and tracebacks; wrapping the
    value means an accidental ``print(settings)`` or ``log.info(settings=...)`` shows nothing.
    :meth:`reveal` is the one place the value is read (to build the Authorization header).
    Equality and hash follow the value, so settings with a rotated token are new settings.

    >>> token = Credential("s3cret")
    >>> token, str(token), f"{token}"
    (***, '***', '***')
    >>> token.reveal()
    's3cret'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; only for the request that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credential):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)


def _credential(value: Credential | str) -> Credential:
    return value if isinstance(value, Credential) else Credential(value)


@dataclass(frozen=True)
class PrometheusSettings:
    """How to reach Prometheus: address, timeout, authentication, TLS.

    Plain strings given as ``bearer_token`` or the basic-auth password are wrapped in
    :class:`Credential` when the settings are made.
    """

    url: str
    timeout: float = 30.0
    bearer_token: Credential | str | None = None
    basic_auth: tuple[str, Credential | str] | None = None
    ca_pem: str | None = None
    """PEM bundle (text, not a file) to verify the server with; None: the system's roots."""
    server_name: str | None = None
    """Name to verify the server certificate against instead of the URL's host."""
    insecure_skip_verify: bool = False
    lookback: float = 600.0
    """Seconds before a window searched for each series' previous sample."""
    connections: int = 10
    """Connections kept open to the server for reuse, at most: size it to the queries sent at once
    (a controller: its workers times a look's queries in flight). A query beyond it opens one
    more connection and closes it after, a new TCP (and TLS) handshake each time."""

    def __post_init__(self) -> None:
        if self.bearer_token is not None:
            object.__setattr__(self, "bearer_token", _credential(self.bearer_token))
        if self.basic_auth is not None:
            user, password = self.basic_auth
            object.__setattr__(self, "basic_auth", (user, _credential(password)))

    @property
    def host(self) -> str:
        """The address's host and port, never its user info or path: what messages name."""
        return address_host(self.url)


def address_host(url: str) -> str:
    """``host:port`` of ``url`` for messages (credentials in a URL are never repeated).

    >>> address_host("https://user:pw@prometheus.monitoring:9090/prom")
    'prometheus.monitoring:9090'
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def ssl_context(ca_pem: str | None, verify: bool = True) -> ssl.SSLContext | None:
    """A client context trusting exactly ``ca_pem`` (in memory); None: requests' defaults.

    ``ssl.SSLError`` when the PEM holds no usable certificate.
    """
    if ca_pem is None or not verify:
        return None
    return ssl.create_default_context(cadata=ca_pem)


class _Adapter(HTTPAdapter):
    """No retries; optionally a CA held in memory and a server name other than the URL's host.

    With ``context`` the pools use it (``ssl_context``) and requests' own CA bundle is kept out:
    ``cert_verify`` would otherwise hand the pool certifi's file, which urllib3 loads into the
    same context and so trusts every public CA as well as the one asked for.
    """

    def __init__(self, context: ssl.SSLContext | None, server_name: str | None, connections: int) -> None:
        self._context = context
        self._server_name = server_name
        super().__init__(max_retries=_NO_RETRIES, pool_maxsize=connections)

    def _tls(self, kwargs: dict[str, Any]) -> None:
        if self._context is not None:
            kwargs["ssl_context"] = self._context
        if self._server_name:
            kwargs["server_hostname"] = self._server_name
            kwargs["assert_hostname"] = self._server_name

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        self._tls(kwargs)
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        self._tls(proxy_kwargs)
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        if self._context is None or not verify or not url.lower().startswith("https"):
            super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
            return
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


class _QueryError(Exception):
    """Internal: a query failed; carries the message for QueryFailed."""


class _QueryTimeoutError(_QueryError):
    """Internal: a query got no answer within the timeout."""


QueryObserver = Callable[[str], None]
"""Told of every query, with its result: ``success``, ``error``, ``timeout``, or ``skipped``
(not sent: the source timed out recently, analysis.providers.unresponsive)."""


Series = list[tuple[dict[str, str], list[tuple[float, float]]]]
_T = TypeVar("_T")
Pair = tuple[_T, _T]
"""The candidate's and the baseline's (in that order)."""


class PrometheusProvider:
    """The MetricsProvider for Prometheus (see the module docstring for the counting rules)."""

    def __init__(self, settings: PrometheusSettings, on_query: QueryObserver | None = None) -> None:
        self._settings = settings
        self._on_query = on_query
        self._unresponsive = Unresponsive(settings.timeout)
        """A source that timed out is left alone for a while (analysis.providers.unresponsive)."""
        self._base = settings.url.rstrip("/")
        self._headers, self._unusable = _auth_headers(settings)
        session = requests.Session()
        # requests lets REQUESTS_CA_BUNDLE override a session's verify=False and hands that file
        # to urllib3, which would add it to a CA held in memory; so the environment is read here,
        # once: its proxies (NO_PROXY honoured) always, its CA bundle only for the default roots.
        session.trust_env = False
        self._proxies = requests.utils.get_environ_proxies(self._base)
        self._verify: bool | str = not settings.insecure_skip_verify
        if self._verify and settings.ca_pem is None:
            self._verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.verify = self._verify
        try:
            context = ssl_context(settings.ca_pem, not settings.insecure_skip_verify)
        except (ssl.SSLError, ValueError):
            context = None
            self._unusable = self._unusable or "the CA bundle holds no usable PEM certificate"
        adapter = _Adapter(context, settings.server_name, settings.connections)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session
        self.closed = False
        """True once :meth:`close` released the connections (the source cache closes stale ones)."""

    def close(self) -> None:
        """Release the HTTP connections."""
        self._session.close()
        self.closed = True

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
            if isinstance(metric, LatencyCriteria) and metric.histogram is HistogramKind.NATIVE:
                return self._native(metric.buckets_query, window, versions, variables)
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
        except (KeyError, TypeError, ValueError, IndexError):
            return QueryFailed(f"{rendered} did not return numbers")
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
        requests = self._total(metric.total_query, window, versions, variables, missing_is_zero=False)
        errors = self._series(metric.errors_query, window, versions, variables, missing_is_zero=True)
        candidate, baseline = (
            RateCounts(requests=total, events=_counted(series, window, metric.errors_query))
            for total, series in zip(requests, errors, strict=True)
        )
        return RateObservation(candidate, baseline, errors_matched=any(errors))

    def _histogram(
        self,
        template: str,
        invalid_template: str | None,
        window: Window,
        versions: Versions,
        variables: Mapping[str, str],
    ) -> HistogramObservation:
        cumulative = self._grouped(template, window, versions, variables, "le")
        (c_edges, candidate), (b_edges, baseline) = (
            _per_bucket(counts, version)
            for counts, version in zip(cumulative, (versions.candidate, versions.baseline), strict=True)
        )
        invalid_c, invalid_b = (0, 0)
        if invalid_template is not None:
            invalid_c, invalid_b = self._total(
                invalid_template, window, versions, variables, missing_is_zero=True
            )
        if c_edges != b_edges:
            raise _QueryError(
                "bucket layouts differ between cohorts: "
                f"candidate le {list(c_edges)}, baseline le {list(b_edges)}"
            )
        return HistogramObservation(c_edges, candidate, baseline, invalid_c, invalid_b)

    def _native(
        self, template: str, window: Window, versions: Versions, variables: Mapping[str, str]
    ) -> HistogramObservation:
        """Native histogram series differenced per bucket, both cohorts on one grid (analysis.native)."""
        candidate, baseline = (
            native.total(native.window_increase(_native_samples(item, selector), window) for item in result)
            for selector, result in self._ranges(template, window, versions, variables, missing_is_zero=False)
        )
        return HistogramObservation(*native.common_layout(candidate, baseline))

    def _classes(
        self, metric: DriftCriteria, window: Window, versions: Versions, variables: Mapping[str, str]
    ) -> ClassObservation:
        candidate, baseline = self._grouped(metric.buckets_query, window, versions, variables, metric.by)
        classes = tuple(sorted(set(candidate) | set(baseline)))
        # Class names come from the server and are kept in status: bounded, printable, never quoted.
        if len(classes) > MAX_CLASSES:
            raise _QueryError(f"{metric.buckets_query!r} has more than {MAX_CLASSES} {metric.by!r} classes")
        if not all(name.isprintable() and 0 < len(name) <= MAX_CLASS_NAME for name in classes):
            raise _QueryError(
                f"a {metric.by!r} value of {metric.buckets_query!r} is not a printable name of at most "
                f"{MAX_CLASS_NAME} characters"
            )
        what = f"a {metric.by!r} class of {metric.buckets_query!r}"

        invalid = (0, 0)
        if metric.invalid_query is not None:
            invalid = self._total(metric.invalid_query, window, versions, variables, missing_is_zero=True)
        return ClassObservation(
            classes,
            tuple(_whole(candidate.get(name, 0.0), what) for name in classes),
            tuple(_whole(baseline.get(name, 0.0), what) for name in classes),
            *invalid,
        )

    # --- counters ----------------------------------------------------------------------------

    def _total(
        self,
        template: str,
        window: Window,
        versions: Versions,
        variables: Mapping[str, str],
        *,
        missing_is_zero: bool,
    ) -> Pair[int]:
        candidate, baseline = self._series(
            template, window, versions, variables, missing_is_zero=missing_is_zero
        )
        return _counted(candidate, window, template), _counted(baseline, window, template)

    def _grouped(
        self, template: str, window: Window, versions: Versions, variables: Mapping[str, str], label: str
    ) -> Pair[dict[str, float]]:
        def by_label(series: Series) -> dict[str, float]:
            groups: dict[str, float] = defaultdict(float)
            for labels, samples in series:
                if label not in labels:
                    raise _QueryError(f"a series of {template!r} has no {label!r} label")
                groups[labels[label]] += _increase(samples, window)
            return dict(groups)

        candidate, baseline = self._series(template, window, versions, variables, missing_is_zero=False)
        return by_label(candidate), by_label(baseline)

    def _series(
        self,
        template: str,
        window: Window,
        versions: Versions,
        variables: Mapping[str, str],
        *,
        missing_is_zero: bool,
    ) -> Pair[Series]:
        def samples(selector: str, result: list[Any]) -> Series:
            try:
                return [
                    (
                        {str(key): str(value) for key, value in item["metric"].items()},
                        [(float(t), float(v)) for t, v in item["values"]],
                    )
                    for item in result
                ]
            except (KeyError, TypeError, ValueError, AttributeError):
                raise _QueryError(f"{selector} is not a series selector (no range of samples)") from None

        candidate, baseline = self._ranges(
            template, window, versions, variables, missing_is_zero=missing_is_zero
        )
        return samples(*candidate), samples(*baseline)

    def _ranges(
        self,
        template: str,
        window: Window,
        versions: Versions,
        variables: Mapping[str, str],
        *,
        missing_is_zero: bool,
    ) -> Pair[tuple[str, list[Any]]]:
        """The candidate's and the baseline's selector and range result (module docstring).

        One query for both cohorts when the template allows it (analysis.templates.render_combined),
        its series split by the version label; else one query per cohort. Either way the
        selector returned is the cohort's own rendering, which messages name.
        """
        scope = {**variables, "interval": _duration(window.seconds)}
        cohorts = (versions.candidate, versions.baseline)
        try:
            selectors = [render(template, {**scope, "version": version}) for version in cohorts]
            combined = render_combined(template, scope, "version", (versions.baseline, versions.candidate))
        except TemplateError as unsafe:
            raise _QueryError(str(unsafe)) from None
        if combined is None:  # lazily: the candidate's is checked before the baseline's is sent
            results: Iterator[list[Any]] = (
                self._range(selector, window, lambda result: [result], missing_is_zero)[0]
                for selector in selectors
            )
        else:
            split = self._range(
                combined.query, window, lambda result: _split(result, combined, cohorts), missing_is_zero
            )
            results = iter(split)
        candidate, baseline = (
            _checked(selector, version, result, missing_is_zero=missing_is_zero)
            for selector, version, result in zip(selectors, cohorts, results, strict=True)
        )
        return candidate, baseline

    def _range(
        self,
        selector: str,
        window: Window,
        cohorts: Callable[[list[Any]], list[list[Any]]],
        missing_is_zero: bool,
    ) -> list[list[Any]]:
        """The range result of ``selector`` (window and samples before it), split into ``cohorts``.

        First over the window and :data:`NEAR_REACH` before it; over the whole ``lookback`` only
        when :func:`_near_answer_suffices` says the counts could differ (module docstring, "Two
        reaches").
        """
        near = min(NEAR_REACH, self._settings.lookback)
        parts = cohorts(self._reach(selector, window, near))
        if near < self._settings.lookback and not _near_answer_suffices(
            parts, window.start.timestamp(), missing_is_zero
        ):
            parts = cohorts(self._reach(selector, window, self._settings.lookback))
        return parts

    def _reach(self, selector: str, window: Window, before: float) -> list[Any]:
        """The raw samples of ``selector`` over the window and ``before`` seconds before it."""
        reach = math.ceil(window.seconds + before)
        result = self._query(f"{selector}[{reach}s]", window.end.timestamp() - EVALUATE_BEFORE_END)
        if not isinstance(result, list) or _is_scalar(result):
            raise _QueryError(f"{selector} is not a series selector")
        return result

    def _query(self, query: str, at: float) -> Any:
        """One instant query; Prometheus' ``result`` (a list of series, or a scalar pair).

        Every message names the host and the query, never anything the server sent (module
        docstring).
        """
        if self._unusable:
            raise _QueryError(f"cannot query Prometheus at {self._settings.host}: {self._unusable}")
        wait = self._unresponsive.wait_left()
        if wait is not None:
            self._told("skipped")
            raise _QueryError(
                f"Prometheus at {self._settings.host} timed out before and is asked again in "
                f"{math.ceil(wait)}s (query {query})"
            )
        try:
            result = self._send(query, at)
        except _QueryTimeoutError:
            self._unresponsive.timed_out()
            self._told("timeout")
            raise
        except _QueryError:
            self._unresponsive.answered()
            self._told("error")
            raise
        self._unresponsive.answered()
        self._told("success")
        return result

    def _told(self, result: str) -> None:
        if self._on_query is not None:
            self._on_query(result)

    def _send(self, query: str, at: float) -> Any:
        """Send one instant query (see :meth:`_query`)."""
        host = self._settings.host
        params = {"query": query, "time": f"{at:.3f}", "timeout": f"{self._settings.timeout:g}s"}
        try:
            with warnings.catch_warnings():
                if self._settings.insecure_skip_verify:
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                with self._session.get(
                    f"{self._base}/api/v1/query",
                    params=params,
                    headers=self._headers,
                    timeout=self._settings.timeout,
                    verify=self._verify,
                    proxies=self._proxies,
                    allow_redirects=False,
                    stream=True,
                ) as response:
                    status = response.status_code
                    body = _read_capped(response)
        except requests.Timeout:
            raise _QueryTimeoutError(f"timed out after {self._settings.timeout:g}s: {query}") from None
        except requests.RequestException as unreachable:
            reason = _cause(unreachable)
            if reason == _TIMED_OUT:
                raise _QueryTimeoutError(f"timed out after {self._settings.timeout:g}s: {query}") from None
            raise _QueryError(f"cannot query Prometheus at {host}: {reason}") from None
        if body is None:
            raise _QueryError(
                f"the answer from {host} is larger than {MAX_ANSWER_BYTES // 2**20} MiB (query {query})"
            )
        if status != 200:
            raise _QueryError(f"{_refusal(status, body)} from {host} (query {query})")
        try:
            payload = json.loads(body)
            if payload["status"] != "success":
                raise ValueError("not a success")
            return payload["data"]["result"]
        except (ValueError, KeyError, TypeError):
            raise _QueryError(
                f"the answer from {host} is not a Prometheus API result (query {query})"
            ) from None


class _NoSeriesError(Exception):
    """Internal: a query returned no series; carries the message for NoData."""


def _auth_headers(settings: PrometheusSettings) -> tuple[dict[str, str], str | None]:
    """The Authorization header, or why the credentials cannot be sent (never their value).

    Basic auth is encoded as UTF-8 (RFC 7617; what Prometheus compares), not requests' latin-1,
    which fails on other characters with an error that quotes them.
    """
    token, basic = settings.bearer_token, settings.basic_auth
    if isinstance(token, Credential):
        if not _VISIBLE_ASCII.match(token.reveal()):
            return {}, "the bearer token has characters an HTTP header cannot carry (visible ASCII only)"
        return {"Authorization": f"Bearer {token.reveal()}"}, None
    if basic is not None:
        user, password = basic
        secret = password.reveal() if isinstance(password, Credential) else password
        if ":" in user:
            return {}, "the basic-auth username has a colon, which basic auth cannot carry"
        encoded = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
        return {"Authorization": f"Basic {encoded}"}, None
    return {}, None


def _read_capped(response: requests.Response) -> bytes | None:
    """The body, or None when it is larger than MAX_ANSWER_BYTES (read no further)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=1 << 16):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _refusal(status: int, body: bytes) -> str:
    """``HTTP 400: bad_data``: the status and, if it is a documented one, Prometheus' errorType.

    Prometheus' ``error`` text is left out on purpose: from a server that is not Prometheus it
    is whatever that server chose to say (module docstring).

    >>> _refusal(400, b'{"status":"error","errorType":"bad_data","error":"parse error"}')
    'HTTP 400: bad_data'
    >>> _refusal(500, b'{"errorType":"token=s3cret"}')
    'HTTP 500'
    """
    try:
        error_type = json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        error_type = None
    if isinstance(error_type, str) and error_type in PROMETHEUS_ERROR_TYPES:
        return f"HTTP {status}: {error_type}"
    return f"HTTP {status}"


_TIMED_OUT = "timed out"
_OPENSSL_REASON = re.compile(r"^[A-Z0-9_]{1,80}$")
_VERIFY_MESSAGE = re.compile(r"^[\x20-\x7e]{1,200}$")


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it wraps (cause, context, urllib3's reason, arguments)."""
    found: list[BaseException] = []
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        stack.extend(item for item in linked if isinstance(item, BaseException))
    return found


def _cause(error: BaseException) -> str:
    """Why a request failed, in this module's words, e.g. "connection refused".

    Chosen from the exception types alone: their text can quote the server (an invalid status
    line) or a header value (a token). The exceptions whose text is used come from this
    machine's OpenSSL (an error mnemonic, a certificate-verification message).
    """
    causes = _causes(error)

    def first(kind: type[BaseException] | tuple[type[BaseException], ...]) -> BaseException | None:
        return next((cause for cause in causes if isinstance(cause, kind)), None)

    verify = first(ssl.SSLCertVerificationError)
    if isinstance(verify, ssl.SSLCertVerificationError):
        message = str(verify.verify_message or "")
        return "certificate verify failed" + (f": {message}" if _VERIFY_MESSAGE.match(message) else "")
    tls = first(ssl.SSLError)
    if isinstance(tls, ssl.SSLError):
        reason = str(tls.reason or "")
        return "TLS error" + (f": {reason}" if _OPENSSL_REASON.match(reason) else "")
    if first((ReadTimeoutError, socket.timeout)) is not None:
        return _TIMED_OUT
    if first(requests.TooManyRedirects) is not None:
        return "the server answered with a redirect, which is not followed"
    if first(socket.gaierror) is not None:
        return "cannot resolve the host name"
    if first(ConnectionRefusedError) is not None:
        return "connection refused"
    if first(ConnectionResetError) is not None:
        return "connection reset by the server"
    if first((http.client.HTTPException, ProtocolError, requests.exceptions.ChunkedEncodingError)):
        return "the server's answer is not valid HTTP"
    if first(requests.exceptions.InvalidHeader) is not None:
        return "a request header is not valid"
    system = first(OSError)
    if isinstance(system, OSError) and system.errno:
        return os.strerror(system.errno)
    return type(error).__name__


def _checked(
    selector: str, version: str, result: list[Any], *, missing_is_zero: bool
) -> tuple[str, list[Any]]:
    """A cohort's selector and range result; _NoSeriesError, naming the cohort, when it has none."""
    if not result and not missing_is_zero:
        raise _NoSeriesError(f"no series for {selector} ({version})")
    return selector, result


def _split(result: list[Any], combined: Combined, versions: tuple[str, str]) -> list[list[Any]]:
    """The series of a combined query by cohort, in the order of ``versions``.

    Cohorts are told apart by the value of ``combined.label``. A series whose label is neither
    version (or missing) is refused, not ignored: Prometheus never returns one for the anchored
    regex sent, so the answer is not to be trusted.
    """
    split: dict[str, list[Any]] = {version: [] for version in versions}
    for item in result:
        owner = _label_value(item, combined.label)
        if owner not in split:
            raise _QueryError(
                f"{combined.query} returned a series whose {combined.label!r} label is neither "
                "the candidate's nor the baseline's version"
            )
        split[owner].append(item)
    return [split[version] for version in versions]


def _label_value(item: Any, label: str) -> str | None:
    """The value of ``label`` of one series of a result; None when it has none (or is no series)."""
    metric = item.get("metric") if isinstance(item, dict) else None
    value = metric.get(label) if isinstance(metric, dict) else None
    return value if isinstance(value, str) else None


def _near_answer_suffices(parts: list[list[Any]], start: float, missing_is_zero: bool) -> bool:
    """Whether the near answer's cohorts count what the full lookback's would (module docstring).

    Not when the answer is empty (a series with no recent sample may exist: zero counts, not
    NoData, and an errors query that matched), nor when a cohort's part is empty and a missing
    series is NoData (requests, buckets), nor when a series has no sample before ``start``. An
    empty cohort of an errors query beside a non-empty one counts zero either way.
    """
    if not any(parts) or (not missing_is_zero and not all(parts)):
        return False
    return all(_each_reaches_before(part, start) for part in parts)


def _each_reaches_before(result: list[Any], start: float) -> bool:
    """Whether every series of ``result`` has a sample before ``start``.

    Only each series' first sample is read (Prometheus sends them in time order); a series that
    cannot be read here makes the provider ask again over the full reach, where it is judged.
    """
    for item in result:
        if not isinstance(item, dict) or not ({"values", "histograms"} & item.keys()):
            return False
        try:  # float samples, native histogram samples, or both (a series that changed type)
            if any(float(item[kind][0][0]) >= start for kind in ("values", "histograms") if kind in item):
                return False
        except (TypeError, ValueError, IndexError, KeyError):
            return False
    return True


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


def _native_samples(item: Any, selector: str) -> list[tuple[float, native.NativeSample]]:
    """The native histogram samples of one series of a range result.

    Prometheus writes them as ``"histograms": [[t, {"count", "sum", "buckets": [[rule, lower,
    upper, count], ...]}], ...]`` with numbers as strings; the boundary rule (which ends are
    closed) does not matter for latencies, and the sum is not used.
    """
    try:
        raw = item["histograms"]
    except (KeyError, TypeError):
        raise _QueryError(f"{selector} has no native histogram samples (classic buckets?)") from None
    try:
        return [
            (
                float(timestamp),
                native.NativeSample(
                    float(histogram["count"]),
                    tuple(
                        native.NativeBucket(float(lower), float(upper), float(count))
                        for _, lower, upper, count in histogram.get("buckets", ())
                    ),
                ),
            )
            for timestamp, histogram in raw
        ]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _QueryError(f"{selector} returned native histogram samples this provider cannot read") from None


def _counted(series: Series, window: Window, what: str) -> int:
    """The whole number of events that one cohort's series counted in the window."""
    return _whole(sum(_increase(samples, window) for _, samples in series), what)


def _whole(value: float, what: str) -> int:
    if not math.isfinite(value):
        raise _QueryError(f"{what} increased by {value}, not a whole number of events")
    rounded = round(value)
    if abs(value - rounded) > WHOLE_TOLERANCE * max(1.0, abs(value)):
        raise _QueryError(f"{what} increased by {value:g}, not a whole number of events")
    return int(rounded)


def _per_bucket(cumulative: dict[str, float], version: str) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Finite edges and per-bucket counts from cumulative ``le`` counts (which must end at +Inf)."""
    try:
        by_edge = sorted((float(le), count) for le, count in cumulative.items())
    except ValueError:
        raise _QueryError(f"the histogram's le labels are not all numbers ({version})") from None
    if len(by_edge) > MAX_CLASSES:
        raise _QueryError(f"the histogram has more than {MAX_CLASSES} buckets ({version})")
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
