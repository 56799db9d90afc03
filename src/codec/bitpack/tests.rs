use super::*;
use proptest::prelude::*;

/// The reference unpacker the tests check the others against: one monomorphised
/// [`unpack_with`] per width.
fn unpack_w<const W: usize>(p: &Padded, out: &mut [u64; MINI_LEN]) {
    unpack_with::<W>(p, |i, v| out[i] = v);
}

type Unpacker = fn(&Padded, &mut [u64; MINI_LEN]);

width_table!(UNPACKERS, Unpacker, unpack_w);

/// Unpacks one mini-block of `width` bits from `bytes` (exactly `packed_len(width)` bytes,
/// or `partial_len(n, width)` for a partial one, whose values past `n` are then garbage).
fn unpack(bytes: &[u8], width: u8, pad: &mut Padded, out: &mut [u64; MINI_LEN]) {
    debug_assert!(bytes.len() <= packed_len(width));
    UNPACKERS[width as usize](pad.load(bytes), out);
}

fn roundtrip(vals: [u64; MINI_LEN], width: u8) {
    let mut buf = Vec::new();
    pack(&vals, width, &mut buf);
    assert_eq!(buf.len(), packed_len(width));
    let mut out = [0u64; MINI_LEN];
    // Stale bytes in the padded buffer must not leak into values.
    let mut pad = Padded::default();
    pad.load(&[0xff; MINI_LEN * 8]);
    unpack(&buf, width, &mut pad, &mut out);
    assert_eq!(out, vals, "width {width}");
}

/// The largest value of `width` bits.
fn largest(width: u8) -> u64 {
    if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

#[test]
fn every_width_roundtrips_extremes() {
    for width in 0..=64u8 {
        let max = largest(width);
        let mut vals = [0u64; MINI_LEN];
        for (i, v) in vals.iter_mut().enumerate() {
            *v = match i % 3 {
                0 => max,
                1 => 0,
                _ => max / 3,
            };
        }
        roundtrip(vals, width);
    }
}

#[test]
fn bits_needed_matches_definition() {
    assert_eq!(bits_needed(0), 0);
    assert_eq!(bits_needed(1), 1);
    assert_eq!(bits_needed(255), 8);
    assert_eq!(bits_needed(256), 9);
    assert_eq!(bits_needed(u64::MAX), 64);
}

proptest! {
    #[test]
    fn random_values_roundtrip(width in 0u8..=64, seed in any::<[u64; 8]>()) {
        let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
        let mut vals = [0u64; MINI_LEN];
        for (i, v) in vals.iter_mut().enumerate() {
            *v = seed[i % 8].rotate_left(i as u32 * 7) & mask;
        }
        roundtrip(vals, width);
    }
}

#[test]
fn bit_reader_reads_every_value_of_a_partial_array() {
    // 37 values (a partial last group, so the last reads hit the slice's end and take the
    // slow path), every width, values at both ends of the range.
    for width in 0..=64u8 {
        let max = largest(width);
        let mut vals = [0u64; MINI_LEN];
        for (i, v) in vals.iter_mut().take(37).enumerate() {
            *v = if i % 2 == 0 { max } else { (i as u64) & max };
        }
        let mut buf = Vec::new();
        pack_partial(&vals, 37, width, &mut buf);
        let mut r = BitReader::at(3, width);
        let unchecked = BitReader::unchecked_below(buf.len(), width);
        for (i, &v) in vals.iter().enumerate().take(37).skip(3) {
            assert_eq!(r.get(&buf), v, "width {width} value {i}");
            if i < unchecked {
                // SAFETY: below `unchecked_below`.
                let raw = unsafe { BitReader::get_raw(buf.as_ptr(), r.bit(), r.mask()) };
                assert_eq!(raw, v, "width {width} value {i}");
            }
            r.advance(1);
        }
        // Every value whose byte has 8 bytes after it, and none past them.
        let last_full = (0..37)
            .filter(|&i| i * width as usize / 8 + 8 <= buf.len())
            .count();
        if width > 0 && width <= 56 {
            assert_eq!(unchecked.min(37), last_full, "width {width}");
        } else if width > 56 {
            assert_eq!(unchecked, 0);
        }
        for n in 0..=40 {
            assert_eq!(
                BitReader::unchecked_below_max(buf.len(), width, n),
                unchecked.min(n),
                "width {width}, {n} values"
            );
        }
        r.advance(0);
        assert_eq!(r.get(&buf), 0, "width {width}: past the end reads zeros");
    }
}
