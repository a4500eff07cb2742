#!/usr/bin/env bash
# Builds the container image offline (no registry, no daemon), and unpacks it for the tests.
#
#   scripts/image.sh build            # static binary + CA bundle → target/image/, then buildah bud
#   scripts/image.sh context          # only stage target/image/ (for `docker build -f Dockerfile target/image`)
#   scripts/image.sh export DIR       # DIR/rootfs: the image's files; DIR/config.json: buildah inspect
#
# IMAGE (default: the chart's image, ghcr.io/pms-sync/pms-sync:<appVersion>) names the image. Needs root for buildah's vfs
# storage and chroot isolation (`--storage-driver vfs --isolation chroot` work without a daemon).
set -euo pipefail
cd "$(dirname "$0")/.."

# The chart's default image reference (values.yaml's repository, Chart.yaml's appVersion): what
# this builds is what the chart installs once pushed.
REPOSITORY=$(sed -n 's/^  repository: *\([^ ]*\).*/\1/p' charts/pms-sync/values.yaml | head -1)
APP_VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' charts/pms-sync/Chart.yaml)
IMAGE="${IMAGE:-$REPOSITORY:$APP_VERSION}"
TARGET=x86_64-unknown-linux-gnu
BUILDAH=(buildah --storage-driver vfs)

log() { printf '[image] %s\n' "$*" >&2; }

# The static binary: glibc's crt-static (no loader, no NSS modules: names resolve through
# reqwest's hickory resolver, TLS is rustls), in the release profile, stripped. getrandom asks the
# kernel directly (its default looks the libc function up with dlsym, which a static binary cannot,
# and falls back to /dev/random: the binary would need device files).
context() {
  scripts/test-env.sh apt ca-certificates
  log "cargo build --release --target $TARGET (crt-static)"
  RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --target "$TARGET" --bin pms-sync
  mkdir -p target/image
  cp "target/$TARGET/release/pms-sync" target/image/pms-sync
  cp /etc/ssl/certs/ca-certificates.crt target/image/ca-certificates.crt
}

build() {
  context
  scripts/test-env.sh apt buildah
  log "buildah bud -t $IMAGE"
  "${BUILDAH[@]}" bud --quiet --isolation chroot --layers=false -f Dockerfile -t "$IMAGE" target/image >/dev/null
  log "built $IMAGE"
}

export_image() {
  local dir=$1
  rm -rf "$dir/rootfs" && mkdir -p "$dir/rootfs"
  "${BUILDAH[@]}" inspect --type image "$IMAGE" > "$dir/config.json"
  local container mount
  container=$("${BUILDAH[@]}" from --quiet --pull=never "$IMAGE")
  mount=$("${BUILDAH[@]}" mount "$container")
  cp -a "$mount/." "$dir/rootfs/"
  "${BUILDAH[@]}" umount "$container" >/dev/null
  "${BUILDAH[@]}" rm "$container" >/dev/null
  log "exported $IMAGE to $dir"
}

case "${1:-}" in
  build) build ;;
  context) context ;;
  export) [ $# -eq 2 ] || { echo "usage: $0 export DIR" >&2; exit 2; }; export_image "$2" ;;
  *) echo "usage: $0 build | context | export DIR" >&2; exit 2 ;;
esac
