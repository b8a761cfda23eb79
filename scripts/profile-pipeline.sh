#!/usr/bin/env bash
# Instructions per established frame and per new flow of `nsg bench pipeline`,
# counted by valgrind's callgrind, so the figures do not move with the
# machine's load as seconds do.
#
# Usage: scripts/profile-pipeline.sh [N] [--cache-sim]
#   N            established frames of the first run (default 1000000); the
#                second runs 2N, and the difference divided by N is printed.
#   --cache-sim  also simulate the caches (callgrind --cache-sim=yes) and print
#                data misses in D1 and in the last level per frame and per flow.
# Environment:
#   NSG=/path/to/nsg  profile that binary instead of building target/release/nsg
#                     (it needs symbols: the release profile keeps them).
#   FLOWS=100000      live flows of the established pair (one worker, two
#                     1,000-rule NSGs); the same in both runs.
#   NEW_FLOWS=20000   F: the new-flow pair runs F and 2F flows.
#   LL=SIZE,ASSOC,LINE  the simulated last-level cache (callgrind --LL); by
#                     default callgrind takes the host's, which may hold every
#                     flow (a 260 MiB L3 holds 100,000 flows: no LL misses).
#
# Established pair: the same flows, seed and setup, N then 2N frames; the whole
# program is counted, and everything but the N extra frames cancels out.
# New-flow pair: F then 2F flows; as more flows also mean more frames to
# generate, only the new-flow phase is counted (--toggle-collect on
# nsg_synth::bench::new_flow_phase), and the difference divided by F is printed.
set -euo pipefail
case "${NSG:-}" in '' | /*) ;; *) NSG="$PWD/$NSG" ;; esac
cd "$(dirname "$0")/.."

n=1000000
cache=no
for arg in "$@"; do
  case "$arg" in
    --cache-sim) cache=yes ;;
    '' | *[!0-9]*) echo "usage: $0 [N] [--cache-sim]" >&2; exit 2 ;;
    *) n=$arg ;;
  esac
done
[ "$n" -gt 0 ] || { echo "N must be at least 1" >&2; exit 2; }
flows=${FLOWS:-100000}
new_flows=${NEW_FLOWS:-20000}

command -v valgrind >/dev/null || { echo "skipping: valgrind is absent"; exit 0; }
if [ -z "${NSG:-}" ]; then
  cargo build --release -q
  NSG=./target/release/nsg
fi
[ -x "$NSG" ] || { echo "not an executable: $NSG" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# profile NAME [callgrind options --] nsg-bench-arguments...: runs one
# profile, writes $tmp/NAME.out (callgrind's counts) and $tmp/NAME.log.
profile() {
  local name=$1; shift
  local opts=()
  [ -z "${LL:-}" ] || opts+=(--LL="$LL")
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  valgrind --tool=callgrind --cache-sim="$cache" "${opts[@]}" \
    --callgrind-out-file="$tmp/$name.out" --log-file="$tmp/$name.log" \
    "$NSG" bench pipeline --workers 1 "$@" --json >"$tmp/$name.json" 2>>"$tmp/$name.log" || {
    echo "valgrind failed on: nsg bench pipeline $*" >&2
    cat "$tmp/$name.log" >&2
    exit 1
  }
}

# The difference of two profiles' totals, divided by COUNT, one line per
# event: "Ir 712.3" and, with the cache simulation, "D1 ..." and "LL ...".
per() {
  python3 - "$tmp/$1.out" "$tmp/$2.out" "$3" <<'PY'
import sys

def totals(path):
    events, values = None, None
    for line in open(path):
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("totals:") or (values is None and line.startswith("summary:")):
            values = [int(v) for v in line.split()[1:]]
    if events is None or values is None:
        sys.exit(f"no totals in {path}")
    return dict(zip(events, values + [0] * (len(events) - len(values))))

a, b, count = totals(sys.argv[1]), totals(sys.argv[2]), int(sys.argv[3])
if a.get("Ir", 0) == 0:
    sys.exit("nothing was counted: does the binary have symbols?")
d = {e: b.get(e, 0) - a.get(e, 0) for e in b}
print("Ir", d["Ir"] / count)
if "D1mr" in d:
    print("D1", (d["D1mr"] + d["D1mw"]) / count)
    print("LL", (d["DLmr"] + d["DLmw"]) / count)
PY
}

# report WHAT LINES: prints the figures of `per` under their names.
report() {
  local what=$1 event value
  while read -r event value; do
    case "$event" in
      Ir) printf '%-40s %10.1f\n' "instructions per $what" "$value" ;;
      D1) printf '%-40s %10.3f\n' "D1 data misses per $what" "$value" ;;
      LL) printf '%-40s %10.3f\n' "LL data misses per $what" "$value" ;;
    esac
  done
}

echo "nsg bench pipeline under callgrind: 1 worker, 1000 rules per NSG, cache simulation: $cache${LL:+ (LL $LL)}"
echo "established: --flows $flows, --frames $n and $((2 * n)); new flows: --flows $new_flows and $((2 * new_flows)), --frames 0"
profile est1 -- --flows "$flows" --frames "$n"
profile est2 -- --flows "$flows" --frames $((2 * n))
per est1 est2 "$n" | report "established frame"
toggle=--toggle-collect='*new_flow_phase*'
profile new1 "$toggle" -- --flows "$new_flows" --frames 0
profile new2 "$toggle" -- --flows $((2 * new_flows)) --frames 0
per new1 new2 "$new_flows" | report "new flow"
