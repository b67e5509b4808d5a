"""Label selectors (``matchLabels`` and ``matchExpressions``), as the API server applies them.

The controller finds a Deployment's pods in its cache by the Deployment's own selector, so it
sees exactly the pods the ReplicaSet controller counts.

>>> matches({"matchLabels": {"app": "m"}, "matchExpressions": [
...     {"key": "version", "operator": "In", "values": ["v2"]}]}, {"app": "m", "version": "v2"})
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether ``labels`` satisfy a LabelSelector; an empty or missing selector matches nothing.

    (A Deployment always has a non-empty selector; "matches nothing" keeps a broken object from
    claiming every pod of the namespace.)
    """
    if not selector:
        return False
    labels = labels or {}
    match_labels: Mapping[str, str] = selector.get("matchLabels") or {}
    expressions: list[Mapping[str, Any]] = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    return all(_expression(expression, labels) for expression in expressions)


def _expression(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = expression.get("key", "")
    operator = expression.get("operator")
    values = set(expression.get("values") or ())
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False
