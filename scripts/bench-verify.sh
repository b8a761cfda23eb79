#!/usr/bin/env bash
# Time `nsg verify --batch` on N generated queries against config/three-tier.toml.
# Usage: scripts/bench-verify.sh [N]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
q=$(mktemp --suffix=.jsonl)
trap 'rm -f "$q"' EXIT
python3 - "$n" > "$q" <<'PY'
import json, random, sys
random.seed(7)
nics = {"NIC1": "10.0.1.4", "NIC2": "10.0.1.5", "NIC3": "10.0.2.4", "NIC4": "10.0.2.5"}
remotes = ["10.0.1.4", "10.0.2.4", "10.0.1.5", "8.8.8.8", "52.1.2.3", "192.168.1.1", "168.63.129.16"]
for i in range(int(sys.argv[1])):
    nic = random.choice(list(nics))
    proto = random.choice(["tcp", "udp", "icmp"])
    port = random.choice([80, 443, 1433, 22, 8080])
    if proto == "icmp":
        local, remote = nics[nic], random.choice(remotes)
    else:
        local, remote = f"{nics[nic]}:{port}", f"{random.choice(remotes)}:{random.randint(1024, 65535)}"
    print(json.dumps({"nic": nic, "direction": random.choice(["inbound", "outbound"]),
                      "protocol": proto, "local": local, "remote": remote}))
PY
cargo build --release -q
echo "queries: $(wc -l < "$q")"
start=$(date +%s.%N)
./target/release/nsg verify config/three-tier.toml --batch "$q" > /dev/null
end=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'elapsed: {s:.3f} s, {int(sys.argv[3])/s:,.0f} queries/s')" "$start" "$end" "$n"
