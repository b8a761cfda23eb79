#!/usr/bin/env python3
"""Write the hand-made seeds of fuzz/seeds/<target>/ (committed; rerun to
regenerate them). Each seed is a small input that once broke, or nearly
broke, a reader: ARM evaluation blowups, control characters in names,
captures libpcap reads but strict readers refuse, odd verify lines."""
import json
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "seeds")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def template(variables, name_expr):
    return json.dumps({
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "variables": variables,
        "resources": [{
            "type": "Microsoft.Network/networkSecurityGroups",
            "name": name_expr,
            "properties": {"securityRules": []},
        }],
    }, separators=(",", ":"))


def azure_seeds():
    # padLeft to 10,000 characters, then replace() of it into itself twice.
    put("azure_json", "arm-padleft-replace.json", template({
        "a": "[padLeft('',10000,'a')]",
        "b": "[replace(variables('a'),'a',variables('a'))]",
        "c": "[replace(variables('b'),'a',variables('b'))]",
    }, "[variables('c')]"))
    # 40 steps of concat doubling through variables.
    v = {"v0": "ab"}
    for i in range(1, 41):
        v[f"v{i}"] = f"[concat(variables('v{i-1}'),variables('v{i-1}'))]"
    put("azure_json", "arm-concat-doubling.json", template(v, "[variables('v40')]"))
    # 30 levels of nested object variables, each holding the previous twice.
    v = {"o0": {"k": "x"}}
    for i in range(1, 31):
        v[f"o{i}"] = {"l": f"[variables('o{i-1}')]", "r": f"[variables('o{i-1}')]"}
    put("azure_json", "arm-nested-objects.json", template(v, "[string(variables('o30'))]"))
    # An NSG whose name holds a control character, as az list writes it.
    put("azure_json", "nsg-control-char-name.json", json.dumps([{
        "type": "Microsoft.Network/networkSecurityGroups",
        "name": "n\u0001x",
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n\u0001x",
        "properties": {"securityRules": [{"name": "r", "properties": {
            "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "*", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "22"}}]},
    }]))


def policy_seeds():
    put("policy_toml", "nsg-control-char-name.toml", """
[[vnet]]
name = "VNet1"
address_space = ["10.0.0.0/16"]

[[subnet]]
name = "S1"
vnet = "VNet1"
prefixes = ["10.0.1.0/24"]
nsg = "n\\u0001x"

[[nic]]
name = "NIC1"
subnet = "S1"
ips = ["10.0.1.4"]

[[nsg]]
name = "n\\u0001x"

[[nsg.rule]]
name = "R1"
priority = 100
direction = "inbound"
access = "allow"
protocol = "tcp"
source = "*"
source_ports = "*"
destination = "*"
destination_ports = "22"
""")


def pcap(link_word, snaplen, records, usec_field=None):
    """A little-endian microsecond pcap; records are (sec, usec, data, incl_len)."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, link_word)
    for sec, usec, data, incl in records:
        incl = len(data) if incl is None else incl
        out += struct.pack("<IIII", sec, usec, incl, len(data)) + data
    return out


def eth_tcp():
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0,
                     bytes([10, 0, 1, 4]), bytes([8, 8, 8, 8]))
    tcp = struct.pack("!HHIIBBHHH", 50000, 80, 1, 0, 0x50, 0x02, 65535, 0, 0)
    return bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + tcp


def eth_vlan_udp6():
    udp = struct.pack("!HHHH", 5353, 53, 12, 0) + b"abcd"
    ip = struct.pack("!IHBB16s16s", 0x60000000, len(udp), 17, 64,
                     bytes.fromhex("fd000010000000010000000000000004"),
                     bytes.fromhex("20010db8000000000000000000000001"))
    return bytes(12) + b"\x81\x00\x00\x07\x86\xdd" + ip + udp


def eth_icmp_error():
    inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 17, 0,
                        bytes([10, 0, 1, 4]), bytes([8, 8, 8, 8])) + struct.pack("!HHHH", 1234, 53, 8, 0)
    icmp = struct.pack("!BBHI", 3, 3, 0, 0) + inner
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                     bytes([8, 8, 8, 8]), bytes([10, 0, 1, 4]))
    return bytes(12) + b"\x08\x00" + ip + icmp


def capture_seeds():
    f = eth_tcp()
    # Link-type word with bits above the low 16 (FCS bits): 805306369.
    put("capture", "linktype-high-bits.pcap", pcap(805306369, 65535, [(1, 0, f + b"\xde\xad\xbe\xef", None)]))
    # A record whose included length exceeds the snap length.
    put("capture", "incl-over-snaplen.pcap", pcap(1, 40, [(1, 0, f, None)]))
    # Snap length 0.
    put("capture", "snaplen-zero.pcap", pcap(1, 0, [(1, 0, f, None)]))
    # Microseconds of 1,000,000 and more.
    put("capture", "usec-overflow.pcap", pcap(1, 65535, [(1, 1_000_000, f, None), (1, 2_500_000, f, None)]))
    # A plain one with three frames, and one cut short in its last record.
    ok = pcap(1, 65535, [(1, 0, f, None), (1, 1, eth_vlan_udp6(), None), (1, 2, eth_icmp_error(), None)])
    put("capture", "three-frames.pcap", ok)
    put("capture", "truncated.pcap", ok[:-10])
    # A minimal pcapng: section header, one Ethernet interface, one packet.
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    shb = struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body + struct.pack("<I", 12 + len(shb_body))
    idb_body = struct.pack("<HHI", 1, 0, 0)
    idb = struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + struct.pack("<I", 12 + len(idb_body))
    pad = (-len(f)) % 4
    epb_body = struct.pack("<IIIII", 0, 0, 1000, len(f), len(f)) + f + bytes(pad)
    epb = struct.pack("<II", 6, 12 + len(epb_body)) + epb_body + struct.pack("<I", 12 + len(epb_body))
    put("capture", "one-frame.pcapng", shb + idb + epb)


def frame_seeds():
    put("frame", "ipv4-tcp", eth_tcp())
    put("frame", "vlan-ipv6-udp", eth_vlan_udp6())
    put("frame", "icmp-error", eth_icmp_error())
    put("frame", "arp", bytes(12) + b"\x08\x06" + bytes(28))
    put("frame", "short", b"\x00\x01\x02")


def verify_seeds():
    q = lambda **k: json.dumps(k)
    put("verify_line", "inbound-http", q(nic="NIC1", direction="inbound", protocol="tcp",
                                         local="10.0.1.4:80", remote="8.8.8.8:50000"))
    put("verify_line", "db-from-logic", q(nic="NIC4", direction="inbound", protocol=6,
                                          local="10.0.2.5:1433", remote="10.0.2.4:40000"))
    put("verify_line", "outbound-v6-icmp", q(nic="NIC3", direction="outbound", protocol="icmp",
                                             local="fd00:10:0:2::4", remote="2001:db8::1"))
    put("verify_line", "udp-v6-ports", q(nic="NIC2", direction="outbound", protocol="udp",
                                         local="[fd00:10:0:1::5]:5353", remote="[2001:db8::53]:53"))
    put("verify_line", "blank", "   \t")
    put("verify_line", "not-utf8", b'{"nic": "NIC1\xff\xfe", "direction": "inbound"}')
    put("verify_line", "not-json", "nic=NIC1 direction=inbound")
    put("verify_line", "unknown-key", q(nic="NIC1", direction="inbound", protocol="tcp",
                                        local="10.0.1.4:80", remote="8.8.8.8:1", extra=1))


def tags_seeds():
    put("service_tags", "small.json", json.dumps({
        "changeNumber": 7, "cloud": "Public", "values": [
            {"name": "Storage", "id": "Storage", "properties": {
                "addressPrefixes": ["20.38.96.0/19", "2603:1000::/40", "13.65.0.1"],
                "networkFeatures": ["NSG", "API"]}},
            {"name": "Sql.WestEurope", "id": "Sql.WestEurope", "properties": {
                "addressPrefixes": ["104.40.168.0/23"]}}]}, indent=1))


if __name__ == "__main__":
    azure_seeds()
    policy_seeds()
    capture_seeds()
    frame_seeds()
    verify_seeds()
    tags_seeds()
    sys.exit(0)
