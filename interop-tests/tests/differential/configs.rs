//! Scenarios of runtime config changes: IncrementalAlterConfigs' operations and AlterConfigs'
//! whole-set replacement on a topic, the broker's cluster-wide dynamic default under a
//! topic's config, and the refusals of each (unknown topic or key, bad value, a list
//! operation on a key that is no list, duplicates, nulls, broker names).

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request as incremental;
use kafka_protocol::messages::*;
use sluice_interop_tests::wire::Wire;

use super::{call, create_with_overrides, step, text, Transcript, DESCRIBED_KEYS};

pub(super) const SCENARIOS: &[&str] = &[
    "alter configs: incremental set, append, subtract, delete and validate only",
    "alter configs: incremental refusals",
    "alter configs: legacy replaces the whole set, and its refusals",
    "alter configs: a cluster-wide broker default under a topic's configs",
    "alter configs: this broker's own config over the cluster default",
];

/// A legacy AlterConfigs entry: key and value (null allowed).
type LegacyConfig<'a> = (&'a str, Option<&'a str>);

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Kafka applies a change through its metadata log a moment after answering it.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

fn op(key: &str, op: i8, value: Option<&str>) -> incremental::AlterableConfig {
    incremental::AlterableConfig::default()
        .with_name(text(key))
        .with_config_operation(op)
        .with_value(value.map(text))
}

fn resource(
    kind: i8,
    name: &str,
    ops: Vec<incremental::AlterableConfig>,
) -> incremental::AlterConfigsResource {
    incremental::AlterConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(text(name))
        .with_configs(ops)
}

/// (error code, resource type, resource name) of each resource, in order.
async fn incremental(
    w: &mut Wire,
    resources: Vec<incremental::AlterConfigsResource>,
    validate_only: bool,
) -> Vec<(i16, i8, String)> {
    let request = IncrementalAlterConfigsRequest::default()
        .with_resources(resources)
        .with_validate_only(validate_only);
    let r: IncrementalAlterConfigsResponse =
        call(w, ApiKey::IncrementalAlterConfigs, 1, &request).await;
    settle().await;
    r.responses
        .iter()
        .map(|r| (r.error_code, r.resource_type, r.resource_name.to_string()))
        .collect()
}

async fn legacy(
    w: &mut Wire,
    kind: i8,
    name: &str,
    configs: &[(&str, Option<&str>)],
) -> Vec<(i16, i8, String)> {
    let request =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(text(name))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(text(k))
                            .with_value(v.map(text))
                    })
                    .collect(),
            )]);
    let r: AlterConfigsResponse = call(w, ApiKey::AlterConfigs, 2, &request).await;
    settle().await;
    r.responses
        .iter()
        .map(|r| (r.error_code, r.resource_type, r.resource_name.to_string()))
        .collect()
}

/// The described keys of `topic`: value, source and synonyms.
async fn describe(w: &mut Wire, topic: &str) -> BTreeMap<String, String> {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(text(topic))
            .with_configuration_keys(Some(
                DESCRIBED_KEYS.iter().map(|k| text(k)).collect(),
            ))]);
    let r: DescribeConfigsResponse = call(w, ApiKey::DescribeConfigs, 4, &request).await;
    r.results
        .iter()
        .flat_map(|result| &result.configs)
        .map(|c| {
            let synonyms: Vec<String> = c
                .synonyms
                .iter()
                .map(|s| format!("{}={:?}/{}", s.name, s.value, s.source))
                .collect();
            (
                c.name.to_string(),
                format!(
                    "{:?} source={} synonyms={synonyms:?}",
                    c.value, c.config_source
                ),
            )
        })
        .collect()
}

pub(super) async fn run(scenario: &str, w: &mut Wire, topic: &str) -> Option<Transcript> {
    let mut t = Transcript::new();
    match scenario {
        "alter configs: incremental set, append, subtract, delete and validate only" => {
            create_with_overrides(w, &mut t, topic).await;
            let ops = vec![
                op("retention.ms", SET, Some("5000")),
                op("cleanup.policy", APPEND, Some("delete")),
                op("segment.bytes", DELETE, None),
                op("max.message.bytes", SET, Some("2000")),
            ];
            let r = incremental(w, vec![resource(TOPIC, topic, ops)], false).await;
            step(&mut t, "set, append, delete", &r);
            step(&mut t, "described", &describe(w, topic).await);
            let ops = vec![
                op("cleanup.policy", SUBTRACT, Some("compact")),
                op("max.message.bytes", DELETE, None),
            ];
            let r = incremental(w, vec![resource(TOPIC, topic, ops)], false).await;
            step(&mut t, "subtract, delete", &r);
            step(&mut t, "described again", &describe(w, topic).await);
            let ops = vec![op("retention.ms", SET, Some("1"))];
            let r = incremental(w, vec![resource(TOPIC, topic, ops)], true).await;
            step(&mut t, "validate only", &r);
            step(&mut t, "unchanged", &describe(w, topic).await);
        }
        "alter configs: incremental refusals" => {
            create_with_overrides(w, &mut t, topic).await;
            let absent = format!("{topic}-absent");
            let cases: Vec<(&str, Vec<incremental::AlterConfigsResource>)> = vec![
                (
                    "unknown topic",
                    vec![resource(
                        TOPIC,
                        &absent,
                        vec![op("retention.ms", SET, Some("1"))],
                    )],
                ),
                (
                    "unknown key of an unknown topic",
                    vec![resource(
                        TOPIC,
                        &absent,
                        vec![op("no.such.key", SET, Some("1"))],
                    )],
                ),
                (
                    "unknown key",
                    vec![resource(
                        TOPIC,
                        topic,
                        vec![op("no.such.key", SET, Some("1"))],
                    )],
                ),
                (
                    "bad value",
                    vec![resource(
                        TOPIC,
                        topic,
                        vec![op("retention.ms", SET, Some("soon"))],
                    )],
                ),
                (
                    "append to a key that is no list",
                    vec![resource(
                        TOPIC,
                        topic,
                        vec![op("retention.ms", APPEND, Some("1"))],
                    )],
                ),
                (
                    "subtract from a key that is no list",
                    vec![resource(
                        TOPIC,
                        topic,
                        vec![op("segment.ms", SUBTRACT, Some("1"))],
                    )],
                ),
                (
                    "a bad policy appended",
                    vec![resource(
                        TOPIC,
                        topic,
                        vec![op("cleanup.policy", APPEND, Some("shred"))],
                    )],
                ),
                (
                    "duplicate keys",
                    vec![resource(
                        TOPIC,
                        topic,
                        vec![
                            op("retention.ms", SET, Some("1")),
                            op("retention.ms", SET, Some("2")),
                        ],
                    )],
                ),
                (
                    "a null value set",
                    vec![resource(TOPIC, topic, vec![op("retention.ms", SET, None)])],
                ),
                (
                    "one resource twice",
                    vec![
                        resource(TOPIC, topic, vec![op("retention.ms", SET, Some("1"))]),
                        resource(TOPIC, topic, vec![op("segment.ms", SET, Some("1000"))]),
                    ],
                ),
                (
                    "the default topic",
                    vec![resource(
                        TOPIC,
                        "",
                        vec![op("retention.ms", SET, Some("1"))],
                    )],
                ),
                (
                    "a broker name that is no number",
                    vec![resource(
                        BROKER,
                        "abc",
                        vec![op("log.retention.ms", SET, Some("1"))],
                    )],
                ),
                (
                    "another broker",
                    vec![resource(
                        BROKER,
                        "99",
                        vec![op("log.retention.ms", SET, Some("1"))],
                    )],
                ),
                (
                    "a broker key that is not dynamic",
                    vec![resource(
                        BROKER,
                        "",
                        vec![op("auto.create.topics.enable", SET, Some("false"))],
                    )],
                ),
                (
                    "a bad broker value",
                    vec![resource(
                        BROKER,
                        "",
                        vec![op("log.retention.ms", SET, Some("soon"))],
                    )],
                ),
                (
                    "append to a broker key that is no list",
                    vec![resource(
                        BROKER,
                        "",
                        vec![op("log.retention.ms", APPEND, Some("1"))],
                    )],
                ),
            ];
            for (what, resources) in cases {
                let r = incremental(w, resources, false).await;
                step(&mut t, what, &r);
            }
            step(&mut t, "nothing changed", &describe(w, topic).await);
        }
        "alter configs: legacy replaces the whole set, and its refusals" => {
            create_with_overrides(w, &mut t, topic).await;
            let r = legacy(w, TOPIC, topic, &[("segment.bytes", Some("1048576"))]).await;
            step(&mut t, "replace", &r);
            step(&mut t, "described", &describe(w, topic).await);
            let absent = format!("{topic}-absent");
            let cases: Vec<(&str, &str, Vec<LegacyConfig>)> = vec![
                ("unknown topic", &absent, vec![("retention.ms", Some("1"))]),
                ("unknown key", topic, vec![("no.such.key", Some("1"))]),
                ("bad value", topic, vec![("segment.bytes", Some("1"))]),
                ("a null value", topic, vec![("retention.ms", None)]),
                (
                    "duplicate keys",
                    topic,
                    vec![("retention.ms", Some("1")), ("retention.ms", Some("2"))],
                ),
            ];
            for (what, name, configs) in cases {
                let r = legacy(w, TOPIC, name, &configs).await;
                step(&mut t, what, &r);
            }
            step(&mut t, "nothing changed", &describe(w, topic).await);
            let r = legacy(w, TOPIC, topic, &[]).await;
            step(&mut t, "an empty set", &r);
            step(&mut t, "all defaults", &describe(w, topic).await);
        }
        "alter configs: a cluster-wide broker default under a topic's configs" => {
            create_with_overrides(w, &mut t, topic).await;
            let set = vec![
                op("log.retention.ms", SET, Some("3600000")),
                op("log.segment.bytes", SET, Some("2097152")),
            ];
            let r = incremental(w, vec![resource(BROKER, "", set.clone())], true).await;
            step(&mut t, "validate only", &r);
            step(&mut t, "not yet", &describe(w, topic).await);
            let r = incremental(w, vec![resource(BROKER, "", set)], false).await;
            step(&mut t, "set", &r);
            step(&mut t, "under the topic", &describe(w, topic).await);
            let request = DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(BROKER)
                    .with_resource_name(text(""))
                    .with_configuration_keys(Some(vec![
                        text("log.retention.ms"),
                        text("log.segment.bytes"),
                    ])),
            ]);
            let r: DescribeConfigsResponse = call(w, ApiKey::DescribeConfigs, 4, &request).await;
            // Kafka lists them in no particular order.
            let defaults: std::collections::BTreeSet<String> = r
                .results
                .iter()
                .flat_map(|result| &result.configs)
                .map(|c| {
                    format!(
                        "{}={:?} source={} read_only={}",
                        c.name, c.value, c.config_source, c.read_only
                    )
                })
                .collect();
            step(&mut t, "the cluster defaults", &defaults);
            // Back to none, for the scenarios after this one.
            let clear = vec![
                op("log.retention.ms", DELETE, None),
                op("log.segment.bytes", DELETE, None),
            ];
            let r = incremental(w, vec![resource(BROKER, "", clear)], false).await;
            step(&mut t, "deleted", &r);
            step(&mut t, "defaults again", &describe(w, topic).await);
        }
        "alter configs: this broker's own config over the cluster default" => {
            create_with_overrides(w, &mut t, topic).await;
            // Each broker is named by its own node id (Kafka's and Sluice's differ).
            let meta: MetadataResponse =
                call(w, ApiKey::Metadata, 12, &MetadataRequest::default()).await;
            let id = meta.brokers[0].node_id.0.to_string();
            let codes = |r: Vec<(i16, i8, String)>| {
                r.into_iter().map(|(c, k, _)| (c, k)).collect::<Vec<_>>()
            };
            let cluster = vec![op("log.segment.bytes", SET, Some("2097152"))];
            let r = incremental(w, vec![resource(BROKER, "", cluster)], false).await;
            step(&mut t, "cluster default", &codes(r));
            let own = vec![op("log.segment.bytes", SET, Some("4194304"))];
            let r = incremental(w, vec![resource(BROKER, &id, own)], false).await;
            step(&mut t, "this broker's own", &codes(r));
            step(&mut t, "under the topic", &describe(w, topic).await);
            let clear = vec![op("log.segment.bytes", DELETE, None)];
            let r = incremental(w, vec![resource(BROKER, &id, clear.clone())], false).await;
            step(&mut t, "own deleted", &codes(r));
            step(
                &mut t,
                "the cluster default again",
                &describe(w, topic).await,
            );
            let r = incremental(w, vec![resource(BROKER, "", clear)], false).await;
            step(&mut t, "cluster default deleted", &codes(r));
            step(&mut t, "defaults again", &describe(w, topic).await);
        }
        _ => return None,
    }
    Some(t)
}
