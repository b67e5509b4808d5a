"""Entry point of the ``rollouts`` and ``kubectl-modelrollout`` commands."""

from __future__ import annotations

from rollouts.cli import crd_cmd, lint_cmd  # noqa: F401  (modules register their commands)
from rollouts.cli.app import app


def main() -> None:
    """Run the command line."""
    app()
