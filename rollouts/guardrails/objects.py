"""Reading Kubernetes objects as plain dicts, the camelCase JSON the API server returns.

Why helpers instead of the client's typed models: the guardrails are pure (no Kubernetes
library), they run on manifests a person wrote as well as on objects read from the cluster,
and a half-written manifest must be judged, not crash the judge. So a missing or mistyped
field reads as absent, and the rules report what is absent, at its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rollouts.api.timestamps import parse_timestamp

KubeObject = Mapping[str, Any]
"""A Kubernetes object (or a part of one) as parsed JSON or YAML."""

POD_SPEC_PATH = "spec.template.spec"
"""Where a Deployment keeps its pod spec; findings name fields below it."""

_EMPTY: KubeObject = {}


def value(obj: object, *keys: str) -> object:
    """``obj[k1][k2]...``, or None as soon as a step is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def mapping(obj: object, *keys: str) -> KubeObject:
    """The mapping at ``obj[k1][k2]...``, or an empty one."""
    found = value(obj, *keys)
    return found if isinstance(found, Mapping) else _EMPTY


def mappings(obj: object, *keys: str) -> list[KubeObject]:
    """The list of mappings at ``obj[k1][k2]...``; a malformed entry reads as empty.

    Entries keep their positions, so ``containers[2]`` in a finding is the third entry of the
    manifest even when an earlier entry is broken.
    """
    found = value(obj, *keys)
    if not isinstance(found, list):
        return []
    return [entry if isinstance(entry, Mapping) else _EMPTY for entry in found]


def text(obj: object, *keys: str) -> str:
    """The string at ``obj[k1][k2]...``, or an empty string."""
    found = value(obj, *keys)
    return found if isinstance(found, str) else ""


def number(obj: object, *keys: str, default: int) -> int:
    """The whole number at ``obj[k1][k2]...``, or ``default`` when it is absent or not a number."""
    found = value(obj, *keys)
    if isinstance(found, int) and not isinstance(found, bool):
        return found
    return default


def moment(obj: object, *keys: str) -> datetime | None:
    """The RFC 3339 timestamp at ``obj[k1][k2]...`` as an aware datetime, or None."""
    found = value(obj, *keys)
    if not isinstance(found, str):
        return None
    try:
        return parse_timestamp(found)
    except ValueError:
        return None


def name_of(obj: object) -> str:
    """``metadata.name``, or ``"<unnamed>"`` for a manifest without one."""
    return text(obj, "metadata", "name") or "<unnamed>"


def pod_spec_of(deployment: KubeObject) -> KubeObject:
    """The pod template's spec of a Deployment (``spec.template.spec``)."""
    return mapping(deployment, "spec", "template", "spec")
