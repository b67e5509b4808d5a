"""Promotions that happen: how often an identical candidate (A/A) is promoted, and whether a PASS holds.

Every run goes through the engine's public start/update/judge (analysis.simulate), judging the
rollout of analysis.simulate.CRITERIA (error rate, latency with a 0.5s SLO, score drift) at
alpha 0.05. Per scenario it counts:

- **promoted**: the run reached a PASS before any rollback — the controller promotes at the
  first PASS of an analyze step (the plan here is one analyze step over every look);
- **PASS at the last look**: what a report of the last look alone would show;
- **flickers**: runs whose verdict went from PASS back to anything but PASS or FAIL;
- **false rollbacks**: runs rolled back (every candidate here is as good as the baseline).

The scenarios are issue 12's setup (20 requests/s = 1,200 per 60 s look, 5% to the candidate,
30 looks = 1,800 candidate requests), with and without the SLO, overdispersed (pods +/-3%, load
+/-50%), and bench/analysis_quality.py's setup (1,000 per look, 60 looks).

    .venv/bin/python bench/promotions.py                      # 1,000 runs per scenario
    .venv/bin/python bench/promotions.py --runs 200 --out /tmp/promotions.md

It uses only what the engine exposed before the PASS rules changed (start, update, judge,
analysis.simulate), so the same script measures an older checkout: put it first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from analysis.criteria import AnalysisCriteria, LatencyCriteria
from analysis.engine import start, update
from analysis.judge import judge
from analysis.simulate import CRITERIA, Scenario, observations
from analysis.verdicts import Action, Verdict

try:
    from bench.analysis_quality import clopper_pearson, machine
except ModuleNotFoundError:  # run as a file (python bench/promotions.py): bench/ itself is on sys.path
    from analysis_quality import clopper_pearson, machine

RESULTS = Path(__file__).parent / "results" / "promotions.md"

ISSUE = Scenario("A/A, issue 12 setup", looks=30, requests_per_look=1200.0)
CASES: tuple[tuple[Scenario, bool], ...] = (
    (ISSUE, True),
    (ISSUE, False),
    (replace(ISSUE, name="A/A, issue 12 setup, overdispersed", pod_spread=0.03, load_swing=0.5), True),
    (Scenario("A/A, 1,000 per look, 60 looks"), True),
    (Scenario("A/A, 1,000 per look, 60 looks, overdispersed", pod_spread=0.03, load_swing=0.5), True),
)
"""(scenario, with the SLO)."""


@dataclass(frozen=True)
class Outcome:
    """One run: first PASS look, rollback look, PASS at the last look, and a PASS that fell back."""

    first_pass: int | None
    rollback: int | None
    pass_at_end: bool
    flickered: bool


def without_slo(criteria: AnalysisCriteria) -> AnalysisCriteria:
    """The same rollout with the latency tail test turned off."""
    metrics = tuple(replace(m, slo=None) if isinstance(m, LatencyCriteria) else m for m in criteria.metrics)
    return replace(criteria, metrics=metrics)


def simulate(job: tuple[Scenario, bool, int]) -> Outcome:
    """One seeded run through start/update/judge, to the end of the plan or the first rollback."""
    scenario, slo, seed = job
    criteria = CRITERIA if slo else without_slo(CRITERIA)
    state = start(criteria, scenario.forecast())
    first_pass = None
    previous = None
    flickered = False
    verdict = Verdict.NO_DATA
    for look, interval in enumerate(observations(scenario, np.random.default_rng(seed)), start=1):
        state = update(state, interval)
        judgement = judge(state)
        verdict = judgement.verdict
        if judgement.action is Action.ROLLBACK:
            return Outcome(first_pass, look, False, flickered)
        if verdict is Verdict.PASS and first_pass is None:
            first_pass = look
        if previous is Verdict.PASS and verdict not in (Verdict.PASS, Verdict.FAIL):
            flickered = True
        previous = verdict
    return Outcome(first_pass, None, verdict is Verdict.PASS, flickered)


def share(count: int, runs: int) -> str:
    """Share with its 95% Clopper-Pearson interval."""
    low, high = clopper_pearson(count, runs)
    return f"{100 * count / runs:.1f}% ({count}/{runs}, CP {100 * low:.1f}-{100 * high:.1f}%)"


def row(scenario: Scenario, slo: bool, outcomes: list[Outcome]) -> str:
    """A markdown table row for one scenario."""
    runs = len(outcomes)
    promoted = [o.first_pass for o in outcomes if o.first_pass is not None]
    median = f"{float(np.median(promoted)):g}" if promoted else "-"
    return (
        f"| {scenario.name} | {'0.5 s' if slo else 'none'} | {share(len(promoted), runs)} | {median} "
        f"| {share(sum(o.pass_at_end for o in outcomes), runs)} "
        f"| {sum(o.flickered for o in outcomes)} "
        f"| {share(sum(o.rollback is not None for o in outcomes), runs)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs per scenario")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    lines = [
        "# Promotions of identical candidates (bench/promotions.py)",
        "",
        machine(),
        "",
        f"{args.runs:,} seeded runs per scenario (seeds 0..{args.runs - 1}), alpha 0.05, candidate at 5%.",
        "Promoted: reached a PASS (the controller promotes at the first PASS of an analyze step).",
        "Flickers: runs whose verdict fell from PASS back to INCONCLUSIVE, NO_DATA or ERROR.",
        "",
        "| scenario | slo | promoted | median look | PASS at the last look | flickers | false rollbacks |",
        "|---|---|---|---|---|---|---|",
    ]
    with multiprocessing.Pool(args.workers) as pool:
        for scenario, slo in CASES:
            jobs = [(scenario, slo, seed) for seed in range(args.runs)]
            outcomes = pool.map(simulate, jobs, chunksize=10)
            lines.append(row(scenario, slo, outcomes))
            print(lines[-1], flush=True)
    lines += ["", f"Total time: {time.perf_counter() - started:.0f} s.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
