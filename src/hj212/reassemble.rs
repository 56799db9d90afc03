//! Split messages (Flag bit D): packets `PNO` 1 to `PNUM` of one message share its QN
//! and MN; the reassembler holds them until all have arrived and returns one message
//! whose CP is theirs in packet order.

use super::message::{CpField, CpValue, DataTime, Message, Packet, FLAG_SPLIT};
use super::{FrameError, FrameErrorKind};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Collects the packets of split messages, keyed by (MN, QN). Each packet comes with a
/// tag of the caller's (a line number, a connection id) that incomplete messages report.
#[derive(Debug)]
pub struct Reassembler<T = ()> {
    pending: HashMap<(String, String), Pending<T>>,
    /// Keys in arrival order of their first packet, for eviction.
    order: VecDeque<(String, String)>,
    max_pending: usize,
    evicted: Vec<Incomplete<T>>,
}

#[derive(Debug)]
struct Pending<T> {
    total: u16,
    parts: BTreeMap<u16, (Message, T)>,
}

/// A split message of which some packets never arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Incomplete<T> {
    /// Station number.
    pub mn: String,
    /// Request number shared by the packets.
    pub qn: String,
    /// Packets announced (`PNUM`).
    pub total: u16,
    /// Packet numbers received, each with its tag, in packet order.
    pub received: Vec<(u16, T)>,
}

impl<T> Reassembler<T> {
    /// A reassembler that holds at most `max_pending` incomplete messages; when one more
    /// arrives, the oldest is dropped and kept for [`Reassembler::take_evicted`].
    pub fn new(max_pending: usize) -> Reassembler<T> {
        Reassembler {
            pending: HashMap::new(),
            order: VecDeque::new(),
            max_pending: max_pending.max(1),
            evicted: Vec::new(),
        }
    }

    /// Takes one parsed message. A message that is not split comes straight back; a
    /// packet comes back as the whole message when it is the last one missing, else
    /// `None`. A packet that repeats one already held unchanged is ignored (a resend).
    /// Errors: a packet without QN, one whose PNUM, ST, CN or PW differ from its
    /// siblings', the same PNO with other content, or siblings whose DataTimes differ.
    pub fn push(&mut self, msg: Message, tag: T) -> Result<Option<Message>, FrameError> {
        let Some(Packet { total, number }) = msg.packet else {
            return Ok(Some(msg));
        };
        let bad = |m: String| FrameError {
            kind: FrameErrorKind::Packet,
            offset: None,
            message: m,
        };
        let Some(qn) = msg.qn.clone() else {
            return Err(bad(format!(
                "packet {number} of {total} from MN {} has no QN to join it with its siblings",
                msg.mn
            )));
        };
        let key = (msg.mn.clone(), qn);
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= self.max_pending {
                self.evict_oldest();
            }
            self.order.push_back(key.clone());
            self.pending.insert(
                key.clone(),
                Pending {
                    total,
                    parts: BTreeMap::new(),
                },
            );
        }
        let Some(p) = self.pending.get_mut(&key) else {
            return Ok(None);
        };
        let what = || format!("packet {number} of QN {} from MN {}", key.1, key.0);
        if p.total != total {
            return Err(bad(format!(
                "{} says PNUM {total}, its siblings {}",
                what(),
                p.total
            )));
        }
        if let Some((first, _)) = p.parts.values().next() {
            if (&first.st, first.cn, &first.pw) != (&msg.st, msg.cn, &msg.pw) {
                return Err(bad(format!(
                    "{} differs from its siblings in ST, CN or PW",
                    what()
                )));
            }
        }
        if let Some((held, _)) = p.parts.get(&number) {
            if *held == msg {
                return Ok(None);
            }
            return Err(bad(format!(
                "{} arrived twice with different content",
                what()
            )));
        }
        p.parts.insert(number, (msg, tag));
        if p.parts.len() < usize::from(total) {
            return Ok(None);
        }
        let Some(p) = self.pending.remove(&key) else {
            return Ok(None);
        };
        self.order.retain(|k| *k != key);
        merge(p)
            .map(Some)
            .map_err(|m| bad(format!("QN {} from MN {}: {m}", key.1, key.0)))
    }

    fn evict_oldest(&mut self) {
        while let Some(key) = self.order.pop_front() {
            if let Some(p) = self.pending.remove(&key) {
                self.evicted.push(incomplete(key, p));
                return;
            }
        }
    }

    /// Incomplete messages held now.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Incomplete messages dropped to stay within `max_pending`, oldest first; taking
    /// them empties the list.
    pub fn take_evicted(&mut self) -> Vec<Incomplete<T>> {
        std::mem::take(&mut self.evicted)
    }

    /// Ends the stream: every message still incomplete, oldest first, and the reassembler
    /// emptied.
    pub fn finish(&mut self) -> Vec<Incomplete<T>> {
        let mut out = Vec::with_capacity(self.pending.len());
        while let Some(key) = self.order.pop_front() {
            if let Some(p) = self.pending.remove(&key) {
                out.push(incomplete(key, p));
            }
        }
        out
    }
}

fn incomplete<T>((mn, qn): (String, String), p: Pending<T>) -> Incomplete<T> {
    Incomplete {
        mn,
        qn,
        total: p.total,
        received: p.parts.into_iter().map(|(n, (_, t))| (n, t)).collect(),
    }
}

/// One message from all its packets: the first packet's header without Flag bit D and
/// packet numbers, the CP items in packet order, a DataTime repeated in every packet
/// kept once.
fn merge<T>(p: Pending<T>) -> Result<Message, String> {
    let mut parts = p.parts.into_values().map(|(m, _)| m);
    let Some(mut out) = parts.next() else {
        return Err("no packets".into());
    };
    out.flag = out.flag.map(|f| f & !FLAG_SPLIT);
    out.packet = None;
    let mut time = out.data_time();
    for m in parts {
        for item in m.cp {
            let mut kept = Vec::with_capacity(item.len());
            for f in item {
                if f.key == "DataTime" {
                    let t = m_time(&f);
                    match time {
                        None => time = t,
                        Some(have) if t == Some(have) => continue,
                        Some(have) => {
                            return Err(format!(
                                "packets carry different DataTimes ({have} and {})",
                                t.map_or_else(String::new, |t| t.to_string())
                            ))
                        }
                    }
                }
                kept.push(f);
            }
            if !kept.is_empty() {
                out.cp.push(kept);
            }
        }
    }
    Ok(out)
}

fn m_time(f: &CpField) -> Option<DataTime> {
    match f.value {
        CpValue::Time(t) => Some(t),
        _ => None,
    }
}
