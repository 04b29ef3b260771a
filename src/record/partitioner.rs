//! Which partition a record goes to, as the Java client's default partitioner decides:
//! murmur2 of the key (`BuiltInPartitioner.partitionForKey`), and for records without a key
//! one partition per batch, moving on with every batch (the sticky partitioner's idea).

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): seed 0x9747b28c, the
/// 4-byte chunks read little-endian.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record among `partitions` (> 0): `toPositive(murmur2(key)) % n`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Picks partitions for records of one topic.
#[derive(Debug)]
pub struct Partitioner {
    partitions: i32,
    sticky: i32,
}

impl Partitioner {
    /// A partitioner over `partitions` (> 0); records without a key start on `start`.
    pub fn new(partitions: i32, start: i32) -> Partitioner {
        let partitions = partitions.max(1);
        Partitioner {
            partitions,
            sticky: start.rem_euclid(partitions),
        }
    }

    pub fn partition(&self, key: Option<&[u8]>) -> i32 {
        match key {
            Some(key) => partition_for_key(key, self.partitions),
            None => self.sticky,
        }
    }

    /// A batch was sent: records without a key go to the next partition from now on.
    pub fn next_batch(&mut self) {
        self.sticky = (self.sticky + 1) % self.partitions;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn keyed_records_use_the_positive_hash() {
        // -790332482 & 0x7fffffff = 1357151166; % 50 = 16.
        assert_eq!(partition_for_key(b"foobar", 50), 16);
        assert_eq!(partition_for_key(b"foobar", 1), 0);
    }

    #[test]
    fn records_without_key_stick_to_a_partition_per_batch() {
        let mut partitioner = Partitioner::new(3, 2);
        assert_eq!(partitioner.partition(None), 2);
        assert_eq!(partitioner.partition(None), 2);
        partitioner.next_batch();
        assert_eq!(partitioner.partition(None), 0);
        assert_eq!(partitioner.partition(Some(b"foobar")), 1357151166 % 3);
    }
}
