"""ModelRollouts for the controller tests; the workloads come from rollouts.local.manifests."""

from __future__ import annotations

from typing import Any

from rollouts.api.resource import API_VERSION, KIND


def model_rollout(
    name: str,
    *,
    steps: list[dict[str, Any]],
    baseline: tuple[str, str] = ("model-v1", "v1"),
    candidate: tuple[str, str] = ("model-v2", "v2"),
    route: str | None = "model",
    analysis: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A ModelRollout; with ``route`` None it uses the replicas router."""
    traffic: dict[str, Any] = (
        {"gatewayAPI": {"httpRoute": route, "baselineBackend": baseline[0], "candidateBackend": candidate[0]}}
        if route
        else {"replicas": {}}
    )
    body: dict[str, Any] = {
        "baseline": {"deployment": baseline[0], "version": baseline[1]},
        "candidate": {"deployment": candidate[0], "version": candidate[1]},
        "traffic": traffic,
        "steps": steps,
        "scaleDown": {"delay": "2s", "drain": "1s"},
        "progressDeadline": "2m",
    }
    if analysis is not None:
        body["analysis"] = analysis
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": body}
