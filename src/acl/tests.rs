//! The authorizer's decisions, case by case, as Kafka's `StandardAuthorizer` makes them.

use super::*;
use Operation::*;
use ResourceType::*;

fn acl(
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    principal: &str,
    host: &str,
    operation: Operation,
    permission: Permission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: host.into(),
        operation,
        permission,
    }
}

fn allow(resource_type: ResourceType, name: &str, principal: &str, op: Operation) -> AclBinding {
    acl(
        resource_type,
        name,
        PatternType::Literal,
        principal,
        "*",
        op,
        Permission::Allow,
    )
}

fn deny(resource_type: ResourceType, name: &str, principal: &str, op: Operation) -> AclBinding {
    acl(
        resource_type,
        name,
        PatternType::Literal,
        principal,
        "*",
        op,
        Permission::Deny,
    )
}

fn decide(
    acls: &[AclBinding],
    config: &AuthorizerConfig,
    principal: &str,
    host: &str,
    op: Operation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    let set = AclSet::from_bindings(acls.iter().cloned());
    Authorizer { acls: &set, config }.authorize(
        Requester { principal, host },
        op,
        resource_type,
        name,
    )
}

const ALICE: &str = "User:alice";
const BOB: &str = "User:bob";
const HOST: &str = "10.0.0.1";

/// (case, ACLs, principal, host, operation, resource type, name, allowed)
type Case = (
    &'static str,
    Vec<AclBinding>,
    &'static str,
    &'static str,
    Operation,
    ResourceType,
    &'static str,
    bool,
);

#[test]
fn the_decision_table() {
    let none = AuthorizerConfig::default();
    let cases: Vec<Case> = vec![
        (
            "no ACL at all denies",
            vec![],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "a literal ALLOW allows its operation",
            vec![allow(Topic, "t", ALICE, Read)],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            true,
        ),
        (
            "but not another operation",
            vec![allow(Topic, "t", ALICE, Read)],
            ALICE,
            HOST,
            Write,
            Topic,
            "t",
            false,
        ),
        (
            "nor another principal",
            vec![allow(Topic, "t", ALICE, Read)],
            BOB,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "nor another resource",
            vec![allow(Topic, "t", ALICE, Read), allow(Topic, "u", BOB, Read)],
            ALICE,
            HOST,
            Read,
            Topic,
            "u",
            false,
        ),
        (
            "nor another resource type of the same name",
            vec![allow(Group, "t", ALICE, Read)],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "a literal name is not a prefix",
            vec![allow(Topic, "t", ALICE, Read)],
            ALICE,
            HOST,
            Read,
            Topic,
            "tt",
            false,
        ),
        (
            "ALL allows every operation",
            vec![allow(Topic, "t", ALICE, All)],
            ALICE,
            HOST,
            AlterConfigs,
            Topic,
            "t",
            true,
        ),
        (
            "READ implies DESCRIBE",
            vec![allow(Topic, "t", ALICE, Read)],
            ALICE,
            HOST,
            Describe,
            Topic,
            "t",
            true,
        ),
        (
            "WRITE implies DESCRIBE",
            vec![allow(Topic, "t", ALICE, Write)],
            ALICE,
            HOST,
            Describe,
            Topic,
            "t",
            true,
        ),
        (
            "DELETE implies DESCRIBE",
            vec![allow(Topic, "t", ALICE, Delete)],
            ALICE,
            HOST,
            Describe,
            Topic,
            "t",
            true,
        ),
        (
            "ALTER implies DESCRIBE",
            vec![allow(Topic, "t", ALICE, Alter)],
            ALICE,
            HOST,
            Describe,
            Topic,
            "t",
            true,
        ),
        (
            "CREATE does not imply DESCRIBE",
            vec![allow(Topic, "t", ALICE, Create)],
            ALICE,
            HOST,
            Describe,
            Topic,
            "t",
            false,
        ),
        (
            "ALTER_CONFIGS implies DESCRIBE_CONFIGS",
            vec![allow(Topic, "t", ALICE, AlterConfigs)],
            ALICE,
            HOST,
            DescribeConfigs,
            Topic,
            "t",
            true,
        ),
        (
            "DESCRIBE_CONFIGS does not imply ALTER_CONFIGS",
            vec![allow(Topic, "t", ALICE, DescribeConfigs)],
            ALICE,
            HOST,
            AlterConfigs,
            Topic,
            "t",
            false,
        ),
        (
            "DESCRIBE does not imply READ",
            vec![allow(Topic, "t", ALICE, Describe)],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "DENY wins over ALLOW",
            vec![
                allow(Topic, "t", ALICE, Read),
                deny(Topic, "t", ALICE, Read),
            ],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "DENY ALL wins over ALLOW ALL",
            vec![allow(Topic, "t", ALICE, All), deny(Topic, "t", ALICE, All)],
            ALICE,
            HOST,
            Write,
            Topic,
            "t",
            false,
        ),
        (
            "a DENY of READ does not deny DESCRIBE",
            vec![
                allow(Topic, "t", ALICE, Describe),
                deny(Topic, "t", ALICE, Read),
            ],
            ALICE,
            HOST,
            Describe,
            Topic,
            "t",
            true,
        ),
        (
            "a DENY of another principal does not deny",
            vec![allow(Topic, "t", ALICE, Read), deny(Topic, "t", BOB, Read)],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            true,
        ),
        (
            "a DENY for everyone denies alice",
            vec![
                allow(Topic, "t", ALICE, Read),
                deny(Topic, "t", "User:*", Read),
            ],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "an ALLOW for User:* allows anyone",
            vec![allow(Topic, "t", "User:*", Read)],
            "User:ANONYMOUS",
            HOST,
            Read,
            Topic,
            "t",
            true,
        ),
        (
            "User:* matches principals of other types too",
            vec![allow(Topic, "t", "User:*", Read)],
            "Group:ops",
            HOST,
            Read,
            Topic,
            "t",
            true,
        ),
        (
            "the principal type counts",
            vec![allow(Topic, "t", "Group:alice", Read)],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "the wildcard resource matches every name",
            vec![allow(Topic, "*", ALICE, Read)],
            ALICE,
            HOST,
            Read,
            Topic,
            "anything",
            true,
        ),
        (
            "a wildcard DENY beats a literal ALLOW",
            vec![
                allow(Topic, "t", ALICE, Read),
                deny(Topic, "*", ALICE, Read),
            ],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "a prefixed ACL matches names it starts",
            vec![acl(
                Topic,
                "orders-",
                PatternType::Prefixed,
                ALICE,
                "*",
                Read,
                Permission::Allow,
            )],
            ALICE,
            HOST,
            Read,
            Topic,
            "orders-eu",
            true,
        ),
        (
            "and the prefix itself",
            vec![acl(
                Topic,
                "orders-",
                PatternType::Prefixed,
                ALICE,
                "*",
                Read,
                Permission::Allow,
            )],
            ALICE,
            HOST,
            Read,
            Topic,
            "orders-",
            true,
        ),
        (
            "but not a shorter name",
            vec![acl(
                Topic,
                "orders-",
                PatternType::Prefixed,
                ALICE,
                "*",
                Read,
                Permission::Allow,
            )],
            ALICE,
            HOST,
            Read,
            Topic,
            "orders",
            false,
        ),
        (
            "nor another name",
            vec![acl(
                Topic,
                "orders-",
                PatternType::Prefixed,
                ALICE,
                "*",
                Read,
                Permission::Allow,
            )],
            ALICE,
            HOST,
            Read,
            Topic,
            "payments",
            false,
        ),
        (
            "a prefixed DENY beats a literal ALLOW",
            vec![
                allow(Topic, "orders-eu", ALICE, Read),
                acl(
                    Topic,
                    "orders",
                    PatternType::Prefixed,
                    ALICE,
                    "*",
                    Read,
                    Permission::Deny,
                ),
            ],
            ALICE,
            HOST,
            Read,
            Topic,
            "orders-eu",
            false,
        ),
        (
            "a prefixed `*` is a plain prefix, not a wildcard",
            vec![acl(
                Topic,
                "*",
                PatternType::Prefixed,
                ALICE,
                "*",
                Read,
                Permission::Allow,
            )],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "an ACL from the peer's host applies",
            vec![acl(
                Topic,
                "t",
                PatternType::Literal,
                ALICE,
                HOST,
                Read,
                Permission::Allow,
            )],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            true,
        ),
        (
            "an ACL from another host does not",
            vec![acl(
                Topic,
                "t",
                PatternType::Literal,
                ALICE,
                "10.0.0.2",
                Read,
                Permission::Allow,
            )],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            false,
        ),
        (
            "a DENY from another host does not deny",
            vec![
                allow(Topic, "t", ALICE, Read),
                acl(
                    Topic,
                    "t",
                    PatternType::Literal,
                    ALICE,
                    "10.0.0.2",
                    Read,
                    Permission::Deny,
                ),
            ],
            ALICE,
            HOST,
            Read,
            Topic,
            "t",
            true,
        ),
        (
            "the cluster resource",
            vec![allow(Cluster, CLUSTER_NAME, ALICE, Create)],
            ALICE,
            HOST,
            Create,
            Cluster,
            CLUSTER_NAME,
            true,
        ),
        (
            "transactional ids",
            vec![allow(TransactionalId, "tx-1", ALICE, Write)],
            ALICE,
            HOST,
            Describe,
            TransactionalId,
            "tx-1",
            true,
        ),
    ];
    for (case, acls, principal, host, op, resource_type, name, expected) in cases {
        assert_eq!(
            decide(&acls, &none, principal, host, op, resource_type, name),
            expected,
            "{case}"
        );
    }
}

#[test]
fn super_users_may_do_everything_even_against_a_deny() {
    let config = AuthorizerConfig {
        super_users: vec!["User:admin".into()],
        allow_everyone_if_no_acl_found: false,
    };
    let acls = [deny(Topic, "t", "User:*", All)];
    assert!(decide(
        &acls,
        &config,
        "User:admin",
        HOST,
        Write,
        Topic,
        "t"
    ));
    assert!(decide(
        &[],
        &config,
        "User:admin",
        HOST,
        ClusterAction,
        Cluster,
        CLUSTER_NAME
    ));
    assert!(!decide(&acls, &config, ALICE, HOST, Write, Topic, "t"));
}

#[test]
fn allow_everyone_applies_only_where_no_acl_names_the_resource() {
    let config = AuthorizerConfig {
        super_users: Vec::new(),
        allow_everyone_if_no_acl_found: true,
    };
    // No ACL on "free": everyone may.
    assert!(decide(
        &[allow(Topic, "t", BOB, Read)],
        &config,
        ALICE,
        HOST,
        Write,
        Topic,
        "free"
    ));
    // An ACL of bob's on "t" means "t" has ACLs: alice, named by none, is refused.
    assert!(!decide(
        &[allow(Topic, "t", BOB, Read)],
        &config,
        ALICE,
        HOST,
        Read,
        Topic,
        "t"
    ));
    // A prefixed or wildcard ACL counts as naming the resource too.
    let prefixed = acl(
        Topic,
        "t",
        PatternType::Prefixed,
        BOB,
        "*",
        Read,
        Permission::Allow,
    );
    assert!(!decide(
        &[prefixed],
        &config,
        ALICE,
        HOST,
        Read,
        Topic,
        "tx"
    ));
    assert!(!decide(
        &[allow(Topic, "*", BOB, Read)],
        &config,
        ALICE,
        HOST,
        Read,
        Topic,
        "z"
    ));
}

#[test]
fn authorized_operations_are_kafkas_bit_sets() {
    let config = AuthorizerConfig::default();
    let set = AclSet::from_bindings([
        allow(Topic, "t", ALICE, Read),
        allow(Topic, "t", ALICE, AlterConfigs),
    ]);
    let authorizer = Authorizer {
        acls: &set,
        config: &config,
    };
    let who = Requester {
        principal: ALICE,
        host: HOST,
    };
    // READ 3, DESCRIBE 8 (implied), DESCRIBE_CONFIGS 10 (implied), ALTER_CONFIGS 11.
    assert_eq!(
        authorizer.authorized_operations(who, Topic, "t"),
        (1 << 3) | (1 << 8) | (1 << 10) | (1 << 11)
    );
    assert_eq!(authorizer.authorized_operations(who, Topic, "u"), 0);
    // Kafka's values without an authorizer: a topic's 8 operations, a group's 5.
    let topic_operations = [3, 4, 5, 6, 7, 8, 10, 11]
        .iter()
        .fold(0, |b, c| b | (1 << c));
    assert_eq!(all_operations(Topic), topic_operations);
    assert_eq!(
        all_operations(Group),
        (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)
    );
    assert_eq!(
        all_operations(Cluster),
        (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)
    );
}

#[test]
fn a_set_keeps_one_of_each_and_forgets_removed_prefixes() {
    let mut set = AclSet::new();
    let prefixed = acl(
        Topic,
        "ab",
        PatternType::Prefixed,
        ALICE,
        "*",
        Read,
        Permission::Allow,
    );
    assert!(set.insert(prefixed.clone()));
    assert!(!set.insert(prefixed.clone()), "a duplicate is not added");
    assert_eq!(set.len(), 1);
    assert!(set.contains(&prefixed));
    assert!(set.remove(&prefixed));
    assert!(!set.remove(&prefixed));
    assert!(set.is_empty());
    assert_eq!(set.bindings().count(), 0);
    let config = AuthorizerConfig::default();
    let authorizer = Authorizer {
        acls: &set,
        config: &config,
    };
    let who = Requester {
        principal: ALICE,
        host: HOST,
    };
    assert!(!authorizer.authorize(who, Read, Topic, "abc"));
}

#[test]
fn prefix_lookups_respect_character_boundaries_and_many_unrelated_acls() {
    let mut set = AclSet::new();
    for i in 0..10_000 {
        set.insert(allow(Topic, &format!("unrelated-{i}"), BOB, Read));
    }
    set.insert(acl(
        Topic,
        "é",
        PatternType::Prefixed,
        ALICE,
        "*",
        Read,
        Permission::Allow,
    ));
    let config = AuthorizerConfig::default();
    let authorizer = Authorizer {
        acls: &set,
        config: &config,
    };
    let who = Requester {
        principal: ALICE,
        host: HOST,
    };
    assert!(authorizer.authorize(who, Read, Topic, "été"));
    // "è" shares its first byte with "é": a byte-wise prefix walk must not cut inside it.
    assert!(!authorizer.authorize(who, Read, Topic, "\u{e8}x"));
    assert_eq!(set.len(), 10_001);
}

#[test]
fn filters_select_as_kafkas_binding_filters() {
    let literal = allow(Topic, "orders-eu", ALICE, Read);
    let wildcard = allow(Topic, "*", ALICE, Read);
    let prefixed = acl(
        Topic,
        "orders-",
        PatternType::Prefixed,
        BOB,
        "*",
        Write,
        Permission::Deny,
    );
    let group = allow(Group, "orders-eu", ALICE, Read);
    let set = AclSet::from_bindings([
        literal.clone(),
        wildcard.clone(),
        prefixed.clone(),
        group.clone(),
    ]);
    let named = |pattern: PatternFilter| AclFilter {
        resource_type: Some(Topic),
        resource_name: Some("orders-eu".into()),
        pattern,
        ..AclFilter::any()
    };
    assert_eq!(set.matching(&AclFilter::any()).len(), 4);
    assert_eq!(
        set.matching(&named(PatternFilter::Any)),
        vec![literal.clone()]
    );
    assert_eq!(
        set.matching(&named(PatternFilter::Match)),
        vec![wildcard.clone(), literal.clone(), prefixed.clone()]
    );
    assert_eq!(
        set.matching(&named(PatternFilter::Exactly(PatternType::Prefixed))),
        Vec::<AclBinding>::new()
    );
    let by_principal = AclFilter {
        principal: Some(BOB.into()),
        ..AclFilter::any()
    };
    assert_eq!(set.matching(&by_principal), vec![prefixed.clone()]);
    let by_operation = AclFilter {
        operation: Some(Read),
        permission: Some(Permission::Allow),
        resource_type: Some(Group),
        ..AclFilter::any()
    };
    assert_eq!(set.matching(&by_operation), vec![group]);
}

#[test]
fn bindings_are_validated_as_kafka_validates_creations() {
    let good = WireBinding {
        resource_type: 2,
        resource_name: "t".into(),
        pattern_type: 3,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: 3,
        permission: 3,
    };
    assert_eq!(
        AclBinding::from_wire(good.clone()).unwrap(),
        allow(Topic, "t", ALICE, Read)
    );
    let bad = [
        WireBinding {
            resource_type: 0,
            ..good.clone()
        },
        WireBinding {
            resource_type: 1,
            ..good.clone()
        },
        WireBinding {
            pattern_type: 1,
            ..good.clone()
        },
        WireBinding {
            pattern_type: 2,
            ..good.clone()
        },
        WireBinding {
            pattern_type: 0,
            ..good.clone()
        },
        WireBinding {
            operation: 0,
            ..good.clone()
        },
        WireBinding {
            operation: 1,
            ..good.clone()
        },
        WireBinding {
            permission: 1,
            ..good.clone()
        },
        WireBinding {
            permission: 0,
            ..good.clone()
        },
        WireBinding {
            resource_name: String::new(),
            ..good.clone()
        },
        WireBinding {
            resource_type: 4,
            resource_name: "other".into(),
            ..good.clone()
        },
        WireBinding {
            principal: "alice".into(),
            ..good.clone()
        },
        WireBinding {
            principal: "User:".into(),
            ..good.clone()
        },
        WireBinding {
            host: String::new(),
            ..good.clone()
        },
        WireBinding {
            resource_name: "n".repeat(ACL_FIELD_MAX_BYTES + 1),
            ..good.clone()
        },
        WireBinding {
            principal: format!("User:{}", "p".repeat(ACL_FIELD_MAX_BYTES)),
            ..good.clone()
        },
        WireBinding {
            host: "h".repeat(ACL_FIELD_MAX_BYTES + 1),
            ..good.clone()
        },
    ];
    let longest = WireBinding {
        resource_name: "n".repeat(ACL_FIELD_MAX_BYTES),
        ..good.clone()
    };
    assert!(AclBinding::from_wire(longest).is_ok());
    for wire in bad {
        assert!(AclBinding::from_wire(wire.clone()).is_err(), "{wire:?}");
    }
    assert!(AclFilter::from_wire(1, None, 1, None, None, 1, 1).is_ok());
    assert!(AclFilter::from_wire(0, None, 1, None, None, 1, 1).is_err());
    assert!(AclFilter::from_wire(1, None, 0, None, None, 1, 1).is_err());
    assert!(AclFilter::from_wire(1, None, 1, None, None, 0, 1).is_err());
    assert!(AclFilter::from_wire(1, None, 1, None, None, 1, 0).is_err());
}

#[test]
fn an_allow_anywhere_of_the_type_counts_unless_a_deny_covers_it() {
    let config = AuthorizerConfig::default();
    let who = Requester {
        principal: ALICE,
        host: HOST,
    };
    let any = |acls: Vec<AclBinding>| {
        let set = AclSet::from_bindings(acls);
        Authorizer {
            acls: &set,
            config: &config,
        }
        .authorize_any(who, Write, Topic)
    };
    assert!(!any(vec![]));
    assert!(any(vec![allow(Topic, "t", ALICE, Write)]));
    assert!(any(vec![acl(
        Topic,
        "p-",
        PatternType::Prefixed,
        ALICE,
        "*",
        All,
        Permission::Allow
    )]));
    assert!(!any(vec![allow(Topic, "t", ALICE, Read)]));
    assert!(!any(vec![allow(Group, "t", ALICE, Write)]));
    assert!(!any(vec![
        allow(Topic, "t", ALICE, Write),
        deny(Topic, "*", ALICE, Write)
    ]));
    assert!(!any(vec![
        acl(
            Topic,
            "p-",
            PatternType::Prefixed,
            ALICE,
            "*",
            Write,
            Permission::Allow
        ),
        acl(
            Topic,
            "p",
            PatternType::Prefixed,
            ALICE,
            "*",
            Write,
            Permission::Deny
        ),
    ]));
}
