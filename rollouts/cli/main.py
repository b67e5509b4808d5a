"""Entry point of the ``rollouts`` and ``kubectl-modelrollout`` commands.

Every module ``rollouts/cli/*_cmd.py`` registers its commands on the shared typer ``app`` when
imported; they are discovered here, so adding a command never edits this file.

Run as ``kubectl-modelrollout`` (kubectl finds it on PATH for ``kubectl modelrollout ...``), help
and usage name the command the user typed: ``kubectl modelrollout``.
"""

from __future__ import annotations

import importlib
import pkgutil

import rollouts.cli
from rollouts.cli.app import app
from rollouts.cli.kube_options import program

for _module in pkgutil.iter_modules(rollouts.cli.__path__):
    if _module.name.endswith("_cmd"):
        importlib.import_module(f"rollouts.cli.{_module.name}")


def main() -> None:
    """Run the command line."""
    app(prog_name=program())


__all__ = ["app", "main"]


if __name__ == "__main__":
    main()
