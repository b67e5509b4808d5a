"""Output formats shared by every command: a human table (default), JSON or YAML for machines."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Any

import typer
import yaml


class OutputFormat(StrEnum):
    """The values of ``-o/--output``."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


OUTPUT_OPTION = typer.Option(
    OutputFormat.TABLE, "--output", "-o", help="table for people; json or yaml for machines."
)


def emit_data(data: Any, fmt: OutputFormat) -> None:
    """Write plain data as JSON or YAML to stdout (the table format is each command's own)."""
    if fmt is OutputFormat.YAML:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    else:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
