"""``rollouts lint FILE...``: validate ModelRollout manifests offline, exit 0 or 1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rollouts.api.lint import DocumentReport, Problem, lint_bytes, reports_as_json
from rollouts.cli.app import app
from rollouts.cli.output import OUTPUT_OPTION, OutputFormat, emit_data


def _read(path: Path) -> list[DocumentReport]:
    """Bytes, not text: a non-UTF-8 file becomes a problem line instead of a traceback."""
    if str(path) == "-":
        return lint_bytes(sys.stdin.buffer.read(), "<stdin>")
    try:
        data = path.read_bytes()
    except OSError as unreadable:
        problem = Problem(path="", message=f"cannot read file: {unreadable.strerror}")
        return [DocumentReport(source=str(path), index=0, name=None, problems=(problem,))]
    return lint_bytes(data, str(path))


@app.command()
def lint(
    files: Annotated[list[Path], typer.Argument(help="YAML or JSON files; - reads standard input.")],
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Validate ModelRollouts with the same rules as the CRD; unknown fields are errors."""
    reports = [report for path in files for report in _read(path)]
    if output is OutputFormat.TABLE:
        console = Console(highlight=False, soft_wrap=True)
        for report in reports:
            label = f"{report.source}" + (f" ({report.name})" if report.name else "")
            for problem in report.problems:
                style = "red" if problem.severity == "error" else "yellow"
                console.print(problem.render(report.source), style=style, markup=False)
            if report.ok:
                console.print(f"ok: {label}", style="green", markup=False)
    elif output is OutputFormat.JSON:
        sys.stdout.write(reports_as_json(reports) + "\n")
    else:
        emit_data([report.as_json() for report in reports], output)
    raise typer.Exit(0 if all(report.ok for report in reports) else 1)
