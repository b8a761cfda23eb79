//! Upper-layer messages: TCP segments, UDP datagrams, ICMP and ICMPv6
//! messages, each with its checksum field zero until
//! [`set_checksum`](super::set_checksum) fills it.

/// Length of a UDP header.
pub const UDP_LEN: usize = 8;

/// The fields of a TCP header a builder chooses.
#[derive(Debug, Clone, Copy)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits ([`TcpFlags`](crate::TcpFlags) constants).
    pub flags: u8,
    /// Receive window.
    pub window: u16,
    /// The MSS to announce; with it come SACK-permitted and window scale 7
    /// (what a SYN carries).
    pub mss: Option<u16>,
}

impl TcpHeader {
    /// The segment: header, options, then `payload`; checksum zero.
    pub fn segment(&self, payload: &[u8]) -> Vec<u8> {
        let syn_opts;
        let opts: &[u8] = match self.mss {
            Some(mss) => {
                let m = mss.to_be_bytes();
                // MSS, NOP, NOP, SACK permitted, NOP, window scale 7.
                syn_opts = [2, 4, m[0], m[1], 1, 1, 4, 2, 1, 3, 3, 7];
                &syn_opts
            }
            None => &[],
        };
        // The header's length in 32-bit words: 5, or 8 with the options.
        let words: u8 = if opts.is_empty() { 5 } else { 8 };
        let mut s = Vec::with_capacity(20 + opts.len() + payload.len());
        s.extend_from_slice(&self.src_port.to_be_bytes());
        s.extend_from_slice(&self.dst_port.to_be_bytes());
        s.extend_from_slice(&self.seq.to_be_bytes());
        s.extend_from_slice(&self.ack.to_be_bytes());
        s.push(words << 4);
        s.push(self.flags);
        s.extend_from_slice(&self.window.to_be_bytes());
        s.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        s.extend_from_slice(opts);
        s.extend_from_slice(payload);
        s
    }
}

/// Bytes of a UDP datagram, checksum zero. The length field saturates
/// past 64 KiB.
pub fn udp_datagram(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(UDP_LEN + payload.len()).unwrap_or(u16::MAX);
    let mut d = Vec::with_capacity(UDP_LEN + payload.len());
    d.extend_from_slice(&src_port.to_be_bytes());
    d.extend_from_slice(&dst_port.to_be_bytes());
    d.extend_from_slice(&len.to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

/// Bytes of an ICMP or ICMPv6 message: type, code, checksum placeholder,
/// the 4-byte rest of header, then the body.
pub fn icmp_message(ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + body.len());
    m.extend_from_slice(&[ty, code, 0, 0]);
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    m
}
