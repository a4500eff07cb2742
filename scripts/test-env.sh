#!/usr/bin/env bash
# Provision, start and stop the project's real test environment on loopback:
#   - kube-apiserver 1.20 (built once from Debian's `kubernetes` source package, cached)
#   - etcd (Debian's etcd-server)
#   - scim2-server (PyPI, pinned) in a venv
#   - Prism (npm, pinned): the OpenAPI validator for the DOOR adapter's requests
#
#   scripts/test-env.sh install        # apt/pip/go steps; idempotent; caches the apiserver binary
#   scripts/test-env.sh start DIR      # start etcd + apiserver, write DIR/kubeconfig and DIR/env
#   scripts/test-env.sh stop DIR       # stop what `start DIR` started
#   scripts/test-env.sh run CMD...     # install, start, run CMD with the tests' variables, stop
#   scripts/test-env.sh apt PKG...     # apt-get install what is missing (scripts/image.sh uses it)
#
# Everything listens on 127.0.0.1 only. Ports are chosen free at start time.
set -euo pipefail

CACHE="${PMS_SYNC_CACHE:-$HOME/.cache/pms-sync}"
K8S_VERSION_DIR="$CACHE/kubernetes-1.20"
APISERVER="$CACHE/bin/kube-apiserver"
KUBECTL_BUILT="$CACHE/bin/kubectl"
VENV="$CACHE/venv-scim"
SCIM_VERSION="0.8.3"
HELM_VENV="$CACHE/venv-helm"
PRISM_DIR="$CACHE/prism"
PRISM_VERSION="5.16.0"
HELM_SDKPY_VERSION="0.1.32"

log() { printf '[test-env] %s\n' "$*" >&2; }

need_root_apt() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ ! -f "$CACHE/.apt-updated" ] || [ -n "$(find "$CACHE/.apt-updated" -mmin +720 2>/dev/null)" ]; then
    apt-get update -qq
    mkdir -p "$CACHE" && touch "$CACHE/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# venv_install DIR NAME VERSION [EXTRA PIP ARGS...]: a venv at DIR with NAME==VERSION, kept when present.
venv_install() {
  local dir=$1 name=$2 version=$3; shift 3
  local installed=""
  [ -x "$dir/bin/python" ] && installed=$("$dir/bin/pip" show "$name" 2>/dev/null || true)
  if [[ "$installed" == *"Version: $version"* ]]; then
    return 0
  fi
  log "creating venv with $name==$version"
  python3 -m venv "$dir"
  "$dir/bin/pip" install -q "$name==$version" "$@"
}

install_scim() {
  venv_install "$VENV" scim2-server "$SCIM_VERSION"
}

# helm-sdkpy bundles Helm 4's library (Lint, Install); its metadata asks for a newer Python than
# Debian's, but it works on 3.11. lupa and PyYAML run the Argo CD Lua checks (tests/argocd.rs).
install_helm() {
  venv_install "$HELM_VENV" helm-sdkpy "$HELM_SDKPY_VERSION" --ignore-requires-python cffi lupa==2.8 pyyaml==6.0.3
}

# Prism (npm): the OpenAPI mock that checks the DOOR adapter's requests against the vendor's spec.
install_prism() {
  local manifest="$PRISM_DIR/node_modules/@stoplight/prism-cli/package.json"
  if [ -x "$PRISM_DIR/node_modules/.bin/prism" ] && grep -qs "\"version\": \"$PRISM_VERSION\"" "$manifest"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || need_root_apt nodejs npm
  mkdir -p "$PRISM_DIR"
  log "npm install @stoplight/prism-cli@$PRISM_VERSION"
  (cd "$PRISM_DIR" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
    "@stoplight/prism-cli@$PRISM_VERSION" >/dev/null)
}

build_apiserver() {
  if [ -x "$APISERVER" ]; then return 0; fi
  need_root_apt golang-go rsync jq dpkg-dev make
  mkdir -p "$CACHE/src" "$CACHE/bin"
  if ! grep -rqs '^deb-src .*bookworm' /etc/apt/sources.list /etc/apt/sources.list.d/ && \
     ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/; then
    log "adding a deb-src entry for bookworm"
    cat > /etc/apt/sources.list.d/pms-sync-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq
  fi
  cd "$CACHE/src"
  if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
    log "downloading Debian's kubernetes source package"
    apt-get source --download-only kubernetes >/dev/null
  fi
  if ! ls golang-github-modern-go-reflect2_*.orig.tar.* >/dev/null 2>&1; then
    apt-get source --download-only golang-github-modern-go-reflect2 >/dev/null
  fi
  rm -rf "$K8S_VERSION_DIR" && mkdir -p "$K8S_VERSION_DIR"
  tar -xzf kubernetes_*.orig.tar.gz -C "$K8S_VERSION_DIR" --strip-components=1
  # The vendored reflect2 1.0.1 crashes (SIGSEGV in map iteration) under Go >= 1.18; use 1.0.2.
  local r2="$K8S_VERSION_DIR/vendor/github.com/modern-go/reflect2"
  rm -rf "$r2" && mkdir -p "$r2"
  tar -xf golang-github-modern-go-reflect2_*.orig.tar.* -C "$r2" --strip-components=1
  find "$r2" -name '*_test.go' -delete
  rm -rf "$r2/test" "$r2/tests" "$r2/debian"
  log "building kube-apiserver (a few minutes on 2 cores)"
  (cd "$K8S_VERSION_DIR" && CGO_ENABLED=0 make WHAT=cmd/kube-apiserver >/dev/null)
  cp "$K8S_VERSION_DIR/_output/local/bin/linux/amd64/kube-apiserver" "$APISERVER.tmp"
  mv "$APISERVER.tmp" "$APISERVER"
  if ! command -v kubectl >/dev/null 2>&1; then
    log "building kubectl"
    (cd "$K8S_VERSION_DIR" && CGO_ENABLED=0 make WHAT=cmd/kubectl >/dev/null)
    cp "$K8S_VERSION_DIR/_output/local/bin/linux/amd64/kubectl" "$KUBECTL_BUILT"
  fi
  # The source tree is large; the binaries are all we keep.
  rm -rf "$K8S_VERSION_DIR"
}

cmd_install() {
  need_root_apt etcd-server openssl python3-venv curl faketime
  install_scim
  install_helm
  install_prism
  build_apiserver
  log "installed: $APISERVER, etcd $(etcd --version 2>/dev/null | head -1 | awk '{print $3}'), scim2-server $SCIM_VERSION"
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

wait_for() { # wait_for SECONDS CMD...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.5
  done
}

cmd_start() {
  local dir="${1:?usage: test-env.sh start DIR}"
  mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
  [ -x "$APISERVER" ] || { log "kube-apiserver not installed; run: $0 install"; exit 1; }
  local etcd_port etcd_peer api_port token
  etcd_port=$(free_port); etcd_peer=$(free_port); api_port=$(free_port)
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

  # Certificates: a self-signed CA, a serving cert for 127.0.0.1/localhost, a service-account key.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pms-sync-test-ca" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$dir/apiserver.key" -out "$dir/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' > "$dir/san.ext"
  openssl x509 -req -in "$dir/apiserver.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/san.ext" -out "$dir/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  printf '%s,admin,admin,system:masters\n' "$token" > "$dir/tokens.csv"

  log "starting etcd on 127.0.0.1:$etcd_port"
  setsid etcd --name pms-sync-test --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "pms-sync-test=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync >"$dir/etcd.log" 2>&1 &
  echo $! > "$dir/etcd.pid"

  log "starting kube-apiserver on 127.0.0.1:$api_port"
  setsid "$APISERVER" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$dir/apiserver.crt" --tls-private-key-file "$dir/apiserver.key" \
    --client-ca-file "$dir/ca.crt" --token-auth-file "$dir/tokens.csv" \
    --service-account-key-file "$dir/sa.pub" --service-account-signing-key-file "$dir/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc" \
    --authorization-mode RBAC --service-cluster-ip-range 10.0.0.0/24 \
    --disable-admission-plugins ServiceAccount --allow-privileged=false \
    >"$dir/apiserver.log" 2>&1 &
  echo $! > "$dir/apiserver.pid"

  cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $dir/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: test
  context: {cluster: test, user: admin, namespace: default}
current-context: test
KC
  printf 'KUBECONFIG=%s\n' "$dir/kubeconfig" > "$dir/env"

  if ! wait_for 90 curl -fsS --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz"; then
    log "kube-apiserver did not become ready; last log lines:"; tail -n 30 "$dir/apiserver.log" >&2
    cmd_stop "$dir"; exit 1
  fi
  # The default namespace and RBAC bootstrap are created by post-start hooks; wait for the namespace.
  wait_for 30 curl -fsS --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" \
    "https://127.0.0.1:$api_port/api/v1/namespaces/default" || true
  log "ready: KUBECONFIG=$dir/kubeconfig"
}

# run CMD...: install, start a fresh environment in a temporary directory, run CMD with the
# variables the tests read (and PMS_SYNC_TEST_ENV, that directory), then stop and remove it.
cmd_run() {
  cmd_install
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/pms-sync-test.XXXXXX")
  # shellcheck disable=SC2064 # expand $dir now
  trap "cmd_stop '$dir'; rm -rf '$dir'" EXIT
  cmd_start "$dir"
  export PMS_SYNC_TEST_ENV="$dir" PMS_SYNC_TEST_KUBECONFIG="$dir/kubeconfig" \
    PMS_SYNC_SCIM_SERVER="$VENV/bin/scim2-server" PMS_SYNC_HELM_PYTHON="$HELM_VENV/bin/python" \
    PMS_SYNC_PRISM="$PRISM_DIR/node_modules/.bin/prism"
  "$@"
}

cmd_stop() {
  local dir="${1:?usage: test-env.sh stop DIR}"
  for svc in apiserver etcd; do
    if [ -f "$dir/$svc.pid" ]; then
      local pid; pid=$(cat "$dir/$svc.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$svc.pid"
    fi
  done
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  apt) shift; need_root_apt "$@" ;;
  run) shift; cmd_run "$@" ;;
  paths) printf 'APISERVER=%s\nSCIM_SERVER=%s\nHELM_PYTHON=%s\nPRISM=%s\n' "$APISERVER" "$VENV/bin/scim2-server" \
    "$HELM_VENV/bin/python" "$PRISM_DIR/node_modules/.bin/prism" ;;
  *) echo "usage: $0 install | start DIR | stop DIR | run CMD... | paths | apt PACKAGE..." >&2; exit 2 ;;
esac
