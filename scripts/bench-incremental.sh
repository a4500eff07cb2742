#!/usr/bin/env bash
# Requests per run for a 10,000-resident, 10-property Buildium building (BENCHMARKS.md):
# `cargo bench --bench incremental` in a fresh test environment (it needs scim2-server).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/test-env.sh run cargo bench --bench incremental
