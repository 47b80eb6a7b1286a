#!/usr/bin/env bash
# Captures real Serf traffic on loopback for the golden vectors of the Serf wire dialect.
#
#   capture.sh OUTDIR          (needs root for tcpdump, /usr/bin/serf, tshark)
#
# Scenarios (one pcap each): `plain` and `nocomp` (without compression) (three agents with tags join; a user event, a
# coalescing event, a query with relay factor 1 and answers, a tag change, a kill -9
# (ping-reqs, nacks, suspicion), a force-leave and a graceful leave), `encrypt` (the same cluster with -encrypt and the
# key-management queries), `conflict` (a second agent joins under a name already taken),
# `proto2` (agents speaking Serf protocol 2: role-only tags). Every agent started is
# killed by its PID on exit.
set -uo pipefail
out="${1:?usage: capture.sh OUTDIR}"
mkdir -p "$out"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    [[ -n "${dump:-}" ]] && kill "$dump" 2>/dev/null
    wait 2>/dev/null
}
trap cleanup EXIT

KEY=T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=
KEY2=kDBqvyH09FCzyj9lqnj4jE+ho0bC5U/yyxNnkSmcbsM=

agent() { # name port rpcport extra...
    local name=$1 port=$2 rpc=$3; shift 3
    serf agent -node="$name" -bind="127.0.0.1:$port" -rpc-addr="127.0.0.1:$rpc" \
        -log-level=debug "$@" >"$work/$scenario-$name-$port.log" 2>&1 &
    pids+=($!)
    last=$!
}

# Waits (polling, 20 s max) until `serf members` on $1 lists $2 members with status $3.
wait_members() {
    local rpc=$1 n=$2 status=${3:-alive} i
    for i in $(seq 1 200); do
        local c
        c=$(serf members -rpc-addr="127.0.0.1:$rpc" $4 2>/dev/null | grep -c " $status ")
        [[ "$c" -ge "$n" ]] && return 0
        sleep 0.1
    done
    echo "timeout waiting for $n $status members on $rpc" >&2
    return 1
}

wait_rpc() {
    local i
    for i in $(seq 1 100); do
        serf members -rpc-addr="127.0.0.1:$1" $2 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

start_dump() {
    tcpdump -i lo -U -w "$out/$1.pcap" 'portrange 37946-37955' >/dev/null 2>&1 &
    dump=$!
    sleep 1
}
stop_dump() {
    sleep 1
    kill "$dump"; wait "$dump" 2>/dev/null; dump=
}
stop_agents() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    pids=()
}

cluster_scenario() { # name extra-agent-flags rpc-flags
    local name=$1 flags=$2 rpcf=$3
    scenario=$name
    start_dump "$name"
    agent a 37946 37373 $flags -tag role=web -tag dc=east "-event-handler=query=echo answer-a"
    wait_rpc 37373 "$rpcf"
    agent b 37947 37374 $flags -tag role=db -join=127.0.0.1:37946 "-event-handler=query=echo answer-b"
    wait_rpc 37374 "$rpcf"
    agent c 37948 37375 $flags -join=127.0.0.1:37946
    local c_pid=$last
    wait_members 37373 3 alive "$rpcf"
    sleep 3                                   # probes, acks with coordinates, gossip
    serf event -rpc-addr=127.0.0.1:37374 $rpcf deploy "v1.2.3" >/dev/null
    serf event -rpc-addr=127.0.0.1:37374 $rpcf -coalesce=false restart "now" >/dev/null
    sleep 1
    serf query -rpc-addr=127.0.0.1:37373 $rpcf -timeout=2s -relay-factor=1 uptime "up?" >"$out/$name-query.txt" 2>&1
    serf query -rpc-addr=127.0.0.1:37373 $rpcf -timeout=1s -node=b -tag role=db -no-ack which >/dev/null 2>&1
    serf tags -rpc-addr=127.0.0.1:37375 $rpcf -set zone=z1 >/dev/null
    sleep 2
    if [[ "$name" == encrypt ]]; then
        serf keys -rpc-addr=127.0.0.1:37373 $rpcf -list >"$out/$name-keys.txt" 2>&1
        serf keys -rpc-addr=127.0.0.1:37373 $rpcf -install "$KEY2" >>"$out/$name-keys.txt" 2>&1
        serf keys -rpc-addr=127.0.0.1:37373 $rpcf -use "$KEY2" >>"$out/$name-keys.txt" 2>&1
        serf keys -rpc-addr=127.0.0.1:37373 $rpcf -remove "$KEY" >>"$out/$name-keys.txt" 2>&1
        sleep 1
    fi
    # c dies while a and b probe it: pings, ping-reqs, nacks, suspicion, dead.
    kill -9 "$c_pid"
    wait_members 37373 1 failed "$rpcf"
    serf force-leave -rpc-addr=127.0.0.1:37373 $rpcf c >/dev/null 2>&1
    sleep 2
    serf leave -rpc-addr=127.0.0.1:37374 $rpcf >/dev/null 2>&1
    wait_members 37373 1 left "$rpcf"
    sleep 1
    stop_dump
    cp "$work"/*.log "$out/" 2>/dev/null
    stop_agents
}

cluster_scenario plain "" ""
cluster_scenario nocomp "-disable-compression" ""
cluster_scenario encrypt "-encrypt=$KEY" ""

# Name conflict: a second agent calls itself `a` and joins `b`, which knows the first `a`.
scenario=conflict
start_dump conflict
agent a 37946 37373
wait_rpc 37373 ""
agent b 37947 37374 -join=127.0.0.1:37946
wait_members 37373 2 alive ""
agent a 37949 37377 -join=127.0.0.1:37947
sleep 6
stop_dump
cp "$work"/*.log "$out/" 2>/dev/null
stop_agents

# Protocol 2: tags are the bare role.
scenario=proto2
start_dump proto2
agent a 37946 37373 -protocol=2 -tag role=web
wait_rpc 37373 ""
agent b 37947 37374 -protocol=2 -tag role=db -join=127.0.0.1:37946
wait_members 37373 2 alive ""
sleep 3
stop_dump
cp "$work"/*.log "$out/" 2>/dev/null
stop_agents
echo "captured into $out"
