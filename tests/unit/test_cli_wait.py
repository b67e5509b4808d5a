"""``rollouts wait``: which state of a rollout meets which ``--for``, and the log lines it prints.

``judge`` is pure: a rollout as read, a condition → met, missed, invalid or pending. The exit
codes these map to, with a real controller and API server, are tested in
tests/integration/test_cli_commands.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import typer

from rollouts.cli.views import failing_metrics, progress_line
from rollouts.cli.wait_cmd import Verdict, WaitFor, judge, parse_condition, parse_timeout
from tests.support.workloads import model_rollout

NOW = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)
STEPS = [{"setWeight": 20}, {"approve": {}}, {"setWeight": 60}, {"analyze": {"duration": "5m"}}]


def rollout(generation: int = 2, spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    obj = model_rollout("model", steps=STEPS, **(spec or {}))
    obj["metadata"].update(namespace="ml", generation=generation)
    obj["status"] = {
        "phase": "Progressing",
        "candidateVersion": "v2",
        "observedGeneration": 2,
        "currentStep": 1,
        "weight": 20,
        "effectiveWeight": 20.0,
        "planStartedAt": "2026-11-28T05:00:00Z",
        "message": "waiting for approval of step 1 (rollouts promote)",
        **status,
    }
    return obj


def outcome(result: str, reason: str = "Why") -> dict[str, Any]:
    return {"result": result, "reason": reason, "message": "details", "at": "2026-11-28T05:30:00Z"}


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("succeeded", WaitFor("succeeded")),
        ("Completed", WaitFor("completed")),
        ("approval", WaitFor("approval")),
        ("paused", WaitFor("paused")),
        ("step=3", WaitFor("step", 3)),
    ],
)
def test_conditions_parse(text: str, wanted: WaitFor) -> None:
    assert parse_condition(text) == wanted


@pytest.mark.parametrize("text", ["done", "step=", "step=x", "step=-1", "for"])
def test_unknown_conditions_are_usage_errors(text: str) -> None:
    with pytest.raises(
        typer.BadParameter, match="expected one of succeeded, completed, approval, paused, step=N"
    ):
        parse_condition(text)


def test_timeouts_are_durations() -> None:
    assert parse_timeout("1h30m") == 5400
    with pytest.raises(typer.BadParameter, match="90s"):
        parse_timeout("2 hours")


@pytest.mark.parametrize(
    ("state", "wanted", "verdict"),
    [
        # promoted
        ({"outcome": outcome("Succeeded", "Promoted"), "phase": "Succeeded"}, "succeeded", Verdict.MET),
        ({"outcome": outcome("Succeeded"), "phase": "Succeeded"}, "completed", Verdict.MET),
        ({"outcome": outcome("Succeeded"), "phase": "Succeeded"}, "step=3", Verdict.MET),
        ({"outcome": outcome("Succeeded"), "phase": "Succeeded"}, "approval", Verdict.MISSED),
        ({"outcome": outcome("Succeeded"), "phase": "Succeeded"}, "paused", Verdict.MISSED),
        # rolled back, aborted, failed
        ({"outcome": outcome("RolledBack"), "phase": "RolledBack"}, "succeeded", Verdict.MISSED),
        ({"outcome": outcome("Aborted"), "phase": "Aborted"}, "step=3", Verdict.MISSED),
        ({"outcome": outcome("Failed"), "phase": "Failed"}, "approval", Verdict.MISSED),
        ({"outcome": outcome("Aborted"), "phase": "Aborted"}, "completed", Verdict.MET),
        # running, at the approve gate of step 1
        ({}, "succeeded", Verdict.PENDING),
        ({}, "completed", Verdict.PENDING),
        ({}, "approval", Verdict.MET),
        ({}, "step=1", Verdict.MET),
        ({}, "step=2", Verdict.PENDING),
        ({}, "paused", Verdict.PENDING),
        # held at step 3, an analyze step
        ({"currentStep": 3, "hold": "inconclusive", "phase": "Paused"}, "approval", Verdict.MET),
        ({"currentStep": 3, "hold": "inconclusive", "phase": "Paused"}, "paused", Verdict.MET),
        ({"currentStep": 2, "weight": 60}, "approval", Verdict.PENDING),
    ],
)
def test_judge(state: dict[str, Any], wanted: str, verdict: Verdict) -> None:
    assert judge(rollout(**state), parse_condition(wanted)).verdict is verdict


def test_an_approved_gate_no_longer_waits_for_approval() -> None:
    approved = {"approvals": [{"step": 1, "version": "v2", "requestedAt": "2026-11-28T05:10:00Z"}]}
    assert judge(rollout(spec=approved), WaitFor("approval")).verdict is Verdict.PENDING


def test_the_last_rollouts_outcome_is_not_taken_for_this_ones() -> None:
    # CI just changed the candidate (generation 3); the status still tells of the last rollout.
    last = rollout(generation=3, outcome=outcome("Succeeded"), phase="Succeeded")
    judgement = judge(last, WaitFor("succeeded"))
    assert judgement.verdict is Verdict.PENDING
    assert judgement.message == "waiting for the controller to act on generation 3 (v2)"
    other_candidate = rollout(candidateVersion="v1", outcome=outcome("RolledBack"), phase="RolledBack")
    assert judge(other_candidate, WaitFor("succeeded")).verdict is Verdict.PENDING


def failed(kind: str, reason: str, message: str) -> dict[str, Any]:
    condition = {"type": kind, "status": "False", "reason": reason, "message": message}
    return {"conditions": [{**condition, "lastTransitionTime": "2026-11-28T05:00:00Z"}]}


@pytest.mark.parametrize(
    ("state", "says"),
    [
        (
            failed("SpecValid", "SpecInvalid", "spec.steps: bad"),
            "the controller reports an invalid spec: SpecInvalid: spec.steps: bad",
        ),
        (failed("Baseline", "BaselineMismatch", "not stable"), "BaselineMismatch: not stable"),
        (
            {
                "conditions": [
                    {
                        "type": "Conflict",
                        "status": "True",
                        "reason": "ObjectsClaimed",
                        "message": "Deployment m-v1 belongs to ModelRollout first",
                        "lastTransitionTime": "2026-11-28T05:00:00Z",
                    }
                ]
            },
            "ObjectsClaimed: Deployment m-v1 belongs to ModelRollout first",
        ),
    ],
)
def test_spec_errors_the_controller_reports_end_the_wait(state: dict[str, Any], says: str) -> None:
    judgement = judge(rollout(**state), WaitFor("succeeded"))
    assert (judgement.verdict, judgement.message) == (Verdict.INVALID, says)


def test_a_step_beyond_the_plan_is_an_error() -> None:
    judgement = judge(rollout(), WaitFor("step", 9))
    assert (judgement.verdict, judgement.message) == (
        Verdict.INVALID,
        "there is no step 9: the plan has 4 steps",
    )


def test_progress_lines_read_well_in_a_ci_log() -> None:
    assert progress_line(rollout(), NOW) == (
        "2026-11-28T06:00:00Z ml/model Progressing step 1 approve weight 20% (effective 20%) verdict —: "
        "waiting for approval of step 1 (rollouts promote)"
    )


def test_failing_metrics_say_why_with_the_numbers() -> None:
    metrics = [
        {
            "name": "errors",
            "kind": "errorRate",
            "verdict": "FAIL",
            "effect": 2.13,
            "lower": 1.4,
            "upper": 3.2,
            "candidateSamples": 1200,
            "baselineSamples": 4800,
            "reason": "error rate 2.1x the baseline's",
        },
        {"name": "latency", "kind": "latency", "verdict": "PASS"},
    ]
    assert failing_metrics(rollout(analysis={"verdict": "FAIL", "metrics": metrics})) == [
        "metric errors FAIL effect 2.13 bounds [1.4, 3.2] n 1200/4800 (candidate/baseline): "
        "error rate 2.1x the baseline's"
    ]
