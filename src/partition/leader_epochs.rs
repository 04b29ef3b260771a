//! The leader-epoch cache of a partition: for each leader epoch, the offset its first batch
//! got, as Kafka's `LeaderEpochFileCache` keeps it. OffsetForLeaderEpoch answers from it
//! (a consumer checks its position for truncation after a leader change), and replication
//! will need it to find where a follower's log diverges.
//!
//! On disk it is `leader-epoch-checkpoint` in the partition directory, in Kafka's format:
//! a version line (0), a count line, then one `epoch start_offset` line per entry. It is
//! replaced atomically (a `.tmp` renamed over it) and not fsynced: opening the partition
//! reconciles it with the log (entries past the log end or before the log start are cut, a
//! missing entry is rebuilt), as Kafka's log loading does, so a stale file costs nothing.
//! In memory the cache lives in memory only.

use std::fs;
use std::io;
use std::path::Path;

/// The checkpoint file's name, as Kafka names it.
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const CHECKPOINT_VERSION: &str = "0";
/// Entries a checkpoint may hold; a longer file is corrupt (a guard before allocating).
const ENTRIES_MAX: usize = 100_000;
/// Kafka's `UNDEFINED_EPOCH` and `UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// Epoch → start offset, ascending in both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochs {
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochs {
    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|&(epoch, _)| epoch)
    }

    /// Records that `epoch` starts at `start_offset`; entries it contradicts (a newer or
    /// equal epoch, or one starting at or after it) are dropped first, as Kafka does. `true`
    /// when the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        let needed = self
            .entries
            .last()
            .is_none_or(|&(e, s)| e != epoch || start_offset < s);
        if !needed {
            return false;
        }
        while self
            .entries
            .last()
            .is_some_and(|&(e, s)| e >= epoch || s >= start_offset)
        {
            self.entries.pop();
        }
        self.entries.push((epoch, start_offset));
        true
    }

    /// Drops entries starting at or after `end_offset` (the log was cut there). `true` when
    /// the cache changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        if end_offset >= 0 {
            self.entries.retain(|&(_, start)| start < end_offset);
        }
        self.entries.len() != before
    }

    /// The log now starts at `start_offset`: the last entry starting at or before it now
    /// starts there, older ones go. `true` when the cache changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let covered = self
            .entries
            .iter()
            .take_while(|&&(_, start)| start <= start_offset)
            .count();
        if covered == 0 {
            return false;
        }
        let epoch = self.entries[covered - 1].0;
        let changed = covered > 1 || self.entries[0].1 != start_offset;
        self.entries.drain(..covered);
        self.entries.insert(0, (epoch, start_offset));
        changed
    }

    /// The epoch and end offset for a requested epoch, as Kafka's `endOffsetFor`: the
    /// latest epoch ends at the log end; an older one at the start of the next epoch known
    /// (with the largest known epoch not above it, or the requested one when none is);
    /// an undefined one, or one newer than any known, is undefined (-1, -1).
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested == UNDEFINED_EPOCH {
            return undefined;
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let Some(&(_, higher_start)) = self.entries.iter().find(|&&(e, _)| e > requested) else {
            return undefined;
        };
        match self.entries.iter().rev().find(|&&(e, _)| e <= requested) {
            Some(&(floor, _)) => (floor, higher_start),
            None => (requested, higher_start),
        }
    }

    /// Reads the checkpoint in `dir`; an absent file is an empty cache.
    pub fn load(dir: &Path) -> io::Result<LeaderEpochs> {
        match fs::read_to_string(dir.join(CHECKPOINT_FILE)) {
            Ok(text) => LeaderEpochs::parse(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LeaderEpochs::default()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the checkpoint in `dir` (write a `.tmp`, rename it over).
    pub fn store(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        fs::write(&tmp, self.to_text())?;
        fs::rename(&tmp, dir.join(CHECKPOINT_FILE))
    }

    fn to_text(&self) -> String {
        let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", self.entries.len());
        for (epoch, start) in &self.entries {
            text.push_str(&format!("{epoch} {start}\n"));
        }
        text
    }

    fn parse(text: &str) -> io::Result<LeaderEpochs> {
        let corrupt = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{CHECKPOINT_FILE}: {why}"),
            )
        };
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some(CHECKPOINT_VERSION) {
            return Err(corrupt("unknown version"));
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .filter(|&n| n <= ENTRIES_MAX)
            .ok_or_else(|| corrupt("bad entry count"))?;
        let mut epochs = LeaderEpochs::default();
        for _ in 0..count {
            let line = lines
                .next()
                .ok_or_else(|| corrupt("fewer entries than counted"))?;
            let mut fields = line.split_whitespace();
            let epoch: i32 = fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| corrupt("bad epoch"))?;
            let start: i64 = fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| corrupt("bad start offset"))?;
            if fields.next().is_some() {
                return Err(corrupt("extra fields"));
            }
            if epochs
                .entries
                .last()
                .is_some_and(|&(e, s)| e >= epoch || s > start)
            {
                return Err(corrupt("entries out of order"));
            }
            if epoch < 0 || start < 0 {
                return Err(corrupt("negative entry"));
            }
            epochs.entries.push((epoch, start));
        }
        Ok(epochs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochs {
        let mut epochs = LeaderEpochs::default();
        for &(e, s) in entries {
            assert!(epochs.assign(e, s));
        }
        epochs
    }

    #[test]
    fn end_offsets_follow_kafkas_rules() {
        let epochs = cache(&[(1, 10), (3, 25), (5, 40)]);
        // The latest epoch ends at the log end.
        assert_eq!(epochs.end_offset_for(5, 57), (5, 57));
        // An older epoch ends where the next known one starts.
        assert_eq!(epochs.end_offset_for(3, 57), (3, 40));
        // An epoch never seen between two known: the one before it, up to the next.
        assert_eq!(epochs.end_offset_for(4, 57), (3, 40));
        // Older than any known: itself, up to the first known start.
        assert_eq!(epochs.end_offset_for(0, 57), (0, 10));
        // Newer than any known, or undefined: undefined.
        assert_eq!(epochs.end_offset_for(6, 57), (-1, -1));
        assert_eq!(epochs.end_offset_for(-1, 57), (-1, -1));
        assert_eq!(LeaderEpochs::default().end_offset_for(0, 0), (-1, -1));
    }

    #[test]
    fn assigning_the_same_epoch_again_changes_nothing() {
        let mut epochs = cache(&[(0, 0)]);
        assert!(!epochs.assign(0, 7));
        assert_eq!(epochs.entries(), &[(0, 0)]);
        // An earlier start for the latest epoch replaces it.
        let mut later = cache(&[(0, 5)]);
        assert!(later.assign(0, 2));
        assert_eq!(later.entries(), &[(0, 2)]);
    }

    #[test]
    fn a_new_epoch_drops_entries_it_contradicts() {
        let mut epochs = cache(&[(1, 10), (3, 25), (5, 40)]);
        assert!(epochs.assign(4, 30));
        assert_eq!(epochs.entries(), &[(1, 10), (3, 25), (4, 30)]);
        assert!(!epochs.assign(-1, 3));
    }

    #[test]
    fn truncation_from_the_start_moves_the_first_entry() {
        let mut epochs = cache(&[(1, 10), (3, 25), (5, 40)]);
        assert!(!epochs.truncate_from_start(5));
        assert!(epochs.truncate_from_start(30));
        assert_eq!(epochs.entries(), &[(3, 30), (5, 40)]);
        assert!(!epochs.truncate_from_start(30));
        assert!(epochs.truncate_from_start(40));
        assert_eq!(epochs.entries(), &[(5, 40)]);
    }

    #[test]
    fn truncation_from_the_end_drops_epochs_starting_there() {
        let mut epochs = cache(&[(1, 10), (3, 25), (5, 40)]);
        assert!(!epochs.truncate_from_end(41));
        assert!(epochs.truncate_from_end(25));
        assert_eq!(epochs.entries(), &[(1, 10)]);
    }

    #[test]
    fn the_checkpoint_round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            LeaderEpochs::load(dir.path()).unwrap(),
            LeaderEpochs::default()
        );
        let epochs = cache(&[(0, 0), (2, 17)]);
        epochs.store(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join(CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n2\n0 0\n2 17\n");
        assert_eq!(LeaderEpochs::load(dir.path()).unwrap(), epochs);
        assert!(!dir.path().join("leader-epoch-checkpoint.tmp").exists());
    }

    #[test]
    fn a_corrupt_checkpoint_is_an_error() {
        for text in [
            "",
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\n0 x\n",
            "0\n2\n3 0\n1 5\n",
            "0\n1\n0 0 0\n",
            "0\n99999999999\n",
        ] {
            let error = LeaderEpochs::parse(text).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{text:?}");
        }
    }
}
