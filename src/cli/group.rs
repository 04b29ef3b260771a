//! `sluice group`: ListGroups, DescribeGroups with committed offsets and lag, an admin
//! OffsetCommit to move a group, and DeleteGroups.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::consume::resolve_positions;
use super::format::OffsetSpec;
use super::table::Table;
use super::{print_json, CliError, Common};
use crate::client::group::{
    commit_offsets, committed_offsets, decode_assignment, decode_subscription,
};
use crate::client::{Client, ClientError, Isolation, LATEST_TIMESTAMP};

#[derive(clap::Subcommand, Debug)]
pub enum GroupCommand {
    /// List the groups of every broker.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// State, members and their assignments, committed offsets and lag.
    Describe {
        group: String,
        #[command(flatten)]
        common: Common,
    },
    /// Move an inactive group's committed offsets: start, end, OFFSET or @TIMESTAMP_MS.
    Seek {
        group: String,
        #[arg(long, allow_hyphen_values = true)]
        to: OffsetSpec,
        /// Only this topic [default: every topic the group committed for].
        #[arg(long)]
        topic: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Delete a group with no members.
    Delete {
        group: String,
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(command: GroupCommand) -> Result<(), CliError> {
    match command {
        GroupCommand::List { common } => list(&common).await,
        GroupCommand::Describe { group, common } => describe(&common, &group).await,
        GroupCommand::Seek {
            group,
            to,
            topic,
            common,
        } => seek(&common, &group, to, topic.as_deref()).await,
        GroupCommand::Delete { group, common } => delete(&common, &group).await,
    }
}

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}

async fn list(common: &Common) -> Result<(), CliError> {
    let mut client = common.connect().await?;
    let nodes: Vec<i32> = client.brokers().keys().copied().collect();
    let mut groups = BTreeMap::new();
    for node in nodes {
        let connection = client.broker(node).await?;
        let version = connection.version::<ListGroupsRequest>(4)?;
        let response = connection
            .send(&ListGroupsRequest::default(), version)
            .await?;
        ClientError::check(response.error_code, format!("ListGroups on broker {node}"))?;
        for g in response.groups {
            groups.insert(
                g.group_id.0.to_string(),
                (g.protocol_type.to_string(), g.group_state.to_string()),
            );
        }
    }
    if common.json {
        print_json(&json!(groups
            .iter()
            .map(|(g, (protocol_type, state))| json!({
                "group": g, "protocol_type": protocol_type, "state": state,
            }))
            .collect::<Vec<_>>()));
    } else {
        let mut table = Table::new(&["GROUP", "TYPE", "STATE"]);
        for (g, (protocol_type, state)) in groups {
            table.row(vec![g, protocol_type, state]);
        }
        table.print();
    }
    Ok(())
}

/// The group as DescribeGroups sees it.
pub async fn describe_group(client: &mut Client, group: &str) -> Result<DescribedGroup, CliError> {
    let response = client
        .call_coordinator(group, 5, |_| {
            DescribeGroupsRequest::default().with_groups(vec![group_id(group)])
        })
        .await?;
    let described = response
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| CliError::failure(format!("DescribeGroups {group}: no answer")))?;
    ClientError::check_message(
        described.error_code,
        described.error_message.as_deref(),
        format!("DescribeGroups {group}"),
    )?;
    Ok(described)
}

/// One partition's row: committed offset, end offset, lag, and the member that owns it.
struct Lag {
    topic: String,
    partition: i32,
    committed: Option<i64>,
    end: i64,
    owner: Option<String>,
}

/// Topics the group's members subscribe to, and those it committed for.
pub async fn group_topics(
    client: &mut Client,
    group: &str,
    described: &DescribedGroup,
) -> Result<(Vec<String>, BTreeMap<String, BTreeMap<i32, i64>>), CliError> {
    let committed = committed_offsets(client, group, None).await?;
    let mut topics: Vec<String> = committed.keys().cloned().collect();
    if described.protocol_type.as_str() == "consumer" {
        for member in &described.members {
            if let Ok(subscribed) = decode_subscription(member.member_metadata.clone()) {
                topics.extend(subscribed);
            }
        }
    }
    topics.sort();
    topics.dedup();
    Ok((topics, committed))
}

async fn describe(common: &Common, group: &str) -> Result<(), CliError> {
    let mut client = common.connect().await?;
    let described = describe_group(&mut client, group).await?;
    let (topics, committed) = group_topics(&mut client, group, &described).await?;
    let mut owners: BTreeMap<(String, i32), String> = BTreeMap::new();
    let mut members = Vec::new();
    for member in &described.members {
        let assignment = if described.protocol_type.as_str() == "consumer" {
            decode_assignment(member.member_assignment.clone()).unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        for (topic, partitions) in &assignment {
            for p in partitions {
                owners.insert((topic.clone(), *p), member.member_id.to_string());
            }
        }
        members.push((member, assignment));
    }
    let mut lags = Vec::new();
    for topic in &topics {
        let layout = match client.topic(topic).await {
            Ok(layout) => layout,
            Err(e) => {
                tracing::warn!(topic, error = %e, "topic of the group not described");
                continue;
            }
        };
        let partitions: Vec<i32> = layout.partitions.iter().map(|p| p.partition).collect();
        let ends = client
            .list_offsets(
                &layout,
                &partitions,
                LATEST_TIMESTAMP,
                Isolation::ReadUncommitted,
            )
            .await?;
        for p in partitions {
            lags.push(Lag {
                topic: topic.clone(),
                partition: p,
                committed: committed.get(topic).and_then(|c| c.get(&p)).copied(),
                end: ends.get(&p).copied().unwrap_or(0),
                owner: owners.get(&(topic.clone(), p)).cloned(),
            });
        }
    }
    let lag_of = |l: &Lag| l.committed.map(|c| (l.end - c).max(0));
    if common.json {
        print_json(&json!({
            "group": group,
            "state": described.group_state.to_string(),
            "protocol_type": described.protocol_type.to_string(),
            "protocol": described.protocol_data.to_string(),
            "members": members.iter().map(|(m, assignment)| json!({
                "member_id": m.member_id.to_string(),
                "group_instance_id": m.group_instance_id.as_ref().map(ToString::to_string),
                "client_id": m.client_id.to_string(),
                "client_host": m.client_host.to_string(),
                "assignment": assignment,
            })).collect::<Vec<_>>(),
            "offsets": lags.iter().map(|l| json!({
                "topic": l.topic,
                "partition": l.partition,
                "committed": l.committed,
                "end": l.end,
                "lag": lag_of(l),
                "member_id": l.owner,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!(
        "group {group}  state {}  protocol {} {}",
        described.group_state, described.protocol_type, described.protocol_data
    );
    let mut table = Table::new(&["MEMBER", "CLIENT ID", "HOST", "ASSIGNMENT"]);
    for (m, assignment) in &members {
        let assigned: Vec<String> = assignment
            .iter()
            .map(|(t, ps)| {
                format!(
                    "{t}:{}",
                    ps.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
            .collect();
        table.row(vec![
            m.member_id.to_string(),
            m.client_id.to_string(),
            m.client_host.to_string(),
            assigned.join(" "),
        ]);
    }
    table.print();
    println!();
    let mut table = Table::new(&["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"]);
    for l in &lags {
        table.row(vec![
            l.topic.clone(),
            l.partition.to_string(),
            l.committed.map_or("-".to_string(), |c| c.to_string()),
            l.end.to_string(),
            lag_of(l).map_or("-".to_string(), |c| c.to_string()),
            l.owner.clone().unwrap_or_else(|| "-".to_string()),
        ]);
    }
    table.print();
    Ok(())
}

async fn seek(
    common: &Common,
    group: &str,
    to: OffsetSpec,
    topic: Option<&str>,
) -> Result<(), CliError> {
    let mut client = common.connect().await?;
    let described = describe_group(&mut client, group).await?;
    let state = described.group_state.to_string();
    // As `kafka-consumer-groups --reset-offsets` (ConsumerGroupCommand): only an inactive
    // group's offsets move.
    if !matches!(state.as_str(), "Empty" | "Dead") || !described.members.is_empty() {
        return Err(CliError::failure(format!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
        )));
    }
    let topics: Vec<String> = match topic {
        Some(t) => vec![t.to_string()],
        None => group_topics(&mut client, group, &described).await?.0,
    };
    if topics.is_empty() {
        return Err(CliError::usage(format!(
            "group {group} has committed for no topic: name one with --topic"
        )));
    }
    let mut offsets: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
    for name in &topics {
        let layout = client.topic(name).await?;
        let partitions: Vec<i32> = layout.partitions.iter().map(|p| p.partition).collect();
        let positions = resolve_positions(
            &mut client,
            &layout,
            &partitions,
            to,
            Isolation::ReadUncommitted,
        )
        .await?;
        offsets.insert(name.clone(), positions);
    }
    commit_offsets(&mut client, group, -1, "", &offsets).await?;
    if common.json {
        print_json(&json!({ "group": group, "offsets": offsets }));
    } else {
        let mut table = Table::new(&["TOPIC", "PARTITION", "NEW OFFSET"]);
        for (t, partitions) in &offsets {
            for (p, o) in partitions {
                table.row(vec![t.clone(), p.to_string(), o.to_string()]);
            }
        }
        table.print();
    }
    Ok(())
}

async fn delete(common: &Common, group: &str) -> Result<(), CliError> {
    let mut client = common.connect().await?;
    let response = client
        .call_coordinator(group, 2, |_| {
            DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)])
        })
        .await?;
    for result in &response.results {
        ClientError::check(result.error_code, format!("DeleteGroups {group}"))?;
    }
    if common.json {
        print_json(&json!({ "group": group, "result": "deleted" }));
    } else {
        println!("deleted group {group}");
    }
    Ok(())
}
