#!/usr/bin/env bash
# The fast suite (unit and property tests, CRD checks, captured and plausible answers; no
# apiserver) with the clock a year ahead, so that no test passes only on the day it was written
# (a test that fixes a vendor date and compares it with the real now breaks silently weeks later).
# libfaketime moves the wall clock only: timers and timeouts (the monotonic clock) stay real.
#
#   scripts/test-clock-ahead.sh            # a year ahead
#   scripts/test-clock-ahead.sh +3650d     # or any faketime offset
set -euo pipefail
cd "$(dirname "$0")/.."
offset=${1:-+365d}
command -v faketime >/dev/null 2>&1 || scripts/test-env.sh apt faketime
export FAKETIME_DONT_FAKE_MONOTONIC=1
# faketime must really move the clock here, or this check proves nothing.
[ "$(faketime -f "$offset" date +%s)" -gt "$(( $(date +%s) + 86400 ))" ] || { echo "faketime does not move the clock" >&2; exit 1; }
# The binaries are built and listed first, with the real clock: cargo itself is not run under
# libfaketime (the rustup proxy hangs there). Each test binary then runs under it directly.
cargo nextest run --profile fast --no-run
bins=$(cargo nextest list --profile fast --message-format json | python3 -c '
import json, sys
suites = json.load(sys.stdin)["rust-suites"].values()
for s in suites:
    if any(t["filter-match"]["status"] == "matches" for t in s["testcases"].values()):
        print(s["binary-path"])
')
failed=0
for bin in $bins; do
  echo "== $(basename "$bin") (clock $offset)"
  faketime -f "$offset" "$bin" --test-threads "$(nproc)" -q || failed=1
done
exit $failed
