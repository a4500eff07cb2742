#!/usr/bin/env bash
# Trigger latency (BENCHMARKS.md): `cargo bench --bench triggers` in a fresh test environment.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/test-env.sh run cargo bench --bench triggers
