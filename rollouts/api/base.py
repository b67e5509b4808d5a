"""Shared building blocks of the ModelRollout models: the base class, unions, bounded strings.

Why a base class: every model must reject unknown fields (the API server prunes them silently
unless asked for ``fieldValidation=Strict``; ``rollouts lint`` must never), use camelCase names on
the wire, and be immutable so a decision can never edit the spec it was given.

Why "one object with optional keys" instead of pydantic unions: a Kubernetes structural schema
has no ``oneOf`` that kubectl and CEL understand well, so a union such as "exactly one router" is
an object whose keys are the alternatives, plus a rule that exactly one is set. :class:`OneOf`
declares the alternatives once; the pydantic validator and the CRD's CEL rule both come from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from rollouts.api.timestamps import is_date_time

DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"

ObjectName = Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
"""The name of a Kubernetes object in the rollout's namespace (a DNS-1123 subdomain)."""

ShortName = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)]
"""A DNS-1123 label: metric names, which also appear in status and PromQL variables."""

LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)]
"""A model version: it becomes a pod label value, so it follows the label-value rules.

It is also pasted into every query as ``{{version}}``, and the pattern keeps that safe: no
quotes, backslashes, spaces or regex operators. The one regex metacharacter it allows is ``.``
(versions such as ``1.2.3`` need it); inside an ``=~`` matcher it matches one character at most
and the template renderer regex-escapes it there (defence in depth).
"""

Text = Annotated[str, StringConstraints(max_length=1024)]
"""Free text such as reasons and user names."""

Query = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
"""A PromQL query template; see the analysis reference for the variables it may use."""


def _date_time(value: str) -> str:
    if not is_date_time(value):
        raise spec_error(
            "date_time",
            f"{value!r} is not an RFC 3339 date-time",
            hint="write it as Kubernetes does, e.g. 2026-11-28T06:00:00Z (the CLI fills it in)",
        )
    return value


Timestamp = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_date_time),
    Field(json_schema_extra={"format": "date-time"}),
]
"""An RFC 3339 timestamp as Kubernetes writes it (``2026-11-28T06:00:00Z``).

Checked with the API server's own ``date-time`` rule (:func:`rollouts.api.timestamps.is_date_time`),
so lint refuses what the server refuses, and everything the server stores can be parsed.
"""


# --- scalars as the API server reads them ----------------------------------------------------
#
# pydantic's default ("lax") mode turns "50", "5_0", "yes" and true into numbers and booleans;
# the API server refuses each of them ("must be of type integer"). The wire types below refuse
# strings and booleans where a number is expected (a JSON number such as 50.0 stays acceptable
# for an integer, as it is for the server), and accept only true/false for a boolean. Objects
# read back from the API server are JSON, so the controller's own parsing is unaffected.


def _refuse_coercion(kind: str, what: str) -> BeforeValidator:
    def check(value: object) -> object:
        if isinstance(value, bool | str | bytes):
            given = "a boolean" if isinstance(value, bool) else "text"
            raise PydanticCustomError(
                kind, f"Input should be a valid {what}, not {given} (the API server does not convert)"
            )
        return value

    return BeforeValidator(check)


AS_INT = _refuse_coercion("int_type", "integer")
"""Marker for ``Annotated[int, Field(ge=..), AS_INT]``: refuse ``"50"``, ``"5_0"`` and ``true``.

It must come after the ``Field`` constraints, or pydantic cannot show them in the JSON schema."""

AS_FLOAT = _refuse_coercion("float_type", "number")
"""Marker for ``Annotated[float, Field(..), AS_FLOAT]``: refuse ``"0.05"`` and ``true``."""

WireInt = Annotated[int, AS_INT]
"""An integer that must be written as a number: ``"50"``, ``"5_0"`` and ``true`` are refused."""

WireFloat = Annotated[float, AllowInfNan(False), AS_FLOAT]
"""A finite number written as a number: ``"0.05"`` and ``true`` are refused (JSON has no inf/NaN)."""

WireBool = Annotated[bool, Strict()]
"""``true`` or ``false`` only: ``"yes"``, ``"true"`` and ``1`` are refused, as by the API server."""


def spec_error(code: str, message: str, *, at: str = "", hint: str = "") -> PydanticCustomError:
    """Build a validation error that ``rollouts lint`` can place precisely and explain.

    ``at`` extends the location pydantic knows (the object being validated) with a sub-path
    such as ``[3].setWeight``; ``hint`` says how to fix it. Both travel in the error's context.
    """
    return PydanticCustomError(code, message, {"at": at, "hint": hint})


class ApiModel(BaseModel):
    """Base of every ModelRollout model: camelCase on the wire, strict about unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """Return the object as the user wrote it: camelCase keys, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _add_one_of_rule(schema: dict[str, Any], model_class: type[Any]) -> None:
    """Put a union's exactly-one CEL rule into its JSON schema (read by the CRD emitter)."""
    schema.setdefault("x-kubernetes-validations", []).append(model_class.one_of_rule())


class OneOf(ApiModel):
    """An object whose keys are alternatives of which exactly one must be set.

    Subclasses list the alternatives' wire names in ``alternatives``; other fields of the class
    (if any) are ordinary fields. The same list gives the pydantic check and the CRD's CEL rule.
    """

    model_config = ConfigDict(json_schema_extra=_add_one_of_rule)

    alternatives: ClassVar[tuple[str, ...]] = ()
    what: ClassVar[str] = "kind"

    @classmethod
    def one_of_rule(cls) -> dict[str, str]:
        """The CEL rule (and its message) that the CRD carries for this union."""
        checks = ", ".join(f"has(self.{name})" for name in cls.alternatives)
        return {"rule": f"[{checks}].exists_one(x, x)", "message": cls.one_of_message()}

    @classmethod
    def one_of_message(cls) -> str:
        """The message used by both pydantic and the API server when the union is not one."""
        return f"exactly one {cls.what} must be set: one of {', '.join(cls.alternatives)}"

    @model_validator(mode="after")
    def _exactly_one(self) -> OneOf:
        wire = self.model_dump(by_alias=True, exclude_none=True)
        chosen = [name for name in self.alternatives if name in wire]
        if len(chosen) != 1:
            found = f"found {', '.join(chosen)}" if chosen else "found none"
            raise spec_error(
                "one_of",
                f"{self.one_of_message()} ({found})",
                hint=f"keep exactly one of {', '.join(self.alternatives)}",
            )
        return self

    def chosen(self) -> str:
        """The wire name of the alternative that is set."""
        wire = self.model_dump(by_alias=True, exclude_none=True)
        return next(name for name in self.alternatives if name in wire)


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, as typing.Annotated needs
class CelRules:
    """``Annotated`` marker putting CEL rules on a field's own schema (a string, a number, a map).

    Unlike ``Field(json_schema_extra=...)`` it also works inside ``X | None`` and nested
    ``Annotated`` types, so a reusable type such as :data:`rollouts.api.spec.CohortQuery`
    carries its rule wherever it is used. The Python check that gives the same message sits
    next to it (an ``AfterValidator``), so lint and the API server agree.
    """

    rules: tuple[dict[str, Any], ...]

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The wrapped type's schema plus these rules under ``x-kubernetes-validations``."""
        schema = handler(core)
        schema.setdefault("x-kubernetes-validations", []).extend(dict(rule) for rule in self.rules)
        return schema
