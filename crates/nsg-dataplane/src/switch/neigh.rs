//! ARP and IPv6 neighbour discovery as the switch needs them: the readers
//! and builders of `nsg_packet::wire`, under the names the switch's
//! decisions use. Untagged Ethernet only; nothing panics on a short frame.

pub use nsg_packet::wire::arp::{
    parse as parse_arp, reply as arp_reply, request as arp_request, Arp, REQUEST as ARP_REQUEST,
};
pub use nsg_packet::wire::nd::{
    multicast_mac, neighbor_advert, neighbor_solicit, parse as parse_nd, Nd,
    NEIGHBOR_SOLICIT as ND_NEIGHBOR_SOLICIT, ROUTER_SOLICIT as ND_ROUTER_SOLICIT,
};
pub use nsg_packet::wire::{is_multicast_mac, set_macs, src_mac, BROADCAST};

/// What the switch's tests read answers with.
#[cfg(test)]
pub use nsg_packet::wire::{
    arp::REPLY as ARP_REPLY, dst_mac, nd::NEIGHBOR_ADVERT as ND_NEIGHBOR_ADVERT,
};
