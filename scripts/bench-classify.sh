#!/usr/bin/env bash
# nsg bench classify on the 14 ClassBench sets (acl1, acl3, acl4, fw1, fw3, fw4,
# ipc1 at 1k, then at 10k), batched (64) and one packet per call; a set whose
# rule or trace file is absent is skipped with a line saying so.
# Usage: scripts/bench-classify.sh [SECONDS]   (needs ../shared/data/classbench,
# or CLASSBENCH=/path/to/classbench)
# NSG=/path/to/nsg runs that binary instead of building target/release/nsg, so
# two builds can be compared back to back; NSG_SIMD=portable forces the
# matcher's portable loops (the binary says on stderr which path ran).
set -euo pipefail
# A relative NSG or CLASSBENCH is relative to where the script was started.
case "${NSG:-}" in ''|/*) ;; *) NSG="$PWD/$NSG" ;; esac
case "${CLASSBENCH:-}" in ''|/*) ;; *) CLASSBENCH="$PWD/$CLASSBENCH" ;; esac
cd "$(dirname "$0")/.."
secs=${1:-2}
d=${CLASSBENCH:-../shared/data/classbench}
[ -d "$d" ] || { echo "skipping: $d is absent"; exit 0; }
if [ -z "${NSG:-}" ]; then
  cargo build --release -q
  NSG=./target/release/nsg
fi
[ -x "$NSG" ] || { echo "not an executable: $NSG" >&2; exit 1; }
printf '%-9s %6s %10s %10s %9s %8s %10s\n' set rules "batch Mlps" "single Mlps" build_ms "B/rule" mismatches
for s in acl1_1k acl3_1k acl4_1k fw1_1k fw3_1k fw4_1k ipc1_1k \
  acl1_10k acl3_10k acl4_10k fw1_10k fw3_10k fw4_10k ipc1_10k; do
  t=${s}_trace; [ -f "$d/$t" ] || t=${s}_trace250k
  if [ ! -f "$d/$s" ] || [ ! -f "$d/$t" ]; then
    printf '%-9s skipped: %s or its trace is absent\n' "$s" "$d/$s"
    continue
  fi
  b=$("$NSG" bench classify --classbench "$d/$s" --trace "$d/$t" --seconds "$secs" --json)
  o=$("$NSG" bench classify --classbench "$d/$s" --trace "$d/$t" --seconds "$secs" --batch 1 --json)
  python3 - "$s" "$b" "$o" <<'PY'
import json, sys
s, b, o = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{s:<9} {b['rules']:>6} {b['lookups_per_sec']/1e6:>10.1f} {o['lookups_per_sec']/1e6:>10.1f} {b['build_ms']:>9.1f} {b['bytes_per_rule']:>8} {b['mismatches']+o['mismatches']:>10}")
PY
done
