#!/usr/bin/env bash
# The load bed (BENCHMARKS.md "Scale", benches/load.rs): N integrations in M namespaces against
# Buildium fakes on H vendor hosts and a SCIM destination, run by the release controller binary as
# its own process on a fresh apiserver + etcd, measured from outside (/proc, the apiserver's own
# metrics, the fakes' counters).
#
#   scripts/load-bed.sh                                   # 1,000 integrations × 100 residents
#   scripts/load-bed.sh --integrations 200 --residents 50 --hosts 2 --idle-seconds 60
#   scripts/load-bed.sh --mode building --residents 10000 # one 10,000-resident building
#   scripts/load-bed.sh ... --controller --concurrency 8  # controller flags go last
#
# Options: --integrations N (1000) --namespaces M (10) --residents R (100) --hosts H (4)
# --idle-seconds S (120) --scim fast|scim2-server (fast) --mode fleet|building (fleet).
# A small version runs in CI: tests/e2e_load.rs (50 integrations, scim2-server).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/test-env.sh run cargo bench --bench load -- "$@"
