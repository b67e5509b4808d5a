"""The ModelRollout resource as a whole: apiVersion, kind, metadata, spec, status.

The group, version and names live here once; the CRD emitter, the CLI and the controller all
read them from this module.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator

from rollouts.api.base import DNS_SUBDOMAIN_PATTERN, ApiModel, spec_error
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import ModelRolloutStatus

GROUP = "rollouts.modelops.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelRollout"
PLURAL = "modelrollouts"
SINGULAR = "modelrollout"
SHORT_NAMES = ("mro",)
CRD_NAME = f"{PLURAL}.{GROUP}"


class ObjectMeta(ApiModel):
    """The metadata fields a ModelRollout manifest may carry; the rest the API server owns."""

    model_config = ConfigDict(extra="allow")

    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] = Field(
        description="Object name."
    )
    namespace: Annotated[str, Field(max_length=63)] | None = Field(default=None, description="Namespace.")
    labels: dict[str, str] | None = Field(default=None, description="Labels.")
    annotations: dict[str, str] | None = Field(default=None, description="Annotations.")
    generation: int | None = Field(default=None, description="Spec generation (set by the server).")
    resource_version: str | None = Field(default=None, description="Set by the server.")
    uid: str | None = Field(default=None, description="Set by the server.")


class ModelRollout(ApiModel):
    """A staged, statistically judged rollout of a candidate model version."""

    api_version: Literal["rollouts.modelops.io/v1alpha1"] = Field(description="API version.")
    kind: Literal["ModelRollout"] = Field(description="ModelRollout.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: ModelRolloutSpec = Field(description="What to roll out and how.")
    status: ModelRolloutStatus | None = Field(default=None, description="Written by the controller.")

    @field_validator("api_version", mode="before")
    @classmethod
    def _known_version(cls, value: object) -> object:
        if value != API_VERSION:
            raise spec_error(
                "api_version",
                f"apiVersion must be {API_VERSION}, got {value!r}",
                hint=f"write apiVersion: {API_VERSION}",
            )
        return value

    @property
    def key(self) -> str:
        """``namespace/name``: how logs, events and the work queue name this rollout."""
        return f"{self.metadata.namespace or 'default'}/{self.metadata.name}"

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> ModelRollout:
        """Parse an object as the API server returns it (status included, if any)."""
        return cls.model_validate(obj)
