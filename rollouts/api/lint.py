"""Validate ModelRollout manifests offline, with a field path, a line and a hint per problem.

``rollouts lint`` and the controller read specs through the same pydantic models, which carry
the same rules as the CRD's schema and CEL rules; unknown fields are errors here, as they are
for the API server with ``fieldValidation=Strict``. This module turns pydantic's errors into
:class:`Problem` objects a person can act on: ``spec.steps[3].setWeight`` rather than a tuple,
"did you mean" for misspelt fields, and the line of the YAML document where the field sits.

Warnings (severity ``warning``) flag specs that are valid but unlikely to do what was meant,
such as a plan that never compares the versions below 100%; they do not change the exit code.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from dataclasses import asdict, dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from rollouts.api.base import DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, LABEL_VALUE_PATTERN
from rollouts.api.durations import DURATION_HINT, DURATION_PATTERN, seconds
from rollouts.api.resource import API_VERSION, KIND, ModelRollout

Severity = Literal["error", "warning"]

_PATTERN_HINTS = {
    DURATION_PATTERN: DURATION_HINT,
    DNS_SUBDOMAIN_PATTERN: "use lowercase letters, digits, '-' and '.', starting and ending alphanumeric",
    DNS_LABEL_PATTERN: "use lowercase letters, digits and '-', starting and ending alphanumeric",
    LABEL_VALUE_PATTERN: "use letters, digits, '-', '_' and '.', starting and ending alphanumeric",
}

_TYPE_HINTS = {
    "int_parsing": "write a whole number without quotes",
    "int_type": "write a whole number without quotes",
    "int_from_float": "write a whole number without quotes",
    "float_parsing": "write a number without quotes",
    "float_type": "write a number without quotes",
    "bool_parsing": "write true or false without quotes",
    "bool_type": "write true or false without quotes",
    "string_type": "write text, quoted if it looks like a number",
    "model_type": "write an object (key: value lines), not a scalar or a list",
    "model_attributes_type": "write an object (key: value lines), not a scalar or a list",
    "tuple_type": "write a list (lines starting with '- ')",
    "list_type": "write a list (lines starting with '- ')",
    "dict_type": "write an object (key: value lines)",
    "too_short": "add at least one entry",
    "too_long": "shorten the list",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest, located and explained."""

    path: str
    message: str
    hint: str = ""
    severity: Severity = "error"
    line: int | None = None

    def render(self, source: str = "") -> str:
        """``file:line: path: message (hint)`` for terminals and CI logs."""
        where = ":".join(part for part in (source, str(self.line) if self.line else "") if part)
        text = f"{self.severity}: {self.path or '<document>'}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return f"{where}: {text}" if where else text


@dataclass(frozen=True)
class DocumentReport:
    """The problems of one document of one file."""

    source: str
    index: int
    name: str | None
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """True when no problem is an error (warnings allowed)."""
        return all(problem.severity != "error" for problem in self.problems)

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``-o json``."""
        return {
            "source": self.source,
            "document": self.index,
            "name": self.name,
            "ok": self.ok,
            "problems": [asdict(problem) for problem in self.problems],
        }


def format_path(loc: tuple[str | int, ...]) -> str:
    """``('spec', 'steps', 3, 'setWeight')`` → ``spec.steps[3].setWeight``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    """The model class a field holds, through Optional, tuple[...] and Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, tuple, list):
        for arg in typing.get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class at a location inside a ModelRollout, or None past the models."""
    model: type[BaseModel] | None = ModelRollout
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = next(
            (info for name, info in model.model_fields.items() if part in (name, info.alias)),
            None,
        )
        model = None if field is None else _unwrap(field.annotation)
    return model


def _wire_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _field_description(loc: tuple[str | int, ...]) -> str:
    parent = _model_at(loc[:-1])
    if parent is None or not loc or isinstance(loc[-1], int):
        return ""
    for name, info in parent.model_fields.items():
        if loc[-1] in (name, info.alias):
            return info.description or ""
    return ""


def _problem_from_error(error: Any) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    context = error.get("ctx") or {}
    kind = error["type"]
    path = format_path(loc) + str(context.get("at", ""))
    hint = str(context.get("hint", ""))
    message = error["msg"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        known = _wire_names(parent) if parent is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        message = f"unknown field {loc[-1]!r}"
        hint = (f"did you mean {close[0]!r}? " if close else "") + (
            f"fields here: {', '.join(known)}" if known else "remove it"
        )
    elif kind == "missing":
        message = f"required field {loc[-1]!r} is missing"
        hint = hint or (_field_description(loc) or "add it")
    elif kind == "string_pattern_mismatch":
        pattern = context.get("pattern", "")
        message = f"{error['input']!r} does not match the expected form"
        hint = _PATTERN_HINTS.get(pattern, f"match the pattern {pattern}")
    elif kind in _TYPE_HINTS and not hint:
        hint = _TYPE_HINTS[kind]
    elif kind in ("literal_error", "enum"):
        hint = hint or f"choose one of {context.get('expected', 'the allowed values')}"
    return Problem(path=path, message=message, hint=hint or _field_description(loc) or "see the README")


def _plan_warnings(rollout: ModelRollout) -> list[Problem]:
    """Valid plans that are unlikely to mean what was written."""
    spec = rollout.spec
    warnings: list[Problem] = []
    weight = 0
    compared_below_full = False
    comparative = [m for m in spec.analysis.metrics if m.guard is None]
    look_floor = seconds(spec.analysis.interval) + seconds(spec.analysis.warmup)
    for index, step in enumerate(spec.steps):
        if step.set_weight is not None:
            weight = step.set_weight
        if step.analyze is not None:
            if 0 < weight < 100:
                compared_below_full = True
            if weight == 100 and comparative:
                warnings.append(
                    Problem(
                        path=f"spec.steps[{index}].analyze",
                        message="at 100% the baseline gets no traffic, so only guard metrics run here",
                        hint="put the last comparative analyze step below 100%",
                        severity="warning",
                    )
                )
            if seconds(step.analyze.duration) < look_floor:
                warnings.append(
                    Problem(
                        path=f"spec.steps[{index}].analyze.duration",
                        message=(
                            f"{step.analyze.duration} is shorter than warmup + interval "
                            f"({look_floor:.0f}s): the step may end before its first look"
                        ),
                        hint="lengthen the step or shorten warmup/interval",
                        severity="warning",
                    )
                )
    if comparative and not compared_below_full:
        warnings.append(
            Problem(
                path="spec.steps",
                message="no analyze step at a weight between 0 and 100: nothing waits for a PASS",
                hint="add e.g. - analyze: {duration: 15m} after a setWeight below 100",
                severity="warning",
            )
        )
    return warnings


def lint_object(obj: Any) -> tuple[ModelRollout | None, list[Problem]]:
    """Validate one parsed document; return the model (if valid) and every problem found."""
    if not isinstance(obj, dict):
        return None, [Problem(path="", message="a ModelRollout document must be a mapping")]
    if obj.get("kind") != KIND:
        return None, [
            Problem(
                path="kind",
                message=f"kind must be {KIND}, got {obj.get('kind')!r}",
                hint=f"lint only ModelRollout documents (apiVersion: {API_VERSION})",
            )
        ]
    try:
        rollout = ModelRollout.model_validate(obj)
    except ValidationError as invalid:
        return None, [_problem_from_error(error) for error in invalid.errors()]
    return rollout, _plan_warnings(rollout)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys instead of keeping the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _line_of(node: yaml.Node | None, path: str) -> int | None:
    """The 1-based line of ``path`` in a composed YAML document, or the closest parent's."""
    best = node.start_mark.line + 1 if node is not None else None
    for part in path.replace("[", ".[").split("."):
        if node is None or not part:
            continue
        if part.startswith("["):
            index = int(part.strip("[]"))
            if isinstance(node, yaml.SequenceNode) and index < len(node.value):
                node = node.value[index]
            else:
                break
        elif isinstance(node, yaml.MappingNode):
            match = next((pair for pair in node.value if pair[0].value == part), None)
            if match is None:
                break
            node = match[1]
            best = match[0].start_mark.line + 1
        else:
            break
    return best


def parse_documents(text: str) -> list[Any]:
    """Parse YAML (one or more documents) or JSON text; raises ``yaml.YAMLError``."""
    return [doc for doc in yaml.load_all(text, Loader=_UniqueKeyLoader) if doc is not None]


def lint_text(text: str, source: str) -> list[DocumentReport]:
    """Lint every document in a YAML or JSON text."""
    try:
        documents = parse_documents(text)
        nodes = [node for node in yaml.compose_all(text, Loader=yaml.SafeLoader) if node is not None]
    except yaml.YAMLError as broken:
        mark = getattr(broken, "problem_mark", None) or getattr(broken, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = Problem(path="", message=f"not valid YAML/JSON: {broken}".splitlines()[0], line=line)
        return [DocumentReport(source=source, index=0, name=None, problems=(problem,))]
    if not documents:
        problem = Problem(path="", message="no document found", hint="is the file empty?")
        return [DocumentReport(source=source, index=0, name=None, problems=(problem,))]
    reports = []
    for index, (document, node) in enumerate(zip(documents, nodes, strict=True)):
        rollout, problems = lint_object(document)
        located = tuple(
            Problem(p.path, p.message, p.hint, p.severity, _line_of(node, p.path)) for p in problems
        )
        name = rollout.metadata.name if rollout else _name_of(document)
        reports.append(DocumentReport(source=source, index=index, name=name, problems=located))
    return reports


def _name_of(document: Any) -> str | None:
    if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
        name = document["metadata"].get("name")
        return str(name) if name is not None else None
    return None


def reports_as_json(reports: list[DocumentReport]) -> str:
    """All reports as one JSON document for ``-o json``."""
    return json.dumps([report.as_json() for report in reports], indent=2)
