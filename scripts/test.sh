#!/usr/bin/env bash
# Runs every test: unit and property tests, the CRD drift check, and the end-to-end tests against a
# real kube-apiserver + etcd on loopback and real scim2-server processes, and the container image
# (built here with scripts/image.sh, offline; needs root, as buildah and chroot do).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh e2e_            # nextest filter: only tests whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."

# The environment first (scripts/test-env.sh run), then this script again inside it.
if [ -z "${PMS_SYNC_TEST_ENV:-}" ]; then
  exec scripts/test-env.sh run scripts/test.sh "$@"
fi

# The container image, built offline and unpacked for tests/e2e_image.rs (which runs its binary).
scripts/image.sh build
scripts/image.sh export "$PMS_SYNC_TEST_ENV/image"
export PMS_SYNC_IMAGE_ROOTFS="$PMS_SYNC_TEST_ENV/image/rootfs" PMS_SYNC_IMAGE_CONFIG="$PMS_SYNC_TEST_ENV/image/config.json"

# The whole run also checks that no fast test depends on the day it runs: the fast suite with the
# clock a year ahead (seconds once built; the run below reuses what it builds).
if [ $# -eq 0 ]; then
  scripts/test-clock-ahead.sh +365d
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
