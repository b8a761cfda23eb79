#!/usr/bin/env python3
"""Fill fuzz/corpus/<target> with the committed seeds and inputs drawn from
the shared data directory (which is read, never copied into the repo).

usage: prepare_corpus.py TARGET CORPUS_DIR [DATA_DIR]

Files are named by the hash of their content, so rerunning adds nothing
twice and libFuzzer's own additions stay alongside."""
import glob
import hashlib
import json
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.dirname(HERE)
REPO = os.path.dirname(FUZZ)

MAX_FILE = 256 * 1024
MAX_PCAPS_FOR_FRAMES = 300
FRAMES_PER_PCAP = 16
MAX_CAPTURES = 300


def add(out, data, tag=""):
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()[:16] + tag
    path = os.path.join(out, name)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)


def small_files(pattern):
    for p in sorted(glob.glob(pattern, recursive=True)):
        if os.path.isfile(p) and os.path.getsize(p) <= MAX_FILE:
            yield p


def read(p):
    with open(p, "rb") as f:
        return f.read()


def pcap_frames(data):
    """Ethernet frames of a pcap or pcapng file (as far as it reads)."""
    if len(data) < 24:
        return
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        yield from pcapng_frames(data)
        return
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
             b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if order is None or struct.unpack(order + "I", data[20:24])[0] & 0xFFFF != 1:
        return
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(order + "I", data[off + 8:off + 12])[0]
        off += 16
        if incl > 65536 or off + incl > len(data):
            return
        yield data[off:off + incl]
        off += incl


def pcapng_frames(data):
    off, order, ethernet = 0, "<", []
    while off + 12 <= len(data):
        if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ethernet = []
        btype, blen = struct.unpack(order + "II", data[off:off + 8])
        if blen < 12 or off + blen > len(data):
            return
        body = data[off + 8:off + blen - 4]
        if btype == 1 and len(body) >= 2:
            ethernet.append(struct.unpack(order + "H", body[:2])[0] == 1)
        elif btype == 6 and len(body) >= 20:
            iface, _, _, cap, _ = struct.unpack(order + "IIIII", body[:20])
            if iface < len(ethernet) and ethernet[iface]:
                yield body[20:20 + cap]
        off += blen


def pcaps(data_dir):
    root = os.path.join(data_dir, "pcaps")
    return [p for p in small_files(os.path.join(root, "**", "*"))
            if p.endswith((".pcap", ".pcapng", ".cap"))]


def frame(out, data_dir):
    for p in pcaps(data_dir)[:MAX_PCAPS_FOR_FRAMES]:
        for i, f in enumerate(pcap_frames(read(p))):
            if i == FRAMES_PER_PCAP:
                break
            add(out, f)


def capture(out, data_dir):
    # Spread the picks over the whole list, small files first.
    files = sorted(pcaps(data_dir), key=os.path.getsize)[:MAX_CAPTURES * 2]
    for p in files[::2]:
        add(out, read(p))


def azure_json(out, data_dir):
    for p in small_files(os.path.join(data_dir, "nsg", "**", "*.json")):
        add(out, read(p))


def service_tags(out, data_dir):
    # Trimmed copies: the files are large, the structure repeats.
    for p in sorted(glob.glob(os.path.join(data_dir, "servicetags", "*.json"))):
        doc = json.loads(read(p))
        values = doc.get("values", [])
        for start in (0, len(values) // 2, max(0, len(values) - 8)):
            part = []
            for v in values[start:start + 8]:
                v = json.loads(json.dumps(v))
                props = v.get("properties", {})
                props["addressPrefixes"] = props.get("addressPrefixes", [])[:24]
                part.append(v)
            trimmed = dict(doc, values=part)
            add(out, json.dumps(trimmed, indent=1))


def policy_toml(out, data_dir):
    for p in sorted(glob.glob(os.path.join(REPO, "config", "*.toml")) +
                    glob.glob(os.path.join(REPO, "tests", "data", "*.toml"))):
        add(out, read(p))
    # The TOML policies written out in the policy tests.
    raw = re.compile(r'r#"(.*?)"#', re.S)
    for p in sorted(glob.glob(os.path.join(REPO, "crates", "nsg-policy", "tests", "*.rs")) +
                    glob.glob(os.path.join(REPO, "tests", "*.rs"))):
        for m in raw.finditer(read(p).decode("utf-8", "replace")):
            text = m.group(1)
            if "[[" in text and "=" in text:
                add(out, text)


def verify_line(out, data_dir):
    nics = {"NIC1": ("10.0.1.4", "fd00:10:0:1::4"), "NIC2": ("10.0.1.5", "fd00:10:0:1::5"),
            "NIC3": ("10.0.2.4", "fd00:10:0:2::4"), "NIC4": ("10.0.2.5", "fd00:10:0:2::5")}
    remotes = (("8.8.8.8", "2001:db8::1"), ("10.0.2.4", "fd00:10:0:2::4"),
               ("168.63.129.16", "fe80::1"))
    for nic, locals_ in nics.items():
        for fam in (0, 1):
            for r in remotes:
                for d in ("inbound", "outbound"):
                    for proto, lport, rport in (("tcp", 80, 50000), ("udp", 53, 1234),
                                                ("icmp", None, None), (6, 1433, 40000)):
                        def ep(ip, port):
                            if port is None:
                                return ip
                            return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
                        add(out, json.dumps({"nic": nic, "direction": d, "protocol": proto,
                                             "local": ep(locals_[fam], lport),
                                             "remote": ep(r[fam], rport)}))


def main():
    target, out = sys.argv[1], sys.argv[2]
    data_dir = sys.argv[3] if len(sys.argv) > 3 else ""
    os.makedirs(out, exist_ok=True)
    seeds = os.path.join(FUZZ, "seeds", target)
    for p in sorted(glob.glob(os.path.join(seeds, "*"))):
        add(out, read(p), "-seed")
    regressions = os.path.join(FUZZ, "regressions", target)
    for p in sorted(glob.glob(os.path.join(regressions, "*"))):
        add(out, read(p), "-regression")
    if target in ("policy_toml", "analysis"):
        policy_toml(out, data_dir)
    elif target == "verify_line":
        verify_line(out, data_dir)
    if data_dir and os.path.isdir(data_dir):
        {"frame": frame, "capture": capture, "azure_json": azure_json,
         "service_tags": service_tags}.get(target, lambda o, d: None)(out, data_dir)
    print(f"{target}: {len(os.listdir(out))} inputs in {out}")


if __name__ == "__main__":
    main()
