"""Analysis speed: one look for 5 metrics with 60 intervals of history and 50 buckets each.

A look is what the controller does once per interval: fold one interval into the state
(update), judge, and write the state to status (JSON); a restart adds reading it back (restore).
The state carries 60 earlier intervals. Metrics: error rate, latency with an SLO (50 buckets),
score drift (50 buckets), class drift (50 classes), a guard. Writes bench/results/analysis_speed.md.

    .venv/bin/python bench/analysis_speed.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy

from analysis import (
    AnalysisCriteria,
    AnalysisState,
    ClassObservation,
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    HistogramObservation,
    IntervalObservations,
    LatencyCriteria,
    RateCounts,
    RateObservation,
    ScalarObservation,
    TrafficForecast,
    judge,
    restore,
    start,
    update,
)

BUCKETS = 50
HISTORY = 60
RESULTS = Path(__file__).parent / "results" / "analysis_speed.md"
LATENCY_EDGES = tuple(float(edge) for edge in np.round(np.geomspace(0.001, 30.0, BUCKETS - 1), 6))
SCORE_EDGES = tuple(float(edge) for edge in np.round(np.linspace(0.02, 0.98, BUCKETS - 1), 4))
CLASSES = tuple(f"class-{index}" for index in range(BUCKETS))
CRITERIA = AnalysisCriteria(
    metrics=(
        ErrorRateCriteria("errors", "", ""),
        LatencyCriteria("latency", "", slo=float(LATENCY_EDGES[30])),
        DriftCriteria("scores", ""),
        DriftCriteria("classes", "", by="label"),
        GuardCriteria("gpu", "", max=70000.0),
    )
)


def interval(rng: np.random.Generator) -> IntervalObservations:
    def counts(size: int, n: int) -> tuple[int, ...]:
        return tuple(rng.multinomial(n, np.full(size, 1.0 / size)).tolist())

    return {
        "errors": RateObservation(
            RateCounts(500, int(rng.binomial(500, 0.01))), RateCounts(9500, int(rng.binomial(9500, 0.01)))
        ),
        "latency": HistogramObservation(LATENCY_EDGES, counts(BUCKETS, 500), counts(BUCKETS, 9500)),
        "scores": HistogramObservation(SCORE_EDGES, counts(BUCKETS, 500), counts(BUCKETS, 9500)),
        "classes": ClassObservation(CLASSES, counts(BUCKETS, 500), counts(BUCKETS, 9500)),
        "gpu": ScalarObservation(float(rng.uniform(40000, 60000))),
    }


def history(rng: np.random.Generator) -> AnalysisState:
    state = start(CRITERIA, TrafficForecast(500, 9500, 120))
    for _ in range(HISTORY):
        state = update(state, interval(rng))
    return state


def look(state: AnalysisState, observations: IntervalObservations) -> str:
    """One controller look: update, judge, and the JSON written to status."""
    state = update(state, observations)
    judgement = judge(state)
    status = {
        "tuning": state.tuning.to_status(),
        "metrics": {
            m.name: {"verdict": m.verdict.value, "state": state.metric_state_json(m.name)}
            for m in judgement.metrics
        },
    }
    return json.dumps(status)


def restart_look(stored: str, observations: IntervalObservations) -> str:
    """A look right after a restart: read the state back from the status JSON first."""
    status = json.loads(stored)
    restored = restore(
        CRITERIA, status["tuning"], {name: m["state"] for name, m in status["metrics"].items()}
    )
    return look(restored, observations)


def timings(action: Callable[[], object], repeats: int) -> list[float]:
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        durations.append((time.perf_counter() - started) * 1000.0)
    return durations


def peak_kib(action: Callable[[], object]) -> float:
    tracemalloc.start()
    action()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    state = history(rng)
    observations = interval(rng)
    stored = look(state, observations)
    rows = []
    for label, action in (
        ("one look: update + judge + state to JSON", lambda: look(state, observations)),
        (
            "one look after a restart: status JSON to state, then a look",
            lambda: restart_look(stored, observations),
        ),
        ("replay of all 60 intervals (start, then 60 looks)", lambda: history(np.random.default_rng(7))),
    ):
        action()  # warm-up: imports, caches
        repeats = args.repeats if "replay" not in label else max(args.repeats // 20, 5)
        durations = timings(action, repeats)
        quantiles = statistics.quantiles(durations, n=20)
        median, p95 = statistics.median(durations), quantiles[-1]
        rows.append(f"| {label} | {median:.2f} | {p95:.2f} | {peak_kib(action):,.0f} | {repeats} |")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        "# Analysis speed (bench/analysis_speed.py)",
        "",
        f"Run {now} on {platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, load average {load} "
        f"(shared machine), Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}.",
        "",
        f"5 metrics (error rate, latency with SLO, score drift, class drift, guard), {HISTORY} intervals of "
        f"history, {BUCKETS} buckets or classes each. Target: < 20 ms per look. Status JSON per look: "
        f"{len(stored):,} bytes.",
        "",
        "| operation | median ms | p95 ms | peak KiB (tracemalloc) | repeats |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
