#!/usr/bin/env bash
# System packages the tests and the demo need: Prometheus (Debian package, for promtool too),
# buildah and mmdebstrap (the controller image is built and run in the tests: hack/image/build.sh),
# Go for the test bed build, and a Python venv module. Idempotent; needs root or sudo only when
# something is missing.
set -euo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-system: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the packaged Prometheus as a service where systemd runs; tests start their own.
fi
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || {
  echo "setup-system: Go >= 1.26 is needed to build the test bed (or set KUBEBUILDER_ASSETS)" >&2
  exit 1
}
