#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz / libFuzzer) of every parser that reads vendor bytes.
#
#   scripts/fuzz.sh                 # every target, 600 s each (the figure in FUZZING.md)
#   scripts/fuzz.sh 60 yardi door   # 60 s each, these targets only
#
# Installs cargo-fuzz if missing; the stable toolchain runs it with RUSTC_BOOTSTRAP=1. Seeds come
# from pms_sync::fuzzing::seeds (built-in shapes and ../shared/vendor-samples); crashes land in
# fuzz/artifacts/<target>/. Prints one summary line per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(buildium entrata appfolio yardi realpage rentmanager resman mri scim door token identity_map)
fi
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
shared="$(cd .. && pwd)/shared"
(cd fuzz && cargo run --quiet --release --bin seeds -- "$shared" corpus)
for target in "${targets[@]}"; do
  log="fuzz/${target}.log"
  # -rss_limit_mb: a parser that allocates without bound fails the run; -timeout: one input may
  # not take a second.
  if cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=1 -max_len=262144 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
  fi
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  echo "$target: $result, ${runs:-?} executions in ${seconds}s, ${cov:-cov: ?} (log: $log)"
done
