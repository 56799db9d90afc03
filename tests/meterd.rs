//! `meterd` as a process over loopback: simulated HJ 212 collectors (the crate's encoder)
//! and raw byte streams (split, concatenated, corrupted, oversized), the HTTP API through
//! an HTTP client, the alarm stream through an SSE consumer and a webhook receiver, SIGTERM
//! and kill -9 with a restart. Every wait is bounded.

#[allow(
    dead_code,
    reason = "shared with the benchmark, which uses other parts"
)]
#[path = "../examples/meterd/collector.rs"]
mod collector;

use collector::{fixture, frame, frame_flagged, normal, Collector, Server, IV};
use meterstore::hj212;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// 2024-03-01T00:00:00Z.
const T0: i64 = 1_709_251_200;

fn meterd() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "--example", "meterd"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs")
            .success();
        assert!(ok, "cargo build --example meterd failed");
        // target/debug/deps/meterd-<hash> -> target/debug/examples/meterd
        let me = std::env::current_exe().expect("own path");
        let debug = me.parent().and_then(|d| d.parent()).expect("target dir");
        debug.join("examples").join("meterd")
    })
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// Status and body of a GET (error statuses included).
fn get(url: &str) -> (u16, String) {
    match agent().get(url).call() {
        Ok(r) => (r.status(), r.into_string().expect("body")),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().expect("body")),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn post(url: &str, ctype: &str, body: &str) -> (u16, String) {
    match agent()
        .post(url)
        .set("content-type", ctype)
        .send_string(body)
    {
        Ok(r) => (r.status(), r.into_string().expect("body")),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().expect("body")),
        Err(e) => panic!("POST {url}: {e}"),
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A metric's value from the Prometheus text.
fn metric(server: &Server, name_and_labels: &str) -> u64 {
    let (_, text) = get(&server.url("/metrics"));
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name_and_labels} not in\n{text}"))
}

/// The meter's readings through `GET /meters/{id}/history?format=json`.
fn readings(server: &Server, meter: &str) -> Vec<(i64, f64)> {
    let (code, body) = get(&server.url(&format!("/meters/{meter}/history?format=json")));
    assert_eq!(code, 200, "{body}");
    json(&body)["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["ts"].as_i64().expect("ts"),
                r["value"].as_f64().expect("value"),
            )
        })
        .collect()
}

fn qn_of(ack: &[u8]) -> String {
    let m = hj212::parse(ack).expect("an ack parses");
    assert_eq!(m.cn, 9014);
    m.qn.expect("ack has QN")
}

#[test]
fn hj212_streams_split_concatenated_garbage_corrupt_and_oversized() {
    let dir = tempfile::tempdir().unwrap();
    let st = fixture(dir.path(), 2, 0, 0, T0);
    let server = Server::start(meterd(), dir.path(), &[]);
    let mut c = Collector::connect(server.hj212);
    let f = |k: i64, v: f64| {
        frame(
            &st[0].mn,
            T0 + k * IV,
            k as u64,
            &[("e01", v), ("e02", v / 2.0)],
        )
    };
    // A frame in three pieces over three writes.
    let a = f(0, 10.0);
    for piece in [&a[..5], &a[5..40], &a[40..]] {
        c.send(piece);
        std::thread::sleep(Duration::from_millis(30));
    }
    // Two frames in one write; garbage before a frame.
    let mut bytes = [f(1, 11.0), f(2, 12.0)].concat();
    bytes.extend_from_slice(b"hello\r\n#");
    bytes.extend_from_slice(&f(3, 13.0));
    c.send(&bytes);
    // A corrupted frame (one digit of a value changed: CRC mismatch), then a good one.
    let mut bad = f(4, 14.0);
    let at = bad
        .windows(6)
        .position(|w| w == b"Cou=14")
        .map(|i| i + 4)
        .expect("value");
    bad[at] = b'9';
    c.send(&[bad, f(5, 15.0)].concat());
    // An oversized announcement (length 9999 with far fewer data bytes) and a lone `##`
    // with no length, then a good frame.
    let mut big = b"##9999QN=1;".to_vec();
    big.extend(std::iter::repeat_n(b'x', 12_000));
    big.extend_from_slice(b"##zz");
    big.extend_from_slice(&f(6, 16.0));
    c.send(&big);
    let acks: Vec<String> = c.acks(6).iter().map(|a| qn_of(a)).collect();
    let want: Vec<String> = [0, 1, 2, 3, 5, 6]
        .iter()
        .map(|k| format!("{k:017}"))
        .collect();
    assert_eq!(acks, want);
    // The connection is still open after the bad frames.
    c.send(&f(7, 17.0));
    assert_eq!(c.acks(1).len(), 1);
    let p = readings(&server, &st[0].meters[0].0);
    let want: Vec<(i64, f64)> = [0, 1, 2, 3, 5, 6, 7]
        .iter()
        .map(|&k| (T0 + k * IV, 10.0 + k as f64))
        .collect();
    assert_eq!(p, want);
    assert_eq!(readings(&server, &st[0].meters[1].0).len(), 7);
    assert_eq!(
        metric(&server, "meterd_hj212_frames_total{outcome=\"ok\"}"),
        7
    );
    assert!(metric(&server, "meterd_hj212_frames_total{outcome=\"bad\"}") >= 3);
    assert_eq!(metric(&server, "meterd_hj212_acks_total"), 7);
    assert_eq!(
        metric(&server, "meterd_readings_ingested_total{source=\"hj212\"}"),
        14
    );
    assert!(server.terminate().success());
}

#[test]
fn many_collectors_at_once_all_acknowledged_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let st = fixture(dir.path(), 8, 0, 0, T0);
    let server = Server::start(meterd(), dir.path(), &[]);
    let addr = server.hj212;
    let threads: Vec<_> = st
        .iter()
        .map(|s| {
            let mn = s.mn.clone();
            std::thread::spawn(move || {
                let mut c = Collector::connect(addr);
                let frames: Vec<u8> = (0..200)
                    .flat_map(|k| {
                        frame(
                            &mn,
                            T0 + k * IV,
                            k as u64,
                            &[("e01", k as f64), ("e02", 1.0)],
                        )
                    })
                    .collect();
                // In pieces that cut frames anywhere.
                for piece in frames.chunks(777) {
                    c.send(piece);
                }
                c.acks(200).len()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("collector"), 200);
    }
    for s in &st {
        let r = readings(&server, &s.meters[0].0);
        assert_eq!(r.len(), 200);
        assert!(r
            .iter()
            .enumerate()
            .all(|(k, &(ts, v))| ts == T0 + k as i64 * IV && v == k as f64));
    }
    assert!(server.terminate().success());
}

#[test]
fn http_api_readings_history_imbalance_metrics_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let st = fixture(dir.path(), 1, 0, 2, T0);
    let server = Server::start(meterd(), dir.path(), &[]);
    let p = &st[0].meters[0].0;
    let (code, body) = get(&server.url("/healthz"));
    assert_eq!((code, json(&body)["status"].as_str()), (200, Some("ok")));
    // CSV as import_csv takes it, with an RFC 3339 timestamp and Unix seconds, and the
    // optional flag column (empty is N).
    let csv = format!(
        "meter_id,ts,kwh,flag\n{p},{},1.5,\n{p},2024-03-01T00:15:00Z,2.5,M\n",
        T0
    );
    let (code, body) = post(&server.url("/readings"), "text/csv", &csv);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["stored"], 2);
    // JSON lines, with an optional flag.
    let lines = format!(
        "{{\"meter_id\":\"{p}\",\"ts\":{},\"value\":3.5,\"flag\":\"D\"}}\n{{\"meter_id\":\"{p}\",\"ts\":\"2024-03-01T00:45:00Z\",\"value\":4.5}}\n",
        T0 + 1800
    );
    let (code, body) = post(&server.url("/readings"), "application/x-ndjson", &lines);
    assert_eq!(code, 200, "{body}");
    // A batch with one bad line is rejected whole, naming the line.
    let bad = format!("meter_id,ts,kwh\n{p},{},9\n{p},yesterday,9\n", T0 + 3600);
    let (code, body) = post(&server.url("/readings"), "text/csv", &bad);
    assert_eq!(code, 400);
    assert!(
        json(&body)["error"].as_str().unwrap().contains("line 3"),
        "{body}"
    );
    // So is one with a letter that is no quality flag, in CSV or JSON.
    let bad = format!(
        "meter_id,ts,kwh,flag\n{p},{},9,N\n{p},{},9,X\n",
        T0 + 3600,
        T0 + 4500
    );
    let (code, body) = post(&server.url("/readings"), "text/csv", &bad);
    assert_eq!(code, 400);
    let e = json(&body)["error"].as_str().unwrap().to_owned();
    assert!(
        e.contains("line 3") && e.contains("column flag") && e.contains("\"X\""),
        "{e}"
    );
    let bad = format!(
        "{{\"meter_id\":\"{p}\",\"ts\":{},\"value\":1,\"flag\":\"m\"}}\n",
        T0 + 3600
    );
    let (code, body) = post(&server.url("/readings"), "application/x-ndjson", &bad);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("line 1") && body.contains("column flag"),
        "{body}"
    );
    // Off the meter's grid: the store rejects the batch.
    let off = format!("meter_id,ts,kwh\n{p},{},9\n", T0 + 3601);
    let (code, body) = post(&server.url("/readings"), "text/csv", &off);
    assert_eq!(code, 400, "{body}");
    let (code, body) = post(
        &server.url("/readings"),
        "application/json",
        "{\"meter_id\":1}\n",
    );
    assert_eq!(code, 400, "{body}");
    // History: CSV rows of the range, from/to as Unix seconds or RFC 3339.
    let (code, body) = get(&server.url(&format!(
        "/meters/{p}/history?from={T0}&to=2024-03-01T01:00:00Z&format=csv"
    )));
    assert_eq!(code, 200);
    assert_eq!(
        body,
        format!(
            "meter_id,ts,value,flag\n{p},{T0},1.5,N\n{p},{},2.5,M\n{p},{},3.5,D\n{p},{},4.5,N\n",
            T0 + 900,
            T0 + 1800,
            T0 + 2700
        )
    );
    // JSON history carries each reading's flag; an HJ 212 frame's code-Flag arrives as the
    // reading's flag.
    let mut c = Collector::connect(server.hj212);
    c.send(&frame_flagged(
        &st[0].mn,
        T0 + 3600,
        1,
        &[("e01", 5.0, 'C'), ("e02", 1.0, 'N')],
    ));
    assert_eq!(c.acks(1).len(), 1);
    let (code, body) = get(&server.url(&format!(
        "/meters/{p}/history?from={T0}&to={}&format=json",
        T0 + 3600 + IV
    )));
    assert_eq!(code, 200, "{body}");
    let flags: Vec<String> = json(&body)["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["flag"].as_str().expect("flag").to_owned())
        .collect();
    assert_eq!(flags, ["N", "M", "D", "N", "C"]);
    // Buckets: the hour's sum.
    let (code, body) = get(&server.url(&format!(
        "/meters/{p}/history?from={T0}&to={}&bucket=1h&agg=sum&format=json",
        T0 + 3600
    )));
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["rows"][0]["value"].as_f64(), Some(12.0));
    assert_eq!(v["rows"][0]["ts"].as_i64(), Some(T0));
    // Errors: JSON with a fitting status.
    let (code, body) = get(&server.url("/meters/NOPE/history"));
    assert_eq!(code, 404);
    assert!(json(&body)["error"].as_str().unwrap().contains("NOPE"));
    let (code, body) = get(&server.url(&format!("/meters/{p}/history?from=soon")));
    assert_eq!(code, 400);
    assert!(json(&body)["error"].as_str().unwrap().contains("from"));
    let (code, _) = get(&server.url(&format!("/meters/{p}/history?format=xml")));
    assert_eq!(code, 400);
    let (code, body) = get(&server.url("/no/such/thing"));
    assert_eq!(code, 404);
    assert!(json(&body)["error"].is_string());
    // Imbalance over the two days of history: production runs harder by day.
    let (code, body) = get(&server.url(&format!(
        "/imbalance?from={}&to={T0}&day=08:00-20:00&tz=%2B08:00&by=enterprise",
        T0 - 2 * 86_400
    )));
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    let row = &v["rows"][0];
    assert_eq!(row["id"], "E000");
    let (day, night) = (
        row["day_kw"].as_f64().unwrap(),
        row["night_kw"].as_f64().unwrap(),
    );
    assert!(night < day, "{body}");
    assert_eq!(row["flagged"], false);
    let (code, body) = get(&server.url(&format!(
        "/imbalance?from={}&to={T0}&daily=true",
        T0 - 2 * 86_400
    )));
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    // One row per enterprise and local date, as `imbalance --daily` writes them.
    let rows = v["rows"].as_array().expect("rows");
    let days: Vec<_> = rows.iter().filter(|r| r["id"] == rows[0]["id"]).collect();
    assert_eq!(days.len(), 3, "{body}");
    assert_eq!(days[0]["date"], "2024-02-28");
    assert_eq!(days[1]["date"], "2024-02-29");
    let (code, _) = get(&server.url("/imbalance?by=galaxy"));
    assert_eq!(code, 400);
    assert_eq!(
        metric(&server, "meterd_readings_ingested_total{source=\"http\"}"),
        4
    );
    assert!(metric(&server, "meterd_http_requests_total{class=\"4xx\"}") >= 7);
    let (code, body) = get(&server.url("/"));
    assert_eq!(code, 200);
    assert!(body.contains("EventSource(\"/alarms/stream\")"));
    assert!(server.terminate().success());
}

/// A webhook receiver that answers 500 to the first `fail` requests and 200 after; the
/// bodies of the accepted ones.
fn webhook(fail: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        let mut n = 0;
        for sock in listener.incoming().flatten() {
            let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
            let mut r = BufReader::new(sock);
            let mut len = 0usize;
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            n += 1;
            let status = if n <= fail {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            if n > fail {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = write!(
                r.get_mut(),
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, got)
}

#[test]
fn alarms_reach_the_api_the_sse_stream_and_the_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let st = fixture(dir.path(), 1, 0, 15, T0);
    let (hook, delivered) = webhook(2);
    let server = Server::start(
        meterd(),
        dir.path(),
        &["--lateness", "0", "--webhook", &hook, "--train-days", "14"],
    );
    // An SSE consumer.
    let sse = agent()
        .get(&server.url("/alarms/stream"))
        .call()
        .expect("SSE answers");
    assert_eq!(sse.content_type(), "text/event-stream");
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = events.clone();
    let mut reader = BufReader::new(sse.into_reader());
    std::thread::spawn(move || {
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                sink.lock().unwrap().push(data.to_owned());
            }
            line.clear();
        }
    });
    let (code, body) = get(&server.url("/alarms?open=true"));
    assert_eq!((code, json(&body)), (200, serde_json::json!([])));
    // Production runs as usual, the treatment facility is off for three hours.
    send_mismatch(&server, &st[0].mn, 12);
    let until = Instant::now() + Duration::from_secs(30);
    let opened = loop {
        let found = events
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.contains("\"opened\""))
            .cloned();
        if let Some(e) = found {
            break json(&e);
        }
        assert!(
            Instant::now() < until,
            "no alarm event on the SSE stream; log:\n{}",
            server.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let alarm = &opened["alarm"];
    assert_eq!(alarm["enterprise"], "E000");
    assert_eq!(alarm["meters"][0], st[0].meters[1].0);
    assert_eq!(alarm["start"].as_i64(), Some(T0));
    let (_, body) = get(&server.url("/alarms"));
    assert!(!json(&body).as_array().unwrap().is_empty(), "{body}");
    // The webhook gets the same events once its receiver recovers (two failures first).
    let until = Instant::now() + Duration::from_secs(30);
    while !delivered
        .lock()
        .unwrap()
        .iter()
        .any(|b| b.contains("\"opened\""))
    {
        assert!(Instant::now() < until, "webhook not delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = json(&delivered.lock().unwrap()[0]);
    assert_eq!(first, opened);
    assert!(
        metric(
            &server,
            "meterd_webhook_deliveries_total{outcome=\"retried\"}"
        ) >= 2
    );
    assert!(server.terminate().success());
}

#[test]
fn every_acknowledged_reading_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let st = fixture(dir.path(), 4, 0, 0, T0);
    let server = Server::start(meterd(), dir.path(), &[]);
    let addr = server.hj212;
    let acked = Arc::new(Mutex::new(BTreeSet::<(String, i64)>::new()));
    let threads: Vec<_> = st
        .iter()
        .map(|s| {
            let (mn, acked) = (s.mn.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut c = Collector::connect(addr);
                let _ = c.sock.set_read_timeout(Some(Duration::from_secs(3)));
                for round in 0..1000i64 {
                    let frames: Vec<u8> = (0..10)
                        .flat_map(|j| {
                            let k = round * 10 + j;
                            frame(&mn, T0 + k * IV, k as u64, &[("e01", k as f64)])
                        })
                        .collect();
                    if c.sock.write_all(&frames).is_err() {
                        return;
                    }
                    let acks = c.acks(10);
                    for a in &acks {
                        let k: i64 = qn_of(a).parse().expect("qn");
                        acked.lock().unwrap().insert((mn.clone(), T0 + k * IV));
                    }
                    if acks.len() < 10 {
                        return;
                    }
                }
            })
        })
        .collect();
    // Kill while the collectors are sending.
    let until = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 2000 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    for t in threads {
        t.join().expect("collector");
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 100,
        "only {} acks before the kill",
        acked.len()
    );
    let server = Server::start(meterd(), dir.path(), &[]);
    for s in &st {
        let have: BTreeSet<i64> = readings(&server, &s.meters[0].0)
            .into_iter()
            .map(|r| r.0)
            .collect();
        let lost: Vec<i64> = acked
            .iter()
            .filter(|(mn, ts)| *mn == s.mn && !have.contains(ts))
            .map(|r| r.1)
            .collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged readings of {} lost",
            lost.len(),
            s.mn
        );
    }
    assert!(server.terminate().success());
}

#[test]
fn open_alarms_are_open_again_after_kill_9_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let st = fixture(dir.path(), 1, 0, 15, T0);
    let args = ["--lateness", "0", "--train-days", "14"];
    let server = Server::start(meterd(), dir.path(), &args);
    raise_alarm(&server, &st[0].mn);
    let before = json(&get(&server.url("/alarms?open=true")).1);
    assert_eq!(before[0]["start"].as_i64(), Some(T0), "{before}");
    server.kill();
    let server = Server::start(meterd(), dir.path(), &args);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let now = json(&get(&server.url("/alarms?open=true")).1);
        if now == before {
            break;
        }
        assert!(
            Instant::now() < until,
            "open alarms after the restart: {now}, before: {before}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let open = before.as_array().map_or(0, Vec::len) as u64;
    assert_eq!(metric(&server, "meterd_alarms_open"), open);
    // Nothing is sent again for the replayed alarm.
    assert_eq!(
        metric(&server, "meterd_alarm_events_total{event=\"opened\"}"),
        0
    );
    assert!(server.terminate().success());
    // Without the replay the monitor starts at the end of the data: nothing is open.
    let server = Server::start(meterd(), dir.path(), &["--replay-days", "0"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        json(&get(&server.url("/alarms?open=true")).1),
        serde_json::json!([])
    );
    assert!(server.terminate().success());
}

/// Sends four hours of station `mn` through HJ 212 from T0: production as usual, the
/// treatment facility off for the first `off` quarter hours.
fn send_mismatch(server: &Server, mn: &str, off: i64) {
    let mut c = Collector::connect(server.hj212);
    for k in 0..16 {
        let ts = T0 + k * IV;
        let treat = if k < off { 0.0 } else { normal(ts, true) };
        c.send(&frame(
            mn,
            ts,
            k as u64,
            &[("e01", normal(ts, false)), ("e02", treat)],
        ));
    }
    assert_eq!(c.acks(16).len(), 16);
}

/// Raises a production-treatment mismatch that stays open and waits for it.
fn raise_alarm(server: &Server, mn: &str) {
    send_mismatch(server, mn, 16);
    let until = Instant::now() + Duration::from_secs(30);
    while json(&get(&server.url("/alarms?open=true")).1)
        .as_array()
        .map_or(0, Vec::len)
        == 0
    {
        assert!(Instant::now() < until, "no open alarm");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The dashboard in headless Chromium (opt-in: METERSTORE_BROWSER_TESTS=1, Debian's
/// `chromium` on PATH): the open alarm in its table, both load curves and the night
/// shading drawn. With METERSTORE_SCREENSHOT=path it also saves a screenshot there.
#[test]
fn dashboard_in_headless_chromium() {
    if std::env::var("METERSTORE_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set METERSTORE_BROWSER_TESTS=1 (needs chromium)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let st = fixture(dir.path(), 2, 0, 15, T0);
    let server = Server::start(meterd(), dir.path(), &["--lateness", "0"]);
    raise_alarm(&server, &st[0].mn);
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[&str]| {
        // Virtual time runs the page's fetches to the end; `?live=0` leaves out the SSE
        // stream, which would keep it loading (the stream has its own test above);
        // `timeout` bounds a browser that hangs anyway.
        let out = Command::new("timeout")
            .args([
                "60",
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--hide-scrollbars", "--virtual-time-budget=10000"])
            .arg("--window-size=1000,760")
            .args(extra)
            .arg(server.url("/?live=0"))
            .output()
            .expect("chromium runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page did not finish:\n{dom}"
    );
    assert!(
        dom.contains("production_treatment_mismatch"),
        "no alarm row:\n{dom}"
    );
    assert!(dom.contains(&st[0].meters[1].0), "{dom}");
    assert_eq!(dom.matches("class=\"curve\"").count(), 2, "{dom}");
    assert!(dom.contains("class=\"night\""), "{dom}");
    if let Ok(path) = std::env::var("METERSTORE_SCREENSHOT") {
        chromium(&[&format!("--screenshot={path}")]);
        assert!(std::fs::metadata(&path).is_ok_and(|m| m.len() > 0));
    }
    assert!(server.terminate().success());
}

/// A WebDriver session of Debian's `chromedriver` driving headless Chromium.
struct Browser {
    driver: std::process::Child,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver runs");
        let profile = tempfile::tempdir().unwrap();
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "eager",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         format!("--user-data-dir={}", profile.path().display())],
            },
        }}});
        let base = format!("http://127.0.0.1:{port}");
        // The driver listens a moment after it starts.
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "chromedriver does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let (code, body) = post(
            &format!("{base}/session"),
            "application/json",
            &caps.to_string(),
        );
        assert_eq!(code, 200, "no WebDriver session: {body}");
        let session = json(&body)["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Browser {
            driver,
            session: format!("{base}/session/{session}"),
            _profile: profile,
        }
    }

    fn go(&self, url: &str) {
        let body = serde_json::json!({ "url": url }).to_string();
        let (code, text) = post(&format!("{}/url", self.session), "application/json", &body);
        assert_eq!(code, 200, "{text}");
    }

    /// Runs `script` (a function body) in the page and gives back what it returns.
    fn eval(&self, script: &str) -> serde_json::Value {
        let body = serde_json::json!({ "script": script, "args": [] }).to_string();
        let url = format!("{}/execute/sync", self.session);
        let (code, text) = post(&url, "application/json", &body);
        assert_eq!(code, 200, "{text}");
        json(&text)["value"].take()
    }

    /// Waits up to 30 s for `script` to return `true`.
    fn wait_for(&self, script: &str, what: &str) {
        let until = Instant::now() + Duration::from_secs(30);
        while self.eval(script) != serde_json::json!(true) {
            assert!(Instant::now() < until, "the page never showed {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = agent().delete(&self.session).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The live dashboard in headless Chromium driven over WebDriver (opt-in as above, with
/// Debian's `chromium-driver`): the page opens the SSE stream, and an alarm raised after
/// it loaded appears in its table without a reload.
#[test]
fn dashboard_updates_live_in_headless_chromium() {
    if std::env::var("METERSTORE_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set METERSTORE_BROWSER_TESTS=1 (needs chromium, chromedriver)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let st = fixture(dir.path(), 2, 0, 15, T0);
    let server = Server::start(meterd(), dir.path(), &["--lateness", "0"]);
    let browser = Browser::start();
    browser.go(&server.url("/"));
    browser.wait_for(
        "return document.getElementById('status').textContent === 'live'",
        "the live status",
    );
    let none = "return document.querySelector('#alarms tbody').textContent";
    assert_eq!(browser.eval(none), serde_json::json!("no open alarms"));
    raise_alarm(&server, &st[0].mn);
    browser.wait_for(
        "return document.querySelector('#alarms tbody td.none') === null \
         && document.querySelectorAll('#alarms tbody tr').length > 0",
        "the new alarm",
    );
    let row = browser.eval("return document.querySelector('#alarms tbody tr').textContent");
    let row = row.as_str().unwrap_or_default();
    assert!(row.contains("production_treatment_mismatch"), "{row}");
    assert!(row.contains(&st[0].meters[1].0), "{row}");
    drop(browser);
    assert!(server.terminate().success());
}

#[test]
fn startup_errors_are_clear_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-store");
    let out = Command::new(meterd())
        .arg("--store")
        .arg(&missing)
        .args(["--hj212", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .output()
        .expect("meterd runs");
    assert!(!out.status.success());
    assert!(!missing.exists(), "a missing store must not be created");
    fixture(dir.path(), 1, 0, 0, T0);
    let out = Command::new(meterd())
        .arg("--store")
        .arg(dir.path())
        .args([
            "--http",
            "127.0.0.1:0",
            "--webhook",
            "https://example.invalid/x",
        ])
        .output()
        .expect("meterd runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only http://"), "{err}");
}
