"""``rollouts preflight``: check a candidate Deployment against the baseline's, offline.

The same checks the controller runs before any traffic moves, on manifests: in CI before the
candidate is applied, or by hand on ``kubectl get deployment -o yaml`` output. Exit codes: 0
when nothing blocks the rollout (warnings allowed), 1 when an error does, 2 when an input
cannot be read. Reading Deployments from a cluster instead of files would only change where
the dicts come from: :func:`rollouts.guardrails.preflight.preflight` takes plain dicts.

The candidate may be a KServe InferenceService (``kubectl get inferenceservice -o yaml``, or
the manifest before it is applied): its ``spec.predictor`` is judged as the controller judges
it, through the Deployment KServe will make (rollouts.guardrails.inference_services), findings
named at the InferenceService's fields. Decision — the baseline stays a Deployment (KServe's
``<isvc>-predictor`` for an InferenceService): the controller judges the baseline from its real
Deployment too (docs/kserve.md).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from rollouts.api.lint import lint_object, parse_documents
from rollouts.api.resource import KIND
from rollouts.api.spec import KSERVE_PREDICTOR_SUFFIX, ModelRef, ModelRolloutSpec, WorkloadKind
from rollouts.cli.app import app
from rollouts.cli.output import OUTPUT_OPTION, OutputFormat, emit_data
from rollouts.guardrails.inference_services import inference_service_report, predictor_deployment
from rollouts.guardrails.objects import name_of
from rollouts.guardrails.preflight import PreflightReport, Severity, preflight

EXIT_PASSED, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


class UnreadableInputError(Exception):
    """An input file that is missing, not YAML/JSON, or not holding what it should."""


def _documents(path: Path) -> list[Any]:
    """The documents of a YAML or JSON file (``-`` is standard input); ``List`` items unpacked."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        documents = parse_documents(text)
    except OSError as unreadable:
        raise UnreadableInputError(f"{path}: cannot read file: {unreadable.strerror}") from unreadable
    except yaml.YAMLError as broken:
        first_line = str(broken).splitlines()[0]
        raise UnreadableInputError(f"{path}: not valid YAML/JSON: {first_line}") from broken
    return [item for document in documents for item in _unpacked(document)]


def _unpacked(document: object) -> list[Any]:
    """The items of a ``List`` (``kubectl get -o yaml`` of several objects), else the document."""
    if _kind(document) != "List":
        return [document]
    items = document.get("items") if isinstance(document, dict) else None
    return items if isinstance(items, list) else []


def _kind(document: object) -> str:
    return str(document.get("kind", "")) if isinstance(document, dict) else ""


def _one_of_kind(path: Path, *kinds: str) -> dict[str, Any]:
    found = [
        document for document in _documents(path) if isinstance(document, dict) and _kind(document) in kinds
    ]
    if len(found) != 1:
        raise UnreadableInputError(f"{path}: expected one {' or '.join(kinds)}, found {len(found)}")
    only: dict[str, Any] = found[0]
    return only


def _rollout_spec(path: Path, candidate: dict[str, Any], baseline: dict[str, Any]) -> ModelRolloutSpec:
    rollout, problems = lint_object(_one_of_kind(path, KIND))
    if rollout is None:
        details = "; ".join(problem.render() for problem in problems)
        raise UnreadableInputError(f"{path}: not a valid {KIND}: {details}")
    for role, ref, given in (
        ("candidate", rollout.spec.candidate, candidate),
        ("baseline", rollout.spec.baseline, baseline),
    ):
        named = _named(ref, given)
        if named != f"{_kind(given)} {name_of(given)}":
            raise UnreadableInputError(
                f"{path}: the rollout's {role} is {named}, but the {role} file holds {name_of(given)}"
            )
    return rollout.spec


def _named(ref: ModelRef, given: dict[str, Any]) -> str:
    """What the rollout names for a file holding ``given``.

    The InferenceService itself, or the Deployment whose pods serve (KServe's predictor for an
    InferenceService the rollout names but the file gives as its Deployment).
    """
    if _kind(given) == WorkloadKind.INFERENCE_SERVICE:
        return ref.workload
    return f"{WorkloadKind.DEPLOYMENT} {ref.workload_deployment}"


def _print_table(report: PreflightReport) -> None:
    console = Console(highlight=False, soft_wrap=True)
    for finding in report.findings:
        label = f"{finding.severity}" + (" (acknowledged)" if finding.acknowledged else "")
        style = "red" if finding.severity is Severity.ERROR else "yellow"
        if finding.acknowledged:
            style = "dim"
        console.print(f"{label}: {finding.rule}: {finding.path}", style=style, markup=False)
        console.print(f"  {finding.message}", markup=False)
        console.print(f"  fix: {finding.fix}", markup=False)
    verdict = "passed" if report.passed else "failed"
    console.print(
        f"preflight {verdict}: {report.candidate} against {report.baseline}: {report.counts()}",
        style="green" if report.passed else "red",
        markup=False,
    )


@app.command(name="preflight")
def preflight_command(
    candidate_file: Annotated[
        Path,
        typer.Option(
            "--filename",
            "-f",
            help="The candidate Deployment or KServe InferenceService (YAML or JSON; - for stdin).",
        ),
    ],
    baseline_file: Annotated[
        Path,
        typer.Option(
            "--baseline", help="The baseline Deployment (KServe's <isvc>-predictor for an InferenceService)."
        ),
    ],
    rollout_file: Annotated[
        Path | None,
        typer.Option("--rollout", help="The ModelRollout; without it the spec's defaults apply."),
    ] = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Check a candidate Deployment or InferenceService against the baseline before any traffic moves."""
    try:
        candidate = _one_of_kind(candidate_file, WorkloadKind.DEPLOYMENT, WorkloadKind.INFERENCE_SERVICE)
        baseline = _one_of_kind(baseline_file, WorkloadKind.DEPLOYMENT)
        spec = _rollout_spec(rollout_file, candidate, baseline) if rollout_file is not None else None
    except UnreadableInputError as unreadable:
        typer.echo(f"error: {unreadable}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from unreadable
    if _kind(candidate) == WorkloadKind.INFERENCE_SERVICE:
        view = predictor_deployment(candidate, name_of(candidate) + KSERVE_PREDICTOR_SUFFIX)
        report = inference_service_report(preflight(spec, baseline, view), candidate)
    else:
        report = preflight(spec, baseline, candidate)
    if output is OutputFormat.TABLE:
        _print_table(report)
    else:
        emit_data(report.as_json(), output)
    raise typer.Exit(EXIT_PASSED if report.passed else EXIT_FAILED)
