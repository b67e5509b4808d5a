#!/usr/bin/env bash
# Build (or reuse) the local Kubernetes test bed from source: kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl (k8s.io/kubernetes), etcd, kwok and kwok's
# stage configuration, and helm (for the chart tests), into a cache outside the repository keyed
# by component and version:
#
#   ${MODEL_ROLLOUTS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/model-rollouts}/testbed/<component>/<version>/
#
# Why from source: no Docker engine and no binary downloads on the project's machines, but the
# Go module proxy is reachable. Versions are pinned in rollouts/testbed/versions.py, which the
# Python launcher reads too. A component whose directory holds BUILD-INFO is complete and is
# reused; a failed build leaves nothing behind that looks complete.
#
# Existing binaries are honoured and then nothing is built for them: TESTBED_KUBE_APISERVER,
# TESTBED_KUBE_CONTROLLER_MANAGER, TESTBED_KUBE_SCHEDULER, TESTBED_KUBECTL, TESTBED_ETCD,
# TESTBED_KWOK, TESTBED_HELM (paths to executables), then KUBEBUILDER_ASSETS (a folder holding
# any of etcd, kube-apiserver, kubectl, ... as setup-envtest lays them out).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VERSIONS_FILE="$ROOT/rollouts/testbed/versions.py"
CACHE="${MODEL_ROLLOUTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/model-rollouts}/testbed"
export GOTOOLCHAIN=local CGO_ENABLED=0
START=$SECONDS

say() { printf '[testbed] %s\n' "$*" >&2; }
die() {
  printf '[testbed] error: %s\n' "$*" >&2
  exit 1
}

version_of() {
  local value
  value=$(sed -n "s/^$1 = \"\\(v[0-9][^\"]*\\)\"\$/\\1/p" "$VERSIONS_FILE")
  [ -n "$value" ] || die "no '$1 = \"vX.Y.Z\"' line in $VERSIONS_FILE"
  printf '%s' "$value"
}

KUBERNETES=$(version_of KUBERNETES)
ETCD=$(version_of ETCD)
KWOK=$(version_of KWOK)
GATEWAY_API=$(version_of GATEWAY_API)
KEDA=$(version_of KEDA)
KSERVE=$(version_of KSERVE)
ISTIO=$(version_of ISTIO)
HELM=$(version_of HELM)
PROMETHEUS_3=$(version_of PROMETHEUS_3)
HELM_3=$(version_of HELM_3)

# provided NAME: the path of an existing binary the user pointed at, or nothing.
provided() {
  local name=$1 var path
  var="TESTBED_$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')"
  path=${!var:-}
  if [ -n "$path" ]; then
    [ -x "$path" ] || die "$var=$path is not an executable file"
    printf '%s' "$path"
  elif [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$name" ]; then
    printf '%s' "$KUBEBUILDER_ASSETS/$name"
  fi
}

# complete DIR: true when DIR holds a finished build.
complete() { [ -f "$1/BUILD-INFO" ]; }

GO=""
need_go() {
  [ -n "$GO" ] && return 0
  if command -v go >/dev/null 2>&1; then
    GO=$(command -v go)
  elif [ -x /usr/local/go/bin/go ]; then
    GO=/usr/local/go/bin/go
  else
    die "Go >= 1.26 is needed to build the test bed (https://go.dev/dl/ or your package manager);" \
      "or point TESTBED_<COMPONENT> / KUBEBUILDER_ASSETS at existing binaries"
  fi
  say "using $("$GO" version) ($GO)"
}

# run_logged LABEL LOG CMD...: run a long command with its output in LOG and a heartbeat line
# every 20 s, so a cold build that takes minutes is visibly alive; on failure show the log's end.
run_logged() {
  local label=$1 log=$2 pid begin rc
  shift 2
  begin=$SECONDS
  "$@" >"$log" 2>&1 &
  pid=$!
  while ! wait_for "$pid" 20; do
    say "  ... $label: $((SECONDS - begin))s"
  done
  rc=0
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    say "$label failed (exit $rc); last lines of $log:"
    tail -n 40 "$log" >&2
    die "$label failed; full log: $log"
  fi
  say "  $label: done in $((SECONDS - begin))s"
}

# wait_for PID SECONDS: true once PID has exited, false if it still runs after SECONDS.
wait_for() {
  local i
  for ((i = 0; i < $2 * 2; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.5
  done
  ! kill -0 "$1" 2>/dev/null
}

# install_component NAME VERSION FILE...: move built files into the cache atomically.
install_component() {
  local name=$1 version=$2 final tmp
  shift 2
  final="$CACHE/$name/$version"
  tmp="$CACHE/$name/.$version.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cp "$@" "$tmp/"
  printf 'component=%s\nversion=%s\ngo=%s\nbuilt=%s\n' "$name" "$version" \
    "$("$GO" env GOVERSION)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/BUILD-INFO"
  rm -rf "$final"
  mv "$tmp" "$final"
}

# module_field MODULE@VERSION FIELD: one field of `go mod download -json` (downloads if needed).
module_field() {
  local json value
  json=$("$GO" mod download -json "$1" 2>&1) || die "go mod download $1 failed: $json"
  value=$(printf '%s\n' "$json" | sed -n "s/^[[:space:]]*\"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p")
  [ -n "$value" ] || die "go mod download -json $1 printed no $2: $json"
  printf '%s' "$value"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
  say "another test-bed build holds $CACHE/.build.lock; waiting for it"
  flock 9
fi
say "cache: $CACHE"

# ---- kube-apiserver, kube-controller-manager, kube-scheduler, kubectl --------------------------
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
todo=()
for name in "${K8S_COMMANDS[@]}"; do
  path=$(provided "$name")
  if [ -n "$path" ]; then
    say "$name: using $path"
  elif complete "$CACHE/$name/$KUBERNETES"; then
    say "$name $KUBERNETES: cached"
  else
    todo+=("$name")
  fi
done

if [ "${#todo[@]}" -gt 0 ]; then
  need_go
  src="$CACHE/src/kubernetes-$KUBERNETES"
  mkdir -p "$src"
  say "kubernetes $KUBERNETES: resolving k8s.io/kubernetes@$KUBERNETES"
  upstream_gomod=$(module_field "k8s.io/kubernetes@$KUBERNETES" GoMod)
  staging_version="v0.${KUBERNETES#v1.}"
  # The wrapper module: upstream requires its staging modules at v0.0.0 and replaces them with
  # ./staging/..., which only exists in the kubernetes repository; we replace each one with its
  # published version instead. The list comes from the go.mod the proxy serves, never by hand.
  replaces=$(sed -n -E "s#^[[:space:]]*(k8s\\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\\./staging/.*\$#\\t\\1 => \\1 $staging_version#p" "$upstream_gomod")
  [ -n "$replaces" ] || die "found no './staging/' replace in $upstream_gomod; has the layout changed?"
  {
    printf '// Generated by hack/testbed/build.sh from the go.mod of k8s.io/kubernetes@%s.\n' "$KUBERNETES"
    printf 'module modelrollouts.local/testbed/kubernetes\n\n'
    grep -E '^go [0-9]' "$upstream_gomod"
    awk '/^godebug \($/ {block = 1} block || /^godebug / {print} block && /^\)$/ {block = 0}' "$upstream_gomod"
    printf '\nrequire k8s.io/kubernetes %s\n\ntool (\n' "$KUBERNETES"
    for name in "${K8S_COMMANDS[@]}"; do printf '\tk8s.io/kubernetes/cmd/%s\n' "$name"; done
    printf ')\n\nreplace (\n%s\n)\n' "$replaces"
  } >"$src/go.mod.in"
  say "  wrapper module $src: $(printf '%s\n' "$replaces" | wc -l) staging modules replaced by $staging_version"
  if ! cmp -s "$src/go.mod.in" "$src/go.mod.generated" || [ ! -f "$src/go.sum" ]; then
    cp "$src/go.mod.in" "$src/go.mod"
    rm -f "$src/go.sum"
    run_logged "go mod tidy (kubernetes $KUBERNETES)" "$src/tidy.log" \
      bash -c "cd '$src' && '$GO' mod tidy"
    cp "$src/go.mod.in" "$src/go.mod.generated"
  fi
  minor=${KUBERNETES#v1.}
  minor=${minor%%.*}
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
  pkgs=()
  for name in "${todo[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
  out="$src/bin"
  rm -rf "$out"
  mkdir -p "$out"
  say "kubernetes $KUBERNETES: building ${todo[*]} (cold: 10 CPU-minutes, about 6 min on 2 idle cores; 3.7 GB of" \
    "Go build cache; log: $src/build.log)"
  run_logged "go build ${todo[*]}" "$src/build.log" \
    bash -c "cd '$src' && '$GO' build -trimpath -ldflags '$ldflags' -o '$out/' ${pkgs[*]}"
  for name in "${todo[@]}"; do
    reported=$("$out/$name" --version 2>&1 || true)
    [ "$name" = kubectl ] && reported=$("$out/kubectl" version --client 2>&1 || true)
    case "$reported" in
      *"$KUBERNETES"*) ;;
      *) die "$name reports '$reported', expected $KUBERNETES: version ldflags not applied" ;;
    esac
    install_component "$name" "$KUBERNETES" "$out/$name"
    say "$name $KUBERNETES: built"
  done
  rm -rf "$out"
fi

# ---- etcd ---------------------------------------------------------------------------------------
path=$(provided etcd)
if [ -n "$path" ]; then
  say "etcd: using $path"
elif complete "$CACHE/etcd/$ETCD"; then
  say "etcd $ETCD: cached"
else
  need_go
  src="$CACHE/src/etcd-$ETCD"
  rm -rf "$src"
  mkdir -p "$src"
  # etcd's own go.mod replaces its sibling modules with ../api etc., so `go install pkg@version`
  # refuses it; a wrapper module that requires the server module builds it with plain go build.
  printf 'module modelrollouts.local/testbed/etcd\n\ngo %s\n' "$("$GO" env GOVERSION | sed 's/^go//')" >"$src/go.mod"
  run_logged "go get etcd $ETCD" "$src/get.log" \
    bash -c "cd '$src' && '$GO' get -tool 'go.etcd.io/etcd/server/v3@$ETCD'"
  say "etcd $ETCD: building (cold: 1-2 min; log: $src/build.log)"
  run_logged "go build etcd" "$src/build.log" \
    bash -c "cd '$src' && '$GO' build -trimpath -ldflags '-s -w' -o '$src/etcd' go.etcd.io/etcd/server/v3"
  reported=$("$src/etcd" --version 2>&1 || true)
  case "$reported" in
    *"${ETCD#v}"*) ;;
    *) die "etcd reports '$reported', expected $ETCD" ;;
  esac
  install_component etcd "$ETCD" "$src/etcd"
  rm -f "$src/etcd"
  say "etcd $ETCD: built"
fi

# ---- kwok and its stages -------------------------------------------------------------------------
# kwok v0.8 starts with no stages ("no stages found") unless --config names them: we concatenate
# the "fast" set the module ships (kustomize/stage/fast = node/fast + heartbeat-with-lease +
# pod/fast), so nodes become Ready, keep their Lease, and pods become Running and Ready at once.
KWOK_STAGES=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)
path=$(provided kwok)
if [ -n "$path" ]; then
  say "kwok: using $path"
elif complete "$CACHE/kwok/$KWOK"; then
  say "kwok $KWOK: cached"
else
  need_go
  gobin="$CACHE/src/kwok-$KWOK"
  rm -rf "$gobin"
  mkdir -p "$gobin"
  say "kwok $KWOK: building (cold: 1-2 min; log: $gobin/build.log)"
  run_logged "go install kwok $KWOK" "$gobin/build.log" \
    env GOBIN="$gobin" "$GO" install -trimpath -ldflags '-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
  install_component kwok "$KWOK" "$gobin/kwok"
  rm -f "$gobin/kwok"
  say "kwok $KWOK: built"
fi
if complete "$CACHE/kwok-stages/$KWOK"; then
  say "kwok-stages $KWOK: cached"
else
  need_go
  kwok_module=$(module_field "sigs.k8s.io/kwok@$KWOK" Dir)
  stages="$CACHE/src/kwok-stages-$KWOK/stages.yaml"
  mkdir -p "$(dirname "$stages")"
  for stage in "${KWOK_STAGES[@]}"; do
    [ -f "$kwok_module/kustomize/stage/$stage" ] || die "kwok $KWOK has no stage $stage"
    printf -- '---\n# sigs.k8s.io/kwok@%s kustomize/stage/%s\n' "$KWOK" "$stage"
    cat "$kwok_module/kustomize/stage/$stage"
  done >"$stages"
  install_component kwok-stages "$KWOK" "$stages"
  rm -rf "$(dirname "$stages")"
  say "kwok-stages $KWOK: written"
fi

# The chart's, the provider's and the KServe tests need helm 4, helm 3, Prometheus 3 and KServe's
# manager; the demo needs none of them: TESTBED_SKIP_TEST_TOOLS=1 (make demo) skips their builds.
if [ -n "${TESTBED_SKIP_TEST_TOOLS:-}" ]; then
  say "helm, helm3, prometheus3, kserve-manager: skipped (TESTBED_SKIP_TEST_TOOLS; only the tests use them)"
else
# ---- helm 4 and helm 3 ----------------------------------------------------------------------------
# Used by the chart tests only (lint, template, install on the test bed): the chart must work with
# Helm 3 as well as 4. helm's go.mod has no replace directives, so `go install module/cmd@version`
# builds it; its own Makefile stamps the version with -X, without which `helm version` says only
# the minor ("v4.3"). Helm 3 is installed as `helm3`, so the two never shadow each other.
# build_helm NAME MAJOR VERSION COST: helm.sh/helm/vMAJOR into the cache as NAME (TESTBED_<NAME>).
build_helm() {
  local name=$1 major=$2 version=$3 cost=$4 path gobin reported
  path=$(provided "$name")
  if [ -n "$path" ]; then
    say "$name: using $path"
    return
  elif complete "$CACHE/$name/$version"; then
    say "$name $version: cached"
    return
  fi
  need_go
  gobin="$CACHE/src/$name-$version"
  rm -rf "$gobin"
  mkdir -p "$gobin"
  say "$name $version: building (cold: $cost; log: $gobin/build.log)"
  run_logged "go install helm $version" "$gobin/build.log" \
    env GOBIN="$gobin" "$GO" install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v$major/internal/version.version=$version -X helm.sh/helm/v$major/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v$major/cmd/helm@$version"
  [ "$name" = helm ] || mv "$gobin/helm" "$gobin/$name"
  reported=$("$gobin/$name" version --short 2>&1 || true)
  case "$reported" in
    "$version"*) ;;
    *) die "$name reports '$reported', expected $version: version ldflags not applied" ;;
  esac
  install_component "$name" "$version" "$gobin/$name"
  rm -f "$gobin/$name"
  say "$name $version: built"
}
build_helm helm 4 "$HELM" "about 4.5 CPU-minutes and 1.8 GB of Go caches"
build_helm helm3 3 "$HELM_3" "about 2 CPU-minutes with helm 4's build cache"

# ---- Prometheus 3.x and its promtool -------------------------------------------------------------
# The provider's tests run against the system's Prometheus (Debian's 2.x) and this 3.x build. No
# web UI is embedded (the module holds no built assets; the API is all the tests use), and the
# build tags remove_all_sd,enable_kubernetes_sd leave out every service discovery but file, HTTP
# and Kubernetes (Prometheus' plugins/ folder): the cloud SDKs (Azure, AWS, GCE, ...) were most of
# the build; the tests use file_sd, and `promtool check config` of examples/kind needs
# kubernetes_sd (Debian's promtool is built without it). Release
# 3.N.M is Go module v0.3NN.M (3.5.0 is v0.305.0); the release is stamped with -X as Prometheus'
# own Makefile does. TESTBED_PROMETHEUS3_DIR (a folder holding prometheus and promtool) is
# honoured instead of building.
if [ -n "${TESTBED_PROMETHEUS3_DIR:-}" ]; then
  say "prometheus 3: using $TESTBED_PROMETHEUS3_DIR"
elif complete "$CACHE/prometheus3/$PROMETHEUS_3"; then
  say "prometheus3 $PROMETHEUS_3: cached"
else
  need_go
  gobin="$CACHE/src/prometheus3-$PROMETHEUS_3"
  rm -rf "$gobin"
  mkdir -p "$gobin"
  minor=${PROMETHEUS_3#v0.3}
  release="3.$((10#${minor%%.*})).${PROMETHEUS_3##*.}"
  say "prometheus $release ($PROMETHEUS_3): building prometheus and promtool (cold: see docs/testbed.md; log: $gobin/build.log)"
  run_logged "go install prometheus $PROMETHEUS_3" "$gobin/build.log" \
    env GOBIN="$gobin" "$GO" install -trimpath -tags remove_all_sd,enable_kubernetes_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_3" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_3"
  "$gobin/prometheus" --version >/dev/null 2>&1 || die "the prometheus built does not run: $gobin/prometheus --version"
  "$gobin/promtool" --version >/dev/null 2>&1 || die "the promtool built does not run: $gobin/promtool --version"
  install_component prometheus3 "$PROMETHEUS_3" "$gobin/prometheus" "$gobin/promtool"
  rm -f "$gobin/prometheus" "$gobin/promtool"
  say "prometheus3 $PROMETHEUS_3: built"
fi

# ---- KServe's controller (manager), for the KServe tests in raw (Standard) deployment mode --------
# KServe's go.mod has replace directives, so `go install module/cmd@version` refuses it: the
# manager is built inside the unpacked module (read-only; its go.sum is complete). Measured on 2
# busy cores: 4.5 to 13 minutes, about 310 CPU-seconds, 1.3-1.6 GB peak memory (docs/kserve.md). TESTBED_KSERVE_MANAGER (a path to a manager binary) is honoured instead.
path=$(provided kserve-manager)
if [ -n "$path" ]; then
  say "kserve-manager: using $path"
elif complete "$CACHE/kserve-manager/$KSERVE"; then
  say "kserve-manager $KSERVE: cached"
else
  need_go
  kserve_dir=$(module_field "github.com/kserve/kserve@$KSERVE" Dir)
  gobin="$CACHE/src/kserve-manager-$KSERVE"
  rm -rf "$gobin"
  mkdir -p "$gobin"
  say "kserve-manager $KSERVE: building (cold: about 5 CPU-minutes and 1.6 GB of memory; log: $gobin/build.log)"
  run_logged "go build kserve manager $KSERVE" "$gobin/build.log" \
    env -C "$kserve_dir" GOFLAGS=-mod=readonly "$GO" build -trimpath -ldflags "-s -w" \
    -o "$gobin/kserve-manager" ./cmd/manager
  install_component kserve-manager "$KSERVE" "$gobin/kserve-manager"
  rm -f "$gobin/kserve-manager"
  say "kserve-manager $KSERVE: built"
fi
fi

# ---- Gateway API CRDs (read from the module cache by the launcher, never committed) ------------
if [ -z "${TESTBED_SKIP_GATEWAY_API:-}" ]; then
  need_go
  gateway_dir=$(module_field "sigs.k8s.io/gateway-api@$GATEWAY_API" Dir)
  ls "$gateway_dir"/config/crd/standard/*.yaml >/dev/null 2>&1 ||
    die "sigs.k8s.io/gateway-api@$GATEWAY_API has no config/crd/standard/*.yaml"
  say "gateway-api $GATEWAY_API CRDs: in the module cache ($gateway_dir/config/crd/standard)"
fi

# ---- KEDA's ScaledObject CRD (read from the module cache by the launcher; no operator) ----------
if [ -z "${TESTBED_SKIP_KEDA:-}" ]; then
  need_go
  # Its zip only: KEDA's go line is newer than the Go that builds the test bed, so Go downloads
  # and verifies the module but does not unpack it (rollouts.testbed.binaries.go_module_file).
  keda_json=$("$GO" mod download -json "github.com/kedacore/keda/v2@$KEDA" 2>&1) || true
  keda_zip=$(printf '%s\n' "$keda_json" | sed -n 's/^[[:space:]]*"Zip": "\(.*\)",\{0,1\}$/\1/p')
  if [ -z "$keda_zip" ] || [ ! -f "$keda_zip" ]; then
    die "go mod download github.com/kedacore/keda/v2@$KEDA printed no Zip: $keda_json"
  fi
  say "keda $KEDA ScaledObject CRD: in the module cache ($keda_zip)"
fi

# ---- KServe's CRDs (read from the module zip by the launcher) ------------------------------------
if [ -z "${TESTBED_SKIP_KSERVE:-}" ]; then
  need_go
  kserve_zip=$(module_field "github.com/kserve/kserve@$KSERVE" Zip)
  say "kserve $KSERVE CRDs: in the module cache ($kserve_zip)"
fi

# ---- Istio's VirtualService and DestinationRule CRDs (read from the module zip; no istiod) -------
if [ -z "${TESTBED_SKIP_ISTIO:-}" ]; then
  need_go
  istio_zip=$(module_field "istio.io/api@$ISTIO" Zip)
  say "istio $ISTIO VirtualService and DestinationRule CRDs: in the module cache ($istio_zip)"
fi

say "ready in $((SECONDS - START))s; disk: $(du -sh --exclude=src "$CACHE" 2>/dev/null | cut -f1) of binaries in $CACHE"
