#!/usr/bin/env bash
# Controller memory with many unrelated Secrets in the cluster (BENCHMARKS.md, "Secrets"):
# Secrets are watched as metadata only, so the controller's resident memory must not grow with
# their data.
#
#   scripts/bench-secrets.sh [COUNT] [KIB]      # default 5000 Secrets of 100 KiB
#
# Starts its own apiserver + etcd (scripts/test-env.sh), runs the release binary watching every
# namespace, and prints its RSS before and after the Secrets exist. Everything on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-5000}"
kib="${2:-100}"
scripts/test-env.sh install >/dev/null
dir=$(mktemp -d "${TMPDIR:-/tmp}/pms-sync-bench.XXXXXX")
controller=""
cleanup() { [ -n "$controller" ] && kill "$controller" 2>/dev/null; scripts/test-env.sh stop "$dir" >/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
scripts/test-env.sh start "$dir" >/dev/null
cargo build --release --quiet --bin pms-sync
server=$(grep -m1 'server:' "$dir/kubeconfig" | awk '{print $2}')
token=$(grep -m1 'token:' "$dir/kubeconfig" | awk '{print $2}')
api() { curl -sS --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }

target/release/pms-sync crd >"$dir/crd.yaml"
KUBECONFIG="$dir/kubeconfig" kubectl apply -f "$dir/crd.yaml" >/dev/null 2>&1 || \
  api -X POST "$server/apis/apiextensions.k8s.io/v1/customresourcedefinitions" \
    --data-binary "$(python3 -c 'import sys,yaml,json;print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$dir/crd.yaml")" >/dev/null
api -X POST "$server/api/v1/namespaces" -d '{"metadata":{"name":"bench-secrets"}}' >/dev/null

KUBECONFIG="$dir/kubeconfig" target/release/pms-sync controller --metrics-addr 127.0.0.1:0 --log-format text \
  --state-namespace default >"$dir/controller.log" 2>&1 &
controller=$!
rss() { awk '/VmRSS/ {print $2}' "/proc/$controller/status"; }
sleep 5
before=$(rss)

payload=$(head -c $((kib * 1024 * 3 / 4)) /dev/urandom | base64 -w0)
body() { printf '{"metadata":{"name":"s-%s"},"data":{"blob":"%s"}}' "$1" "$payload"; }
export -f body api
export payload server token dir
start=$(date +%s)
seq 1 "$count" | xargs -P 8 -I{} bash -c 'body {} | api -X POST "$server/api/v1/namespaces/bench-secrets/secrets" --data-binary @- -o /dev/null'
created=$(( $(date +%s) - start ))
sleep 15
after=$(rss)
listed=$(api "$server/api/v1/namespaces/bench-secrets/secrets?limit=1" | python3 -c 'import sys,json;d=json.load(sys.stdin);print(d["metadata"].get("remainingItemCount",0)+len(d["items"]))')
echo "secrets: $listed of ${kib} KiB (created in ${created}s, $((listed * kib / 1024)) MiB of Secret data in the cluster)"
echo "controller RSS: ${before} KiB before, ${after} KiB after ($(( (after - before) / 1024 )) MiB difference)"
