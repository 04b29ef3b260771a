//! A compaction pass over one partition: the job is planned under the partition's lock with
//! what only the partition knows (the last stable offset, aborted transactions, each
//! producer's last batch), run without the lock — appends and fetches go on — and swapped
//! in under it. Where the pass stopped is then persisted, outside the lock (an fsync).

use std::io;
use std::sync::atomic::Ordering;

use super::Partition;
use crate::log::cleaner::{write_checkpoint, CleanParams, CleanStats, Cleanable, Throttle};

impl Partition {
    /// The dirty ratio at the cleaner's last look; `None` before it looked.
    pub fn last_dirty_ratio(&self) -> Option<f64> {
        let ratio = f64::from_bits(self.dirty_ratio.load(Ordering::Relaxed));
        (!ratio.is_nan()).then_some(ratio)
    }

    /// Runs one compaction pass if one is due. `params` carries the topic's settings; the
    /// partition fills in its own state. Blocks on the disk: call it from a cleaner thread.
    /// A log not opened yet is left alone (nothing was appended to it since it was cleaned).
    pub fn clean(
        &self,
        mut params: CleanParams,
        throttle: &Throttle,
    ) -> io::Result<(Cleanable, Option<CleanStats>)> {
        let job = {
            let Some(inner) = self.lock_if_open() else {
                return Ok((Cleanable::default(), None));
            };
            let end = inner.log.end_offset();
            params.last_stable_offset = inner.txns.last_stable(end);
            params.aborted = inner
                .txns
                .aborted_between(inner.log.start_offset(), end)
                .into_iter()
                .map(|a| (a.producer_id, a.first_offset, a.last_offset))
                .collect();
            params.producer_last_offsets = inner
                .producers
                .each()
                .filter_map(|(id, _, batch)| batch.map(|b| (id, b.last_offset)))
                .collect();
            inner.log.clean_job(&params)?
        };
        self.dirty_ratio
            .store(job.0.dirty_ratio().to_bits(), Ordering::Relaxed);
        let (cleanable, Some(job)) = job else {
            return Ok((job.0, None));
        };
        let cleaned = job.run(&params, throttle)?;
        let (stats, dir) = {
            let mut inner = self.lock();
            let stats = inner.log.install_cleaned(cleaned)?;
            (stats, inner.log.dir().map(|d| d.to_path_buf()))
        };
        if let Some(dir) = dir {
            write_checkpoint(&dir, stats.cleaned_to)?;
        }
        Ok((cleanable, Some(stats)))
    }
}
