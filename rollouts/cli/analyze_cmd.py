"""``rollouts analyze SPEC``: judge recorded metrics offline with the controller's own engine.

Why: a rollout that was rolled back (or should have been) must be explainable after the fact,
and thresholds must be tried before they go live. The command reads a ModelRollout, takes the
per-interval counts either from Prometheus over a time range or from an observations file
(format in docs/analysis.md), and runs the controller's own pipeline over them on a simulated
clock (:mod:`rollouts.controller.shell.replay`): the same window schedule, the same evidence fold,
the same state machine with the plan's steps, analyze durations and ``inconclusive`` policy —
so the looks, verdicts and the outcome are the ones the controller reaches on the same data.
It stops where the rollout would end (promotion, rollback); at a gate or a hold the looks go on.

The decision reported is the first decisive outcome as the controller acted on it, and at
which look: the controller promotes at the first PASS of an analyze step, so a replay that goes
on past that look reports the PASS it acted on (``acted``: promoted, rolled back, held, analyze
step passed), not the last look (``last`` in -o json).

Exit codes: 0 promoted, or the decision is a PASS; 1 the candidate was rolled back; 2 an input
cannot be used; 3 anything else (INCONCLUSIVE, NO_DATA, ERROR, or waiting for a person).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from analysis import (
    Action,
    MetricJudgement,
    Verdict,
)
from analysis.observations import Window
from analysis.providers.base import MetricsProvider
from analysis.providers.observations_file import ObservationsFileError, ObservationsFileProvider
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from analysis.quantiles import histogram_quantile, seconds, times
from analysis.state import DriftState, ErrorRateState, LatencyState
from rollouts.api.conditions import Reason
from rollouts.api.lint import lint_object, parse_documents
from rollouts.api.resource import KIND, ModelRollout
from rollouts.api.status import ModelRolloutStatus, Result
from rollouts.cli.app import app
from rollouts.cli.output import OUTPUT_OPTION, OutputFormat, emit_data
from rollouts.controller.shell.fetch import MetricsSource
from rollouts.controller.shell.replay import Replay, ReplayedLook
from rollouts.controller.shell.replay import replay as run_replay

EXIT_PASS, EXIT_FAIL, EXIT_UNUSABLE, EXIT_UNDECIDED = 0, 1, 2, 3


class UnusableInputError(Exception):
    """An input that cannot be analysed: unreadable, invalid, or contradictory options."""


def read_rollout(path: Path, name: str | None) -> ModelRollout:
    """The ModelRollout in ``path`` (``name`` picks one of several); UnusableInputError if none."""
    try:
        documents = parse_documents(path.read_text(encoding="utf-8"))
    except OSError as unreadable:
        raise UnusableInputError(f"{path}: cannot read file: {unreadable.strerror}") from None
    except yaml.YAMLError as broken:
        raise UnusableInputError(f"{path}: not valid YAML/JSON: {str(broken).splitlines()[0]}") from None
    candidates = [
        document
        for document in documents
        if isinstance(document, dict)
        and document.get("kind") == KIND
        and (name is None or (document.get("metadata") or {}).get("name") == name)
    ]
    if len(candidates) != 1:
        wanted = f"{KIND} named {name!r}" if name else f"exactly one {KIND} (or --name)"
        raise UnusableInputError(f"{path}: expected {wanted}, found {len(candidates)}")
    rollout, problems = lint_object(candidates[0])
    if rollout is None:
        raise UnusableInputError(f"{path}: invalid {KIND}: " + "; ".join(p.render() for p in problems))
    return rollout


def replay(rollout: ModelRollout, provider: MetricsProvider, windows: Sequence[Window]) -> Replay:
    """The controller's pipeline over ``windows`` (see rollouts.controller.shell.replay)."""
    spec = rollout.spec
    source = MetricsSource(provider=provider, variables=dict(spec.analysis.variables))
    return run_replay(spec, source, windows)


def windows_between(begin: datetime, end: datetime, interval: float) -> list[Window]:
    """Consecutive windows of ``interval`` seconds from ``begin``, the last ending by ``end``."""
    step = timedelta(seconds=interval)
    count = int((end - begin) / step)
    return [Window(begin + i * step, begin + (i + 1) * step) for i in range(count)]


def _time(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UnusableInputError(f"{option}: {value!r} is not an RFC 3339 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- output ----------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def metric_json(result: MetricJudgement) -> dict[str, Any]:
    """A metric judgement as JSON data (non-finite numbers become null)."""
    return {
        "name": result.name,
        "kind": result.kind,
        "verdict": result.verdict.value,
        "action": result.action.value,
        "effect": _finite(result.effect),
        "lower": _finite(result.lower),
        "upper": _finite(result.upper),
        "log10E": _finite(result.log10_e),
        "pValue": _finite(result.p_value),
        "baselineSamples": result.baseline_samples,
        "candidateSamples": result.candidate_samples,
        "reason": result.reason,
        "details": {key: _finite(value) for key, value in result.details.items()},
    }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def outcome_json(status: ModelRolloutStatus) -> dict[str, Any]:
    """Where the plan ended: the phase, the step and weight, and the controller's message."""
    outcome = status.outcome
    return {
        "phase": status.phase.value if status.phase else None,
        "result": outcome.result.value if outcome else None,
        "reason": outcome.reason if outcome else None,
        "step": status.current_step,
        "weight": status.weight,
        "message": status.message,
    }


def report_json(
    rollout: ModelRollout, looks: Sequence[ReplayedLook], status: ModelRolloutStatus
) -> dict[str, Any]:
    """Every look, the decision and the plan's outcome, as data for -o json/yaml."""
    return {
        "rollout": rollout.metadata.name,
        "tuning": looks[-1].state.tuning.to_status() if looks else {},
        "decision": decision(looks, status),
        "outcome": outcome_json(status),
        "looks": [
            {
                "look": look.number,
                "start": _rfc3339(look.window.start),
                "end": _rfc3339(look.window.end),
                "verdict": look.judgement.verdict.value,
                "action": look.judgement.action.value,
                "reason": look.judgement.reason,
                "metrics": [metric_json(result) for result in look.judgement.metrics],
            }
            for look in looks
        ],
    }


def acted(look: ReplayedLook, status: ModelRolloutStatus | None) -> tuple[str, str] | None:
    """What the controller did on ``look``, in words, and its message; None: it only waited.

    Read from the Events of the decisions the look led to (rollouts.controller.shell.replay):
    the end of the rollout (``status.outcome``), a hold, or an analyze step passed.
    """
    by_reason = {event.reason: event.message for event in look.events}
    outcome = status.outcome if status is not None else None
    if outcome is not None and outcome.reason in by_reason:
        done = "promoted" if outcome.result is Result.SUCCEEDED else "rolled back"
        return done, outcome.message
    for reason, words in (
        (Reason.HELD, "held"),
        (Reason.ANALYSIS_PASSED, "analyze step passed"),
        (Reason.INCONCLUSIVE_PROMOTED, "analyze step ended inconclusive, moved on"),
    ):
        if reason in by_reason:
            return words, by_reason[reason]
    return None


def decision(looks: Sequence[ReplayedLook], status: ModelRolloutStatus | None = None) -> dict[str, Any]:
    """The first decisive outcome, as the controller acted on it, and at which look.

    The controller promotes at the first PASS of an analyze step, so the look that counts is the
    first one it acted on (``acted``: promoted, rolled back, held, analyze step passed), not the
    last one replayed; without any, the last look. ``last`` is the last look either way.
    """
    if not looks:
        return {
            "verdict": Verdict.NO_DATA.value,
            "action": Action.NONE.value,
            "look": None,
            "acted": None,
            "reason": "no looks",
        }
    final = looks[-1]
    first_pass = next((look.number for look in looks if look.judgement.verdict is Verdict.PASS), None)
    first_hold = next((look.number for look in looks if look.judgement.action is Action.HOLD), None)
    decisive = next(((look, done) for look in looks if (done := acted(look, status)) is not None), None)
    ended_back = (
        status is not None and status.outcome is not None and status.outcome.result is Result.ROLLED_BACK
    )
    action = Action.NONE
    if final.judgement.action is Action.ROLLBACK or ended_back:
        action = Action.ROLLBACK
    elif first_hold is not None:
        action = Action.HOLD
    look, done = decisive if decisive is not None else (final, None)
    return {
        "verdict": look.judgement.verdict.value,
        "action": action.value,
        "look": look.number,
        "acted": done[0] if done else None,
        "message": done[1] if done else None,
        "firstPass": first_pass,
        "firstHold": first_hold,
        "reason": look.judgement.reason,
        "last": {
            "look": final.number,
            "verdict": final.judgement.verdict.value,
            "reason": final.judgement.reason,
        },
    }


def _cell(result: MetricJudgement) -> str:
    style = {
        Verdict.PASS: "green",
        Verdict.FAIL: "red",
        Verdict.ERROR: "magenta",
        Verdict.NO_DATA: "dim",
        Verdict.INCONCLUSIVE: "yellow",
    }[result.verdict]
    number = ""
    if result.log10_e is not None and result.kind in ("errorRate", "latency"):
        number = f" E={result.log10_e:+.1f}"
    if result.effect is not None:
        number += f" {result.effect:.3g}"
    return f"[{style}]{result.verdict.value}[/{style}]{number}"


def print_table(
    console: Console, rollout: ModelRollout, looks: Sequence[ReplayedLook], status: ModelRolloutStatus
) -> None:
    """The evidence at every look, then the decision with each metric's reason."""
    table = Table(title=f"{rollout.metadata.name}: evidence at every look (E = log10 E; then the effect)")
    table.add_column("look", justify="right")
    table.add_column("end (UTC)")
    names = [metric.name for metric in rollout.spec.analysis.metrics]
    for name in names:
        table.add_column(name)
    table.add_column("rollout")
    for look in looks:
        by_name = {result.name: result for result in look.judgement.metrics}
        table.add_row(
            str(look.number),
            look.window.end.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            *(_cell(by_name[name]) for name in names),
            look.judgement.verdict.value
            + ("" if look.judgement.action is Action.NONE else f" ({look.judgement.action})"),
        )
    console.print(table)
    outcome = decision(looks, status)
    last = outcome.get("last") or {}
    console.print(
        f"decision: {outcome['verdict']} (action {outcome['action']}) at look {outcome['look']}"
        + (f", {outcome['acted']}" if outcome.get("acted") else "")
        + (f"; first PASS at look {outcome['firstPass']}" if outcome.get("firstPass") else "")
        + (f"; held from look {outcome['firstHold']}" if outcome.get("firstHold") else "")
        + (
            f"; last look {last['look']}: {last['verdict']}"
            if last and last.get("look") != outcome["look"]
            else ""
        ),
        markup=False,
    )
    decisive = next((look for look in looks if look.number == outcome["look"]), None)
    if decisive is not None:
        for result in decisive.judgement.metrics:
            console.print(f"  {result.verdict.value:<12} {result.reason}", markup=False, highlight=False)
        for test in decisive.judgement.harm_tests:
            console.print(
                f"  harm test {test.name}: p {test.p_value:.3g} vs Holm level {test.level:.3g}"
                + (" (rejected)" if test.rejected else ""),
                markup=False,
                highlight=False,
            )
    phase = status.phase.value if status.phase else "Pending"
    console.print(
        f"outcome: {phase} at step {status.current_step}, weight {status.weight}%: {status.message}",
        markup=False,
        highlight=False,
    )


def exit_code(looks: Sequence[ReplayedLook], status: ModelRolloutStatus) -> int:
    """0 promoted or PASS, 1 rolled back, 3 anything else (see the module docstring)."""
    if status.outcome is not None and status.outcome.result is Result.SUCCEEDED:
        return EXIT_PASS
    if status.outcome is not None and status.outcome.result is Result.ROLLED_BACK:
        return EXIT_FAIL
    outcome = decision(looks, status)
    if outcome["action"] == Action.ROLLBACK.value:
        return EXIT_FAIL
    if outcome["verdict"] == Verdict.PASS.value and outcome["action"] == Action.NONE.value:
        return EXIT_PASS
    return EXIT_UNDECIDED


# --- plot ------------------------------------------------------------------------------------


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [count / total if total else 0.0 for count in counts]


def _distribution(axes: Any, looks: Sequence[ReplayedLook], name: str) -> None:
    """Baseline vs candidate: shares per bucket or class, or error rates so far at every look."""
    state = looks[-1].state.metrics[name]
    if isinstance(state, ErrorRateState):
        rates = [look.state.metrics[name] for look in looks]
        numbers = [look.number for look in looks]
        for cohort in ("baseline", "candidate"):
            axes.plot(
                numbers,
                [
                    100 * getattr(r.rates, f"{cohort}_rate") if isinstance(r, ErrorRateState) else math.nan
                    for r in rates
                ],
                label=cohort,
            )
        axes.set_ylabel("error rate so far (%)", fontsize=8)
        axes.set_xlabel("look", fontsize=8)
        axes.set_title(f"{name}: error rates", fontsize=9)
        axes.legend(fontsize=7)
        return
    if isinstance(state, LatencyState):
        labels = [f"<={edge:g}" for edge in state.edges] + ["+Inf"]
        candidate, baseline = state.candidate, state.baseline
    elif isinstance(state, DriftState):
        edges = [f"<={edge:g}" for edge in state.edges] + ["+Inf"] if state.edges else list(state.classes)
        labels, candidate, baseline = edges, state.evidence.candidate, state.evidence.baseline
    else:
        axes.set_axis_off()
        return
    if not candidate:
        axes.set_axis_off()
        return
    positions = range(len(labels))
    axes.bar([p - 0.2 for p in positions], _shares(baseline), width=0.4, label="baseline")
    axes.bar([p + 0.2 for p in positions], _shares(candidate), width=0.4, label="candidate")
    axes.set_xticks(list(positions), labels, rotation=60, fontsize=6)
    axes.set_title(f"{name}: distribution{_medians(state)}", fontsize=9)
    axes.legend(fontsize=7)


def _medians(state: object) -> str:
    """For latency, the medians in words: ", median 412 ms vs 10 ms (41x)"; else nothing."""
    if not isinstance(state, LatencyState) or not sum(state.candidate) or not sum(state.baseline):
        return ""
    candidate = histogram_quantile(state.edges, state.candidate, 0.5)
    baseline = histogram_quantile(state.edges, state.baseline, 0.5)
    ratio = candidate / baseline if baseline > 0 else math.inf
    return f", median {seconds(candidate)} vs {seconds(baseline)} ({times(ratio)})"


def _evidence(axes: Any, looks: Sequence[ReplayedLook], name: str) -> None:
    """The metric's evidence at every look: log10 E against its Holm level, or the effect."""
    numbers = [look.number for look in looks]
    results = [next(r for r in look.judgement.metrics if r.name == name) for look in looks]
    kind = results[-1].kind
    if kind in ("errorRate", "latency"):
        tests = [next((t for t in look.judgement.harm_tests if t.name == name), None) for look in looks]
        axes.plot(
            numbers, [r.log10_e if r.log10_e is not None else math.nan for r in results], label="log10 E"
        )
        axes.plot(
            numbers,
            [-math.log10(t.level) if t else math.nan for t in tests],
            linestyle="--",
            label="Holm level",
        )
        axes.set_ylabel("log10 E", fontsize=8)
    else:
        axes.plot(numbers, [r.effect if r.effect is not None else math.nan for r in results], label="value")
        for key, style in (("warn", ":"), ("fail", "--"), ("noise_floor", "-.")):
            if key in results[-1].details:
                axes.plot(
                    numbers, [r.details.get(key, math.nan) for r in results], linestyle=style, label=key
                )
        for bound in ("min", "max"):
            if kind == "guard" and bound in results[-1].details:
                axes.axhline(results[-1].details[bound], linestyle="--", color="red", label=bound)
    axes.set_xlabel("look", fontsize=8)
    axes.set_title(f"{name}: evidence over time", fontsize=9)
    axes.legend(fontsize=7)


def draw(
    rollout: ModelRollout, looks: Sequence[ReplayedLook], path: Path, status: ModelRolloutStatus | None = None
) -> None:
    """One row per metric: distributions (baseline vs candidate) and the evidence at every look."""
    try:
        import matplotlib  # noqa: PLC0415 - an optional extra, imported only for --plot

        matplotlib.use("Agg")
        from matplotlib import pyplot  # noqa: PLC0415
    except ImportError:
        raise UnusableInputError("--plot needs matplotlib: pip install 'model-rollouts[plot]'") from None
    names = [metric.name for metric in rollout.spec.analysis.metrics]
    if not looks or not names:
        raise UnusableInputError("--plot: nothing to draw (no looks or no metrics)")
    figure, grid = pyplot.subplots(len(names), 2, figsize=(11, 3.2 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        _distribution(grid[row][0], looks, name)
        _evidence(grid[row][1], looks, name)
    decided = decision(looks, status)
    figure.suptitle(f"{rollout.metadata.name}: {decided['verdict']} at look {decided['look']}")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    except OSError as unwritable:
        raise UnusableInputError(f"--plot: cannot write {path}: {unwritable.strerror}") from None
    finally:
        pyplot.close(figure)


# --- the command -----------------------------------------------------------------------------


def _provider_and_windows(
    rollout: ModelRollout,
    observations: Path | None,
    prometheus: str | None,
    begin: str | None,
    end: str | None,
    bearer_token_file: Path | None,
) -> tuple[MetricsProvider, list[Window]]:
    if (observations is None) == (prometheus is None):
        raise UnusableInputError("give either --observations FILE or --prometheus URL --start T --end T")
    if observations is not None:
        try:
            provider = ObservationsFileProvider.from_path(observations)
        except OSError as unreadable:
            raise UnusableInputError(f"{observations}: cannot read file: {unreadable.strerror}") from None
        except ObservationsFileError as malformed:
            raise UnusableInputError(f"{observations}: {malformed}") from None
        return provider, [interval.window for interval in provider.intervals]
    if begin is None or end is None:
        raise UnusableInputError("--prometheus needs --start and --end")
    source = rollout.spec.analysis.prometheus
    token = None
    if bearer_token_file is not None:
        try:
            token = bearer_token_file.read_text(encoding="utf-8").strip()
        except OSError as unreadable:
            raise UnusableInputError(
                f"{bearer_token_file}: cannot read file: {unreadable.strerror}"
            ) from None
    settings = PrometheusSettings(
        url=str(prometheus),
        timeout=source.timeout.seconds if source else 30.0,
        bearer_token=token,
        insecure_skip_verify=bool(source and source.tls and source.tls.insecure_skip_verify),
        server_name=source.tls.server_name if source and source.tls else None,
    )
    windows = windows_between(
        _time(begin, "--start"), _time(end, "--end"), rollout.spec.analysis.interval.seconds
    )
    if not windows:
        raise UnusableInputError("--start to --end is shorter than one analysis interval")
    return PrometheusProvider(settings), windows


@app.command()
def analyze(
    spec: Annotated[Path, typer.Argument(help="A ModelRollout YAML or JSON file.")],
    observations: Annotated[
        Path | None,
        typer.Option("--observations", help="Per-interval observations (JSON, docs/analysis.md)."),
    ] = None,
    prometheus: Annotated[
        str | None, typer.Option("--prometheus", help="Prometheus base URL, e.g. http://localhost:9090.")
    ] = None,
    begin: Annotated[str | None, typer.Option("--start", help="First interval's start (RFC 3339).")] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Last interval ends by this time (RFC 3339).")
    ] = None,
    bearer_token_file: Annotated[
        Path | None, typer.Option("--bearer-token-file", help="File holding a bearer token for Prometheus.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Which ModelRollout, if the file has several.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw distributions and evidence to this PNG (extra: plot).")
    ] = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Replay the analysis of a rollout: the evidence at every look and the final decision."""
    console = Console(highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        rollout = read_rollout(spec, name)
        provider, windows = _provider_and_windows(
            rollout, observations, prometheus, begin, end, bearer_token_file
        )
        result = replay(rollout, provider, windows)
        looks = list(result.looks)
        if plot is not None:
            draw(rollout, looks, plot, result.status)
    except UnusableInputError as unusable:
        errors.print(f"error: {unusable}", markup=False)
        raise typer.Exit(EXIT_UNUSABLE) from None
    if output is OutputFormat.TABLE:
        print_table(console, rollout, looks, result.status)
    else:
        emit_data(report_json(rollout, looks, result.status), output)
    raise typer.Exit(exit_code(looks, result.status))
