"""Resource arithmetic: Kubernetes quantities parsed exactly, accelerator names matched."""

from __future__ import annotations

from fractions import Fraction

import pytest

from rollouts.api.spec import Guardrails
from rollouts.guardrails.accelerators import (
    DEFAULT_ACCELERATOR_RESOURCES,
    AcceleratorResources,
    container_demand,
    pod_demand,
)
from rollouts.guardrails.quantities import InvalidQuantityError, parse_quantity


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1", Fraction(1)),
        ("2", Fraction(2)),
        ("0", Fraction(0)),
        ("500m", Fraction(1, 2)),
        ("100m", Fraction(1, 10)),
        ("0.1", Fraction(1, 10)),
        ("1.5", Fraction(3, 2)),
        (".5", Fraction(1, 2)),
        ("5.", Fraction(5)),
        ("+3", Fraction(3)),
        ("-1", Fraction(-1)),
        ("1Ki", Fraction(1024)),
        ("1Mi", Fraction(1024**2)),
        ("1Gi", Fraction(1024**3)),
        ("16Gi", Fraction(16 * 1024**3)),
        ("1.5Gi", Fraction(3 * 1024**3, 2)),
        ("1Ti", Fraction(1024**4)),
        ("1Pi", Fraction(1024**5)),
        ("1Ei", Fraction(1024**6)),
        ("1k", Fraction(1000)),
        ("1M", Fraction(10**6)),
        ("1G", Fraction(10**9)),
        ("1T", Fraction(10**12)),
        ("1P", Fraction(10**15)),
        ("1E", Fraction(10**18)),
        ("1n", Fraction(1, 10**9)),
        ("1u", Fraction(1, 10**6)),
        ("1e3", Fraction(1000)),
        ("1E3", Fraction(1000)),
        ("12e-3", Fraction(12, 1000)),
        ("1.5e+2", Fraction(150)),
        (1, Fraction(1)),
        (8, Fraction(8)),
        (0.5, Fraction(1, 2)),
        (0.1, Fraction(1, 10)),
    ],
)
def test_quantity_is_exact(text: str | int | float, amount: Fraction) -> None:
    assert parse_quantity(text) == amount


@pytest.mark.parametrize(
    "text",
    ["", " 1", "1 ", "1 Gi", "Gi", "1KiB", "1ki", "1gi", "1.2.3", "1e", "e3", "1e3.5", "0x10", "one", "--1"],
)
def test_invalid_quantity_is_refused_with_the_value_in_the_message(text: str) -> None:
    with pytest.raises(InvalidQuantityError, match="is not a quantity"):
        parse_quantity(text)


@pytest.mark.parametrize("value", [True, None, [1], {"gpu": 1}, float("inf"), float("nan")])
def test_non_quantity_values_are_refused(value: object) -> None:
    with pytest.raises(InvalidQuantityError):
        parse_quantity(value)


@pytest.mark.parametrize(
    ("resource", "accelerator"),
    [
        ("nvidia.com/gpu", True),
        ("nvidia.com/mig-1g.5gb", True),
        ("nvidia.com/mig-3g.20gb", True),
        ("amd.com/gpu", True),
        ("aws.amazon.com/neuron", True),
        ("aws.amazon.com/neuroncore", True),
        ("aws.amazon.com/neurondevice", True),
        ("google.com/tpu", True),
        ("habana.ai/gaudi", True),
        ("gpu.intel.com/i915", True),
        ("gpu.intel.com/xe", True),
        ("cpu", False),
        ("memory", False),
        ("ephemeral-storage", False),
        ("nvidia.com/gpu.shared", False),
        ("nvidia.com/mig", False),
        ("example.com/fpga", False),
    ],
)
def test_default_accelerator_names(resource: str, accelerator: bool) -> None:
    assert AcceleratorResources().matches(resource) is accelerator


def test_configured_list_replaces_the_default() -> None:
    guardrails = Guardrails(accelerator_resources=("example.com/fpga-*",))
    configured = AcceleratorResources.from_guardrails(guardrails)
    assert configured.matches("example.com/fpga-u250")
    assert not configured.matches("nvidia.com/gpu")
    assert AcceleratorResources.from_guardrails(Guardrails()).patterns == DEFAULT_ACCELERATOR_RESOURCES


def test_a_star_inside_a_pattern_is_literal() -> None:
    assert not AcceleratorResources(("nvidia.com/*gpu",)).matches("nvidia.com/gpu")


@pytest.mark.parametrize(
    ("resources", "amounts", "invalid"),
    [
        ({"limits": {"nvidia.com/gpu": 1}}, {"nvidia.com/gpu": 1}, []),
        ({"requests": {"nvidia.com/gpu": "2"}}, {"nvidia.com/gpu": 2}, []),
        ({"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}}, {"nvidia.com/gpu": 2}, []),
        ({"limits": {"nvidia.com/gpu": 0, "cpu": "4"}}, {}, []),
        ({"limits": {"cpu": "4", "memory": "16Gi"}}, {}, []),
        ({"limits": {"nvidia.com/gpu": "500m"}}, {}, [("limits", "nvidia.com/gpu")]),
        ({"requests": {"amd.com/gpu": "two"}}, {}, [("requests", "amd.com/gpu")]),
        ({"limits": {"nvidia.com/gpu": -1}}, {}, [("limits", "nvidia.com/gpu")]),
        ({"limits": {"nvidia.com/gpu": "1e0"}}, {"nvidia.com/gpu": 1}, []),
        ({}, {}, []),
    ],
)
def test_container_demand(
    resources: dict[str, object], amounts: dict[str, int], invalid: list[tuple[str, str]]
) -> None:
    demand = container_demand({"name": "model", "resources": resources}, AcceleratorResources())
    assert dict(demand.amounts) == amounts
    assert [(i.field, i.resource) for i in demand.invalid] == invalid


def test_pod_demand_sums_containers_and_leaves_init_containers_out() -> None:
    pod_spec = {
        "initContainers": [{"name": "fetch", "resources": {"limits": {"nvidia.com/gpu": 4}}}],
        "containers": [
            {"name": "model", "resources": {"limits": {"nvidia.com/gpu": 2}}},
            {"name": "reranker", "resources": {"limits": {"nvidia.com/gpu": 1}}},
            {"name": "proxy"},
            "not a container",
        ],
    }
    assert pod_demand(pod_spec, AcceleratorResources()) == {"nvidia.com/gpu": 3}
