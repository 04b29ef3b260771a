//! The group log `groups.log` as arbitrary bytes, replayed as the broker replays it at start:
//! `coordinator::journal::decode_all`, `GroupLog::open` (which cuts a torn tail), then the records
//! applied to the coordinator (`Coordinator::restore`) and compacted to its snapshot. Nothing
//! may panic, and:
//! - every record replayed re-encodes to bytes that decode to that record alone;
//! - `GroupLog::open` returns what `decode_all` does and cuts the file to the valid part,
//!   after which an appended record is replayed behind the others;
//! - the snapshot compaction writes is a fixed point: restoring from it and snapshotting
//!   again gives the same records (a restart after a compaction loses nothing).

#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sluice::coordinator::journal::{decode_all, frame, Replay};
use sluice::group::records::{GroupLog, GroupRecord, GROUP_LOG_FILE};
use sluice::group::{CommittedOffset, Coordinator, GroupConfig};

/// A fixed clock: a run must be reproducible from its input alone.
const NOW_MS: i64 = 1_700_000_000_000;

/// As in segment_recovery: files go to memory when /dev/shm is there.
static TMP_ROOT: LazyLock<PathBuf> = LazyLock::new(|| {
    if let Some(dir) = std::env::var_os("SLUICE_FUZZ_TMPDIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
});

fuzz_target!(|data: &[u8]| {
    let replay: Replay<GroupRecord> = decode_all(data);
    assert!(replay.valid_bytes <= data.len());
    assert!(replay.records.is_empty() == (replay.valid_bytes == 0));
    for record in &replay.records {
        round_trips(record);
    }
    // The records again, as compaction would write them: one valid log, nothing skipped.
    let rewritten: Vec<u8> = replay.records.iter().flat_map(frame).collect();
    let again: Replay<GroupRecord> = decode_all(&rewritten);
    assert_eq!(again.records, replay.records);
    assert_eq!((again.valid_bytes, again.skipped), (rewritten.len(), 0));

    let root = tempfile::Builder::new()
        .prefix("sluice-fuzz-")
        .tempdir_in(&*TMP_ROOT)
        .expect("a temporary directory");
    let path = root.path().join("groups.log");
    fs::write(&path, data).expect("write groups.log");
    let (mut store, records) = GroupLog::open(root.path(), GROUP_LOG_FILE).expect("open replays any bytes");
    assert_eq!(records, replay.records);
    let kept = fs::metadata(&path).expect("groups.log").len();
    assert_eq!(kept, replay.valid_bytes as u64, "open kept a torn tail");

    let marker = GroupRecord::Offset {
        group: "fuzz-group".into(),
        topic: "fuzz-topic".into(),
        partition: 0,
        value: Some(CommittedOffset {
            offset: 42,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: NOW_MS,
        }),
    };
    store
        .append(std::slice::from_ref(&marker))
        .expect("append after replay");
    let mut expected = records.clone();
    expected.push(marker);
    assert_eq!(
        store.replay().expect("replay"),
        expected,
        "an append after open is not replayed behind the records"
    );

    // What GroupCoordinator::start does with them: restore, then compact to the snapshot.
    let coordinator = Coordinator::restore(GroupConfig::default(), records, NOW_MS);
    let snapshot = sorted(coordinator.snapshot_records());
    for record in &snapshot {
        round_trips(record);
    }
    for listing in coordinator.list() {
        let _ = coordinator.describe(&listing.group_id);
    }
    store.compact(&snapshot).expect("compact");
    let (_store, compacted) = GroupLog::open(root.path(), GROUP_LOG_FILE).expect("reopen after compaction");
    assert_eq!(compacted, snapshot, "the compacted log replays other records");
    let restored = Coordinator::restore(GroupConfig::default(), compacted, NOW_MS);
    assert_eq!(
        sorted(restored.snapshot_records()),
        snapshot,
        "restoring from a compacted log changed the state"
    );
});

/// `record` encodes to bytes that decode to it and nothing else.
fn round_trips(record: &GroupRecord) {
    let encoded = frame(record);
    let decoded: Replay<GroupRecord> = decode_all(&encoded);
    assert_eq!(decoded.records.as_slice(), std::slice::from_ref(record));
    assert_eq!((decoded.valid_bytes, decoded.skipped), (encoded.len(), 0));
}

/// Snapshot records in a canonical order (the coordinator keeps groups in a hash map).
fn sorted(mut records: Vec<GroupRecord>) -> Vec<GroupRecord> {
    records.sort_by_cached_key(frame);
    records
}
