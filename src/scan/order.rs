//! Id ordering: each worker sorts its results by meter id, and the calling worker merges
//! the others' lists into its own.

use super::result::MeterDayNight;

/// The first 16 bytes of a meter id, zero-padded, as two big-endian words: ordering by
/// it and then by the whole id is ordering by id. A worker's ids were written by its own
/// core: merging the workers' lists by the strings alone reads each id across cores, the
/// keys lie in the lists themselves.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct IdKey(u64, u64);

impl IdKey {
    // Big-endian: the words compare as the bytes do (an order, not a stored format).
    #[expect(
        clippy::big_endian_bytes,
        reason = "big-endian words compare as the bytes do (an order, not a stored format)"
    )]
    pub(super) fn of(id: &str) -> IdKey {
        let mut b = [0u8; 16];
        let n = id.len().min(16);
        b[..n].copy_from_slice(&id.as_bytes()[..n]);
        let word = |w: &[u8]| u64::from_be_bytes(w.try_into().expect("8 bytes"));
        IdKey(word(&b[..8]), word(&b[8..]))
    }

    /// Orders ids given with their keys: by the keys, then by the ids where the keys are
    /// equal.
    fn cmp_ids(a: (IdKey, &str), b: (IdKey, &str)) -> std::cmp::Ordering {
        a.cmp(&b)
    }
}

/// Orders a worker's results by id (see [`IdKey`]).
pub(super) fn by_id(a: &(IdKey, MeterDayNight), b: &(IdKey, MeterDayNight)) -> std::cmp::Ordering {
    IdKey::cmp_ids((a.0, &a.1.meter), (b.0, &b.1.meter))
}

/// An empty result list with room for `n` results, its memory faulted in: the calling
/// worker's list, into which [`merge_in_id_order`] moves the other workers' results. It is
/// faulted in here, while the other workers scan, rather than by the merge while they
/// wait: the allocator maps a fresh block for a list of that size every scan, and
/// faulting it in is most of a merge's work.
/// The room is for every selected meter, with readings in the range or not: at most 168
/// bytes a meter more than the results need, for the length of the scan.
pub(super) fn with_room_for_all(n: usize) -> Vec<(IdKey, MeterDayNight)> {
    const _: () = assert!(std::mem::size_of::<(IdKey, MeterDayNight)>() <= 168);
    let mut list = Vec::with_capacity(n);
    let per_page = (4096 / std::mem::size_of::<(IdKey, MeterDayNight)>()).max(1);
    for slot in list.spare_capacity_mut().iter_mut().step_by(per_page) {
        // Through `black_box`: a store the compiler could prove dead.
        *std::hint::black_box(slot) = std::mem::MaybeUninit::zeroed();
    }
    list
}

/// Merges the started workers' result lists (`others`) into the calling worker's
/// (`own`), each in id order, from the back: the largest remaining result goes to the
/// last free place. The workers sort their own lists in parallel, so no thread sorts every
/// result while the others wait; this moves each result once, into the room
/// [`with_room_for_all`] made in `own` (no list of the results' size is allocated).
pub(super) fn merge_in_id_order(
    own: Vec<(IdKey, MeterDayNight)>,
    mut others: Vec<Vec<(IdKey, MeterDayNight)>>,
) -> Vec<MeterDayNight> {
    others.retain(|l| !l.is_empty());
    if others.is_empty() {
        // One worker's results (a one-thread scan): already in place.
        return own.into_iter().map(|r| r.1).collect();
    }
    let total = own.len() + others.iter().map(Vec::len).sum::<usize>();
    // `Option` of the pair has the pair's size (an id's pointer is never null), so this
    // and the last collect reuse `own`'s memory.
    const _: () = assert!(
        std::mem::size_of::<Option<(IdKey, MeterDayNight)>>()
            == std::mem::size_of::<(IdKey, MeterDayNight)>()
    );
    let mut out: Vec<Option<(IdKey, MeterDayNight)>> = own.into_iter().map(Some).collect();
    // `out[..kept]` holds `own`'s results not yet moved.
    let mut kept = out.len();
    out.resize_with(total, || None);
    for at in (0..total).rev() {
        let Some(i) = (0..others.len()).max_by(|&a, &b| by_id(last(&others[a]), last(&others[b])))
        else {
            // Only `own`'s results remain, already in their places.
            break;
        };
        let own_is_larger =
            kept > 0 && by_id(out[kept - 1].as_ref().expect("kept"), last(&others[i])).is_gt();
        if own_is_larger {
            out.swap(kept - 1, at);
            kept -= 1;
        } else {
            out[at] = others[i].pop();
            if others[i].is_empty() {
                others.swap_remove(i);
            }
        }
    }
    out.into_iter()
        .map(|r| r.expect("every place filled").1)
        .collect()
}

/// The last result of a list that is not empty.
fn last(list: &[(IdKey, MeterDayNight)]) -> &(IdKey, MeterDayNight) {
    list.last().expect("lists are not empty")
}

#[cfg(test)]
mod tests {
    use super::{by_id, merge_in_id_order, with_room_for_all, IdKey};
    use crate::scan::{DayNight, MeterDayNight};
    use proptest::prelude::*;

    proptest! {
        /// Ordering by key, then id, is ordering by id: ids that share their first 16
        /// bytes, ids shorter than 16 bytes, ids with NUL bytes and non-ASCII ids alike.
        #[test]
        fn id_keys_order_like_the_ids(
            prefix in "[a-c\\x00]{0,18}",
            a in "[a-c\\x00é]{0,6}",
            b in "[a-c\\x00é]{0,6}",
        ) {
            let (a, b) = (format!("{prefix}{a}"), format!("{prefix}{b}"));
            prop_assert_eq!(IdKey::cmp_ids((IdKey::of(&a), &a), (IdKey::of(&b), &b)), a.cmp(&b));
        }

        /// Workers' lists, each sorted by id, merge into all the results in id order.
        /// (A scan of a small store rarely gives the second worker any meters, so the
        /// day/night tests alone do not exercise the merge.)
        #[test]
        fn merged_lists_come_in_id_order(
            ids in proptest::collection::btree_set("[a-c]{0,3}[0-9]{0,20}", 0..60),
            worker in proptest::collection::vec(0usize..3, 60),
            room in any::<bool>(),
        ) {
            let mut lists: Vec<Vec<(IdKey, MeterDayNight)>> = vec![Vec::new(); 3];
            for (id, &w) in ids.iter().zip(&worker) {
                let r = MeterDayNight { meter: id.clone(), total: DayNight::default(), daily: Vec::new() };
                lists[w].push((IdKey::of(id), r));
            }
            for l in &mut lists {
                l.sort_unstable_by(by_id);
            }
            // The calling worker's list with room for all, or (as on one thread) without.
            let mut own = match room {
                true => with_room_for_all(ids.len()),
                false => Vec::new(),
            };
            own.append(&mut lists[0]);
            let merged: Vec<String> = merge_in_id_order(own, lists.split_off(1))
                .into_iter()
                .map(|r| r.meter)
                .collect();
            prop_assert_eq!(merged, ids.into_iter().collect::<Vec<_>>());
        }
    }
}
