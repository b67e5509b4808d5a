"""The pinned versions of every test-bed component, in one place.

hack/testbed/build.sh reads these lines (``NAME = "vX.Y.Z"``) with sed, so the build and the
launcher cannot disagree about which cache directory holds the binaries; keep the format.
"""

from __future__ import annotations

KUBERNETES = "v1.36.3"
"""kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (k8s.io/kubernetes)."""

ETCD = "v3.6.16"
"""etcd (go.etcd.io/etcd/server/v3)."""

KWOK = "v0.8.0"
"""kwok (sigs.k8s.io/kwok): fake nodes whose pods become Running and Ready."""

GATEWAY_API = "v1.6.3"
"""Gateway API CRDs, standard channel (sigs.k8s.io/gateway-api), read from the Go module cache."""
