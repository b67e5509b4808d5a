"""The long safety campaign: many seeded rollouts under faults, every invariant checked.

The engine is tests/support/campaign.py (its docstring says what a scenario is and what is
checked); tests/integration/test_safety_campaign.py runs a few of its seeds in the test suite,
this runs many more on a test bed and a Prometheus of its own, prints a line per scenario and
writes bench/results/safety_campaign.md: the counts (inputs tried, faults injected by kind,
invariant checks, violations), the machine, the date, the seeds and the command.

    .venv/bin/python bench/safety_campaign.py                  # seeds 1-30
    .venv/bin/python bench/safety_campaign.py --seeds 5 --first-seed 100 --out /tmp/quick.md

A violation is printed with its seed (the controller's logs stay in the folder printed first);
``--seed SEED`` replays that scenario.
Exit status: 0 no violation, 1 a violation or a stalled scenario.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

# The engine lives with the tests (tests/support); run from anywhere, import from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_model, revision
from rollouts.local.prometheus import PrometheusServer
from rollouts.runtime.kube import connect
from rollouts.testbed import ClusterConfig, LocalCluster, find_binaries, install_crds
from rollouts.testbed.process import exit_on_signals
from tests.support.campaign import Environment, Fault, Invariant, ScenarioPlan, Tally, run_campaign

RESULTS = Path(__file__).parent / "results" / "safety_campaign.md"


def scenario_line(scenario: ScenarioPlan, tally: Tally) -> str:
    """One scenario, for the terminal and the results table."""
    faults = ", ".join(f"{kind} x{count}" for kind, count in sorted(tally.faults.items())) or "none"
    outcomes = ", ".join(f"{outcome} x{count}" for outcome, count in sorted(tally.outcomes.items())) or "none"
    return f"faults: {faults}; outcomes: {outcomes}"


def report(
    total: Tally,
    rows: list[tuple[ScenarioPlan, Tally]],
    *,
    seeds: list[int],
    command: str,
    began: str,
    wall: float,
    code: str,
) -> str:
    """The results file."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    inputs = sum(total.inputs.values())
    lines = [
        "# Safety campaign",
        "",
        "Seeded rollouts on the local test bed (real kube-apiserver, controller-manager, kwok), a real",
        "Prometheus and the controller as a process, under faults and people's actions, with the",
        "invariants of issue 10 checked from watches all along (tests/support/campaign.py says how).",
        "",
        f"- command: `{command}`",
        f"- run: {began}, {wall / 60:.1f} minutes in all ({total.seconds / 60:.1f} of scenarios, the rest "
        "starting the test bed and Prometheus)",
        f"- machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, load average at the end {load} "
        f"(shared machine), Python {platform.python_version()}",
        f"- code: {code}",
        f"- seeds: {', '.join(str(seed) for seed in seeds)}",
        "",
        "| count | value |",
        "|---|---|",
        f"| scenarios | {total.scenarios} |",
        f"| inputs tried | {inputs} ("
        + ", ".join(f"{what} {count}" for what, count in sorted(total.inputs.items()))
        + ") |",
        f"| faults injected | {sum(total.faults.values())} |",
        f"| invariant checks made | {sum(total.checks.values())} |",
        f"| **invariant violations** | **{len(total.violations)}** |",
        f"| scenarios that did not settle within the time limit | {len(total.stalled)} |",
        f"| metadata writes by the concurrent writers | {total.concurrent_writes} |",
        f"| reconciles the controller retried after a 409 (from its log) | {total.conflicts_logged} |",
        f"| Prometheus requests carrying the planted token | {total.tokens_sent} |",
        "",
        "| fault | injected |",
        "|---|---|",
        *(f"| {kind.value} | {total.faults[kind.value]} |" for kind in Fault),
        "",
        "| invariant | checks | violations |",
        "|---|---|---|",
        *(
            f"| {invariant.value} | {total.checks[invariant]} | "
            f"{sum(1 for v in total.violations if v.invariant is invariant)} |"
            for invariant in Invariant
        ),
        "",
        "| outcome (reason) | rollouts |",
        "|---|---|",
        *(f"| {outcome} | {count} |" for outcome, count in sorted(total.outcomes.items())),
        "",
        "| seed | scenario | what happened | seconds | violations |",
        "|---|---|---|---|---|",
        *(
            f"| {scenario.seed} | {scenario.describe().split(': ', 1)[1]} | {scenario_line(scenario, tally)} "
            f"| {tally.seconds:.0f} | {len(tally.violations)} |"
            for scenario, tally in rows
        ),
    ]
    if total.violations:
        lines += ["", "## Violations", ""]
        lines += [f"- seed {v.seed}, {v.invariant.value}: {v.evidence}" for v in total.violations]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=30, help="how many scenarios (default 30)")
    parser.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument(
        "--seed", type=int, action="append", help="run this seed (repeatable) instead of a range"
    )
    parser.add_argument(
        "--revision",
        default=None,
        help="what code ran, for the results (default: git commit of the checkout)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    seeds = args.seed or list(range(args.first_seed, args.first_seed + args.seeds))
    command = ".venv/bin/python bench/safety_campaign.py " + shlex.join(sys.argv[1:])
    began = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows: list[tuple[ScenarioPlan, Tally]] = []

    def progress(scenario: ScenarioPlan, tally: Tally) -> None:
        rows.append((scenario, tally))
        verdict = (
            "ok"
            if not tally.violations and not tally.stalled
            else "VIOLATION"
            if tally.violations
            else "STALLED"
        )
        print(f"[{len(rows)}/{len(seeds)}] {verdict} {tally.seconds:.0f}s {scenario.describe()}", flush=True)
        print(f"    {scenario_line(scenario, tally)}", flush=True)
        for violation in tally.violations:
            print(f"    {violation.invariant.value}: {violation.evidence}", flush=True)

    root = Path(tempfile.mkdtemp(prefix="safety-campaign-"))
    print(f"controller logs (kept, for the evidence of a violation): {root}", flush=True)
    with exit_on_signals():
        started = time.monotonic()
        cluster = LocalCluster(
            ClusterConfig(state_root=root / "state", log_dir=root / "testbed-logs"), find_binaries()
        )
        prometheus = PrometheusServer(root / "prometheus", scrape_interval=1.0)
        try:
            cluster.start()
            client = cluster.api_client()
            install_crds(client)
            client.close()  # type: ignore[no-untyped-call]  # kubernetes is untyped
            prometheus.start()
            print(f"test bed and Prometheus up in {time.monotonic() - started:.0f}s", flush=True)
            with connect(str(cluster.kubeconfig)) as kube:
                env = Environment(cluster, kube, prometheus, root)
                total = run_campaign(env, seeds, progress)
        finally:
            prometheus.stop()
            cluster.stop()
    text = report(
        total,
        rows,
        seeds=seeds,
        command=command.strip(),
        began=began,
        wall=time.monotonic() - started,
        code=args.revision or revision(),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 1 if total.violations or total.stalled else 0


if __name__ == "__main__":
    sys.exit(main())
