#!/usr/bin/env bash
# The quick start on kind, for people with Docker: a kind cluster, the controller image and the
# example model server's image loaded into it, the Helm chart, the Gateway API CRDs, and
# examples/kind (an in-cluster Prometheus, the model server as baseline and candidate, a load
# generator and a first ModelRollout). Then it watches the rollout.
#
# NOT RUN BY CI: the project's machines run no Docker engine, so kind cannot start there. The
# script is kept thin on purpose: every piece it installs is exercised on the test bed — the chart
# with these values (tests/integration/test_helm_chart.py), the image built from the same
# Dockerfile and run through a rollout (tests/integration/test_deploy_controller.py), and
# examples/kind applied to a real API server and linted (tests/integration/test_kind_quickstart.py).
#
# Needs: docker, kind, kubectl, helm (3 or 4) on PATH, and internet access for the base images,
# busybox, Prometheus and the Gateway API CRDs. Environment: CLUSTER (default model-rollouts).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER=${CLUSTER:-model-rollouts}
GATEWAY_API=$(sed -n 's/^GATEWAY_API = "\(v[^"]*\)"$/\1/p' "$ROOT/rollouts/testbed/versions.py")
say() { printf '[kind] %s\n' "$*" >&2; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || { say "error: $tool is not on PATH"; exit 1; }
done

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "cluster $CLUSTER exists: reusing it"
else
  kind create cluster --name "$CLUSTER"
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

say "building the controller and model-server images"
docker build --build-arg "COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  -t model-rollouts:dev "$ROOT"
docker build -f "$ROOT/examples/model-server/Dockerfile" -t fraud-scorer:dev "$ROOT"
kind load docker-image --name "$CLUSTER" model-rollouts:dev fraud-scorer:dev

say "Gateway API $GATEWAY_API CRDs (standard channel)"
kubectl apply --server-side -f \
  "https://github.com/kubernetes-sigs/gateway-api/releases/download/$GATEWAY_API/standard-install.yaml"

say "the chart"
helm upgrade --install model-rollouts "$ROOT/deploy/helm/model-rollouts" \
  --namespace model-rollouts --create-namespace \
  --set image.repository=model-rollouts --set image.tag=dev --set image.pullPolicy=Never \
  --set replicaCount=1 --wait

say "Prometheus, the model servers, load and the first rollout (examples/kind)"
kubectl apply -k "$ROOT/examples/kind"

cat >&2 <<'NEXT'
[kind] done. Watch the rollout (Ctrl-C stops watching, not the rollout):
  kubectl get modelrollout fraud-scorer -n ml -w
  rollouts get fraud-scorer -n ml -w          # with the CLI: pip install -e . (or make dev)
Prometheus:  kubectl -n monitoring port-forward svc/prometheus 9090
Clean up:    kind delete cluster --name model-rollouts
NEXT
