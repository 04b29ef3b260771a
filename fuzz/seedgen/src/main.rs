//! Writes the seed corpora of the fuzz targets: a few valid inputs each, in the layout each
//! target documents, so the fuzzer starts inside the decoders instead of having to discover
//! a header byte by byte.
//!
//! `cargo run --manifest-path fuzz/seedgen/Cargo.toml -- fuzz/seeds`

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use sluice::clock::Clock;
use sluice::coordinator::journal::frame as journal_frame;
use sluice::group::records::{GroupRecord, GroupSnapshot, MemberSnapshot};
use sluice::group::CommittedOffset;
use sluice::log::{BatchMeta, Log, SegmentConfig, SegmentedLog};
use sluice::protocol::versions::SUPPORTED;
use sluice_fuzz_common::{batch, records, simple_batch, Record};

const NOW_MS: i64 = 1_700_000_000_000;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/seeds".into()));
    request_decode(&out.join("request_decode"));
    batch_header(&out.join("batch_header"));
    segment_recovery(&out.join("segment_recovery"));
    group_replay(&out.join("group_replay"));
}

fn save(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("seed directory");
    fs::write(dir.join(name), bytes).expect("write seed");
}

/// Encodes a message at `version`, or `None` when the version cannot carry it as built.
fn encoded<M: Encodable>(message: &M, version: i16) -> Option<Vec<u8>> {
    let mut out = BytesMut::new();
    message.encode(&mut out, version).ok()?;
    Some(out.to_vec())
}

/// The body of a request of `key` at `version`: defaults, except where a default body
/// would leave the interesting decoders unvisited (produce records, fetch partitions).
fn body(key: ApiKey, version: i16) -> Option<Vec<u8>> {
    let topic = || TopicName::from(StrBytes::from_static_str("seed-topic"));
    match key {
        ApiKey::Produce => {
            let records = Bytes::from(simple_batch(0, NOW_MS, &[b"one", b"two"]));
            let request = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic())
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records))])]);
            // v0–2 travel as v3 without the leading transactional id (see request.rs).
            if version < 3 {
                return encoded(&request, 3).map(|b| b[2..].to_vec());
            }
            encoded(&request, version)
        }
        ApiKey::Fetch => {
            let partition = FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20);
            let fetch_topic = if version >= 13 {
                FetchTopic::default().with_topic_id(uuid::Uuid::from_u128(0x5eed))
            } else {
                FetchTopic::default().with_topic(topic())
            };
            let request = FetchRequest::default()
                .with_max_wait_ms(500)
                .with_max_bytes(1 << 20)
                .with_topics(vec![fetch_topic.with_partitions(vec![partition])]);
            encoded(&request, version)
        }
        ApiKey::Metadata => {
            let request = MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic())),
            ]));
            encoded(&request, version)
        }
        ApiKey::ApiVersions => encoded(&ApiVersionsRequest::default(), version),
        ApiKey::ListOffsets => encoded(&ListOffsetsRequest::default(), version),
        ApiKey::CreateTopics => encoded(&CreateTopicsRequest::default(), version),
        ApiKey::InitProducerId => encoded(&InitProducerIdRequest::default(), version),
        ApiKey::OffsetCommit => encoded(&OffsetCommitRequest::default(), version),
        ApiKey::OffsetFetch => encoded(&OffsetFetchRequest::default(), version),
        ApiKey::FindCoordinator => encoded(&FindCoordinatorRequest::default(), version),
        ApiKey::JoinGroup => encoded(&JoinGroupRequest::default(), version),
        ApiKey::Heartbeat => encoded(&HeartbeatRequest::default(), version),
        ApiKey::LeaveGroup => encoded(&LeaveGroupRequest::default(), version),
        ApiKey::SyncGroup => encoded(&SyncGroupRequest::default(), version),
        ApiKey::DescribeGroups => encoded(&DescribeGroupsRequest::default(), version),
        ApiKey::ListGroups => encoded(&ListGroupsRequest::default(), version),
        ApiKey::DeleteGroups => encoded(&DeleteGroupsRequest::default(), version),
        ApiKey::OffsetDelete => encoded(&OffsetDeleteRequest::default(), version),
        ApiKey::DeleteRecords => encoded(&DeleteRecordsRequest::default(), version),
        ApiKey::DeleteTopics => encoded(&DeleteTopicsRequest::default(), version),
        ApiKey::DescribeConfigs => encoded(&DescribeConfigsRequest::default(), version),
        ApiKey::CreatePartitions => encoded(&CreatePartitionsRequest::default(), version),
        _ => None,
    }
}

/// A whole frame without its size prefix: header, then body.
fn frame(key: ApiKey, version: i16) -> Option<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("seed")));
    let mut frame = encoded(&header, key.request_header_version(version))?;
    frame.extend(body(key, version)?);
    Some(frame)
}

/// One seed per supported key and version in the target's table mode (first byte odd, then
/// the table index and version offset), and a few connections' worth of frames.
fn request_decode(dir: &Path) {
    for (index, api) in SUPPORTED.iter().enumerate() {
        for version in api.min..=api.max {
            let Some(frame) = frame(api.key, version) else {
                eprintln!("no seed for {:?} v{version}", api.key);
                continue;
            };
            let mut seed = vec![1, index as u8, (version - api.min) as u8];
            seed.extend_from_slice(&frame[4..]);
            save(dir, &format!("{:?}-v{version}", api.key), &seed);
        }
    }
    // Connection mode: size-prefixed frames, one after another, as a client pipelines them.
    let mut wire = vec![0u8];
    for (key, version) in [
        (ApiKey::ApiVersions, 3),
        (ApiKey::Metadata, 12),
        (ApiKey::Produce, 9),
        (ApiKey::Fetch, 12),
    ] {
        let frame = frame(key, version).expect("a pipelined frame");
        wire.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        wire.extend_from_slice(&frame);
    }
    save(dir, "connection-pipelined", &wire);
}

/// Batches as producers send them: uncompressed, each codec, null keys, several records.
fn batch_header(dir: &Path) {
    let list = [
        Record {
            timestamp_delta: 0,
            key: Some(b"key-1"),
            value: Some(b"value one"),
        },
        Record {
            timestamp_delta: 5,
            key: None,
            value: Some(b"value two, a little longer"),
        },
        Record {
            timestamp_delta: 9,
            key: Some(b"key-3"),
            value: None,
        },
    ];
    let raw = records(&list);
    let gzip = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&raw).expect("gzip");
        e.finish().expect("gzip")
    };
    let snappy = snap::raw::Encoder::new().compress_vec(&raw).expect("snappy");
    let lz4 = {
        let mut e = lz4::EncoderBuilder::new().build(Vec::new()).expect("lz4");
        e.write_all(&raw).expect("lz4");
        let (out, result) = e.finish();
        result.expect("lz4");
        out
    };
    let zstd = zstd::encode_all(&raw[..], 3).expect("zstd");
    let seeds = [
        ("none", 0, raw.clone()),
        ("gzip", 1, gzip),
        ("snappy", 2, snappy),
        ("lz4", 3, lz4),
        ("zstd", 4, zstd),
    ];
    for (name, codec, payload) in seeds {
        let bytes = batch(0, NOW_MS, list.len() as i32, codec, &payload);
        // Option bits 0 and 1: length and CRC fixed up after the fuzzer's mutations.
        save(dir, &format!("{name}-fixed"), &[[3u8].as_slice(), &bytes].concat());
        // As sent, compacted topic with bounded timestamps.
        save(dir, &format!("{name}-strict"), &[[20u8].as_slice(), &bytes].concat());
    }
    let single = simple_batch(7, NOW_MS, &[b"x"]);
    save(dir, "single", &[[0u8].as_slice(), &single].concat());
}

/// Real partition directories, written by the log itself, in the target's layout.
fn segment_recovery(dir: &Path) {
    // (name, small segments, clean close, batches)
    for (name, small, clean, batches) in [
        ("one-segment-crashed", false, false, 4),
        ("one-segment-clean", false, true, 4),
        ("rolled-crashed", true, false, 40),
        ("rolled-clean", true, true, 40),
    ] {
        let root = tempfile::tempdir().expect("temporary directory");
        let config = SegmentConfig {
            segment_bytes: if small { 4096 } else { 1 << 30 },
            index_interval_bytes: 150,
            max_index_bytes: 1024,
            clock: Clock::manual(NOW_MS),
            ..SegmentConfig::default()
        };
        let mut log = SegmentedLog::open(root.path(), config).expect("open");
        for i in 0..batches {
            let offset = log.end_offset();
            let b = simple_batch(offset, NOW_MS + i, &[b"aaaaaaaaaaaaaaaaaaaaaaaaa", b"bbbb"]);
            let meta = BatchMeta {
                base_offset: offset,
                last_offset: offset + 1,
                max_timestamp: NOW_MS + i,
                leader_epoch: 0,
            };
            log.append(Bytes::from(b), meta).expect("append");
        }
        if clean {
            log.close().expect("close");
        }
        drop(log);
        let mut bases: Vec<i64> = fs::read_dir(root.path())
            .expect("list")
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        bases.sort();
        // At most four segments fit the layout: keep the last four.
        let bases = &bases[bases.len().saturating_sub(4)..];
        let options = u8::from(clean) | 1 << 4 | ((bases.len() as u8 - 1) << 5);
        let settings = u8::from(small) | 2 | 4;
        let mut seed = vec![options, settings];
        let mut previous: Option<i64> = None;
        for &base in bases {
            let field = match previous {
                None => base,
                Some(p) => base - p - 1,
            };
            seed.extend_from_slice(&(field as u32).to_be_bytes());
            let read = |ext: &str| {
                fs::read(root.path().join(format!("{base:020}.{ext}"))).unwrap_or_default()
            };
            let (log, index, time) = (read("log"), read("index"), read("timeindex"));
            seed.push(3);
            for part in [&log, &index, &time] {
                seed.extend_from_slice(&(part.len() as u16).to_be_bytes());
            }
            for part in [log, index, time] {
                seed.extend_from_slice(&part);
            }
            previous = Some(base);
        }
        save(dir, name, &seed);
    }
    // Nothing on disk but an empty segment and a start-offset checkpoint.
    let mut seed = vec![1 << 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let checkpoint = b"5\n";
    seed.push(checkpoint.len() as u8);
    seed.extend_from_slice(checkpoint);
    save(dir, "start-offset-checkpoint", &seed);
}

/// A group log as the coordinator writes it: offsets, a group with members, tombstones.
fn group_replay(dir: &Path) {
    let offset = |group: &str, partition: i32, value: Option<i64>| GroupRecord::Offset {
        group: group.into(),
        topic: "orders".into(),
        partition,
        value: value.map(|offset| CommittedOffset {
            offset,
            leader_epoch: 3,
            metadata: "meta".into(),
            commit_timestamp_ms: NOW_MS,
        }),
    };
    let member = |id: &str, instance: Option<&str>| MemberSnapshot {
        member_id: id.into(),
        instance_id: instance.map(Into::into),
        client_id: "rdkafka".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        subscription: Bytes::from_static(b"\x00\x01\x00\x00\x00\x01\x00\x06orders"),
        assignment: Bytes::from_static(b"\x00\x01\x00\x00\x00\x01\x00\x06orders"),
    };
    let group = GroupRecord::Group {
        group: "g1".into(),
        value: Some(GroupSnapshot {
            protocol_type: Some("consumer".into()),
            generation: 4,
            protocol_name: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp_ms: NOW_MS,
            members: vec![member("m1", None), member("m2", Some("static-2"))],
        }),
    };
    let logs: [(&str, Vec<GroupRecord>); 3] = [
        ("offsets", vec![offset("g1", 0, Some(10)), offset("g1", 1, Some(20))]),
        ("group", vec![group.clone(), offset("g1", 0, Some(11))]),
        (
            "tombstones",
            vec![
                group,
                offset("g1", 0, Some(12)),
                offset("g1", 0, None),
                GroupRecord::Group {
                    group: "g1".into(),
                    value: None,
                },
                offset("g2", 7, Some(1)),
            ],
        ),
    ];
    for (name, records) in logs {
        let bytes: Vec<u8> = records.iter().flat_map(journal_frame).collect();
        save(dir, name, &bytes);
    }
}
