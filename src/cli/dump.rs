//! `sluice dump` and `sluice seed`: every record of a topic as JSON lines, and back.
//! Keys, values, headers, timestamps and partitions round-trip exactly (bytes that are not
//! UTF-8 as base64, see [`super::format::record_json`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use super::consume::{resolve_positions, Reader};
use super::format::{parse_json_record, record_json, OffsetSpec};
use super::produce::{open_input, read_line, BatchSender};
use super::{CliError, Common};
use crate::client::Isolation;

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    pub topic: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Debug)]
pub struct SeedArgs {
    /// A file of `sluice dump` lines [default: stdin].
    pub file: Option<PathBuf>,
    /// Write to this topic instead of the one each line names.
    #[arg(long)]
    pub topic: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

/// Every record of every partition, start to the end at the time of the call.
pub async fn dump(args: DumpArgs) -> Result<(), CliError> {
    let mut client = args.common.connect().await?;
    let topic = client.topic(&args.topic).await?;
    let partitions: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
    let isolation = Isolation::ReadUncommitted;
    let positions = resolve_positions(
        &mut client,
        &topic,
        &partitions,
        OffsetSpec::Start,
        isolation,
    )
    .await?;
    let mut reader = Reader::new(&mut client, topic, positions, false, isolation).await?;
    let stdout = std::io::stdout();
    let mut written = 0usize;
    while !reader.done() {
        let records = reader.poll(&mut client).await?;
        let mut lock = stdout.lock();
        for record in &records {
            writeln!(lock, "{}", record_json(&args.topic, record))
                .map_err(|e| CliError::failure(format!("cannot write the dump: {e}")))?;
        }
        lock.flush()?;
        written += records.len();
    }
    eprintln!("{written} records dumped from {}", args.topic);
    Ok(())
}

/// Produces a dump's records back, each to the partition it names, reading the input a line
/// at a time.
pub async fn seed(args: SeedArgs) -> Result<(), CliError> {
    let mut client = args.common.connect().await?;
    // One sender per topic: a dump names its topic on every line.
    let mut senders: BTreeMap<String, BatchSender> = BTreeMap::new();
    let mut reader = open_input(args.file.as_ref()).await?;
    let mut buffer = Vec::new();
    let mut number = 0usize;
    while let Some(line) = read_line(&mut reader, &mut buffer).await? {
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| CliError::failure(format!("line {number}: not UTF-8")))?;
        let parsed = parse_json_record(text)
            .map_err(|e| CliError::failure(format!("line {number}: {e}")))?;
        let topic = args.topic.clone().or(parsed.topic.clone()).ok_or_else(|| {
            CliError::usage(format!(
                "line {number}: no topic (give --topic, or a \"topic\" field)"
            ))
        })?;
        if !senders.contains_key(&topic) {
            let layout = client.topic(&topic).await?;
            senders.insert(topic.clone(), BatchSender::new(layout));
        }
        if let Some(sender) = senders.get_mut(&topic) {
            sender
                .add(&mut client, parsed.record, parsed.partition)
                .await?;
        }
    }
    let mut total = 0;
    for sender in senders.values_mut() {
        sender.flush(&mut client).await?;
        total += sender.written;
    }
    eprintln!("{total} records seeded");
    Ok(())
}
