use proptest::prelude::*;

use super::*;
use crate::record::test_batches::record;

/// What `read_record` makes of `bytes`: the fields and the bytes taken, or nothing.
fn slow_record(bytes: &[u8], index: i32) -> Option<(i64, bool, u64)> {
    let mut source = SliceSource::new(bytes);
    let fields = read_record(&mut source, index).ok()?;
    Some((fields.timestamp_delta, fields.has_key, source.position()))
}

proptest! {
    /// The fast path says yes only where the full reader says the same.
    #[test]
    fn the_fast_record_reader_agrees_with_the_full_one(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        headers in 0usize..3,
        index in 0i32..3,
    ) {
        let header_list: Vec<(&[u8], Option<&[u8]>)> =
            (0..headers).map(|_| (&b"key"[..], Some(&b"value"[..]))).collect();
        let mut bytes = record(index, 300, key.as_deref(), Some(&[7; 150]), &header_list);
        bytes.extend_from_slice(b"next record");
        for (at, xor) in flips {
            let at = at % bytes.len();
            bytes[at] ^= xor;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        if let Some((fields, size)) = fast_record(&bytes, index) {
            prop_assert_eq!(
                Some((fields.timestamp_delta, fields.has_key, size as u64)),
                slow_record(&bytes, index)
            );
        }
    }
}
