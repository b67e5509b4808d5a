#!/usr/bin/env bash
# Build the controller image from the Dockerfile with buildah (no Docker engine here), and print
# its name and size.
#
#   hack/image/build.sh                     # base: a local Debian root file system (below)
#   BASE=python:3.11-slim hack/image/build.sh   # base: the public one, as users build it
#
# Why a local base: the project's machines reach no container registry, so `FROM
# python:3.11-slim` cannot be pulled. Unless BASE is set, this builds a Debian bookworm root file
# system with python3 and its venv module from Debian's packages (mmdebstrap), caches it as a tar
# outside the repository, and imports it into buildah's storage. This machine's CA bundle goes
# into that local base (with PIP_CERT pointing at it), because the network here may inspect TLS
# with its own CA and pip in the build must reach PyPI through it; the public base is untouched.
#
# Output (stdout, one line): "<image> <size>", the size as buildah reports it (uncompressed). Environment: IMAGE (name to tag,
# default localhost/model-rollouts:<version>), COMMIT (default: git HEAD).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE="${MODEL_ROLLOUTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/model-rollouts}/image"
SUITE=bookworm
LOCAL_BASE="localhost/model-rollouts-base:$SUITE"
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml")
IMAGE=${IMAGE:-localhost/model-rollouts:$VERSION}
COMMIT=${COMMIT:-$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
START=$SECONDS

say() { printf '[image] %s\n' "$*" >&2; }
die() {
  printf '[image] error: %s\n' "$*" >&2
  exit 1
}

for tool in buildah mmdebstrap; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian package '$tool'; make system installs it)"
done

local_base() {
  if buildah inspect --type image "$LOCAL_BASE" >/dev/null 2>&1; then
    return
  fi
  local tar="$CACHE/$SUITE-python3.tar"
  if [ ! -f "$tar" ]; then
    mkdir -p "$CACHE"
    say "building a $SUITE root file system with python3 (mmdebstrap) into $tar"
    # Documentation, manuals and translations are left out: nothing in the image reads them.
    mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      "$SUITE" "$tar.partial" >&2
    mv "$tar.partial" "$tar"
  fi
  say "importing $tar as $LOCAL_BASE"
  local container
  container=$(buildah from scratch)
  buildah add "$container" "$tar" / >/dev/null
  buildah copy "$container" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt "$container"
  buildah commit --quiet "$container" "$LOCAL_BASE" >/dev/null
  buildah rm "$container" >/dev/null
}

if [ -z "${BASE:-}" ]; then
  local_base
  BASE=$LOCAL_BASE
fi
say "building $IMAGE on $BASE (commit $COMMIT)"
buildah bud --isolation chroot --layers=false --build-arg "BASE=$BASE" --build-arg "COMMIT=$COMMIT" \
  --tag "$IMAGE" "$ROOT" >&2
SIZE=$(buildah images --noheading --format '{{.Size}}' "$IMAGE")
say "built $IMAGE in $((SECONDS - START)) s"
printf '%s %s\n' "$IMAGE" "$SIZE"
