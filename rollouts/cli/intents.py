"""What ``rollouts promote|abort|retry|pause|resume`` write: intent patches, built without I/O.

Intents live in the spec and only the controller writes status, so every command here is one
patch that touches one intent field and nothing else. Which patch, and whether the rollout's
state admits it at all, depends only on the object as read and on ``now`` — so the rules are
pure functions, tested table by table, and the commands only read, patch and retry.

Concurrency. An abort is a merge patch without precondition: it wins every race, so writing
over whatever is there is right. Approvals and retries replace a list or remove a field, so
their JSON patches first ``test`` ``/metadata/generation`` as read: the generation moves on
every spec change (and only then — status writes leave it alone), so two promotes clicked at
once never lose an approval, and a retry never removes an abort it did not see. A failed test
comes back as ``PatchTestFailed``; the command reads again and rebuilds the patch.

Clocks. The controller compares intent timestamps with its own: an approval older than
``status.planStartedAt`` does not count, a retry must be newer than ``status.retriedAt``, and an
abort older than the last retry is ignored. A person acts on what they saw, so each intent is
stamped no earlier than the status fact it must follow — a laptop clock that runs a little
behind the controller's never turns a fresh click into a stale one::

    status.planStartedAt = 10:00:05 (controller), laptop now = 10:00:03
    → approval requestedAt = 10:00:05, which counts (not older than the plan)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from rollouts.api.resource import ModelRollout
from rollouts.api.spec import Abort, Approval, Retry
from rollouts.api.status import ModelRolloutStatus, Result
from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.controller.core.decide import abort_applies, approved

JsonPatch = list[dict[str, Any]]
MergePatch = dict[str, Any]

RETRY_STEP = timedelta(microseconds=1)
"""How much newer than ``status.retriedAt`` a retry must be (the controller compares with ``>``)."""


class IntentRefusedError(Exception):
    """The rollout's state does not admit this intent; the message says what it waits for."""


def _status(rollout: ModelRollout) -> ModelRolloutStatus:
    return rollout.status or ModelRolloutStatus()


def _not_before(now: datetime, fact: str | None, step: timedelta = timedelta(0)) -> str:
    """``now``, or the status fact (plus ``step``) when the local clock is behind it."""
    if fact is None:
        return format_timestamp(now)
    return format_timestamp(max(now, parse_timestamp(fact) + step))


def _generation_test(rollout: ModelRollout) -> dict[str, Any]:
    """The precondition of list and removal patches: the spec is still the one read."""
    return {"op": "test", "path": "/metadata/generation", "value": rollout.metadata.generation}


def _ended(status: ModelRolloutStatus) -> str:
    outcome = status.outcome
    assert outcome is not None
    detail = f": {outcome.message}" if outcome.message else ""
    return f"the rollout has ended ({outcome.result.value}, {outcome.reason}){detail}"


def _started(rollout: ModelRollout) -> ModelRolloutStatus:
    """The status of the rollout of the current candidate; IntentRefusedError if it has not started."""
    status = _status(rollout)
    candidate = rollout.spec.candidate.version
    if status.candidate_version != candidate or status.current_step is None:
        raise IntentRefusedError(
            f"the controller has not started rolling out {candidate} yet "
            f"(phase {status.phase.value if status.phase else 'Pending'}); is it running?"
        )
    if status.outcome is not None:
        hint = "" if status.outcome.result is Result.SUCCEEDED else " (retry starts it over)"
        raise IntentRefusedError(_ended(status) + hint)
    if abort_applies(rollout.spec, status):
        abort = rollout.spec.abort
        assert abort is not None
        who = f" by {abort.requested_by}" if abort.requested_by else ""
        raise IntentRefusedError(
            f"an abort is pending{who} ({abort.reason}); an approval would not change that"
        )
    return status


# --- promote ----------------------------------------------------------------------------------


def gate_step(rollout: ModelRollout) -> int:
    """The step ``rollouts promote`` approves: a hold to release, or the approve step waiting.

    Anything else raises :class:`IntentRefusedError` saying what the rollout waits for instead.
    """
    status = _started(rollout)
    spec = rollout.spec
    index = status.current_step or 0
    if status.hold:
        return index
    if index >= len(spec.steps):
        raise IntentRefusedError("every step is done; the controller is promoting the candidate")
    step = spec.steps[index]
    if step.approve is not None:
        return index
    if spec.paused:
        raise IntentRefusedError(f"the rollout is paused at step {index} (spec.paused): resume it instead")
    if status.candidate_ready_at is None:
        raise IntentRefusedError(
            f"nothing waits for an approval: {status.message or 'the candidate is not ready'}"
        )
    if step.analyze is not None:
        raise IntentRefusedError(
            f"step {index} is an analyze step waiting for the analysis to pass ({status.message}); "
            "promote --full approves it and every later gate"
        )
    raise IntentRefusedError(f"step {index} sets the weight and needs no approval ({status.message})")


def remaining_gates(rollout: ModelRollout) -> list[int]:
    """Every step ``promote --full`` approves: the current hold, and each approve or analyze step left."""
    status = _started(rollout)
    current = status.current_step or 0
    return [
        index
        for index, step in enumerate(rollout.spec.steps)
        if index >= current
        and (step.approve is not None or step.analyze is not None or (index == current and status.hold))
    ]


def unapproved(rollout: ModelRollout, steps: Sequence[int]) -> list[int]:
    """Those of ``steps`` that no approval in the spec passes yet."""
    status = _status(rollout)
    return [step for step in steps if approved(rollout.spec, status, step) is None]


def _may_still_count(rollout: ModelRollout, approval: Approval) -> bool:
    """False for an approval the controller will never count: another version's, or a stale plan's."""
    if approval.version is not None and approval.version != rollout.spec.candidate.version:
        return False
    since = _status(rollout).plan_started_at
    return not (
        since and approval.requested_at and parse_timestamp(approval.requested_at) < parse_timestamp(since)
    )


def approvals_patch(rollout: ModelRollout, steps: Sequence[int], who: str, now: datetime) -> JsonPatch:
    """Add one approval per step, dropping approvals that can no longer count.

    Dropping them keeps ``spec.approvals`` (at most 64 entries) from filling up over many
    rollouts. The whole list is written after a generation test, so a concurrent click makes
    this patch fail instead of being overwritten; the caller reads again and rebuilds it.
    """
    stamp = _not_before(now, _status(rollout).plan_started_at)
    kept = [approval for approval in rollout.spec.approvals if _may_still_count(rollout, approval)]
    added = [
        Approval(step=step, version=rollout.spec.candidate.version, requested_by=who, requested_at=stamp)
        for step in steps
    ]
    return [
        _generation_test(rollout),
        {"op": "add", "path": "/spec/approvals", "value": [approval.to_wire() for approval in kept + added]},
    ]


# --- abort ------------------------------------------------------------------------------------


def abort_needed(rollout: ModelRollout) -> bool:
    """Whether an abort still has something to stop.

    False when the rollout of this candidate already ended with all traffic on the baseline
    (rolled back, aborted, failed). :class:`IntentRefusedError` when it was promoted: the candidate
    is the stable version now, and going back is a new rollout of the previous version.
    """
    status = _status(rollout)
    if status.outcome is None or status.candidate_version != rollout.spec.candidate.version:
        return True
    if status.outcome.result is Result.SUCCEEDED:
        raise IntentRefusedError(
            f"{_ended(status)}; to go back, roll the previous version out as a new candidate"
        )
    return False


def abort_patch(rollout: ModelRollout, reason: str, who: str, now: datetime) -> MergePatch:
    """Set ``spec.abort`` for the current candidate, stamped no earlier than the last retry."""
    abort = Abort(
        reason=reason,
        version=rollout.spec.candidate.version,
        requested_by=who,
        requested_at=_not_before(now, _status(rollout).retried_at),
    )
    return {"spec": {"abort": abort.to_wire()}}


# --- retry, pause, resume ---------------------------------------------------------------------


def retry_patch(rollout: ModelRollout, who: str, now: datetime) -> JsonPatch:
    """Ask to start an ended (not promoted) rollout over, removing the abort in the same patch."""
    status = _status(rollout)
    candidate = rollout.spec.candidate.version
    if status.candidate_version != candidate or status.outcome is None:
        phase = status.phase.value if status.phase else "Pending"
        raise IntentRefusedError(
            f"nothing to retry: the rollout of {candidate} has not ended (phase {phase})"
        )
    if status.outcome.result is Result.SUCCEEDED:
        raise IntentRefusedError(f"nothing to retry: {_ended(status)}")
    retry = Retry(
        requested_at=_not_before(now, status.retried_at, RETRY_STEP), version=candidate, requested_by=who
    )
    patch: JsonPatch = [
        _generation_test(rollout),
        {"op": "add", "path": "/spec/retry", "value": retry.to_wire()},
    ]
    if rollout.spec.abort is not None:
        patch.append({"op": "remove", "path": "/spec/abort"})
    return patch


def paused_patch(paused: bool) -> MergePatch:
    """Set ``spec.paused``: hold at the current step (analysis keeps running), or go on."""
    return {"spec": {"paused": paused}}


__all__ = [
    "IntentRefusedError",
    "JsonPatch",
    "MergePatch",
    "abort_needed",
    "abort_patch",
    "approvals_patch",
    "gate_step",
    "paused_patch",
    "remaining_gates",
    "retry_patch",
    "unapproved",
]
