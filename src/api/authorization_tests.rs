//! The ACL matrix through the handlers: for each API, the operation on the resource Kafka
//! checks, refused with Kafka's code and then allowed by an ACL — topics, groups,
//! transactional ids and the cluster; Metadata's hiding and auto-creation; the authorized
//! operations reported; and the denials counted.

use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;

use super::*;
use crate::acl::{AclBinding, Operation, PatternType, Permission, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::config::Config;
use crate::node::Node;
use crate::record::test_batches::valid_batch;
use crate::session::{Principal, RequestContext, Session, PLAINTEXT_LISTENER};

const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const TXN_ID_DENIED: i16 = 53;

async fn authorizing(topics: &[&str]) -> (Node, Arc<Broker>) {
    let config = Config {
        authorizer: true,
        super_users: vec!["User:admin".into()],
        auto_create_topics: true,
        ..Config::for_tests()
    };
    let node = Node::start(config).await.unwrap();
    let broker = node.broker().clone();
    for &name in topics {
        broker
            .topics()
            .create(crate::topics::NewTopic {
                name: name.into(),
                partitions: 1,
                configs: Default::default(),
            })
            .unwrap();
    }
    (node, broker)
}

fn alice() -> Session {
    let mut session = Session::new(PLAINTEXT_LISTENER, "10.0.0.7:5000".parse().unwrap());
    session.set_principal(Principal::user("alice"));
    session
}

/// ALLOW User:alice `operation` on the literal resource, from anywhere.
fn allow(broker: &Broker, resource_type: ResourceType, name: &str, operation: Operation) {
    let acl = AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation,
        permission: Permission::Allow,
    };
    assert_eq!(broker.create_acls(vec![Ok(acl)]), vec![Ok(())]);
}

fn produce_request(topic: &str) -> ProduceRequest {
    let records = valid_batch(1, 0);
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records.into()))])])
}

fn produce_code(r: Option<ProduceResponse>) -> i16 {
    let r = r.expect("acks=-1 is answered");
    r.responses[0].partition_responses[0].error_code
}

fn fetch_request(topic: &str) -> FetchRequest {
    FetchRequest::default()
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])])
}

#[tokio::test]
async fn produce_needs_write_and_fetch_needs_read_on_the_topic() {
    let (node, broker) = authorizing(&["orders"]).await;
    let session = alice();
    let context = RequestContext::new(&session, "test");

    let r = produce::handle(&broker, &context, 9, produce_request("orders")).await;
    assert_eq!(produce_code(r), TOPIC_DENIED);
    // A topic that does not exist is refused the same way: its existence is not told.
    let r = produce::handle(&broker, &context, 9, produce_request("nowhere")).await;
    assert_eq!(produce_code(r), TOPIC_DENIED);
    allow(&broker, ResourceType::Topic, "orders", Operation::Write);
    let r = produce::handle(&broker, &context, 9, produce_request("orders")).await;
    assert_eq!(produce_code(r), 0);

    // Refused and appended topics answer in the request's order.
    let mut both = produce_request("nowhere");
    both.topic_data.extend(produce_request("orders").topic_data);
    let r = produce::handle(&broker, &context, 9, both)
        .await
        .expect("acks=-1");
    let answered: Vec<(String, i16, i64)> = r
        .responses
        .iter()
        .map(|t| {
            let p = &t.partition_responses[0];
            (t.name.to_string(), p.error_code, p.base_offset)
        })
        .collect();
    assert_eq!(
        answered,
        [
            ("nowhere".to_string(), TOPIC_DENIED, -1),
            ("orders".to_string(), 0, 1)
        ]
    );

    let r = fetch::handle(&broker, &context, 12, fetch_request("orders")).await;
    assert_eq!(r.responses[0].partitions[0].error_code, TOPIC_DENIED);
    let no_records = r.responses[0].partitions[0]
        .records
        .as_ref()
        .is_none_or(|r| r.is_empty());
    assert!(no_records, "a refused partition carries no records");
    allow(&broker, ResourceType::Topic, "orders", Operation::Read);
    let r = fetch::handle(&broker, &context, 12, fetch_request("orders")).await;
    let partition = &r.responses[0].partitions[0];
    assert_eq!((partition.error_code, partition.high_watermark), (0, 2));
    assert!(partition.records.as_ref().is_some_and(|r| !r.is_empty()));

    // A transactional produce needs WRITE on its transactional id first.
    let r = produce::handle(
        &broker,
        &context,
        9,
        produce_request("orders").with_transactional_id(Some(str_bytes("tx").into())),
    )
    .await;
    assert_eq!(produce_code(r), TXN_ID_DENIED);

    let denials = broker.metrics().render();
    assert!(
        denials.contains(
            r#"sluice_authorization_denials_total{resource_type="TOPIC",operation="WRITE"} 3"#
        ),
        "{denials}"
    );
    node.shutdown().await;
}

fn metadata_of(names: &[&str]) -> MetadataRequest {
    MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_include_topic_authorized_operations(true)
        .with_topics(Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect(),
        ))
}

/// (name, error code, authorized operations) of each topic answered.
fn topics_of(r: &MetadataResponse) -> Vec<(String, i16, i32)> {
    r.topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            (name, t.error_code, t.topic_authorized_operations)
        })
        .collect()
}

#[tokio::test]
async fn metadata_hides_what_the_principal_may_not_describe_and_auto_creates_with_create() {
    let (node, broker) = authorizing(&["visible", "hidden"]).await;
    let session = alice();
    let context = RequestContext::new(&session, "test");
    allow(&broker, ResourceType::Topic, "visible", Operation::Read);

    let all = MetadataRequest::default()
        .with_topics(None)
        .with_include_topic_authorized_operations(true);
    let r = metadata::handle(&broker, &context, 12, all).await;
    // READ 3 and the DESCRIBE 8 it implies.
    assert_eq!(
        topics_of(&r),
        [("visible".to_string(), 0, (1 << 3) | (1 << 8))]
    );

    let r = metadata::handle(&broker, &context, 12, metadata_of(&["hidden", "visible"])).await;
    assert_eq!(topics_of(&r)[0], ("hidden".into(), TOPIC_DENIED, i32::MIN));
    assert_eq!(topics_of(&r)[1].1, 0);

    // Auto-creation needs DESCRIBE and CREATE: without CREATE the topic is refused, not made.
    allow(&broker, ResourceType::Topic, "new", Operation::Describe);
    let r = metadata::handle(&broker, &context, 12, metadata_of(&["new"])).await;
    assert_eq!(topics_of(&r)[0].1, TOPIC_DENIED);
    assert!(broker.topics().get("new").is_none());
    allow(&broker, ResourceType::Topic, "new", Operation::Create);
    let r = metadata::handle(&broker, &context, 12, metadata_of(&["new"])).await;
    assert_eq!(topics_of(&r)[0].1, 0);
    assert!(broker.topics().get("new").is_some());

    // Cluster operations, when asked for (v8–10).
    allow(
        &broker,
        ResourceType::Cluster,
        CLUSTER_NAME,
        Operation::Create,
    );
    let asked = MetadataRequest::default()
        .with_topics(Some(Vec::new()))
        .with_include_cluster_authorized_operations(true);
    let r = metadata::handle(&broker, &context, 10, asked).await;
    assert_eq!(r.cluster_authorized_operations, 1 << 5);
    node.shutdown().await;
}

#[tokio::test]
async fn topic_administration_needs_create_and_delete() {
    let (node, broker) = authorizing(&["old"]).await;
    let session = alice();
    let context = RequestContext::new(&session, "test");
    let create = || {
        CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
            .with_name(topic_name("made"))
            .with_num_partitions(1)
            .with_replication_factor(1)])
    };
    let r = create_topics::handle(&broker, &context, 7, create()).await;
    assert_eq!(r.topics[0].error_code, TOPIC_DENIED);
    allow(
        &broker,
        ResourceType::Cluster,
        CLUSTER_NAME,
        Operation::Create,
    );
    let r = create_topics::handle(&broker, &context, 7, create()).await;
    assert_eq!(r.topics[0].error_code, 0);

    let delete = || DeleteTopicsRequest::default().with_topic_names(vec![topic_name("old")]);
    let r = delete_topics::handle(&broker, &context, 5, delete()).await;
    assert_eq!(r.responses[0].error_code, TOPIC_DENIED);
    assert!(broker.topics().get("old").is_some());
    allow(&broker, ResourceType::Topic, "old", Operation::Delete);
    let r = delete_topics::handle(&broker, &context, 5, delete()).await;
    assert_eq!(r.responses[0].error_code, 0);
    node.shutdown().await;
}

fn commit(group: &str, topic: &str) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(group.to_string().into_group())
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(5)])])
}

trait IntoGroup {
    fn into_group(self) -> GroupId;
}

impl IntoGroup for String {
    fn into_group(self) -> GroupId {
        GroupId(str_bytes(&self))
    }
}

#[tokio::test]
async fn consumer_groups_need_read_on_the_group_and_on_each_topic() {
    let (node, broker) = authorizing(&["orders"]).await;
    let session = alice();
    let context = RequestContext::new(&session, "test");

    let join = JoinGroupRequest::default()
        .with_group_id("g".to_string().into_group())
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(str_bytes("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(str_bytes("range"))
            .with_metadata(bytes::Bytes::from_static(b"x"))]);
    let r = join_group::handle(&broker, &context, 4, join.clone()).await;
    assert_eq!(r.error_code, GROUP_DENIED);
    let r = offset_commit::handle(&broker, &context, 8, commit("g", "orders")).await;
    assert_eq!(r.topics[0].partitions[0].error_code, GROUP_DENIED);

    allow(&broker, ResourceType::Group, "g", Operation::Read);
    let r = join_group::handle(&broker, &context, 4, join).await;
    assert_eq!(r.error_code, ResponseError::MemberIdRequired.code());
    // The group is allowed, the topic not yet.
    let r = offset_commit::handle(&broker, &context, 8, commit("g", "orders")).await;
    assert_eq!(r.topics[0].partitions[0].error_code, TOPIC_DENIED);
    allow(&broker, ResourceType::Topic, "orders", Operation::Read);
    let r = offset_commit::handle(&broker, &context, 8, commit("g", "orders")).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    let fetch = |group: &str| {
        OffsetFetchRequest::default()
            .with_group_id(group.to_string().into_group())
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name("orders"))
                .with_partition_indexes(vec![0])]))
    };
    let r = offset_fetch::handle(&broker, &context, 7, fetch("g")).await;
    assert_eq!(r.error_code, 0);
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.error_code, p.committed_offset), (0, 5));
    let r = offset_fetch::handle(&broker, &context, 7, fetch("other")).await;
    assert_eq!(r.error_code, GROUP_DENIED);
    assert!(r.topics.is_empty());

    // DescribeGroups: refused without DESCRIBE, the group's operations with it.
    let describe = |group: &str| {
        DescribeGroupsRequest::default()
            .with_groups(vec![group.to_string().into_group()])
            .with_include_authorized_operations(true)
    };
    let r = describe_groups::handle(&broker, &context, 5, describe("other")).await;
    assert_eq!(r.groups[0].error_code, GROUP_DENIED);
    let r = describe_groups::handle(&broker, &context, 5, describe("g")).await;
    assert_eq!(r.groups[0].error_code, 0);
    assert_eq!(r.groups[0].authorized_operations, (1 << 3) | (1 << 8));
    node.shutdown().await;
}

#[tokio::test]
async fn transactions_need_write_on_the_transactional_id() {
    let (node, broker) = authorizing(&["orders"]).await;
    let session = alice();
    let context = RequestContext::new(&session, "test");
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(str_bytes("tx").into()))
        .with_transaction_timeout_ms(60_000);
    let r = init_producer_id::handle(&broker, &context, 4, init.clone()).await;
    assert_eq!(r.error_code, TXN_ID_DENIED);
    assert_eq!(r.producer_id.0, -1);

    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(str_bytes("tx").into())
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(topic_name("orders"))
            .with_partitions(vec![0])]);
    let r = add_partitions_to_txn::handle(&broker, &context, 3, add.clone()).await;
    let code = r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, TXN_ID_DENIED);
    let end = EndTxnRequest::default().with_transactional_id(str_bytes("tx").into());
    let r = end_txn::handle(&broker, &context, 3, end).await;
    assert_eq!(r.error_code, TXN_ID_DENIED);
    let find = FindCoordinatorRequest::default()
        .with_key(str_bytes("tx"))
        .with_key_type(1);
    let r = find_coordinator::handle(&broker, &context, 3, find.clone()).await;
    assert_eq!(r.error_code, TXN_ID_DENIED);

    allow(
        &broker,
        ResourceType::TransactionalId,
        "tx",
        Operation::Write,
    );
    let r = find_coordinator::handle(&broker, &context, 3, find).await;
    assert_eq!(r.error_code, 0, "WRITE implies DESCRIBE");
    let r = init_producer_id::handle(&broker, &context, 4, init).await;
    assert_eq!(r.error_code, 0);
    // The transactional id is allowed, the topic not.
    let add = add
        .with_v3_and_below_producer_id(r.producer_id)
        .with_v3_and_below_producer_epoch(r.producer_epoch);
    let r = add_partitions_to_txn::handle(&broker, &context, 3, add.clone()).await;
    let code = r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, TOPIC_DENIED);
    allow(&broker, ResourceType::Topic, "orders", Operation::Write);
    let r = add_partitions_to_txn::handle(&broker, &context, 3, add).await;
    let code = r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, 0);

    // An idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic:
    // alice has WRITE on "orders" now; bob has nothing.
    let idempotent = InitProducerIdRequest::default().with_transactional_id(None);
    let r = init_producer_id::handle(&broker, &context, 4, idempotent.clone()).await;
    assert_eq!(r.error_code, 0);
    let mut bob = Session::new(PLAINTEXT_LISTENER, "10.0.0.8:5000".parse().unwrap());
    bob.set_principal(Principal::user("bob"));
    let bob = RequestContext::new(&bob, "test");
    let r = init_producer_id::handle(&broker, &bob, 4, idempotent).await;
    assert_eq!(r.error_code, CLUSTER_DENIED);
    node.shutdown().await;
}

#[tokio::test]
async fn cluster_operations_need_their_cluster_acls_and_super_users_need_none() {
    let (node, broker) = authorizing(&["orders"]).await;
    let session = alice();
    let context = RequestContext::new(&session, "test");
    let broker_configs = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(str_bytes("0"))
            .with_configuration_keys(None),
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes("orders"))
            .with_configuration_keys(None),
    ]);
    let r = describe_configs::handle(&broker, &context, 4, broker_configs.clone()).await;
    let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [CLUSTER_DENIED, TOPIC_DENIED]);
    allow(
        &broker,
        ResourceType::Topic,
        "orders",
        Operation::AlterConfigs,
    );
    let r = describe_configs::handle(&broker, &context, 4, broker_configs.clone()).await;
    let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [CLUSTER_DENIED, 0],
        "ALTER_CONFIGS implies DESCRIBE_CONFIGS"
    );

    let cluster =
        DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    let r = describe_cluster::handle(&broker, &context, 1, cluster.clone()).await;
    assert_eq!(r.cluster_authorized_operations, 0);

    let admin = {
        let mut s = Session::new(PLAINTEXT_LISTENER, "10.0.0.9:5000".parse().unwrap());
        s.set_principal(Principal::user("admin"));
        s
    };
    let admin = RequestContext::new(&admin, "test");
    let r = describe_configs::handle(&broker, &admin, 4, broker_configs).await;
    assert!(r.results.iter().all(|r| r.error_code == 0));
    let r = describe_cluster::handle(&broker, &admin, 1, cluster).await;
    assert_eq!(
        r.cluster_authorized_operations,
        crate::acl::all_operations(ResourceType::Cluster)
    );
    let r = produce::handle(&broker, &admin, 9, produce_request("orders")).await;
    assert_eq!(produce_code(r), 0);
    node.shutdown().await;
}
