//! The filters a [`MeterTable`](super::MeterTable) scan applies itself: which meters and
//! which time range. Each is recognised whole or not at all; what is recognised is
//! applied exactly, so DataFusion does not filter the rows again.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use std::collections::BTreeSet;
use std::ops::Range;

/// The column names of the readings table.
pub(crate) const METER_ID: &str = "meter_id";
pub(crate) const TS: &str = "ts";
pub(crate) const FLAG: &str = "flag";

/// One filter the scan applies.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    /// Only these meter ids.
    Ids(BTreeSet<String>),
    /// Only readings with `start <= ts < end` (Unix seconds).
    Range(Range<i64>),
}

/// What all the pushed filters of one scan select together.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selection {
    /// The meter ids, or every meter.
    pub ids: Option<BTreeSet<String>>,
    /// The time range, half-open.
    pub range: Range<i64>,
}

impl Selection {
    /// The conjunction of `filters`; those not recognised are left out (the caller only
    /// hands over filters [`classify`] recognised).
    pub(crate) fn of(filters: &[Expr]) -> Selection {
        let mut sel = Selection {
            ids: None,
            range: i64::MIN..i64::MAX,
        };
        for cond in filters.iter().filter_map(classify) {
            match cond {
                Cond::Ids(ids) => {
                    sel.ids = Some(match sel.ids.take() {
                        None => ids,
                        Some(have) => have.intersection(&ids).cloned().collect(),
                    })
                }
                Cond::Range(r) => {
                    sel.range = sel.range.start.max(r.start)..sel.range.end.min(r.end);
                }
            }
        }
        sel
    }
}

/// The filter `e` as a [`Cond`], when it is one the scan can apply exactly: `meter_id =
/// 'x'`, `meter_id IN ('x', ..)`, an `OR` of such, and `ts` compared with a timestamp
/// constant (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`), with the column on either side.
pub(crate) fn classify(e: &Expr) -> Option<Cond> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::Or {
                return match (classify(left)?, classify(right)?) {
                    (Cond::Ids(mut a), Cond::Ids(b)) => {
                        a.extend(b);
                        Some(Cond::Ids(a))
                    }
                    _ => None,
                };
            }
            if *op == Operator::Eq {
                if let Some(id) = id_eq(left, right).or_else(|| id_eq(right, left)) {
                    return Some(Cond::Ids(BTreeSet::from([id])));
                }
            }
            if let Some(r) = ts_cmp(left, *op, right) {
                return Some(Cond::Range(r));
            }
            ts_cmp(right, op.swap()?, left).map(Cond::Range)
        }
        Expr::InList(list) if !list.negated && is_column(&list.expr, METER_ID) => list
            .list
            .iter()
            .map(string_literal)
            .collect::<Option<BTreeSet<String>>>()
            .map(Cond::Ids),
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let lo = ts_cmp(expr, Operator::GtEq, low)?;
            let hi = ts_cmp(expr, Operator::LtEq, high)?;
            Some(Cond::Range(lo.start.max(hi.start)..lo.end.min(hi.end)))
        }
        _ => None,
    }
}

/// `col = lit` for the meter id column.
fn id_eq(col: &Expr, lit: &Expr) -> Option<String> {
    is_column(col, METER_ID)
        .then(|| string_literal(lit))
        .flatten()
}

/// Whether `e` is column `name`, perhaps cast to a string type (meter ids) or to another
/// timestamp unit or a 64-bit integer (the seconds of `ts`), as type coercion writes them.
fn is_column(e: &Expr, name: &str) -> bool {
    column_factor(e, name).is_some()
}

/// For column `name` (or a cast of it): by how much the expression multiplies the stored
/// value (the unit of a timestamp cast; 1 otherwise).
fn column_factor(e: &Expr, name: &str) -> Option<i128> {
    match e {
        Expr::Column(c) => (c.name == name).then_some(1),
        Expr::Cast(c) => cast_factor(c.field.data_type(), name).and_then(|f| {
            let inner = column_factor(&c.expr, name)?;
            Some(f * inner)
        }),
        Expr::TryCast(c) => cast_factor(c.field.data_type(), name).and_then(|f| {
            let inner = column_factor(&c.expr, name)?;
            Some(f * inner)
        }),
        _ => None,
    }
}

/// The factor a cast to `t` applies to column `name`, for the casts that keep every value
/// distinct and in order: strings for meter ids, timestamps and 64-bit integers for `ts`.
fn cast_factor(t: &DataType, name: &str) -> Option<i128> {
    match (name, t) {
        (TS, DataType::Timestamp(unit, _)) => Some(unit_factor(unit)),
        (TS, DataType::Int64) => Some(1),
        (METER_ID, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => Some(1),
        _ => None,
    }
}

fn unit_factor(unit: &TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// A non-null string constant.
fn string_literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(v, _) => scalar_string(v),
        _ => None,
    }
}

fn scalar_string(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
        ScalarValue::Dictionary(_, inner) => scalar_string(inner),
        _ => None,
    }
}

/// A non-null timestamp constant in its unit and that unit's factor, or a 64-bit
/// integer (factor 1).
fn time_literal(e: &Expr) -> Option<(i128, i128)> {
    let Expr::Literal(v, _) = e else {
        return None;
    };
    let (x, unit) = match v {
        ScalarValue::TimestampSecond(Some(x), _) => (*x, TimeUnit::Second),
        ScalarValue::TimestampMillisecond(Some(x), _) => (*x, TimeUnit::Millisecond),
        ScalarValue::TimestampMicrosecond(Some(x), _) => (*x, TimeUnit::Microsecond),
        ScalarValue::TimestampNanosecond(Some(x), _) => (*x, TimeUnit::Nanosecond),
        ScalarValue::Int64(Some(x)) => (*x, TimeUnit::Second),
        _ => return None,
    };
    Some((i128::from(x), unit_factor(&unit)))
}

/// `col op lit` for `ts` as a range of stored seconds. The column expression is `ts x f`
/// and the constant `x / g` seconds; a comparison is only taken when the two scales agree
/// (type coercion casts one side to the other's type), so `ts x f op x` gives whole-second
/// bounds by floor and ceiling division.
fn ts_cmp(col: &Expr, op: Operator, lit: &Expr) -> Option<Range<i64>> {
    let f = column_factor(col, TS)?;
    let (x, g) = time_literal(lit)?;
    if f != g {
        return None;
    }
    let floor = x.div_euclid(f);
    let ceil = floor + i128::from(x.rem_euclid(f) != 0);
    let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let (start, end) = match op {
        Operator::Gt => (floor + 1, i128::from(i64::MAX)),
        Operator::GtEq => (ceil, i128::from(i64::MAX)),
        Operator::Lt => (i128::from(i64::MIN), ceil),
        Operator::LtEq => (i128::from(i64::MIN), floor + 1),
        Operator::Eq => (ceil, floor + 1),
        _ => return None,
    };
    Some(clamp(start)..clamp(end))
}
