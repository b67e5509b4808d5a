"""The typer application that every command module registers on.

Why a module of its own: command modules import ``app`` from here and ``main`` imports the
command modules, so adding a command is one new file plus one import line in ``main``.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="rollouts",
    help="Progressive delivery of ML models on Kubernetes, judged by sequential statistics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
