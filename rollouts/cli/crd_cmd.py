"""``rollouts crd`` and ``rollouts reference``: documents generated from the API models."""

from __future__ import annotations

import sys

from rollouts.api.crd import render_crd_yaml
from rollouts.api.reference import reference_markdown
from rollouts.cli.app import app


@app.command()
def crd() -> None:
    """Print the ModelRollout CRD (the content of crds/modelrollout.yaml)."""
    sys.stdout.write(render_crd_yaml())


@app.command(hidden=True)
def reference() -> None:
    """Print the ModelRollout field reference (the README's generated table)."""
    sys.stdout.write(reference_markdown())
