"""``rollouts wait NAME [--for CONDITION] [--timeout DURATION]``: gate a pipeline on a rollout.

A CI job changes ``spec.candidate`` and then waits here; the exit code says what happened::

    0  the condition was met (default: the candidate was promoted)
    1  the rollout went another way: rolled back, failed or aborted (the reasons are printed:
       the outcome and each failing metric), or it ended without reaching the condition
    2  timed out (the last state and, if the controller never acted, a hint are printed)
    3  spec or access error: not found, forbidden, no cluster, bad arguments, the controller
       reports an invalid spec or a baseline that is not the stable version

Conditions (``--for``):

- ``succeeded`` (default): promoted — the controller's decision, which it records before it
  moves traffic (so a conflict can never replay an older step); the router follows in the same
  reconcile, and ``status.effectiveWeight`` shows what the router reports;
- ``completed``: ended, whatever the result (exit 0; the result is printed) — e.g. before a retry;
- ``step=N``: step N (numbered from 0, as approvals name steps) reached, or promoted;
- ``approval``: waiting for a person — an approve step not yet approved, or a hold;
- ``paused``: phase Paused (``spec.paused`` or a hold).

Only a status about the spec as it is now counts: until the controller has acted on the
current generation (``status.observedGeneration``) and candidate, an old outcome — the last
rollout's "Succeeded" — is not taken for this one's.

The wait follows a watch (see :func:`rollouts.cli.kube_options.follow`), so it sees every change
at once and survives the server ending a watch. Progress goes out as one plain line per change
of phase, step, weight or verdict, with a timestamp and without colour when not on a terminal —
to stdout, or to stderr with ``-o json|yaml`` (which print the final object on stdout).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated

import typer
from pydantic import ValidationError

from rollouts.api.conditions import ConditionType
from rollouts.api.durations import DURATION_HINT, seconds
from rollouts.api.resource import ModelRollout
from rollouts.api.status import ModelRolloutStatus, Phase, Result
from rollouts.cli.app import app
from rollouts.cli.kube_options import (
    ClusterCommand,
    ContextOption,
    ExitCode,
    KubeconfigOption,
    NamespaceOption,
    cluster,
    fail,
    follow,
    stderr,
    stdout,
)
from rollouts.cli.output import OUTPUT_OPTION, OutputFormat, emit_data
from rollouts.cli.views import failing_metrics, progress_key, progress_line
from rollouts.controller.core.decide import approved
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.kube import KubeObject

TIMEOUT_MARGIN = 300.0
"""Default timeout beyond the rollout's maxDuration (which the controller enforces itself)."""

CONDITIONS = ("succeeded", "completed", "approval", "paused", "step=N")


@dataclass(frozen=True)
class WaitFor:
    """A parsed ``--for``: the condition's name, and the step for ``step=N``."""

    name: str
    step: int | None = None

    def __str__(self) -> str:
        return f"step={self.step}" if self.step is not None else self.name


def parse_condition(text: str) -> WaitFor:
    """``succeeded`` → WaitFor("succeeded"); ``step=3`` → WaitFor("step", 3)."""
    value = text.strip().lower()
    if value in CONDITIONS:
        return WaitFor(value)
    match = re.fullmatch(r"step=([0-9]{1,2})", value)
    if match:
        return WaitFor("step", int(match[1]))
    raise typer.BadParameter(f"{text!r}: expected one of {', '.join(CONDITIONS)}", param_hint="'--for'")


def parse_timeout(text: str) -> float:
    """``2h``, ``90s``, ``1h30m`` → seconds."""
    try:
        return seconds(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: {DURATION_HINT}", param_hint="'--timeout'") from None


class Verdict(Enum):
    """Where a wait stands after one state of the rollout."""

    PENDING = "pending"
    MET = "met"
    MISSED = "missed"
    INVALID = "invalid"


@dataclass(frozen=True)
class Judgement:
    """A verdict and, when it is not PENDING or the controller lags, why."""

    verdict: Verdict
    message: str = ""


def _condition_is(status: ModelRolloutStatus, kind: ConditionType, value: str) -> str | None:
    found = next((c for c in status.conditions if c.type == kind and c.status == value), None)
    return f"{found.reason}: {found.message}" if found else None


def judge(obj: KubeObject, wanted: WaitFor) -> Judgement:
    """Whether the rollout, as read, meets ``wanted``, can no longer meet it, or may still (pure)."""
    try:
        rollout = ModelRollout.from_wire(obj)
    except ValidationError as invalid:
        return Judgement(Verdict.INVALID, f"the stored spec is not valid: {invalid.errors()[0]['msg']}")
    spec, status = rollout.spec, rollout.status or ModelRolloutStatus()
    invalid_spec = _condition_is(status, ConditionType.SPEC_VALID, "False")
    if invalid_spec:
        return Judgement(Verdict.INVALID, f"the controller reports an invalid spec: {invalid_spec}")
    claimed = _condition_is(status, ConditionType.CONFLICT, "True")
    if claimed:
        return Judgement(Verdict.INVALID, claimed)
    if wanted.step is not None and wanted.step > len(spec.steps):
        return Judgement(
            Verdict.INVALID, f"there is no step {wanted.step}: the plan has {len(spec.steps)} steps"
        )
    generation = rollout.metadata.generation
    if status.observed_generation != generation or status.candidate_version != spec.candidate.version:
        return Judgement(
            Verdict.PENDING,
            f"waiting for the controller to act on generation {generation} ({spec.candidate.version})",
        )
    mismatch = _condition_is(status, ConditionType.BASELINE, "False")
    if mismatch:
        return Judgement(Verdict.INVALID, mismatch)
    outcome = status.outcome
    if outcome is not None:
        ended = f"{outcome.result.value} ({outcome.reason}): {outcome.message}"
        if wanted.name == "completed" or outcome.result is not Result.SUCCEEDED:
            return Judgement(Verdict.MET if wanted.name == "completed" else Verdict.MISSED, ended)
        if wanted.name in ("succeeded", "step"):
            return Judgement(Verdict.MET, ended)
        return Judgement(Verdict.MISSED, f"{ended} — it never reached {wanted}")
    current = status.current_step or 0
    if wanted.step is not None and current >= wanted.step:
        return Judgement(Verdict.MET, f"at step {current}: {status.message}")
    if wanted.name == "paused" and status.phase is Phase.PAUSED:
        return Judgement(Verdict.MET, status.message)
    gate = current < len(spec.steps) and spec.steps[current].approve is not None
    if wanted.name == "approval" and (status.hold or (gate and approved(spec, status, current) is None)):
        return Judgement(Verdict.MET, status.message)
    return Judgement(Verdict.PENDING)


@app.command(cls=ClusterCommand)
def wait(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The ModelRollout.")],
    condition: Annotated[
        str,
        typer.Option(
            "--for",
            metavar="CONDITION",
            help="succeeded, completed (any end), step=N, approval (a person is needed), paused.",
        ),
    ] = "succeeded",
    timeout: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Give up (exit 2) after this long, e.g. 2h; default: the rollout's maxDuration + 5m.",
        ),
    ] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Wait for a rollout; exit 0 met, 1 rolled back/failed/aborted, 2 timeout, 3 spec or access error."""
    wanted = parse_condition(condition)
    limit = None if timeout is None else parse_timeout(timeout)
    log = stdout() if output is OutputFormat.TABLE else stderr()
    with cluster(kubeconfig, context, namespace) as target:
        first = target.kube.get(MODEL_ROLLOUTS, name, target.namespace)
        if limit is None:
            limit = seconds((first.get("spec") or {}).get("maxDuration") or "6h") + TIMEOUT_MARGIN
        deadline = time.monotonic() + limit
        shown: tuple[object, ...] | None = None
        said = ""
        last = first
        judgement = Judgement(Verdict.PENDING)
        for seen in follow(target.kube, target.namespace, name, deadline=deadline):
            if seen.type == "DELETED":
                raise fail(f"{target.key(name)} was deleted while waiting")
            last = seen.rollout
            if progress_key(last) != shown:
                shown = progress_key(last)
                log.print(progress_line(last, datetime.now(UTC)), markup=False)
            judgement = judge(last, wanted)
            if judgement.verdict is Verdict.PENDING and judgement.message and judgement.message != said:
                log.print(judgement.message, markup=False)
            said = judgement.message
            if judgement.verdict is not Verdict.PENDING:
                break
    if judgement.verdict is Verdict.PENDING:
        hint = f" ({judgement.message}: is the controller running?)" if judgement.message else ""
        raise fail(
            f"timed out after {limit:g}s waiting for {target.key(name)} to reach {wanted}{hint}",
            ExitCode.TIMEOUT,
        )
    if output is not OutputFormat.TABLE:
        emit_data(last, output)
    if judgement.verdict is Verdict.INVALID:
        raise fail(f"{target.key(name)}: {judgement.message}")
    if judgement.verdict is Verdict.MET:
        log.print(f"{target.key(name)} reached {wanted}: {judgement.message}", markup=False)
        return
    for line in (judgement.message, *failing_metrics(last)):
        log.print(f"{target.key(name)}: {line}", markup=False)
    raise typer.Exit(ExitCode.FAILED)
