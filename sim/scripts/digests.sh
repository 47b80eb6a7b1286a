#!/usr/bin/env bash
# Prints the run digest of every named scenario and of 20 seeds of a mixed-fault run.
#
# A digest hashes every transmit and event of a run, so two builds that print the same
# lines behave byte-identically on these runs. Use it to prove a refactor changed no
# behaviour:
#
#   sim/scripts/digests.sh > before.txt      # on the old commit
#   sim/scripts/digests.sh | diff before.txt -   # on the new one
#
# SIM overrides the binary (default: builds and runs the release hearsay-sim).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${SIM:-}" ]]; then
    cargo build --release -q -p hearsay-sim
    SIM=target/release/hearsay-sim
fi
digest() {
    "$SIM" --quiet --json - "$@" 2>/dev/null | sed -n 's/.*"digest": *"\([0-9a-f]*\)".*/\1/p'
}
for scenario in demo join crash loss partition isolate asymmetric restart leave stress; do
    echo "scenario=$scenario nodes=200 $(digest --scenario "$scenario" --nodes 200)"
done
echo "scenario=stress swim $(digest --scenario stress --nodes 100 --swim)"
echo "scenario=demo encrypt $(digest --scenario demo --nodes 100 --encrypt)"
echo "scenario=demo local $(digest --scenario demo --nodes 100 --profile local)"
echo "scenario=demo wan $(digest --scenario demo --nodes 100 --profile wan)"
for seed in $(seq 1 20); do
    echo "mixed seed=$seed $(digest --nodes 60 --seed "$seed" --duration 100s \
        --loss 0.05 --latency 1ms..5ms --duplicate 0.01 \
        --crash 2@20s --restart 50s --leave 1@25s --partition 0.3@30s..45s \
        --isolate 35s..42s --one-way 55s..62s --stress 2@20s..70s \
        --event @22s --event burst@40s --query @33s --query q2@65s)"
done
