"""Which resources are accelerators, and how many of them a container or pod asks for.

The failure the guardrails exist for is a model server that starts on CPU because its pod did
not ask for the GPU: it is "Running", its health check is green, and it is 40 times slower. The
only reliable signal before traffic moves is the resource request, so every accelerator check
starts here: a configurable list of resource names (``spec.guardrails.acceleratorResources``),
where a trailing ``*`` matches any suffix (``nvidia.com/mig-*`` matches
``nvidia.com/mig-1g.5gb``). A ``*`` anywhere else is literal, and since no resource name
contains one, such a pattern matches nothing.

What a container "asks for" is the larger of its request and its limit: for extended resources
such as GPUs Kubernetes requires the two to be equal (or the request to be absent, when it
defaults to the limit), so the larger one is what the scheduler reserves, and a manifest that
sets only one of them is still read correctly. Accelerators are whole devices; a fractional or
negative amount is invalid, and reported as such rather than rounded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from rollouts.api.spec import Guardrails
from rollouts.guardrails.objects import KubeObject, mapping, mappings
from rollouts.guardrails.quantities import InvalidQuantityError, parse_quantity

DEFAULT_ACCELERATOR_RESOURCES = (
    "nvidia.com/gpu",
    "nvidia.com/mig-*",
    "amd.com/gpu",
    "aws.amazon.com/neuron*",
    "google.com/tpu",
    "habana.ai/gaudi",
    "gpu.intel.com/*",
)
"""Resource names counted as accelerators unless ``spec.guardrails.acceleratorResources`` says otherwise."""

ResourceField = Literal["requests", "limits"]


@dataclass(frozen=True)
class AcceleratorResources:
    """The resource names that count as accelerators, as patterns with an optional trailing ``*``."""

    patterns: tuple[str, ...] = DEFAULT_ACCELERATOR_RESOURCES

    @classmethod
    def from_guardrails(cls, guardrails: Guardrails) -> AcceleratorResources:
        """The rollout's list, or the default list when ``acceleratorResources`` is unset."""
        if guardrails.accelerator_resources is None:
            return cls()
        return cls(tuple(guardrails.accelerator_resources))

    def matches(self, resource: str) -> bool:
        """True when ``resource`` is an accelerator.

        >>> AcceleratorResources().matches("nvidia.com/mig-1g.5gb")
        True
        >>> AcceleratorResources().matches("cpu")
        False
        """
        return any(
            resource.startswith(pattern[:-1]) if pattern.endswith("*") else resource == pattern
            for pattern in self.patterns
        )


@dataclass(frozen=True)
class InvalidAmount:
    """An accelerator amount that is not a whole, non-negative number of devices."""

    field: ResourceField
    resource: str
    problem: str


@dataclass(frozen=True)
class AcceleratorDemand:
    """The accelerators one container asks for, by resource name, and the amounts that are invalid."""

    amounts: Mapping[str, int] = field(default_factory=dict)
    invalid: tuple[InvalidAmount, ...] = ()


def container_demand(container: KubeObject, accelerators: AcceleratorResources) -> AcceleratorDemand:
    """The accelerators a container asks for: per resource, the larger of request and limit."""
    amounts: dict[str, int] = {}
    invalid: list[InvalidAmount] = []
    fields: tuple[ResourceField, ...] = ("requests", "limits")
    for resource_field in fields:
        for resource, raw in mapping(container, "resources", resource_field).items():
            if not accelerators.matches(str(resource)):
                continue
            try:
                amount = parse_quantity(raw)
            except InvalidQuantityError as error:
                invalid.append(InvalidAmount(resource_field, str(resource), str(error)))
                continue
            if amount.denominator != 1 or amount < 0:
                problem = f"{raw!r} is not a whole number of devices"
                invalid.append(InvalidAmount(resource_field, str(resource), problem))
                continue
            amounts[str(resource)] = max(amounts.get(str(resource), 0), int(amount))
    return AcceleratorDemand({name: count for name, count in amounts.items() if count}, tuple(invalid))


def pod_demand(pod_spec: KubeObject, accelerators: AcceleratorResources) -> dict[str, int]:
    """The accelerators a pod asks for: the sum over its containers (invalid amounts skipped).

    Init containers are left out: they finish before the model server starts, and the devices
    that matter are the ones the serving containers hold while traffic flows.
    """
    total: Counter[str] = Counter()
    for container in mappings(pod_spec, "containers"):
        total.update(container_demand(container, accelerators).amounts)
    return dict(total)
