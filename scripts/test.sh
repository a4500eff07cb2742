#!/usr/bin/env bash
# Runs every test: unit and property tests, the CRD drift check, and the end-to-end tests against a
# real kube-apiserver + etcd on loopback and real scim2-server processes, and the container image
# (built here with scripts/image.sh, offline; needs root, as buildah and chroot do).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh e2e_            # nextest filter: only tests whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-env.sh install
dir=$(mktemp -d "${TMPDIR:-/tmp}/pms-sync-test.XXXXXX")
cleanup() { scripts/test-env.sh stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT
scripts/test-env.sh start "$dir"

export PMS_SYNC_TEST_KUBECONFIG="$dir/kubeconfig"
eval "$(scripts/test-env.sh paths)"
export PMS_SYNC_SCIM_SERVER="$SCIM_SERVER"
export PMS_SYNC_HELM_PYTHON="$HELM_PYTHON"
export PMS_SYNC_PRISM="$PRISM"

# The container image, built offline and unpacked for tests/e2e_image.rs (which runs its binary).
scripts/image.sh build
scripts/image.sh export "$dir/image"
export PMS_SYNC_IMAGE_ROOTFS="$dir/image/rootfs" PMS_SYNC_IMAGE_CONFIG="$dir/image/config.json"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
