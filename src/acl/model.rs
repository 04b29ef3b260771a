//! The words of an ACL, with Kafka's wire codes: what resource it is about and how its name
//! matches (`ResourceType`, `PatternType`), who and from where (`principal`, `host`), what
//! may or may not be done (`Operation`, `Permission`), and the filters DescribeAcls and
//! DeleteAcls select ACLs with. Kafka's `AclBinding`, `AclBindingFilter` and their enums.

use serde::{Deserialize, Serialize};

/// The resource name that, in a LITERAL binding, matches every resource of its type.
pub const WILDCARD_RESOURCE: &str = "*";
/// The principal that matches every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The host that matches every host.
pub const WILDCARD_HOST: &str = "*";
/// The only name a CLUSTER resource has.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// The longest resource name, principal or host a binding may have, in bytes. Kafka has no
/// such limit; here a client may not fill memory with a few huge ACLs, and a prefix lookup
/// walks at most this many lengths.
pub const ACL_FIELD_MAX_BYTES: usize = 4096;

/// Kafka's `ResourceType` codes: UNKNOWN 0 and ANY 1 exist only on the wire (ANY in filters).
pub const RESOURCE_ANY: i8 = 1;
/// Kafka's `PatternType` codes: ANY 1 and MATCH 2 exist only in filters.
pub const PATTERN_ANY: i8 = 1;
pub const PATTERN_MATCH: i8 = 2;
/// Kafka's `AclOperation.ANY` and `AclPermissionType.ANY`, for filters.
pub const OPERATION_ANY: i8 = 1;
pub const PERMISSION_ANY: i8 = 1;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant = $code),*
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The value of a wire code, `None` for UNKNOWN, ANY and codes Kafka does not have.
            pub fn from_code(code: i8) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }

            pub fn code(self) -> i8 {
                self as i8
            }

            /// Kafka's name of the value, e.g. `TOPIC`, `DESCRIBE_CONFIGS`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }
    };
}

wire_enum!(
    /// What kind of resource an ACL is about.
    ResourceType {
        Topic = 2, "TOPIC",
        Group = 3, "GROUP",
        Cluster = 4, "CLUSTER",
        TransactionalId = 5, "TRANSACTIONAL_ID",
        DelegationToken = 6, "DELEGATION_TOKEN",
        User = 7, "USER",
    }
);

wire_enum!(
    /// How an ACL's resource name matches a resource's: the whole name (or `*`, every
    /// resource), or a prefix of it.
    PatternType {
        Literal = 3, "LITERAL",
        Prefixed = 4, "PREFIXED",
    }
);

wire_enum!(
    /// What an ACL allows or denies.
    Operation {
        All = 2, "ALL",
        Read = 3, "READ",
        Write = 4, "WRITE",
        Create = 5, "CREATE",
        Delete = 6, "DELETE",
        Alter = 7, "ALTER",
        Describe = 8, "DESCRIBE",
        ClusterAction = 9, "CLUSTER_ACTION",
        DescribeConfigs = 10, "DESCRIBE_CONFIGS",
        AlterConfigs = 11, "ALTER_CONFIGS",
        IdempotentWrite = 12, "IDEMPOTENT_WRITE",
        CreateTokens = 13, "CREATE_TOKENS",
        DescribeTokens = 14, "DESCRIBE_TOKENS",
        TwoPhaseCommit = 15, "TWO_PHASE_COMMIT",
    }
);

wire_enum!(
    /// Whether a matching ACL allows or denies.
    Permission {
        Deny = 2, "DENY",
        Allow = 3, "ALLOW",
    }
);

impl Operation {
    /// Whether an ALLOW of `self` allows `wanted`: itself, everything for ALL, and DESCRIBE
    /// (DESCRIBE_CONFIGS) for the operations that need to see the resource first, as Kafka's
    /// `StandardAuthorizerData` implies them. A DENY never implies: it denies only its own
    /// operation (or every one, for ALL).
    pub fn allows(self, wanted: Operation) -> bool {
        use Operation::*;
        self == All
            || self == wanted
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }

    /// The operations Kafka reports in `authorized_operations` for a resource type, in code
    /// order (Kafka's `AclEntry.supportedOperations`).
    pub fn supported_by(resource_type: ResourceType) -> &'static [Operation] {
        use Operation::*;
        match resource_type {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            // Kafka 4 gives groups configs too (KIP-848).
            ResourceType::Group => &[Read, Delete, Describe, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                Alter,
                Describe,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
            ],
            ResourceType::TransactionalId => &[Write, Describe, TwoPhaseCommit],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
        }
    }
}

/// One ACL: `principal` from `host` is allowed or denied `operation` on the resources of
/// `resource_type` whose name matches `resource_name` by `pattern_type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `type:name`, e.g. `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// An IP address as the broker prints a peer's, or `*`.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// Why a binding sent in CreateAcls cannot be stored, as Kafka's `AclControlManager` and
/// `AclApis` word it; answered INVALID_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAcl(pub String);

/// The codes of a binding as the wire carries them, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

impl AclBinding {
    /// The binding a CreateAcls creation asks for, or why it cannot be one: UNKNOWN or ANY
    /// codes, MATCH, an empty name, a CLUSTER not named `kafka-cluster`, a principal without
    /// a type (Kafka's `AclControlManager.validateNewAcl` and `AclApis.createAcls`).
    pub fn from_wire(wire: WireBinding) -> Result<AclBinding, InvalidAcl> {
        let resource_type = ResourceType::from_code(wire.resource_type)
            .ok_or_else(|| InvalidAcl(format!("Invalid resourceType {}", wire.resource_type)))?;
        let pattern_type = PatternType::from_code(wire.pattern_type)
            .ok_or_else(|| InvalidAcl(format!("Invalid patternType {}", wire.pattern_type)))?;
        let operation = Operation::from_code(wire.operation)
            .ok_or_else(|| InvalidAcl(format!("Invalid operation {}", wire.operation)))?;
        let permission = Permission::from_code(wire.permission)
            .ok_or_else(|| InvalidAcl(format!("Invalid permissionType {}", wire.permission)))?;
        if wire.resource_name.is_empty() {
            return Err(InvalidAcl("Resource name should not be empty".into()));
        }
        for (field, value) in [
            ("resource name", &wire.resource_name),
            ("principal", &wire.principal),
            ("host", &wire.host),
        ] {
            if value.len() > ACL_FIELD_MAX_BYTES {
                return Err(InvalidAcl(format!(
                    "The {field} is {} bytes long; at most {ACL_FIELD_MAX_BYTES} are accepted",
                    value.len()
                )));
            }
        }
        if resource_type == ResourceType::Cluster && wire.resource_name != CLUSTER_NAME {
            return Err(InvalidAcl(format!(
                "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
            )));
        }
        match wire.principal.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
            _ => {
                return Err(InvalidAcl(format!(
                    "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
                    wire.principal
                )))
            }
        }
        if wire.host.is_empty() {
            return Err(InvalidAcl(
                "Invalid host: the host must not be empty".into(),
            ));
        }
        Ok(AclBinding {
            resource_type,
            resource_name: wire.resource_name,
            pattern_type,
            principal: wire.principal,
            host: wire.host,
            operation,
            permission,
        })
    }
}

/// How a filter selects resource patterns (Kafka's `PatternType` in a filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    /// Patterns of any type whose name is the filter's.
    Any,
    /// Patterns that would match a resource of the filter's name: the literal name, the
    /// literal wildcard, and every prefix of it.
    Match,
    /// Patterns of exactly this type.
    Exactly(PatternType),
}

/// A DescribeAcls or DeleteAcls filter: each `None` matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// The filter the wire codes spell, or why not: UNKNOWN (or codes Kafka lacks) in any
    /// field (Kafka refuses a filter with UNKNOWN elements).
    #[allow(clippy::too_many_arguments)]
    pub fn from_wire(
        resource_type: i8,
        resource_name: Option<String>,
        pattern_type: i8,
        principal: Option<String>,
        host: Option<String>,
        operation: i8,
        permission: i8,
    ) -> Result<AclFilter, InvalidAcl> {
        let resource_type = match resource_type {
            RESOURCE_ANY => None,
            code => Some(ResourceType::from_code(code).ok_or_else(|| {
                InvalidAcl(format!("The filter has an unknown resourceType {code}"))
            })?),
        };
        let pattern = match pattern_type {
            PATTERN_ANY => PatternFilter::Any,
            PATTERN_MATCH => PatternFilter::Match,
            code => PatternFilter::Exactly(PatternType::from_code(code).ok_or_else(|| {
                InvalidAcl(format!("The filter has an unknown patternType {code}"))
            })?),
        };
        let operation = match operation {
            OPERATION_ANY => None,
            code => Some(Operation::from_code(code).ok_or_else(|| {
                InvalidAcl(format!("The filter has an unknown operation {code}"))
            })?),
        };
        let permission = match permission {
            PERMISSION_ANY => None,
            code => Some(Permission::from_code(code).ok_or_else(|| {
                InvalidAcl(format!("The filter has an unknown permissionType {code}"))
            })?),
        };
        Ok(AclFilter {
            resource_type,
            resource_name,
            pattern,
            principal,
            host,
            operation,
            permission,
        })
    }

    /// A filter matching every ACL.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: None,
            resource_name: None,
            pattern: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: None,
        }
    }

    /// Whether `binding` is selected, as Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_resource(binding)
            && self
                .principal
                .as_ref()
                .is_none_or(|p| *p == binding.principal)
            && self.host.as_ref().is_none_or(|h| *h == binding.host)
            && self.operation.is_none_or(|o| o == binding.operation)
            && self.permission.is_none_or(|p| p == binding.permission)
    }

    fn matches_resource(&self, binding: &AclBinding) -> bool {
        if self
            .resource_type
            .is_some_and(|t| t != binding.resource_type)
        {
            return false;
        }
        if let PatternFilter::Exactly(pattern) = self.pattern {
            if pattern != binding.pattern_type {
                return false;
            }
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        match self.pattern {
            PatternFilter::Any | PatternFilter::Exactly(_) => *name == binding.resource_name,
            PatternFilter::Match => match binding.pattern_type {
                PatternType::Literal => {
                    *name == binding.resource_name || binding.resource_name == WILDCARD_RESOURCE
                }
                PatternType::Prefixed => name.starts_with(&binding.resource_name),
            },
        }
    }
}
