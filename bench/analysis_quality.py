"""Analysis quality: false rollbacks, power and looks to decision, from seeded simulations.

Part 1 sends every run through the engine's public start/update/judge (analysis.simulate),
judging the rollout of analysis.simulate.CRITERIA (error rate, latency with a 0.5s SLO, score
drift) at alpha 0.05 over 60 looks of about 50 candidate and 950 baseline requests.
Part 2 compares two ways of applying a practical gate (on the estimate, or as a shifted null)
on the statistics alone, at low and high traffic. Writes bench/results/analysis_quality.md.

    .venv/bin/python bench/analysis_quality.py                 # 2,000 runs per scenario
    .venv/bin/python bench/analysis_quality.py --runs 200 --out /tmp/quick.md
"""

from __future__ import annotations

import argparse
import datetime
import math
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy
from scipy.stats import binomtest, norm

from analysis.observations import RateCounts
from analysis.ranks import RankEvidence, stratum_ranks
from analysis.rates import EProcess, RateEvidence, conditional_log_lr
from analysis.sequential import mixture_width
from analysis.simulate import LATENCY_EDGES, RunOutcome, Scenario, run

ALPHA = 0.05
HOLM_TESTS = 3
LOOKS = 60
RESULTS = Path(__file__).parent / "results" / "analysis_quality.md"


@dataclass(frozen=True)
class Case:
    """A scenario and the property it must show."""

    scenario: Scenario
    claim: str


CASES = (
    Case(Scenario("A/A"), "false rollbacks <= 5%"),
    Case(
        Scenario("A/A, overdispersed", pod_spread=0.03, load_swing=0.5),
        "false rollbacks <= 5% (pods +/-3% on errors and latency, load +/-50%)",
    ),
    Case(
        Scenario("A/A, staged weights", weight_steps=(0.05, 0.25, 0.5), load_swing=0.5, pod_spread=0.03),
        "false rollbacks <= 5% (weight 5% -> 25% -> 50%, load +/-50%, pods +/-3%)",
    ),
    Case(Scenario("errors 1% -> 2%", error_ratio=2.0), "rolled back in >= 90% of runs"),
    Case(
        Scenario("latency x40 (CPU fallback)", latency_ratio=40.0),
        "rolled back by the first look with minimum evidence (look 10)",
    ),
    Case(Scenario("scores shifted 0.5 sd", score_shift=0.5), "drift flagged"),
    Case(Scenario("scores shifted 0.02 sd", score_shift=0.02), "drift not flagged"),
)


def _run_case(job: tuple[Scenario, int]) -> RunOutcome:
    scenario, seed = job
    return run(scenario, seed)


Pick = Callable[[RunOutcome], int | None]


def _rollback(outcome: RunOutcome) -> int | None:
    return outcome.rollback


def _hold(outcome: RunOutcome) -> int | None:
    return outcome.hold


def _flagged(outcome: RunOutcome) -> int | None:
    return outcome.drift_flagged


def _passed(outcome: RunOutcome) -> int | None:
    return outcome.passed


def clopper_pearson(hits: int, runs: int) -> tuple[float, float]:
    """Two-sided 95% Clopper-Pearson (exact binomial) interval of a share."""
    interval = binomtest(hits, runs).proportion_ci(0.95, method="exact")
    return float(interval.low), float(interval.high)


def share(hits: int, runs: int) -> str:
    """A share of runs with its count and Clopper-Pearson interval: '1.25% (25/2000, CP 0.81-1.84%)'."""
    low, high = clopper_pearson(hits, runs)
    return f"{100 * hits / runs:.2f}% ({hits}/{runs}, CP {100 * low:.2f}-{100 * high:.2f}%)"


def _cell(outcomes: Sequence[RunOutcome], pick: Pick) -> str:
    """Share of runs with the event, its Clopper-Pearson interval, and the median and latest look."""
    looks = [look for outcome in outcomes if (look := pick(outcome)) is not None]
    median = f"; median look {statistics.median(looks):g}, latest {max(looks)}" if looks else ""
    return f"{share(len(looks), len(outcomes))}{median}"


def engine_section(runs: int, workers: int) -> list[str]:
    """Part 1: every scenario of CASES through start/update/judge."""
    lines = [
        "## 1. Rollouts through the engine",
        "",
        f"{runs:,} seeded runs per scenario (seeds 0..{runs - 1}); a run stops at its first rollback.",
        "Looks are 1-based; the minimum evidence for a PASS (500 candidate requests) comes at look 10.",
        "CP: two-sided 95% Clopper-Pearson interval; its upper end is the bound the claims are judged by.",
        "",
        "| scenario | claim | rolled back | held for a person | drift flagged | reached PASS |",
        "|---|---|---|---|---|---|",
    ]
    with multiprocessing.Pool(workers) as pool:
        for case in CASES:
            started = time.perf_counter()
            outcomes = pool.map(_run_case, [(case.scenario, seed) for seed in range(runs)], chunksize=20)
            cells = [_cell(outcomes, pick) for pick in (_rollback, _hold, _flagged, _passed)]
            lines.append(f"| {case.scenario.name} | {case.claim} | {' | '.join(cells)} |")
            reasons = sorted({o.rollback_reason.split(",")[0] for o in outcomes if o.rollback})[:3]
            print(f"{case.scenario.name}: {time.perf_counter() - started:.0f}s {reasons}", flush=True)
    return lines


# --- part 2: where the practical gate goes -----------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    """First rollback look per run under each rule."""

    estimate: list[int | None]
    shifted: list[int | None]

    def row(self, label: str) -> str:
        """A markdown table row: label, then rollback share and median look per rule."""

        def cell(looks: list[int | None]) -> str:
            hits = [look for look in looks if look is not None]
            median = f"{statistics.median(hits):g}" if hits else "-"
            return f"{100 * len(hits) / len(looks):.1f}% | {median}"

        return f"| {label} | {cell(self.estimate)} | {cell(self.shifted)} |"


def rate_gates(ratio: float, per_look: int, runs: int, seed: int) -> GateResult:
    """Error rate 1% x ratio: estimate gate (ratio >= 1.25) vs shifted null ratio <= 1.25."""
    rng = np.random.default_rng(seed)
    level = math.log(HOLM_TESTS / ALPHA)
    n_c, n_b = per_look // 20, per_look - per_look // 20
    estimate: list[int | None] = []
    shifted: list[int | None] = []
    for _ in range(runs):
        evidence, shifted_harm = RateEvidence(), EProcess()
        first = [None, None]
        for look in range(1, LOOKS + 1):
            x_c, x_b = int(rng.binomial(n_c, 0.01 * ratio)), int(rng.binomial(n_b, 0.01))
            evidence = evidence.add(RateCounts(n_c, x_c), RateCounts(n_b, x_b))
            shifted_harm = shifted_harm.extend(
                conditional_log_lr(x_c, x_b, n_c / (n_c + n_b), null_ratio=1.25)
            )
            increase = evidence.difference >= 0.001
            if first[0] is None and evidence.harm.max_log_e >= level and evidence.ratio >= 1.25 and increase:
                first[0] = look
            if first[1] is None and shifted_harm.max_log_e >= level and increase:
                first[1] = look
        estimate.append(first[0])
        shifted.append(first[1])
    return GateResult(estimate, shifted)


def latency_gates(cles: float, per_look: int, runs: int, seed: int) -> GateResult:
    """Lognormal latency shifted to a true CLES: estimate gate (CLES >= 0.55) vs null CLES <= 0.55."""
    rng = np.random.default_rng(seed)
    level = math.log(HOLM_TESTS / ALPHA)
    sigma = 0.6
    shift = sigma * math.sqrt(2.0) * float(norm.ppf(cles))
    n_c, n_b = per_look // 20, per_look - per_look // 20
    rho2 = mixture_width(ALPHA, LOOKS * n_c * n_b / (n_c + n_b))
    estimate: list[int | None] = []
    shifted: list[int | None] = []
    for _ in range(runs):
        evidence = RankEvidence()
        shifted_max = 0.0
        first = [None, None]
        for look in range(1, LOOKS + 1):
            candidate = np.bincount(
                np.searchsorted(LATENCY_EDGES, rng.lognormal(math.log(0.1) + shift, sigma, n_c)),
                minlength=len(LATENCY_EDGES) + 1,
            )
            baseline = np.bincount(
                np.searchsorted(LATENCY_EDGES, rng.lognormal(math.log(0.1), sigma, n_b)),
                minlength=len(LATENCY_EDGES) + 1,
            )
            evidence = evidence.add(stratum_ranks(candidate, baseline), rho2)
            shifted_max = max(shifted_max, evidence.cles_log_e(0.55, rho2))
            if first[0] is None and evidence.max_log_e >= level and evidence.cles >= 0.55:
                first[0] = look
            if first[1] is None and shifted_max >= level:
                first[1] = look
        estimate.append(first[0])
        shifted.append(first[1])
    return GateResult(estimate, shifted)


def gate_section(runs: int) -> list[str]:
    """Part 2: rollback rate and median looks under both gate rules."""
    lines = [
        "## 2. Practical gate: on the estimate, or as a shifted null",
        "",
        f"{runs} seeded runs per cell, 60 looks, candidate weight 5%, Holm level alpha/3 for the harm test.",
        "Estimate: the harm test (null ratio 1, or CLES 0.5) rejects and the estimate clears the gate",
        "(ratio >= 1.25 and +0.1pp; CLES >= 0.55). Shifted null: an always-valid test of ratio <= 1.25",
        "(conditional binomial, null share q(1.25)) or of CLES <= 0.55 (normal mixture, DeLong variance).",
        "Cells: share of runs rolled back | median look of the rollback.",
    ]
    for per_look in (1000, 40000):
        lines += [
            "",
            f"### {per_look:,} requests per look ({per_look // 20:,} candidate)",
            "",
            "| true effect | estimate gate: rolled back | median look | shifted null: rolled back "
            "| median look |",
            "|---|---|---|---|---|",
        ]
        for ratio in (1.0, 1.1, 1.2, 1.3, 1.5, 2.0):
            lines.append(
                rate_gates(ratio, per_look, runs, seed=int(ratio * 100) + per_look).row(
                    f"error ratio {ratio:g}"
                )
            )
        for cles in (0.5, 0.53, 0.55, 0.58, 0.65):
            lines.append(
                latency_gates(cles, per_look, runs // 2, seed=int(cles * 100) + per_look).row(
                    f"CLES {cles:g}"
                )
            )
        print(f"gates at {per_look}: done", flush=True)
    return lines


def machine() -> str:
    """Where and when the numbers were made."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Run {now} on {platform.node() or 'unknown host'}: {platform.machine()}, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.platform()}), Python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs per engine scenario")
    parser.add_argument("--gate-runs", type=int, default=400, help="runs per gate-comparison cell")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    lines = ["# Analysis quality (bench/analysis_quality.py)", "", machine(), ""]
    lines += engine_section(args.runs, args.workers)
    lines += ["", *gate_section(args.gate_runs)]
    lines += ["", f"Total time: {time.perf_counter() - started:.0f} s.", ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
