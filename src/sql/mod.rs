//! SQL over a live store, or over several shard stores at once, through Apache DataFusion
//! (cargo feature `datafusion`, Rust 1.94 or newer).
//!
//! - [`MeterTable`]: a `TableProvider` over a [`Snapshot`]: `meter_id` (`Utf8View`), `ts`
//!   (`Timestamp(Second, "UTC")`), `value` (`Float64`) and `flag` (the quality flag's
//!   letter, a dictionary), one row per reading; only the columns a query uses are built.
//!   Each partition's rows come sorted by `(meter_id, ts)` and the partitions are ranges
//!   of meter ids, which the scan declares, so `GROUP BY meter_id` runs per partition in
//!   sorted mode, without a hash repartition. Filters
//!   `meter_id = '..'`, `meter_id IN (..)` and comparisons of `ts` with a constant are
//!   applied by the scan itself, exactly: only the selected meters are read, and only their
//!   blocks that the block index places in the time range. The meters are split into
//!   partitions of about equal readings, scanned in parallel. Row counts come from the
//!   block index (exact where no two sources of a meter overlap and every block lies in
//!   the range), so `COUNT(*)` reads no block.
//! - [`DayNightFunction`]: the table functions `day_night(from, to, day_window, tz,
//!   threshold)` and `day_night_enterprise(..)`, which run the native day/night scan
//!   ([`Snapshot::day_night`]) and return `meter_id` (or `enterprise_id`), `day_kwh`,
//!   `night_kwh`, `day_hours`, `night_hours`, `ratio` (null when day energy is zero) and
//!   `flagged`.
//! - [`register`]: both for one store, or for shard stores (each meter in exactly one,
//!   e.g. by [`shard_of`](crate::arrow::shard_of)) as one `meters` table: the union of one
//!   [`MeterTable`] per shard, also registered alone as `meters_shard0`, `meters_shard1`,
//!   and so on.
//!
//! ```
//! use meterstore::sql::{datafusion::prelude::SessionContext, register};
//! use meterstore::{MeterMeta, Options, Reading, Store};
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = Store::open(dir.path(), Options::default())?;
//! store.register_meter("M1", MeterMeta::default())?;
//! store.append(&[Reading::new("M1", 1_704_067_200, 0.25)])?;
//! let ctx = SessionContext::new();
//! register(&ctx, &[&store]).expect("register");
//! let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
//! let batches = rt
//!     .block_on(async { ctx.sql("SELECT sum(value) FROM meters WHERE meter_id = 'M1'").await?.collect().await })
//!     .expect("query");
//! assert_eq!(batches[0].num_rows(), 1);
//! # Ok::<(), meterstore::Error>(())
//! ```

mod day_night;
mod exec;
mod filter;
mod table;

pub use datafusion;
pub use day_night::DayNightFunction;
pub use table::MeterTable;

use crate::monitor::{Catalog, MeterRole};
use crate::store::{Snapshot, Store};
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{provider_as_source, ViewTable};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::SessionContext;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The name of the readings table [`register`] adds.
pub const METERS_TABLE: &str = "meters";

/// One store as the SQL layer sees it: a snapshot and the directory of its catalog.
#[derive(Clone)]
pub(crate) struct Shard {
    pub(crate) snapshot: Arc<Snapshot>,
    pub(crate) dir: PathBuf,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard").field("dir", &self.dir).finish()
    }
}

impl Shard {
    fn of(store: &Store) -> Shard {
        Shard {
            snapshot: Arc::new(store.snapshot()),
            dir: store.dir().to_path_buf(),
        }
    }
}

/// Registers, on `ctx`, a snapshot of each of `stores` (taken now): the readings as table
/// `meters`, and the table functions `day_night` and `day_night_enterprise` over all of
/// them. With several stores (shards: every meter in one of them), `meters` is the union
/// of one [`MeterTable`] per store, each also registered as `meters_shard{i}`; filters and
/// projections reach every shard's scan. Fails when `stores` is empty or a name is taken.
pub fn register(ctx: &SessionContext, stores: &[&Store]) -> Result<()> {
    let shards: Vec<Shard> = stores.iter().map(|s| Shard::of(s)).collect();
    let meters: Arc<dyn TableProvider> = match shards.as_slice() {
        [] => {
            return Err(DataFusionError::Plan(
                "register needs at least one store".into(),
            ))
        }
        [one] => Arc::new(MeterTable::new(one.snapshot.clone())),
        many => {
            let mut plan: Option<LogicalPlanBuilder> = None;
            for (i, shard) in many.iter().enumerate() {
                let name = format!("{METERS_TABLE}_shard{i}");
                let table: Arc<dyn TableProvider> =
                    Arc::new(MeterTable::new(shard.snapshot.clone()));
                ctx.register_table(name.as_str(), table.clone())?;
                let scan = LogicalPlanBuilder::scan(name, provider_as_source(table), None)?;
                plan = Some(match plan {
                    None => scan,
                    Some(p) => p.union(scan.build()?)?,
                });
            }
            let plan = plan.expect("at least two shards").build()?;
            Arc::new(ViewTable::new(plan, None))
        }
    };
    ctx.register_table(METERS_TABLE, meters)?;
    let shards: Arc<[Shard]> = shards.into();
    ctx.register_udtf(
        "day_night",
        Arc::new(DayNightFunction::new(shards.clone(), false)),
    );
    ctx.register_udtf(
        "day_night_enterprise",
        Arc::new(DayNightFunction::new(shards, true)),
    );
    Ok(())
}

/// Production meters by enterprise from the monitoring catalogs (`CATALOG`) of the shards'
/// directories, as `imbalance --by enterprise` takes them.
pub(crate) fn membership(shards: &[Shard]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for shard in shards {
        let catalog = Catalog::load_dir(&shard.dir).map_err(external)?;
        out.extend(
            catalog
                .meters()
                .filter(|m| m.role == MeterRole::Production)
                .map(|m| (m.id.clone(), m.enterprise.clone())),
        );
    }
    if out.is_empty() {
        return Err(DataFusionError::Plan(
            "day_night_enterprise needs a monitoring catalog with production meters in the \
             store (import_csv --meters)"
                .into(),
        ));
    }
    Ok(out)
}

/// A store error as DataFusion's.
pub(crate) fn external(e: crate::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
