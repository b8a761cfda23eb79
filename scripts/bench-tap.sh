#!/usr/bin/env bash
# Throughput of nsg run between two namespaces, against the kernel alone on the
# same namespaces: a Linux bridge with nftables conntrack rules equivalent to
# the policy (br_netfilter hands bridged IPv4 to the inet forward hook). iperf3
# measures TCP throughput and the rate of 64-byte UDP datagrams received; the
# two are printed side by side with nsg/kernel ratios, with the whole
# machine's CPU time per Gbit moved during the TCP run (busy jiffies of
# /proc/stat's "cpu" line before and after, over CLK_TCK, over the Gbit
# received): what each path costs, all threads and softirqs included.
#
# The policy: two NICs in one subnet; inbound to the server, TCP and UDP 5201
# from the VNet are allowed, everything else inbound is denied (rule 4000);
# flows are stateful on both sides.
#
# Needs root, iproute2, iperf3, nftables, python3.
#   NSG=path/to/nsg SECONDS_PER_RUN=5 WORKERS=1 scripts/bench-tap.sh
# Nothing is pinned: on a 2-core machine the iperf3 client and server share the
# cores with nsg's worker(s) (nsg run) or with the kernel's softirq work (bridge).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench-tap: needs root" >&2; exit 1; }
for tool in ip iperf3 nft python3; do
    command -v "$tool" >/dev/null || { echo "bench-tap: needs $tool" >&2; exit 1; }
done

NSG=${NSG:-target/release/nsg}
if [ ! -x "$NSG" ]; then
    cargo build --release -q
    NSG=target/release/nsg
fi
SECS=${SECONDS_PER_RUN:-5}
WORKERS=${WORKERS:-1}
P=nsgb
TMP=$(mktemp -d /tmp/nsg-bench.XXXXXX)
NSG_PID=
NAMESPACES=($P-c $P-s $P-kc $P-ks $P-br)

cleanup() {
    set +e
    [ -n "$NSG_PID" ] && kill -TERM "$NSG_PID" 2>/dev/null && wait "$NSG_PID" 2>/dev/null
    for ns in "${NAMESPACES[@]}"; do
        if ip netns list | grep -qw "$ns"; then
            ip netns pids "$ns" | xargs -r kill -9 2>/dev/null
            ip netns del "$ns"
        fi
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

cat >"$TMP/policy.toml" <<'EOF'
[[vnet]]
name = "BenchVNet"
address_space = ["10.9.0.0/16"]

[[subnet]]
name = "BenchSubnet"
vnet = "BenchVNet"
prefixes = ["10.9.1.0/24"]
nsg = "BenchNSG"

[[nic]]
name = "Client"
subnet = "BenchSubnet"
ips = ["10.9.1.4"]
mac = "02:00:0a:09:01:04"

[[nic]]
name = "Server"
subnet = "BenchSubnet"
ips = ["10.9.1.5"]
mac = "02:00:0a:09:01:05"

[[nsg]]
name = "BenchNSG"

[[nsg.rule]]
name = "Allow-iperf-tcp"
priority = 100
direction = "Inbound"
access = "Allow"
protocol = "Tcp"
source = "VirtualNetwork"
destination = "10.9.1.5"
destination_ports = 5201

[[nsg.rule]]
name = "Allow-iperf-udp"
priority = 110
direction = "Inbound"
access = "Allow"
protocol = "Udp"
source = "VirtualNetwork"
destination = "10.9.1.5"
destination_ports = 5201

[[nsg.rule]]
name = "Deny-Other-Inbound"
priority = 4000
direction = "Inbound"
access = "Deny"
protocol = "*"
source = "*"
destination = "*"
destination_ports = "*"
EOF

host() { # ns ifname addr
    ip netns add "$1"
    ip link set "$2" netns "$1"
    ip -n "$1" link set lo up
    ip -n "$1" link set "$2" up
    ip -n "$1" addr add "$3" dev "$2"
}

# Busy jiffies of the whole machine: the "cpu" line of /proc/stat less idle
# and iowait.
cpu_busy() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# iperf3 between two namespaces: "tcp_gbps udp_kpps cpu_s_per_gbit".
measure() { # client-ns server-ns
    for mode in tcp udp; do
        ip netns exec "$2" iperf3 -s -1 -J >"$TMP/server-$mode.json" 2>/dev/null &
        local spid=$!
        sleep 0.5
        if [ $mode = tcp ]; then
            cpu_busy >"$TMP/cpu-before"
            ip netns exec "$1" iperf3 -c 10.9.1.5 -t "$SECS" -J >"$TMP/client-$mode.json" || true
            cpu_busy >"$TMP/cpu-after"
        else
            ip netns exec "$1" iperf3 -c 10.9.1.5 -u -l 64 -b 0 -t "$SECS" -J >"$TMP/client-$mode.json" || true
        fi
        wait "$spid" || true
    done
    python3 - "$TMP" "$(getconf CLK_TCK)" <<'PY'
import json, sys
d, tck = sys.argv[1], float(sys.argv[2])
def load(n):
    try:
        return json.load(open(f"{d}/{n}"))
    except Exception:
        return {}
tcp = load("client-tcp.json").get("end", {}).get("sum_received", {})
udp = load("server-udp.json").get("end", {}).get("sum", {})
gbps = tcp.get("bits_per_second", 0) / 1e9
secs = udp.get("seconds", 0) or 1
kpps = (udp.get("packets", 0) - udp.get("lost_packets", 0)) / secs / 1e3
gbit = tcp.get("bytes", 0) * 8 / 1e9
busy = (int(open(f"{d}/cpu-after").read()) - int(open(f"{d}/cpu-before").read())) / tck
per = busy / gbit if gbit else 0
print(f"{gbps:.3f} {kpps:.1f} {per:.3f}")
PY
}

echo "== nsg run ($NSG, $WORKERS worker(s)): two TAPs"
RUST_LOG=warn "$NSG" run "$TMP/policy.toml" --workers "$WORKERS" \
    --port Client=tap:$P-c0 --port Server=tap:$P-s0 >"$TMP/nsg.out" 2>"$TMP/nsg.log" &
NSG_PID=$!
for _ in $(seq 100); do ip link show $P-s0 >/dev/null 2>&1 && ip link show $P-c0 >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.3
host $P-c $P-c0 10.9.1.4/24
host $P-s $P-s0 10.9.1.5/24
read -r NSG_TCP NSG_UDP NSG_CPU < <(measure $P-c $P-s)
kill -TERM "$NSG_PID"; wait "$NSG_PID" || true; NSG_PID=
grep -E "^  (port|$P)" "$TMP/nsg.out" | sed 's/^/   /' || true

echo "== kernel: bridge + nftables conntrack (br_netfilter) in namespace $P-br"
ip netns add $P-br
ip -n $P-br link set lo up
ip -n $P-br link add br0 type bridge
ip -n $P-br link set br0 up
ip netns exec $P-br sysctl -qw net.bridge.bridge-nf-call-iptables=1
ip netns exec $P-br nft -f - <<'EOF'
table inet nsgbench {
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        ct state invalid drop
        ip saddr 10.9.0.0/16 ip daddr 10.9.1.5 tcp dport 5201 ct state new accept
        ip saddr 10.9.0.0/16 ip daddr 10.9.1.5 udp dport 5201 ct state new accept
    }
}
EOF
for side in c s; do
    ip link add $P-k$side type veth peer name $P-b$side
    ip link set $P-b$side netns $P-br
    ip -n $P-br link set $P-b$side master br0
    ip -n $P-br link set $P-b$side up
done
host $P-kc $P-kc 10.9.1.4/24
host $P-ks $P-ks 10.9.1.5/24
read -r K_TCP K_UDP K_CPU < <(measure $P-kc $P-ks)

python3 - "$NSG_TCP" "$NSG_UDP" "$K_TCP" "$K_UDP" "$NSG_CPU" "$K_CPU" "$SECS" "$WORKERS" <<'PY'
import sys
nt, nu, kt, ku, nc, kc = map(float, sys.argv[1:7])
secs, workers = sys.argv[7], sys.argv[8]
r = lambda a, b: f"{a / b:.2f}" if b else "n/a"
print()
print(f"  {'':28} {'nsg run':>12} {'kernel':>12} {'nsg/kernel':>11}")
print(f"  {'TCP throughput (Gbit/s)':28} {nt:>12.3f} {kt:>12.3f} {r(nt, kt):>11}")
print(f"  {'UDP 64 B received (kpps)':28} {nu:>12.1f} {ku:>12.1f} {r(nu, ku):>11}")
print(f"  {'TCP CPU s per Gbit (machine)':28} {nc:>12.3f} {kc:>12.3f} {r(nc, kc):>11}")
print(f"  ({secs} s per run, nsg with {workers} worker(s); nothing pinned, 2 cores shared)")
PY
