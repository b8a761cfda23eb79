//! The DHCPv4 and DHCPv6 answerers of the switch on whatever a host sends:
//! never a panic; an answer is a message that reads back, and a DHCPv4
//! ACK or OFFER only ever leases the NIC's address.
#![no_main]

use dhcproto::{v4, v6, Decodable};
use libfuzzer_sys::fuzz_target;
use nsg_dataplane::switch::{dhcp, dhcp6};
use std::net::{Ipv4Addr, Ipv6Addr};

const NIC: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 4);

fuzz_target!(|data: &[u8]| {
    let lease = dhcp::Lease {
        addr: NIC,
        prefix_len: 24,
        router: Some(Ipv4Addr::new(10, 0, 1, 1)),
    };
    for l in [Some(&lease), None] {
        if let Ok(Some(r)) = dhcp::answer(data, l) {
            let m = v4::Message::from_bytes(&r.payload).expect("our reply reads back");
            if r.kind != dhcp::Kind::Nak && !m.yiaddr().is_unspecified() {
                assert_eq!(m.yiaddr(), NIC);
            }
        }
    }
    let duid = dhcp6::server_duid([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc]);
    let addr: Ipv6Addr = "fd00:10:0:1::4".parse().unwrap();
    for a in [Some(addr), None] {
        if let Ok(Some(r)) = dhcp6::answer(data, a, &duid) {
            v6::Message::from_bytes(&r).expect("our reply reads back");
        }
    }
});
