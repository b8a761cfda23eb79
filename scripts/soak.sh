#!/usr/bin/env bash
# A long run of `nsg run` under faults, on config/three-tier.toml with one
# network namespace per NIC (as scripts/netns-demo.sh sets them up):
#  - long-lived TCP connections, opened first, echo a message every second:
#    inet -> web2:80, web2 -> logic:8080, logic -> db:1433;
#  - a flood of new UDP flows web2 -> logic, each datagram a new flow, past
#    the flow table's capacity for the whole run;
#  - a policy rewrite every 300 ms, valid and broken in turn, each reloaded
#    with SIGHUP and followed until the metrics show the new generation or
#    one more refusal;
#  - web1's TAP deleted from inside its namespace a third of the way in.
# From the moment the flow table is full it prints nsg's RSS every minute,
# the reloads applied/refused and the connection breaks, for MINUTES minutes.
#
# Usage: scripts/soak.sh [MINUTES]          (default 10)
#   SOAK_CAPACITY   flow table capacity (default 20000)
#   SOAK_FLOOD_PPS  new flows a second (default 4000)
#   SOAK_CONNS      connections per pair (default 4)
#   SOAK_RELOAD_PERIOD  seconds between policy rewrites (default 0.3)
#   NSG             the nsg binary (default: target/release/nsg, built if absent)
#   SOAK_TRACE      a file to append "seconds RSS-KiB flows" to every 10 s
# Needs root, iproute2, python3 (standard library; scripts/soak.py holds the
# traffic and reload roles).
# Exit status 0 only if: RSS grew less than 5% from the first full-table
# sample to the last, no established connection broke, every broken file was
# refused and every good one applied, the deleted TAP was logged once and
# counted once, and the other ports still switch new connections.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${1:-10}
CAPACITY=${SOAK_CAPACITY:-20000}
FLOOD_PPS=${SOAK_FLOOD_PPS:-4000}
CONNS=${SOAK_CONNS:-4}
RELOAD_PERIOD=${SOAK_RELOAD_PERIOD:-0.3}
PY=scripts/soak.py
P=nsgsoak                       # prefix of every name the script creates
HOSTS=(web1 web2 logic db inet)
TMP=$(mktemp -d /tmp/nsg-soak.XXXXXX)
NSG_PID=
RELOAD_PID=
METRICS=
LOG_AT_DELETE=0
RSS_MIN2=

die() { echo "soak: $*" >&2; exit 1; }

preflight() {
    [[ "$MINUTES" =~ ^[1-9][0-9]*$ ]] || die "MINUTES must be a whole number of minutes"
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TAP devices)"
    for tool in ip python3; do
        command -v "$tool" >/dev/null || die "needs $tool"
    done
    NSG=${NSG:-target/release/nsg}
    if [ ! -x "$NSG" ]; then
        echo "building $NSG ..."
        cargo build --release -q
        NSG=target/release/nsg
    fi
}

cleanup() {
    set +e
    [ -n "$RELOAD_PID" ] && kill -TERM "$RELOAD_PID" 2>/dev/null
    if [ -n "$NSG_PID" ] && kill -0 "$NSG_PID" 2>/dev/null; then
        kill -TERM "$NSG_PID"; wait "$NSG_PID" 2>/dev/null
    fi
    for h in "${HOSTS[@]}"; do
        local ns=$P-$h
        if ip netns list | grep -qw "$ns"; then
            ip netns pids "$ns" | xargs -r kill -9 2>/dev/null
            ip netns del "$ns"
        fi
    done
    for t in n1 n2 n3 n4 up; do ip link del "$P-$t" 2>/dev/null; done
    rm -rf "$TMP"
}

# A free TCP port on loopback for the metrics endpoint.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_nsg() {
    cp config/three-tier.toml "$TMP/policy.toml"
    METRICS=127.0.0.1:$(free_port)
    echo "== nsg run: capacity $CAPACITY, metrics on $METRICS"
    RUST_LOG=${RUST_LOG:-info} "$NSG" run "$TMP/policy.toml" \
        --port NIC1=tap:$P-n1 --port NIC2=tap:$P-n2 --port NIC3=tap:$P-n3 \
        --port NIC4=tap:$P-n4 --uplink tap:$P-up --workers "${WORKERS:-1}" \
        --metrics "$METRICS" --flow-capacity "$CAPACITY" \
        >"$TMP/nsg.out" 2>"$TMP/nsg.log" &
    NSG_PID=$!
    for _ in $(seq 100); do
        grep -q running "$TMP/nsg.log" && return
        kill -0 "$NSG_PID" 2>/dev/null || { cat "$TMP/nsg.log" >&2; die "nsg did not start"; }
        sleep 0.1
    done
    die "nsg did not say it is running"
}

vm() { # host tap ipv4/len gateway4
    local ns=$P-$1
    ip netns add "$ns"
    ip link set "$2" netns "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$2" up
    ip -n "$ns" addr add "$3" dev "$2"
    ip -n "$ns" route add default via "$4"
}

hosts() {
    vm web1  $P-n1 10.0.1.4/24 10.0.1.1
    vm web2  $P-n2 10.0.1.5/24 10.0.1.1
    vm logic $P-n3 10.0.2.4/24 10.0.2.1
    vm db    $P-n4 10.0.2.5/24 10.0.2.1
    local ns=$P-inet
    ip netns add "$ns"
    ip link set $P-up netns "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set $P-up up
    ip -n "$ns" addr add 203.0.113.10/24 dev $P-up
    ip -n "$ns" route add 10.0.0.0/16 dev $P-up
}

in_ns() { # host command...
    local ns=$P-$1; shift
    ip netns exec "$ns" "$@"
}

# The pairs whose established connections are watched: from to address port.
PAIRS=("inet web2 10.0.1.5 80" "web2 logic 10.0.2.4 8080" "logic db 10.0.2.5 1433")

start_traffic() {
    in_ns web2 python3 $PY echo 80 & disown
    in_ns logic python3 $PY echo 8080 & disown
    in_ns db python3 $PY echo 1433 & disown
    sleep 0.5
    local p from to addr port
    for p in "${PAIRS[@]}"; do
        read -r from to addr port <<<"$p"
        in_ns "$from" python3 $PY keep "$addr" "$port" "$CONNS" "$TMP/keep-$from-$to" \
            >>"$TMP/breaks.log" 2>&1 & disown
    done
    for p in "${PAIRS[@]}"; do
        read -r from to _ _ <<<"$p"
        for _ in $(seq 50); do [ -s "$TMP/keep-$from-$to" ] && break; sleep 0.1; done
        [ -s "$TMP/keep-$from-$to" ] || { cat "$TMP/breaks.log" >&2; die "$from -> $to: no connection"; }
        echo "   $from -> $to: $(cat "$TMP/keep-$from-$to")"
    done
    echo "== flood: $FLOOD_PPS new UDP flows a second web2 -> logic"
    in_ns web2 python3 $PY flood 10.0.2.4 "$FLOOD_PPS" "$TMP/flood" & disown
    echo "== reloads every 300 ms, valid and broken in turn (SIGHUP)"
    python3 $PY reload "$TMP/policy.toml" "$NSG_PID" "$METRICS" "$RELOAD_PERIOD" "$TMP/reload" \
        >>"$TMP/reload.log" 2>&1 &
    RELOAD_PID=$!
}

# The Prometheus text nsg serves (bash's /dev/tcp: no client needed).
scrape() {
    local host=${METRICS%:*} port=${METRICS##*:}
    exec 3<>"/dev/tcp/$host/$port" || return 1
    printf 'GET /metrics HTTP/1.0\r\nHost: nsg\r\n\r\n' >&3
    cat <&3
    exec 3<&-
}

# One series' value (0 when absent): metric 'name{labels}' or metric name.
metric() {
    scrape | awk -v m="$1" '$1 == m { v = $2 } END { printf "%d\n", v + 0 }'
}

# A key's value in a status file.
status() { # file key
    [ -s "$1" ] || { echo 0; return; }   # not written yet
    tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { v = $2 } END { print v + 0 }'
}

# Growth from $1 to $2 in percent, one decimal.
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 100 / a }'; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$NSG_PID/status"; }

breaks_total() {
    local n=0 p from to
    for p in "${PAIRS[@]}"; do
        read -r from to _ _ <<<"$p"
        n=$((n + $(status "$TMP/keep-$from-$to" breaks)))
    done
    echo "$n"
}

report_line() { # label
    local m; m=$(scrape)
    # shellcheck disable=SC2016 # awk program, not shell
    local get='$1 == k { v = $2 } END { printf "%d", v + 0 }'
    printf '%-9s RSS %7d KiB  flows %6s  evictions %9s  refusals %9s  flood sent %9s  reloads applied %5s refused %5s wrong %s  echoes %s  breaks %s\n' \
        "$1" "$(rss_kib)" \
        "$(awk -v k=nsg_flows "$get" <<<"$m")" \
        "$(awk -v k='nsg_flow_evictions_total{' 'index($1, k) == 1 { v += $2 } END { printf "%d", v + 0 }' <<<"$m")" \
        "$(awk -v k=nsg_flow_refusals_total "$get" <<<"$m")" \
        "$(status "$TMP/flood" sent)" \
        "$(status "$TMP/reload" applied)" "$(status "$TMP/reload" refused)" \
        "$(( $(status "$TMP/reload" good_missed) + $(status "$TMP/reload" broken_missed) ))" \
        "$(echoes_total)" "$(breaks_total)"
}

echoes_total() {
    local n=0 p from to
    for p in "${PAIRS[@]}"; do
        read -r from to _ _ <<<"$p"
        n=$((n + $(status "$TMP/keep-$from-$to" echoes)))
    done
    echo "$n"
}

wait_full() {
    local margin=$((CAPACITY / 50)) t0=$SECONDS flows
    while :; do
        flows=$(metric nsg_flows)
        [ "$flows" -ge $((CAPACITY - margin)) ] && break
        [ $((SECONDS - t0)) -lt 120 ] || die "the flow table did not fill in 2 minutes ($flows flows)"
        sleep 1
    done
    echo "== flow table full after $((SECONDS - t0)) s ($flows flows)"
}

delete_tap() {
    echo "== $(date +%T) deleting $P-n1 inside $P-web1"
    LOG_AT_DELETE=$(wc -l <"$TMP/nsg.log")
    ip -n $P-web1 link del $P-n1
}

# The minutes of the soak, from the moment the table is full.
soak() {
    local start=$SECONDS deleted=0 minute=0 end=$((MINUTES * 60))
    local del_at=$((end / 3))
    RSS_FIRST=$(rss_kib)
    report_line "minute 0"
    while [ $((SECONDS - start)) -lt "$end" ]; do
        sleep 1
        kill -0 "$NSG_PID" 2>/dev/null || die "nsg exited: $(tail -5 "$TMP/nsg.log")"
        if [ "$deleted" -eq 0 ] && [ $((SECONDS - start)) -ge "$del_at" ]; then
            delete_tap; deleted=1
        fi
        if [ -n "${SOAK_TRACE:-}" ] && [ $(((SECONDS - start) % 10)) -eq 0 ]; then
            echo "$((SECONDS - start)) $(rss_kib) $(metric nsg_flows)" >>"$SOAK_TRACE"
        fi
        if [ $(((SECONDS - start) / 60)) -gt "$minute" ]; then
            minute=$(((SECONDS - start) / 60))
            report_line "minute $minute"
            [ "$minute" -eq 2 ] && RSS_MIN2=$(rss_kib)
        fi
    done
    RSS_LAST=$(rss_kib)
}

# The checks of the verdict; each prints one line and sets FAILED.
verdict() {
    FAILED=0
    check() { # ok(0|1) text
        if [ "$1" -eq 0 ]; then echo "   ok    $2"; else echo "   FAIL  $2"; FAILED=1; fi
    }
    kill -TERM "$RELOAD_PID"; wait "$RELOAD_PID" || true; RELOAD_PID=
    local growth=$(( (RSS_LAST - RSS_FIRST) * 1000 / RSS_FIRST ))
    local applied refused gm bm breaks lines lost p from to addr port
    applied=$(status "$TMP/reload" applied); refused=$(status "$TMP/reload" refused)
    gm=$(status "$TMP/reload" good_missed); bm=$(status "$TMP/reload" broken_missed)
    breaks=$(breaks_total)
    lines=$(tail -n +"$((LOG_AT_DELETE + 1))" "$TMP/nsg.log" | grep -c "$P-n1" || true)
    lost=$(metric "nsg_port_lost_total{port=\"$P-n1\"}")
    echo "== verdict"
    check $((growth < 50 ? 0 : 1)) "RSS $RSS_FIRST KiB -> $RSS_LAST KiB: $(pct "$RSS_FIRST" "$RSS_LAST")% (< 5%)"
    if [ -n "$RSS_MIN2" ]; then
        # Information only: the growth once the first two minutes are past.
        echo "   info  RSS from minute 2: $RSS_MIN2 KiB -> $RSS_LAST KiB: $(pct "$RSS_MIN2" "$RSS_LAST")%"
    fi
    check $((breaks == 0 ? 0 : 1)) "established connections broken: $breaks ($(echoes_total) echoes)"
    check $((gm == 0 && applied > 0 ? 0 : 1)) "good files applied: $applied, not applied: $gm"
    check $((bm == 0 && refused > 0 ? 0 : 1)) "broken files refused: $refused, not refused: $bm (longest wait $(status "$TMP/reload" wait_ms_max) ms)"
    check $((lines == 1 ? 0 : 1)) "log lines about $P-n1 after its deletion: $lines"
    check $((lost == 1 ? 0 : 1)) "nsg_port_lost_total{port=\"$P-n1\"} $lost"
    for p in "${PAIRS[@]}"; do
        read -r from to addr port <<<"$p"
        in_ns "$from" python3 $PY connect "$addr" "$port" && p=0 || p=1
        check "$p" "new connection $from -> $to:$port"
    done
    tail -n +"$((LOG_AT_DELETE + 1))" "$TMP/nsg.log" | grep "$P-n1" | sed 's/^/   log: /'
    # None of either is the good case: grep's status 1 must not end the script.
    { grep -h -e BREAK -e RELOAD "$TMP/breaks.log" "$TMP/reload.log" || true; } |
        head -20 | sed 's/^/   /'
}

main() {
    preflight
    trap cleanup EXIT INT TERM
    start_nsg
    hosts
    start_traffic
    wait_full
    soak
    verdict
    if [ "$FAILED" -ne 0 ]; then
        echo "soak: FAIL after $MINUTES min" >&2
        exit 1
    fi
    echo "soak: PASS after $MINUTES min"
}

main
