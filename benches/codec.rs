//! Codec and history benchmarks: encode and decode readings/s of one meter-year of fleet
//! data (timestamps included), and the latency of one meter's year of history from a warm
//! store.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use meterstore::__bench::{ints, timestamps, values};
use meterstore::fleet::Fleet;
use meterstore::{Options, Store, UnknownMeters};

fn encode_year(ts: &[i64], vals: &[f64], out: &mut Vec<u8>, scratch: &mut Vec<i64>) {
    out.clear();
    for (t, v) in ts.chunks(4096).zip(vals.chunks(4096)) {
        values::to_ints(v, scratch);
        timestamps::encode(t, out);
        ints::encode(scratch, out);
    }
}

fn codec(c: &mut Criterion) {
    let fleet = Fleet::with_meters(12, 365);
    let (ts, vals) = fleet.series(0);
    let mut g = c.benchmark_group("meter_year");
    g.throughput(Throughput::Elements(ts.len() as u64));
    let (mut buf, mut scratch) = (Vec::new(), Vec::new());
    g.bench_function("encode", |b| {
        b.iter(|| encode_year(black_box(&ts), black_box(&vals), &mut buf, &mut scratch))
    });
    encode_year(&ts, &vals, &mut buf, &mut scratch);
    eprintln!(
        "meter-year: {} readings in {} bytes = {:.3} bytes/reading",
        ts.len(),
        buf.len(),
        buf.len() as f64 / ts.len() as f64
    );

    // Decode: values back to f64 plus timestamps, block by block as a scan would.
    let mut blocks = Vec::new();
    for (t, v) in ts.chunks(4096).zip(vals.chunks(4096)) {
        let kind = values::to_ints(v, &mut scratch);
        let mut b = Vec::new();
        timestamps::encode(t, &mut b);
        let split = b.len();
        ints::encode(&scratch, &mut b);
        blocks.push((kind, split, t.len(), b));
    }
    let (mut out_i, mut out_t, mut out_v) = (Vec::new(), Vec::new(), Vec::new());
    g.bench_function("decode", |b| {
        b.iter(|| {
            out_t.clear();
            out_v.clear();
            for (kind, split, n, bytes) in &blocks {
                let (col, _) = timestamps::TsColumn::parse(&bytes[..*split], *n).unwrap();
                col.decode_into(&mut out_t);
                let (ic, _) = ints::IntColumn::parse(&bytes[*split..]).unwrap();
                out_i.clear();
                ic.decode_into(&mut out_i);
                values::from_ints(*kind, &out_i, &mut out_v);
            }
            black_box((&out_t, &out_v));
        })
    });
    g.bench_function("decode_ints_only", |b| {
        b.iter(|| {
            out_i.clear();
            for (_, split, _, bytes) in &blocks {
                let (ic, _) = ints::IntColumn::parse(&bytes[*split..]).unwrap();
                ic.decode_into(&mut out_i);
            }
            black_box(&out_i);
        })
    });
    g.finish();
}

fn history(c: &mut Criterion) {
    let fleet = Fleet::with_meters(60, 365);
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        unknown_meters: UnknownMeters::Register(fleet.meta()),
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    for i in 0..fleet.meters().len() {
        fleet.append_meter(&store, i).unwrap();
    }
    store.flush().unwrap();
    let mut g = c.benchmark_group("history");
    let id = &fleet.meters()[7].id;
    let n = store.history(id, i64::MIN..i64::MAX).unwrap().len();
    g.throughput(Throughput::Elements(n as u64));
    g.bench_with_input(BenchmarkId::new("meter_year", n), id, |b, id| {
        b.iter(|| {
            store
                .history(id, i64::MIN..i64::MAX)
                .unwrap()
                .map(|(_, v)| v)
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, codec, history);
criterion_main!(benches);
