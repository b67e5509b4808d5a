"""``rollouts crd``: print the CustomResourceDefinition generated from the models."""

from __future__ import annotations

import sys

from rollouts.api.crd import render_crd_yaml
from rollouts.cli.app import app


@app.command()
def crd() -> None:
    """Print the ModelRollout CRD (the content of crds/modelrollout.yaml)."""
    sys.stdout.write(render_crd_yaml())
