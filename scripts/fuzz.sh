#!/usr/bin/env bash
# Fuzz the readers of untrusted input with cargo-fuzz (nightly toolchain).
#
#   scripts/fuzz.sh TARGET SECONDS   fuzz one target (frame, capture, policy_toml,
#                                    azure_json, verify_line, service_tags, dhcp,
#                                    vnet_hdr, analysis)
#   scripts/fuzz.sh all SECONDS      fuzz every target, SECONDS each
#   scripts/fuzz.sh total            seconds fuzzed per target, from fuzz/fuzz-time.log
#
# The corpus (fuzz/corpus/TARGET, not committed) is seeded from fuzz/seeds/TARGET,
# fuzz/regressions/TARGET and the shared data directory ($NSG_DATA, else
# ../shared/data beside the repository; seeds only when it is absent). A crash,
# an out-of-memory (-rss_limit_mb=2048) or a timeout (-timeout=10) is a finding:
# libFuzzer writes the input to fuzz/artifacts/TARGET/ and this script exits 1.
# Every run appends "date target seconds-asked seconds-spent status" to
# fuzz/fuzz-time.log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOG=$ROOT/fuzz/fuzz-time.log
TARGETS=(frame capture policy_toml azure_json verify_line service_tags dhcp vnet_hdr analysis)

usage() {
  echo "usage: $0 {TARGET|all} SECONDS | $0 total" >&2
  echo "targets: ${TARGETS[*]}" >&2
  exit 2
}

total() {
  if [[ ! -s $LOG ]]; then
    echo "no fuzzing logged yet ($LOG)"
    return
  fi
  awk '{ spent[$2] += $4; runs[$2] += 1; if ($5 != 0) found[$2] += 1 }
       END { for (t in spent) printf "%-14s %8d s in %d runs, %d with findings\n", t, spent[t], runs[t], found[t] }' \
    "$LOG" | sort
}

max_len() {
  case $1 in
    frame) echo 9216 ;;
    verify_line) echo 4096 ;;
    *) echo 65536 ;;
  esac
}

data_dir() {
  local d
  for d in "${NSG_DATA:-}" "$ROOT/../shared/data" "$ROOT/../../shared/data"; do
    if [[ -n $d && -d $d ]]; then
      (cd "$d" && pwd)
      return
    fi
  done
}

run_one() {
  local target=$1 seconds=$2 corpus=$ROOT/fuzz/corpus/$1 data status start spent tmp
  data=$(data_dir)
  if [[ -z $data ]]; then
    echo "fuzz: shared data absent; $target starts from its seeds only"
  fi
  python3 "$ROOT/fuzz/scripts/prepare_corpus.py" "$target" "$corpus" "$data"
  mkdir -p "$ROOT/fuzz/artifacts/$target"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsg-fuzz.XXXXXX")
  start=$(date +%s)
  status=0
  (cd "$ROOT/fuzz" && NSG_FUZZ_TMP=$tmp cargo +nightly fuzz run "$target" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$target")" \
    -print_final_stats=1) || status=$?
  spent=$(($(date +%s) - start))
  rm -rf "$tmp"
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $target $seconds $spent $status" >>"$LOG"
  if [[ $status -ne 0 ]]; then
    echo "fuzz: $target: finding after ${spent}s (exit $status); inputs in fuzz/artifacts/$target/:" >&2
    ls -t "$ROOT/fuzz/artifacts/$target" | head -5 >&2
    return 1
  fi
  echo "fuzz: $target: no finding in ${spent}s"
}

[[ $# -ge 1 ]] || usage
case $1 in
  total)
    total
    exit 0
    ;;
  all) targets=("${TARGETS[@]}") ;;
  *)
    [[ " ${TARGETS[*]} " == *" $1 "* ]] || usage
    targets=("$1")
    ;;
esac
[[ $# -eq 2 && $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || usage
seconds=$2

if [[ ${#targets[@]} -eq 1 ]]; then
  (cd fuzz && cargo +nightly fuzz build "${targets[0]}")
else
  (cd fuzz && cargo +nightly fuzz build)
fi
failed=()
for t in "${targets[@]}"; do
  run_one "$t" "$seconds" || failed+=("$t")
done
total
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
