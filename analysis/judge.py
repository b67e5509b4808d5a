"""Verdicts from the accumulated state: per metric, then for the rollout. A pure function.

Rules, in the order they are applied:

1. **Harm, across metrics.** Every harm test (error rate, error-rate hard limit, latency location,
   latency tail) has an always-valid p-value; weighted Holm at the rollout's alpha picks the
   rejected ones, each metric weighing 1, split equally among its tests (analysis.multiple). A
   rejected test FAILs its metric only if the estimate also clears the practical gate (ratio >=
   maxRatio and increase >= maxIncrease; for latency CLES >= maxShift AND a quantile beyond the
   tolerance, e.g. 10% or 10 ms slower at the median or p90): a real but tiny effect, such as a
   pod that is 3% slower, is not a reason to roll back. The hard limit has no gate.
2. **Non-inferiority, per metric, no correction.** A metric PASSes when its minimum evidence is
   met and the always-valid upper bound of its effect is below the margin: p_c - p_b below
   max(0.5 x baseline rate, 0.1pp) (or the configured margin); for latency, every quantile's bound
   within the tolerance, or CLES below maxShift + 0.01 (each bound at alpha/2). The
   upper bound is the **running minimum** over the looks with minimum evidence (a running
   intersection of confidence sequences is one, analysis.bounds), so a PASS cannot fall back to
   INCONCLUSIVE because a later bound came out wider; minimum evidence once met stays met. The
   error rate counts ``minEvidence.errors`` expected errors at max(baseline rate, margin), the
   latency tail its expected requests above the SLO at baseline share + margin.
3. **Drift** FAILs above the noise floor and at the fail level with ``onFail``'s action (hold
   by default); sanity failures (invalid predictions, a single class, scores out of range)
   always roll back. **Guards** FAIL after ``consecutive`` breaches in a row.
4. **The last look.** A FAIL found in the evidence stands; otherwise a failed query this
   interval makes the metric ERROR and an empty one NO_DATA, so a failed query never promotes.
5. **An errors query that never matched.** An error-rate metric whose errors query has not
   matched a single series, for either cohort, in any interval of the analysis is NO_DATA,
   never PASS (nor INCONCLUSIVE, which ``inconclusive: promote`` would promote): counting its
   emptiness as zero errors would pass a 10%-error candidate behind a misspelt metric name.
   Once it has matched in any interval, an absent series counts as zero errors (a counter
   that appears with its first error is real). The reason names the query and the fix.
6. **The rollout.** Any FAIL: FAIL (action rollback if any FAIL asks for it, else hold); else any
   ERROR: ERROR; else all PASS: PASS; else any NO_DATA: NO_DATA; else INCONCLUSIVE.

Each result carries the numbers behind it and a reason a person can check, e.g.
"latency: candidate slower: median 412 ms vs 10 ms (41x), p90 ..., beyond the tolerance (1.1x or
+10 ms); CLES 0.97 (bound 0.90), max log10 E 14.80 >= 1.60, n=47/939" (n = candidate/baseline).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from analysis.bounds import (
    RunningBounds,
    counted_bounds,
    location_pass_alpha,
    rate_requests_needed,
    tail_requests_needed,
)
from analysis.criteria import (
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    LatencyCriteria,
    MetricCriteria,
    MinEvidence,
)
from analysis.drift import DriftComparison
from analysis.multiple import holm_rejected, holm_thresholds
from analysis.quantiles import QuantileComparison, QuantileEvidence, compare_quantile, seconds, times
from analysis.rates import MIN_MARGIN, RateEvidence, non_inferiority_margin
from analysis.state import (
    AnalysisState,
    DriftState,
    ErrorRateState,
    GuardState,
    LastLook,
    LatencyState,
    Tuning,
)
from analysis.verdicts import Action, Verdict

LN10 = math.log(10.0)
SINGLE_CLASS_SHARE = 0.99
"""A cohort with at least this share in one bin predicts a single class (or a constant score)."""
MAX_REASON = 1024


@dataclass(frozen=True)
class MetricJudgement:
    """The verdict of one metric at one look, with the numbers behind it (status MetricResult)."""

    name: str
    kind: str
    verdict: Verdict
    reason: str
    action: Action = Action.NONE
    effect: float | None = None
    lower: float | None = None
    upper: float | None = None
    log10_e: float | None = None
    p_value: float | None = None
    baseline_samples: int | None = None
    candidate_samples: int | None = None
    details: Mapping[str, float] = field(default_factory=dict)
    """Further numbers for people (noise floor, ratio, Holm level ...); not stored in status."""


@dataclass(frozen=True)
class HarmTest:
    """One harm test in the Holm family."""

    name: str
    p_value: float
    level: float
    """The Holm level it was compared with."""
    rejected: bool


@dataclass(frozen=True)
class RolloutJudgement:
    """The rollout's verdict and action at one look, and every metric's judgement."""

    verdict: Verdict
    action: Action
    reason: str
    metrics: tuple[MetricJudgement, ...]
    harm_tests: tuple[HarmTest, ...]


@dataclass(frozen=True)
class _Context:
    tuning: Tuning
    min_evidence: MinEvidence
    harm: Mapping[str, HarmTest]

    def rejected(self, test: str) -> bool:
        return self.harm[test].rejected

    def evidence(self, test: str) -> str:
        """The harm evidence against its Holm level, e.g. "max log10 E 2.31 >= 1.78"."""
        harm = self.harm[test]
        return f"max log10 E {_strength(harm.p_value)} >= {_strength(harm.level)}"


def _strength(p_value: float) -> str:
    """-log10 of a p-value for reasons; evidence so strong that p underflows to 0 stays printable.

    >>> _strength(0.01), _strength(0.0)
    ('2.00', '> 300')
    """
    if p_value <= 0.0:
        return "> 300"
    return f"{-math.log10(p_value):.2f}"


def harm_tests(state: AnalysisState) -> tuple[dict[str, float], dict[str, float]]:
    """The always-valid p-value and the Holm weight of every harm test, named metric or metric:test.

    Each metric with harm tests weighs 1, split equally among its tests (analysis.multiple): an
    error rate alone 1, with its hard limit 1/2 each; latency's location and tail 1/2 each.
    """
    p_values: dict[str, float] = {}
    weights: dict[str, float] = {}
    for metric in state.criteria.metrics:
        current = state.metrics[metric.name]
        tests: dict[str, float] = {}
        if isinstance(metric, ErrorRateCriteria) and isinstance(current, ErrorRateState):
            tests[metric.name] = current.rates.harm.p_value
            if metric.hard_limit is not None:
                tests[f"{metric.name}:hardLimit"] = current.hard_limit.p_value
        elif isinstance(metric, LatencyCriteria) and isinstance(current, LatencyState):
            tests[metric.name] = current.ranks.p_value
            if metric.slo is not None:
                tests[f"{metric.name}:tail"] = current.tail.harm.p_value
        p_values.update(tests)
        weights.update({name: 1.0 / len(tests) for name in tests})
    return p_values, weights


def judge(state: AnalysisState) -> RolloutJudgement:
    """Judge every metric and the rollout from the state (rules in the module docstring)."""
    alpha = state.tuning.alpha
    p_values, weights = harm_tests(state)
    levels = holm_thresholds(p_values, alpha, weights)
    rejected = holm_rejected(p_values, alpha, weights)
    harm = {name: HarmTest(name, p_values[name], levels[name], name in rejected) for name in p_values}
    context = _Context(state.tuning, state.criteria.min_evidence, harm)
    metrics = tuple(
        _with_last_look(_judge_metric(metric, state, context), state.metrics[metric.name].last)
        for metric in state.criteria.metrics
    )
    verdict, action, reason = _rollout(metrics)
    return RolloutJudgement(verdict, action, reason[:MAX_REASON], metrics, tuple(harm.values()))


def _judge_metric(metric: MetricCriteria, state: AnalysisState, context: _Context) -> MetricJudgement:
    current = state.metrics[metric.name]
    if isinstance(metric, ErrorRateCriteria) and isinstance(current, ErrorRateState):
        return _judge_error_rate(metric, current, context)
    if isinstance(metric, LatencyCriteria) and isinstance(current, LatencyState):
        return _judge_latency(metric, current, context)
    if isinstance(metric, DriftCriteria) and isinstance(current, DriftState):
        return _judge_drift(metric, current, context.min_evidence)
    if isinstance(metric, GuardCriteria) and isinstance(current, GuardState):
        return _judge_guard(metric, current)
    raise AssertionError(f"state {type(current).__name__} does not belong to a {metric.kind} metric")


def _with_last_look(judgement: MetricJudgement, last: LastLook) -> MetricJudgement:
    """Rule 4: a FAIL stands; a failed or empty last look overrides any other verdict."""
    if judgement.verdict is Verdict.FAIL or last.outcome == "ok":
        return judgement
    if last.outcome == "error":
        return replace(
            judgement, verdict=Verdict.ERROR, reason=f"{judgement.name}: query failed: {last.message}"
        )
    message = last.message or "no look yet"
    return replace(judgement, verdict=Verdict.NO_DATA, reason=f"{judgement.name}: no data: {message}")


def _rollout(metrics: tuple[MetricJudgement, ...]) -> tuple[Verdict, Action, str]:
    def reasons(verdict: Verdict) -> str:
        return "; ".join(m.reason for m in metrics if m.verdict is verdict)

    fails = [m for m in metrics if m.verdict is Verdict.FAIL]
    if fails:
        action = Action.ROLLBACK if any(m.action is Action.ROLLBACK for m in fails) else Action.HOLD
        return Verdict.FAIL, action, reasons(Verdict.FAIL)
    if any(m.verdict is Verdict.ERROR for m in metrics):
        return Verdict.ERROR, Action.NONE, reasons(Verdict.ERROR)
    if all(m.verdict is Verdict.PASS for m in metrics):
        return (
            Verdict.PASS,
            Action.NONE,
            f"all {len(metrics)} metrics pass" if metrics else "no metrics to judge",
        )
    if any(m.verdict is Verdict.NO_DATA for m in metrics):
        return Verdict.NO_DATA, Action.NONE, reasons(Verdict.NO_DATA)
    waiting = "; ".join(m.reason for m in metrics if m.verdict is not Verdict.PASS)
    return Verdict.INCONCLUSIVE, Action.NONE, waiting


# --- formatting ------------------------------------------------------------------------------


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _pct(rate: float) -> str:
    return f"{100 * rate:.2f}%"


def _pp(difference: float) -> str:
    return f"{100 * difference:+.2f}pp"


def _samples(candidate: float, baseline: float) -> str:
    return f"n={_count(candidate)}/{_count(baseline)}"


# --- rates (error rate and the latency tail) -------------------------------------------------


@dataclass(frozen=True)
class _RateRule:
    """How one rate comparison is judged: its harm test, gates, margin and what it counts."""

    test: str
    max_ratio: float
    max_increase: float
    margin: float | None
    margin_floor: float
    events: str
    """What an event is, in words: "errors", "requests above 0.5s"."""
    tail: bool = False
    """The latency tail: expected events counted at baseline share + margin (analysis.bounds)."""


def _judge_rates(
    metric: MetricCriteria, rates: RateEvidence, rule: _RateRule, context: _Context, stored: RunningBounds
) -> MetricJudgement:
    label = metric.name
    if not rates.compared:
        return MetricJudgement(
            name=label,
            kind=metric.kind,
            verdict=Verdict.NO_DATA,
            reason=f"{label}: no interval with requests of both cohorts yet",
            baseline_samples=rates.baseline_requests,
            candidate_samples=rates.candidate_requests,
        )
    tuning, need = context.tuning, context.min_evidence
    p_b, p_c = rates.baseline_rate, rates.candidate_rate
    difference, ratio = rates.difference, rates.ratio
    radius = rates.difference_radius(tuning.rho2, tuning.alpha)
    margin = non_inferiority_margin(p_b, rule.margin, rule.margin_floor)
    if rule.tail:
        needed_requests = tail_requests_needed(need, p_b, margin)
        counted_at = f"{_pct(p_b + margin)} (share {_pct(p_b)} + margin {_pct(margin)})"
    else:
        needed_requests = rate_requests_needed(need, p_b, margin)
        counted_at = _pct(max(p_b, margin))
    # The PASS bound is the running intersection over the looks with minimum evidence.
    bounds, enough = counted_bounds(
        stored,
        (difference - radius, difference + radius),
        rates.candidate_requests >= needed_requests,
        margin,
    )
    lower = bounds.lower if bounds.lower is not None else difference - radius
    upper = bounds.upper if bounds.upper is not None else difference + radius
    samples = _samples(rates.candidate_requests, rates.baseline_requests)
    log10_e = rates.harm.log_e / LN10
    base = MetricJudgement(
        name=label,
        kind=metric.kind,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        effect=difference,
        lower=lower,
        upper=upper,
        log10_e=log10_e,
        p_value=rates.harm.p_value,
        baseline_samples=rates.baseline_requests,
        candidate_samples=rates.candidate_requests,
        details={"ratio": ratio, "candidate_rate": p_c, "baseline_rate": p_b, "margin": margin},
    )
    rates_text = f"{rule.events} {_pct(p_c)} vs {_pct(p_b)} (ratio {ratio:.2f}, {_pp(difference)})"

    def result(verdict: Verdict, text: str, action: Action = Action.NONE) -> MetricJudgement:
        return replace(base, verdict=verdict, reason=f"{label}: {text}", action=action)

    gate_cleared = ratio >= rule.max_ratio and difference >= rule.max_increase
    if context.rejected(rule.test) and gate_cleared:
        return result(
            Verdict.FAIL,
            f"candidate worse, {rates_text}, {context.evidence(rule.test)}, {samples}",
            Action.ROLLBACK,
        )
    if not enough:
        return result(
            Verdict.INCONCLUSIVE,
            f"needs {_count(needed_requests)} candidate requests for {need.errors:g} expected "
            f"{rule.events} at {counted_at}, has {_count(rates.candidate_requests)}",
        )
    if bounds.shown_below(margin):
        shown = (
            f"< margin {_pp(margin)}"
            if upper < margin
            else f"(below the margin at an earlier look; now {_pp(margin)})"
        )
        return result(
            Verdict.PASS,
            f"non-inferior, {rates_text}, increase <= {_pp(upper)} {shown}, {samples}",
        )
    if context.rejected(rule.test):
        return result(
            Verdict.INCONCLUSIVE,
            f"higher but under the practical gate (ratio {rule.max_ratio:g}, "
            f"{_pp(rule.max_increase)}), {rates_text}, {samples}",
        )
    return result(
        Verdict.INCONCLUSIVE,
        f"{rates_text}, increase bound {_pp(upper)} not below margin {_pp(margin)}, {samples}",
    )


def never_matched_reason(metric: ErrorRateCriteria) -> str:
    """Why an error-rate metric whose errors query never matched a series is NO_DATA (rule 5)."""
    return (
        f"{metric.name}: no data: the errors query {metric.errors_query!r} has not matched any series "
        "for either version in any interval, so zero errors cannot be told from a wrong query; "
        "if it is a counter that appears only after the first error, initialise it at 0 at "
        "start-up, as the Prometheus instrumentation guidelines recommend; or check the metric name"
    )


def _judge_error_rate(
    metric: ErrorRateCriteria, current: ErrorRateState, context: _Context
) -> MetricJudgement:
    rule = _RateRule(metric.name, metric.max_ratio, metric.max_increase, metric.margin, MIN_MARGIN, "errors")
    judged = _judge_rates(metric, current.rates, rule, context, current.bounds)
    if not current.errors_matched and judged.verdict is not Verdict.FAIL and current.rates.compared:
        judged = replace(judged, verdict=Verdict.NO_DATA, reason=never_matched_reason(metric))
    if metric.hard_limit is None:
        return judged
    hard_test = f"{metric.name}:hardLimit"
    if context.rejected(hard_test):
        return replace(
            judged,
            verdict=Verdict.FAIL,
            action=Action.ROLLBACK,
            reason=(
                f"{metric.name}: candidate error rate {_pct(current.rates.candidate_rate)} above the hard "
                f"limit {_pct(metric.hard_limit)}, {context.evidence(hard_test)}, "
                f"n={_count(current.rates.candidate_requests)}"
            ),
            log10_e=current.hard_limit.log_e / LN10,
            p_value=current.hard_limit.p_value,
        )
    return judged


# --- latency ---------------------------------------------------------------------------------


def _quantile_evidence(current: LatencyState) -> QuantileEvidence:
    """The quantile counts; for a state stored before they existed, the pooled counts."""
    if current.quantiles.candidate or not current.candidate:
        return current.quantiles
    n_c, n_b = sum(current.candidate), sum(current.baseline)
    if not n_c or not n_b:
        return current.quantiles
    share = n_c / n_b
    return QuantileEvidence(current.candidate, tuple(share * b for b in current.baseline), n_c * share)


def _quantiles(
    metric: LatencyCriteria, current: LatencyState, tuning: Tuning, alpha: float
) -> list[QuantileComparison]:
    tolerance = metric.tolerance
    gate = (tolerance.ratio, tolerance.milliseconds) if tolerance is not None else (1.0, 0.0)
    evidence = _quantile_evidence(current)
    compared = (
        compare_quantile(evidence, current.edges, q, tolerance=gate, rho2=tuning.rho2, alpha=alpha)
        for q in metric.display_quantiles
    )
    return [comparison for comparison in compared if comparison is not None]


def _quantile_details(comparisons: list[QuantileComparison]) -> dict[str, float]:
    details: dict[str, float] = {}
    for c in comparisons:
        details.update(
            {
                f"{c.name}_candidate": c.candidate,
                f"{c.name}_baseline": c.baseline,
                f"{c.name}_ratio": c.ratio,
                f"{c.name}_candidate_upper": c.candidate_upper,
                f"{c.name}_allowed": c.allowed,
                f"{c.name}_allowed_lower": c.allowed_lower,
            }
        )
    return details


def _judge_location(metric: LatencyCriteria, current: LatencyState, context: _Context) -> MetricJudgement:
    """The location rule: rank test (Holm) AND the gates set (tolerance, maxShift); PASS by bounds.

    Reasons put the quantiles first, the statistics after them, e.g. "latency: candidate
    slower: median 412 ms vs 10 ms (41x), p90 1.9 s vs 24 ms (79x), beyond the tolerance (1.1x or
    +10 ms); CLES 0.97 (bound 0.90), max log10 E 14.80 >= 1.60, n=47/939".
    """
    ranks, tuning = current.ranks, context.tuning
    candidate_n, baseline_n = sum(current.candidate), sum(current.baseline)
    if not ranks.compared:
        return MetricJudgement(
            name=metric.name,
            kind=metric.kind,
            verdict=Verdict.NO_DATA,
            reason=f"{metric.name}: no interval with requests of both cohorts yet",
            baseline_samples=baseline_n,
            candidate_samples=candidate_n,
        )
    tolerance, pass_below = metric.tolerance, metric.pass_below
    pass_alpha = location_pass_alpha(metric, tuning.alpha)
    cles = ranks.cles
    radius = ranks.cles_radius(tuning.rho2, pass_alpha)
    # The CLES PASS bound is the running intersection over the looks with minimum evidence.
    seen, _ = counted_bounds(
        current.location_bounds,
        (cles - radius, cles + radius),
        candidate_n >= context.min_evidence.requests,
        pass_below,
    )
    cles_lower = seen.lower if seen.lower is not None else cles - radius
    cles_upper = seen.upper if seen.upper is not None else cles + radius
    samples = _samples(candidate_n, baseline_n)
    log10_e = ranks.log_e(tuning.rho2) / LN10
    comparisons = _quantiles(metric, current, tuning, pass_alpha)
    details = _quantile_details(comparisons)
    if tolerance is not None:
        details.update({"tolerance_ratio": tolerance.ratio, "tolerance_ms": tolerance.milliseconds})
    if metric.max_shift is not None and pass_below is not None:
        details.update({"pass_below": pass_below, "max_shift": metric.max_shift})
    base = MetricJudgement(
        name=metric.name,
        kind=metric.kind,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        effect=cles,
        lower=cles_lower,
        upper=cles_upper,
        log10_e=log10_e,
        p_value=context.harm[metric.name].p_value,
        baseline_samples=baseline_n,
        candidate_samples=candidate_n,
        details=details,
    )

    def result(verdict: Verdict, text: str, action: Action = Action.NONE) -> MetricJudgement:
        return replace(base, verdict=verdict, reason=f"{metric.name}: {text}", action=action)

    measured = ", ".join(
        f"{c.name} {seconds(c.candidate)} vs {seconds(c.baseline)} ({times(c.ratio)})" for c in comparisons
    )
    allowed = f"{tolerance.ratio:g}x or +{tolerance.milliseconds:g} ms" if tolerance is not None else ""
    statistics = f"CLES {cles:.2f} (bound {cles - radius:.2f})"
    shift_cleared = metric.max_shift is None or cles >= metric.max_shift
    tolerance_cleared = tolerance is None or any(c.beyond for c in comparisons)
    if context.rejected(metric.name) and shift_cleared and tolerance_cleared:
        beyond = f", beyond the tolerance ({allowed})" if tolerance is not None else ""
        return result(
            Verdict.FAIL,
            f"candidate slower: {measured}{beyond}; {statistics}, {context.evidence(metric.name)}, {samples}",
            Action.ROLLBACK,
        )
    if candidate_n < context.min_evidence.requests:
        return result(
            Verdict.INCONCLUSIVE,
            f"needs {_count(context.min_evidence.requests)} candidate requests, has {_count(candidate_n)}; "
            f"{measured}",
        )
    cles_shown = pass_below is not None and seen.shown_below(pass_below)
    tolerance_shown = (
        tolerance is not None
        and len(comparisons) == len(tolerance.quantiles)
        and all(c.within for c in comparisons)
    )
    cles_bound = f"CLES {cles:.2f} <= {cles_upper:.2f}" + (
        f" < {pass_below:.2f}" if pass_below is not None else ""
    )
    if tolerance_shown and tolerance is not None:
        bounded = ", ".join(
            f"{c.name} {seconds(c.candidate)} vs {seconds(c.baseline)} "
            f"(at most {seconds(c.candidate_upper)}, allowed {seconds(c.allowed_lower)})"
            for c in comparisons
        )
        return result(
            Verdict.PASS, f"within the tolerance ({allowed}): {bounded}; CLES {cles:.2f}, {samples}"
        )
    if cles_shown:
        return result(Verdict.PASS, f"non-inferior: {measured}; {cles_bound}, {samples}")
    if context.rejected(metric.name):
        gate = f"the tolerance ({allowed})" if not tolerance_cleared else f"maxShift {metric.max_shift:g}"
        return result(Verdict.INCONCLUSIVE, f"slower but within {gate}: {measured}; {statistics}, {samples}")
    open_bounds = [
        f"{c.name} bound {seconds(c.candidate_upper)} not within {seconds(c.allowed_lower)}"
        for c in comparisons
        if tolerance is not None and not c.within
    ]
    if pass_below is not None:
        open_bounds.append(f"CLES bound {cles_upper:.2f} not below {pass_below:.2f}")
    return result(Verdict.INCONCLUSIVE, f"{measured}; {', '.join(open_bounds)}; {statistics}, {samples}")


def _judge_latency(metric: LatencyCriteria, current: LatencyState, context: _Context) -> MetricJudgement:
    location = _judge_location(metric, current, context)
    if metric.slo is None:
        return location
    rule = _RateRule(
        f"{metric.name}:tail",
        metric.tail_ratio,
        metric.tail_increase,
        None,
        metric.tail_increase,
        f"requests above {metric.slo:g}s",
        tail=True,
    )
    tail = _judge_rates(metric, current.tail, rule, context, current.tail_bounds)
    if location.verdict is Verdict.FAIL:
        return location
    if tail.verdict is Verdict.FAIL:
        return tail
    if location.verdict is Verdict.PASS and tail.verdict is Verdict.PASS:
        return replace(location, reason=f"{location.reason}; {tail.reason.split(': ', 1)[1]}")
    return location if location.verdict is not Verdict.PASS else tail


# --- drift -----------------------------------------------------------------------------------


def _sanity_failure(metric: DriftCriteria, current: DriftState, min_evidence: MinEvidence) -> str | None:
    evidence = current.evidence
    predicted = evidence.candidate_total + evidence.invalid_candidate
    if predicted < min_evidence.predictions:
        return None
    invalid_share = evidence.invalid_candidate / predicted
    if invalid_share > metric.max_invalid_ratio:
        return f"{_pct(invalid_share)} invalid predictions (max {_pct(metric.max_invalid_ratio)})"
    if not evidence.candidate:
        return None
    candidate_top = max(evidence.candidate) / evidence.candidate_total
    baseline_top = max(evidence.baseline) / max(sum(evidence.baseline), 1)
    if candidate_top == 1.0 and baseline_top < SINGLE_CLASS_SHARE:
        return "every candidate prediction falls in one " + ("bucket" if metric.numeric else "class")
    if metric.score_range is not None and current.edges:
        low, high = metric.score_range.low, metric.score_range.high
        lower_edges = (-math.inf, *current.edges)
        upper_edges = (*current.edges, math.inf)
        outside = sum(
            count
            for count, below, above in zip(evidence.candidate, lower_edges, upper_edges, strict=True)
            if above < low or below >= high
        )
        outside_share = outside / evidence.candidate_total
        if outside_share > metric.max_invalid_ratio:
            return f"{_pct(outside_share)} of scores outside [{low:g}, {high:g}]"
    return None


def _judge_drift(metric: DriftCriteria, current: DriftState, min_evidence: MinEvidence) -> MetricJudgement:
    evidence = current.evidence
    measure = "PSI" if metric.numeric else "JS distance"
    base = MetricJudgement(
        name=metric.name,
        kind=metric.kind,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        baseline_samples=sum(evidence.baseline),
        candidate_samples=evidence.candidate_total,
        details={"warn": metric.warn, "fail": metric.fail, "invalid_candidate": evidence.invalid_candidate},
    )

    def result(verdict: Verdict, text: str, action: Action = Action.NONE) -> MetricJudgement:
        return replace(base, verdict=verdict, reason=f"{metric.name}: {text}", action=action)

    sanity = _sanity_failure(metric, current, min_evidence)
    if sanity is not None:
        return result(Verdict.FAIL, f"sanity: {sanity}", Action.ROLLBACK)
    if not evidence.candidate_total:
        return result(Verdict.NO_DATA, "no interval with predictions of both cohorts yet")
    comparison = evidence.compare(metric.numeric)
    base = replace(base, effect=comparison.value, details={**base.details, **_drift_details(comparison)})
    measured = f"{measure} {comparison.value:.3f} (noise floor {comparison.floor:.3f})"
    samples = _samples(comparison.candidate_n, comparison.baseline_n)
    if evidence.candidate_total < min_evidence.predictions:
        return result(
            Verdict.INCONCLUSIVE,
            f"needs {_count(min_evidence.predictions)} candidate predictions, "
            f"has {_count(evidence.candidate_total)}",
        )
    if comparison.value >= metric.fail and comparison.value > comparison.floor:
        action = Action.HOLD if metric.on_fail == "hold" else Action.ROLLBACK
        return result(
            Verdict.FAIL, f"{measured} >= fail {metric.fail:g}, onFail {metric.on_fail}, {samples}", action
        )
    if comparison.value < metric.warn or comparison.value <= comparison.floor:
        return result(Verdict.PASS, f"{measured} below warn {metric.warn:g} or the floor, {samples}")
    return result(Verdict.INCONCLUSIVE, f"{measured} >= warn {metric.warn:g}, {samples}")


def _drift_details(comparison: DriftComparison) -> dict[str, float]:
    return {
        "noise_floor": comparison.floor,
        "bins": comparison.bins,
        "chi_square": comparison.chi_square,
        "g_statistic": comparison.g_statistic,
        "g_p_value": comparison.g_p_value,
        "effective_baseline": comparison.baseline_n,
    }


# --- guards ----------------------------------------------------------------------------------


def _judge_guard(metric: GuardCriteria, current: GuardState) -> MetricJudgement:
    bounds = " and ".join(
        f"{word} {bound:g}" for word, bound in (("min", metric.min), ("max", metric.max)) if bound is not None
    )
    base = MetricJudgement(
        name=metric.name,
        kind=metric.kind,
        verdict=Verdict.PASS,
        reason="",
        effect=current.last_value,
        candidate_samples=current.values,
        details={
            word: bound for word, bound in (("min", metric.min), ("max", metric.max)) if bound is not None
        },
    )
    if current.last_value is None:
        return replace(base, verdict=Verdict.NO_DATA, reason=f"{metric.name}: no value yet")
    value = f"{current.last_value:,.6g}"
    if current.breaches_in_row >= metric.consecutive:
        return replace(
            base,
            verdict=Verdict.FAIL,
            action=Action.ROLLBACK,
            reason=f"{metric.name}: {value} outside {bounds} for {current.breaches_in_row} looks in a row",
        )
    if current.breaches_in_row:
        return replace(
            base,
            verdict=Verdict.INCONCLUSIVE,
            reason=(
                f"{metric.name}: {value} outside {bounds} "
                f"({current.breaches_in_row} of {metric.consecutive} looks in a row)"
            ),
        )
    return replace(base, reason=f"{metric.name}: {value} within {bounds}")
