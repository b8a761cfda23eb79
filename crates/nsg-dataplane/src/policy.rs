//! Policy publication: the compiled policy is shared RCU-style. Workers load
//! the current [`Published`] policy without locking; a reload builds a new one
//! off the fast path and swaps it in atomically with the next generation
//! number, so flows remember which policy decided them.

use arc_swap::ArcSwap;
use nsg_classify::nsg::CompiledPolicy;
use nsg_flow::{NicId, NicIdError, RuleId};
use nsg_packet::Addr;
use nsg_policy::eval::{Decider, Platform, RuleRef};
use nsg_policy::{Direction, Policy};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Rule ids of decisions that no NSG rule made.
const NO_NSG: u32 = u32::MAX;
const PLATFORM_DNS: u32 = u32::MAX - 1;
const PLATFORM_IMDS: u32 = u32::MAX - 2;

/// Encode a decider as the opaque rule id a flow entry keeps:
/// NSG index in the high 16 bits, direction in bit 15, rule index below.
pub fn rule_id(d: &Decider) -> RuleId {
    RuleId(match d {
        Decider::NoNsg => NO_NSG,
        Decider::Platform(Platform::Dns) => PLATFORM_DNS,
        Decider::Platform(Platform::Imds) => PLATFORM_IMDS,
        Decider::Rule(r) => {
            let dir = match r.direction {
                Direction::Inbound => 0,
                Direction::Outbound => 1,
            };
            ((r.nsg as u32) << 16) | (dir << 15) | (r.index as u32 & 0x7fff)
        }
    })
}

/// Decode a rule id made by [`rule_id`].
pub fn decider(id: RuleId) -> Decider {
    match id.0 {
        NO_NSG => Decider::NoNsg,
        PLATFORM_DNS => Decider::Platform(Platform::Dns),
        PLATFORM_IMDS => Decider::Platform(Platform::Imds),
        v => Decider::Rule(RuleRef {
            nsg: (v >> 16) as usize,
            direction: if v & 0x8000 == 0 {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            index: (v & 0x7fff) as usize,
        }),
    }
}

/// `next` with its NICs reordered so that every NIC `prev` also has (by
/// name) keeps its index where it can: flow entries and per-NIC timeouts
/// are keyed by that index. NICs new to `next` take the free places.
pub fn align_nics(prev: &Policy, next: &Policy) -> Policy {
    let n = next.nics.len();
    let mut place: Vec<Option<usize>> = vec![None; n];
    let mut taken = vec![false; n];
    for (j, nic) in next.nics.iter().enumerate() {
        if let Some(i) = prev.nic_by_name(&nic.name) {
            if i < n && !taken[i] {
                place[j] = Some(i);
                taken[i] = true;
            }
        }
    }
    let mut free = (0..n).filter(|&i| !taken[i]);
    let perm: Vec<usize> = place
        .iter()
        .map(|p| p.unwrap_or_else(|| free.next().unwrap_or(0)))
        .collect();
    let mut out = next.clone();
    for (j, &to) in perm.iter().enumerate() {
        out.nics[to] = next.nics[j].clone();
    }
    for asg in &mut out.asgs {
        for m in &mut asg.members {
            *m = perm[*m];
        }
    }
    out
}

/// One immutable published policy.
#[derive(Debug)]
pub struct Published {
    /// Its generation: 1 for the first policy, one more at each publish.
    pub generation: u64,
    /// The policy and its compiled matchers, per NIC and direction.
    pub compiled: CompiledPolicy,
    owners: OwnerMap,
    /// Per NIC: whether an NSG of its path has `flush_connections`.
    flush: Vec<bool>,
}

impl Published {
    /// Compile `policy` as generation `generation`. A policy with more NICs
    /// than a [`NicId`] can number is refused.
    pub fn new(policy: Arc<Policy>, generation: u64) -> Result<Published, NicIdError> {
        let mut owners = OwnerMap::default();
        let mut flush = Vec::with_capacity(policy.nics.len());
        for (i, n) in policy.nics.iter().enumerate() {
            let id = NicId::try_from(i)?;
            for ip in &n.ips {
                owners.insert(Addr::from_ip(*ip), id);
            }
            let f = [Direction::Inbound, Direction::Outbound].iter().any(|&d| {
                policy
                    .layers(i, d)
                    .iter()
                    .any(|&(_, g)| policy.nsgs[g].flush_connections)
            });
            flush.push(f);
        }
        Ok(Published {
            generation,
            compiled: CompiledPolicy::build(policy),
            owners,
            flush,
        })
    }

    /// The policy as published (NICs in the order of the first
    /// generation's, see [`align_nics`]).
    pub fn policy(&self) -> &Policy {
        &self.compiled.policy
    }

    /// The NIC that owns an address.
    #[inline]
    pub fn owner(&self, ip: &IpAddr) -> Option<NicId> {
        self.owners.get(&Addr::from_ip(*ip))
    }

    /// The NIC that owns an address, as the parser gives it.
    #[inline]
    pub fn owner_addr(&self, a: &Addr) -> Option<NicId> {
        self.owners.get(a)
    }

    /// Whether flows at a NIC are re-evaluated after a policy change.
    pub fn flush(&self, nic: NicId) -> bool {
        self.flush.get(usize::from(nic.0)).copied().unwrap_or(false)
    }
}

/// The NIC of each address of the policy: open addressing with linear
/// probing, at most half full, keyed by a multiplicative hash of the
/// address. Built once per publication; a lookup is a multiply, a shift and
/// usually one compare, where a general hash map runs a keyed hash.
#[derive(Debug, Clone)]
struct OwnerMap {
    /// Slots: an address and its NIC, or `None`.
    slots: Vec<Option<(Addr, NicId)>>,
    /// `64 - log2(slots.len())`: the hash's top bits pick the slot.
    shift: u32,
    /// Addresses held.
    len: usize,
}

impl Default for OwnerMap {
    fn default() -> Self {
        OwnerMap {
            slots: vec![None; 16],
            shift: 64 - 4,
            len: 0,
        }
    }
}

impl OwnerMap {
    /// The first slot to probe for `a`: the top bits of its two halves
    /// folded and multiplied by an odd constant (the low half holds a whole
    /// IPv4 address, so every address bit reaches the top bits).
    #[inline]
    fn home(&self, a: &Addr) -> usize {
        let x = a.lo ^ a.hi.rotate_left(32);
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The NIC of `a`.
    #[inline]
    fn get(&self, a: &Addr) -> Option<NicId> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(a);
        // At most half full: an empty slot ends every probe.
        loop {
            match self.slots.get(i)? {
                Some((k, nic)) if k == a => return Some(*nic),
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
    }

    /// Maps `a` to `nic`, replacing its NIC if it had one (the last NIC
    /// to claim an address keeps it).
    fn insert(&mut self, a: Addr, nic: NicId) {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(&a);
        while let Some((k, _)) = self.slots[i] {
            if k == a {
                break;
            }
            i = (i + 1) & mask;
        }
        if self.slots[i].is_none() {
            self.len += 1;
        }
        self.slots[i] = Some((a, nic));
    }

    /// Doubles the slots and places every address again.
    fn grow(&mut self) {
        let doubled = vec![None; 2 * self.slots.len()];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.shift -= 1;
        self.len = 0;
        for (a, nic) in old.into_iter().flatten() {
            self.insert(a, nic);
        }
    }
}

/// The current policy, swapped atomically on reload.
pub struct PolicyCell {
    current: ArcSwap<Published>,
    generation: AtomicU64,
    /// The last [`HISTORY`] policies by generation, to name the rules of
    /// counters and flows decided under them.
    history: Mutex<VecDeque<(u64, Arc<Policy>)>>,
}

/// Policies a [`PolicyCell`] remembers for naming rules.
pub const HISTORY: usize = 64;

/// Names of rule ids of several policy generations.
#[derive(Debug, Clone, Default)]
pub struct RuleNames(pub Vec<(u64, Arc<Policy>)>);

impl RuleNames {
    /// `NSG/RULE` (or `platform/...`, `-`) of rule `id` of `generation`.
    pub fn name(&self, generation: u64, id: RuleId) -> String {
        match self.0.iter().find(|(g, _)| *g == generation) {
            Some((_, p)) => decider(id).name(p).unwrap_or_else(|| "-".to_string()),
            None => format!("rule {:#x} of generation {generation}", id.0),
        }
    }
}

impl PolicyCell {
    /// Publish `policy` as generation 1; refused if it has more NICs than
    /// a [`NicId`] can number.
    pub fn new(policy: Arc<Policy>) -> Result<PolicyCell, NicIdError> {
        Ok(PolicyCell {
            current: ArcSwap::from_pointee(Published::new(policy.clone(), 1)?),
            generation: AtomicU64::new(1),
            history: Mutex::new(VecDeque::from([(1, policy)])),
        })
    }

    /// The current policy (lock-free).
    #[inline]
    pub fn load(&self) -> Arc<Published> {
        self.current.load_full()
    }

    /// The generation of the current policy (one atomic load).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Compile and publish a new policy; returns its generation. The new
    /// policy's NICs are put in the order of the current one's (see
    /// [`align_nics`]), so flows keep finding their NIC across reloads. A
    /// policy with more NICs than a [`NicId`] can number is refused, the
    /// current one stays and no generation is used up.
    pub fn publish(&self, policy: Arc<Policy>) -> Result<u64, NicIdError> {
        let policy = Arc::new(align_nics(self.load().policy(), &policy));
        if let Some(last) = policy.nics.len().checked_sub(1) {
            NicId::try_from(last)?;
        }
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let published = Arc::new(Published::new(policy.clone(), generation)?);
        if let Ok(mut h) = self.history.lock() {
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back((generation, policy));
        }
        self.current.store(published);
        Ok(generation)
    }

    /// The policy of a generation, if it is among the last [`HISTORY`].
    pub fn policy_at(&self, generation: u64) -> Option<Arc<Policy>> {
        let h = self.history.lock().ok()?;
        h.iter()
            .find(|(g, _)| *g == generation)
            .map(|(_, p)| p.clone())
    }

    /// The remembered policies, to name rules.
    pub fn rule_names(&self) -> RuleNames {
        RuleNames(
            self.history
                .lock()
                .map(|h| h.iter().cloned().collect())
                .unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_map_answers_as_a_hash_map_does() {
        let mut map = OwnerMap::default();
        let mut reference = std::collections::HashMap::new();
        let addr = |i: u32| {
            if i.is_multiple_of(5) {
                Addr::from_ip(IpAddr::from([
                    0xfd00,
                    0,
                    0,
                    0,
                    0,
                    0,
                    (i >> 16) as u16,
                    i as u16,
                ]))
            } else {
                Addr::from_v4([10, (i >> 16) as u8, (i >> 8) as u8, i as u8])
            }
        };
        // Addresses claimed twice keep the later NIC, as in a hash map.
        for (n, i) in (0..3000u32).chain(0..100).enumerate() {
            let nic = NicId((n % 7) as u16);
            map.insert(addr(i), nic);
            reference.insert(addr(i), nic);
        }
        assert_eq!(map.len, reference.len());
        for i in 0..6000u32 {
            assert_eq!(map.get(&addr(i)), reference.get(&addr(i)).copied(), "{i}");
        }
        assert_eq!(OwnerMap::default().get(&addr(1)), None);
    }

    #[test]
    fn rule_ids_round_trip() {
        for d in [
            Decider::NoNsg,
            Decider::Platform(Platform::Dns),
            Decider::Platform(Platform::Imds),
            Decider::Rule(RuleRef {
                nsg: 3,
                direction: Direction::Outbound,
                index: 1002,
            }),
            Decider::Rule(RuleRef {
                nsg: 0,
                direction: Direction::Inbound,
                index: 0,
            }),
        ] {
            assert_eq!(decider(rule_id(&d)), d);
        }
    }
}

#[cfg(test)]
mod publication {
    use super::*;
    use std::path::Path;

    fn policy(port: u16) -> Arc<Policy> {
        let text = format!(
            "[[vnet]]\nname = \"V1\"\naddress_space = [\"10.0.0.0/16\"]\n\
             [[subnet]]\nname = \"S\"\nvnet = \"V1\"\nprefixes = [\"10.0.1.0/24\"]\nnsg = \"G\"\n\
             [[nic]]\nname = \"N\"\nsubnet = \"S\"\nips = [\"10.0.1.4\"]\n\
             [[nsg]]\nname = \"G\"\n[[nsg.rule]]\nname = \"Web\"\npriority = 100\n\
             direction = \"inbound\"\naccess = \"allow\"\nprotocol = \"tcp\"\nsource = \"*\"\n\
             destination = \"*\"\ndestination_ports = {port}\n"
        );
        Arc::new(nsg_policy::load_str(&text, Path::new("p.toml"), &Default::default()).unwrap())
    }

    fn two_nics(order: &[&str]) -> Arc<Policy> {
        let mut text = String::from(
            "[[vnet]]\nname = \"V1\"\naddress_space = [\"10.0.0.0/16\"]\n\
             [[subnet]]\nname = \"S\"\nvnet = \"V1\"\nprefixes = [\"10.0.1.0/24\"]\n\
             [[asg]]\nname = \"A\"\n",
        );
        for name in order {
            let last = name.trim_start_matches("NIC");
            text.push_str(&format!(
                "[[nic]]\nname = \"{name}\"\nsubnet = \"S\"\nips = [\"10.0.1.{last}\"]\nasgs = [\"A\"]\n"
            ));
        }
        Arc::new(nsg_policy::load_str(&text, Path::new("n.toml"), &Default::default()).unwrap())
    }

    /// `base` with its first NIC repeated until it has `n` NICs.
    fn with_nics(base: &Policy, n: usize) -> Arc<Policy> {
        let mut p = base.clone();
        let nic = p.nics[0].clone();
        p.nics.resize(n, nic);
        Arc::new(p)
    }

    #[test]
    fn policies_with_more_nics_than_nic_ids_are_refused() {
        let base = policy(80);
        let too_many = with_nics(&base, usize::from(u16::MAX) + 2);
        let e = PolicyCell::new(too_many.clone()).err().unwrap();
        assert_eq!(e.index, usize::from(u16::MAX) + 1);
        let cell = PolicyCell::new(base).unwrap();
        assert_eq!(cell.publish(too_many), Err(e));
        // The policy in force stays, and no generation was used up.
        assert_eq!(cell.load().generation, 1);
        assert_eq!(cell.generation(), 1);
        assert_eq!(cell.load().policy().nics.len(), 1);
        assert_eq!(cell.publish(policy(81)), Ok(2));
    }

    #[test]
    fn reloads_keep_each_nic_at_its_index() {
        let cell = PolicyCell::new(two_nics(&["NIC4", "NIC5"])).unwrap();
        let ip = |s: &str| -> std::net::IpAddr { s.parse().unwrap() };
        assert_eq!(cell.load().owner(&ip("10.0.1.5")), Some(NicId(1)));
        // A NIC inserted first, the others reordered.
        cell.publish(two_nics(&["NIC6", "NIC5", "NIC4"])).unwrap();
        let p = cell.load();
        assert_eq!(p.owner(&ip("10.0.1.4")), Some(NicId(0)));
        assert_eq!(p.owner(&ip("10.0.1.5")), Some(NicId(1)));
        assert_eq!(p.owner(&ip("10.0.1.6")), Some(NicId(2)));
        assert_eq!(p.policy().nics[2].name, "NIC6");
        // ASG membership follows the NICs.
        let members: Vec<&str> = p.policy().asgs[0]
            .members
            .iter()
            .map(|&m| p.policy().nics[m].name.as_str())
            .collect();
        assert_eq!(members.len(), 3);
        for name in ["NIC4", "NIC5", "NIC6"] {
            assert!(members.contains(&name));
        }
        // A removed NIC frees its place for the next new one.
        cell.publish(two_nics(&["NIC7", "NIC5"])).unwrap();
        let p = cell.load();
        assert_eq!(p.owner(&ip("10.0.1.5")), Some(NicId(1)));
        assert_eq!(p.owner(&ip("10.0.1.7")), Some(NicId(0)));
    }

    #[test]
    fn publishing_swaps_the_policy_and_bumps_the_generation() {
        let cell = PolicyCell::new(policy(80)).unwrap();
        let old = cell.load();
        assert_eq!(old.generation, 1);
        let g = cell.publish(policy(8080)).unwrap();
        assert_eq!(g, 2);
        let new = cell.load();
        assert_eq!(new.generation, 2);
        // Readers holding the old policy keep a consistent view.
        assert_eq!(
            old.policy().nsgs[0].inbound[0]
                .destination_ports
                .to_string(),
            "80"
        );
        assert_eq!(
            new.policy().nsgs[0].inbound[0]
                .destination_ports
                .to_string(),
            "8080"
        );
        assert_eq!(new.owner(&"10.0.1.4".parse().unwrap()), Some(NicId(0)));
        // Publishing from another thread while readers load never blocks them.
        let cell = Arc::new(cell);
        std::thread::scope(|s| {
            let c = cell.clone();
            s.spawn(move || {
                for _ in 0..50 {
                    c.publish(policy(81)).unwrap();
                }
            });
            for _ in 0..10_000 {
                assert!(cell.load().generation >= 2);
            }
        });
        assert_eq!(cell.load().generation, 52);
    }
}
