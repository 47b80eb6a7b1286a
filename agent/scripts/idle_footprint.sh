#!/usr/bin/env bash
# Idle footprint of the hearsay agent: N agents on 127.0.0.1 (default 10, LAN profile),
# joined into one cluster, left idle; prints per-agent VmRSS/VmHWM and CPU seconds per
# idle minute, and the binary size. Every agent is killed on exit.
#
#   cargo build --profile dist -p hearsay-agent   # or --release, then HEARSAY_BIN=...
#   agent/scripts/idle_footprint.sh [N] [IDLE_SECONDS] [PROFILE]
set -euo pipefail
N=${1:-10}
IDLE=${2:-60}
PROFILE=${3:-lan}
BIN=${HEARSAY_BIN:-$(dirname "$0")/../../target/dist/hearsay}
DIR=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT

BASE=$((20000 + RANDOM % 20000))
for i in $(seq 1 "$N"); do
    JOIN=()
    [ "$i" -gt 1 ] && JOIN=(-join "127.0.0.1:$BASE")
    "$BIN" agent -node "idle$i" -bind "127.0.0.1:$((BASE + i - 1))" \
        -rpc-addr "127.0.0.1:$((BASE + 1000 + i - 1))" -profile "$PROFILE" "${JOIN[@]}" \
        >"$DIR/out.$i" 2>"$DIR/err.$i" &
    PIDS+=($!)
    disown "$!"
    sleep 0.2
done
sleep 3
"$BIN" members -rpc-addr "127.0.0.1:$((BASE + 1000))" | awk '{print $3}' | sort | uniq -c

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
declare -A START
for p in "${PIDS[@]}"; do START[$p]=$(ticks "$p"); done
sleep "$IDLE"
TOTAL=0
for p in "${PIDS[@]}"; do
    T=$(( $(ticks "$p") - START[$p] ))
    TOTAL=$((TOTAL + T))
    printf 'pid %s %s %s cpu_ticks=%s\n' "$p" \
        "$(grep VmRSS /proc/$p/status | tr -s ' ')" "$(grep VmHWM /proc/$p/status | tr -s ' ')" "$T"
done
awk -v t="$TOTAL" -v n="$N" -v hz="$HZ" -v idle="$IDLE" \
    'BEGIN { printf "CPU seconds per agent per idle minute: %.3f\n", t / hz / n * 60 / idle }'
"$BIN" members -rpc-addr "127.0.0.1:$((BASE + 1000))" | awk '{print $3}' | sort | uniq -c
ls -l "$BIN" | awk '{print "binary bytes:", $5}'
strip -o "$DIR/stripped" "$BIN" && ls -l "$DIR/stripped" | awk '{print "stripped bytes:", $5}'
