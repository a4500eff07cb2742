#!/usr/bin/env bash
# Brings the whole thing up locally and shows residents syncing:
#   a real kube-apiserver + etcd, scim2-server (the access-control destination), the sandbox
#   (a Buildium-compatible API with sample residents and a DOOR-compatible partner API), the
#   controller, examples/buildium-scim.yaml and examples/sandbox/buildium-door.yaml.
#
#   scripts/demo.sh up      # start everything (state and logs in .local/)
#   scripts/demo.sh users   # show the users in the SCIM server and in the DOOR sandbox
#   scripts/demo.sh down    # stop everything
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="$PWD/.local"
SCIM_PORT=18091
SANDBOX_PORT=18090
METRICS_PORT=18092
DOOR_PORT=18093
RECEIVER_PORT=18094
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

door_users() {
  local token
  token=$(curl -fsS -H 'content-type: application/json' "http://127.0.0.1:$DOOR_PORT/v1/oauth/token" \
    -d '{"grant_type":"client_credentials","client_id":"door-sandbox-client","client_secret":"door-sandbox-secret-Pq93","audience":"https://rest.latchaccess.com/access/sdk"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$DOOR_PORT/v1/users?pageSize=100" | python3 -c "$(cat <<'PY'
import json, sys
users = json.load(sys.stdin).get("users", [])
print("%-26s %-24s %-38s %-22s %s" % ("email", "name", "door or key", "start", "end"))
for u in sorted(users, key=lambda u: u.get("email", "")):
    name = (u.get("firstName", "") + " " + u.get("lastName", "")).strip()
    for a in u.get("accesses", []) or [{}]:
        print("%-26s %-24s %-38s %-22s %s" % (u.get("email", ""), name, a.get("doorUuid", "(none)"),
              a.get("startTime", ""), "" if (a.get("endTime") or "")[:4] >= "2200" else a.get("endTime")))
PY
)"
}

up() {
  mkdir -p "$STATE"
  say "Installing the test components (first run builds kube-apiserver: a few minutes)"
  scripts/test-env.sh install
  eval "$(scripts/test-env.sh paths)"
  say "Building pms-sync"
  cargo build --workspace --bins
  down >/dev/null 2>&1 || true
  mkdir -p "$STATE"

  say "Starting kube-apiserver + etcd on loopback"
  scripts/test-env.sh start "$STATE/cluster"
  export KUBECONFIG="$STATE/cluster/kubeconfig"
  local kubectl; kubectl=$(kubectl_bin)

  say "Starting scim2-server on :$SCIM_PORT and the sandbox (Buildium :$SANDBOX_PORT, DOOR :$DOOR_PORT)"
  cp examples/sandbox/residents.yaml "$STATE/residents.yaml"
  start_bg scim "$SCIM_SERVER" --hostname 127.0.0.1 --port "$SCIM_PORT" --bearer-token "$SCIM_TOKEN"
  start_bg sandbox target/debug/pms-sync-sandbox --data "$STATE/residents.yaml" --addr "127.0.0.1:$SANDBOX_PORT" \
    --door-addr "127.0.0.1:$DOOR_PORT"

  say "Installing the CRD and the example integration"
  "$kubectl" apply -f crds/pmsintegration.yaml
  "$kubectl" wait --for=condition=Established crd/pmsintegrations.pmssync.io --timeout=60s
  "$kubectl" create namespace acme
  "$kubectl" apply -f examples/buildium-scim.yaml
  "$kubectl" apply -f examples/sandbox/buildium-door.yaml

  say "Starting the controller (logs: .local/controller.log)"
  start_bg controller env METRICS_ADDR="127.0.0.1:$METRICS_PORT" RECEIVER_ADDR="127.0.0.1:$RECEIVER_PORT" \
    target/debug/pms-sync controller
  "$kubectl" -n acme wait pmsi/harbor-view pmsi/harbor-view-door --for=condition=Ready --timeout=120s
  "$kubectl" -n acme get pmsi -o wide
  say "Users in the SCIM server"
  users
  say "Users and grants in the DOOR sandbox (harbor-view-door: property 1001)"
  door_users

  cat <<MSG

Everything is running. Try it:
  export KUBECONFIG=$KUBECONFIG
  \$EDITOR .local/residents.yaml          # e.g. set a tenant's status to MovedOut
  kubectl -n acme annotate pmsi harbor-view harbor-view-door reconcile.pmssync.io/requestedAt="\$(date +%s)" --overwrite
  kubectl -n acme get pmsi harbor-view -o jsonpath='{.status.summary}'; echo
  kubectl -n default get cm acme.harbor-view-door-door-identities -o yaml   # the controller's DOOR identity map (its own namespace): IDs only
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
  users) users; echo; door_users ;;
  down) down ;;
  *) echo "usage: $0 up | users | down" >&2; exit 2 ;;
esac
