"""How rollouts look on a terminal and in CI logs: the views of ``get``, ``wait`` and the demo.

A rollout is drawn from its object alone (spec + status, as the API server returns it), so
every command shows the same thing: the steps with the current one marked and who approved
which, the weight asked and the weight the router reports, candidate readiness, each metric's
verdict with its effect, bounds, sample counts and reason, pending intents, and the last
transitions. Status is read as plain data, not parsed, so a CLI one release behind still shows
what a newer controller wrote.

Three forms: :func:`rollout_view` (one rollout, rich), :func:`rollouts_table` (many, one row
each) and :func:`progress_line` (one plain line per change, for logs and pipes — no colour, no
cursor movement; :func:`progress_key` says what counts as a change).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from rollouts.api.conditions import ConditionType
from rollouts.api.spec import HeaderRoute
from rollouts.api.status import CostStatus
from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.controller.core.cost import describe

Rollout = dict[str, Any]

VERDICT_STYLES = {
    "PASS": "green",
    "FAIL": "bold red",
    "INCONCLUSIVE": "yellow",
    "NO_DATA": "dim",
    "ERROR": "magenta",
}
PHASE_STYLES = {
    "Succeeded": "bold green",
    "RolledBack": "bold red",
    "Aborted": "bold red",
    "Failed": "bold red",
    "Paused": "bold yellow",
    "Progressing": "bold cyan",
    "Pending": "bold",
}
TABLE_COLUMNS = (
    "NAMESPACE",
    "NAME",
    "PHASE",
    "STEP",
    "WEIGHT",
    "EFFECTIVE",
    "VERDICT",
    "CANDIDATE",
    "AGE",
    "MESSAGE",
)
NONE = "—"


def _parts(rollout: Rollout) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return rollout.get("metadata") or {}, rollout.get("spec") or {}, rollout.get("status") or {}


def describe_headers(route: dict[str, Any]) -> str:
    """A header route in words, as events say it (``x-canary=internal``); ``?`` when malformed."""
    try:
        return HeaderRoute.model_validate(route).describe()
    except ValidationError:
        return "?"


def describe_step(step: dict[str, Any]) -> str:
    """``setWeight 25%``, ``setMirror 50%``, ``setHeaderRoute x-canary=1``, ``analyze up to 15m``..."""
    if "setWeight" in step:
        return f"setWeight {step['setWeight']}%"
    if "setMirror" in step:
        return f"setMirror {step['setMirror']}%"
    if "setHeaderRoute" in step:
        return f"setHeaderRoute {describe_headers(step['setHeaderRoute'])}"
    if "analyze" in step:
        return f"analyze up to {step['analyze'].get('duration', '?')}"
    return "approve (manual gate)"


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return NONE
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _percent(value: Any) -> str:
    return f"{value:g}%" if isinstance(value, int | float) else NONE


def age(timestamp: str | None, now: datetime) -> str:
    """Age as kubectl shows it: ``42s``, ``7m``, ``3h``, ``12d``."""
    if not timestamp:
        return NONE
    elapsed = max(0, int((now - parse_timestamp(timestamp)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if elapsed >= size:
            return f"{elapsed // size}{unit}"
    return f"{elapsed}s"


def phase_of(rollout: Rollout) -> str:
    """The phase the controller recorded (Pending before it has)."""
    return str(_parts(rollout)[2].get("phase") or "Pending")


def step_label(rollout: Rollout) -> str:
    """``1 approve``, ``3 setWeight 60%``, ``done`` after the last step, ``—`` before the first."""
    _, spec, status = _parts(rollout)
    current = status.get("currentStep")
    steps = spec.get("steps") or []
    if current is None:
        return NONE
    if current >= len(steps):
        return "done"
    step = steps[current]
    kind = "analyze" if "analyze" in step else "approve" if "approve" in step else describe_step(step)
    return f"{current} {kind}"


def verdict_of(rollout: Rollout) -> str:
    """The rollout-level analysis verdict, or ``—`` before the first look."""
    return str((_parts(rollout)[2].get("analysis") or {}).get("verdict") or NONE)


def summary_row(rollout: Rollout, now: datetime) -> tuple[str, ...]:
    """One row of :data:`TABLE_COLUMNS`."""
    metadata, spec, status = _parts(rollout)
    return (
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
        phase_of(rollout),
        step_label(rollout),
        _percent(status.get("weight")),
        _percent(status.get("effectiveWeight")),
        verdict_of(rollout),
        str((spec.get("candidate") or {}).get("version", NONE)),
        age(metadata.get("creationTimestamp"), now),
        str(status.get("message", "")),
    )


def rollouts_table(rollouts: list[Rollout], now: datetime, *, namespaces: bool) -> Table:
    """The rollouts as a table, one row each (the NAMESPACE column only when ``namespaces``).

    On a narrow terminal MESSAGE wraps and every other column keeps its width.
    """
    columns = TABLE_COLUMNS if namespaces else TABLE_COLUMNS[1:]
    by_name = sorted(
        rollouts, key=lambda r: (_parts(r)[0].get("namespace", ""), _parts(r)[0].get("name", ""))
    )
    rows = [summary_row(rollout, now)[len(TABLE_COLUMNS) - len(columns) :] for rollout in by_name]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for index, column in enumerate(columns):
        if column == "MESSAGE":
            table.add_column(column)  # the one column that wraps, so the others keep their width
        else:
            table.add_column(column, no_wrap=True, min_width=max(len(row[index]) for row in [columns, *rows]))
    styles = {"PHASE": PHASE_STYLES, "VERDICT": VERDICT_STYLES}
    for row in rows:
        table.add_row(
            *(
                Text(cell, style=styles.get(column, {}).get(cell, ""))
                for column, cell in zip(columns, row, strict=True)
            )
        )
    return table


# --- plain lines for logs ---------------------------------------------------------------------


def progress_key(rollout: Rollout) -> tuple[str, ...]:
    """What a log line is printed for: a change of phase, step, weight or verdict."""
    _, _, status = _parts(rollout)
    return (
        phase_of(rollout),
        step_label(rollout),
        _percent(status.get("weight")),
        _percent(status.get("effectiveWeight")),
        verdict_of(rollout),
    )


def progress_line(rollout: Rollout, now: datetime) -> str:
    """``<time> ml/fraud Progressing step 1 approve weight 20% (effective 20%) verdict PASS: <message>``."""
    metadata, _, status = _parts(rollout)
    fields = (
        format_timestamp(now.replace(microsecond=0)),
        f"{metadata.get('namespace', '')}/{metadata.get('name', '')}",
        phase_of(rollout),
        f"step {step_label(rollout)}",
        f"weight {_percent(status.get('weight'))}",
        f"(effective {_percent(status.get('effectiveWeight'))})",
        f"verdict {verdict_of(rollout)}",
    )
    message = status.get("message")
    return " ".join(fields) + (f": {message}" if message else "")


def _bounds(metric: dict[str, Any]) -> str:
    lower, upper = metric.get("lower"), metric.get("upper")
    return NONE if lower is None and upper is None else f"[{_number(lower)}, {_number(upper)}]"


def _samples(metric: dict[str, Any]) -> str:
    return f"{metric.get('candidateSamples', NONE)}/{metric.get('baselineSamples', NONE)}"


def metric_line(metric: dict[str, Any]) -> str:
    """``errors FAIL effect 2.1 [1.4, 3.2] n 1200/4800: reason``."""
    return (
        f"{metric.get('name', '')} {metric.get('verdict', '')} effect {_number(metric.get('effect'))} "
        f"bounds {_bounds(metric)} n {_samples(metric)} (candidate/baseline): {metric.get('reason', '')}"
    )


def failing_metrics(rollout: Rollout) -> list[str]:
    """One line per metric whose verdict is FAIL or ERROR: why a rollout went back."""
    metrics = (_parts(rollout)[2].get("analysis") or {}).get("metrics", [])
    return [
        f"metric {metric_line(metric)}" for metric in metrics if metric.get("verdict") in ("FAIL", "ERROR")
    ]


# --- one rollout, in full ---------------------------------------------------------------------


def _approvals_by_step(spec: dict[str, Any], status: dict[str, Any]) -> dict[int, str]:
    """Who approved each step of this rollout (approvals of another version or plan left out)."""
    candidate = (spec.get("candidate") or {}).get("version")
    since = status.get("planStartedAt")
    found: dict[int, str] = {}
    for approval in spec.get("approvals") or []:
        if approval.get("version") not in (None, candidate):
            continue
        at = approval.get("requestedAt")
        if since and at and parse_timestamp(at) < parse_timestamp(since):
            continue
        found.setdefault(int(approval.get("step", -1)), str(approval.get("requestedBy") or "someone"))
    return found


def steps_view(rollout: Rollout) -> Table:
    """The plan, one line per step: ✓ done, ▶ current, ✗ where it ended badly, · to come."""
    _, spec, status = _parts(rollout)
    current = status.get("currentStep")
    outcome = (status.get("outcome") or {}).get("result")
    approvals = _approvals_by_step(spec, status)
    table = Table.grid(padding=(0, 1))
    for index, step in enumerate(spec.get("steps", [])):
        if outcome == "Succeeded" or (current is not None and index < current):
            mark, style = "✓", "green"
        elif current is None or index > current:
            mark, style = "·", "dim"
        elif outcome is not None:
            mark, style = "✗", "bold red"
        else:
            mark, style = "▶", "bold cyan"
        note = f"approved by {approvals[index]}" if index in approvals else ""
        table.add_row(
            Text(mark, style=style),
            Text(f"{index}", style="dim"),
            Text(describe_step(step), style=style),
            Text(note, style="dim"),
        )
    return table


def metrics_view(rollout: Rollout) -> Table:
    """Each metric's latest judgement with the numbers behind it."""
    analysis = _parts(rollout)[2].get("analysis") or {}
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("metric", "verdict", "effect", "bounds", "n cand/base", "reason"):
        table.add_column(column, overflow="fold")
    for metric in analysis.get("metrics", []):
        verdict = metric.get("verdict", "")
        table.add_row(
            metric.get("name", ""),
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
            _number(metric.get("effect")),
            _bounds(metric),
            _samples(metric),
            metric.get("reason", ""),
        )
    return table


def _intents_view(spec: dict[str, Any], status: dict[str, Any]) -> list[Text]:
    """Intents the controller has not acted on yet (or that keep acting: paused)."""
    lines: list[Text] = []
    abort = spec.get("abort")
    if abort and status.get("outcome") is None:
        who = f" by {abort['requestedBy']}" if abort.get("requestedBy") else ""
        lines.append(Text(f"abort requested{who}: {abort.get('reason', '')}", style="bold red"))
    if spec.get("paused"):
        lines.append(
            Text("paused (spec.paused): progress waits; analysis keeps running", style="bold yellow")
        )
    return lines


def _readiness_view(status: dict[str, Any]) -> Text:
    ready = next((c for c in status.get("conditions", []) if c.get("type") == ConditionType.READY), None)
    if ready is None:
        return Text("candidate: not assessed yet", style="yellow")
    good = ready.get("status") == "True"
    return Text(
        f"candidate: {ready.get('message') or ready.get('reason')}", style="green" if good else "yellow"
    )


def _problems_view(status: dict[str, Any]) -> list[Text]:
    """What is wrong (preflight, baseline, spec, ownership, a notifier failing), one line each."""
    wrong_when_false = (
        ConditionType.PREFLIGHT,
        ConditionType.BASELINE,
        ConditionType.SPEC_VALID,
        ConditionType.EVIDENCE_FEASIBLE,
    )
    return [
        Text(f"{c['type']}: {c.get('reason', '')} — {c.get('message', '')}", style="bold red")
        for c in status.get("conditions", [])
        if (c.get("type") in wrong_when_false and c.get("status") == "False")
        or (c.get("type") == ConditionType.CONFLICT and c.get("status") == "True")
    ] + [
        Text(f"notifier {n.get('notifier')}: not sent yet — {n['lastError']}", style="bold red")
        for n in status.get("notifications", [])
        if n.get("lastError")
    ]


def cost_line(status: dict[str, Any]) -> str | None:
    """``cost: 1.50 accelerator-hours and 0.75 pod-hours beyond the baseline (final)`` or None.

    The numbers a GPU budget owner asks for (rollouts.controller.core.cost): counted up to
    ``accountedAt``, final once the loser was scaled down, else with the extra held then.
    """
    try:
        cost = CostStatus.model_validate(status.get("cost"))
    except ValidationError:
        return None
    if status.get("scaledDownAt"):
        return f"cost: {describe(cost)} (final)"
    return (
        f"cost: {describe(cost)} up to {cost.accounted_at[11:19]} "
        f"({cost.extra_accelerators} accelerators and {cost.extra_pods} pods extra then)"
    )


def _plan_view(status: dict[str, Any]) -> list[Text]:
    """``replicas: baseline 3 + candidate 2 of a budget of 5 pods`` under spec.capacity."""
    plan = status.get("replicaPlan")
    if not plan:
        return []
    return [
        Text(
            f"replicas: baseline {plan.get('baseline', '?')} + candidate {plan.get('candidate', '?')} "
            f"of a budget of {plan.get('budget', '?')} pods"
        )
    ]


def rollout_view(rollout: Rollout, extra: RenderableType | None = None) -> RenderableType:
    """The whole picture of one rollout."""
    metadata, spec, status = _parts(rollout)
    phase = phase_of(rollout)
    before, after = spec.get("baseline", {}), spec.get("candidate", {})
    header = Text.assemble(
        (f"{metadata.get('namespace', '')}/{metadata.get('name', '')}  ", "bold"),
        (phase, PHASE_STYLES.get(phase, "")),
        f"   {before.get('version', '?')} → {after.get('version', '?')}",
    )
    effective = status.get("effectiveWeight")
    traffic = Text(
        f"weight {_percent(status.get('weight'))}"
        + (f" (router reports {_percent(effective)})" if effective is not None else "")
        + (f", mirror {_percent(status['mirror'])} of requests" if status.get("mirror") else "")
        + (f", header route {describe_headers(status['headerRoute'])}" if status.get("headerRoute") else "")
    )
    analysis = status.get("analysis") or {}
    verdict = analysis.get("verdict")
    verdict_line = Text.assemble(
        "analysis: ",
        (verdict or "not started", VERDICT_STYLES.get(verdict or "", "dim")),
        f"  ({analysis.get('looks', 0)} looks)" if analysis else "",
        f" — {analysis['reason']}" if analysis.get("reason") else "",
    )
    parts: list[RenderableType] = [
        header,
        *([Text(status["message"], style="italic")] if status.get("message") else []),
        *_intents_view(spec, status),
        traffic,
        *_plan_view(status),
        _readiness_view(status),
        *_problems_view(status),
        steps_view(rollout),
        verdict_line,
        *([metrics_view(rollout)] if analysis.get("metrics") else []),
    ]
    if status.get("hold"):
        parts.append(Text(f"held: {status['hold']}", style="bold yellow"))
    outcome = status.get("outcome")
    if outcome:
        style = "bold green" if outcome.get("result") == "Succeeded" else "bold red"
        parts.append(
            Text(
                f"{outcome.get('result')}: {outcome.get('reason')} — {outcome.get('message', '')}",
                style=style,
            )
        )
    cost = cost_line(status)
    if cost is not None:
        parts.append(Text(cost))
    history = status.get("history", [])[-5:]
    if history:
        lines = Table.grid(padding=(0, 1))
        for entry in history:
            lines.add_row(
                Text(entry.get("time", "")[11:19], style="dim"),
                entry.get("reason", ""),
                entry.get("message", ""),
            )
        parts.append(lines)
    if extra is not None:
        parts.append(extra)
    return Group(*parts)
