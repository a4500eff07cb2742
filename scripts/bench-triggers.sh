#!/usr/bin/env bash
# Trigger latency (BENCHMARKS.md): starts the test environment, runs `cargo bench --bench triggers`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-env.sh install
dir=$(mktemp -d "${TMPDIR:-/tmp}/pms-sync-bench.XXXXXX")
cleanup() { scripts/test-env.sh stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT
scripts/test-env.sh start "$dir"
export PMS_SYNC_TEST_KUBECONFIG="$dir/kubeconfig"
eval "$(scripts/test-env.sh paths)"
export PMS_SYNC_SCIM_SERVER="$SCIM_SERVER"
cargo bench --bench triggers
