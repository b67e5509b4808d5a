"""The ratio grid's weights (issue 12): which prior over rate ratios finds moderate harm soonest.

The error rate's harm test mixes likelihood ratios over a fixed grid of rate ratios (1.25, 1.5,
2, 3, 5, 10; analysis.rates). The mixing weights are a prior: the e-value is their weighted mean,
so a ratio's weight w costs ln(1/w) nats of evidence when the truth sits at that ratio. This
bench measures, on the error-rate statistic alone (the exact conditional-binomial e-process and
the practical gate, ratio >= 1.25 and increase >= 0.1pp, at the level weighted Holm gives the
error rate first: alpha / 2 = 0.025), what each candidate prior does to:

- A/A: false rollbacks (the e-process bounds them by the level whatever the prior);
- errors 1% -> 1.5%, 1% -> 2%: power (issue 12's goal: >= 80% at 2x with 1,800 planned);
- errors 5x and 10x: the look of the rollback (severe harm must still go at the first looks).

Two traffic setups, as bench/power.py: 60 / 1,140 requests a look for 30 looks (1,800 candidate
requests) and 50 / 950 for 60 looks (3,000). Baseline error rate 1%. Vectorised over runs.

    .venv/bin/python -m bench.ratio_prior                  # 20,000 runs per cell
    .venv/bin/python -m bench.ratio_prior --runs 2000 --out /tmp/ratio_prior.md
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from analysis.rates import RATIO_GRID, RATIO_PRIOR, conditional_log_lr, mixture_log_e
from bench.analysis_quality import machine
from bench.machine import revision, run_arguments, write_results

RESULTS = Path(__file__).parent / "results" / "ratio_prior.md"
LEVEL = 0.025
BASELINE_RATE = 0.01
MAX_RATIO, MAX_INCREASE = 1.25, 0.001
SETUPS = ((30, 60, 1140), (60, 50, 950))
"""(looks, candidate requests a look, baseline requests a look)."""
CANDIDATE_RATES = (("A/A", 0.01), ("1.5x", 0.015), ("2x", 0.02), ("5x", 0.05), ("10x", 0.10))
PRIORS: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("uniform (before issue 12's prior)", (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)),
    ("(1, 3, 4, 1.5, 0.5, 0.5)", (1.0, 3.0, 4.0, 1.5, 0.5, 0.5)),
    ("(1, 3, 4, 1.5, 0.3, 0.2)", (1.0, 3.0, 4.0, 1.5, 0.3, 0.2)),
    ("(2, 4, 4, 1, 0.3, 0.2)", (2.0, 4.0, 4.0, 1.0, 0.3, 0.2)),
    ("(1, 2, 3, 2, 1, 0.5)", (1.0, 2.0, 3.0, 2.0, 1.0, 0.5)),
    ("(1, 3, 3, 1.5, 0.75, 0.75)", (1.0, 3.0, 3.0, 1.5, 0.75, 0.75)),
)


def rolled_back(
    prior: tuple[float, ...], candidate_rate: float, setup: tuple[int, int, int], runs: int, seed: int
) -> tuple[float, float | None]:
    """Share of runs rolled back by the error-rate test alone, and the median look of the rollback."""
    looks, n_c, n_b = setup
    weights = tuple(w / sum(prior) for w in prior)
    rng = np.random.default_rng(seed)
    products = np.zeros((runs, len(RATIO_GRID)))
    errors_c, errors_b = np.zeros(runs), np.zeros(runs)
    first = np.zeros(runs, dtype=int)
    for look in range(1, looks + 1):
        x_c, x_b = rng.binomial(n_c, candidate_rate, runs), rng.binomial(n_b, BASELINE_RATE, runs)
        errors_c, errors_b = errors_c + x_c, errors_b + x_b
        products += conditional_log_lr(x_c, x_b, n_c / (n_c + n_b))
        harm = mixture_log_e(products, weights) >= np.log(1.0 / LEVEL)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (errors_c * n_b) / (errors_b * n_c)
        gate = (ratio >= MAX_RATIO) & ((errors_c / n_c - errors_b / n_b) / look >= MAX_INCREASE)
        first[(first == 0) & harm & gate] = look
    hits = first[first > 0]
    return hits.size / runs, float(np.median(hits)) if hits.size else None


def cell(result: tuple[float, float | None]) -> str:
    """'78.6% (look 15)'."""
    share, look = result
    return f"{100 * share:.1f}%" + (f" (look {look:g})" if look is not None else "")


def main() -> None:
    args = run_arguments(__doc__.splitlines()[0], 20000, RESULTS)
    began = time.monotonic()
    columns = [f"{name}, {looks * n_c:,} planned" for looks, n_c, _ in SETUPS for name, _ in CANDIDATE_RATES]
    lines = [
        "# The ratio grid's weights (bench/ratio_prior.py)",
        "",
        f"{machine()} Code: {revision()}.",
        "",
        f"{args.runs:,} seeded runs per cell (the same seed for every prior: common random numbers);",
        f"the error-rate test alone at level {LEVEL} with the practical gate; baseline error rate 1%.",
        "Each cell: runs rolled back (for A/A: false rollbacks) and the median look of the rollback.",
        f"Grid ratios: {', '.join(f'{r:g}' for r in RATIO_GRID)}.",
        "",
        "| prior (weights over the grid) | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, prior in PRIORS:
        cells = [
            cell(rolled_back(prior, rate, setup, args.runs, seed=index))
            for setup in SETUPS
            for index, (_, rate) in enumerate(CANDIDATE_RATES)
        ]
        in_use = np.allclose(np.asarray(prior) / sum(prior), RATIO_PRIOR)
        lines.append(f"| {name}{' **in use**' if in_use else ''} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    write_results(args.out, lines, began)


if __name__ == "__main__":
    main()
