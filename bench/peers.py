"""The peers on the same data: Flagger, Argo Rollouts with Kayenta, a naive per-look test, our engine.

Every run draws one seeded rollout (analysis.simulate.raw_looks) and hands the very same looks
to every judge; each judge stops at its first terminal decision (roll back, promote, or hold
for a person). Writes bench/results/peers.md.

The judges, written here from the public documentation (our code, not theirs):

Flagger (https://docs.flagger.app/usage/deployment-strategies, https://docs.flagger.app/usage/metrics):
    every ``interval`` (1m = one look) the builtin checks run on the canary alone, over that
    interval: ``request-success-rate`` (non-5xx share, ``thresholdRange.min: 99``) and
    ``request-duration`` (P99 from ``histogram_quantile(0.99, ...)`` over the bucket rates,
    ``thresholdRange.max: 500`` ms). An interval where a check fails (or finds no values)
    increments the failed-checks counter; at ``threshold`` failed checks Flagger rolls back.
    Each successful interval advances the weight by ``stepWeight``; promotion comes at
    ``maxWeight``, after maxWeight/stepWeight successful iterations. The simulation keeps the
    candidate's weight fixed (as the engine's scenarios do); we set maxWeight/stepWeight to
    looks - threshold + 1, so an analysis that never reaches the threshold ends within the plan.
    Run with threshold 1 and 5. ``histogram_quantile`` as Prometheus computes it: linear inside
    the bucket holding the rank, the highest finite bound when the rank falls in +Inf
    (https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile).

Argo Rollouts + Kayenta (https://argoproj.github.io/argo-rollouts/analysis/kayenta/,
https://argoproj.github.io/argo-rollouts/features/analysis/, and the judge Kayenta runs by
default, NetflixACAJudge: https://spinnaker.io/docs/guides/user/canary/judge/):
    an AnalysisRun measures every ``interval`` (10 looks) ``count`` times (looks / 10); each
    measurement asks Kayenta to judge the window with ``step: 60`` (one data point per look and
    cohort). Without ``lookback`` the window is the last interval; with ``lookback: true`` it runs
    from the start of the analysis (both judged here). Per metric, a Mann-Whitney test gives the
    Hodges-Lehmann shift and its 98% interval (R's ``wilcox.test``, asymptotic with continuity and
    tie corrections, as Kayenta's port computes it); the metric is High when the whole interval
    lies above the tolerance band +/- 0.25 |estimate| and the mean ratio is at least
    ``allowedIncrease`` (1.0, the default). Identical data, or one distinct value, is a Pass.
    Metrics, direction ``increase``: error rate, mean latency (``_sum / _count``), P99 latency
    (``histogram_quantile``). Score = 100 x Pass / metrics with data; >= pass (95) is Successful,
    >= marginal (75) Inconclusive, else Failed. With Argo's defaults (``failureLimit: 0``,
    ``inconclusiveLimit: 0``) a Failed measurement aborts the rollout (rollback), an
    Inconclusive one pauses it for a person (held); ``count`` Successful ones let it promote.
    With three metrics one High scores 66.7, under marginal: every metric must pass.

Naive per-look test (no sequential correction): at every look, on the cumulative counts, a
    one-sided two-proportion z-test on the error rate and a one-sided Welch t-test on the mean
    latency, each at alpha/2 = 2.5% (Bonferroni across the two metrics, nothing across looks);
    either rejecting rolls back; promoted at the end of the plan otherwise.

Our engine: analysis.simulate.CRITERIA (error rate, latency with a 0.5 s SLO tail, score drift)
    through the public start/update/judge with the scenario's traffic forecast, as the controller
    runs it: roll back at the first ROLLBACK, hold at the first HOLD, promote at the first PASS.

    .venv/bin/python bench/peers.py                     # default runs per scenario and traffic
    .venv/bin/python bench/peers.py --runs 100 --out /tmp/peers.md
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from analysis.criteria import AnalysisCriteria
from analysis.engine import start, update
from analysis.judge import judge
from analysis.simulate import CRITERIA, LATENCY_EDGES, CohortLook, RawLook, Scenario, raw_looks
from analysis.verdicts import Action, Verdict

try:
    from bench.analysis_quality import clopper_pearson, machine, share
except ModuleNotFoundError:  # run as a file (python bench/peers.py): bench/ itself is on sys.path
    from analysis_quality import clopper_pearson, machine, share

ALPHA = 0.05
RESULTS = Path(__file__).parent / "results" / "peers.md"


class Decision(StrEnum):
    """How a judge ended a run."""

    ROLLBACK = "rollback"
    PROMOTE = "promote"
    HOLD = "hold"
    """Paused for a person (Argo: an Inconclusive measurement; our engine: drift at fail)."""
    NONE = "none"
    """The plan ran out with no decision."""


@dataclass(frozen=True)
class Outcome:
    """A judge's first terminal decision and its (1-based) look."""

    decision: Decision
    look: int | None = None


UNDECIDED = Outcome(Decision.NONE)


# --- what a metrics system returns ------------------------------------------------------------


def histogram_quantile(q: float, edges: Sequence[float], counts: Sequence[int]) -> float:
    """Prometheus' histogram_quantile over classic buckets (``edges`` are the finite ``le``)."""
    total = sum(counts)
    if total == 0:
        return math.nan
    rank = q * total
    cumulative = np.cumsum(counts)
    bucket = int(np.searchsorted(cumulative, rank, side="left"))
    if bucket >= len(edges):
        return float(edges[-1])
    start_ = 0.0 if bucket == 0 else float(edges[bucket - 1])
    before = 0.0 if bucket == 0 else float(cumulative[bucket - 1])
    return start_ + (float(edges[bucket]) - start_) * (rank - before) / float(counts[bucket])


def error_rate(cohort: CohortLook) -> float:
    """Errors per request over one look; NaN without requests (no values)."""
    return cohort.errors / cohort.requests if cohort.requests else math.nan


def mean_latency(cohort: CohortLook) -> float:
    """``_sum / _count`` over one look; NaN without requests."""
    return cohort.latency_sum / cohort.requests if cohort.requests else math.nan


def p99_latency(cohort: CohortLook) -> float:
    """P99 of one look's latency buckets, in seconds."""
    return histogram_quantile(0.99, LATENCY_EDGES, cohort.latency_counts)


# --- Flagger ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flagger:
    """Flagger's canary analysis with the builtin success-rate and P99 duration checks."""

    threshold: int
    min_success_rate: float = 99.0
    max_duration_ms: float = 500.0

    @property
    def name(self) -> str:
        """The judge's row label (the checks' values when they are not the documented examples)."""
        if (self.min_success_rate, self.max_duration_ms) == (99.0, 500.0):
            return f"Flagger, threshold {self.threshold}"
        return (
            f"Flagger, threshold {self.threshold}, success >= {self.min_success_rate:g}%, "
            f"p99 <= {self.max_duration_ms:g} ms"
        )

    def check(self, candidate: CohortLook) -> bool:
        """One interval's checks on the canary; no values (no requests) fails as Flagger does."""
        if candidate.requests == 0:
            return False
        success_rate = 100.0 * (1.0 - candidate.errors / candidate.requests)
        p99_ms = 1000.0 * p99_latency(candidate)
        return success_rate >= self.min_success_rate and p99_ms <= self.max_duration_ms

    def __call__(self, scenario: Scenario, looks: Sequence[RawLook]) -> Outcome:
        """Check every interval; roll back at ``threshold`` failed ones, promote at the last step."""
        iterations = len(looks) - self.threshold + 1
        failed = succeeded = 0
        for number, look in enumerate(looks, start=1):
            if self.check(look.candidate):
                succeeded += 1
                if succeeded >= iterations:
                    return Outcome(Decision.PROMOTE, number)
            else:
                failed += 1
                if failed >= self.threshold:
                    return Outcome(Decision.ROLLBACK, number)
        return UNDECIDED


# --- Argo Rollouts + Kayenta ------------------------------------------------------------------


def mann_whitney_shift(
    experiment: np.ndarray, control: np.ndarray, confidence: float
) -> tuple[float, float, float] | None:
    """Shift estimate and its confidence interval, experiment minus control, as R's wilcox.test.

    The asymptotic statistic with continuity and tie corrections, inverted for the shift mu:
    for mu between the k-th and (k+1)-th ordered pairwise difference, U - mn/2 = mn/2 - k, so
    each bound is the difference where the standardized statistic crosses the normal quantile
    (where Kayenta's Brent search lands). None when every observation is tied.
    """
    m, n = len(experiment), len(control)
    total = m + n
    ties = sum(
        float(np.sum(c**3 - c)) for c in (np.unique(a, return_counts=True)[1] for a in (experiment, control))
    )
    variance = m * n / 12.0 * ((total + 1) - ties / (total * (total - 1)))
    if variance <= 0.0:
        return None
    sigma = math.sqrt(variance)
    differences = np.sort(np.subtract.outer(experiment, control).ravel())
    z = m * n / 2.0 - np.arange(m * n + 1)
    statistic = (z - 0.5 * np.sign(z)) / sigma  # non-increasing in k

    def crossing(quantile: float, side: Literal["left", "right"] = "left") -> float:
        k = int(np.searchsorted(-statistic, -quantile, side=side))  # first k with statistic <= quantile
        return float(differences[min(max(k, 1), m * n) - 1])

    level = float(norm.ppf(0.5 + confidence / 2.0))
    # The statistic is 0 on a whole run of differences around the median: Brent stops anywhere
    # in it; the middle of the run is the Hodges-Lehmann median's neighbourhood.
    estimate = (crossing(0.0) + crossing(0.0, "right")) / 2.0
    return estimate, crossing(level), crossing(-level)


class Classification(StrEnum):
    """NetflixACAJudge's per-metric classes (direction ``increase``: no Low)."""

    PASS = "Pass"
    HIGH = "High"
    NODATA = "Nodata"


def classify(
    experiment: Sequence[float],
    control: Sequence[float],
    *,
    confidence: float = 0.98,
    tolerance: float = 0.25,
    allowed_increase: float = 1.0,
) -> Classification:
    """One metric, direction increase: High when the whole interval clears the tolerance band."""
    x = np.asarray([v for v in experiment if not math.isnan(v)], dtype=float)
    y = np.asarray([v for v in control if not math.isnan(v)], dtype=float)
    if x.size == 0 or y.size == 0:
        return Classification.NODATA
    if x.size == y.size and np.array_equal(np.sort(x), np.sort(y)):
        return Classification.PASS
    if np.unique(np.concatenate([x, y])).size == 1:
        return Classification.PASS
    shift = mann_whitney_shift(x, y, confidence)
    if shift is None:
        return Classification.PASS
    estimate, lower, _ = shift
    ratio = float(x.mean() / y.mean()) if y.mean() != 0 else math.nan
    large_enough = math.isnan(ratio) or ratio >= allowed_increase
    if lower > tolerance * abs(estimate) and large_enough:
        return Classification.HIGH
    return Classification.PASS


KAYENTA_METRICS: tuple[tuple[str, Callable[[CohortLook], float]], ...] = (
    ("error rate", error_rate),
    ("mean latency", mean_latency),
    ("p99 latency", p99_latency),
)


@dataclass(frozen=True)
class ArgoKayenta:
    """An Argo Rollouts AnalysisRun with the Kayenta provider (NetflixACAJudge)."""

    interval: int = 10
    lookback: bool = False
    pass_score: float = 95.0
    marginal_score: float = 75.0

    @property
    def name(self) -> str:
        """The judge's row label."""
        return f"Argo + Kayenta, {'lookback' if self.lookback else 'last interval'}"

    def score(self, window: Sequence[RawLook]) -> float:
        """The summary score of one Kayenta canary judgement over the window's data points."""
        classes = [
            classify([value(look.candidate) for look in window], [value(look.baseline) for look in window])
            for _, value in KAYENTA_METRICS
        ]
        judged = [c for c in classes if c is not Classification.NODATA]
        if len(judged) * 2 <= len(classes):
            return 0.0  # 50% or more Nodata fails the canary
        return 100.0 * sum(c is Classification.PASS for c in judged) / len(judged)

    def __call__(self, scenario: Scenario, looks: Sequence[RawLook]) -> Outcome:
        """Measure every ``interval`` looks, ``count`` times; Failed rolls back, Inconclusive holds."""
        count = len(looks) // self.interval
        for measurement in range(1, count + 1):
            end = measurement * self.interval
            window = looks[:end] if self.lookback else looks[end - self.interval : end]
            score = self.score(window)
            if score < self.marginal_score:
                return Outcome(Decision.ROLLBACK, end)
            if score < self.pass_score:
                return Outcome(Decision.HOLD, end)
        return Outcome(Decision.PROMOTE, count * self.interval) if count else UNDECIDED


# --- naive per-look tests ---------------------------------------------------------------------


def z_test_worse(errors_c: int, n_c: int, errors_b: int, n_b: int) -> float:
    """One-sided p-value of the pooled two-proportion z-test: candidate error rate higher."""
    if n_c == 0 or n_b == 0:
        return 1.0
    pooled = (errors_c + errors_b) / (n_c + n_b)
    if pooled in (0.0, 1.0):
        return 1.0
    z = (errors_c / n_c - errors_b / n_b) / math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_b))
    return float(norm.sf(z))


@dataclass
class Sums:
    """Cumulative count, sum and sum of squares of one cohort's latencies."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, cohort: CohortLook) -> None:
        """Add one look."""
        self.count += cohort.requests
        self.total += cohort.latency_sum
        self.squares += cohort.latency_sum_squares

    def mean_and_se2(self) -> tuple[float, float]:
        """The mean and its squared standard error."""
        mean = self.total / self.count
        return mean, max(self.squares - self.count * mean**2, 0.0) / (self.count - 1) / self.count


def welch_worse(candidate: Sums, baseline: Sums) -> float:
    """One-sided p-value of Welch's t-test from sums and sums of squares: candidate mean higher."""
    if candidate.count < 2 or baseline.count < 2:
        return 1.0
    (mean_c, se_c), (mean_b, se_b) = candidate.mean_and_se2(), baseline.mean_and_se2()
    if se_c + se_b == 0.0:
        return 1.0
    df = (se_c + se_b) ** 2 / (se_c**2 / (candidate.count - 1) + se_b**2 / (baseline.count - 1))
    return float(student_t.sf((mean_c - mean_b) / math.sqrt(se_c + se_b), df))


@dataclass(frozen=True)
class NaiveTest:
    """A z-test on errors and a t-test on mean latency at every look, on the cumulative data."""

    alpha: float = ALPHA

    @property
    def name(self) -> str:
        """The judge's row label."""
        return "naive per-look z/t-test"

    def __call__(self, scenario: Scenario, looks: Sequence[RawLook]) -> Outcome:
        """Test the cumulative data at every look; promote at the end if nothing rejected."""
        level = self.alpha / 2  # Bonferroni across the two metrics, nothing across looks
        n_c = n_b = e_c = e_b = 0
        latency_c, latency_b = Sums(), Sums()
        for number, look in enumerate(looks, start=1):
            c, b = look.candidate, look.baseline
            n_c, n_b, e_c, e_b = n_c + c.requests, n_b + b.requests, e_c + c.errors, e_b + b.errors
            latency_c.add(c)
            latency_b.add(b)
            if z_test_worse(e_c, n_c, e_b, n_b) < level or welch_worse(latency_c, latency_b) < level:
                return Outcome(Decision.ROLLBACK, number)
        return Outcome(Decision.PROMOTE, len(looks))


# --- our engine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """This project's engine through its public start/update/judge, with controller semantics."""

    criteria: AnalysisCriteria = CRITERIA

    @property
    def name(self) -> str:
        """The judge's row label."""
        return "model-rollouts (this project)"

    def __call__(self, scenario: Scenario, looks: Sequence[RawLook]) -> Outcome:
        """Feed every look to the engine; stop at its first ROLLBACK, HOLD or PASS."""
        state = start(self.criteria, scenario.forecast())
        for number, look in enumerate(looks, start=1):
            state = update(state, look.observations)
            judgement = judge(state)
            if judgement.action is Action.ROLLBACK:
                return Outcome(Decision.ROLLBACK, number)
            if judgement.action is Action.HOLD:
                return Outcome(Decision.HOLD, number)
            if judgement.verdict is Verdict.PASS:
                return Outcome(Decision.PROMOTE, number)
        return UNDECIDED


Judge = Engine | Flagger | ArgoKayenta | NaiveTest
JUDGES: tuple[Judge, ...] = (
    Engine(),
    Flagger(threshold=1),
    Flagger(threshold=5),
    # Loosened until identical candidates pass (what a user does after the first false
    # rollbacks): the same fixed thresholds then let moderate harm through.
    Flagger(threshold=5, min_success_rate=95.0, max_duration_ms=1000.0),
    ArgoKayenta(lookback=False),
    ArgoKayenta(lookback=True),
    NaiveTest(),
)


# --- scenarios and traffic --------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """How much the candidate sees per look, and for how many looks."""

    name: str
    requests_per_look: float
    looks: int


TRAFFIC = (
    Traffic(
        "20 requests/s, 5% to the candidate, 60 s looks: ~60 candidate requests per look, 30 looks",
        1200.0,
        30,
    ),
    Traffic("bench/analysis_quality.py's setup: ~50/950 requests per look, 60 looks", 1000.0, 60),
)

HARMLESS = frozenset({"A/A", "A/A, overdispersed", "good candidate"})

SCENARIOS = (
    Scenario("A/A"),
    Scenario("A/A, overdispersed", pod_spread=0.03, load_swing=0.5),
    Scenario("good candidate", error_ratio=0.8, latency_ratio=0.95),
    Scenario("errors 1% -> 2%", error_ratio=2.0),
    Scenario("errors 1% -> 1.5%", error_ratio=1.5),
    Scenario("latency x1.25", latency_ratio=1.25),
    Scenario("latency x40 (CPU fallback)", latency_ratio=40.0),
)
"""Candidate 5% of the traffic throughout; 'good candidate': errors 0.8x and latency 0.95x."""


def with_traffic(scenario: Scenario, traffic: Traffic) -> Scenario:
    """The scenario under a traffic setup."""
    return replace(scenario, requests_per_look=traffic.requests_per_look, looks=traffic.looks)


def judge_run(scenario: Scenario, seed: int, judges: Sequence[Judge] = JUDGES) -> list[Outcome]:
    """One seeded rollout, the same looks handed to every judge."""
    looks = raw_looks(scenario, np.random.default_rng(seed))
    return [j(scenario, looks) for j in judges]


def _job(job: tuple[Scenario, int]) -> list[Outcome]:
    return judge_run(*job)


# --- the report -------------------------------------------------------------------------------


def _looks(outcomes: Sequence[Outcome], decision: Decision) -> list[int]:
    return [o.look for o in outcomes if o.decision is decision and o.look is not None]


def _median(looks: list[int]) -> str:
    return f"{statistics.median(looks):g}" if looks else "-"


def row(scenario: str, judge_name: str, outcomes: Sequence[Outcome]) -> str:
    """A markdown row: rolled back, median look, promoted, median look, held."""
    runs = len(outcomes)
    rollbacks, promotions = _looks(outcomes, Decision.ROLLBACK), _looks(outcomes, Decision.PROMOTE)
    held = sum(o.decision is Decision.HOLD for o in outcomes)
    return (
        f"| {scenario} | {judge_name} | {share(len(rollbacks), runs)} | {_median(rollbacks)} "
        f"| {share(len(promotions), runs)} | {_median(promotions)} | {share(held, runs)} |"
    )


@dataclass(frozen=True)
class Summary:
    """The headline numbers of one judge under one traffic setup, for the compact table."""

    false_rollbacks: tuple[int, int]
    power: dict[str, tuple[int, int]]
    median_look: dict[str, str]
    """Median look of the rollbacks, per harm."""
    promoted: tuple[int, int]
    good_promoted: tuple[int, int]


def _pct(hits: int, runs: int) -> str:
    low, high = clopper_pearson(hits, runs)
    return f"{100 * hits / runs:.1f}% ({100 * low:.1f}-{100 * high:.1f})"


def compact(summaries: dict[str, Summary]) -> list[str]:
    """Judges as rows: A/A false rollbacks, power on each harm, good candidates promoted."""
    harms = [s.name for s in SCENARIOS if s.name not in HARMLESS]
    lines = [
        "| judge | A/A rolled back | "
        + " | ".join(f"{h}: rolled back" for h in harms)
        + " | A/A promoted | good candidate promoted |",
        "|---|---|" + "---|" * len(harms) + "---|---|",
    ]
    for name, summary in summaries.items():
        cells = [
            _pct(*summary.false_rollbacks),
            *(f"{_pct(*summary.power[h])}, look {summary.median_look[h]}" for h in harms),
            _pct(*summary.promoted),
            _pct(*summary.good_promoted),
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def traffic_section(traffic: Traffic, runs: int, workers: int) -> tuple[list[str], list[str]]:
    """Every scenario under one traffic setup: the long table and the compact one."""
    lines = [
        f"### {traffic.name}",
        "",
        "| scenario | judge | rolled back | median look | promoted | median look | held for a person |",
        "|---|---|---|---|---|---|---|",
    ]
    results: dict[str, list[list[Outcome]]] = {}
    with multiprocessing.Pool(workers) as pool:
        for scenario in SCENARIOS:
            started = time.perf_counter()
            jobs = [(with_traffic(scenario, traffic), seed) for seed in range(runs)]
            per_run = pool.map(_job, jobs, chunksize=max(1, runs // (8 * workers)))
            results[scenario.name] = per_run
            for index, judge_ in enumerate(JUDGES):
                lines.append(row(scenario.name, judge_.name, [outcomes[index] for outcomes in per_run]))
            print(f"{traffic.looks} looks, {scenario.name}: {time.perf_counter() - started:.0f}s", flush=True)
    summaries = {}
    for index, judge_ in enumerate(JUDGES):

        def rolled(name: str, index: int = index) -> tuple[int, int]:
            outcomes = [o[index] for o in results[name]]
            return sum(o.decision is Decision.ROLLBACK for o in outcomes), len(outcomes)

        def promoted(name: str, index: int = index) -> tuple[int, int]:
            outcomes = [o[index] for o in results[name]]
            return sum(o.decision is Decision.PROMOTE for o in outcomes), len(outcomes)

        summaries[judge_.name] = Summary(
            false_rollbacks=rolled("A/A"),
            power={s.name: rolled(s.name) for s in SCENARIOS if s.name not in HARMLESS},
            median_look={
                s.name: _median(_looks([o[index] for o in results[s.name]], Decision.ROLLBACK))
                for s in SCENARIOS
                if s.name not in HARMLESS
            },
            promoted=promoted("A/A"),
            good_promoted=promoted("good candidate"),
        )
    return lines, compact(summaries)


SETTINGS = """\
## The judges' settings

| judge | settings |
|---|---|
| model-rollouts | `analysis.simulate.CRITERIA`: error rate, latency (rank test + `slo: 0.5`), score drift; \
alpha 0.05; traffic forecast from the scenario; rollback at the first ROLLBACK, promotion at the first PASS |
| Flagger, threshold 1 / 5 | `interval: 1m` (one look), `request-success-rate` `thresholdRange.min: 99`, \
`request-duration` (P99, `histogram_quantile`) `thresholdRange.max: 500` ms, on the canary alone; \
rollback at `threshold` failed intervals; promotion after maxWeight/stepWeight = looks - threshold + 1 \
successful ones |
| Flagger, loosened | the same with threshold 5, `thresholdRange.min: 95` and `thresholdRange.max: 1000` ms: \
values loosened until identical candidates mostly pass, as a user does after the first false rollbacks |
| Argo + Kayenta | AnalysisRun `interval` = 10 looks, `count` = looks / 10, `failureLimit: 0`, \
`inconclusiveLimit: 0`; Kayenta `step: 60`, window = last interval, or from the start (`lookback: true`); \
NetflixACAJudge: Mann-Whitney 98% interval, tolerance 0.25 x |estimate|, `allowedIncrease` 1.0, direction \
increase; metrics error rate, mean latency, P99 latency (one group); `thresholds: {pass: 95, marginal: 75}` |
| naive per-look z/t-test | cumulative data at every look; one-sided pooled z-test on errors and \
Welch t-test on mean latency, each at 2.5% (alpha 0.05 split over the two metrics, nothing over the looks); \
promotion at the end of the plan |
"""


READING = """\
## Reading

- **Flagger** judges the canary alone against absolute thresholds, once per interval, on that
  interval's data. At ~60 candidate requests a minute one error is 98.3% success, under 99%, and
  at a 1% error rate 45% of minutes have one; the P99 of 60 requests is their largest, and a
  single request over 500 ms (~20% of minutes here) fails the check. So it rolls back identical
  and better candidates as surely as harmful ones; threshold 5 only delays it. Its thresholds
  need far more traffic per interval, or looser values; loosened until identical candidates
  pass (95%, 1 s), the same checks let moderate harm through (the "loosened" row).
- **Argo + Kayenta** compares canary and baseline, but on one data point per minute and cohort:
  ten points per measurement, a 98% interval, a tolerance band of a quarter of the estimate. It
  rarely rolls back identical candidates and promotes them, catches large shifts at the first
  measurement (never before it: look 10), and misses much moderate harm (a doubled error rate:
  about a third of runs, half with `lookback: true`, which judges more points). Its level is not
  controlled across measurements either: each is a fresh test.
- **The naive per-look test** is powerful because it spends alpha again at every look: its A/A
  false rollbacks are several times alpha (repeated significance testing), and overdispersion
  (pods +/-3%, load +/-50%) adds to them.
- **The engine** keeps false rollbacks under alpha however often it looks and however traffic
  swings, catches severe harm at the first looks, finds moderate harm as the evidence accrues,
  and promotes identical and slightly better candidates once the evidence allows (more of them,
  and sooner, with more traffic). It is the only judge here with all three.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="seeded runs per scenario and traffic setup")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    long: list[str] = []
    short: list[str] = []
    for traffic in TRAFFIC:
        table, summary = traffic_section(traffic, args.runs, args.workers)
        long += ["", *table]
        short += ["", f"### {traffic.name}", "", *summary]
    lines = [
        "# The peers on the same data (bench/peers.py)",
        "",
        machine(),
        "",
        f"**{args.runs:,} seeded runs per scenario and traffic setup** (seeds 0..{args.runs - 1}; "
        "the default is 500, not 2,000: 2,000 took 8 minutes on an otherwise idle 2-CPU machine; "
        "`--runs 2000` runs them). "
        "The engine's numbers are those of the working tree at the time of the run. Every judge "
        "sees the same looks of each run (analysis.simulate.raw_looks) and stops at its first terminal "
        "decision. Baseline error rate 1%, latency lognormal (median 100 ms, sigma 0.6); the candidate gets "
        "5% of the traffic throughout. Shares with two-sided 95% Clopper-Pearson intervals; looks are "
        "1-based. 'good candidate': errors 0.8x and latency 0.95x.",
        "",
        SETTINGS,
        READING,
        "## Summary",
        "",
        "Cells: share of runs (95% Clopper-Pearson interval, in %). A/A rolled back = false rollbacks; "
        "the harm columns = power, then the median look of the rollbacks; promoted = within the plan.",
        *short,
        "",
        "## Every scenario",
        *long,
        "",
        f"Total time: {time.perf_counter() - started:.0f} s.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
