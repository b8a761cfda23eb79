//! Parse cost per frame: a 64-byte TCP/IPv4 frame through the fast path, the
//! slow (etherparse) path and `parse`; a VLAN-tagged IPv6 frame; an ICMP
//! error (slow path only).

use criterion::{black_box, criterion_main, Criterion, Throughput};
use etherparse::PacketBuilder;

fn tcp64() -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 1, 4], [10, 0, 2, 5], 64)
        .tcp(50000, 80, 1, 65535)
        .ack(1);
    let payload = [0u8; 10]; // 14 + 20 + 20 + 10 = 64 bytes
    let mut v = Vec::new();
    b.write(&mut v, &payload).unwrap();
    assert_eq!(v.len(), 64);
    v
}

fn vlan_v6() -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .single_vlan(100.try_into().unwrap())
        .ipv6(
            [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4],
            [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5],
            64,
        )
        .udp(5353, 53);
    let mut v = Vec::new();
    b.write(&mut v, &[0; 8]).unwrap();
    v
}

fn icmp_error() -> Vec<u8> {
    let inner = tcp64();
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        .ipv4([10, 0, 2, 5], [10, 0, 1, 4], 64)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ));
    let mut v = Vec::new();
    b.write(&mut v, &inner[14..42]).unwrap();
    v
}

/// Per-frame cost over a batch of 64 copies of `frame` (as a worker sees a
/// burst), reading a field of each result so nothing is optimised away and
/// the whole result is not forced through memory.
fn burst(c: &mut Criterion, name: &str, frame: &[u8], parse: fn(&[u8]) -> Option<u16>) {
    let frames: Vec<Vec<u8>> = (0..64).map(|_| frame.to_vec()).collect();
    let mut g = c.benchmark_group("parse_burst");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for f in &frames {
                acc += u64::from(parse(black_box(f)).unwrap_or(0));
            }
            acc
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let f = tcp64();
    burst(c, "tcp64/fast", &f, |f| {
        nsg_packet::fast::parse(f).and_then(|x| x.ip().map(|m| m.tuple.dst_port))
    });
    burst(c, "tcp64/parse", &f, |f| {
        nsg_packet::parse(f)
            .ok()
            .and_then(|x| x.ip().map(|m| m.tuple.dst_port))
    });
    burst(c, "tcp64/slow", &f, |f| {
        nsg_packet::slow::parse(f)
            .ok()
            .and_then(|x| x.ip().map(|m| m.tuple.dst_port))
    });
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tcp64/fast", |b| {
        b.iter(|| nsg_packet::fast::parse(black_box(&f)))
    });
    g.bench_function("tcp64/slow", |b| {
        b.iter(|| nsg_packet::slow::parse(black_box(&f)))
    });
    g.bench_function("tcp64/parse", |b| {
        b.iter(|| nsg_packet::parse(black_box(&f)))
    });
    g.bench_function("tcp64/etherparse_sliced_packet", |b| {
        b.iter(|| etherparse::SlicedPacket::from_ethernet(black_box(&f)).is_ok())
    });
    let v = vlan_v6();
    g.bench_function("vlan_udp6/parse", |b| {
        b.iter(|| nsg_packet::parse(black_box(&v)))
    });
    let e = icmp_error();
    g.bench_function("icmp_error/parse", |b| {
        b.iter(|| nsg_packet::parse(black_box(&e)))
    });
    g.finish();
}

/// The criterion group, in a module of its own: the function the macro
/// makes is public, and needs no documentation where nothing can reach it.
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
