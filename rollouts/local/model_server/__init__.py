"""The example model server: a real fraud-scoring model over HTTP, with Prometheus metrics.

It is the workload every end-to-end test and ``rollouts demo`` rolls out: one process per model
version, scraped by a real Prometheus, with switches that make a version fail the ways a
rollout must catch — above all a pod that is Running and passes its probes while it serves the
model from CPU, ~40x slower.

Why it lives in the main package and not under ``examples/model-server/``: tests and the demo
start it with ``python -m rollouts.local.model_server`` from the project's own virtualenv, so
it is installed, type-checked and linted with everything else and needs no second package.
``examples/model-server/`` stays the user-facing example: README, Dockerfile and Kubernetes
manifests that run this same module in a container.

Modules: ``config`` (start-up settings and failure switches), ``model`` (the MLP),
``metrics`` (every metric name, label and bucket), ``server`` (HTTP), ``__main__`` (flags).
"""

from __future__ import annotations

from rollouts.local.model_server.config import CRASH_EXIT_CODE, Device, ServerConfig, Switches

__all__ = ["CRASH_EXIT_CODE", "Device", "ServerConfig", "Switches"]
