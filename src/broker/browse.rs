//! Records for people: a page of a partition's records with every field, from an offset, a
//! timestamp or the last N, filtered by key, value or header; one record produced by hand;
//! a group's committed offset moved. The web console is the caller; the rules are here.
//!
//! Every read is bounded twice: at most `max_records` records returned, and at most
//! [`SCAN_BYTES_MAX`] bytes of batches looked at per call, so a filter that matches nothing
//! on a large partition answers (with where it stopped) instead of reading the whole log.

use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::append::{AppendRequest, ProduceError};
use super::offsets::OffsetSpec;
use super::Broker;
use crate::group::{GroupError, MemberRef, OffsetToCommit};
use crate::partition::{Partition, ReadError, LEADER_EPOCH};
use crate::record::batch::BatchHeader;
use crate::record::full::{build_batch, read_batch, FullRecord, NewRecord};
use crate::record::validate::decompression_budget;

/// Bytes of batches one browse looks at, at most.
pub const SCAN_BYTES_MAX: usize = 32 << 20;
/// Bytes read from the log per step of a scan.
const STEP_BYTES: usize = 1 << 20;

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowseStart {
    Offset(i64),
    /// The first record stamped at or after this time (ms).
    Timestamp(i64),
    /// The last N records before the high watermark.
    Last(u32),
}

/// Substring filters; a record is shown when it passes all that are set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFilter {
    pub key: Option<String>,
    pub value: Option<String>,
    /// A header by name, with a substring of its value (`None`: any value).
    pub header: Option<(String, Option<String>)>,
}

impl RecordFilter {
    pub fn matches(&self, record: &FullRecord) -> bool {
        fn contains(field: Option<&[u8]>, wanted: &str) -> bool {
            let wanted = wanted.as_bytes();
            wanted.is_empty() || field.is_some_and(|f| f.windows(wanted.len()).any(|w| w == wanted))
        }
        if let Some(key) = &self.key {
            if !contains(record.key.as_deref(), key) {
                return false;
            }
        }
        if let Some(value) = &self.value {
            if !contains(record.value.as_deref(), value) {
                return false;
            }
        }
        if let Some((name, value)) = &self.header {
            let found = record.headers.iter().any(|(n, v)| {
                n == name
                    && value
                        .as_ref()
                        .is_none_or(|want| contains(v.as_deref(), want))
            });
            if !found {
                return false;
            }
        }
        true
    }
}

/// A page of records and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPage {
    pub records: Vec<FullRecord>,
    /// The offset after the last record looked at: the next page starts here.
    pub next_offset: i64,
    pub log_start_offset: i64,
    pub high_watermark: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("{0}")]
    Storage(#[source] io::Error),
}

/// Where a group's partition is moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    /// Clamped to the partition's log start and high watermark, as Kafka's
    /// `ConsumerGroupCommand` clamps `--to-offset`.
    Offset(i64),
    Earliest,
    Latest,
    /// The first record at or after this time; the high watermark when there is none.
    Timestamp(i64),
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    /// Kafka's rule for `kafka-consumer-groups --reset-offsets`: only an inactive group.
    #[error("the group has {members} active member(s) (state {state}): stop its consumers first")]
    GroupHasMembers { state: &'static str, members: usize },
    /// A consumer joined between the check and the commit; the coordinator refused it.
    #[error("a consumer joined the group meanwhile: stop its consumers first")]
    MemberJoined,
    #[error("the group coordinator refused: {0:?}")]
    Group(GroupError),
    #[error("{0}")]
    Storage(String),
}

impl Broker {
    /// A page of `topic`'s partition `index`: at most `max_records` records passing `filter`.
    pub async fn browse(
        &self,
        topic: &str,
        index: i32,
        start: BrowseStart,
        filter: RecordFilter,
        max_records: usize,
    ) -> Result<RecordPage, BrowseError> {
        let found = self.topics().get(topic).and_then(|t| {
            let p = t.partition(index).cloned()?;
            Some((decompression_budget(t.config.max_message_bytes()), p))
        });
        let (budget, partition) = found.ok_or(BrowseError::UnknownTopicOrPartition)?;
        let ends = partition.ends();
        let from = match start {
            BrowseStart::Offset(offset) => offset,
            BrowseStart::Last(n) => ends.high_watermark - i64::from(n),
            BrowseStart::Timestamp(ts) => {
                match self
                    .find_offset(topic, index, OffsetSpec::AtOrAfter(ts))
                    .await
                {
                    Ok(Some(found)) => found.offset,
                    Ok(None) => ends.high_watermark,
                    Err(super::offsets::OffsetsError::Storage(e)) => {
                        return Err(BrowseError::Storage(e))
                    }
                    Err(_) => return Err(BrowseError::UnknownTopicOrPartition),
                }
            }
        };
        let from = from.clamp(ends.log_start_offset, ends.high_watermark);
        tokio::task::spawn_blocking(move || {
            scan(
                &partition,
                from,
                &filter,
                max_records,
                SCAN_BYTES_MAX,
                budget,
            )
        })
        .await
        .map_err(|e| BrowseError::Storage(io::Error::other(e.to_string())))?
    }

    /// Appends one record to `topic`'s partition `index` as a plain producer would (no
    /// producer id, CreateTime now), through produce's own validation; its offset.
    pub async fn produce_record(
        &self,
        topic: &str,
        index: i32,
        record: NewRecord,
    ) -> Result<i64, ProduceError> {
        let batch = Bytes::from(build_batch(&[record], self.clock().now_ms()));
        let request = AppendRequest {
            // Any version from 3 (the first with v2 batches) takes an uncompressed batch.
            version: 9,
            transactional_id: None,
            topics: vec![(topic.to_string(), vec![(index, batch)])],
        };
        let mut results = self.append(request).await;
        match results.pop().and_then(|mut t| t.pop()) {
            Some(result) => result.map(|appended| appended.base_offset),
            None => Err(ProduceError::UnknownTopicOrPartition),
        }
    }

    /// Moves `group`'s committed offset of `topic`'s partition `index` to `target`; the
    /// offset committed. Refused while the group has members: they would commit over it.
    pub async fn reset_group_offset(
        &self,
        group: &str,
        topic: &str,
        index: i32,
        target: ResetTarget,
    ) -> Result<i64, ResetError> {
        let partition = self
            .topics()
            .get(topic)
            .and_then(|t| t.partition(index).cloned())
            .ok_or(ResetError::UnknownTopicOrPartition)?;
        let description = self
            .groups()
            .describe(vec![group.to_string()])
            .await
            .map_err(ResetError::Group)?;
        if let Some(d) = description.first().filter(|d| !d.members.is_empty()) {
            return Err(ResetError::GroupHasMembers {
                state: d.state.name(),
                members: d.members.len(),
            });
        }
        let ends = partition.ends();
        let offset = match target {
            ResetTarget::Offset(offset) => offset,
            ResetTarget::Earliest => ends.log_start_offset,
            ResetTarget::Latest => ends.high_watermark,
            ResetTarget::Timestamp(ts) => {
                match self
                    .find_offset(topic, index, OffsetSpec::AtOrAfter(ts))
                    .await
                {
                    Ok(Some(found)) => found.offset,
                    Ok(None) => ends.high_watermark,
                    Err(e) => return Err(ResetError::Storage(e.to_string())),
                }
            }
        }
        .clamp(ends.log_start_offset, ends.high_watermark);
        let no_member = MemberRef {
            member_id: String::new(),
            instance_id: None,
        };
        let commit = OffsetToCommit {
            topic: topic.to_string(),
            partition: index,
            offset,
            leader_epoch: LEADER_EPOCH,
            metadata: String::new(),
        };
        // Generation -1 without a member: the coordinator takes it only while the group is
        // empty, so a consumer that joined since the check above still wins.
        match self
            .groups()
            .commit(group.to_string(), -1, no_member, vec![commit])
            .await
        {
            Ok(()) => Ok(offset),
            Err(GroupError::UnknownMemberId) => Err(ResetError::MemberJoined),
            Err(e) => Err(ResetError::Group(e)),
        }
    }
}

/// Reads `partition` from `from`: records passing `filter`, at most `max_records`, looking at
/// no more than `scan_bytes_max` bytes of batches. Control batches are skipped.
pub fn scan(
    partition: &Arc<Partition>,
    from: i64,
    filter: &RecordFilter,
    max_records: usize,
    scan_bytes_max: usize,
    budget: u64,
) -> Result<RecordPage, BrowseError> {
    let mut records = Vec::new();
    let mut offset = from;
    let mut scanned = 0usize;
    let ends = partition.ends();
    let mut high_watermark = ends.high_watermark;
    let mut log_start_offset = ends.log_start_offset;
    'read: while records.len() < max_records && offset < high_watermark && scanned < scan_bytes_max
    {
        let read = match partition.read(offset, STEP_BYTES, true) {
            Ok(read) => read,
            // Retention moved the start past us: go on from the new start.
            Err(ReadError::OffsetOutOfRange {
                log_start_offset: start,
                ..
            }) if start > offset => {
                offset = start;
                continue;
            }
            Err(ReadError::OffsetOutOfRange { .. }) => break,
            Err(ReadError::Storage(e)) => return Err(BrowseError::Storage(e)),
        };
        high_watermark = read.high_watermark;
        log_start_offset = read.log_start_offset;
        if read.batches.is_empty() {
            break;
        }
        for batch in &read.batches {
            scanned += batch.len();
            let header = BatchHeader::parse(batch)
                .map_err(|e| BrowseError::Storage(io::Error::other(e.to_string())))?;
            let last = header.last_offset();
            if header.is_control() {
                offset = offset.max(last + 1);
                continue;
            }
            let full = read_batch(&header, budget)
                .map_err(|e| BrowseError::Storage(io::Error::other(e.to_string())))?;
            for record in full {
                if record.offset < offset {
                    continue;
                }
                offset = record.offset + 1;
                if filter.matches(&record) {
                    records.push(record);
                    if records.len() >= max_records {
                        break 'read;
                    }
                }
            }
            // Offsets a compaction removed from the batch's end are behind us too.
            offset = offset.max(last + 1);
        }
    }
    Ok(RecordPage {
        records,
        next_offset: offset,
        log_start_offset,
        high_watermark,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::group::JoinRequest;
    use crate::node::Node;
    use crate::topics::NewTopic;

    async fn broker_with(records: i32) -> (Node, Arc<Broker>) {
        let node = Node::start(Config::for_tests()).await.unwrap();
        let broker = node.broker().clone();
        broker
            .topics()
            .create(NewTopic {
                name: "t".into(),
                partitions: 2,
                configs: Default::default(),
            })
            .unwrap();
        for i in 0..records {
            let record = NewRecord {
                timestamp: None,
                key: Some(format!("key-{i}").into_bytes()),
                value: Some(format!("{{\"n\":{i}}}").into_bytes()),
                headers: vec![("h".into(), Some(format!("v{}", i % 5).into_bytes()))],
            };
            assert_eq!(
                broker.produce_record("t", 0, record).await.unwrap(),
                i64::from(i)
            );
        }
        (node, broker)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_page_starts_at_an_offset_a_timestamp_or_the_last_n_and_filters() {
        let (node, broker) = broker_with(20).await;
        let none = RecordFilter::default();
        let page = broker
            .browse("t", 0, BrowseStart::Offset(5), none.clone(), 3)
            .await
            .unwrap();
        let offsets: Vec<_> = page.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [5, 6, 7]);
        assert_eq!(page.next_offset, 8);
        assert_eq!(page.high_watermark, 20);
        assert_eq!(page.records[0].key.as_deref(), Some(&b"key-5"[..]));
        assert_eq!(page.records[0].value.as_deref(), Some(&br#"{"n":5}"#[..]));
        assert_eq!(
            page.records[0].headers,
            [("h".into(), Some(b"v0".to_vec()))]
        );

        let last = broker
            .browse("t", 0, BrowseStart::Last(4), none.clone(), 100)
            .await
            .unwrap();
        let offsets: Vec<_> = last.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [16, 17, 18, 19]);

        let future = broker.clock().now_ms() + 60_000;
        let late = broker
            .browse("t", 0, BrowseStart::Timestamp(future), none.clone(), 100)
            .await
            .unwrap();
        assert!(late.records.is_empty());
        let early = broker
            .browse("t", 0, BrowseStart::Timestamp(0), none, 1)
            .await
            .unwrap();
        assert_eq!(early.records[0].offset, 0);

        let by_header = RecordFilter {
            header: Some(("h".into(), Some("v3".into()))),
            ..RecordFilter::default()
        };
        let found = broker
            .browse("t", 0, BrowseStart::Offset(0), by_header, 100)
            .await
            .unwrap();
        let offsets: Vec<_> = found.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [3, 8, 13, 18]);
        let by_key_and_value = RecordFilter {
            key: Some("key-1".into()),
            value: Some("\"n\":12".into()),
            ..RecordFilter::default()
        };
        let found = broker
            .browse("t", 0, BrowseStart::Offset(0), by_key_and_value, 100)
            .await
            .unwrap();
        assert_eq!(found.records.len(), 1);
        assert_eq!(found.records[0].offset, 12);
        assert_eq!(found.next_offset, 20);

        assert!(matches!(
            broker
                .browse("t", 7, BrowseStart::Offset(0), RecordFilter::default(), 1)
                .await,
            Err(BrowseError::UnknownTopicOrPartition)
        ));
        node.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scan_stops_at_its_byte_limit_and_says_where() {
        let (node, broker) = broker_with(10).await;
        let partition = broker
            .topics()
            .get("t")
            .unwrap()
            .partition(0)
            .unwrap()
            .clone();
        let nothing = RecordFilter {
            key: Some("absent".into()),
            ..RecordFilter::default()
        };
        // One batch per record: a limit of one byte looks at one batch.
        let page = scan(&partition, 0, &nothing, 100, 1, 1 << 20).unwrap();
        assert!(page.records.is_empty());
        assert_eq!(page.next_offset, 1);
        node.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_offset_reset_is_clamped_and_refused_while_the_group_has_members() {
        let (node, broker) = broker_with(10).await;
        let groups = broker.groups();
        let at = |target| broker.reset_group_offset("g", "t", 0, target);
        assert_eq!(at(ResetTarget::Offset(4)).await.unwrap(), 4);
        assert_eq!(at(ResetTarget::Offset(99)).await.unwrap(), 10);
        assert_eq!(at(ResetTarget::Earliest).await.unwrap(), 0);
        assert_eq!(at(ResetTarget::Latest).await.unwrap(), 10);
        assert_eq!(at(ResetTarget::Timestamp(0)).await.unwrap(), 0);
        let committed = groups
            .fetch_offsets("g".into(), Some(vec![("t".into(), 0)]))
            .await
            .unwrap();
        assert_eq!(committed[0].2.as_ref().unwrap().offset, 0);

        let join = |member_id: &str| JoinRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 30_000,
            rebalance_timeout_ms: 1_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::new())],
            requires_known_member_id: false,
            supports_skip_assignment: false,
        };
        // The join waits out the rebalance: the member is in the group meanwhile.
        let joining = tokio::spawn({
            let broker = broker.clone();
            async move { broker.groups().join(join("")).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let refused = at(ResetTarget::Offset(5)).await;
        assert!(
            matches!(refused, Err(ResetError::GroupHasMembers { members: 1, .. })),
            "{refused:?}"
        );
        let committed = groups
            .fetch_offsets("g".into(), Some(vec![("t".into(), 0)]))
            .await
            .unwrap();
        assert_eq!(committed[0].2.as_ref().unwrap().offset, 0, "unchanged");
        assert!(matches!(
            broker
                .reset_group_offset("g", "nope", 0, ResetTarget::Earliest)
                .await,
            Err(ResetError::UnknownTopicOrPartition)
        ));
        joining.abort();
        node.shutdown().await;
    }
}
