"""The seeded fault campaign of issue 10, short: a few scenarios of tests/support/campaign.py.

Real test bed, real Prometheus, the controller as a process that gets SIGKILLed; faults and
people's actions at seeded moments; invariants checked from watches over the whole of each
scenario (the engine's docstring lists them). bench/safety_campaign.py runs many more seeds.
The seeds here were picked so that, between them, every fault kind is planned (the first test
keeps it so if the generator changes); a failure names its seed, which replays it:
``.venv/bin/python bench/safety_campaign.py --seed SEED``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rollouts.local.prometheus import PrometheusServer
from rollouts.runtime.kube import Kube
from rollouts.testbed import LocalCluster
from tests.support.campaign import Environment, Fault, Invariant, plan, run_campaign

SEEDS = [2, 5, 9, 16]


def test_the_short_run_plans_every_fault_and_each_seed_replays() -> None:
    planned = {fault.kind for seed in SEEDS for fault in plan(seed).faults}
    assert planned == set(Fault)
    assert all(plan(seed) == plan(seed) for seed in SEEDS)


@pytest.mark.usefixtures("crds")
def test_seeded_rollouts_under_faults_keep_every_invariant(
    testbed: LocalCluster, kube: Kube, prometheus: PrometheusServer, tmp_path: Path
) -> None:
    tally = run_campaign(Environment(testbed, kube, prometheus, tmp_path), SEEDS)

    found = "\n".join(f"seed {v.seed}, {v.invariant.value}: {v.evidence}" for v in tally.violations)
    assert not tally.violations, f"invariant violations (controller logs in {tmp_path}):\n{found}"
    assert not tally.stalled, f"scenarios that never settled: seeds {tally.stalled} (logs in {tmp_path})"
    assert set(tally.faults) == {kind.value for kind in Fault}, tally.faults
    assert all(tally.checks[invariant] > 0 for invariant in Invariant), tally.checks
    assert (
        tally.tokens_sent > 0
    )  # the controller read the planted Secret and sent it: the check means something
    assert tally.inputs["approval"] > 0 and tally.outcomes, (tally.inputs, tally.outcomes)
