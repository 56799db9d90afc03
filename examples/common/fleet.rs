//! The sample fleet as a monitored city: its enterprises and meter roles as a catalog.

use meterstore::fleet::{Fleet, Role};
use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, MeterRole};

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
