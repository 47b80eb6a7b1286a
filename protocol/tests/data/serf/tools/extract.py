#!/usr/bin/env python3
"""Turns the pcaps of capture.sh into the hex vector files the tests read.

    extract.py CAPDIR OUTDIR

For each scenario writes OUTDIR/<scenario>.udp.hex, one datagram a line:
`<frame> <src port> <dst port> <payload hex>`, and OUTDIR/<scenario>.tcp.hex, one direction
of one connection a line: `<stream> <src port> <dst port> <bytes hex>` (all the bytes that
side sent, in order). Needs tshark.
"""
import subprocess
import sys

cap, out = sys.argv[1], sys.argv[2]


def tshark(*args):
    return subprocess.run(["tshark", *args], capture_output=True, text=True, check=True).stdout


for scenario in ["plain", "nocomp", "encrypt", "conflict", "proto2"]:
    pcap = f"{cap}/{scenario}.pcap"
    with open(f"{out}/{scenario}.udp.hex", "w") as f:
        for line in tshark("-r", pcap, "-Y", "udp", "-T", "fields", "-e", "frame.number",
                           "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.payload").splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[3]:
                f.write(" ".join(parts) + "\n")
    streams = sorted({int(s) for s in tshark("-r", pcap, "-T", "fields", "-e", "tcp.stream").split()})
    with open(f"{out}/{scenario}.tcp.hex", "w") as f:
        for s in streams:
            text = tshark("-r", pcap, "-q", "-z", f"follow,tcp,raw,{s}")
            nodes, data = {}, {0: "", 1: ""}
            for line in text.splitlines():
                if line.startswith("Node 0:") or line.startswith("Node 1:"):
                    nodes[int(line[5])] = line.split(":")[-1].strip()
                elif line.startswith("\t"):
                    data[1] += line.strip()
                elif line and all(c in "0123456789abcdef" for c in line):
                    data[0] += line.strip()
            for side in (0, 1):
                if data[side]:
                    f.write(f"{s} {nodes[side]} {nodes[1 - side]} {data[side]}\n")
