//! The cleaner's key → latest offset map, in a fixed amount of memory.
//!
//! As Kafka's `SkimpyOffsetMap`, keys are not stored: each slot holds a 128-bit hash of the
//! key and the offset, 24 bytes, in one open-addressed table allocated once at its full
//! size (`log_cleaner_dedupe_buffer_bytes`). Two keys sharing a 128-bit hash would make the
//! older one's latest value look superseded; at 2^-128 per pair that is not a concern (Kafka
//! accepts MD5's 2^-128 the same way).

use std::hash::{Hash, Hasher};

/// Bytes of one slot: two 64-bit hash halves and the offset.
pub const SLOT_BYTES: usize = 24;

/// The table is never filled past this share of its slots, so probes stay short (Kafka's
/// `log.cleaner.io.buffer.load.factor` default).
const LOAD_FACTOR: f64 = 0.9;

/// A slot's first hash half; 0 marks an empty slot (a real 0 is stored as 1).
#[derive(Clone, Copy, Default)]
struct Slot {
    hash: [u64; 2],
    offset: i64,
}

pub struct OffsetMap {
    slots: Vec<Slot>,
    used: usize,
    /// The largest offset put: where the part of the log the map covers ends.
    latest_offset: i64,
}

impl OffsetMap {
    /// A map using about `bytes` of memory (at least 1 slot).
    pub fn with_bytes(bytes: usize) -> OffsetMap {
        let count = (bytes / SLOT_BYTES).max(2);
        OffsetMap {
            slots: vec![Slot::default(); count],
            used: 0,
            latest_offset: -1,
        }
    }

    /// How many keys the map holds at most.
    pub fn capacity(&self) -> usize {
        ((self.slots.len() as f64 * LOAD_FACTOR) as usize).max(1)
    }

    pub fn len(&self) -> usize {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Room left for this many more keys.
    pub fn has_room_for(&self, keys: usize) -> bool {
        self.used.saturating_add(keys) <= self.capacity()
    }

    pub fn clear(&mut self) {
        self.slots.fill(Slot::default());
        self.used = 0;
        self.latest_offset = -1;
    }

    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    fn hash(key: &[u8]) -> [u64; 2] {
        let mut first = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut first);
        let mut second = std::collections::hash_map::DefaultHasher::new();
        0x5a5a_u16.hash(&mut second);
        key.hash(&mut second);
        [first.finish().max(1), second.finish()]
    }

    fn find(&self, hash: [u64; 2]) -> usize {
        let len = self.slots.len();
        let mut at = (hash[0] % len as u64) as usize;
        loop {
            let slot = &self.slots[at];
            if slot.hash[0] == 0 || slot.hash == hash {
                return at;
            }
            at = (at + 1) % len;
        }
    }

    /// Records `offset` as the latest of `key`. False (and nothing recorded) when the map is
    /// full and the key is new.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let hash = Self::hash(key);
        let at = self.find(hash);
        if self.slots[at].hash[0] == 0 {
            if self.used >= self.capacity() {
                return false;
            }
            self.used += 1;
        }
        self.slots[at] = Slot { hash, offset };
        self.latest_offset = self.latest_offset.max(offset);
        true
    }

    /// The latest offset recorded for `key`.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        let slot = &self.slots[self.find(Self::hash(key))];
        (slot.hash[0] != 0).then_some(slot.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_of_each_key_and_refuses_new_keys_when_full() {
        let mut map = OffsetMap::with_bytes(10 * SLOT_BYTES);
        assert_eq!(map.capacity(), 9);
        for i in 0..9 {
            assert!(map.put(format!("k{i}").as_bytes(), i));
        }
        assert!(!map.put(b"another", 100));
        assert!(map.put(b"k3", 50), "a known key is updated even when full");
        assert_eq!(map.get(b"k3"), Some(50));
        assert_eq!(map.get(b"k4"), Some(4));
        assert_eq!(map.get(b"another"), None);
        assert_eq!(map.len(), 9);
        assert_eq!(map.latest_offset(), 50);
        map.clear();
        assert_eq!(map.get(b"k3"), None);
    }
}
