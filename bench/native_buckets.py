"""Rank test on native vs classic buckets: CLES error and power on simulated latencies.

Per run, both cohorts draw lognormal latencies (median 20 ms, sigma 0.25: a tight serving
distribution, where classic buckets tie most requests), the candidate slower by a factor; the
same draws are binned on the example model server's classic buckets and on native buckets at
schema 3 (analysis.native, through the provider's own conversion), and analysis.ranks computes
CLES and z on each. Per row: the mean absolute error of CLES against scipy's exact Mann-Whitney
statistic on the raw draws, and the share of runs with z > 1.96 (a fixed-horizon one-sided test
at 2.5%; the engine's sequential test needs more evidence, but orders the two alike).

    nice -n 10 .venv/bin/python -m bench.native_buckets              # 1,000 runs per row
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

from analysis import native
from analysis.ranks import stratum_ranks
from bench.analysis_quality import machine
from bench.machine import cpu_model, revision
from rollouts.local.model_server.exposition import NATIVE_SCHEMA
from rollouts.local.model_server.metrics import LATENCY_BUCKETS

RESULTS = Path(__file__).parent / "results" / "native_buckets.md"
SLOWER = (1.0, 1.02, 1.05, 1.10)
REQUESTS = 500
"""Per cohort and run."""


def native_buckets(values: np.ndarray) -> native.Buckets:
    """Native buckets at NATIVE_SCHEMA of positive ``values``, as Prometheus' API would give them."""
    scale = 2**NATIVE_SCHEMA
    indices, counts = np.unique(np.ceil(np.log2(values) * scale).astype(int), return_counts=True)
    return tuple(
        native.NativeBucket(2.0 ** ((i - 1) / scale), 2.0 ** (i / scale), int(n))
        for i, n in zip(indices, counts, strict=True)
    )


def classic_counts(values: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(LATENCY_BUCKETS, values), minlength=len(LATENCY_BUCKETS) + 1)


def row(factor: float, runs: int, draws: np.random.Generator) -> str:
    errors: dict[str, list[float]] = {"classic": [], "native": []}
    rejected = {"classic": 0, "native": 0, "exact": 0}
    for _ in range(runs):
        baseline = draws.lognormal(math.log(0.020), 0.25, REQUESTS)
        candidate = draws.lognormal(math.log(0.020 * factor), 0.25, REQUESTS)
        exact = mannwhitneyu(candidate, baseline, method="asymptotic", use_continuity=False)
        exact_cles = float(exact.statistic) / REQUESTS**2
        rejected["exact"] += bool(exact.statistic > REQUESTS**2 / 2 and exact.pvalue < 0.05)
        _, c, b = native.common_layout(native_buckets(candidate), native_buckets(baseline))
        for name, ranks in (
            ("classic", stratum_ranks(classic_counts(candidate), classic_counts(baseline))),
            ("native", stratum_ranks(c, b)),
        ):
            errors[name].append(abs(float(ranks.cles) - exact_cles))
            rejected[name] += bool(float(ranks.z) > 1.96)
    shares = " | ".join(f"{rejected[name] / runs:.1%}" for name in ("classic", "native", "exact"))
    return f"| {factor:.2f} | {np.mean(errors['classic']):.4f} | {np.mean(errors['native']):.4f} | {shares} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    draws = np.random.default_rng(2026)
    lines = [
        "# Native vs classic buckets for the rank test (bench/native_buckets.py)",
        "",
        f"{machine()} CPU: {cpu_model()}. Code: {revision()}.",
        "",
        f"{args.runs} runs per row, {REQUESTS} requests per cohort, lognormal latency (median 20 ms, "
        f"sigma 0.25); classic: the model server's buckets {list(LATENCY_BUCKETS)}; native: schema "
        f"{NATIVE_SCHEMA} (buckets 2^(1/8) = 9% wide). Rejection: z > 1.96 (exact: scipy's two-sided "
        "p < 0.05 in the slower direction).",
        "",
        "| candidate slower x | CLES error classic | CLES error native | rejected classic | "
        "rejected native | rejected exact |",
        "|---|---|---|---|---|---|",
        *(row(factor, args.runs, draws) for factor in SLOWER),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
