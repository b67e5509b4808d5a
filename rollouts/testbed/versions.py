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

KEDA = "v2.21.1"
"""KEDA's CRDs (github.com/kedacore/keda/v2): the ScaledObject CRD only, read from the Go module
cache; the KEDA operator is not run (docs/autoscalers.md says what that leaves out)."""

KSERVE = "v0.20.0"
"""KServe's CRDs (github.com/kserve/kserve): the InferenceService CRD only, read from the Go module
cache; KServe's controller and Knative are not run (docs/kserve.md says why and what the tests
stand in for)."""

ISTIO = "v1.32.0"
"""Istio's networking CRDs (istio.io/api): VirtualService and DestinationRule only, read from the
Go module zip; istiod and Envoy are not run (the load generator applies the VirtualService)."""

HELM = "v4.3.2"
"""helm (helm.sh/helm/v4), for the chart tests; the chart itself also works with Helm 3."""

PROMETHEUS_3 = "v0.316.0"
"""Prometheus 3.x (github.com/prometheus/prometheus; Go module v0.316.0 is release 3.16.0):
prometheus and promtool, so the provider is tested against 3.x as well as Debian's 2.x."""

HELM_3 = "v3.21.4"
"""helm 3 (helm.sh/helm/v3): the chart's tests render and install with it too (Helm 3 and 4)."""
