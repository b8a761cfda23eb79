#!/usr/bin/env bash
# nsg run on config/three-tier.toml with real hosts: one network namespace per
# NIC (configured as Azure configures a VM: address in the subnet prefix,
# default gateway at the subnet's first address) and an "internet" namespace
# with a public (documentation) address on the uplink. Servers listen with nc;
# clients (nc, ping) show which connections the policy lets through. Everything
# the script creates is removed on exit, also on failure or Ctrl-C.
#
# Needs root, iproute2, netcat-openbsd, iputils-ping, busybox (udhcpc) and
# dhcpcd (DHCPv6, from dhcpcd-base).
#   NSG=path/to/nsg WORKERS=1 scripts/netns-demo.sh   (default: builds target/release/nsg)
# Exit status: 0 when every check came out as the policy says.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "netns-demo: needs root (network namespaces, TAP devices)" >&2
    exit 1
fi
for tool in ip nc ping busybox dhcpcd; do
    command -v "$tool" >/dev/null || { echo "netns-demo: needs $tool" >&2; exit 1; }
done

NSG=${NSG:-target/release/nsg}
if [ ! -x "$NSG" ]; then
    echo "building $NSG ..."
    cargo build --release -q
    NSG=target/release/nsg
fi

P=nsgdemo                       # prefix of every name the demo creates
TMP=$(mktemp -d /tmp/nsg-demo.XXXXXX)
NSG_PID=
HOSTS=(web1 web2 logic db inet)

cleanup() {
    set +e
    if [ -n "$NSG_PID" ] && kill -0 "$NSG_PID" 2>/dev/null; then
        kill -TERM "$NSG_PID"; wait "$NSG_PID" 2>/dev/null
    fi
    for h in "${HOSTS[@]}"; do
        ns=$P-$h
        if ip netns list | grep -qw "$ns"; then
            ip netns pids "$ns" | xargs -r kill -9 2>/dev/null
            ip netns del "$ns"
        fi
    done
    for t in n1 n2 n3 n4 up; do ip link del "$P-$t" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

cp config/three-tier.toml "$TMP/policy.toml"
echo "== nsg run on config/three-tier.toml: TAPs $P-n1..n4 for NIC1..NIC4, $P-up for the uplink"
RUST_LOG=${RUST_LOG:-info} "$NSG" run "$TMP/policy.toml" \
    --port NIC1=tap:$P-n1 --port NIC2=tap:$P-n2 --port NIC3=tap:$P-n3 --port NIC4=tap:$P-n4 \
    --uplink tap:$P-up --workers "${WORKERS:-1}" >"$TMP/nsg.out" 2>"$TMP/nsg.log" &
NSG_PID=$!
for _ in $(seq 100); do
    grep -q running "$TMP/nsg.log" && break
    kill -0 "$NSG_PID" 2>/dev/null || { cat "$TMP/nsg.log" >&2; exit 1; }
    sleep 0.1
done

# The hosts take their addresses as on Azure: busybox udhcpc (DHCPv4 from
# nsg), then dhcpcd for IPv6 (nsg's router advertisement, then DHCPv6).
cat >"$TMP/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
case "$1" in
bound|renew)
  ip addr add "$ip/$mask" dev "$interface"
  ip route add default via "$router" dev "$interface"
  echo "$ip/$mask via $router, DNS $dns"
  ;;
esac
SCRIPT
chmod 755 "$TMP/udhcpc.sh"
vm() { # host tap
    local ns=$P-$1 got4 got6
    ip netns add "$ns"
    ip link set "$2" netns "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -q -w "net.ipv6.conf.$2.accept_ra=2" "net.ipv6.conf.$2.autoconf=0"
    ip -n "$ns" link set "$2" up
    got4=$(ip netns exec "$ns" busybox udhcpc -i "$2" -f -q -n -t 5 -T 1 -s "$TMP/udhcpc.sh" 2>/dev/null)
    ip netns exec "$ns" dhcpcd -6 -1 -B -q -t 20 --nohook resolv.conf -f /dev/null "$2" >/dev/null 2>&1
    got6=$(ip -n "$ns" -6 -o addr show dev "$2" scope global | awk '{print $4}')
    echo "   $ns: DHCP $got4; DHCPv6 $got6, router advertisement from fe80::1234:5678:9abc"
}
echo "== hosts (DHCP)"
vm web1  $P-n1
vm web2  $P-n2
vm logic $P-n3
vm db    $P-n4
ns=$P-inet
ip netns add "$ns"
ip link set $P-up netns "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link set $P-up up
ip -n "$ns" addr add 203.0.113.10/24 dev $P-up
ip -n "$ns" route add 10.0.0.0/16 dev $P-up
ip -n "$ns" addr add 2001:db8::10/64 dev $P-up nodad
ip -n "$ns" -6 route add fd00:10::/48 dev $P-up
echo "   $ns: 203.0.113.10/24 and 2001:db8::10/64, the VNet on-link behind the uplink"

serve() { # host port
    ip netns exec "$P-$1" nc -4 -l -k "$2" >/dev/null 2>&1 & disown
    ip netns exec "$P-$1" nc -6 -l -k "$2" >/dev/null 2>&1 & disown
}
serve web1 80; serve web2 80; serve db 1433; serve logic 8080
sleep 0.3

FAILED=0
check() { # expected(connects|fails) from to port why
    local got
    if ip netns exec "$P-$2" nc -z -w 2 "$3" "$4" 2>/dev/null; then got=connects; else got=fails; fi
    local mark=ok; [ "$got" = "$1" ] || { mark=UNEXPECTED; FAILED=1; }
    printf '   %-6s -> %-16s tcp %-5s %-9s %-10s %s\n' "$2" "$3" "$4" "$got" "$mark" "$5"
}
pingcheck() { # expected(replies|fails) from to why
    local got
    if ip netns exec "$P-$2" ping -n -q -c 1 -W 1 "$3" >/dev/null 2>&1; then got=replies; else got=fails; fi
    local mark=ok; [ "$got" = "$1" ] || { mark=UNEXPECTED; FAILED=1; }
    printf '   %-6s -> %-16s ping      %-9s %-10s %s\n' "$2" "$3" "$got" "$mark" "$4"
}

echo "== TCP"
check connects inet  10.0.1.4       80   "Allow-HTTP-Inbound-Internet"
check connects inet  fd00:10:0:1::5 80   "Allow-HTTP-Inbound-Internet (IPv6)"
check fails    inet  10.0.2.5       1433 "Deny-Database-All"
check fails    inet  10.0.2.4       8080 "DenyAllInBound"
check fails    web1  10.0.2.5       1433 "Deny-Database-All"
check connects logic 10.0.2.5       1433 "Allow-Database-BusinessLogic"
check connects logic fd00:10:0:2::5 1433 "Allow-Database-BusinessLogic (IPv6)"
check connects web1  10.0.2.4       8080 "AllowVnetInBound"
check connects web1  10.0.1.5       80   "AllowVnetInBound, same subnet"
echo "== ICMP"
pingcheck replies web1 10.0.2.5       "AllowVnetInBound (Deny-Database-All is port 1433 only)"
pingcheck replies db   203.0.113.10   "AllowInternetOutBound, the reply by flow state"
pingcheck replies web2 2001:db8::10   "AllowInternetOutBound (IPv6)"
pingcheck fails   inet 10.0.1.4       "DenyAllInBound"

echo "== reload: Allow-HTTP-Inbound-Internet removed, SIGHUP"
# A long-lived connection from the Internet, opened before the reload.
coproc LIVE { ip netns exec $P-inet nc 10.0.1.4 80; }
sleep 0.3
awk 'BEGIN{RS="\\[\\[nsg.rule\\]\\]"; ORS=""} NR==1{print; next} !/Allow-HTTP-Inbound-Internet/{print "[[nsg.rule]]" $0}' \
    config/three-tier.toml >"$TMP/policy.toml"
kill -HUP "$NSG_PID"
for _ in $(seq 50); do grep -q "generation=2" "$TMP/nsg.log" && break; sleep 0.1; done
grep "policy reloaded" "$TMP/nsg.log" | tail -1 | sed 's/^/   /'
if kill -0 "$LIVE_PID" 2>/dev/null; then
    echo "   the connection opened before the reload is still up"
else
    echo "   the connection opened before the reload is gone: UNEXPECTED"; FAILED=1
fi
check fails    inet  10.0.1.4       80   "new connection: DenyAllInBound now"
kill "$LIVE_PID" 2>/dev/null || true

echo "== broken file: refused, the running policy stays"
echo "this is not = [valid" >>"$TMP/policy.toml"
kill -HUP "$NSG_PID"
for _ in $(seq 50); do grep -q "reload refused" "$TMP/nsg.log" && break; sleep 0.1; done
grep -A2 "reload refused" "$TMP/nsg.log" | head -3 | sed 's/^/   /'
check connects logic 10.0.2.5       1433 "Allow-Database-BusinessLogic still"

echo "== nsg's counters (SIGTERM)"
kill -TERM "$NSG_PID"; wait "$NSG_PID" || true; NSG_PID=
sed 's/^/ /' "$TMP/nsg.out"
if [ "$FAILED" -ne 0 ]; then
    echo "netns-demo: some checks did not come out as the policy says" >&2
    exit 1
fi
echo "netns-demo: every check came out as the policy says"
