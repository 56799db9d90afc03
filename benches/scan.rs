//! Day/night scan benchmarks: the block kernels on a meter-year (value and delta mode), and the whole scan of
//! a stored fleet through the public API (fixed offset, per-day, and a DST zone).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use meterstore::__bench::{ints, values};
use meterstore::fleet::{Fleet, Shape, ShapedFleet};
use meterstore::{DayNightScan, MeterFilter, Options, Store, UnknownMeters, Zone};

/// A meter's values as integer columns of at most `len` values each: (values, bytes).
fn encode_blocks(vals: &[f64], len: usize) -> Vec<(usize, Vec<u8>)> {
    let mut scratch = Vec::new();
    vals.chunks(len)
        .map(|v| {
            values::to_ints(v, &mut scratch);
            let mut b = Vec::new();
            ints::encode(&scratch, &mut b);
            (v.len(), b)
        })
        .collect()
}

/// The day sums and day counts of every block, as the fleet scan takes them for a block
/// wholly in the range (whose total its index entry holds).
fn marked_sums(blocks: &[(usize, Vec<u8>)], mask: &ints::ClassMask) -> (i128, u64) {
    let mut acc = (0i128, 0u64);
    for (n, bytes) in blocks {
        let (col, _) = ints::IntColumn::parse(bytes).unwrap();
        let run = [ints::PhaseRun { start: 0, phase: 0 }];
        let (d, k) = col.marked_sums(&run, *n, mask);
        acc = (acc.0 + d, acc.1 + k);
    }
    acc
}

fn kernels(c: &mut Criterion) {
    let fleet = Fleet::with_meters(12, 365);
    let (_, vals) = fleet.series(0);
    let blocks = encode_blocks(&vals, 4096);
    // 08:00-20:00 in UTC+08:00 on the 15-minute grid: slots 32..80 of 96.
    let day: Vec<bool> = (0..96).map(|p| (32..80).contains(&p)).collect();
    let mask = ints::ClassMask::new(&day);
    let mut g = c.benchmark_group("kernel_meter_year");
    g.throughput(Throughput::Elements(vals.len() as u64));
    g.bench_function("masked_class_sums", |b| {
        b.iter(|| {
            let mut acc = (0i128, 0i128, 0u64);
            for (n, bytes) in &blocks {
                let (col, _) = ints::IntColumn::parse(bytes).unwrap();
                let (d, t, k) = col.masked_class_sums(0, *n, 0, &mask);
                acc = (acc.0 + d, acc.1 + t, acc.2 + k);
            }
            black_box(acc)
        })
    });
    // The same without the totals, as the fleet scan runs it for a block wholly in the
    // range (whose total its index entry holds).
    g.bench_function("marked_sums", |b| {
        b.iter(|| black_box(marked_sums(&blocks, &mask)))
    });
    g.bench_function("range_sums_3_pieces_per_day", |b| {
        b.iter(|| {
            let mut total = 0i128;
            for (n, bytes) in &blocks {
                let (col, _) = ints::IntColumn::parse(bytes).unwrap();
                let mut bounds: Vec<usize> = (0..*n)
                    .step_by(96)
                    .flat_map(|d| [d, d + 32, d + 80])
                    .filter(|&x| x < *n)
                    .collect();
                bounds.push(*n);
                let mut out = vec![0i128; bounds.len() - 1];
                col.range_sums(&bounds, &mut out);
                total += out.iter().sum::<i128>();
            }
            black_box(total)
        })
    });
    g.finish();
}

/// The delta-mode kernel on a meter-year of the `register` shape (cumulative counters,
/// which the encoder stores as deltas): the sums of the values of the day lanes as the
/// fleet scan runs them for a block wholly in the range, and per-day sums cut at every
/// midnight.
fn delta_kernel(c: &mut Criterion) {
    let fleet = ShapedFleet::new(Shape::Register, 12, 365, 2024);
    let vals = fleet.series(0).values;
    let blocks = encode_blocks(&vals, 2976);
    let deltas = blocks
        .iter()
        .filter(|(_, b)| ints::IntColumn::parse(b).unwrap().0.is_delta())
        .count();
    assert!(deltas * 2 > blocks.len(), "counters are stored as deltas");
    let day: Vec<bool> = (0..96).map(|p| (32..80).contains(&p)).collect();
    let mask = ints::ClassMask::new(&day);
    let mut g = c.benchmark_group("kernel_meter_year_delta");
    g.throughput(Throughput::Elements(vals.len() as u64));
    g.bench_function("marked_sums", |b| {
        b.iter(|| black_box(marked_sums(&blocks, &mask)))
    });
    g.bench_function("class_sums_cut_per_day", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut total = 0i128;
            for (n, bytes) in &blocks {
                let (col, _) = ints::IntColumn::parse(bytes).unwrap();
                let run = [ints::PhaseRun { start: 0, phase: 0 }];
                let cuts: Vec<usize> = (96..*n).step_by(96).collect();
                out.clear();
                out.resize(cuts.len() + 1, (0, 0, 0));
                col.class_sums_cut(&run, *n, &mask, &cuts, &mut out);
                total += out.iter().map(|o| o.1).sum::<i128>();
            }
            black_box(total)
        })
    });
    g.finish();
}

fn fleet_scan(c: &mut Criterion) {
    let fleet = Fleet::with_meters(300, 365);
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        unknown_meters: UnknownMeters::Register(fleet.meta()),
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    let mut n = 0u64;
    for i in 0..fleet.meters().len() {
        n += fleet.append_meter(&store, i).unwrap() as u64;
    }
    store.flush().unwrap();
    let mut g = c.benchmark_group("fleet_scan_300_meters_year");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);
    let cases = [
        (
            "totals_1_thread",
            DayNightScan {
                threads: 1,
                ..DayNightScan::default()
            },
        ),
        (
            "totals_2_threads",
            DayNightScan {
                threads: 2,
                ..DayNightScan::default()
            },
        ),
        (
            "daily_1_thread",
            DayNightScan {
                threads: 1,
                daily: true,
                ..DayNightScan::default()
            },
        ),
        (
            "london_dst_1_thread",
            DayNightScan {
                threads: 1,
                zone: Zone::iana("Europe/London").unwrap(),
                ..DayNightScan::default()
            },
        ),
    ];
    for (name, scan) in cases {
        g.bench_function(name, |b| {
            b.iter(|| {
                store
                    .day_night(&MeterFilter::All, i64::MIN..i64::MAX, &scan)
                    .unwrap()
                    .len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, kernels, delta_kernel, fleet_scan);
criterion_main!(benches);
