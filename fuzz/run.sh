#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and exits non-zero if any finds a crash.
#
#   fuzz/run.sh [SECONDS]        default 60 s per target
#   FUZZ_TARGETS="node_inputs wire_decode" fuzz/run.sh 300
#   FUZZ_SANITIZER=address fuzz/run.sh   (default: none; the core forbids unsafe code)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain RUSTC_BOOTSTRAP=1
# unlocks the -Z flags cargo-fuzz passes to rustc. One libFuzzer process at a time, so one
# core. Crashing inputs land in fuzz/artifacts/<target>/; the corpus grows in
# fuzz/corpus/<target>/.
set -uo pipefail

secs="${1:-60}"
cd "$(dirname "$0")" || exit 2
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-none}"
targets=(wire_decode serf_wire node_inputs push_pull_merge rpc_request snapshot_reader)
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
fi

cargo fuzz build -O -s "$sanitizer" || exit 2

failed=()
for t in "${targets[@]}"; do
    echo "=== $t: ${secs}s"
    mkdir -p "corpus/$t"
    if ! cargo fuzz run -O -s "$sanitizer" "$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1; then
        failed+=("$t")
        echo "!!! $t: finding; input in fuzz/artifacts/$t/"
    fi
done

if ((${#failed[@]})); then
    echo "findings in: ${failed[*]}"
    exit 1
fi
echo "no findings (${secs}s per target)"
