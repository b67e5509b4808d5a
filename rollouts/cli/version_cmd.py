"""``rollouts version``: which build this is — version, commit and Python — for bug reports.

Why three facts: the package version alone cannot tell two images built from different commits
of one release apart, and the Python version decides which wheels (numpy, scipy) run inside.

Where the commit comes from, first found wins: ``MODEL_ROLLOUTS_COMMIT`` (the image sets it from
its ``COMMIT`` build argument, since an image holds no ``.git``), then ``git`` in the source
checkout the package runs from (an editable install), else ``unknown``.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import typer

from rollouts.cli.app import app
from rollouts.cli.output import OUTPUT_OPTION, OutputFormat, emit_data

COMMIT_VARIABLE = "MODEL_ROLLOUTS_COMMIT"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class BuildInfo:
    """What ``rollouts version`` prints."""

    version: str
    commit: str
    python: str


def package_version() -> str:
    """The installed distribution's version (``unknown`` when run from an uninstalled tree)."""
    try:
        return metadata.version("model-rollouts")
    except metadata.PackageNotFoundError:
        return UNKNOWN


def _checkout_commit() -> str | None:
    """The commit of the source checkout this package is imported from, if it is one."""
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / ".git").exists():
        return None
    try:
        answer = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return answer.stdout.strip() or None


def build_info() -> BuildInfo:
    """Version, commit and Python of the running program."""
    commit = os.environ.get(COMMIT_VARIABLE, "").strip() or _checkout_commit() or UNKNOWN
    return BuildInfo(version=package_version(), commit=commit, python=platform.python_version())


@app.command()
def version(output: OutputFormat = OUTPUT_OPTION) -> None:
    """Print the version, the commit it was built from and the Python it runs on."""
    info = build_info()
    if output is OutputFormat.TABLE:
        typer.echo(f"rollouts {info.version} (commit {info.commit}, Python {info.python})")
    else:
        emit_data(asdict(info), output)
