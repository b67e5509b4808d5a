#!/usr/bin/env bash
# Roll a new model version out and wait for the outcome: what a CI job runs once it has applied
# the new version's Deployment (and Service). Exits with `rollouts wait`'s code:
#   0 promoted, 1 rolled back / failed / aborted, 2 timed out, 3 spec or access error.
#
#   usage: rollout.sh NAMESPACE ROLLOUT DEPLOYMENT VERSION [SERVICE]
#   e.g.   rollout.sh ml fraud-scorer fraud-scorer-2026-11-20 2026-11-20
#
# SERVICE is the new version's Service, the candidate backendRef of the Gateway API router
# (default: DEPLOYMENT); the HTTPRoute's rule must already list it, with weight 0. The wait
# gives up after $ROLLOUT_TIMEOUT (default 2h). Needs kubectl and rollouts on PATH and a
# kubeconfig bound to model-rollouts-ci that may also scale DEPLOYMENT and patch the HTTPRoute
# (deploy/rbac/README.md).
set -euo pipefail
namespace=$1 rollout=$2 deployment=$3 version=$4 service=${5:-$3}
timeout=${ROLLOUT_TIMEOUT:-2h}

field() { kubectl -n "$namespace" get modelrollout "$rollout" -o "jsonpath=$1"; }
last_deployment=$(field '{.spec.candidate.deployment}')
last_version=$(field '{.spec.candidate.version}')
last_result=$(field '{.status.outcome.result}')
last_backend=$(field '{.spec.traffic.gatewayAPI.candidateBackend}')

# One merge patch of what is rolled out; the controller starts a rollout when the candidate
# changes. After a promotion the last candidate is the stable version: it becomes the baseline,
# and with the Gateway API router its Service becomes the baseline backend.
patch="\"candidate\": {\"deployment\": \"$deployment\", \"version\": \"$version\"}"
if [ "$last_result" = Succeeded ] && [ "$last_version" != "$version" ]; then
  patch+=", \"baseline\": {\"deployment\": \"$last_deployment\", \"version\": \"$last_version\"}"
  if [ -n "$last_backend" ]; then
    patch+=", \"traffic\": {\"gatewayAPI\": {\"baselineBackend\": \"$last_backend\", \"candidateBackend\": \"$service\"}}"
  fi
fi
kubectl -n "$namespace" patch modelrollout "$rollout" --type merge -p "{\"spec\": {$patch}}"

set +e
rollouts wait "$rollout" -n "$namespace" --for succeeded --timeout "$timeout"
code=$?
set -e
case $code in
  0) echo "promoted $version" ;;
  1) echo "the rollout of $version did not succeed; the reasons are above" ;;
  2) echo "timed out after $timeout; the rollout goes on (rollouts get $rollout -n $namespace)" ;;
  *) echo "could not follow the rollout: the error is above" ;;
esac >&2
exit "$code"
