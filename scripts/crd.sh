#!/usr/bin/env bash
# Writes the CRD's two committed copies from `pms-sync crd`: `crds/pmsintegration.yaml` (for
# `kubectl apply`) and `charts/pms-sync/files/pmsintegration.yaml` (the chart's). `tests/crd.rs`
# fails when either differs from what the code generates.
set -euo pipefail
cd "$(dirname "$0")/.."
crd=$(cargo run -q -- crd)
for copy in crds/pmsintegration.yaml charts/pms-sync/files/pmsintegration.yaml; do
  printf '%s\n' "$crd" > "$copy"
done
echo "wrote crds/pmsintegration.yaml and charts/pms-sync/files/pmsintegration.yaml"
