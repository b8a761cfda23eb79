#!/usr/bin/env bash
# A real VM behind nsg. QEMU (software emulation, -accel tcg) boots Debian's
# cloud kernel with a busybox userland (scripts/vm/init) on a virtio NIC with
# its default offloads, on a TAP that `nsg run` binds with `if:`; the uplink
# is a veth to an "internet" namespace. The guest gets its address by DHCP,
# uploads and downloads about 300 KB each to and from a web server on the
# uplink host (allowed outbound), and serves a page on port 80 (allowed
# inbound) and 8080 (denied); the uplink host fetches both. Everything the
# script creates is removed on exit, also on failure or Ctrl-C.
#
# Needs root and /dev/net/tun; installs qemu-system-x86 and busybox-static
# when missing, and downloads Debian's current cloud kernel package into the
# cache (${XDG_CACHE_HOME:-/var/cache}/nsg-vm), never installing it.
#   NSG=path/to/nsg scripts/vm-test.sh       (default: builds target/release/nsg)
# Development switches (the default, and CI, is DHCP with default offloads):
#   VM_STATIC=1      configure the guest statically instead of by DHCP
#   VM_OFFLOADS=off  load the guest's virtio_net with csum=0 gso=0
#   VM_TIMEOUT=S     seconds to wait for the guest's network (default 180)
#   VM_KEEP=1        keep the run's directory (console, nsg's log and summary)
# Exit status: 0 when every check came out as the policy says.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "vm-test: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TAP devices)"
[ -c /dev/net/tun ] || die "needs /dev/net/tun"

START=$(date +%s.%N)
elapsed() { awk -v now="$(date +%s.%N)" -v t0="$1" 'BEGIN { printf "%.1f", now - t0 }'; }

CACHE=${XDG_CACHE_HOME:-/var/cache}/nsg-vm
mkdir -p "$CACHE"
VM_STATIC=${VM_STATIC:-0}
VM_OFFLOADS=${VM_OFFLOADS:-default}
VM_TIMEOUT=${VM_TIMEOUT:-180}
case "$VM_OFFLOADS" in default | off) ;; *) die "VM_OFFLOADS is default or off, not '$VM_OFFLOADS'" ;; esac

# --- what it needs -----------------------------------------------------------
APT_UPDATED=0
apt_update() {
    [ "$APT_UPDATED" -eq 1 ] && return
    echo "== apt-get update"
    apt-get update -qq
    APT_UPDATED=1
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v ip >/dev/null || need+=(iproute2)
command -v ethtool >/dev/null || need+=(ethtool)
if [ "${#need[@]}" -gt 0 ]; then
    apt_update
    echo "== apt-get install ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
BUSYBOX=/bin/busybox             # from busybox-static: it goes into the guest as is

# Debian's cloud kernel: the package the meta-package linux-image-cloud-amd64
# depends on, unpacked into the cache (not installed).
KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}' || true)
if [ -z "$KPKG" ]; then
    apt_update
    KPKG=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
fi
[ -n "$KPKG" ] || die "cannot resolve linux-image-cloud-amd64 to a kernel package"
KDIR=$CACHE/$KPKG
if [ ! -d "$KDIR/boot" ]; then
    echo "== downloading $KPKG into $CACHE"
    dl=$(mktemp -d "$CACHE/dl.XXXXXX")
    if ! (cd "$dl" && apt-get download -q "$KPKG" 2>/dev/null); then
        apt_update
        (cd "$dl" && apt-get download -q "$KPKG" 2>/dev/null) || { rm -rf "$dl"; die "apt-get download $KPKG failed"; }
    fi
    rm -rf "$KDIR.tmp"
    dpkg-deb -x "$dl"/*.deb "$KDIR.tmp"
    rm -rf "$dl"
    mv "$KDIR.tmp" "$KDIR"
fi
KVER=${KPKG#linux-image-}
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
MODDIR=$KDIR/lib/modules/$KVER
if [ ! -f "$VMLINUZ" ] || [ ! -d "$MODDIR" ]; then die "no kernel or modules in $KDIR"; fi

# --- the initramfs -----------------------------------------------------------
# The modules a virtio-net PCI NIC needs, with what they depend on (from each
# module's modinfo; the package has no modules.dep), those built into the
# kernel left out. Order: dependencies first.
modpath() { find "$MODDIR/kernel" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n 1; }
declare -A SEEN=()
ORDER=()
add_module() { # name
    local m=$1 f dep
    [ -n "${SEEN[$m]:-}" ] && return
    SEEN[$m]=1
    if grep -q "/$m.ko\$" "$MODDIR/modules.builtin"; then return; fi
    f=$(modpath "$m")
    [ -n "$f" ] || die "module $m is neither built in nor in $MODDIR"
    for dep in $(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "$dep"
    done
    ORDER+=("$m")
}
for m in virtio_pci virtio_net; do add_module "$m"; done

KEY=$(cat scripts/vm/init scripts/vm/udhcpc.script "$BUSYBOX" | sha256sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KVER-$KEY.cpio.gz
if [ ! -f "$INITRD" ]; then
    echo "== building $INITRD (modules: ${ORDER[*]})"
    root=$(mktemp -d /tmp/nsgvm-root.XXXXXX)
    mkdir -p "$root"/{bin,dev,etc,lib/modules,proc,sys,tmp,www}
    cp "$BUSYBOX" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    install -m 0755 scripts/vm/init "$root/init"
    install -m 0755 scripts/vm/udhcpc.script "$root/etc/udhcpc.script"
    for m in "${ORDER[@]}"; do
        f=$(modpath "$m")
        case "$f" in
        *.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
        *.zst) zstd -qdc "$f" >"$root/lib/modules/$m.ko" ;;
        *) cp "$f" "$root/lib/modules/$m.ko" ;;
        esac
        echo "$m" >>"$root/lib/modules/order"
    done
    (cd "$root" && find . | sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -9 >"$INITRD.tmp"
    rm -rf "$root"
    mv "$INITRD.tmp" "$INITRD"
    # Images of earlier versions of the guest's files are not used again.
    find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -path "$INITRD" -delete
fi

NSG=${NSG:-target/release/nsg}
if [ ! -x "$NSG" ]; then
    echo "== building $NSG"
    cargo build --release -q
    NSG=target/release/nsg
fi

# --- the network -------------------------------------------------------------
P=nsgvm                         # prefix of every name the script creates
TAP=$P-tap                      # the VM's NIC, bound by nsg with if:
UP=$P-up                        # the uplink veth, nsg's end
UPH=$P-uph                      # its peer, in the internet namespace
NS=$P-inet
VM_IP=10.0.1.4 VM_GW=10.0.1.1 VM_MAC=52:54:00:0a:01:04 INET_IP=203.0.113.10
TMP=$(mktemp -d /tmp/nsgvm.XXXXXX)
NSG_PID=""
QEMU_PID=""

cleanup() {
    local rc=$?
    set +e
    if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
        kill "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null
    fi
    if [ -n "$NSG_PID" ] && kill -0 "$NSG_PID" 2>/dev/null; then
        kill -TERM "$NSG_PID"; wait "$NSG_PID" 2>/dev/null
    fi
    if ip netns list | grep -qw "$NS"; then
        ip netns pids "$NS" | xargs -r kill -9 2>/dev/null
        ip netns del "$NS"
    fi
    ip link del "$TAP" 2>/dev/null
    ip link del "$UP" 2>/dev/null
    if [ "$rc" -ne 0 ]; then
        echo "== guest console (last 40 lines)" >&2
        tail -n 40 "$TMP/console.log" 2>/dev/null | tr -d '\r' >&2
        echo "== nsg log (last 20 lines)" >&2
        tail -n 20 "$TMP/nsg.log" >&2 2>/dev/null
        echo "== nsg summary" >&2
        head -n 8 "$TMP/nsg.out" >&2 2>/dev/null
    fi
    if [ -n "${VM_KEEP:-}" ]; then echo "vm-test: kept $TMP"; else rm -rf "$TMP"; fi
    echo "vm-test: total $(elapsed "$START") s, exit $rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an interrupted run.
ip netns del "$NS" 2>/dev/null || true
ip link del "$TAP" 2>/dev/null || true
ip link del "$UP" 2>/dev/null || true

cat >"$TMP/policy.toml" <<EOF
[[vnet]]
name = "VNet1"
address_space = ["10.0.0.0/16"]

[[subnet]]
name = "VmSubnet"
vnet = "VNet1"
prefixes = ["10.0.1.0/24"]
nsg = "VmNsg"

[[nic]]
name = "VM"
subnet = "VmSubnet"
ips = ["$VM_IP"]
mac = "$VM_MAC"

[[nsg]]
name = "VmNsg"

[[nsg.rule]]
name = "Allow-HTTP-Inbound"
priority = 100
direction = "Inbound"
access = "Allow"
protocol = "Tcp"
source = "Internet"
source_ports = "*"
destination = "*"
destination_ports = 80

[[nsg.rule]]
name = "Deny-8080-Inbound"
priority = 110
direction = "Inbound"
access = "Deny"
protocol = "Tcp"
source = "*"
source_ports = "*"
destination = "*"
destination_ports = 8080
EOF

echo "== network: TAP $TAP (the VM's NIC), veth $UP <-> $NS/$UPH (the uplink host $INET_IP)"
ip tuntap add dev "$TAP" mode tap
sysctl -qw "net.ipv6.conf.$TAP.disable_ipv6=1"
ip link set "$TAP" up
ip link add "$UP" type veth peer name "$UPH"
sysctl -qw "net.ipv6.conf.$UP.disable_ipv6=1"
ip link set "$UP" up
ip netns add "$NS"
ip link set "$UPH" netns "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link set "$UPH" up
ip -n "$NS" addr add "$INET_IP/24" dev "$UPH"
ip -n "$NS" route add 10.0.0.0/16 dev "$UPH"
# The uplink host is only the far end: its veth would leave its checksums to
# hardware it does not have, so it fills them itself. The guest keeps its
# NIC's offloads (that is what the test is about).
ip netns exec "$NS" ethtool -K "$UPH" tx off >/dev/null

# The uplink host's web server: /dl.bin to download, /cgi-bin/md5 for uploads.
mkdir -p "$TMP/www/cgi-bin"
head -c 300000 /dev/urandom >"$TMP/www/dl.bin"
DL_MD5=$(md5sum <"$TMP/www/dl.bin" | cut -c1-32)
install -m 0755 scripts/vm/md5.cgi "$TMP/www/cgi-bin/md5"
ip netns exec "$NS" "$BUSYBOX" httpd -p "$INET_IP:8000" -h "$TMP/www"

echo "== nsg run: --port VM=if:$TAP --uplink if:$UP"
RUST_LOG=${RUST_LOG:-info} "$NSG" run "$TMP/policy.toml" --port "VM=if:$TAP" --uplink "if:$UP" \
    >"$TMP/nsg.out" 2>"$TMP/nsg.log" &
NSG_PID=$!
for _ in $(seq 100); do
    grep -q running "$TMP/nsg.log" && break
    kill -0 "$NSG_PID" 2>/dev/null || die "nsg exited at start"
    sleep 0.1
done
grep -q running "$TMP/nsg.log" || die "nsg not running after 10 s"

# --- the VM ------------------------------------------------------------------
mode=dhcp; [ "$VM_STATIC" = 1 ] && mode=static
echo "== qemu (tcg): $KPKG, virtio-net $VM_MAC, mode=$mode offloads=$VM_OFFLOADS"
: >"$TMP/console.log"
BOOT=$(date +%s.%N)
qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 256 -nodefaults -no-user-config \
    -display none -no-reboot \
    -kernel "$VMLINUZ" -initrd "$INITRD" \
    -append "console=ttyS0 quiet panic=-1 nsgvm.mode=$mode nsgvm.offloads=$VM_OFFLOADS nsgvm.ip=$VM_IP/24 nsgvm.gw=$VM_GW nsgvm.uplink=$INET_IP nsgvm.wait=$VM_TIMEOUT" \
    -serial "file:$TMP/console.log" \
    -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off" \
    -device "virtio-net-pci,netdev=n0,mac=$VM_MAC" \
    >"$TMP/qemu.log" 2>&1 &
QEMU_PID=$!

line() { tr -d '\r' <"$TMP/console.log" | grep "^NSGVM $1" | tail -n 1; }
wait_for() { # marker timeout-seconds what
    local t=0
    while [ -z "$(line "$1")" ]; do
        if [ -n "$(line FAIL)" ]; then die "guest: $(line FAIL)"; fi
        kill -0 "$QEMU_PID" 2>/dev/null || die "qemu stopped before $3: $(cat "$TMP/qemu.log")"
        [ "$t" -lt "$(($2 * 5))" ] || die "no $3 after $2 s"
        sleep 0.2
        t=$((t + 1))
    done
}
wait_for "init " 120 "guest /init (kernel boot)"
echo "   guest /init after $(elapsed "$BOOT") s ($(line "init "))"
wait_for "net-up" "$VM_TIMEOUT" "guest network"
echo "   guest network up after $(elapsed "$BOOT") s"
wait_for "ready" "$VM_TIMEOUT" "guest tests"
echo "   guest ready after $(elapsed "$BOOT") s"

FAILED=0
check() { # ok? description
    if [ "$1" = 1 ]; then echo "   ok          $2"; else echo "   UNEXPECTED  $2"; FAILED=1; fi
}
field() { # line key
    tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"
}
is() { [ "$1" = "$2" ] && echo 1 || echo 0; }

echo "== guest"
nic=$(line nic)
echo "   $nic"
features=$(field "$nic" virtio_features)
if [ "$VM_OFFLOADS" = default ]; then
    # VIRTIO_NET_F_CSUM (bit 0) and HOST_TSO4 (bit 11) negotiated and used.
    check "$( [ "${features:0:1}" = 1 ] && [ "${features:11:1}" = 1 ] && [ "$(field "$nic" csum_param)" = Y ] && [ "$(field "$nic" gso_param)" = Y ] && echo 1 || echo 0)" \
        "the guest's NIC has its default offloads (checksum, TSO)"
fi
if [ "$mode" = dhcp ]; then
    dhcp=$(line "dhcp bound")
    echo "   $dhcp"
    check "$(is "$(field "$dhcp" ip)/$(field "$dhcp" mask)" "$VM_IP/24")" "DHCP gave the NIC's address and prefix ($VM_IP/24)"
    check "$(is "$(field "$dhcp" router)" "$VM_GW")" "DHCP gave the gateway ($VM_GW) as router"
    check "$(is "$(field "$dhcp" dns)" 168.63.129.16)" "DHCP gave DNS 168.63.129.16"
fi
addr=$(line addr)
echo "   $addr"
check "$(is "$(awk '{print $3}' <<<"$addr")" "$VM_IP/24")" "eth0 has $VM_IP/24"
up=$(line upload)
check "$(is "$(field "$up" remote)" "$(field "$up" local)")" "guest -> uplink host: about 300 KB uploaded whole (md5 $(field "$up" local))"
check "$(is "$(field "$(line download)" md5)" "$DL_MD5")" "guest <- uplink host: 300,000 bytes downloaded whole (md5 $DL_MD5)"
serving=$(line serving)
PAGE_MD5=$(field "$serving" md5)
check "$( [ "$(field "$serving" local80)" = "$PAGE_MD5" ] && [ "$(field "$serving" local8080)" = "$PAGE_MD5" ] && echo 1 || echo 0)" \
    "the guest serves its page on ports 80 and 8080 (checked from inside)"

echo "== uplink host -> guest"
got=$(ip netns exec "$NS" timeout 30 "$BUSYBOX" wget -q -O - "http://$VM_IP:80/page.bin" 2>/dev/null | md5sum | cut -c1-32 || true)
check "$(is "$got" "$PAGE_MD5")" "$INET_IP -> $VM_IP:80 allowed (Allow-HTTP-Inbound): 300,000 bytes whole"
if ip netns exec "$NS" timeout 8 "$BUSYBOX" wget -q -O /dev/null "http://$VM_IP:8080/page.bin" 2>/dev/null; then
    check 0 "$INET_IP -> $VM_IP:8080 refused (Deny-8080-Inbound): it connected"
else
    check 1 "$INET_IP -> $VM_IP:8080 refused (Deny-8080-Inbound)"
fi

# nsg's own account: the refused attempts were judged by the deny rule.
kill "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true; QEMU_PID=
kill -TERM "$NSG_PID"; wait "$NSG_PID" 2>/dev/null || true; NSG_PID=
echo "== nsg's counters"
grep -h 'Deny-8080-Inbound\|Allow-HTTP-Inbound' "$TMP/nsg.out" | sed 's/^ */   /'
denies=$(awk '/deny +VmNsg\/Deny-8080-Inbound/ {print $NF}' "$TMP/nsg.out")
check "$( [ "${denies:-0}" -gt 0 ] && echo 1 || echo 0)" "nsg counted the refused attempts on Deny-8080-Inbound (${denies:-0} packets)"

echo "== boot to /init $(line "init " | sed -n 's/.*uptime=\([^ ]*\).*/\1/p') s (guest clock), network up at $(line net-up | sed -n 's/.*uptime=//p') s"
[ "$FAILED" -eq 0 ] || die "some checks failed (mode=$mode offloads=$VM_OFFLOADS)"
echo "vm-test: all checks passed (mode=$mode offloads=$VM_OFFLOADS)"
