"""How a rollout looks on a terminal: the one view ``rollouts get``, ``--watch`` and the demo share.

A rollout is drawn from its object alone (spec + status), so every command shows the same
thing: the steps with the current one marked, the weight asked and the weight the router
reports, candidate readiness, each metric's verdict with its effect, bounds, sample counts and
reason, and the last transitions.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

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


def describe_step(step: dict[str, Any]) -> str:
    """``setWeight 25%``, ``analyze up to 15m`` or ``approve``."""
    if "setWeight" in step:
        return f"setWeight {step['setWeight']}%"
    if "analyze" in step:
        return f"analyze up to {step['analyze'].get('duration', '?')}"
    return "approve (manual gate)"


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def steps_view(rollout: dict[str, Any]) -> Table:
    """The plan, one line per step, the current one marked."""
    spec, status = rollout.get("spec", {}), rollout.get("status") or {}
    current = status.get("currentStep")
    ended = status.get("outcome") is not None
    table = Table.grid(padding=(0, 1))
    for index, step in enumerate(spec.get("steps", [])):
        if current is None or (index > current and not ended) or (ended and index > current):
            mark, style = "·", "dim"
        elif index < current or (ended and status["outcome"].get("result") == "Succeeded"):
            mark, style = "✓", "green"
        else:
            mark, style = "▶", "bold cyan"
        table.add_row(
            Text(mark, style=style), Text(f"{index}", style="dim"), Text(describe_step(step), style=style)
        )
    return table


def metrics_view(rollout: dict[str, Any]) -> Table:
    """Each metric's latest judgement with the numbers behind it."""
    analysis = (rollout.get("status") or {}).get("analysis") or {}
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("metric", "verdict", "effect", "bounds", "n cand/base", "reason"):
        table.add_column(column, overflow="fold")
    for metric in analysis.get("metrics", []):
        verdict = metric.get("verdict", "")
        bounds = (
            f"[{_number(metric.get('lower'))}, {_number(metric.get('upper'))}]"
            if metric.get("lower") is not None or metric.get("upper") is not None
            else "—"
        )
        samples = f"{metric.get('candidateSamples', '—')}/{metric.get('baselineSamples', '—')}"
        table.add_row(
            metric.get("name", ""),
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
            _number(metric.get("effect")),
            bounds,
            samples,
            metric.get("reason", ""),
        )
    return table


def rollout_view(rollout: dict[str, Any], extra: RenderableType | None = None) -> RenderableType:
    """The whole picture of one rollout."""
    metadata, spec, status = rollout.get("metadata", {}), rollout.get("spec", {}), rollout.get("status") or {}
    phase = status.get("phase") or "Pending"
    before, after = spec.get("baseline", {}), spec.get("candidate", {})
    versions = f"{before.get('version', '?')} → {after.get('version', '?')}"
    header = Text.assemble(
        (f"{metadata.get('namespace', '')}/{metadata.get('name', '')}  ", "bold"),
        (phase, PHASE_STYLES.get(phase, "")),
        f"   {versions}",
    )
    weight = status.get("weight")
    effective = status.get("effectiveWeight")
    traffic = Text(
        f"weight {weight if weight is not None else '—'}%"
        + (f" (router reports {effective:g}%)" if isinstance(effective, int | float) else "")
    )
    ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    readiness = Text(
        f"candidate: {ready.get('message') or ready.get('reason')}"
        if ready
        else "candidate: not assessed yet",
        style="green" if ready and ready.get("status") == "True" else "yellow",
    )
    analysis = status.get("analysis") or {}
    verdict = analysis.get("verdict")
    verdict_line = Text.assemble(
        "analysis: ",
        (verdict or "not started", VERDICT_STYLES.get(verdict or "", "dim")),
        f"  ({analysis.get('looks', 0)} looks)" if analysis else "",
    )
    parts: list[RenderableType] = [
        header,
        Text(status.get("message", ""), style="italic"),
        traffic,
        readiness,
        steps_view(rollout),
        verdict_line,
        metrics_view(rollout),
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
