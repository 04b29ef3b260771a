//! `sluice topic`: CreateTopics, Metadata, DescribeConfigs, IncrementalAlterConfigs,
//! CreatePartitions and DeleteTopics, sent to the controller.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::table::Table;
use super::{parse_key_value, print_json, CliError, Common};
use crate::client::{Client, ClientError};

/// Kafka's resource type of a topic in the configs APIs.
const RESOURCE_TOPIC: i8 = 2;
/// DescribeConfigs' source of a value nobody set.
const SOURCE_DEFAULT: i8 = 5;
/// How long the broker may take over a topic change.
const ADMIN_TIMEOUT_MS: i32 = 30_000;

#[derive(clap::Subcommand, Debug)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        name: String,
        /// Partitions.
        #[arg(short = 'p', long, default_value_t = 1)]
        partitions: i32,
        /// Replication factor.
        #[arg(short = 'r', long, default_value_t = 1)]
        replication_factor: i16,
        /// A topic config, key=value (repeatable).
        #[arg(short = 'c', long = "config", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        #[command(flatten)]
        common: Common,
    },
    /// List topics.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Partitions with their offsets, and the configs that are not defaults.
    Describe {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// Delete a topic.
    Delete {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// Set (-c key=value) or remove (--delete key) topic configs.
    AlterConfig {
        name: String,
        #[arg(short = 'c', long = "config", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// A config to return to its default (repeatable).
        #[arg(long = "delete")]
        deletes: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Grow a topic to N partitions in total.
    AddPartitions {
        name: String,
        #[arg(short = 'p', long)]
        partitions: i32,
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(command: TopicCommand) -> Result<(), CliError> {
    match command {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
            common,
        } => create(&common, &name, partitions, replication_factor, &configs).await,
        TopicCommand::List { common } => list(&common).await,
        TopicCommand::Describe { name, common } => describe(&common, &name).await,
        TopicCommand::Delete { name, common } => delete(&common, &name).await,
        TopicCommand::AlterConfig {
            name,
            configs,
            deletes,
            common,
        } => alter_config(&common, &name, &configs, &deletes).await,
        TopicCommand::AddPartitions {
            name,
            partitions,
            common,
        } => add_partitions(&common, &name, partitions).await,
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn done(common: &Common, what: &str, name: &str) {
    if common.json {
        print_json(&json!({ "topic": name, "result": what }));
    } else {
        println!("{what} topic {name}");
    }
}

async fn create(
    common: &Common,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
) -> Result<(), CliError> {
    let mut client = common.connect().await?;
    let connection = client.controller().await?;
    let version = connection.version::<CreateTopicsRequest>(7)?;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(ADMIN_TIMEOUT_MS)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(Some(StrBytes::from_string(v.clone())))
                    })
                    .collect(),
            )]);
    let response = connection.send(&request, version).await?;
    for topic in &response.topics {
        ClientError::check_message(
            topic.error_code,
            topic.error_message.as_deref(),
            format!("CreateTopics {name}"),
        )?;
    }
    done(common, "created", name);
    Ok(())
}

async fn list(common: &Common) -> Result<(), CliError> {
    let mut client = common.connect().await?;
    let topics = client.topic_names().await?;
    if common.json {
        print_json(&json!(topics
            .iter()
            .map(|t| json!({
                "name": t.name,
                "topic_id": t.topic_id.to_string(),
                "partitions": t.partitions.len(),
                "internal": t.internal,
            }))
            .collect::<Vec<_>>()));
    } else {
        let mut table = Table::new(&["NAME", "PARTITIONS", "TOPIC ID"]);
        for t in &topics {
            table.row(vec![
                t.name.clone(),
                t.partitions.len().to_string(),
                t.topic_id.to_string(),
            ]);
        }
        table.print();
    }
    Ok(())
}

/// The topic's configs that are not defaults: (name, value).
pub async fn non_default_configs(
    client: &mut Client,
    name: &str,
) -> Result<Vec<(String, Option<String>)>, CliError> {
    let connection = client.controller().await?;
    let version = connection.version::<DescribeConfigsRequest>(4)?;
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configuration_keys(None)]);
    let response = connection.send(&request, version).await?;
    let mut configs = Vec::new();
    for result in &response.results {
        ClientError::check_message(
            result.error_code,
            result.error_message.as_deref(),
            format!("DescribeConfigs {name}"),
        )?;
        for config in &result.configs {
            if config.config_source != SOURCE_DEFAULT {
                configs.push((
                    config.name.to_string(),
                    if config.is_sensitive {
                        Some("(sensitive)".to_string())
                    } else {
                        config.value.as_ref().map(ToString::to_string)
                    },
                ));
            }
        }
    }
    configs.sort();
    Ok(configs)
}

async fn describe(common: &Common, name: &str) -> Result<(), CliError> {
    let mut client = common.connect().await?;
    let topic = client.topic(name).await?;
    let watermarks = client.watermarks(&topic).await?;
    let configs = non_default_configs(&mut client, name).await?;
    if common.json {
        print_json(&json!({
            "name": topic.name,
            "topic_id": topic.topic_id.to_string(),
            "partitions": topic.partitions.iter().map(|p| {
                let (start, end) = watermarks.get(&p.partition).copied().unwrap_or((0, 0));
                json!({
                    "partition": p.partition,
                    "leader": p.leader,
                    "replicas": p.replicas,
                    "isr": p.isr,
                    "start_offset": start,
                    "end_offset": end,
                })
            }).collect::<Vec<_>>(),
            "configs": configs.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        }));
        return Ok(());
    }
    println!(
        "topic {}  id {}  partitions {}",
        topic.name,
        topic.topic_id,
        topic.partitions.len()
    );
    let mut table = Table::new(&["PARTITION", "LEADER", "REPLICAS", "ISR", "START", "END"]);
    let list = |ids: &[i32]| {
        ids.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    for p in &topic.partitions {
        let (start, end) = watermarks.get(&p.partition).copied().unwrap_or((0, 0));
        table.row(vec![
            p.partition.to_string(),
            p.leader.to_string(),
            list(&p.replicas),
            list(&p.isr),
            start.to_string(),
            end.to_string(),
        ]);
    }
    table.print();
    if !configs.is_empty() {
        println!();
        let mut table = Table::new(&["CONFIG", "VALUE"]);
        for (k, v) in configs {
            table.row(vec![k, v.unwrap_or_else(|| "(null)".to_string())]);
        }
        table.print();
    }
    Ok(())
}

async fn delete(common: &Common, name: &str) -> Result<(), CliError> {
    let mut client = common.connect().await?;
    let connection = client.controller().await?;
    let version = connection.version::<DeleteTopicsRequest>(6)?;
    let mut request = DeleteTopicsRequest::default().with_timeout_ms(ADMIN_TIMEOUT_MS);
    if version >= 6 {
        request.topics = vec![DeleteTopicState::default().with_name(Some(topic_name(name)))];
    } else {
        request.topic_names = vec![topic_name(name)];
    }
    let response = connection.send(&request, version).await?;
    for result in &response.responses {
        ClientError::check_message(
            result.error_code,
            result.error_message.as_deref(),
            format!("DeleteTopics {name}"),
        )?;
    }
    done(common, "deleted", name);
    Ok(())
}

async fn alter_config(
    common: &Common,
    name: &str,
    sets: &[(String, String)],
    deletes: &[String],
) -> Result<(), CliError> {
    if sets.is_empty() && deletes.is_empty() {
        return Err(CliError::usage(
            "nothing to change: give -c key=value or --delete key",
        ));
    }
    let mut client = common.connect().await?;
    let connection = client.controller().await?;
    let version = connection.version::<IncrementalAlterConfigsRequest>(1)?;
    let configs = sets
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .chain(deletes.iter().map(|k| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(1)
                .with_value(None)
        }))
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(configs),
    ]);
    let response = connection.send(&request, version).await?;
    for result in &response.responses {
        ClientError::check_message(
            result.error_code,
            result.error_message.as_deref(),
            format!("IncrementalAlterConfigs {name}"),
        )?;
    }
    done(common, "altered", name);
    Ok(())
}

async fn add_partitions(common: &Common, name: &str, total: i32) -> Result<(), CliError> {
    let mut client = common.connect().await?;
    let connection = client.controller().await?;
    let version = connection.version::<CreatePartitionsRequest>(3)?;
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(ADMIN_TIMEOUT_MS)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(name))
            .with_count(total)
            .with_assignments(None)]);
    let response = connection.send(&request, version).await?;
    for result in &response.results {
        ClientError::check_message(
            result.error_code,
            result.error_message.as_deref(),
            format!("CreatePartitions {name}"),
        )?;
    }
    done(common, "grew", name);
    Ok(())
}
