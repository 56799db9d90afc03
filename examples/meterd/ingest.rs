//! The HJ 212 TCP listener. Each connection reads into a buffer and cuts frames out of
//! it: bytes before a `##` are skipped (counted as garbage), a frame is `##`, four length
//! digits and that many data bytes plus CRC and CR LF, so it may arrive over several
//! reads, and one read may hold several. A frame that fails its checks is counted and
//! skipped from its `##` on, and the connection goes on with the next `##`. The readings
//! of all frames cut from one read are appended in one batch; the 9014 acknowledgements
//! of those frames go out only after that append returned, that is once the store's sync
//! policy made them durable. Frames whose data the store or the map rejects are not
//! acknowledged, so the collector sends them again.

use super::state::{Shared, Via};
use meterstore::hj212::{self, Reassembler, FRAME_OVERHEAD, MAX_DATA_LEN};
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bytes read at once.
const READ_CHUNK: usize = 64 * 1024;
/// Split messages held per connection until their last packet arrives.
const MAX_PENDING_SPLIT: usize = 64;

/// Accepts connections until `stop` turns true; then waits for the open ones to finish
/// the frames they hold.
pub async fn listen(listener: TcpListener, shared: Shared, mut stop: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let r = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match r {
            Ok((sock, _)) => {
                let _ = sock.set_nodelay(true);
                shared.metrics.connections.fetch_add(1, Ordering::Relaxed);
                conns.spawn(connection(sock, shared.clone(), stop.clone()));
            }
            Err(e) => eprintln!("meterd: hj212 accept: {e}"),
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// One step of cutting frames out of a buffer.
#[derive(Debug, PartialEq)]
enum Cut {
    /// A frame of this many bytes starts the buffer.
    Frame(usize),
    /// Skip this many bytes: garbage before a `##`.
    Garbage(usize),
    /// A `##` whose length field is not four digits: skip the `##`.
    BadLength,
    /// The buffer ends before the frame does.
    More,
}

fn cut(buf: &[u8]) -> Cut {
    let Some(mut at) = buf.windows(2).position(|w| w == b"##") else {
        // Keep a last `#`: it may start the next frame.
        let keep = usize::from(buf.last() == Some(&b'#'));
        return if buf.len() > keep {
            Cut::Garbage(buf.len() - keep)
        } else {
            Cut::More
        };
    };
    // In a run of `#`, the frame starts with the last two.
    while buf.get(at + 2) == Some(&b'#') {
        at += 1;
    }
    if at > 0 {
        return Cut::Garbage(at);
    }
    let Some(digits) = buf.get(2..6) else {
        return Cut::More;
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Cut::BadLength;
    }
    let len = digits
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    let total = len.min(MAX_DATA_LEN) + FRAME_OVERHEAD;
    if buf.len() < total {
        Cut::More
    } else {
        Cut::Frame(total)
    }
}

/// What the frames of one read amount to.
#[derive(Default)]
struct Batch {
    rows: Vec<super::state::Row>,
    acks: Vec<u8>,
    bad: u64,
    ok: u64,
    garbage: u64,
}

async fn connection(mut sock: TcpStream, shared: Shared, mut stop: watch::Receiver<bool>) {
    let peer = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut split: Reassembler<()> = Reassembler::new(MAX_PENDING_SPLIT);
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = tokio::select! {
            r = sock.read(&mut chunk) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut batch = Batch::default();
        let used = frames(&buf, &shared, &mut split, &mut batch);
        buf.drain(..used);
        let m = &shared.metrics;
        m.frames_ok.fetch_add(batch.ok, Ordering::Relaxed);
        m.frames_bad.fetch_add(batch.bad, Ordering::Relaxed);
        m.garbage_bytes.fetch_add(batch.garbage, Ordering::Relaxed);
        if batch.rows.is_empty() && batch.acks.is_empty() {
            continue;
        }
        let rows = std::mem::take(&mut batch.rows);
        let sh = shared.clone();
        match tokio::task::spawn_blocking(move || sh.append(rows, Via::Hj212)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("meterd: hj212 {peer}: batch not stored, not acknowledged: {e}");
                continue;
            }
            Err(e) => {
                eprintln!("meterd: hj212 {peer}: append task failed: {e}");
                continue;
            }
        }
        if !batch.acks.is_empty() {
            if sock.write_all(&batch.acks).await.is_err() {
                break;
            }
            m.acks.fetch_add(batch.ok_acks(), Ordering::Relaxed);
        }
    }
}

impl Batch {
    /// Acknowledgements in `acks` (each ends with CR LF).
    fn ok_acks(&self) -> u64 {
        self.acks.windows(2).filter(|w| w == b"\r\n").count() as u64
    }
}

/// Cuts and handles every whole frame at the front of `buf`; returns the bytes used.
fn frames(buf: &[u8], shared: &Shared, split: &mut Reassembler<()>, batch: &mut Batch) -> usize {
    let mut at = 0;
    loop {
        match cut(&buf[at..]) {
            Cut::More => return at,
            Cut::Garbage(n) => {
                batch.garbage += n as u64;
                at += n;
            }
            Cut::BadLength => {
                batch.bad += 1;
                at += 2;
            }
            Cut::Frame(n) => {
                if frame(&buf[at..at + n], shared, split, batch) {
                    at += n;
                } else {
                    batch.bad += 1;
                    // The length may be what is wrong: look for the next `##` inside.
                    at += 2;
                }
            }
        }
    }
}

/// Handles one frame; false when it is rejected.
fn frame(bytes: &[u8], shared: &Shared, split: &mut Reassembler<()>, batch: &mut Batch) -> bool {
    let Ok(msg) = hj212::parse(bytes) else {
        return false;
    };
    let ack = msg.ack();
    let whole = match split.push(msg, ()) {
        Ok(w) => w,
        Err(_) => return false,
    };
    split.take_evicted();
    if let Some(msg) = whole {
        let mut out = Vec::new();
        match shared.map.map(&msg, &mut out) {
            Ok(o) => {
                let m = &shared.metrics;
                m.unknown_station
                    .fetch_add(u64::from(o.unknown_station), Ordering::Relaxed);
                m.unknown_code
                    .fetch_add(o.unknown_codes.len() as u64, Ordering::Relaxed);
            }
            Err(_) => return false,
        }
        batch.rows.extend(
            out.iter()
                .map(|r| (r.meter.to_owned(), r.ts, r.value, r.flag)),
        );
    }
    batch.ok += 1;
    if let Some(ack) = ack.and_then(|a| a.encode().ok()) {
        batch.acks.extend_from_slice(&ack);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts() {
        assert_eq!(cut(b"xx##"), Cut::Garbage(2));
        assert_eq!(cut(b"abc#"), Cut::Garbage(3));
        assert_eq!(cut(b"###0"), Cut::Garbage(1));
        assert_eq!(cut(b"##00"), Cut::More);
        assert_eq!(cut(b"##0a12"), Cut::BadLength);
        assert_eq!(cut(b"##0000abcd\r\n"), Cut::Frame(12));
    }
}
