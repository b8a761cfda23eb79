//! ARP and IPv6 neighbour discovery as the switch needs them: the readers
//! and builders of `nsg_packet::wire`, under the names the switch's
//! decisions use. Untagged Ethernet only; nothing panics on a short frame.

pub use nsg_packet::wire::arp::{
    parse as parse_arp, reply as arp_reply, request as arp_request, Arp, REPLY as ARP_REPLY,
    REQUEST as ARP_REQUEST,
};
pub use nsg_packet::wire::nd::{
    neighbor_advert, neighbor_solicit, parse as parse_nd, Nd,
    NEIGHBOR_ADVERT as ND_NEIGHBOR_ADVERT, NEIGHBOR_SOLICIT as ND_NEIGHBOR_SOLICIT,
};
pub use nsg_packet::wire::{dst_mac, is_multicast_mac, set_macs, src_mac};
