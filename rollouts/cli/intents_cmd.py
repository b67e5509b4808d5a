"""``rollouts promote|abort|retry|pause|resume``: write an intent into a rollout's spec.

People and pipelines never write status: they state an intent in the spec and the controller
acts on it. Each command reads the rollout, asks :mod:`rollouts.cli.intents` whether its state
admits the intent and for the patch (which touches that one field), writes it with
``fieldValidation=Strict``, and says what was done and what happens next. A patch whose
precondition failed (someone changed the spec in between) is rebuilt from a fresh read.

``abort --direct`` also sends all traffic to the baseline from the CLI itself, through the
same router the controller uses (``router_for(...).reset()``), so traffic stops even while the
controller is down; when it comes back its decision for an aborted rollout is weight 0 too.

Exit codes: 0 done (or nothing left to do), 1 the rollout's state does not admit the intent
(the message says what it waits for), 3 the command could not run (see kube_options).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import ValidationError

from rollouts.api.lint import format_path
from rollouts.api.resource import ModelRollout
from rollouts.cli.app import app
from rollouts.cli.intents import (
    IntentRefusedError,
    JsonPatch,
    MergePatch,
    abort_needed,
    abort_patch,
    approvals_patch,
    gate_step,
    paused_patch,
    remaining_gates,
    retry_patch,
    unapproved,
)
from rollouts.cli.kube_options import (
    Cluster,
    ClusterCommand,
    ContextOption,
    ExitCode,
    KubeconfigOption,
    NamespaceOption,
    cluster,
    fail,
    identity,
    program,
    stdout,
)
from rollouts.cli.output import OUTPUT_OPTION, OutputFormat, emit_data
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.routers.base import RouterError, RouterTarget
from rollouts.routers.registry import router_for
from rollouts.runtime.kube import Conflict, KubeObject, PatchType
from rollouts.traffic.istio import describe

PATCH_ATTEMPTS = 5
FIELD_MANAGER = "rollouts-cli"

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The ModelRollout.")]
Build = Callable[[ModelRollout], JsonPatch | MergePatch | None]
"""From the rollout as read, the patch to write (None: nothing to write), or IntentRefusedError."""


def _now() -> datetime:
    return datetime.now(UTC)


def _parse(obj: KubeObject) -> ModelRollout:
    try:
        return ModelRollout.from_wire(obj)
    except ValidationError as invalid:
        problems = "; ".join(f"{format_path(tuple(e['loc']))}: {e['msg']}" for e in invalid.errors()[:3])
        raise fail(f"the stored ModelRollout is not valid for this CLI: {problems}") from None


def _read(target: Cluster, name: str) -> tuple[KubeObject, ModelRollout]:
    """The rollout as the API server has it, and parsed."""
    obj = target.kube.get(MODEL_ROLLOUTS, name, target.namespace)
    return obj, _parse(obj)


@contextlib.contextmanager
def _refusals(target: Cluster, name: str) -> Iterator[None]:
    """An intent the rollout's state does not admit: the reason on stderr, exit 1."""
    try:
        yield
    except IntentRefusedError as refused:
        raise fail(f"{target.key(name)}: {refused}", ExitCode.FAILED) from None


@dataclass(frozen=True)
class Written:
    """The rollout after a write (as stored), or as read when there was nothing to write."""

    rollout: KubeObject
    changed: bool


def _write(target: Cluster, name: str, build: Build) -> Written:
    """Read, build, patch — again from a fresh read when the patch's precondition failed."""
    for attempt in range(PATCH_ATTEMPTS):
        obj, rollout = _read(target, name)
        with _refusals(target, name):
            patch = build(rollout)
        if patch is None:
            return Written(obj, changed=False)
        try:
            stored = target.kube.patch(
                MODEL_ROLLOUTS,
                name,
                patch,
                PatchType.JSON if isinstance(patch, list) else PatchType.MERGE,
                target.namespace,
                field_manager=FIELD_MANAGER,
                field_validation="Strict",
            )
            return Written(stored, changed=True)
        except Conflict:
            if attempt == PATCH_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def _report(written: Written, output: OutputFormat, lines: list[str]) -> None:
    """What was done: sentences for people, the rollout as it is now for machines (-o json|yaml)."""
    if output is OutputFormat.TABLE:
        console = stdout()
        for line in lines:
            console.print(line, markup=False)
    else:
        emit_data(written.rollout, output)


# --- promote ----------------------------------------------------------------------------------


def _what_approval_does(rollout: ModelRollout, index: int) -> str:
    status = rollout.status
    step = rollout.spec.steps[index]
    if status is not None and status.hold and index == status.current_step:
        return f"releases the hold at step {index} ({status.hold})"
    if step.approve is not None:
        return f"passes the approve gate at step {index}"
    if step.analyze is not None:
        return f"passes analyze step {index} without waiting for a PASS"
    return f"approves step {index}"


def _confirm_full(rollout: ModelRollout, steps: list[int]) -> None:
    """Say what ``--full`` approves and that harm still rolls back; ask (at a terminal only)."""
    console = stdout()
    console.print(f"promote --full approves {len(steps)} step(s) of {rollout.key}:", markup=False)
    for index in steps:
        console.print(f"  - {_what_approval_does(rollout, index)}", markup=False)
    console.print(
        "Harm found by the analysis still rolls the candidate back; only the waiting is skipped.",
        markup=False,
    )
    if not sys.stdin.isatty():
        raise fail("promote --full needs a confirmation: add --yes when not at a terminal")
    typer.confirm("Approve them?", abort=True)


@app.command(cls=ClusterCommand)
def promote(
    name: NameArgument,
    full: Annotated[
        bool, typer.Option("--full", help="Approve every remaining approve and analyze step (and the hold).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation of --full.")] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Approve the gate the rollout waits at: an approve step, or a hold (released).

    Exit 1 when nothing waits for an approval; the message says what the rollout waits for.
    """
    with cluster(kubeconfig, context, namespace) as target:
        _, first = _read(target, name)
        with _refusals(target, name):
            asked = remaining_gates(first) if full else [gate_step(first)]
        if full and not yes and unapproved(first, asked):
            _confirm_full(first, unapproved(first, asked))
        who = identity(target)
        written: list[int] = []

        def build(rollout: ModelRollout) -> JsonPatch | None:
            steps = unapproved(rollout, remaining_gates(rollout) if full else [gate_step(rollout)])
            written[:] = steps
            return approvals_patch(rollout, steps, who, _now()) if steps else None

        result = _write(target, name, build)
        lines = [f"approved by {who}: {_what_approval_does(first, index)}" for index in written] or [
            f"{target.key(name)}: already approved; waiting for the controller to move on"
        ]
        _report(result, output, [f"{target.key(name)} (candidate {first.spec.candidate.version})", *lines])


# --- abort ------------------------------------------------------------------------------------


def _reset_router(target: Cluster, rollout: ModelRollout) -> str:
    """Send all traffic to the baseline now, from here; what was done, in words."""
    spec = rollout.spec
    router = router_for(
        spec.traffic,
        RouterTarget(
            kube=target.kube,
            namespace=target.namespace,
            baseline=spec.baseline.workload_deployment,
            candidate=spec.candidate.workload_deployment,
        ),
    )
    before = router.get_weight()
    router.reset()
    gateway = spec.traffic.gateway_api
    if gateway is not None:
        return (
            f"HTTPRoute {target.key(gateway.http_route)} now sends 100% to {gateway.baseline_backend} "
            f"and {router.get_weight():.0%} to {gateway.candidate_backend}, with no mirror or header "
            f"route (it sent {before:.0%})"
        )
    istio = spec.traffic.istio
    if istio is not None:
        return (
            f"VirtualService {target.key(istio.virtual_service)} now sends 100% to "
            f"{describe(istio.baseline)} and {router.get_weight():.0%} to {describe(istio.candidate)}, "
            f"with no mirror or header route (it sent {before:.0%})"
        )
    kserve = spec.traffic.kserve
    if kserve is not None:
        return (
            f"InferenceService {target.key(kserve.inference_service)} now has canaryTrafficPercent 0: its "
            f"rolled-out revision gets all traffic once KServe applies it (it reported {before:.0%} to the "
            "candidate)"
        )
    return (
        f"Deployment {target.key(spec.candidate.workload_deployment)} scaled to 0 replicas: its share of "
        f"traffic ({before:.0%}) ends as its pods terminate"
    )


@app.command(cls=ClusterCommand)
def abort(
    name: NameArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why, in words for the on-call log (required).")],
    direct: Annotated[
        bool,
        typer.Option(
            "--direct",
            help="Also send all traffic to the baseline from here, now (works without the controller).",
        ),
    ] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Abort the rollout: all traffic back to the baseline, with who and why recorded.

    Needs no Prometheus and wins every race. Exit 1 for a promoted rollout (roll the previous
    version out instead).
    """
    if not reason.strip():
        raise typer.BadParameter("--reason must say why")
    with cluster(kubeconfig, context, namespace) as target:
        who = identity(target)

        def build(rollout: ModelRollout) -> MergePatch | None:
            return abort_patch(rollout, reason, who, _now()) if abort_needed(rollout) else None

        result = _write(target, name, build)
        rollout = _parse(result.rollout)
        if not result.changed:
            outcome = rollout.status.outcome if rollout.status else None
            ended = outcome.result.value if outcome else "ended"
            _report(
                result,
                output,
                [f"{target.key(name)}: nothing to abort, it is {ended}; traffic is on the baseline"],
            )
            return
        candidate = rollout.spec.candidate.version
        lines = [f"abort of {target.key(name)} (candidate {candidate}) requested by {who}: {reason}"]
        if direct:
            try:
                lines.append(f"--direct: {_reset_router(target, rollout)}")
            except RouterError as unusable:
                raise fail(f"the abort is written, but the router could not be reset: {unusable}") from None
            lines.append("the controller confirms with phase Aborted and weight 0 when it next runs")
        else:
            lines.append(
                "the controller sends all traffic to the baseline at its next reconcile; "
                f"if it is down, run {program()} abort {name} --direct to do it from here"
            )
        _report(result, output, lines)


# --- retry, pause, resume ---------------------------------------------------------------------


@app.command(cls=ClusterCommand)
def retry(
    name: NameArgument,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Start a rolled-back, aborted or failed rollout over from its first step.

    Removes the abort intent in the same patch. Exit 1 when the rollout has not ended or was
    promoted.
    """
    with cluster(kubeconfig, context, namespace) as target:
        who = identity(target)
        seen: list[object] = []

        def build(rollout: ModelRollout) -> JsonPatch:
            if seen and seen[0] != rollout.spec.abort:
                raise IntentRefusedError(
                    "an abort was written while retrying; not removing it (read it, then retry again)"
                )
            seen[:] = [rollout.spec.abort]
            return retry_patch(rollout, who, _now())

        result = _write(target, name, build)
        _report(
            result, output, [f"retry of {target.key(name)} requested by {who}: it starts over from step 0"]
        )


def _set_paused(name: str, paused: bool, target: Cluster, output: OutputFormat) -> None:
    state = "paused" if paused else "resumed"

    def build(rollout: ModelRollout) -> MergePatch | None:
        return None if rollout.spec.paused == paused else paused_patch(paused)

    result = _write(target, name, build)
    lines = [f"{target.key(name)} {state}" if result.changed else f"{target.key(name)} was already {state}"]
    status = _parse(result.rollout).status
    if paused:
        lines.append(
            "progress waits at the current step; the analysis keeps running and harm still rolls back"
        )
    elif status is not None and status.hold:
        lines.append(f"it is still held ({status.hold}): {program()} promote {name} releases the hold")
    _report(result, output, lines)


def _register_paused_command(paused: bool, summary: str) -> None:
    """``pause`` and ``resume``: the same command, writing True or False."""

    @app.command(name="pause" if paused else "resume", cls=ClusterCommand, help=summary)
    def set_paused(
        name: NameArgument,
        kubeconfig: KubeconfigOption = None,
        context: ContextOption = None,
        namespace: NamespaceOption = None,
        output: OutputFormat = OUTPUT_OPTION,
    ) -> None:
        with cluster(kubeconfig, context, namespace) as target:
            _set_paused(name, paused, target, output)


_register_paused_command(
    True, "Hold the rollout at its current step (spec.paused); the analysis keeps running."
)
_register_paused_command(
    False, "Let a paused rollout go on (a hold raised by the analysis needs promote instead)."
)
