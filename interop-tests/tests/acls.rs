//! ACLs with real clients: CreateAcls, DescribeAcls and DeleteAcls sent over the wire
//! (rdkafka 0.39's AdminClient has no ACL calls), and an rdkafka producer and consumer
//! (User:ANONYMOUS, until authentication exists) refused by the authorizer until ACLs allow
//! them. ACLs outliving a restart of the binary are in `tests/process.rs`.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::Offset;
use sluice::acl::{AclBinding, Operation, PatternType, Permission, ResourceType, CLUSTER_NAME};
use sluice::Config;
use sluice_interop_tests::wire::Wire;
use sluice_interop_tests::{
    assigned_consumer, consume_exactly, consumer_config, create_topic, producer_config,
    unique_topic, Record, TestBroker, TestProducer,
};

const SECURITY_DISABLED: i16 = 54;
const INVALID_REQUEST: i16 = 42;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// Kafka's codes: TOPIC 2, LITERAL 3, PREFIXED 4, ANY 1, READ 3, WRITE 4, DENY 2, ALLOW 3.
const TOPIC: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ANY: i8 = 1;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn authorizing(super_users: &[&str]) -> TestBroker {
    TestBroker::start_with(Config {
        authorizer: true,
        super_users: super_users.iter().map(|u| u.to_string()).collect(),
        ..Config::for_tests()
    })
}

fn creation(
    pattern: i8,
    name: &str,
    principal: &str,
    operation: i8,
    permission: i8,
) -> AclCreation {
    AclCreation::default()
        .with_resource_type(TOPIC)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(operation)
        .with_permission_type(permission)
}

fn describe_all() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(ANY)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(ANY)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// (resource name, pattern, principal, host, operation, permission) of each ACL described.
fn described(r: &DescribeAclsResponse) -> Vec<(String, i8, String, String, i8, i8)> {
    r.resources
        .iter()
        .flat_map(|res| {
            assert_eq!(res.resource_type, TOPIC);
            res.acls.iter().map(|a| {
                (
                    res.resource_name.to_string(),
                    res.pattern_type,
                    a.principal.to_string(),
                    a.host.to_string(),
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect()
}

async fn create(wire: &mut Wire, version: i16, creations: Vec<AclCreation>) -> Vec<i16> {
    let request = CreateAclsRequest::default().with_creations(creations);
    let r: CreateAclsResponse = wire.call(ApiKey::CreateAcls, version, &request).await;
    r.results.iter().map(|r| r.error_code).collect()
}

#[test]
fn acls_are_created_described_and_deleted_over_the_wire() {
    let broker = authorizing(&["User:ANONYMOUS"]);
    broker.block_on(async {
        let mut wire = Wire::connect(broker.addr()).await;
        let codes = create(
            &mut wire,
            3,
            vec![
                creation(LITERAL, "orders", "User:alice", READ, ALLOW),
                creation(PREFIXED, "orders-", "User:bob", WRITE, DENY),
                creation(LITERAL, "orders", "alice", READ, ALLOW),
                creation(ANY, "orders", "User:alice", READ, ALLOW),
            ],
        )
        .await;
        assert_eq!(codes, [0, 0, INVALID_REQUEST, INVALID_REQUEST]);

        for version in 1..=3 {
            let r: DescribeAclsResponse = wire
                .call(ApiKey::DescribeAcls, version, &describe_all())
                .await;
            assert_eq!(r.error_code, 0);
            assert_eq!(
                described(&r),
                [
                    (
                        "orders".into(),
                        LITERAL,
                        "User:alice".into(),
                        "*".into(),
                        READ,
                        ALLOW
                    ),
                    (
                        "orders-".into(),
                        PREFIXED,
                        "User:bob".into(),
                        "*".into(),
                        WRITE,
                        DENY
                    ),
                ],
                "v{version}"
            );
        }
        // MATCH: the ACLs that apply to topic "orders-eu": only the prefixed one.
        let matching = describe_all()
            .with_resource_type_filter(TOPIC)
            .with_resource_name_filter(Some(s("orders-eu")))
            .with_pattern_type_filter(2);
        let r: DescribeAclsResponse = wire.call(ApiKey::DescribeAcls, 2, &matching).await;
        assert_eq!(described(&r).len(), 1);
        assert_eq!(r.resources[0].resource_name.as_str(), "orders-");

        let delete = DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
            .with_resource_type_filter(TOPIC)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(PREFIXED)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY)]);
        let r: DeleteAclsResponse = wire.call(ApiKey::DeleteAcls, 3, &delete).await;
        assert_eq!(r.filter_results.len(), 1);
        let result = &r.filter_results[0];
        assert_eq!(result.error_code, 0);
        let deleted: Vec<(String, i8, String, i8, i8)> = result
            .matching_acls
            .iter()
            .map(|a| {
                (
                    a.resource_name.to_string(),
                    a.pattern_type,
                    a.principal.to_string(),
                    a.operation,
                    a.permission_type,
                )
            })
            .collect();
        assert_eq!(
            deleted,
            [(
                "orders-".to_string(),
                PREFIXED,
                "User:bob".to_string(),
                WRITE,
                DENY
            )]
        );
        let r: DescribeAclsResponse = wire.call(ApiKey::DescribeAcls, 3, &describe_all()).await;
        assert_eq!(described(&r).len(), 1, "only alice's ACL is left");
    });
    assert_eq!(broker.broker().acls().len(), 1);
}

#[test]
fn without_an_authorizer_the_acl_apis_answer_security_disabled() {
    let broker = TestBroker::start();
    broker.block_on(async {
        let mut wire = Wire::connect(broker.addr()).await;
        let codes = create(
            &mut wire,
            2,
            vec![creation(LITERAL, "t", "User:alice", READ, ALLOW)],
        )
        .await;
        assert_eq!(codes, [SECURITY_DISABLED]);
        let r: DescribeAclsResponse = wire.call(ApiKey::DescribeAcls, 2, &describe_all()).await;
        assert_eq!(r.error_code, SECURITY_DISABLED);
    });
}

/// ALLOW User:ANONYMOUS `operation` on the cluster, made in the broker itself: how an
/// operator's first ACL is made before any client may make one.
fn bootstrap_acl(broker: &TestBroker, operation: Operation) {
    let acl = AclBinding {
        resource_type: ResourceType::Cluster,
        resource_name: CLUSTER_NAME.into(),
        pattern_type: PatternType::Literal,
        principal: "User:ANONYMOUS".into(),
        host: "*".into(),
        operation,
        permission: Permission::Allow,
    };
    assert_eq!(broker.broker().create_acls(vec![Ok(acl)]), vec![Ok(())]);
}

/// A consumed record's key, value and offset.
type KeyValueOffset = (Option<Vec<u8>>, Option<Vec<u8>>, i64);

#[test]
fn an_rdkafka_producer_is_refused_until_an_acl_allows_it() {
    let broker = authorizing(&[]);
    let topic = unique_topic("acl-produce");
    broker
        .broker()
        .topics()
        .create(sluice::topics::NewTopic {
            name: topic.clone(),
            partitions: 1,
            configs: Default::default(),
        })
        .expect("create the topic");

    // Not even the ACL APIs: User:ANONYMOUS may not ALTER the cluster yet.
    broker.block_on(async {
        let mut wire = Wire::connect(broker.addr()).await;
        let codes = create(
            &mut wire,
            3,
            vec![creation(LITERAL, &topic, "User:ANONYMOUS", WRITE, ALLOW)],
        )
        .await;
        assert_eq!(codes, [CLUSTER_AUTHORIZATION_FAILED]);
    });

    let mut config = producer_config(broker.bootstrap());
    config.set("message.timeout.ms", "5000");
    let refused = TestProducer::new(&config).send_one(&topic, &Record::value("no"));
    assert_eq!(
        refused.error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
    );

    bootstrap_acl(&broker, Operation::Alter);
    broker.block_on(async {
        let mut wire = Wire::connect(broker.addr()).await;
        let codes = create(
            &mut wire,
            3,
            vec![
                creation(LITERAL, &topic, "User:ANONYMOUS", WRITE, ALLOW),
                creation(LITERAL, &topic, "User:ANONYMOUS", READ, ALLOW),
            ],
        )
        .await;
        assert_eq!(codes, [0, 0]);
    });
    let producer = TestProducer::new(&producer_config(broker.bootstrap()));
    let delivered = producer.send_all(
        &topic,
        &[
            Record::keyed("k1", "allowed-1"),
            Record::keyed("k2", "allowed-2"),
        ],
    );
    let outcomes: Vec<(i32, i64, Option<RDKafkaErrorCode>)> = delivered
        .iter()
        .map(|d| (d.partition, d.offset, d.error_code()))
        .collect();
    assert_eq!(outcomes, [(0, 0, None), (0, 1, None)]);

    // The consumer's group (it only assigns, but names one) needs READ too.
    let group = sluice::acl::WireBinding {
        resource_type: ResourceType::Group.code(),
        resource_name: "sluice-interop-assign-only".into(),
        pattern_type: PatternType::Literal.code(),
        principal: "User:ANONYMOUS".into(),
        host: "*".into(),
        operation: Operation::Read.code(),
        permission: Permission::Allow.code(),
    };
    let group = AclBinding::from_wire(group).expect("a valid binding");
    assert_eq!(broker.broker().create_acls(vec![Ok(group)]), vec![Ok(())]);
    let consumer = assigned_consumer(
        &consumer_config(broker.bootstrap()),
        &topic,
        &[(0, Offset::Beginning)],
    );
    let received = consume_exactly(&consumer, 2);
    let values: Vec<KeyValueOffset> = received
        .into_iter()
        .map(|r| (r.key, r.value, r.offset))
        .collect();
    assert_eq!(
        values,
        [
            (Some(b"k1".to_vec()), Some(b"allowed-1".to_vec()), 0),
            (Some(b"k2".to_vec()), Some(b"allowed-2".to_vec()), 1),
        ]
    );
}

#[test]
fn a_super_user_may_do_everything_without_an_acl() {
    let broker = authorizing(&["User:ANONYMOUS"]);
    let topic = unique_topic("acl-super");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("a super user may create topics");
    let delivered = TestProducer::new(&producer_config(broker.bootstrap()))
        .send_one(&topic, &Record::value("super"));
    assert_eq!((delivered.offset, delivered.error_code()), (0, None));
    let consumer = assigned_consumer(
        &consumer_config(broker.bootstrap()),
        &topic,
        &[(0, Offset::Beginning)],
    );
    let received = consume_exactly(&consumer, 1);
    assert_eq!(received[0].value.as_deref(), Some(&b"super"[..]));
    assert!(broker.broker().acls().is_empty());
}
