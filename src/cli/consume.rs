//! `sluice consume`: records of one topic from a starting point to the end (or on, with
//! `--follow`), printed in kcat's format tokens or as JSON; alone, or as a member of a
//! consumer group that commits as it goes.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use super::format::{record_json, Format, OffsetSpec};
use super::{CliError, Common};
use crate::client::group::{GroupMember, Heartbeat};
use crate::client::{
    error_name, is_retriable, Client, Isolation, Record, TopicLayout, EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP, RETRY_BACKOFF,
};

/// How long one Fetch waits on the broker for new data.
const FETCH_WAIT: Duration = Duration::from_millis(200);
/// Kafka's code for an offset outside the log.
const OFFSET_OUT_OF_RANGE: i16 = 1;

#[derive(clap::Args, Debug)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Where to start: start, end, -N (N before the end of each partition), N, or
    /// @TIMESTAMP_MS. With -g, only for partitions the group has not committed.
    #[arg(short = 'o', long, default_value = "start", allow_hyphen_values = true)]
    pub offset: OffsetSpec,
    /// Stop after this many records.
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
    /// Keep waiting for new records instead of stopping at the end.
    #[arg(long)]
    pub follow: bool,
    /// Only this partition.
    #[arg(short = 'p', long)]
    pub partition: Option<i32>,
    /// Consume as a member of this group (classic protocol, range assignment), committing.
    #[arg(short = 'g', long)]
    pub group: Option<String>,
    /// kcat format: %t %p %o %k %K %s %S %R %T %h, \n \t [default: "%s\n"].
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// uncommitted (as kcat) or committed.
    #[arg(long, default_value = "uncommitted", value_parser = ["uncommitted", "committed"])]
    pub isolation: String,
    #[command(flatten)]
    pub common: Common,
}

/// How records are printed.
pub enum Output {
    Format(Format),
    Json,
}

impl Output {
    fn write(&self, topic: &str, record: &Record, out: &mut Vec<u8>) {
        match self {
            Output::Format(format) => format.write(topic, record, out),
            Output::Json => {
                out.extend_from_slice(record_json(topic, record).to_string().as_bytes());
                out.push(b'\n');
            }
        }
    }
}

/// Where each partition starts, by `spec`.
pub async fn resolve_positions(
    client: &mut Client,
    topic: &TopicLayout,
    partitions: &[i32],
    spec: OffsetSpec,
    isolation: Isolation,
) -> Result<BTreeMap<i32, i64>, CliError> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let starts = client
        .list_offsets(topic, partitions, EARLIEST_TIMESTAMP, isolation)
        .await?;
    let ends = client
        .list_offsets(topic, partitions, LATEST_TIMESTAMP, isolation)
        .await?;
    let at_time = match spec {
        OffsetSpec::Timestamp(ts) => Some(
            client
                .list_offsets(topic, partitions, ts, isolation)
                .await?,
        ),
        _ => None,
    };
    Ok(partitions
        .iter()
        .map(|p| {
            let start = starts.get(p).copied().unwrap_or(0);
            let end = ends.get(p).copied().unwrap_or(0);
            let position = match spec {
                OffsetSpec::Start => start,
                OffsetSpec::End => end,
                OffsetSpec::BeforeEnd(n) => (end - n).max(start),
                OffsetSpec::At(n) => n.clamp(start, end),
                OffsetSpec::Timestamp(_) => at_time
                    .as_ref()
                    .and_then(|t| t.get(p).copied())
                    .filter(|o| *o >= 0)
                    .unwrap_or(end),
            };
            (*p, position)
        })
        .collect())
}

/// Reads `topic` from `positions`; without `follow`, partition by partition up to the end
/// each had when reading began. Calls `emit` with every record; stops after `limit`.
/// Returns the positions reached.
pub struct Reader {
    pub topic: TopicLayout,
    pub positions: BTreeMap<i32, i64>,
    /// Partition → where reading stops (without `--follow`).
    pub stops: Option<BTreeMap<i32, i64>>,
    pub isolation: Isolation,
}

impl Reader {
    pub async fn new(
        client: &mut Client,
        topic: TopicLayout,
        positions: BTreeMap<i32, i64>,
        follow: bool,
        isolation: Isolation,
    ) -> Result<Reader, CliError> {
        let partitions: Vec<i32> = positions.keys().copied().collect();
        let stops = if follow || partitions.is_empty() {
            None
        } else {
            Some(
                client
                    .list_offsets(&topic, &partitions, LATEST_TIMESTAMP, isolation)
                    .await?,
            )
        };
        Ok(Reader {
            topic,
            positions,
            stops,
            isolation,
        })
    }

    /// Whether every partition reached its stop (never, with `--follow`).
    pub fn done(&self) -> bool {
        match &self.stops {
            None => false,
            Some(stops) => self
                .positions
                .iter()
                .all(|(p, position)| *position >= stops.get(p).copied().unwrap_or(0)),
        }
    }

    /// One Fetch round; the records read, in partition order, each partition's in offset
    /// order (records before a partition's position or at its stop are left out).
    pub async fn poll(&mut self, client: &mut Client) -> Result<Vec<Record>, CliError> {
        let active: BTreeMap<i32, i64> = self
            .positions
            .iter()
            .filter(|(p, position)| {
                self.stops
                    .as_ref()
                    .is_none_or(|stops| **position < stops.get(p).copied().unwrap_or(0))
            })
            .map(|(p, o)| (*p, *o))
            .collect();
        if active.is_empty() {
            tokio::time::sleep(FETCH_WAIT).await;
            return Ok(Vec::new());
        }
        let fetched = client
            .fetch(&self.topic, &active, self.isolation, FETCH_WAIT)
            .await?;
        let mut records = Vec::new();
        let mut refresh = false;
        for partition in fetched {
            let p = partition.partition;
            match partition.error_code {
                0 => {}
                // A leader moved or is not ready: read Metadata again and fetch on.
                code if is_retriable(code) => {
                    tracing::debug!(partition = p, error = %error_name(code), "fetch retried");
                    refresh = true;
                    continue;
                }
                OFFSET_OUT_OF_RANGE => {
                    return Err(CliError::failure(format!(
                        "partition {}-{p}: offset {} is out of range (OFFSET_OUT_OF_RANGE)",
                        self.topic.name,
                        active.get(&p).copied().unwrap_or(-1)
                    )))
                }
                code => {
                    return Err(CliError::failure(format!(
                        "Fetch {}-{p}: {}",
                        self.topic.name,
                        error_name(code)
                    )))
                }
            }
            let position = active.get(&p).copied().unwrap_or(0);
            let stop = self.stops.as_ref().map(|s| s.get(&p).copied().unwrap_or(0));
            for record in partition.records {
                if record.offset >= position && stop.is_none_or(|s| record.offset < s) {
                    records.push(record);
                }
            }
            if let Some(next) = partition.next_offset {
                self.positions.insert(p, next.max(position));
            }
        }
        if refresh {
            tokio::time::sleep(RETRY_BACKOFF).await;
            self.topic = client.topic(&self.topic.name).await?;
        }
        Ok(records)
    }
}

fn isolation_of(text: &str) -> Isolation {
    if text == "committed" {
        Isolation::ReadCommitted
    } else {
        Isolation::ReadUncommitted
    }
}

pub async fn run(args: ConsumeArgs) -> Result<(), CliError> {
    let output = if args.common.json {
        Output::Json
    } else {
        Output::Format(
            Format::parse(args.format.as_deref().unwrap_or("%s\\n")).map_err(CliError::usage)?,
        )
    };
    let isolation = isolation_of(&args.isolation);
    let mut client = args.common.connect().await?;
    let topic = client.topic(&args.topic).await?;
    if let Some(group) = args.group.clone() {
        return consume_in_group(&mut client, topic, &group, &args, &output, isolation).await;
    }
    let partitions: Vec<i32> = match args.partition {
        Some(p) => vec![p],
        None => topic.partitions.iter().map(|p| p.partition).collect(),
    };
    let positions =
        resolve_positions(&mut client, &topic, &partitions, args.offset, isolation).await?;
    let mut reader = Reader::new(&mut client, topic, positions, args.follow, isolation).await?;
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    while !reader.done() && args.count.is_none_or(|n| printed < n) {
        let records = reader.poll(&mut client).await?;
        let mut out = Vec::new();
        for record in &records {
            if args.count.is_some_and(|n| printed >= n) {
                break;
            }
            output.write(&args.topic, record, &mut out);
            printed += 1;
        }
        write_out(&stdout, &out)?;
    }
    Ok(())
}

fn write_out(stdout: &std::io::Stdout, out: &[u8]) -> Result<(), CliError> {
    if out.is_empty() {
        return Ok(());
    }
    let mut lock = stdout.lock();
    lock.write_all(out)
        .and_then(|()| lock.flush())
        .map_err(|e| CliError::failure(format!("cannot write the output: {e}")))
}

/// Consumes as a member of `group`: joins, reads its partitions from the group's commits
/// (else from `-o`), commits after every round that read something, rejoins when the group
/// rebalances, and commits and leaves at the end.
async fn consume_in_group(
    client: &mut Client,
    topic: TopicLayout,
    group: &str,
    args: &ConsumeArgs,
    output: &Output,
    isolation: Isolation,
) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut member = GroupMember::new(group, vec![topic.name.clone()]);
    let mut printed = 0u64;
    'rejoin: loop {
        member.join(client).await?;
        let assigned = member.assigned(&topic.name);
        // Kafka's consumer: a committed offset wins, `-o` is the reset policy.
        let wanted: BTreeMap<String, Vec<i32>> = [(topic.name.clone(), assigned.clone())].into();
        let committed = crate::client::group::committed_offsets(client, group, Some(&wanted))
            .await?
            .remove(&topic.name)
            .unwrap_or_default();
        let uncommitted: Vec<i32> = assigned
            .iter()
            .copied()
            .filter(|p| !committed.contains_key(p))
            .collect();
        let mut positions =
            resolve_positions(client, &topic, &uncommitted, args.offset, isolation).await?;
        positions.extend(committed);
        let mut reader =
            Reader::new(client, topic.clone(), positions, args.follow, isolation).await?;
        let mut last_committed = BTreeMap::new();
        loop {
            let finished = reader.done() || args.count.is_some_and(|n| printed >= n);
            if member.heartbeat_if_due(client).await? == Heartbeat::Rejoin || finished {
                let offsets: BTreeMap<String, BTreeMap<i32, i64>> =
                    [(topic.name.clone(), reader.positions.clone())].into();
                if reader.positions != last_committed {
                    member.commit(client, &offsets).await?;
                }
                if finished {
                    break 'rejoin;
                }
                continue 'rejoin;
            }
            let records = reader.poll(client).await?;
            let mut out = Vec::new();
            for record in &records {
                if args.count.is_some_and(|n| printed >= n) {
                    // Stop right after the last record printed: the rest stay for the
                    // group's next reader.
                    let position = reader.positions.entry(record.partition).or_insert(0);
                    *position = (*position).min(record.offset);
                    continue;
                }
                output.write(&topic.name, record, &mut out);
                printed += 1;
            }
            write_out(&stdout, &out)?;
            if reader.positions != last_committed {
                let offsets: BTreeMap<String, BTreeMap<i32, i64>> =
                    [(topic.name.clone(), reader.positions.clone())].into();
                if member.commit(client, &offsets).await? {
                    last_committed = reader.positions.clone();
                }
            }
        }
    }
    member.leave(client).await?;
    Ok(())
}
