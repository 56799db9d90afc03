//! Simulated HJ 212 collectors and a `meterd` process, shared by `tests/meterd.rs` and the
//! `meterd_bench` example (not part of the service): a store with a catalog whose meters
//! are fed by HJ 212 stations, frames built with the crate's encoder, and the service
//! started as a child process on loopback ports it picks itself.

use meterstore::hj212::{CpField, CpValue, DataTime, Message};
use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, Hj212Source, MeterRole};
use meterstore::{MeterMeta, Options, Reading, Store};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Offset of China's local time, in which the stations' DataTimes are written.
pub const CHINA: i64 = 8 * 3600;
/// Interval of every fixture meter: 15 minutes.
pub const IV: i64 = 900;

/// One enterprise of the fixture: station `mn` feeds its production meter (code `e01`)
/// and its treatment meter (code `e02`); further codes `x00`.. feed extra production
/// meters.
#[derive(Debug, Clone)]
pub struct Station {
    pub mn: String,
    pub enterprise: String,
    /// Meter ids by code, in code order.
    pub meters: Vec<(String, String)>,
}

/// Production and treatment energy per interval of a normal day (kWh): production
/// runs harder by day, treatment follows it; a small deterministic ripple.
pub fn normal(ts: i64, treatment: bool) -> f64 {
    let hour = (ts + CHINA).rem_euclid(86_400) / 3600;
    let base = if (8..20).contains(&hour) { 50.0 } else { 30.0 };
    let ripple = ((ts / IV) % 7) as f64 * 0.3;
    if treatment {
        base * 0.4 + ripple * 0.5
    } else {
        base + ripple
    }
}

/// Makes a store at `dir` with `stations` enterprises of `1 + extra` production meters
/// and one treatment meter each, all fed by HJ 212, and `days` of normal history before
/// `end` (so the service can learn thresholds from it).
pub fn fixture(dir: &Path, stations: usize, extra: usize, days: i64, end: i64) -> Vec<Station> {
    let store = Store::open(dir, Options::default()).expect("store opens");
    let mut cat = Catalog::new();
    let mut out = Vec::new();
    for s in 0..stations {
        let e = format!("E{s:03}");
        cat.upsert_enterprise(Enterprise {
            id: e.clone(),
            ..Enterprise::default()
        })
        .expect("enterprise");
        let mut meters = vec![
            (format!("{e}-P"), "e01".to_owned()),
            (format!("{e}-T"), "e02".to_owned()),
        ];
        meters.extend((0..extra).map(|k| (format!("{e}-X{k:02}"), format!("x{k:02}"))));
        let mn = format!("ST{s:04}");
        for (id, code) in &meters {
            let role = if code == "e02" {
                MeterRole::Treatment
            } else {
                MeterRole::Production
            };
            cat.upsert_meter(CatalogMeter::new(id, &e, role))
                .expect("meter");
            cat.set_hj212_source(
                id,
                Some(Hj212Source {
                    mn: mn.clone(),
                    code: code.clone(),
                }),
            )
            .expect("source");
            store
                .register_meter(id, MeterMeta::default())
                .expect("register");
        }
        out.push(Station {
            mn,
            enterprise: e,
            meters,
        });
    }
    cat.save(&store).expect("catalog saves");
    for st in &out {
        for (id, code) in &st.meters {
            let history: Vec<Reading<'_>> = (0..days * 86_400 / IV)
                .map(|k| end - days * 86_400 + k * IV)
                .map(|ts| Reading::new(id, ts, normal(ts, code == "e02")))
                .collect();
            store.append(&history).expect("history appends");
        }
    }
    store.close().expect("store closes");
    out
}

/// The HJ 212 DataTime of `ts` in China.
pub fn data_time(ts: i64) -> DataTime {
    let s = jiff::Timestamp::from_second(ts + CHINA)
        .expect("a time")
        .strftime("%Y%m%d%H%M%S")
        .to_string();
    DataTime::parse(&s).expect("a DataTime")
}

/// A CN 2051 (minute data) frame from station `mn` at `ts` with `code-Cou` values,
/// asking for an acknowledgement; `qn` numbers it.
pub fn frame(mn: &str, ts: i64, qn: u64, values: &[(&str, f64)]) -> Vec<u8> {
    let flagged: Vec<(&str, f64, char)> = values.iter().map(|&(c, v)| (c, v, 'N')).collect();
    frame_flagged(mn, ts, qn, &flagged)
}

/// [`frame`] with each value's `code-Flag` letter.
pub fn frame_flagged(mn: &str, ts: i64, qn: u64, values: &[(&str, f64, char)]) -> Vec<u8> {
    let mut cp = vec![vec![CpField {
        key: "DataTime".into(),
        value: CpValue::Time(data_time(ts)),
    }]];
    for (code, v, flag) in values {
        cp.push(vec![
            CpField {
                key: format!("{code}-Cou"),
                value: CpValue::Number(*v),
            },
            CpField {
                key: format!("{code}-Flag"),
                value: CpValue::Flag(*flag),
            },
        ]);
    }
    Message {
        qn: Some(format!("{:017}", qn % 100_000_000_000_000_000)),
        st: "32".into(),
        cn: 2051,
        pw: "123456".into(),
        mn: mn.into(),
        flag: Some(5),
        packet: None,
        cp,
    }
    .encode()
    .expect("frame encodes")
}

/// A running `meterd` child process.
pub struct Server {
    pub child: Child,
    pub hj212: SocketAddr,
    pub http: SocketAddr,
    /// Its standard error so far.
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `exe` on `store` with loopback ports it picks, plus `extra` arguments;
    /// waits (at most 60 s) for it to say where it listens.
    pub fn start(exe: &Path, store: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(exe)
            .arg("--store")
            .arg(store)
            .args(["--hj212", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("meterd starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr);
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(rest) = line.trim().strip_prefix("meterd: hj212 ") {
                    let _ = tx.send(rest.to_owned());
                }
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                }
                line.clear();
            }
        });
        let Ok(addrs) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!(
                "meterd did not start: {}",
                log.lock().map(|l| l.clone()).unwrap_or_default()
            );
        };
        let parts: Vec<&str> = addrs.split_whitespace().collect();
        Server {
            child,
            hj212: parts[0].parse().expect("hj212 address"),
            http: parts[2].parse().expect("http address"),
            log,
        }
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("meterd did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it with SIGKILL and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A collector connection: writes bytes and reads acknowledgements (CR LF ended lines).
pub struct Collector {
    pub sock: TcpStream,
    pending: Vec<u8>,
}

impl Collector {
    pub fn connect(addr: SocketAddr) -> Collector {
        let sock = TcpStream::connect(addr).expect("connects");
        sock.set_nodelay(true).expect("nodelay");
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Collector {
            sock,
            pending: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("sends");
    }

    /// Reads `n` acknowledgement frames (or fewer if the connection ends or goes quiet
    /// for the read timeout).
    pub fn acks(&mut self, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        while out.len() < n {
            if let Some(end) = self.pending.windows(2).position(|w| w == b"\r\n") {
                out.push(self.pending.drain(..end + 2).collect());
                continue;
            }
            match self.sock.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => self.pending.extend_from_slice(&buf[..k]),
            }
        }
        out
    }
}

/// The built example next to the running one (`target/<profile>/examples/NAME`).
pub fn sibling_example(name: &str) -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    me.with_file_name(name)
}
