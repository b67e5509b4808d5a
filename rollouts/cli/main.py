"""Entry point of the ``rollouts`` and ``kubectl-modelrollout`` commands.

Every module ``rollouts/cli/*_cmd.py`` registers its commands on the shared typer ``app`` when
imported; they are discovered here, so adding a command never edits this file.

Run as ``kubectl-modelrollout`` (kubectl finds it on PATH for ``kubectl modelrollout ...``), help
and usage name the command the user typed: ``kubectl modelrollout``.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import rollouts.cli
from rollouts.cli.app import app
from rollouts.cli.kube_options import ExitCode, program, stderr

HARNESS = ("rollouts.local", "rollouts.testbed", "cryptography")
"""What the demo and test-bed commands need beyond the controller: the development harness.

The controller image leaves it out (Dockerfile), and ``cryptography`` comes with the ``demo``
extra only; the controller itself never imports any of it (an import-linter contract)."""


def _without_harness(name: str, missing: str) -> None:
    """Register ``name`` as a command that says why it cannot run here (exit 3)."""

    @app.command(
        name,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help=f"(unavailable here: {missing} is not installed)",
    )
    def unavailable() -> None:
        stderr().print(
            f"error: `{name}` needs the development harness ({missing} is missing): run it from a "
            "source checkout (`make demo`) or install with `pip install 'model-rollouts[demo]'`",
            markup=False,
        )
        raise typer.Exit(ExitCode.ERROR)


for _module in pkgutil.iter_modules(rollouts.cli.__path__):
    if _module.name.endswith("_cmd"):
        try:
            importlib.import_module(f"rollouts.cli.{_module.name}")
        except ModuleNotFoundError as absent:
            if not (absent.name or "").startswith(HARNESS):
                raise
            _without_harness(_module.name.removesuffix("_cmd"), absent.name or "the harness")


def main() -> None:
    """Run the command line."""
    app(prog_name=program())


__all__ = ["app", "main"]


if __name__ == "__main__":
    main()
