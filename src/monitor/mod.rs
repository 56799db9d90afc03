//! Enterprise profiles and treatment-facility monitoring with alarms; the rules, their
//! defaults and their accuracy are described in docs/MONITORING.md.
//!
//! This layer sits above the storage: it reads history only through the public query
//! API ([`Store::history`](crate::Store::history), [`Store::aggregate`](crate::Store::aggregate),
//! [`Store::day_night`](crate::Store::day_night)) and is fed new readings by the caller
//! after each [`Store::append`](crate::Store::append).
//!
//! - [`Catalog`]: enterprises, meters and roles (建档立卡), CT/PT multipliers, learned and
//!   manual thresholds, suppression windows (报备) and emergency periods (停限产), saved
//!   as `CATALOG` in the store directory; [`Catalog::import_rows`] imports meter rows.
//!   A meter may name the HJ 212 station and code that feed it ([`Hj212Source`]).
//! - [`Catalog::learn`], [`Catalog::learn_from_start`] / [`learn_normal`]: normal running
//!   power per facility and per time-of-day slot, and the off level relative to its own
//!   idle level, learned with robust statistics that ignore off periods.
//! - [`RuleConfig`] and [`RuleId`]: the rules, their parameters and defaults (the table
//!   on [`RuleConfig`]).
//! - [`evaluate`]: batch evaluation over a time range; [`Monitor`]: streaming evaluation
//!   that agrees with it; both yield [`Alarm`]s with [`Evidence`].
//!
//! ```
//! use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, MeterRole, Monitor, RuleConfig};
//! use meterstore::{MeterMeta, Options, Reading, Store};
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = Store::open(dir.path(), Options::default())?;
//! let mut cat = Catalog::new();
//! cat.upsert_enterprise(Enterprise { id: "E1".into(), ..Enterprise::default() })?;
//! cat.upsert_meter(CatalogMeter::new("M1", "E1", MeterRole::Production))?;
//! cat.save(&store)?;
//! store.register_meter("M1", MeterMeta::default())?;
//! let t0 = 1_704_038_400;
//! let mut mon = Monitor::new(&store, &Catalog::load(&store)?, RuleConfig::default(), t0, 0);
//! let batch = [Reading::new("M1", t0, 1.0)];
//! store.append(&batch)?;
//! let events = mon.on_append(&batch)?;
//! assert!(events.is_empty());
//! # Ok::<(), meterstore::Error>(())
//! ```

mod alarm;
mod batch;
mod catalog;
mod catalog_file;
mod catalog_hj212;
mod import;
mod learn;
mod rules;
mod stream;
mod units;

pub use alarm::{Alarm, AlarmEvent, Evidence};
pub use batch::{evaluate, sort_alarms};
pub use catalog::{
    Catalog, CatalogMeter, CatalogVersion, EmergencyPeriod, Enterprise, ManualThreshold, MeterRole,
    MultiplierChange, Suppression, CATALOG_FILE, CATALOG_MAGIC,
};
pub use catalog_hj212::Hj212Source;
pub use import::{kind_name, parse_kind, ImportError, ImportReport, RowError};
pub use learn::{learn_normal, power_kw, LearnOptions, LearnReport, NormalPower};
pub use rules::{RuleConfig, RuleId};
pub use stream::{Monitor, MonitorStats, MAX_ADVANCE_S, MAX_AHEAD_S};
