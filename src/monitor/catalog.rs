//! The enterprise catalog (建档立卡): enterprises, their meters and roles, CT/PT
//! multipliers, learned and manual thresholds, suppression windows and emergency periods.
//! Persisted as `DIR/CATALOG` next to the store's own files (see `catalog_file`).

use super::catalog_hj212::Hj212Source;
use super::learn::NormalPower;
use super::rules::RuleId;
use crate::error::{Error, Result};
use crate::types::Quantity;
use crate::Store;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Name of the catalog file in the store directory.
pub const CATALOG_FILE: &str = "CATALOG";
/// Magic at the start of the catalog file.
pub const CATALOG_MAGIC: [u8; 8] = *b"MTRCATL\n";

/// Versions of the catalog file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CatalogVersion {
    /// First version.
    V1 = 1,
    /// Adds the HJ 212 sources of meters (a section after the emergency periods).
    V2 = 2,
}

impl CatalogVersion {
    /// The version this build writes.
    pub const CURRENT: CatalogVersion = CatalogVersion::V2;
}

impl TryFrom<u8> for CatalogVersion {
    type Error = u8;
    fn try_from(v: u8) -> std::result::Result<Self, u8> {
        match v {
            1 => Ok(CatalogVersion::V1),
            2 => Ok(CatalogVersion::V2),
            other => Err(other),
        }
    }
}

/// A monitored enterprise.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Enterprise {
    /// Enterprise id, e.g. `E00012`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Industry.
    pub industry: String,
    /// Production process.
    pub process: String,
    /// Pollutants it emits.
    pub pollutants: Vec<String>,
    /// Administrative district.
    pub district: String,
}

/// What a meter measures in its enterprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MeterRole {
    /// A production line.
    Production,
    /// A pollution-control (treatment) facility.
    Treatment,
    /// The enterprise's main (incoming) meter.
    Main,
    /// Anything else.
    Other,
}

impl MeterRole {
    /// Stable lower-case name: `production`, `treatment`, `main`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            MeterRole::Production => "production",
            MeterRole::Treatment => "treatment",
            MeterRole::Main => "main",
            MeterRole::Other => "other",
        }
    }

    /// Parses a name as printed by [`MeterRole::as_str`] (case-insensitive), also the
    /// Chinese 生产 / 治污 / 总 / 其他.
    pub fn parse(s: &str) -> Option<MeterRole> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "production" | "生产" => MeterRole::Production,
            "treatment" | "治污" => MeterRole::Treatment,
            "main" | "总" | "总表" => MeterRole::Main,
            "other" | "其他" => MeterRole::Other,
            _ => return None,
        })
    }

    pub(crate) fn to_byte(self) -> u8 {
        self as u8
    }
    pub(crate) fn from_byte(b: u8) -> Option<MeterRole> {
        [
            MeterRole::Production,
            MeterRole::Treatment,
            MeterRole::Main,
            MeterRole::Other,
        ]
        .get(b as usize)
        .copied()
    }
}

/// A CT/PT multiplier in force from `from` (UTC Unix seconds) on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultiplierChange {
    /// First instant the multiplier applies.
    pub from: i64,
    /// Factor from recorded values to primary-side values (CT ratio x PT ratio).
    pub value: f64,
}

/// A meter in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogMeter {
    /// External meter id, as in the store.
    pub id: String,
    /// Enterprise id.
    pub enterprise: String,
    /// Role in the enterprise.
    pub role: MeterRole,
    /// The facility (production line or treatment facility) it measures.
    pub facility: String,
    /// Quantity kind.
    pub kind: Quantity,
    /// Interval in seconds; `None` for an irregular meter.
    pub interval_s: Option<u32>,
    /// Unit of the values.
    pub unit: String,
    /// CT/PT multiplier changes, sorted by `from`. The multiplier at `t` is the value of
    /// the latest change at or before `t`, 1 before the first one.
    pub multipliers: Vec<MultiplierChange>,
}

impl CatalogMeter {
    /// A 15-minute interval-energy meter in kWh with multiplier 1.
    pub fn new(id: &str, enterprise: &str, role: MeterRole) -> CatalogMeter {
        CatalogMeter {
            id: id.to_owned(),
            enterprise: enterprise.to_owned(),
            role,
            facility: String::new(),
            kind: Quantity::IntervalEnergy,
            interval_s: Some(900),
            unit: "kWh".to_owned(),
            multipliers: Vec::new(),
        }
    }

    /// Multiplier in force at `ts`.
    pub fn multiplier_at(&self, ts: i64) -> f64 {
        let k = self.multipliers.partition_point(|c| c.from <= ts);
        if k == 0 {
            1.0
        } else {
            self.multipliers[k - 1].value
        }
    }
}

/// A threshold set by hand for a meter; each part overrides the learned one.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ManualThreshold {
    /// Power (kW) below which the facility counts as off.
    pub off_kw: Option<f64>,
    /// Normal running power (kW), the same for every time-of-day slot.
    pub normal_kw: Option<f64>,
}

/// A pre-declared maintenance or shutdown window (报备): while it lasts, the listed rules
/// treat their condition as not holding for the enterprise (or only for one meter).
#[derive(Debug, Clone, PartialEq)]
pub struct Suppression {
    /// Enterprise id.
    pub enterprise: String,
    /// Only this meter; `None` for the whole enterprise.
    pub meter: Option<String>,
    /// The rules it silences; empty for all.
    pub rules: Vec<RuleId>,
    /// The window, UTC, half-open.
    pub range: Range<i64>,
    /// Why (as declared).
    pub reason: String,
}

impl Suppression {
    /// Whether it silences `rule` for `meter` (or the enterprise, `None`) of
    /// `enterprise` anywhere in `span`.
    pub fn covers(
        &self,
        rule: RuleId,
        enterprise: &str,
        meter: Option<&str>,
        span: &Range<i64>,
    ) -> bool {
        self.enterprise == enterprise
            && (self.rules.is_empty() || self.rules.contains(&rule))
            && (self.meter.is_none() || self.meter.as_deref() == meter)
            && self.range.start < span.end
            && span.start < self.range.end
    }
}

/// A declared emergency period (停限产): the listed enterprises must cut consumption by
/// `required_cut` against their baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct EmergencyPeriod {
    /// Name of the declaration.
    pub name: String,
    /// The period, UTC, half-open.
    pub range: Range<i64>,
    /// Required cut as a share of baseline power, e.g. 0.3 for 30%.
    pub required_cut: f64,
    /// Enterprises it applies to; empty for all.
    pub enterprises: Vec<String>,
    /// Baseline window; `None` for the rule's default (the days just before the period).
    pub baseline: Option<Range<i64>>,
}

/// The catalog: see the module docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    pub(crate) enterprises: BTreeMap<String, Enterprise>,
    pub(crate) meters: BTreeMap<String, CatalogMeter>,
    pub(crate) learned: BTreeMap<String, NormalPower>,
    pub(crate) manual: BTreeMap<String, ManualThreshold>,
    pub(crate) suppressions: Vec<Suppression>,
    pub(crate) emergencies: Vec<EmergencyPeriod>,
    /// HJ 212 source of each meter fed by one, by meter id (see `catalog_hj212`).
    pub(crate) hj212: BTreeMap<String, Hj212Source>,
    /// The same, by source: at most one meter per (MN, code).
    pub(crate) hj212_meter: BTreeMap<Hj212Source, String>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Path of the catalog file of the store in `dir`.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(CATALOG_FILE)
    }

    /// Loads the catalog of `store`; an empty catalog when it has none yet.
    pub fn load(store: &Store) -> Result<Catalog> {
        Catalog::load_dir(store.dir())
    }

    /// Loads the catalog file in `dir`; an empty catalog when there is none.
    pub fn load_dir(dir: &Path) -> Result<Catalog> {
        let path = Catalog::path_in(dir);
        match std::fs::read(&path) {
            Ok(bytes) => Catalog::decode(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalog::new()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Saves the catalog with `store`, atomically.
    pub fn save(&self, store: &Store) -> Result<()> {
        if store.is_read_only() {
            return Err(crate::Error::ReadOnly {
                path: store.dir().to_owned(),
                op: "saving the catalog",
            });
        }
        self.save_dir(store.dir())
    }

    /// Saves the catalog file in `dir`, atomically: written to `CATALOG.tmp`, fsynced,
    /// renamed over `CATALOG`, directory fsynced.
    pub fn save_dir(&self, dir: &Path) -> Result<()> {
        crate::fsutil::write_atomic(&Catalog::path_in(dir), &self.encode())
    }

    /// Adds or replaces an enterprise.
    pub fn upsert_enterprise(&mut self, e: Enterprise) -> Result<()> {
        if e.id.is_empty() {
            return Err(Error::InvalidArgument("empty enterprise id".into()));
        }
        self.enterprises.insert(e.id.clone(), e);
        Ok(())
    }

    /// Adds or replaces a meter; its enterprise must be in the catalog, its multipliers
    /// finite and positive (they are sorted by date here).
    pub fn upsert_meter(&mut self, mut m: CatalogMeter) -> Result<()> {
        if m.id.is_empty() {
            return Err(Error::InvalidArgument("empty meter id".into()));
        }
        if !self.enterprises.contains_key(&m.enterprise) {
            return Err(Error::InvalidArgument(format!(
                "meter {:?}: unknown enterprise {:?}",
                m.id, m.enterprise
            )));
        }
        if let Some(c) = m
            .multipliers
            .iter()
            .find(|c| !(c.value.is_finite() && c.value > 0.0))
        {
            return Err(Error::InvalidArgument(format!(
                "meter {:?}: multiplier {} must be finite and positive",
                m.id, c.value
            )));
        }
        if m.interval_s == Some(0) {
            return Err(Error::InvalidArgument(format!(
                "meter {:?}: interval of 0 s",
                m.id
            )));
        }
        m.multipliers.sort_by_key(|c| c.from);
        self.meters.insert(m.id.clone(), m);
        Ok(())
    }

    /// Removes a meter and its thresholds.
    pub fn remove_meter(&mut self, id: &str) -> Option<CatalogMeter> {
        self.learned.remove(id);
        self.manual.remove(id);
        if let Some(src) = self.hj212.remove(id) {
            self.hj212_meter.remove(&src);
        }
        self.meters.remove(id)
    }

    /// An enterprise by id.
    pub fn enterprise(&self, id: &str) -> Option<&Enterprise> {
        self.enterprises.get(id)
    }

    /// All enterprises, by id.
    pub fn enterprises(&self) -> impl Iterator<Item = &Enterprise> {
        self.enterprises.values()
    }

    /// A meter by id.
    pub fn meter(&self, id: &str) -> Option<&CatalogMeter> {
        self.meters.get(id)
    }

    /// All meters, by id.
    pub fn meters(&self) -> impl Iterator<Item = &CatalogMeter> {
        self.meters.values()
    }

    /// Meters of `enterprise` with `role`, by id.
    pub fn meters_of(&self, enterprise: &str, role: MeterRole) -> Vec<&CatalogMeter> {
        self.meters
            .values()
            .filter(|m| m.enterprise == enterprise && m.role == role)
            .collect()
    }

    /// Stores a learned normal running power for a meter.
    pub fn set_learned(&mut self, meter: &str, n: NormalPower) -> Result<()> {
        if !self.meters.contains_key(meter) {
            return Err(Error::UnknownMeter(meter.to_owned()));
        }
        self.learned.insert(meter.to_owned(), n);
        Ok(())
    }

    /// The learned normal running power of a meter.
    pub fn learned(&self, meter: &str) -> Option<&NormalPower> {
        self.learned.get(meter)
    }

    /// Sets (or with both parts `None`, clears) a manual threshold.
    pub fn set_manual(&mut self, meter: &str, t: ManualThreshold) -> Result<()> {
        if !self.meters.contains_key(meter) {
            return Err(Error::UnknownMeter(meter.to_owned()));
        }
        for v in [t.off_kw, t.normal_kw].into_iter().flatten() {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "meter {meter:?}: threshold {v} must be finite and not negative"
                )));
            }
        }
        if t.off_kw.is_none() && t.normal_kw.is_none() {
            self.manual.remove(meter);
        } else {
            self.manual.insert(meter.to_owned(), t);
        }
        Ok(())
    }

    /// The manual threshold of a meter.
    pub fn manual(&self, meter: &str) -> Option<&ManualThreshold> {
        self.manual.get(meter)
    }

    /// Declares a suppression window.
    pub fn add_suppression(&mut self, s: Suppression) -> Result<()> {
        if s.range.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "empty suppression window {:?}",
                s.range
            )));
        }
        self.suppressions.push(s);
        Ok(())
    }

    /// Declared suppression windows.
    pub fn suppressions(&self) -> &[Suppression] {
        &self.suppressions
    }

    /// Whether a suppression silences `rule` for `meter` of `enterprise` during `span`.
    pub fn suppressed(
        &self,
        rule: RuleId,
        enterprise: &str,
        meter: Option<&str>,
        span: &Range<i64>,
    ) -> bool {
        self.suppressions
            .iter()
            .any(|s| s.covers(rule, enterprise, meter, span))
    }

    /// Declares an emergency period.
    pub fn add_emergency(&mut self, e: EmergencyPeriod) -> Result<()> {
        if e.range.is_empty() || !(e.required_cut > 0.0 && e.required_cut < 1.0) {
            return Err(Error::InvalidArgument(format!(
                "emergency {:?}: needs a non-empty period and a required cut in (0, 1)",
                e.name
            )));
        }
        self.emergencies.push(e);
        Ok(())
    }

    /// Declared emergency periods.
    pub fn emergencies(&self) -> &[EmergencyPeriod] {
        &self.emergencies
    }

    /// A table of every production and treatment meter's thresholds, learned and
    /// manual, for people to read.
    pub fn threshold_table(&self) -> String {
        let mut s = String::from(
            "meter    enterprise role        source  off_kw    normal_kw  p10_kw    p90_kw    samples\n",
        );
        for m in self.meters.values() {
            let l = self.learned.get(&m.id);
            let man = self.manual.get(&m.id);
            if l.is_none() && man.is_none() {
                continue;
            }
            let source = match (l.is_some(), man.is_some()) {
                (true, true) => "both",
                (true, false) => "learned",
                _ => "manual",
            };
            let off = man.and_then(|t| t.off_kw).or(l.map(|l| l.off_kw));
            let normal = man.and_then(|t| t.normal_kw).or(l.map(|l| l.normal_kw));
            let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
            s.push_str(&format!(
                "{:<8} {:<10} {:<11} {:<7} {:<9} {:<10} {:<9} {:<9} {}\n",
                m.id,
                m.enterprise,
                m.role.as_str(),
                source,
                f(off),
                f(normal),
                f(l.map(|l| l.p10_kw)),
                f(l.map(|l| l.p90_kw)),
                l.map_or(0, |l| l.samples)
            ));
        }
        s
    }
}
