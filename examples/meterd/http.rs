//! The HTTP API and the dashboard. Every error is JSON `{"error": "..."}` with a status
//! that fits: 400 for a bad parameter or body, 404 for an unknown meter or path, 500 for a
//! store failure. Store reads and appends run on the blocking pool.

use super::common::alarms::parse_time;
use super::common::history::{self, HistoryQuery, QueryError, Rows};
use super::common::imbalance::{self, By};
use super::common::import::{parse_csv_rows, parse_flag};
use super::state::{Row, Shared, Via};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use meterstore::monitor::MeterRole;
use meterstore::Flag;
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Largest `POST /readings` body.
const MAX_BODY: usize = 64 << 20;

/// The dashboard page.
const DASHBOARD: &str = include_str!("dashboard.html");

pub fn router(shared: Shared, stop: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(DASHBOARD) }))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/meters/{id}/history", get(meter_history))
        .route("/imbalance", get(imbalance))
        .route("/readings", post(readings))
        .route("/alarms", get(alarms))
        .route(
            "/alarms/stream",
            get(move |s: State<Shared>| alarm_stream(s, stop.clone())),
        )
        .route("/enterprises", get(enterprises))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such path".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(shared.clone(), count))
        .with_state(shared)
}

/// An error answer.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn internal(msg: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, msg.to_string())
}

/// Counts answers by status class.
async fn count(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let m = &s.metrics;
    let c = match resp.status().as_u16() {
        200..=399 => &m.http_2xx,
        400..=499 => &m.http_4xx,
        _ => &m.http_5xx,
    };
    c.fetch_add(1, Ordering::Relaxed);
    resp
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.prometheus(),
    )
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

#[derive(Deserialize)]
struct HistoryParams {
    from: Option<String>,
    to: Option<String>,
    bucket: Option<String>,
    agg: Option<String>,
    format: Option<String>,
}

fn time_param(name: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| parse_time(s).map_err(|e| bad(format!("{name}: {e}"))))
        .transpose()
}

async fn meter_history(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> Result<Response, ApiError> {
    let from = time_param("from", p.from.as_deref())?;
    let to = time_param("to", p.to.as_deref())?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(bad("from must be before to"));
        }
    }
    let json_out = match p.format.as_deref() {
        None | Some("csv") => false,
        Some("json") => true,
        Some(f) => return Err(bad(format!("format {f:?}: use csv or json"))),
    };
    let bucket = match &p.bucket {
        Some(b) => Some(history::parse_bucket(b).map_err(|e| bad(format!("bucket: {e}")))?),
        None => None,
    };
    let agg = match &p.agg {
        Some(a) => Some(history::parse_agg(a).map_err(|e| bad(format!("agg: {e}")))?),
        None => None,
    };
    if agg.is_some() && bucket.is_none() {
        return Err(bad("agg needs a bucket"));
    }
    let sh = s.clone();
    let view = blocking(move || {
        let meta = sh.store.meter_meta(&id);
        let bucket = match (bucket, meta) {
            (Some(b), Some(meta)) => Some((b, agg.unwrap_or_else(|| history::default_agg(&meta)))),
            _ => None,
        };
        let q = HistoryQuery {
            meter: id,
            from,
            to,
            bucket,
        };
        history::query(sh.store, &q, &sh.tz).map_err(|e| match e {
            QueryError::UnknownMeter { .. } => ApiError(StatusCode::NOT_FOUND, e.to_string()),
            QueryError::TooManyBuckets { .. } => bad(e.to_string()),
            QueryError::Store(e) => internal(e),
        })
    })
    .await?;
    // (ts, value, count or flag) per row: readings with their quality flags, or the
    // buckets that hold readings.
    let rows: Vec<(i64, f64, Result<u64, Flag>)> = match &view.rows {
        Rows::Readings(r) => r
            .iter()
            .enumerate()
            .map(|(k, &(t, v))| (t, v, Err(view.flags.get(k).copied().unwrap_or_default())))
            .collect(),
        Rows::Buckets { rows, .. } => rows
            .iter()
            .filter_map(|r| r.value.map(|v| (r.start, v, Ok(r.count))))
            .collect(),
    };
    if json_out {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|&(ts, value, count)| match count {
                Ok(c) => json!({"ts": ts, "value": value, "count": c}),
                Err(f) => json!({"ts": ts, "value": value, "flag": f.to_string()}),
            })
            .collect();
        let gaps: Vec<[i64; 2]> = view.gaps.iter().map(|g| [g.start, g.end]).collect();
        return Ok(Json(json!({
            "meter_id": view.meter,
            "from": view.range.start,
            "to": view.range.end,
            "rows": items,
            "gaps": gaps,
        }))
        .into_response());
    }
    let buckets = matches!(view.rows, Rows::Buckets { .. });
    let mut out = String::from(match buckets {
        true => "meter_id,ts,value\n",
        false => "meter_id,ts,value,flag\n",
    });
    for (ts, value, count) in rows {
        let meter = csv_field(&view.meter);
        match count {
            Ok(_) => out.push_str(&format!("{meter},{ts},{value}\n")),
            Err(f) => out.push_str(&format!("{meter},{ts},{value},{f}\n")),
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/csv")], out).into_response())
}

/// A CSV field, quoted when it needs to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[derive(Deserialize)]
struct ImbalanceParams {
    from: Option<String>,
    to: Option<String>,
    day: Option<String>,
    tz: Option<String>,
    threshold: Option<f64>,
    by: Option<String>,
    daily: Option<bool>,
}

/// A bound for the imbalance scan: Unix seconds become RFC 3339; the rest (RFC 3339,
/// local dates and date-times) is read by the scan.
fn bound(s: Option<String>) -> Option<String> {
    s.map(|s| match s.trim().parse::<i64>() {
        Ok(t) => jiff::Timestamp::from_second(t).map_or(s, |t| t.to_string()),
        Err(_) => s,
    })
}

async fn imbalance(
    State(s): State<Shared>,
    Query(p): Query<ImbalanceParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let by = match p.by.as_deref() {
        None | Some("meter") => By::Meter,
        Some("enterprise") => By::Enterprise,
        Some(b) => return Err(bad(format!("by {b:?}: use meter or enterprise"))),
    };
    let threshold = p.threshold.unwrap_or(1.5);
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(bad("threshold must be a positive number"));
    }
    let req = imbalance::Request {
        store: s.store.dir().to_path_buf(),
        from: bound(p.from),
        to: bound(p.to),
        day: p.day.unwrap_or_else(|| "08:00-20:00".into()),
        tz: p.tz.unwrap_or_else(|| s.tz.name().to_owned()),
        threshold,
        by,
        enterprises: None,
        daily: p.daily.unwrap_or(false),
    };
    let rows = blocking(move || imbalance::scan(&req).map_err(bad)).await?;
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut row = figures(&r.stats);
            row["id"] = json!(r.id);
            if let Some(date) = r.date {
                row["date"] = json!(date.to_string());
            }
            row
        })
        .collect();
    Ok(Json(json!({ "rows": rows })))
}

/// Day/night figures as JSON.
fn figures(d: &meterstore::DayNight) -> serde_json::Value {
    json!({
        "day_kwh": d.day_kwh,
        "night_kwh": d.night_kwh,
        "day_kw": d.day_kw,
        "night_kw": d.night_kw,
        "day_hours": d.day_hours,
        "night_hours": d.night_hours,
        "ratio": d.ratio,
        "flagged": d.flagged,
    })
}

#[derive(Deserialize)]
struct JsonReading {
    meter_id: String,
    ts: serde_json::Value,
    value: f64,
    #[serde(default)]
    flag: Option<String>,
}

/// Readings of a JSON-lines body: `{"meter_id": .., "ts": <Unix s or RFC 3339>, "value": ..}`
/// with an optional `"flag"` (one HJ 212 letter; absent or empty is `N`).
fn json_lines(body: &str) -> Result<Vec<Row>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = serde_json::from_str::<JsonReading>(line)
            .map_err(|e| e.to_string())
            .and_then(|r| {
                let ts = match &r.ts {
                    serde_json::Value::Number(n) => n.as_i64().ok_or("ts is not whole seconds")?,
                    serde_json::Value::String(s) => parse_time(s).map_err(|e| e.to_string())?,
                    _ => return Err("ts must be Unix seconds or RFC 3339".into()),
                };
                if !r.value.is_finite() {
                    return Err("value is not finite".into());
                }
                let flag = parse_flag(r.flag.as_deref().unwrap_or(""))?;
                Ok((r.meter_id, ts, r.value, flag))
            });
        match r {
            Ok(r) => out.push(r),
            Err(e) => errors.push(format!("line {}: {e}", i + 1)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

async fn readings(
    State(s): State<Shared>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_json = ctype.contains("json") || body.trim_ascii_start().starts_with(b"{");
    let sh = s.clone();
    let n = blocking(move || {
        let rows = if is_json {
            let text = std::str::from_utf8(&body).map_err(|_| bad("the body is not UTF-8"))?;
            json_lines(text).map_err(|e| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("nothing stored; bad lines: {}", e.join("; ")),
                )
            })?
        } else {
            parse_csv_rows(&body, &sh.tz)
                .map_err(|b| bad(format!("nothing stored; {} bad lines:\n{b}", b.count)))?
        };
        let n = rows.len();
        sh.append(rows, Via::Http).map_err(|e| match e {
            meterstore::Error::Io { .. } => internal(e),
            e => bad(format!("nothing stored: {e}")),
        })?;
        Ok(n)
    })
    .await?;
    Ok(Json(json!({ "stored": n })))
}

#[derive(Deserialize)]
struct AlarmParams {
    open: Option<bool>,
}

async fn alarms(State(s): State<Shared>, Query(p): Query<AlarmParams>) -> Json<serde_json::Value> {
    Json(s.hub.alarms(!p.open.unwrap_or(false)))
}

/// Server-Sent Events: one `alarm` event per monitor event (JSON data), until shutdown.
async fn alarm_stream(
    State(s): State<Shared>,
    stop: watch::Receiver<bool>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.hub.subscribe();
    let events = stream::unfold((rx, stop), |(mut rx, mut stop)| async move {
        let r = tokio::select! {
            r = rx.recv() => r,
            _ = stop.wait_for(|s| *s) => return None,
        };
        let ev = match r {
            Ok(text) => Event::default().event("alarm").data(text),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(ev), (rx, stop)))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The catalog's enterprises with their production and treatment meters, and the end of
/// the stored data: what the dashboard draws.
async fn enterprises(State(s): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    let sh = s.clone();
    blocking(move || {
        let end = sh
            .catalog
            .data_extent(sh.store)
            .map_err(internal)?
            .map(|r| r.end);
        let mut out = Vec::new();
        for e in sh.catalog.enterprises() {
            let ids = |role| -> Vec<String> {
                sh.catalog
                    .meters_of(&e.id, role)
                    .iter()
                    .map(|m| m.id.clone())
                    .collect()
            };
            out.push(json!({
                "id": e.id,
                "production": ids(MeterRole::Production),
                "treatment": ids(MeterRole::Treatment),
            }));
        }
        Ok(Json(
            json!({ "enterprises": out, "data_end": end, "tz": sh.tz.name() }),
        ))
    })
    .await
}
