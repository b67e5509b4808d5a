"""The Grafana dashboard as tests read it: its panels' queries and its template variables.

deploy/helm/model-rollouts/files/dashboard.json is plain Grafana JSON (the Helm chart loads it
with .Files.Get). Tests read its queries here and substitute the variables as Grafana would:
the query variables (``label_values(metric{...}, label)``) are resolved against a Prometheus,
Grafana's built-in intervals are given fixed values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "deploy" / "helm" / "model-rollouts" / "files" / "dashboard.json"
)
BUILT_INS = ("__rate_interval", "__interval", "__range")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>\w+)\)$")
VARIABLE = re.compile(r"\$\{?(\w+)\}?")


@dataclass(frozen=True)
class Query:
    """One target of one panel."""

    panel: str
    ref_id: str
    expr: str


def load() -> dict[str, Any]:
    """The dashboard JSON."""
    return dict(json.loads(DASHBOARD.read_text()))


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (rows are layout), rows' nested panels included."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries(dashboard: Mapping[str, Any]) -> list[Query]:
    """Every panel target's query."""
    return [
        Query(panel["title"], target["refId"], target["expr"])
        for panel in panels(dashboard)
        for target in panel["targets"]
    ]


def variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The template variables, in the order Grafana resolves them."""
    return list(dashboard["templating"]["list"])


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``$name`` and ``${name}`` replaced by their values (KeyError: an unknown variable)."""
    return VARIABLE.sub(lambda match: values[match.group(1)], text)


def resolve(
    dashboard: Mapping[str, Any], label_values: Callable[[str, str], list[str]], chosen: Mapping[str, str]
) -> dict[str, str]:
    """Every query variable's value, in order: ``chosen`` if given (it must be offered), else the first.

    ``label_values(selector, label)`` answers what Prometheus has for the label.
    """
    values: dict[str, str] = {}
    for variable in variables(dashboard):
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(variable["query"]["query"])
        assert match, f"variable {variable['name']}: not a label_values() query"
        offered = label_values(substitute(match["selector"], values), match["label"])
        wanted = chosen.get(variable["name"])
        assert offered, f"variable {variable['name']} offers nothing"
        assert wanted is None or wanted in offered, f"variable {variable['name']}: {wanted} not in {offered}"
        values[variable["name"]] = wanted or sorted(offered)[0]
    return values
