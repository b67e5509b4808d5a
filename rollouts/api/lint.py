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
import re
import types
import typing
from dataclasses import asdict, dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from analysis.criteria import HistogramKind
from rollouts.api.base import DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, LABEL_VALUE_PATTERN
from rollouts.api.durations import DURATION_HINT, DURATION_PATTERN
from rollouts.api.resource import API_VERSION, KIND, ModelRollout
from rollouts.api.spec import HEADER_NAME_PATTERN, VARIABLE_NAME_PATTERN, VARIABLE_VALUE_PATTERN

Severity = Literal["error", "warning"]

_PATTERN_HINTS = {
    DURATION_PATTERN: DURATION_HINT,
    DNS_SUBDOMAIN_PATTERN: "use lowercase letters, digits, '-' and '.', starting and ending alphanumeric",
    DNS_LABEL_PATTERN: "use lowercase letters, digits and '-', starting and ending alphanumeric",
    LABEL_VALUE_PATTERN: "use letters, digits, '-', '_' and '.', starting and ending alphanumeric",
    VARIABLE_NAME_PATTERN: "name variables like identifiers: letters, digits, '_'; not starting with a digit",
    VARIABLE_VALUE_PATTERN: (
        "use 1-253 letters, digits, '_', ':' and '-'; regex metacharacters (. * + ? | ( ) [ ] { } ^ $ \\) "
        "are refused because values also land in =~ matchers"
    ),
    HEADER_NAME_PATTERN: "an HTTP header name: letters, digits and !#$%&'*+-.^_`|~, no spaces or ':'",
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
    hint = str(context.get("hint", ""))
    message = error["msg"]
    if "[key]" in loc:
        # A map key is wrong: name the map, as the API server does, and the key in the message.
        key = loc[loc.index("[key]") - 1]
        loc = loc[: loc.index("[key]") - 1]
        shown = str(key) if len(str(key)) <= 80 else str(key)[:80] + "..."
        if kind == "string_pattern_mismatch":
            pattern = context.get("pattern", "")
            message = f"key {shown!r}: keys must match {pattern}"
            hint = _PATTERN_HINTS.get(pattern, f"match the pattern {pattern}")
        elif kind == "string_too_long":
            message = f"key {shown!r}: keys must be at most {context.get('max_length')} characters"
            hint = "shorten the key"
        else:
            message = f"key {shown!r}: {message}"
        return Problem(path=format_path(loc), message=message, hint=hint or "see the README")
    path = format_path(loc) + str(context.get("at", ""))
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
        shown = error["input"] if len(error["input"]) <= 80 else error["input"][:80] + "..."
        message = f"{shown!r} does not match the expected form"
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
    look_floor = spec.analysis.interval.seconds + spec.analysis.warmup.seconds
    mirror, header_route = 0, False
    for index, step in enumerate(spec.steps):
        if step.set_weight is not None:
            weight, mirror = step.set_weight, 0  # a setWeight ends the mirror (docs/safety.md)
        if step.set_mirror is not None:
            mirror = step.set_mirror
        header_route = header_route or step.set_header_route is not None
        if step.analyze is not None:
            if 0 < weight < 100 or (weight == 0 and (mirror or header_route)):
                compared_below_full = True
            if weight == 0 and not mirror and not header_route:
                warnings.append(
                    Problem(
                        path=f"spec.steps[{index}].analyze",
                        message="the candidate gets no requests here (weight 0, no mirror, no header route)",
                        hint="mirror requests before it (- setMirror: 50) or move it after a setWeight",
                        severity="warning",
                    )
                )
            if weight == 100 and comparative:
                warnings.append(
                    Problem(
                        path=f"spec.steps[{index}].analyze",
                        message="at 100% the baseline gets no traffic, so only guard metrics run here",
                        hint="put the last comparative analyze step below 100%",
                        severity="warning",
                    )
                )
            if step.analyze.duration.seconds < look_floor:
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
                message=(
                    "no analyze step at a weight between 0 and 100 or on mirrored requests: "
                    "nothing waits for a PASS"
                ),
                hint="add e.g. - analyze: {duration: 15m} after a setWeight below 100",
                severity="warning",
            )
        )
    return warnings


_BUCKET_SERIES = re.compile(r"^\s*[a-zA-Z_:][a-zA-Z0-9_:]*_bucket\b")


def _histogram_warnings(rollout: ModelRollout) -> list[Problem]:
    """A native latency histogram read through a classic ``_bucket`` series name.

    Native histograms are one series per label set under the histogram's own name
    (``model_request_duration_seconds``); ``_bucket`` series are the classic buckets, which hold
    no native samples, so every look would be ERROR.
    """
    return [
        Problem(
            path=f"spec.analysis.metrics[{index}].latency.buckets",
            message="histogram: native reads the histogram itself, but this query names a _bucket series",
            hint="select the histogram by its name without _bucket, e.g. model_request_duration_seconds{...}",
            severity="warning",
        )
        for index, metric in enumerate(rollout.spec.analysis.metrics)
        if metric.latency is not None
        and metric.latency.histogram is HistogramKind.NATIVE
        and _BUCKET_SERIES.match(metric.latency.buckets)
    ]


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
    return rollout, _plan_warnings(rollout) + _histogram_warnings(rollout)


MAX_DOCUMENT_CHARS = 3 * 1024 * 1024
"""The API server refuses request bodies over 3 MiB; lint refuses longer texts before parsing."""

MAX_DEPTH = 64
"""Deepest nesting accepted. A ModelRollout is about 8 levels deep; PyYAML composes recursively,
so 10,000 nested lists would otherwise end in a RecursionError (a traceback, not a problem)."""

MAX_NODES = 100_000
"""Most values a document may expand to, aliases counted each time they are used. A "billion
laughs" document is a few hundred bytes that aliases expand to 10^9 values: it is refused from
its composed graph, before anything is expanded, in milliseconds and bounded memory."""


class LoadLimitError(yaml.MarkedYAMLError):
    """A document beyond the loader's limits (size, depth, alias expansion, key kinds)."""


def _without_timestamps() -> dict[Any, list[tuple[str, Any]]]:
    """PyYAML's implicit resolvers less the timestamp one.

    kubectl (sigs.k8s.io/yaml) sends an unquoted ``2026-11-28T06:00:00Z`` to the API server as a
    string; PyYAML would turn it into a ``datetime``, which the models would then refuse.
    """
    return {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


class _Loader(yaml.SafeLoader):
    """A bounded YAML loader that reads manifests the way kubectl sends them.

    Refuses duplicate keys (instead of keeping the last one silently), keys that are lists or
    mappings, nesting deeper than :data:`MAX_DEPTH`; turns other scalar keys (``1:``,
    ``true:``) into strings as kubectl does; keeps timestamps as strings.
    """

    yaml_implicit_resolvers = _without_timestamps()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, refusing to go deeper than :data:`MAX_DEPTH` (before Python must)."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event: Any = self.peek_event()  # type: ignore[no-untyped-call]
                raise LoadLimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise LoadLimitError(
                    None,
                    None,
                    "a mapping key must be a plain value, not a list or a mapping",
                    key_node.start_mark,
                )
            key = _key_text(self.construct_object(key_node, deep=deep))
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        mapping = super().construct_mapping(node, deep=deep)
        return {_key_text(key): value for key, value in mapping.items()}


def _key_text(key: Any) -> str:
    """A scalar key as JSON would carry it: ``true`` → "true", ``null`` → "null", 1 → "1"."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    return json.dumps(key) if isinstance(key, bool | int | float) else str(key)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document that expands beyond :data:`MAX_NODES` values, or refers to itself.

    Counts each node once per use (what construction and every later copy would cost), with
    the count of a shared (aliased) node computed once, so the check is linear in the text.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise LoadLimitError(
                None, None, "an alias refers to the collection that contains it", node.start_mark
            )
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        if total > MAX_NODES:
            raise LoadLimitError(
                None,
                None,
                f"the document expands to more than {MAX_NODES} values (aliases counted at each use)",
                node.start_mark,
            )
        sizes[key] = total
        return total

    size(root)


def load_documents(text: str) -> list[tuple[yaml.Node, Any]]:
    """Parse YAML (one or more documents) or JSON text into (node, value) pairs, within limits.

    Raises ``yaml.YAMLError`` (:class:`LoadLimitError` for a limit) with the line where it is.
    """
    if len(text) > MAX_DOCUMENT_CHARS:
        raise LoadLimitError(
            None,
            None,
            f"the text is longer than {MAX_DOCUMENT_CHARS} characters (the API server's limit is 3 MiB)",
            None,
        )
    loader = _Loader(text)
    try:
        loaded = []
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_expansion(node)
            loaded.append((node, loader.construct_document(node)))
        return loaded
    finally:
        loader.dispose()


def parse_documents(text: str) -> list[Any]:
    """Parse YAML (one or more documents) or JSON text; raises ``yaml.YAMLError``."""
    return [document for _, document in load_documents(text) if document is not None]


def decode_text(data: bytes) -> str:
    """UTF-8 bytes → text; raises ``ValueError`` naming the first bad byte and its line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as bad:
        line = data[: bad.start].count(b"\n") + 1
        raise ValueError(
            f"not UTF-8 text: byte 0x{data[bad.start]:02x} at offset {bad.start} (line {line})"
        ) from None


def lint_bytes(data: bytes, source: str) -> list[DocumentReport]:
    """Lint a file's raw bytes: a non-UTF-8 file is one problem, not a traceback."""
    try:
        text = decode_text(data)
    except ValueError as undecodable:
        problem = Problem(
            path="", message=str(undecodable), hint="save the file as UTF-8, as Kubernetes expects"
        )
        return [DocumentReport(source=source, index=0, name=None, problems=(problem,))]
    return lint_text(text, source)


def _line_of(node: yaml.Node | None, path: str) -> int | None:
    """The 1-based line of ``path`` in a composed YAML document, or the closest parent's."""
    best = node.start_mark.line + 1 if node is not None else None
    for part in path.replace("[", ".[").split("."):
        if node is None or not part:
            continue
        if part.startswith("["):
            index = part.strip("[]")
            if isinstance(node, yaml.SequenceNode) and index.isdigit() and int(index) < len(node.value):
                node = node.value[int(index)]
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


def lint_text(text: str, source: str) -> list[DocumentReport]:
    """Lint every document in a YAML or JSON text; never raises for any input text."""
    try:
        loaded = [(node, document) for node, document in load_documents(text) if document is not None]
    except yaml.YAMLError as broken:
        mark = getattr(broken, "problem_mark", None) or getattr(broken, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = Problem(
            path="",
            message=f"not valid YAML/JSON: {broken}".splitlines()[0]
            if not isinstance(broken, LoadLimitError)
            else f"refused: {broken.problem}",
            hint=""
            if not isinstance(broken, LoadLimitError)
            else "a ModelRollout is a small, plain document",
            line=line,
        )
        return [DocumentReport(source=source, index=0, name=None, problems=(problem,))]
    if not loaded:
        problem = Problem(path="", message="no document found", hint="is the file empty?")
        return [DocumentReport(source=source, index=0, name=None, problems=(problem,))]
    reports = []
    for index, (node, document) in enumerate(loaded):
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
