#!/usr/bin/env bash
# Idle footprint of Hearsay nodes: starts a 10-node loopback cluster of separate processes
# (4 tokio, 3 smol, 3 async-std; `local` profile), lets it idle, then prints each
# process's resident memory and the CPU time it used per minute of idling.
#
#   bash driver/scripts/idle_cluster.sh [idle_seconds=60]
set -euo pipefail
cd "$(dirname "$0")/../.."
IDLE=${1:-60}
cargo build --release -q -p hearsay-tokio -p hearsay-smol -p hearsay-async-std --examples
BIN=${CARGO_TARGET_DIR:-$(pwd)/target}/release/examples
SEED=127.0.0.1:$((20000 + RANDOM % 20000))
pids=()
names=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
spawn() { # name runtime bind [seed]
    "$BIN/idle_node_$2" "$1" "$3" ${4:+"$4"} >/dev/null &
    pids+=($!)
    names+=("$1")
}
spawn seed-tokio tokio "$SEED"
sleep 0.5
for i in 1 2 3; do spawn "tokio-$i" tokio 127.0.0.1:0 "$SEED"; done
for i in 1 2 3; do spawn "smol-$i" smol 127.0.0.1:0 "$SEED"; done
for i in 1 2 3; do spawn "async-std-$i" async_std 127.0.0.1:0 "$SEED"; done
sleep 3 # join and converge
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A before
for p in "${pids[@]}"; do before[$p]=$(cpu "$p"); done
sleep "$IDLE"
printf '%-12s %8s %14s\n' node rss_kib cpu_s_per_min
for i in "${!pids[@]}"; do
    p=${pids[$i]}
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$p/status")
    used=$(( $(cpu "$p") - ${before[$p]} ))
    awk -v n="${names[$i]}" -v r="$rss" -v u="$used" -v t="$ticks" -v s="$IDLE" \
        'BEGIN { printf "%-12s %8d %14.3f\n", n, r, u / t * 60 / s }'
done
