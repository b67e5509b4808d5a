"""The local Kubernetes test bed: a real control plane with fake nodes, built from source.

Start one with :class:`LocalCluster` (``with LocalCluster() as cluster: ...``), nodes and their
GPUs as :class:`NodeSpec`; install the ModelRollout and Gateway API CRDs with
:func:`install_crds`. The binaries come from the cache that ``make testbed``
(hack/testbed/build.sh) fills; docs/testbed.md has the details and the measured costs.
"""

from __future__ import annotations

from rollouts.testbed.binaries import Binaries, MissingBinariesError, cache_root, find_binaries, find_helm
from rollouts.testbed.cluster import (
    DEFAULT_NODES,
    FLEET_CONTROLLER_MANAGER_ARGS,
    GPU,
    ClusterConfig,
    LocalCluster,
    NodeSpec,
    TestbedError,
    node_is_ready,
)
from rollouts.testbed.crds import install_crds
from rollouts.testbed.leftovers import find_leftovers, stop_leftovers
from rollouts.testbed.state import STATE_DIR_VARIABLE, state_root

__all__ = [
    "DEFAULT_NODES",
    "FLEET_CONTROLLER_MANAGER_ARGS",
    "GPU",
    "STATE_DIR_VARIABLE",
    "Binaries",
    "ClusterConfig",
    "LocalCluster",
    "MissingBinariesError",
    "NodeSpec",
    "TestbedError",
    "cache_root",
    "find_binaries",
    "find_helm",
    "find_leftovers",
    "install_crds",
    "node_is_ready",
    "state_root",
    "stop_leftovers",
]
