//! `sluice produce`: lines or JSON lines from stdin or a file, sent in batches with
//! acks=all, to the partition given or the one the Java client's default partitioner picks.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use super::format::{parse_json_record, MAX_LINE_BYTES};
use super::{now_ms, parse_key_value, CliError, Common};
use crate::client::partitioner::Partitioner;
use crate::client::{Client, Record, TopicLayout};

/// A batch is sent once it holds this many records or bytes, or input pauses for
/// [`LINGER`]. Half of Kafka's default `max.message.bytes` (1 MiB), so a batch fits a topic
/// with the default limit.
const BATCH_RECORDS: usize = 1000;
const BATCH_BYTES: usize = 512 * 1024;
/// What a record costs beyond its key, value and headers in a v2 batch, at most (lengths,
/// deltas, attributes as varints).
const RECORD_OVERHEAD_BYTES: usize = 32;
/// A pause in the input this long sends what has been read (lines typed by hand).
const LINGER: Duration = Duration::from_millis(100);

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    pub topic: String,
    /// Read from this file instead of stdin.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Split each line into key and value at the first SEP.
    #[arg(short = 'k', long = "key-separator")]
    pub key_separator: Option<String>,
    /// A header key=value added to every record (repeatable).
    #[arg(short = 'H', long = "header", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// The partition to write to [default: by key, murmur2 as the Java client].
    #[arg(short = 'p', long)]
    pub partition: Option<i32>,
    /// Input format: lines, or json (one record object per line).
    #[arg(long, default_value = "lines", value_parser = ["lines", "json"])]
    pub format: String,
    #[command(flatten)]
    pub common: Common,
}

/// Collects records of one topic into batches and sends them.
pub struct BatchSender {
    topic: TopicLayout,
    partitioner: Partitioner,
    pending: Vec<Record>,
    pending_bytes: usize,
    pub written: usize,
}

impl BatchSender {
    pub fn new(topic: TopicLayout) -> BatchSender {
        let partitions = topic.partitions.len() as i32;
        // Records without a key start on a partition that depends on the time, so that
        // short runs of the command do not all land on partition 0.
        let start = (now_ms() % i64::from(partitions.max(1))) as i32;
        BatchSender {
            topic,
            partitioner: Partitioner::new(partitions, start),
            pending: Vec::new(),
            pending_bytes: 0,
            written: 0,
        }
    }

    pub fn topic(&self) -> &TopicLayout {
        &self.topic
    }

    /// Queues `record` for `partition` (or the partitioner's choice); sends a full batch.
    pub async fn add(
        &mut self,
        client: &mut Client,
        mut record: Record,
        partition: Option<i32>,
    ) -> Result<(), CliError> {
        let partitions = self.topic.partitions.len() as i32;
        record.partition = match partition {
            Some(p) if p >= partitions => {
                return Err(CliError::failure(format!(
                    "partition {p}: topic {} has {partitions} partitions",
                    self.topic.name
                )))
            }
            Some(p) => p,
            None => self.partitioner.partition(record.key.as_deref()),
        };
        self.pending_bytes += RECORD_OVERHEAD_BYTES
            + record.key.as_ref().map_or(0, Bytes::len)
            + record.value.as_ref().map_or(0, Bytes::len)
            + record
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len))
                .sum::<usize>();
        self.pending.push(record);
        if self.pending.len() >= BATCH_RECORDS || self.pending_bytes >= BATCH_BYTES {
            self.flush(client).await?;
        }
        Ok(())
    }

    /// Sends what is queued.
    pub async fn flush(&mut self, client: &mut Client) -> Result<(), CliError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let written = client.produce(&self.topic, &records, now_ms()).await;
        match written {
            Ok(n) => self.written += n,
            Err(e) => {
                return Err(CliError::failure(format!(
                    "{e} ({} records written before)",
                    self.written
                )))
            }
        }
        self.partitioner.next_batch();
        Ok(())
    }
}

/// Reads one line (without its end), refusing lines longer than [`MAX_LINE_BYTES`];
/// `Ok(None)` at the end of input. Cancel-safe (a timeout may drop it): what was read
/// waits in `buffer`.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
) -> Result<Option<Vec<u8>>, CliError> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((!buffer.is_empty()).then(|| std::mem::take(buffer)));
        }
        if let Some(at) = available.iter().position(|&b| b == b'\n') {
            buffer.extend_from_slice(&available[..at]);
            reader.consume(at + 1);
            let mut line = std::mem::take(buffer);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(line));
        }
        let n = available.len();
        buffer.extend_from_slice(available);
        reader.consume(n);
        if buffer.len() > MAX_LINE_BYTES {
            return Err(CliError::failure(format!(
                "an input line is longer than {MAX_LINE_BYTES} bytes"
            )));
        }
    }
}

/// The input: a file, or stdin.
pub async fn open_input(
    file: Option<&PathBuf>,
) -> Result<BufReader<Box<dyn tokio::io::AsyncRead + Unpin>>, CliError> {
    let input: Box<dyn tokio::io::AsyncRead + Unpin> = match file {
        Some(path) => Box::new(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| CliError::failure(format!("cannot open {}: {e}", path.display())))?,
        ),
        None => Box::new(tokio::io::stdin()),
    };
    Ok(BufReader::with_capacity(256 * 1024, input))
}

/// Feeds every line of the input to `each`, flushing `sender` whenever input pauses.
pub async fn for_each_line(
    file: Option<&PathBuf>,
    client: &mut Client,
    sender: &mut BatchSender,
    mut each: impl FnMut(Vec<u8>, usize) -> Result<Option<(Record, Option<i32>)>, CliError>,
) -> Result<(), CliError> {
    let mut reader = open_input(file).await?;
    let mut buffer = Vec::new();
    let mut number = 0;
    loop {
        let line = match tokio::time::timeout(LINGER, read_line(&mut reader, &mut buffer)).await {
            Ok(line) => line?,
            Err(_) => {
                sender.flush(client).await?;
                continue;
            }
        };
        let Some(line) = line else { break };
        number += 1;
        if let Some((record, partition)) = each(line, number)? {
            sender.add(client, record, partition).await?;
        }
    }
    sender.flush(client).await
}

pub async fn run(args: ProduceArgs) -> Result<(), CliError> {
    let mut client = args.common.connect().await?;
    let topic = client.topic(&args.topic).await?;
    let mut sender = BatchSender::new(topic);
    let headers: Vec<(String, Option<Bytes>)> = args
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Some(Bytes::from(v.clone()))))
        .collect();
    let json = args.format == "json";
    let separator = args.key_separator.clone().map(String::into_bytes);
    let fixed = args.partition;
    let result = for_each_line(
        args.file.as_ref(),
        &mut client,
        &mut sender,
        |line, number| {
            if json {
                if line.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                let text = std::str::from_utf8(&line)
                    .map_err(|_| CliError::failure(format!("line {number}: not UTF-8")))?;
                let mut parsed = parse_json_record(text)
                    .map_err(|e| CliError::failure(format!("line {number}: {e}")))?;
                parsed.record.headers.extend(headers.iter().cloned());
                return Ok(Some((parsed.record, fixed.or(parsed.partition))));
            }
            let (key, value) = match &separator {
                Some(sep) => match find(&line, sep) {
                    Some(at) => (
                        Some(Bytes::copy_from_slice(&line[..at])),
                        Bytes::copy_from_slice(&line[at + sep.len()..]),
                    ),
                    None => (None, Bytes::from(line)),
                },
                None => (None, Bytes::from(line)),
            };
            Ok(Some((
                Record {
                    partition: 0,
                    offset: 0,
                    timestamp: None,
                    key,
                    value: Some(value),
                    headers: headers.clone(),
                },
                fixed,
            )))
        },
    )
    .await;
    eprintln!("{} records written to {}", sender.written, args.topic);
    result
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
