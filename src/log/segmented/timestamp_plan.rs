//! Planning a timestamp lookup (see [`by_timestamp`](crate::log::by_timestamp)) over the
//! segments of a [`SegmentedLog`], under the lock and without reading a file.

use std::io;
use std::sync::Arc;

use super::SegmentedLog;
use crate::log::by_timestamp::{
    SearchSource, SegmentSearch, SegmentToOpen, TimestampPlan, TimestampTarget,
};

impl SegmentedLog {
    pub(super) fn plan_timestamp_lookup(
        &self,
        target: TimestampTarget,
    ) -> io::Result<TimestampPlan> {
        let start = self.start_offset;
        if start >= self.active.next_offset() {
            return Ok(TimestampPlan::nothing());
        }
        match target {
            TimestampTarget::AtOrAfter(timestamp) => self.plan_at_or_after(timestamp),
            TimestampTarget::Max => self.plan_max(),
        }
    }

    /// Every segment whose maximum is unknown or reaches `timestamp`, up to the first that
    /// must hold the answer: one whose known maximum reaches it, and which the start offset
    /// does not cut into (the batch with that maximum may lie before the start).
    fn plan_at_or_after(&self, timestamp: i64) -> io::Result<TimestampPlan> {
        let start = self.start_offset;
        let mut segments = Vec::new();
        for base in self.bases_from(start) {
            let max = self.known_max_timestamp(base);
            if max.is_some_and(|max| max < timestamp) {
                continue;
            }
            segments.push(self.segment_search(base, max, timestamp)?);
            if max.is_some() && base >= start {
                break;
            }
        }
        Ok(TimestampPlan::segments(timestamp, false, start, segments))
    }

    /// The segments that can hold the largest timestamp: every one whose maximum is not
    /// known (or, for the one the start offset cuts into, not known from the start on), and
    /// the first whose known maximum is the largest known.
    fn plan_max(&self) -> io::Result<TimestampPlan> {
        let start = self.start_offset;
        let maxima: Vec<(i64, Option<i64>)> = self
            .bases_from(start)
            .map(|base| {
                let max = match base < start {
                    true => None,
                    false => self.known_max_timestamp(base),
                };
                (base, max)
            })
            .collect();
        let known_max = maxima
            .iter()
            .filter_map(|&(_, max)| max)
            .max()
            .unwrap_or(i64::MIN);
        let mut segments = Vec::new();
        let mut largest_planned = false;
        for (base, max) in maxima {
            match max {
                None => segments.push(self.segment_search(base, None, known_max)?),
                Some(max) if max == known_max && !largest_planned && max != i64::MIN => {
                    largest_planned = true;
                    segments.push(self.segment_search(base, Some(max), known_max)?);
                }
                Some(_) => {}
            }
        }
        Ok(TimestampPlan::segments(known_max, true, start, segments))
    }

    /// The largest timestamp of the segment at `base`, if known without opening it.
    fn known_max_timestamp(&self, base: i64) -> Option<i64> {
        if base == self.active.base_offset() {
            return Some(self.active.max_timestamp());
        }
        self.sealed.get(&base)?.known_max_timestamp()
    }

    /// How the segment at `base` is searched for `target`.
    fn segment_search(
        &self,
        base: i64,
        max: Option<i64>,
        target: i64,
    ) -> io::Result<SegmentSearch> {
        let start = self.start_offset;
        let source = if base == self.active.base_offset() {
            let log = self.active.log_handle()?;
            let view = self.active.view(&log);
            let start_position = view.indexed_position(start);
            let hint_position = view.indexed_position(view.time_hint(target).max(start));
            SearchSource::Active {
                log,
                size: self.active.size(),
                start_position,
                hint_position,
            }
        } else {
            match self.open_sealed.get_open(base) {
                Some(open) => SearchSource::Sealed(open),
                None => SearchSource::Unopened(Box::new(SegmentToOpen {
                    cache: self.open_sealed.clone(),
                    dir: self.dir.clone(),
                    segment: Arc::clone(self.sealed_at(base)?),
                    end_offset: self.next_base(base),
                    config: self.config.clone(),
                })),
            }
        };
        Ok(SegmentSearch {
            max_timestamp: max,
            source,
        })
    }
}
