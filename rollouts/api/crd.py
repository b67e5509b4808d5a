"""Emit the ModelRollout CustomResourceDefinition from the pydantic models.

Why our own emitter: pydantic writes JSON Schema 2020-12, which is not a Kubernetes structural
schema. This module rewrites it:

- ``$ref`` to ``$defs`` are inlined (structural schemas have no references);
- ``anyOf: [X, {type: null}]`` (an optional field) becomes ``X``; the field is simply not
  ``required``;
- ``exclusiveMinimum: 0`` (2020-12) becomes ``minimum: 0, exclusiveMinimum: true`` (OpenAPI v3.0);
- ``const`` becomes a one-value ``enum``; ``title`` and ``default`` are dropped (defaults live in
  the models and are named in each description, so stored objects stay what the user wrote);
- a field may replace its schema wholesale with ``json_schema_extra={"x-crd": {...}}`` (used
  for int-or-string and for opaque status accumulators);
- ``x-kubernetes-*`` keys pass through, so CEL rules and list types are declared on the models.

Every string must carry ``maxLength`` (enums get one computed) and every array ``maxItems``,
because the API server refuses CEL rules whose estimated cost is unbounded; the emitter raises
:class:`CRDEmitError` naming the field that lacks one instead of writing a CRD the server
would reject.
"""

from __future__ import annotations

from typing import Any

import yaml

from rollouts.api.resource import (
    API_VERSION,
    CRD_NAME,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
)
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import ModelRolloutStatus

Schema = dict[str, Any]

_DROPPED_KEYS = {"title", "default", "$defs", "examples"}
_PASSED_KEYS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "additionalProperties",
    "nullable",
}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Step", "type": "integer", "jsonPath": ".status.currentStep"},
    {"name": "Weight", "type": "integer", "jsonPath": ".status.weight"},
    {"name": "Verdict", "type": "string", "jsonPath": ".status.analysis.verdict"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


class CRDEmitError(ValueError):
    """The models describe something a structural schema cannot hold; the message names it."""


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Follow a ``$ref`` into ``$defs``, merging sibling keys (pydantic puts description there)."""
    if "$ref" not in node:
        return node
    target = defs[node["$ref"].rsplit("/", 1)[-1]]
    merged = dict(target)
    merged.update({key: value for key, value in node.items() if key != "$ref"})
    return merged


def _without_null(node: Schema) -> Schema:
    """Turn ``anyOf: [X, null]`` into X, keeping the outer description."""
    branches = node.get("anyOf")
    if branches is None:
        return node
    non_null = [branch for branch in branches if branch.get("type") != "null"]
    if len(non_null) != 1:
        raise CRDEmitError(f"union {branches} has no structural form; declare an x-crd override")
    merged = dict(non_null[0])
    merged.update({key: value for key, value in node.items() if key != "anyOf"})
    return merged


def _convert(node: Schema, defs: dict[str, Schema], path: str) -> Schema:
    node = _resolve(node, defs)
    if "x-crd" in node:
        override = dict(node["x-crd"])
        if "description" in node:
            override.setdefault("description", node["description"])
        return override
    node = _resolve(_without_null(node), defs)
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or key == "const":
            continue
        if key == "exclusiveMinimum":
            out["minimum"] = value
            out["exclusiveMinimum"] = True
        elif key == "exclusiveMaximum":
            out["maximum"] = value
            out["exclusiveMaximum"] = True
        elif key == "properties":
            out["properties"] = {
                name: _convert(child, defs, f"{path}.{name}") for name, child in value.items()
            }
        elif key == "items":
            out["items"] = _convert(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if value is False:
                continue  # structural schemas prune unknown fields; Strict validation rejects them
            out["additionalProperties"] = _convert(value, defs, f"{path}.*")
        elif key == "x-kubernetes-validations":
            out.setdefault(key, []).extend(value)  # after any key rules added below, never over them
        elif key.startswith("x-kubernetes-"):
            out[key] = value
        elif key == "propertyNames":
            if set(value) - {"maxLength"}:
                raise CRDEmitError(f"{path}: map keys may carry only maxLength (and a pattern)")
            out.setdefault("x-kubernetes-validations", []).append(
                {
                    "rule": f"self.all(k, size(k) <= {value['maxLength']})",
                    "message": f"keys must be at most {value['maxLength']} characters",
                }
            )
        elif key == "patternProperties":
            # A map whose keys have a pattern: the value schema plus a CEL rule on the keys.
            ((key_pattern, value_schema),) = value.items()
            out["additionalProperties"] = _convert(value_schema, defs, f"{path}.*")
            out.setdefault("x-kubernetes-validations", []).append(
                {
                    "rule": f"self.all(k, k.matches('{key_pattern}'))",
                    "message": f"keys must match {key_pattern}",
                }
            )
        elif key in _PASSED_KEYS:
            out[key] = value
        else:
            raise CRDEmitError(f"{path}: JSON schema key {key!r} has no structural equivalent")
    if "enum" in out and "type" not in out:
        out["type"] = "string" if all(isinstance(v, str) for v in out["enum"]) else "number"
    _check_bounded(out, path)
    return out


def _check_bounded(node: Schema, path: str) -> None:
    kind = node.get("type")
    if kind == "string" and "maxLength" not in node:
        if "enum" in node:
            node["maxLength"] = max(len(str(value)) for value in node["enum"])
        else:
            raise CRDEmitError(f"{path}: string without maxLength (CEL cost would be unbounded)")
    if kind == "array" and "maxItems" not in node:
        raise CRDEmitError(f"{path}: list without maxItems (CEL cost would be unbounded)")
    if kind == "object" and "additionalProperties" in node and "maxProperties" not in node:
        raise CRDEmitError(f"{path}: map without maxProperties (CEL cost would be unbounded)")


def structural_schema(model: type[ModelRolloutSpec] | type[ModelRolloutStatus], root: str) -> Schema:
    """The structural schema of one model, rooted at ``root`` for error messages."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}), root)


def openapi_schema() -> Schema:
    """The whole ``openAPIV3Schema`` of the ModelRollout resource."""
    return {
        "type": "object",
        "description": "A staged, statistically judged rollout of a candidate model version.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "maxLength": 64},
            "kind": {"type": "string", "maxLength": 64},
            "metadata": {"type": "object"},
            "spec": structural_schema(ModelRolloutSpec, "spec"),
            "status": structural_schema(ModelRolloutStatus, "status"),
        },
    }


def custom_resource_definition() -> dict[str, Any]:
    """The complete CustomResourceDefinition object, ready for ``kubectl apply``."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/part-of": "model-rollouts"},
            "annotations": {"rollouts.modelops.io/generated-by": "rollouts crd"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["all", "rollouts"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render_crd_yaml() -> str:
    """The CRD as YAML text, exactly as committed in ``crds/modelrollout.yaml``."""
    header = (
        f"# Generated by `rollouts crd` from rollouts/api; do not edit by hand.\n# {API_VERSION} {KIND}\n"
    )
    return header + yaml.safe_dump(custom_resource_definition(), sort_keys=False, width=100)
