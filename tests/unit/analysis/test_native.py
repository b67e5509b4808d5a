"""Native histograms: differencing, merging layouts, the common grid, and ranks on it."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from analysis import engine, native
from analysis.criteria import AnalysisCriteria, HistogramKind, LatencyCriteria
from analysis.native import NativeBucket, NativeSample
from analysis.observations import HistogramObservation, ObservationError, Window
from analysis.ranks import RankEvidence, stratum_ranks
from analysis.state import LatencyState
from tests.unit.analysis.conftest import LATENCY_EDGES


def bucket_of(value: float, schema: int) -> NativeBucket:
    """The native bucket holding ``value`` > 0 at ``schema``, count 1."""
    base = 2.0 ** (2.0**-schema)
    index = math.ceil(math.log(value, base) - 1e-12)
    return NativeBucket(base ** (index - 1), base**index, 1)


def observe(values: list[float], schema: int) -> native.Buckets:
    return native.total([(bucket_of(value, schema),) for value in values])


latencies = st.lists(st.floats(min_value=1e-4, max_value=10.0), min_size=1, max_size=60)
schemas = st.integers(min_value=-2, max_value=4)


@given(latencies, latencies, schemas, schemas)
@settings(max_examples=150, deadline=None)
def test_increase_conserves_counts_across_a_schema_change(
    first: list[float], more: list[float], early: int, late: int
) -> None:
    earlier = NativeSample(len(first), observe(first, early))
    later = NativeSample(len(first) + len(more), observe(first + more, late))
    added = native.increase(earlier, later)
    assert sum(b.count for b in added) == pytest.approx(len(more))
    assert all(b.count > 0 for b in added)
    assert all(a.upper <= b.lower for a, b in itertools.pairwise(added))
    # every added request lies in the bucket the increase puts it in, at the coarser schema
    for value in more:
        assert any(b.lower < value <= b.upper * (1 + 1e-9) for b in added)


@given(latencies, latencies, schemas)
@settings(max_examples=100, deadline=None)
def test_common_layout_keeps_each_cohort_and_orders_edges(
    candidate: list[float], baseline: list[float], schema: int
) -> None:
    edges, c, b = native.common_layout(observe(candidate, schema), observe(baseline, schema + 1))
    assert list(edges) == sorted(set(edges))
    assert (sum(c), sum(b)) == (len(candidate), len(baseline))
    assert c[0] == c[-1] == b[0] == b[-1] == 0
    HistogramObservation(edges, c, b)  # a valid observation


def test_a_counter_reset_counts_the_later_sample_in_full() -> None:
    before = NativeSample(10, (NativeBucket(1, 2, 10),))
    after = NativeSample(3, (NativeBucket(1, 2, 1), NativeBucket(2, 4, 2)))
    assert native.increase(before, after) == after.buckets


def test_window_counts_samples_inside_it_over_the_one_before() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    window = Window(start, start + timedelta(seconds=60))
    at = start.timestamp()
    samples = [
        (at - 10, NativeSample(2, (NativeBucket(1, 2, 2),))),
        (at + 10, NativeSample(5, (NativeBucket(1, 2, 4), NativeBucket(2, 4, 1)))),
        (at + 60, NativeSample(9, (NativeBucket(1, 2, 8), NativeBucket(2, 4, 1)))),  # the next window's
    ]
    assert native.window_increase(samples, window) == (NativeBucket(1, 2, 2), NativeBucket(2, 4, 1))


def test_a_grid_over_the_bucket_limit_is_refused() -> None:
    many = tuple(NativeBucket(2.0**i, 2.0 ** (i + 1), 1) for i in range(-150, 150))
    with pytest.raises(ObservationError, match="over 256"):
        native.common_layout(many, ())


def tie_share(counts: tuple[int, ...], other: tuple[int, ...]) -> float:
    pooled = np.add(counts, other)
    return float((pooled * (pooled - 1)).sum() / (pooled.sum() * (pooled.sum() - 1)))


def test_finer_buckets_bring_cles_closer_to_the_exact_statistic() -> None:
    draws = np.random.default_rng(7)
    baseline = draws.lognormal(math.log(0.020), 0.25, 2000)
    candidate = draws.lognormal(math.log(0.021), 0.25, 2000)  # 5% slower
    exact = mannwhitneyu(candidate, baseline, method="asymptotic", use_continuity=False)
    exact_cles = float(exact.statistic) / (len(candidate) * len(baseline))

    def classic(values: np.ndarray) -> tuple[int, ...]:
        return tuple(int(n) for n in np.bincount(np.searchsorted(LATENCY_EDGES, values), minlength=9))

    coarse = stratum_ranks(classic(candidate), classic(baseline))
    _, c, b = native.common_layout(observe(list(candidate), 3), observe(list(baseline), 3))
    fine = stratum_ranks(c, b)
    populated = np.count_nonzero(np.add(c, b))
    assert populated > 4 * np.count_nonzero(np.add(classic(candidate), classic(baseline)))
    assert tie_share(c, b) < tie_share(classic(candidate), classic(baseline)) / 5
    assert abs(float(fine.cles) - exact_cles) < abs(float(coarse.cles) - exact_cles) / 5
    z = exact_z(exact_cles, len(candidate), len(baseline))
    assert abs(float(fine.z) - z) < abs(float(coarse.z) - z) / 3


def exact_z(cles: float, n_c: int, n_b: int) -> float:
    """Mann-Whitney z without ties from CLES."""
    return (cles - 0.5) * n_c * n_b / math.sqrt(n_c * n_b * (n_c + n_b + 1) / 12.0)


def latency_state(metric: LatencyCriteria, *looks: HistogramObservation) -> LatencyState:
    state = engine.start(AnalysisCriteria(metrics=(metric,)))
    for look in looks:
        state = engine.update(state, {"latency": look})
    latency = state.metrics["latency"]
    assert isinstance(latency, LatencyState)
    return latency


def test_the_engine_merges_native_layouts_over_intervals() -> None:
    metric = LatencyCriteria("latency", "", histogram=HistogramKind.NATIVE)
    first = HistogramObservation((1.0, 2.0), (0, 3, 0), (0, 2, 0))
    later = HistogramObservation((0.5, 1.0, 2.0, 4.0), (0, 1, 0, 2, 0), (0, 0, 1, 1, 0))
    state = latency_state(metric, first, later)
    assert state.edges == (0.5, 1.0, 2.0, 4.0)
    assert (state.candidate, state.baseline) == ((0, 1, 3, 2, 0), (0, 0, 3, 1, 0))
    assert state.quantiles.candidate == state.candidate
    coarser = HistogramObservation((0.5, 4.0), (0, 2, 0), (0, 2, 0))  # a lower schema later on
    state = latency_state(metric, first, later, coarser)
    assert (state.edges, state.candidate, state.baseline) == ((0.5, 4.0), (0, 8, 0), (0, 6, 0))
    assert state.last.outcome == "ok"
    rho2 = engine.start(AnalysisCriteria(metrics=(metric,))).tuning.rho2
    own_grids = RankEvidence()
    for look in (first, later, coarser):  # each interval ranked on its own grid, never the pooled one
        own_grids = own_grids.add(stratum_ranks(look.candidate, look.baseline), rho2)
    assert state.ranks == own_grids


def test_classic_layouts_still_may_not_change() -> None:
    metric = LatencyCriteria("latency", "")
    state = latency_state(
        metric, HistogramObservation((1.0,), (1, 0), (1, 0)), HistogramObservation((2.0,), (1, 0), (1, 0))
    )
    assert "bucket layout changed" in state.last.message


def test_native_with_an_slo_is_refused() -> None:
    with pytest.raises(ValueError, match="slo needs classic buckets"):
        LatencyCriteria("latency", "", slo=0.5, histogram=HistogramKind.NATIVE)
