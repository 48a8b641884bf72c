//! Claims about the simulated network: how many messages were sent,
//! delivered or lost, how long a message took, and that nothing crossed a
//! partition — read from the trace's `Net` events.

use super::words::t;
use super::{Bound, Check, Count, Evidence, Facts, Verdict};
use crate::time::{Duration, Instant};
use crate::trace::{EventKind, NetEvent, Trace};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One message (one write) and its flight: sent, and delivered or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The connection.
    pub conn: u32,
    /// From the connecting side to the listening side.
    pub forward: bool,
    /// Its size.
    pub bytes: u32,
    /// When it was sent, and the event's index.
    pub sent: (Instant, usize),
    /// When it arrived, and the event's index (`None`: lost, or in flight
    /// when the run ended).
    pub delivered: Option<(Instant, usize)>,
}

impl Message {
    /// Sent to delivered.
    pub fn latency(&self) -> Option<Duration> {
        self.delivered
            .map(|(at, _)| at.saturating_duration_since(self.sent.0))
    }
}

/// Every message in `trace`, in the order they were sent. A connection's
/// messages in one direction arrive in order, so each delivery belongs to
/// the earliest message of its direction not delivered yet.
pub fn messages(trace: &Trace) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    let mut waiting: BTreeMap<(u32, bool), VecDeque<usize>> = BTreeMap::new();
    for (seq, e) in trace.events.iter().enumerate() {
        let EventKind::Net { conn, bytes, what } = e.kind else {
            continue;
        };
        match what {
            NetEvent::Sent { forward } => {
                waiting
                    .entry((conn, forward))
                    .or_default()
                    .push_back(out.len());
                out.push(Message {
                    conn,
                    forward,
                    bytes,
                    sent: (e.at, seq),
                    delivered: None,
                });
            }
            NetEvent::Delivered { forward } => {
                if let Some(i) = waiting
                    .get_mut(&(conn, forward))
                    .and_then(VecDeque::pop_front)
                {
                    out[i].delivered = Some((e.at, seq));
                }
            }
            _ => {}
        }
    }
    out
}

/// What a [`MessageCount`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageFate {
    /// Every message written.
    Sent,
    /// Messages that arrived.
    Delivered,
    /// Messages that never arrived (a partition, a crash, or still in
    /// flight at the end).
    Lost,
}

impl MessageFate {
    /// Its name in claims: `sent`, `delivered`, `lost`.
    pub fn name(self) -> &'static str {
        match self {
            MessageFate::Sent => "sent",
            MessageFate::Delivered => "delivered",
            MessageFate::Lost => "lost",
        }
    }
}

/// How many messages were sent, delivered or lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageCount {
    /// Which.
    pub fate: MessageFate,
    /// How many.
    pub count: Count,
}

impl Check for MessageCount {
    fn describe(&self) -> String {
        format!("messages {}: {}", self.fate.name(), self.count.describe())
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let all = messages(f.trace);
        let chosen: Vec<&Message> = all
            .iter()
            .filter(|m| match self.fate {
                MessageFate::Sent => true,
                MessageFate::Delivered => m.delivered.is_some(),
                MessageFate::Lost => m.delivered.is_none(),
            })
            .collect();
        let n = chosen.len() as u64;
        let mut v = Verdict::new(
            self.count.contains(n),
            self.describe(),
            format!("{n} of {} messages", all.len()),
        );
        if self.fate == MessageFate::Lost {
            for m in chosen.iter().take(3) {
                v = v.with(Evidence::at(
                    f.trace,
                    m.sent.1,
                    format!("{} bytes on conn #{} never arrived", m.bytes, m.conn),
                ));
            }
        }
        v
    }

    fn as_claim(&self) -> Option<String> {
        Some(format!(
            "messages = {:?}\n{}",
            self.fate.name(),
            self.count.as_claim_keys()
        ))
    }
}

/// A percentile of the delivered messages' latency, sent to delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageLatency {
    /// Which percentile.
    pub percentile: f64,
    /// The bound.
    pub bound: Bound,
}

impl Check for MessageLatency {
    fn describe(&self) -> String {
        format!(
            "p{} message latency {}",
            self.percentile,
            self.bound.describe()
        )
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let all = messages(f.trace);
        let mut delivered: Vec<(Duration, &Message)> = all
            .iter()
            .filter_map(|m| m.latency().map(|l| (l, m)))
            .collect();
        if delivered.is_empty() {
            return Verdict::new(false, self.describe(), "no message was delivered".into());
        }
        delivered.sort_by_key(|(l, m)| (*l, m.sent.1));
        let n = delivered.len();
        let (l, m) = delivered[super::io::nearest_rank(n, self.percentile) - 1];
        Verdict::new(
            self.bound.contains(l),
            self.describe(),
            format!("p{} {} over {n} delivered messages", self.percentile, t(l)),
        )
        .with(Evidence::at(
            f.trace,
            m.delivered.expect("delivered").1,
            format!("conn #{} took {}", m.conn, t(l)),
        ))
    }

    fn as_claim(&self) -> Option<String> {
        Some(format!(
            "message_latency = {}\n{}",
            self.percentile,
            self.bound.as_claim_keys()
        ))
    }
}

/// Nothing is delivered between two hosts while a partition separates
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoDeliveryAcrossPartition;

impl Check for NoDeliveryAcrossPartition {
    fn describe(&self) -> String {
        "nothing delivered across a partition".to_string()
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let tr = f.trace;
        let mut hosts: BTreeMap<u32, (String, String)> = BTreeMap::new();
        let mut cuts: Vec<(BTreeSet<String>, BTreeSet<String>)> = Vec::new();
        let split = |s: &str| -> BTreeSet<String> { s.split(' ').map(String::from).collect() };
        for (seq, e) in tr.events.iter().enumerate() {
            let EventKind::Net { conn, what, .. } = e.kind else {
                continue;
            };
            match what {
                NetEvent::Connecting { from, to } => {
                    let to = tr.str(to);
                    let host = to.rsplit_once(':').map_or(to, |(h, _)| h);
                    hosts.insert(conn, (tr.str(from).to_string(), host.to_string()));
                }
                NetEvent::Partitioned { a, b, .. } => {
                    cuts.push((split(tr.str(a)), split(tr.str(b))));
                }
                NetEvent::Healed => cuts.clear(),
                NetEvent::Delivered { .. } => {
                    if let Some((x, y)) = hosts.get(&conn)
                        && cuts.iter().any(|(a, b)| {
                            (a.contains(x) && b.contains(y)) || (a.contains(y) && b.contains(x))
                        })
                    {
                        return Verdict::new(
                            false,
                            self.describe(),
                            format!(
                                "conn #{conn} between {x} and {y} delivered during a partition"
                            ),
                        )
                        .with(Evidence::at(
                            tr,
                            seq,
                            "delivered across the partition",
                        ));
                    }
                }
                _ => {}
            }
        }
        Verdict::new(true, self.describe(), "nothing crossed".into())
    }

    fn as_claim(&self) -> Option<String> {
        Some("holds = \"no_delivery_across_partition\"".to_string())
    }
}

/// After each heal, every host whose connection a partition reset
/// connects again (as the connecting side) within `within`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconnectsWithin(pub Duration);

impl Check for ReconnectsWithin {
    fn describe(&self) -> String {
        format!(
            "every cut-off client reconnects within {} of the heal",
            t(self.0)
        )
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let tr = f.trace;
        let mut from: BTreeMap<u32, String> = BTreeMap::new();
        let mut connecting: BTreeMap<u32, String> = BTreeMap::new();
        let mut cut_off: BTreeSet<String> = BTreeSet::new();
        let mut heals: Vec<(Instant, usize, BTreeSet<String>)> = Vec::new();
        let mut partitioned = false;
        // (host, when it connected) for every established connection.
        let mut connected: Vec<(String, Instant)> = Vec::new();
        for (seq, e) in tr.events.iter().enumerate() {
            let EventKind::Net { conn, what, .. } = e.kind else {
                continue;
            };
            match what {
                NetEvent::Connecting { from: h, .. } => {
                    connecting.insert(conn, tr.str(h).to_string());
                }
                NetEvent::Connected => {
                    if let Some(h) = connecting.get(&conn) {
                        from.insert(conn, h.clone());
                        connected.push((h.clone(), e.at));
                    }
                }
                NetEvent::Partitioned { .. } => partitioned = true,
                NetEvent::Reset if partitioned => {
                    if let Some(h) = from.get(&conn) {
                        cut_off.insert(h.clone());
                    }
                }
                NetEvent::Healed => {
                    partitioned = false;
                    heals.push((e.at, seq, std::mem::take(&mut cut_off)));
                }
                _ => {}
            }
        }
        if heals.is_empty() {
            return Verdict::new(false, self.describe(), "the network never healed".into());
        }
        for (at, seq, hosts) in &heals {
            for h in hosts {
                let back = connected
                    .iter()
                    .filter(|(c, when)| c == h && when >= at)
                    .map(|(_, when)| *when)
                    .min();
                let ok = back.is_some_and(|b| b.saturating_duration_since(*at) <= self.0);
                if !ok {
                    let observed = match back {
                        Some(b) => format!(
                            "{h} reconnected {} after the heal",
                            t(b.saturating_duration_since(*at))
                        ),
                        None => format!("{h} never reconnected after the heal"),
                    };
                    return Verdict::new(false, self.describe(), observed)
                        .with(Evidence::at(tr, *seq, "the heal"));
                }
            }
        }
        let n: usize = heals.iter().map(|(_, _, h)| h.len()).sum();
        Verdict::new(
            true,
            self.describe(),
            format!("{n} cut-off client(s) reconnected in time"),
        )
    }

    fn as_claim(&self) -> Option<String> {
        Some(format!("reconnects_within = {:?}", t(self.0)))
    }
}
