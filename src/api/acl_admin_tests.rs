//! CreateAcls, DescribeAcls and DeleteAcls through their handlers: Kafka's answers without an
//! authorizer, validation, the cluster permissions they need, the ACLs a delete reports, and
//! ACLs that outlive a restart. Every answer is also encoded in its version.

use bytes::BytesMut;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use kafka_protocol::ResponseError;

use super::{create_acls, delete_acls, describe_acls, str_bytes};
use crate::config::Config;
use crate::node::Node;
use crate::session::{Principal, RequestContext, Session, PLAINTEXT_LISTENER};

fn session_of(principal: Principal) -> Session {
    let mut session = Session::new(PLAINTEXT_LISTENER, "127.0.0.1:5000".parse().unwrap());
    session.set_principal(principal);
    session
}

fn encodes<M: Encodable>(message: &M, version: i16) {
    let mut buf = BytesMut::new();
    message
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("v{version} does not encode: {e}"));
}

fn authorizing() -> Config {
    Config {
        authorizer: true,
        super_users: vec!["User:admin".into()],
        ..Config::for_tests()
    }
}

/// ALLOW `principal` `operation` on the LITERAL topic `name`, from any host.
fn creation(name: &str, principal: &str, operation: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(str_bytes(name))
        .with_resource_pattern_type(3)
        .with_principal(str_bytes(principal))
        .with_host(str_bytes("*"))
        .with_operation(operation)
        .with_permission_type(3)
}

fn any_filter() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(1)
        .with_pattern_type_filter(1)
        .with_operation(1)
        .with_permission_type(1)
}

fn delete_filter(name: Option<&str>) -> DeleteAclsFilter {
    DeleteAclsFilter::default()
        .with_resource_type_filter(2)
        .with_resource_name_filter(name.map(str_bytes))
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_pattern_type_filter(1)
        .with_operation(1)
        .with_permission_type(1)
}

/// (type, name, pattern, principal, host, operation, permission) of every ACL described.
fn described(r: &DescribeAclsResponse) -> Vec<(i8, String, i8, String, String, i8, i8)> {
    r.resources
        .iter()
        .flat_map(|res| {
            res.acls.iter().map(|a| {
                (
                    res.resource_type,
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

#[tokio::test]
async fn without_an_authorizer_the_acl_apis_answer_security_disabled() {
    let node = Node::start(Config::for_tests()).await.unwrap();
    let broker = node.broker().clone();
    let session = session_of(Principal::anonymous());
    let context = RequestContext::new(&session, "test");
    let disabled = ResponseError::SecurityDisabled.code();
    for version in 1..=3 {
        let r = describe_acls::handle(&broker, &context, version, any_filter()).await;
        encodes(&r, version);
        assert_eq!(r.error_code, disabled);
        let create = CreateAclsRequest::default()
            .with_creations(vec![creation("t", "User:a", 3), creation("u", "User:a", 4)]);
        let r = create_acls::handle(&broker, &context, version, create).await;
        encodes(&r, version);
        let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, [disabled, disabled]);
        let delete = DeleteAclsRequest::default().with_filters(vec![delete_filter(None)]);
        let r = delete_acls::handle(&broker, &context, version, delete).await;
        encodes(&r, version);
        assert_eq!(r.filter_results.len(), 1);
        assert_eq!(r.filter_results[0].error_code, disabled);
    }
    assert!(broker.acls().is_empty());
    node.shutdown().await;
}

#[tokio::test]
async fn acls_are_created_described_and_deleted_by_a_principal_allowed_to() {
    let node = Node::start(authorizing()).await.unwrap();
    let broker = node.broker().clone();
    let admin = session_of(Principal::user("admin"));
    let admin = RequestContext::new(&admin, "test");

    let bad_cluster_name = AclCreation::default()
        .with_resource_type(4)
        .with_resource_name(str_bytes("other"))
        .with_resource_pattern_type(3)
        .with_principal(str_bytes("User:a"))
        .with_host(str_bytes("*"))
        .with_operation(7)
        .with_permission_type(3);
    let create = CreateAclsRequest::default().with_creations(vec![
        creation("orders", "User:alice", 3),
        creation("orders", "User:alice", 3), // the same again: no second copy
        creation("orders", "alice", 3),      // no principal type
        creation("orders", "User:bob", 1),   // ANY is a filter's, not a binding's
        bad_cluster_name,
        creation("payments", "User:bob", 4),
    ]);
    let r = create_acls::handle(&broker, &admin, 3, create).await;
    encodes(&r, 3);
    let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
    let invalid = ResponseError::InvalidRequest.code();
    assert_eq!(codes, [0, 0, invalid, invalid, invalid, 0]);
    assert_eq!(broker.acls().len(), 2);

    let r = describe_acls::handle(&broker, &admin, 1, any_filter()).await;
    encodes(&r, 1);
    assert_eq!(r.error_code, 0);
    assert_eq!(
        described(&r),
        [
            (2, "orders".into(), 3, "User:alice".into(), "*".into(), 3, 3),
            (2, "payments".into(), 3, "User:bob".into(), "*".into(), 4, 3),
        ]
    );
    let by_name = any_filter()
        .with_resource_type_filter(2)
        .with_resource_name_filter(Some(str_bytes("payments")));
    let r = describe_acls::handle(&broker, &admin, 2, by_name).await;
    assert_eq!(described(&r).len(), 1);
    assert_eq!(r.resources[0].resource_name.as_str(), "payments");
    let unknown = any_filter().with_operation(0);
    let r = describe_acls::handle(&broker, &admin, 2, unknown).await;
    assert_eq!(r.error_code, invalid);

    // Someone who is not allowed ALTER / DESCRIBE on the cluster.
    let alice = session_of(Principal::user("alice"));
    let alice = RequestContext::new(&alice, "test");
    let cluster_denied = ResponseError::ClusterAuthorizationFailed.code();
    let r = describe_acls::handle(&broker, &alice, 3, any_filter()).await;
    assert_eq!(r.error_code, cluster_denied);
    let create = CreateAclsRequest::default().with_creations(vec![creation("x", "User:alice", 2)]);
    let r = create_acls::handle(&broker, &alice, 3, create).await;
    assert_eq!(r.results[0].error_code, cluster_denied);
    let delete = DeleteAclsRequest::default().with_filters(vec![delete_filter(None)]);
    let r = delete_acls::handle(&broker, &alice, 3, delete).await;
    assert_eq!(r.filter_results[0].error_code, cluster_denied);
    assert_eq!(broker.acls().len(), 2, "nothing changed");

    // Each filter reports what it deleted; a later filter finds nothing left.
    let delete = DeleteAclsRequest::default().with_filters(vec![
        delete_filter(Some("orders")),
        delete_filter(Some("nothing")),
        delete_filter(None),
    ]);
    let r = delete_acls::handle(&broker, &admin, 2, delete).await;
    encodes(&r, 2);
    let matched: Vec<Vec<(String, String, i8)>> = r
        .filter_results
        .iter()
        .map(|f| {
            assert_eq!(f.error_code, 0);
            f.matching_acls
                .iter()
                .map(|a| {
                    assert_eq!((a.error_code, a.resource_type, a.pattern_type), (0, 2, 3));
                    (
                        a.resource_name.to_string(),
                        a.principal.to_string(),
                        a.operation,
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(
        matched,
        [
            vec![("orders".to_string(), "User:alice".to_string(), 3)],
            vec![],
            vec![("payments".to_string(), "User:bob".to_string(), 4)],
        ]
    );
    assert!(broker.acls().is_empty());
    node.shutdown().await;
}

#[tokio::test]
async fn the_number_of_acls_and_of_creations_per_request_is_bounded() {
    let config = Config {
        acls_max: 2,
        acls_max_per_request: 3,
        ..authorizing()
    };
    let node = Node::start(config).await.unwrap();
    let broker = node.broker().clone();
    let admin = session_of(Principal::user("admin"));
    let admin = RequestContext::new(&admin, "test");
    let create = CreateAclsRequest::default().with_creations(vec![
        creation("a", "User:x", 3),
        creation("b", "User:x", 3),
        creation("c", "User:x", 3),
    ]);
    let r = create_acls::handle(&broker, &admin, 3, create).await;
    let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, 0, ResponseError::PolicyViolation.code()]);
    let create = CreateAclsRequest::default().with_creations(vec![creation("a", "User:x", 3); 4]);
    let r = create_acls::handle(&broker, &admin, 3, create).await;
    assert!(r
        .results
        .iter()
        .all(|r| r.error_code == ResponseError::InvalidRequest.code()));
    assert_eq!(broker.acls().len(), 2);
    node.shutdown().await;
}

#[tokio::test]
async fn acls_outlive_a_restart_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        memory: false,
        data_dir: dir.path().to_path_buf(),
        ..authorizing()
    };
    let admin = session_of(Principal::user("admin"));
    let admin = RequestContext::new(&admin, "test");
    {
        let node = Node::start(config.clone()).await.unwrap();
        let create = CreateAclsRequest::default().with_creations(vec![
            creation("orders", "User:alice", 3),
            creation("payments", "User:bob", 4),
        ]);
        let r = create_acls::handle(node.broker(), &admin, 3, create).await;
        assert!(r.results.iter().all(|r| r.error_code == 0));
        let delete =
            DeleteAclsRequest::default().with_filters(vec![delete_filter(Some("payments"))]);
        let r = delete_acls::handle(node.broker(), &admin, 3, delete).await;
        assert_eq!(r.filter_results[0].matching_acls.len(), 1);
        node.shutdown().await;
    }
    let node = Node::start(config).await.unwrap();
    let r = describe_acls::handle(node.broker(), &admin, 3, any_filter()).await;
    assert_eq!(
        described(&r),
        [(2, "orders".into(), 3, "User:alice".into(), "*".into(), 3, 3)]
    );
    node.shutdown().await;
}
