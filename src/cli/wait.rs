//! `sluice wait`: polls until a topic holds N records, or a group has committed the end of
//! every partition it reads; exit 0 when reached, 1 on timeout, 2 for usage or connection
//! errors.

use std::time::Duration;

use super::group::{describe_group, group_topics};
use super::{parse_duration, CliError, Common, EXIT_FAILURE};
use crate::client::{Client, ClientError, UNKNOWN_TOPIC_OR_PARTITION};
use crate::clock::monotonic_now;

/// How often the condition is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// The topic to count (with --count), or the only topic of --group to check.
    #[arg(long)]
    pub topic: Option<String>,
    /// Records the topic's partitions must hold in total (end minus start offsets).
    #[arg(long, requires = "topic")]
    pub count: Option<i64>,
    /// The group that must catch up.
    #[arg(long, conflicts_with = "count")]
    pub group: Option<String>,
    /// With --group: until its committed offsets equal the end offsets.
    #[arg(long, requires = "group")]
    pub caught_up: bool,
    /// Give up after this long (30s, 500ms, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub common: Common,
}

/// How far the condition is: reached, or a line saying where it stands.
enum Progress {
    Reached(String),
    Short(String),
}

pub async fn run(args: WaitArgs) -> Result<(), CliError> {
    let check = match (&args.topic, args.count, &args.group, args.caught_up) {
        (Some(_), Some(_), None, _) => Check::Count,
        (_, None, Some(_), true) => Check::CaughtUp,
        _ => {
            return Err(CliError::usage(
                "give --topic T --count N, or --group G --caught-up [--topic T]",
            ))
        }
    };
    let deadline = monotonic_now() + args.timeout;
    let mut client = args.common.connect().await?;
    loop {
        let progress = match check {
            Check::Count => count(&mut client, &args).await,
            Check::CaughtUp => caught_up(&mut client, &args).await,
        };
        let progress = match progress {
            Ok(progress) => progress,
            Err(e) if e.is_connection() => return Err(CliError::connection(e)),
            Err(e) => Progress::Short(e.to_string()),
        };
        match progress {
            Progress::Reached(line) => {
                println!("{line}");
                return Ok(());
            }
            Progress::Short(line) if monotonic_now() >= deadline => {
                return Err(CliError {
                    message: format!("timed out after {:?}: {line}", args.timeout),
                    exit_code: EXIT_FAILURE,
                })
            }
            Progress::Short(_) => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

#[derive(Clone, Copy)]
enum Check {
    Count,
    CaughtUp,
}

async fn count(client: &mut Client, args: &WaitArgs) -> Result<Progress, ClientError> {
    let (Some(name), Some(wanted)) = (&args.topic, args.count) else {
        return Ok(Progress::Short("nothing to wait for".to_string()));
    };
    let topic = match client.topic(name).await {
        Ok(topic) => topic,
        Err(e) if e.code() == Some(UNKNOWN_TOPIC_OR_PARTITION) => {
            return Ok(Progress::Short(format!("topic {name} does not exist yet")))
        }
        Err(e) => return Err(e),
    };
    let held: i64 = client
        .watermarks(&topic)
        .await?
        .values()
        .map(|(start, end)| end - start)
        .sum();
    let line = format!("topic {name} holds {held} of {wanted} records");
    Ok(if held >= wanted {
        Progress::Reached(line)
    } else {
        Progress::Short(line)
    })
}

async fn caught_up(client: &mut Client, args: &WaitArgs) -> Result<Progress, ClientError> {
    let Some(group) = &args.group else {
        return Ok(Progress::Short("no group".to_string()));
    };
    let described = match describe_group(client, group).await {
        Ok(d) => d,
        Err(e) => return Ok(Progress::Short(e.message)),
    };
    let (mut topics, committed) = match group_topics(client, group, &described).await {
        Ok(found) => found,
        Err(e) => return Ok(Progress::Short(e.message)),
    };
    if let Some(only) = &args.topic {
        topics = vec![only.clone()];
    }
    if topics.is_empty() {
        return Ok(Progress::Short(format!(
            "group {group} has no subscribed topic and no commit yet"
        )));
    }
    let (mut behind, mut lag, mut partitions) = (0, 0i64, 0);
    for name in &topics {
        let topic = match client.topic(name).await {
            Ok(topic) => topic,
            Err(e) if e.code() == Some(UNKNOWN_TOPIC_OR_PARTITION) => {
                return Ok(Progress::Short(format!("topic {name} does not exist yet")))
            }
            Err(e) => return Err(e),
        };
        for (p, (_, end)) in client.watermarks(&topic).await? {
            partitions += 1;
            let done = committed.get(name).and_then(|c| c.get(&p)).copied();
            if done != Some(end) && !(done.is_none() && end == 0) {
                behind += 1;
                lag += end - done.unwrap_or(0);
            }
        }
    }
    let line = format!("group {group}: {behind} of {partitions} partitions behind, lag {lag}");
    Ok(if behind == 0 {
        Progress::Reached(line)
    } else {
        Progress::Short(line)
    })
}
