"""The intent rules and patches of promote, abort, retry, pause and resume (rollouts.cli.intents), pure.

Each test is a rollout as the API server would return it — spec, generation, status — and
what the CLI may write for it. That the API server applies these patches as meant (the
generation test, the list replacement, the removal) is checked on a real one in
tests/integration/test_cli_commands.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollouts.api.resource import ModelRollout
from rollouts.api.timestamps import format_timestamp
from rollouts.cli.intents import (
    IntentRefusedError,
    abort_needed,
    abort_patch,
    approvals_patch,
    gate_step,
    paused_patch,
    remaining_gates,
    retry_patch,
    unapproved,
)
from tests.support.workloads import model_rollout

NOW = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)
STEPS = [
    {"setWeight": 10},
    {"analyze": {"duration": "10m"}},
    {"approve": {}},
    {"setWeight": 50},
    {"approve": {}},
]


def stamp(seconds: float = 0) -> str:
    return format_timestamp(NOW + timedelta(seconds=seconds))


def running(step: int, **status: Any) -> dict[str, Any]:
    """The status of the rollout of v2, started a minute ago, at ``step``."""
    return {
        "phase": "Progressing",
        "candidateVersion": "v2",
        "observedGeneration": 1,
        "startedAt": stamp(-60),
        "planStartedAt": stamp(-60),
        "candidateReadyAt": stamp(-50),
        "currentStep": step,
        "weight": 10,
        "message": f"at step {step}",
        **status,
    }


def ended(result: str, **status: Any) -> dict[str, Any]:
    outcome = {"result": result, "reason": result, "message": "it ended", "at": stamp(-5)}
    return running(2, phase=result, outcome=outcome, **status)


def rollout(status: dict[str, Any] | None = None, generation: int = 3, **spec: Any) -> ModelRollout:
    obj = model_rollout("model", steps=STEPS, **spec)
    obj["metadata"].update(namespace="ml", generation=generation)
    if status is not None:
        obj["status"] = status
    return ModelRollout.from_wire(obj)


def approval(step: int, version: str | None = "v2", at: float = -10, who: str = "alice") -> dict[str, Any]:
    return {"step": step, "version": version, "requestedBy": who, "requestedAt": stamp(at)}


# --- promote: which gate -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "step"),
    [
        (running(2), 2),  # an approve step waits
        (running(1, hold="step 1 ended without a PASS"), 1),  # a hold at an analyze step: release it
        (running(3, hold="drift above fail"), 3),  # a hold at any step
    ],
)
def test_promote_approves_the_gate_the_rollout_waits_at(status: dict[str, Any], step: int) -> None:
    assert gate_step(rollout(status)) == step


@pytest.mark.parametrize(
    ("status", "spec", "says"),
    [
        (None, {}, "has not started rolling out v2"),
        (running(1, candidateVersion="v1"), {}, "has not started rolling out v2"),
        (running(1), {}, "analyze step waiting for the analysis to pass (at step 1); promote --full"),
        (running(0), {}, "step 0 sets the weight and needs no approval"),
        (running(1), {"paused": True}, "paused at step 1 (spec.paused): resume it"),
        (running(0, candidateReadyAt=None, message="waiting for the candidate: 0/1 ready"), {}, "0/1 ready"),
        (ended("RolledBack"), {}, "has ended (RolledBack, RolledBack): it ended (retry starts it over)"),
        (ended("Succeeded"), {}, "has ended (Succeeded"),
        (
            running(2),
            {"abort": {"reason": "p99", "version": "v2", "requestedBy": "bob"}},
            "abort is pending by bob",
        ),
        (running(5), {}, "every step is done"),
    ],
)
def test_promote_says_what_the_rollout_waits_for_instead(
    status: dict[str, Any] | None, spec: dict[str, Any], says: str
) -> None:
    with pytest.raises(IntentRefusedError, match=says.replace("(", r"\(").replace(")", r"\)")):
        gate_step(rollout(status, **spec))


def test_a_stale_abort_does_not_block_promote() -> None:
    stale = {"reason": "old", "version": "v1"}
    assert gate_step(rollout(running(2), abort=stale)) == 2


def test_full_approves_the_hold_and_every_approve_and_analyze_step_left() -> None:
    assert remaining_gates(rollout(running(0))) == [1, 2, 4]
    assert remaining_gates(rollout(running(3, hold="drift"))) == [3, 4]
    assert remaining_gates(rollout(running(2))) == [2, 4]


def test_steps_already_approved_in_this_rollout_are_not_approved_again() -> None:
    approvals = [approval(2), approval(4, version="v1"), approval(1, at=-120)]
    # step 2: counts; step 4: another version's; step 1: older than the plan.
    assert unapproved(rollout(running(1), approvals=approvals), [1, 2, 4]) == [1, 4]


# --- promote: the patch ------------------------------------------------------------------------


def test_approvals_patch_tests_the_generation_and_drops_approvals_that_cannot_count() -> None:
    keep = approval(1, at=-30)
    earlier_gate = approval(0, at=-30)  # an approval must name its version (the schema requires it)
    other_version = approval(2, version="v1")
    before_plan = approval(2, at=-120)
    current = rollout(running(2), approvals=[keep, earlier_gate, other_version, before_plan])
    patch = approvals_patch(current, [2], "carol", NOW)
    assert patch[0] == {"op": "test", "path": "/metadata/generation", "value": 3}
    assert patch[1]["op"] == "add"
    assert patch[1]["path"] == "/spec/approvals"
    assert patch[1]["value"] == [
        keep,
        earlier_gate,
        {"step": 2, "version": "v2", "requestedBy": "carol", "requestedAt": stamp()},
    ]


def test_an_approval_is_never_older_than_the_plan_it_was_seen_in() -> None:
    # The laptop's clock is 5 s behind the controller's, which started the plan "in the future".
    current = rollout(running(2, planStartedAt=stamp(5)))
    added = approvals_patch(current, [2], "carol", NOW)[1]["value"][-1]
    assert added["requestedAt"] == stamp(5)


# --- abort -------------------------------------------------------------------------------------


def test_abort_names_the_candidate_who_and_when() -> None:
    assert abort_patch(rollout(running(2)), "p99 alarm", "dave", NOW) == {
        "spec": {
            "abort": {"reason": "p99 alarm", "version": "v2", "requestedBy": "dave", "requestedAt": stamp()}
        }
    }


def test_an_abort_is_never_older_than_the_last_retry() -> None:
    # An abort older than status.retriedAt is ignored by the controller.
    patch = abort_patch(rollout(running(1, retriedAt=stamp(3))), "again", "dave", NOW)
    assert patch["spec"]["abort"]["requestedAt"] == stamp(3)


@pytest.mark.parametrize(
    ("status", "needed"),
    [
        (None, True),  # not started yet: the controller aborts it as it starts
        (running(2), True),
        (ended("RolledBack"), False),
        (ended("Aborted"), False),
        (ended("Failed"), False),
        (ended("Succeeded", candidateVersion="v1"), True),  # the last rollout's outcome, not this one's
    ],
)
def test_abort_is_needed_until_the_rollout_ended_with_traffic_on_the_baseline(
    status: dict[str, Any] | None, needed: bool
) -> None:
    assert abort_needed(rollout(status)) is needed


def test_a_promoted_rollout_cannot_be_aborted() -> None:
    with pytest.raises(IntentRefusedError, match="roll the previous version out as a new candidate"):
        abort_needed(rollout(ended("Succeeded")))


# --- retry, pause, resume ----------------------------------------------------------------------


def test_retry_asks_for_a_new_start_and_removes_the_abort_in_the_same_patch() -> None:
    aborted = rollout(ended("Aborted"), abort={"reason": "p99", "version": "v2"})
    assert retry_patch(aborted, "erin", NOW) == [
        {"op": "test", "path": "/metadata/generation", "value": 3},
        {
            "op": "add",
            "path": "/spec/retry",
            "value": {"requestedAt": stamp(), "version": "v2", "requestedBy": "erin"},
        },
        {"op": "remove", "path": "/spec/abort"},
    ]


def test_retry_without_an_abort_removes_nothing() -> None:
    patch = retry_patch(rollout(ended("RolledBack")), "erin", NOW)
    assert [op["op"] for op in patch] == ["test", "add"]


def test_a_retry_is_newer_than_the_last_one_even_on_a_slow_clock() -> None:
    patch = retry_patch(rollout(ended("RolledBack", retriedAt=stamp(2))), "erin", NOW)
    assert patch[1]["value"]["requestedAt"] == format_timestamp(NOW + timedelta(seconds=2, microseconds=1))


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (running(2), "has not ended \\(phase Progressing\\)"),
        (None, "has not ended \\(phase Pending\\)"),
        (ended("Succeeded"), "nothing to retry: the rollout has ended \\(Succeeded"),
        (ended("RolledBack", candidateVersion="v1"), "has not ended"),
    ],
)
def test_only_an_ended_rollout_that_was_not_promoted_can_be_retried(
    status: dict[str, Any] | None, says: str
) -> None:
    with pytest.raises(IntentRefusedError, match=says):
        retry_patch(rollout(status), "erin", NOW)


def test_pause_and_resume_touch_only_spec_paused() -> None:
    assert paused_patch(True) == {"spec": {"paused": True}}
    assert paused_patch(False) == {"spec": {"paused": False}}
