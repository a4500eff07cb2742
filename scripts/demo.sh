#!/usr/bin/env bash
# Brings the whole thing up locally and shows residents syncing:
#   a real kube-apiserver + etcd, scim2-server (the access-control destination), the Buildium
#   sandbox with sample residents, the controller, and examples/buildium-scim.yaml.
#
#   scripts/demo.sh up      # start everything (state and logs in .local/)
#   scripts/demo.sh users   # show the users in the SCIM server
#   scripts/demo.sh down    # stop everything
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="$PWD/.local"
SCIM_PORT=18091
SANDBOX_PORT=18090
METRICS_PORT=18092
SCIM_TOKEN=demo-scim-token

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

start_bg() { # start_bg NAME CMD...
  local name=$1; shift
  setsid "$@" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

stop_bg() {
  local f="$STATE/$1.pid"
  [ -f "$f" ] || return 0
  kill "$(cat "$f")" 2>/dev/null || true
  rm -f "$f"
}

kubectl_bin() {
  if command -v kubectl >/dev/null 2>&1; then command -v kubectl; else echo "$HOME/.cache/pms-sync/bin/kubectl"; fi
}

users() {
  curl -fsS -H "Authorization: Bearer $SCIM_TOKEN" "http://127.0.0.1:$SCIM_PORT/v2/Users?count=1000" | python3 -c "$(cat <<'PY'
import json, sys
users = json.load(sys.stdin).get("Resources", [])
print("%-34s %-36s %-24s %s" % ("externalId", "userName", "name", "active"))
for u in sorted(users, key=lambda u: u.get("externalId", "")):
    n = u.get("name", {})
    name = (n.get("givenName", "") + " " + n.get("familyName", "")).strip()
    print("%-34s %-36s %-24s %s" % (u.get("externalId", ""), u["userName"], name, u.get("active")))
PY
)"
}

up() {
  mkdir -p "$STATE"
  say "Installing the test components (first run builds kube-apiserver: a few minutes)"
  scripts/test-env.sh install
  eval "$(scripts/test-env.sh paths)"
  say "Building pms-sync"
  cargo build --bins
  down >/dev/null 2>&1 || true
  mkdir -p "$STATE"

  say "Starting kube-apiserver + etcd on loopback"
  scripts/test-env.sh start "$STATE/cluster"
  export KUBECONFIG="$STATE/cluster/kubeconfig"
  local kubectl; kubectl=$(kubectl_bin)

  say "Starting scim2-server on :$SCIM_PORT and the Buildium sandbox on :$SANDBOX_PORT"
  cp examples/sandbox/residents.yaml "$STATE/residents.yaml"
  start_bg scim "$SCIM_SERVER" --hostname 127.0.0.1 --port "$SCIM_PORT" --bearer-token "$SCIM_TOKEN"
  start_bg sandbox target/debug/pms-sync-sandbox --data "$STATE/residents.yaml" --addr "127.0.0.1:$SANDBOX_PORT"

  say "Installing the CRD and the example integration"
  "$kubectl" apply -f crds/pmsintegration.yaml
  "$kubectl" wait --for=condition=Established crd/pmsintegrations.pmssync.io --timeout=60s
  "$kubectl" create namespace acme
  "$kubectl" apply -f examples/buildium-scim.yaml

  say "Starting the controller (logs: .local/controller.log)"
  start_bg controller env METRICS_ADDR="127.0.0.1:$METRICS_PORT" target/debug/pms-sync controller
  "$kubectl" -n acme wait pmsi/harbor-view --for=condition=Ready --timeout=120s
  "$kubectl" -n acme get pmsi -o wide
  say "Users in the SCIM server"
  users

  cat <<MSG

Everything is running. Try it:
  export KUBECONFIG=$KUBECONFIG
  \$EDITOR .local/residents.yaml          # e.g. set a tenant's status to MovedOut
  kubectl -n acme annotate pmsi harbor-view reconcile.pmssync.io/requestedAt="\$(date +%s)" --overwrite
  kubectl -n acme get pmsi harbor-view -o jsonpath='{.status.summary}'; echo
  scripts/demo.sh users
  curl -s 127.0.0.1:$METRICS_PORT/metrics | grep pms_sync_
  scripts/demo.sh down
MSG
}

down() {
  stop_bg controller
  stop_bg sandbox
  stop_bg scim
  [ -d "$STATE/cluster" ] && scripts/test-env.sh stop "$STATE/cluster"
  rm -rf "$STATE"
  echo "stopped"
}

case "${1:-}" in
  up) up ;;
  users) users ;;
  down) down ;;
  *) echo "usage: $0 up | users | down" >&2; exit 2 ;;
esac
