//! The sample fleet as a monitored city: its enterprises and meter roles as a catalog.

use meterstore::fleet::{Fleet, Role};
use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, MeterRole};
use meterstore::Reading;

/// A catalog with every enterprise of `fleet` and every meter with its role.
pub fn catalog(fleet: &Fleet) -> meterstore::Result<Catalog> {
    let mut catalog = Catalog::new();
    for m in fleet.meters() {
        if catalog.enterprise(&m.enterprise).is_none() {
            catalog.upsert_enterprise(Enterprise {
                id: m.enterprise.clone(),
                name: format!("Enterprise {}", m.enterprise),
                industry: "cement".into(),
                pollutants: vec!["PM10".into()],
                ..Enterprise::default()
            })?;
        }
        let role = match m.role {
            Role::Production => MeterRole::Production,
            Role::Treatment => MeterRole::Treatment,
        };
        catalog.upsert_meter(CatalogMeter::new(&m.id, &m.enterprise, role))?;
    }
    Ok(catalog)
}

/// A fleet's generated series replayed interval by interval, as a live feed would deliver
/// them: [`Replay::batch`] gives every meter's reading at a time, for times in order.
pub struct Replay<'f> {
    fleet: &'f Fleet,
    series: &'f [(Vec<i64>, Vec<f64>)],
    /// Per meter, its next reading.
    cursor: Vec<usize>,
}

impl<'f> Replay<'f> {
    /// A replay of `series` (meter `i`'s is `fleet.series(i)`) from time `from` on.
    pub fn new(fleet: &'f Fleet, series: &'f [(Vec<i64>, Vec<f64>)], from: i64) -> Replay<'f> {
        let cursor = series
            .iter()
            .map(|(ts, _)| ts.partition_point(|&t| t < from))
            .collect();
        Replay {
            fleet,
            series,
            cursor,
        }
    }

    /// The readings at time `t` (later than the previous call's), one per meter that has one.
    pub fn batch(&mut self, t: i64) -> Vec<Reading<'f>> {
        let mut batch = Vec::with_capacity(self.series.len());
        for (k, m) in self.fleet.meters().iter().enumerate() {
            let (ts, vs) = &self.series[k];
            let at = self.cursor[k];
            if at < ts.len() && ts[at] == t {
                batch.push(Reading::new(&m.id, t, vs[at]));
                self.cursor[k] += 1;
            }
        }
        batch
    }
}
