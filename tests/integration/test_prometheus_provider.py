"""The Prometheus provider against a real Prometheus holding known, backfilled counters.

The data is built from intended per-interval increments; samples every 15 s, one exactly on each
interval's start, a counter reset, a series created mid-run, an errors counter that never
appears for one cohort. The provider must return exactly the intended counts; the observations
file provider, given the intended counts, must return the same (one contract, two providers).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from analysis import (
    AnalysisCriteria,
    ClassObservation,
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    HistogramObservation,
    LatencyCriteria,
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
from analysis.providers.base import MetricsProvider, Versions
from analysis.providers.observations_file import Interval, ObservationsFileProvider
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.cli.main import app
from rollouts.local.prometheus import PrometheusServer
from tests.support.prometheus import MakePrometheus

# Against Debian's Prometheus 2.x and the test bed's 3.x build (tests/support/prometheus.py).
pytestmark = pytest.mark.prometheus_majors("2", "3")

INTERVAL = 60
INTERVALS = 5
OFFSETS = (0, 15, 30, 45)
EDGES = ("0.1", "0.5", "1", "+Inf")
CLASSES = ("ok", "fraud")
VERSIONS = Versions(baseline="v1", candidate="v2")
T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)

ERRORS = ErrorRateCriteria(
    "errors", 'model_errors_total{version="{{version}}"}', 'model_requests_total{version="{{version}}"}'
)
LATENCY = LatencyCriteria("latency", 'model_latency_seconds_bucket{version="{{version}}"}', slo=0.5)
LABELS = DriftCriteria("labels", 'model_predictions_total{version="{{version}}"}', by="label")
GPU = GuardCriteria("gpu", 'model_gpu_memory_bytes{version="{{version}}"}', max=1e9)
METRICS = (ERRORS, LATENCY, LABELS, GPU)


@dataclass
class Series:
    """One counter series: labels, and its intended increment at every sample of every interval."""

    name: str
    labels: dict[str, str]
    increments: np.ndarray  # (INTERVALS, len(OFFSETS))
    reset_at: tuple[int, int] | None = None
    born_at: int = -1
    """Interval of the first sample; -1: a sample before the first interval too (value 1000)."""
    samples: list[tuple[float, float]] = field(default_factory=list)

    def build(self) -> None:
        value = 1000.0
        if self.born_at < 0:
            self.samples.append(((T0 - timedelta(seconds=INTERVAL)).timestamp(), value))
        else:
            value = 0.0
        for interval in range(INTERVALS):
            for slot, offset in enumerate(OFFSETS):
                if interval < self.born_at:
                    continue
                step = float(self.increments[interval, slot])
                value = step if self.reset_at == (interval, slot) else value + step
                self.samples.append(
                    ((T0 + timedelta(seconds=interval * INTERVAL + offset)).timestamp(), value)
                )

    def count(self, interval: int) -> int:
        return 0 if interval < self.born_at else int(self.increments[interval].sum())


def make_series() -> list[Series]:
    rng = np.random.default_rng(20261120)

    def draws(high: int) -> np.ndarray:
        return rng.integers(0, high, size=(INTERVALS, len(OFFSETS)))

    series: list[Series] = []
    for version, pods in (("v1", ("a", "b", "c")), ("v2", ("x", "y"))):
        for pod in pods:
            labels = {"version": version, "pod": pod}
            born = 2 if pod == "y" else -1  # pod y starts mid-run
            series.append(Series("model_requests_total", labels, draws(200), born_at=born))
            if version == "v2":  # the baseline never had an error: its errors series never exists
                reset = (1, 2) if pod == "x" else None
                series.append(Series("model_errors_total", labels, draws(4), reset_at=reset, born_at=born))
            cumulative = np.zeros((INTERVALS, len(OFFSETS)), dtype=int)
            for le in EDGES:
                cumulative = cumulative + draws(60)
                series.append(
                    Series(
                        "model_latency_seconds_bucket", {**labels, "le": le}, cumulative.copy(), born_at=born
                    )
                )
            for label in CLASSES:
                series.append(
                    Series("model_predictions_total", {**labels, "label": label}, draws(30), born_at=born)
                )
    # A histogram with other edges for a third version: layouts that differ must be an error.
    for le in ("0.2", "+Inf"):
        series.append(
            Series("model_latency_seconds_bucket", {"version": "v3", "pod": "z", "le": le}, draws(5))
        )
    for item in series:
        item.build()
    return series


def openmetrics(series: list[Series]) -> str:
    lines: list[str] = []
    families: dict[str, list[Series]] = {}
    for item in series:
        families.setdefault(item.name, []).append(item)
    for name, members in families.items():
        lines.append(f"# TYPE {name} unknown")
        for item in members:
            labels = ",".join(f'{key}="{value}"' for key, value in item.labels.items())
            lines += [f"{name}{{{labels}}} {value:g} {timestamp:.3f}" for timestamp, value in item.samples]
    lines.append("# TYPE model_gpu_memory_bytes gauge")
    lines.append(
        f'model_gpu_memory_bytes{{version="v2"}} 123456 {(T0 + timedelta(seconds=150)).timestamp():.3f}'
    )
    lines.append(
        f'model_gpu_memory_bytes{{version="v1",pod="a"}} 1 {(T0 + timedelta(seconds=150)).timestamp():.3f}'
    )
    lines.append(
        f'model_gpu_memory_bytes{{version="v1",pod="b"}} 2 {(T0 + timedelta(seconds=150)).timestamp():.3f}'
    )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def window(interval: int) -> Window:
    begin = T0 + timedelta(seconds=interval * INTERVAL)
    return Window(begin, begin + timedelta(seconds=INTERVAL))


def intended(series: list[Series], interval: int) -> dict[str, object]:
    """What each metric should observe in ``interval``, from the intended increments."""

    def total(name: str, version: str, **match: str) -> int:
        return sum(
            s.count(interval)
            for s in series
            if s.name == name
            and s.labels["version"] == version
            and all(s.labels.get(k) == v for k, v in match.items())
        )

    def buckets(version: str) -> tuple[int, ...]:
        cumulative = [total("model_latency_seconds_bucket", version, le=le) for le in EDGES]
        return tuple(np.diff([0, *cumulative]).tolist())

    return {
        "errors": RateObservation(
            RateCounts(total("model_requests_total", "v2"), total("model_errors_total", "v2")),
            RateCounts(total("model_requests_total", "v1"), 0),
        ),
        "latency": HistogramObservation((0.1, 0.5, 1.0), buckets("v2"), buckets("v1")),
        "labels": ClassObservation(
            tuple(sorted(CLASSES)),
            tuple(total("model_predictions_total", "v2", label=c) for c in sorted(CLASSES)),
            tuple(total("model_predictions_total", "v1", label=c) for c in sorted(CLASSES)),
        ),
        "gpu": ScalarObservation(123456.0),
    }


@pytest.fixture(scope="module")
def data() -> list[Series]:
    return make_series()


@pytest.fixture
def server(prometheus_factory: MakePrometheus, data: list[Series]) -> PrometheusServer:
    return prometheus_factory(backfill=openmetrics(data))


@pytest.fixture
def provider(server: PrometheusServer) -> Iterator[PrometheusProvider]:
    client = PrometheusProvider(PrometheusSettings(server.url, timeout=10.0))
    yield client
    client.close()


def test_counts_equal_the_counts_written_across_a_reset(
    provider: PrometheusProvider, data: list[Series]
) -> None:
    file_provider = ObservationsFileProvider(
        [Interval(window(i), intended(data, i)) for i in range(INTERVALS)]  # type: ignore[arg-type]
    )
    providers: tuple[MetricsProvider, ...] = (provider, file_provider)
    for interval in range(INTERVALS):
        expected = intended(data, interval)
        for metric in METRICS:
            for source in providers:
                if metric is GPU and source is file_provider:
                    continue
                got = source.observe(metric, window(interval), VERSIONS, {})
                if metric is GPU and interval < 2:
                    assert isinstance(got, NoData), got  # the gauge's only sample is in interval 2
                    continue
                assert got == expected[metric.name], (type(source).__name__, metric.name, interval)


def test_whole_run_equals_the_sum_of_its_intervals(provider: PrometheusProvider, data: list[Series]) -> None:
    whole = Window(window(0).start, window(INTERVALS - 1).end)
    got = provider.observe(ERRORS, whole, VERSIONS, {})
    parts = [intended(data, i)["errors"] for i in range(INTERVALS)]
    assert isinstance(got, RateObservation)
    assert got.candidate.requests == sum(p.candidate.requests for p in parts)  # type: ignore[attr-defined]
    assert got.candidate.events == sum(p.candidate.events for p in parts)  # type: ignore[attr-defined]


def test_bucket_layouts_that_differ_are_an_error(provider: PrometheusProvider) -> None:
    got = provider.observe(LATENCY, window(1), Versions(baseline="v3", candidate="v2"), {})
    assert isinstance(got, QueryFailed)
    assert "bucket layouts differ between cohorts" in got.message


def test_missing_series_is_no_data(provider: PrometheusProvider) -> None:
    got = provider.observe(ERRORS, window(1), Versions(baseline="v1", candidate="v9"), {})
    assert isinstance(got, NoData)
    assert 'model_requests_total{version="v9"}' in got.reason


def test_a_version_string_cannot_inject_promql(provider: PrometheusProvider) -> None:
    hostile = 'v2"} or model_requests_total{version="v1'
    got = provider.observe(ERRORS, window(1), Versions(baseline="v1", candidate=hostile), {})
    assert isinstance(got, NoData)  # matched literally: no such version, not the union of two


def test_bad_query_is_an_error_with_prometheus_message(provider: PrometheusProvider) -> None:
    broken = ErrorRateCriteria("errors", "sum(", 'model_requests_total{version="{{version}}"}')
    got = provider.observe(broken, window(1), VERSIONS, {})
    assert isinstance(got, QueryFailed)
    assert "HTTP 400: bad_data" in got.message
    expression = ErrorRateCriteria("errors", "x", 'sum(model_requests_total{version="{{version}}"})')
    got = provider.observe(expression, window(1), VERSIONS, {})
    assert isinstance(got, QueryFailed)


def test_guard_scalar_needs_exactly_one_series(provider: PrometheusProvider) -> None:
    at = T0 + timedelta(seconds=170)
    assert provider.scalar('model_gpu_memory_bytes{version="v2"}', at, {}) == ScalarObservation(123456.0)
    many = provider.scalar('model_gpu_memory_bytes{version="v1"}', at, {})
    assert isinstance(many, QueryFailed)
    assert "returned 2 series" in many.message
    assert isinstance(provider.scalar('model_gpu_memory_bytes{version="none"}', at, {}), NoData)
    assert provider.scalar("1 + 2", at, {}) == ScalarObservation(3.0)
    assert isinstance(provider.scalar("0/0", at, {}), NoData)


def test_outage_is_error_never_pass(server: PrometheusServer, provider: PrometheusProvider) -> None:
    server.stop()
    criteria = AnalysisCriteria(metrics=(LATENCY, GPU))
    observations = {
        metric.name: provider.observe(metric, window(2), VERSIONS, {}) for metric in criteria.metrics
    }
    for got in observations.values():
        assert isinstance(got, QueryFailed)
        assert "cannot query Prometheus" in got.message
    judgement = judge(update(start(criteria), observations))
    assert judgement.verdict is Verdict.ERROR
    assert all(result.verdict is Verdict.ERROR for result in judgement.metrics)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A real TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_timeout_is_an_error(silent_server: str) -> None:
    client = PrometheusProvider(PrometheusSettings(silent_server, timeout=0.5))
    try:
        got = client.observe(ERRORS, window(0), VERSIONS, {})
    finally:
        client.close()
    assert isinstance(got, QueryFailed)
    assert got.message.startswith("timed out after 0.5s")


def test_rollouts_analyze_reads_prometheus(
    server: PrometheusServer, data: list[Series], tmp_path: Path
) -> None:
    spec = tmp_path / "rollout.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "rollouts.modelops.io/v1alpha1",
                "kind": "ModelRollout",
                "metadata": {"name": "scorer"},
                "spec": {
                    "baseline": {"deployment": "scorer-v1", "version": "v1"},
                    "candidate": {"deployment": "scorer-v2", "version": "v2"},
                    "traffic": {"replicas": {}},
                    "steps": [{"setWeight": 50}, {"analyze": {"duration": "5m"}}],
                    "analysis": {
                        "prometheus": {"address": server.url},
                        "metrics": [
                            {
                                "name": "errors",
                                "errorRate": {"errors": ERRORS.errors_query, "total": ERRORS.total_query},
                            },
                            {"name": "latency", "latency": {"buckets": LATENCY.buckets_query, "slo": 0.5}},
                        ],
                    },
                },
            }
        )
    )
    result = CliRunner().invoke(
        app,
        [
            "analyze", str(spec), "--prometheus", server.url,
            "--start", T0.isoformat(), "--end", (T0 + timedelta(seconds=INTERVALS * INTERVAL)).isoformat(),
            "-o", "json",
        ],
    )  # fmt: skip
    report = json.loads(result.output)
    looks = report["looks"]
    if report["decision"]["action"] != "rollback":
        assert len(looks) == INTERVALS
    for look in looks:
        errors = look["metrics"][0]
        written = [intended(data, i)["errors"] for i in range(look["look"])]
        assert errors["candidateSamples"] == sum(w.candidate.requests for w in written)  # type: ignore[attr-defined]
        assert errors["baselineSamples"] == sum(w.baseline.requests for w in written)  # type: ignore[attr-defined]
