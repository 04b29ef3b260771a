//! Reopening after a clean close, and recovery from torn, corrupt or missing files.

use super::*;

#[test]
fn a_clean_reopen_trusts_the_indexes_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut model) = filled(dir.path(), 30);
    log.close().unwrap();
    assert!(dir.path().join(".clean").exists());
    // Closed, the log still serves reads; an append removes the marker and rolls.
    append(&mut log, &mut model, 0, 500, 10);
    assert!(!dir.path().join(".clean").exists());
    log.close().unwrap();
    drop(log);

    let mut log = SegmentedLog::open(dir.path(), config(1000)).unwrap();
    assert!(!dir.path().join(".clean").exists());
    // Opening touched no sealed segment.
    assert_eq!(log.open_sealed.len(), 0);
    check(&log, &model);
    assert!(log.open_sealed.len() <= OPEN_SEALED_SEGMENTS);
    append(&mut log, &mut model, 3, 600, 50);
    check(&log, &model);
}

#[test]
fn garbage_after_the_last_batch_is_cut_away() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (log, mut model) = filled(dir.path(), 25);
        let path = active_log_path(dir.path());
        let size = fs::metadata(&path).unwrap().len();
        let mut log = reopen(log, clean, &config(1000), |_| {
            let mut file = OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all(&[0xab; 300]).unwrap();
        });
        assert_eq!(fs::metadata(&path).unwrap().len(), size);
        check(&log, &model);
        append(&mut log, &mut model, 0, 1, 1);
        check(&log, &model);
    }
}

#[test]
fn a_torn_last_batch_is_cut_away() {
    let dir = tempfile::tempdir().unwrap();
    let (log, mut model) = filled(dir.path(), 25);
    let path = active_log_path(dir.path());
    let (torn, _) = make(model.end, 0, 7, 100);
    let mut log = reopen(log, false, &config(1000), |_| {
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn[..torn.len() - 1]).unwrap();
    });
    check(&log, &model);
    append(&mut log, &mut model, 0, 1, 1);
    check(&log, &model);
}

#[test]
fn a_corrupt_batch_in_the_middle_cuts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (log, mut model) = filled(dir.path(), 27);
    let path = active_log_path(dir.path());
    let active_base = base_of(&path);
    let active: Vec<_> = model
        .batches
        .iter()
        .filter(|(_, m)| m.base_offset >= active_base)
        .map(|(b, _)| b.len() as u64)
        .collect();
    assert!(active.len() >= 2);
    // Flip a payload byte of the second batch of the active segment.
    let at = active[0] + active[1] - 1;
    let log = reopen(log, false, &config(1000), |_| {
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &[0xff], at).unwrap();
    });
    model.cut_active(active_base, active[0]);
    check(&log, &model);
}

#[test]
fn missing_index_files_are_rebuilt() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (log, model) = filled(dir.path(), 40);
        let log = reopen(log, clean, &config(1000), |dir| {
            for path in [segment_files(dir, INDEX), segment_files(dir, TIME_INDEX)].concat() {
                fs::remove_file(path).unwrap();
            }
        });
        check(&log, &model);
        assert_eq!(
            batch_found(&log, TimestampTarget::AtOrAfter(120)),
            model_found(model.first_at_or_after(120))
        );
        assert_eq!(
            batch_found(&log, TimestampTarget::Max),
            model_found(model.with_max_timestamp())
        );
        // Reading rebuilt every sealed segment's indexes.
        assert_eq!(
            segment_files(dir.path(), INDEX).len(),
            segment_files(dir.path(), LOG).len()
        );
    }
}

#[test]
fn garbage_index_files_are_rebuilt() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (log, model) = filled(dir.path(), 40);
        let log = reopen(log, clean, &config(1000), |dir| {
            let mut noise = 0x9e37_79b9_7f4a_7c15u64;
            for path in [segment_files(dir, INDEX), segment_files(dir, TIME_INDEX)].concat() {
                let length = fs::metadata(&path).unwrap().len().max(24);
                let bytes: Vec<u8> = (0..length)
                    .map(|_| {
                        noise ^= noise << 13;
                        noise ^= noise >> 7;
                        noise ^= noise << 17;
                        noise as u8
                    })
                    .collect();
                fs::write(path, bytes).unwrap();
            }
        });
        check(&log, &model);
        for timestamp in [0, 100, 117, 139, 140] {
            assert_eq!(
                batch_found(&log, TimestampTarget::AtOrAfter(timestamp)),
                model_found(model.first_at_or_after(timestamp))
            );
        }
        assert_eq!(
            batch_found(&log, TimestampTarget::Max),
            model_found(model.with_max_timestamp())
        );
    }
}

#[test]
fn stray_files_are_deleted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = filled(dir.path(), 10);
    let stray = dir.path().join("00000000000000099999.index");
    let log = reopen(log, true, &config(1000), |_| {
        fs::write(&stray, b"x").unwrap()
    });
    assert!(!stray.exists());
    check(&log, &model);
}
