//! Authorization: the ACLs and the decisions made from them, as Kafka's `StandardAuthorizer`
//! makes them. Pure: no tokio, no I/O except [`store`], which the broker calls off the async
//! workers.
//!
//! - [`model`]: resource types, pattern types, operations and permissions with Kafka's codes,
//!   a binding (one ACL) and the filters DescribeAcls and DeleteAcls select with;
//! - [`AclSet`]: the ACLs, indexed by resource type and name so a decision looks at the ACLs
//!   of that resource only (an exact name, the `*` wildcard, and the prefixes in use);
//! - [`Authorizer`]: a decision for a principal, host, operation and resource — super users,
//!   DENY over ALLOW, the operations an ALLOW implies, and what to do where no ACL applies;
//! - [`store`]: the ACLs of a data directory, in one file replaced whole.

pub mod model;
pub mod store;

use std::collections::{BTreeMap, HashMap};

pub use model::{
    AclBinding, AclFilter, InvalidAcl, Operation, PatternFilter, PatternType, Permission,
    ResourceType, WireBinding, ACL_FIELD_MAX_BYTES, CLUSTER_NAME, WILDCARD_HOST,
    WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};

/// What an ACL says once its resource matched: who, from where, what, allow or deny.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Entry {
    principal: String,
    host: String,
    operation: Operation,
    permission: Permission,
}

/// The ACLs of one resource type whose patterns are of one type, by the pattern's name.
#[derive(Debug, Default, Clone)]
struct PatternIndex {
    by_name: HashMap<String, Vec<Entry>>,
    /// How many names of each length (in bytes) hold ACLs: a prefix lookup tries only the
    /// prefixes of a name at these lengths, so it costs the number of distinct prefix
    /// lengths in use, not the number of ACLs.
    lengths: BTreeMap<usize, usize>,
}

impl PatternIndex {
    fn insert(&mut self, name: &str, entry: Entry) -> bool {
        let entries = self.by_name.entry(name.to_string()).or_default();
        if entries.contains(&entry) {
            return false;
        }
        if entries.is_empty() {
            *self.lengths.entry(name.len()).or_default() += 1;
        }
        entries.push(entry);
        true
    }

    fn remove(&mut self, name: &str, entry: &Entry) -> bool {
        let Some(entries) = self.by_name.get_mut(name) else {
            return false;
        };
        let before = entries.len();
        entries.retain(|e| e != entry);
        let removed = entries.len() != before;
        if entries.is_empty() {
            self.by_name.remove(name);
            if let Some(count) = self.lengths.get_mut(&name.len()) {
                *count -= 1;
                if *count == 0 {
                    self.lengths.remove(&name.len());
                }
            }
        }
        removed
    }

    fn exact(&self, name: &str) -> &[Entry] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// The entries of every name that is a prefix of `name` (`name` itself included).
    fn prefixes_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.lengths
            .range(..=name.len())
            .filter(move |(&length, _)| name.is_char_boundary(length))
            .flat_map(move |(&length, _)| self.exact(&name[..length]))
    }
}

/// Every ACL, indexed for decisions.
#[derive(Debug, Default, Clone)]
pub struct AclSet {
    literal: HashMap<ResourceType, PatternIndex>,
    prefixed: HashMap<ResourceType, PatternIndex>,
    len: usize,
}

impl AclSet {
    pub fn new() -> AclSet {
        AclSet::default()
    }

    /// A set of `bindings` (duplicates counted once).
    pub fn from_bindings(bindings: impl IntoIterator<Item = AclBinding>) -> AclSet {
        let mut set = AclSet::new();
        for binding in bindings {
            set.insert(binding);
        }
        set
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn index_mut(
        &mut self,
        resource_type: ResourceType,
        pattern: PatternType,
    ) -> &mut PatternIndex {
        match pattern {
            PatternType::Literal => self.literal.entry(resource_type).or_default(),
            PatternType::Prefixed => self.prefixed.entry(resource_type).or_default(),
        }
    }

    /// Adds `binding`; false if it was already there (Kafka keeps one of each).
    pub fn insert(&mut self, binding: AclBinding) -> bool {
        let (resource_type, pattern, name, entry) = split(binding);
        let added = self.index_mut(resource_type, pattern).insert(&name, entry);
        self.len += usize::from(added);
        added
    }

    /// Removes `binding`; false if it was not there.
    pub fn remove(&mut self, binding: &AclBinding) -> bool {
        let (resource_type, pattern, name, entry) = split(binding.clone());
        let removed = self.index_mut(resource_type, pattern).remove(&name, &entry);
        self.len -= usize::from(removed);
        removed
    }

    pub fn contains(&self, binding: &AclBinding) -> bool {
        let index = match binding.pattern_type {
            PatternType::Literal => self.literal.get(&binding.resource_type),
            PatternType::Prefixed => self.prefixed.get(&binding.resource_type),
        };
        let (_, _, name, entry) = split(binding.clone());
        index.is_some_and(|i| i.exact(&name).contains(&entry))
    }

    /// Every ACL, in no particular order.
    pub fn bindings(&self) -> impl Iterator<Item = AclBinding> + '_ {
        let literal = self
            .literal
            .iter()
            .map(|(t, i)| (*t, PatternType::Literal, i));
        let prefixed = self
            .prefixed
            .iter()
            .map(|(t, i)| (*t, PatternType::Prefixed, i));
        literal
            .chain(prefixed)
            .flat_map(|(resource_type, pattern_type, index)| {
                index.by_name.iter().flat_map(move |(name, entries)| {
                    entries.iter().map(move |e| AclBinding {
                        resource_type,
                        resource_name: name.clone(),
                        pattern_type,
                        principal: e.principal.clone(),
                        host: e.host.clone(),
                        operation: e.operation,
                        permission: e.permission,
                    })
                })
            })
    }

    /// The ACLs `filter` selects, sorted so answers read the same each time.
    pub fn matching(&self, filter: &AclFilter) -> Vec<AclBinding> {
        let mut found: Vec<AclBinding> = self.bindings().filter(|b| filter.matches(b)).collect();
        found.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        found
    }

    /// The entries whose pattern matches the resource: its literal name, the literal `*`, and
    /// every prefixed pattern that is a prefix of the name.
    fn applying<'a>(
        &'a self,
        resource_type: ResourceType,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        let literal = self.literal.get(&resource_type);
        let exact = literal.map_or(&[][..], |i| i.exact(name));
        let wildcard = match literal {
            Some(i) if name != WILDCARD_RESOURCE => i.exact(WILDCARD_RESOURCE),
            _ => &[],
        };
        let prefixed = self
            .prefixed
            .get(&resource_type)
            .into_iter()
            .flat_map(move |i| i.prefixes_of(name));
        exact.iter().chain(wildcard).chain(prefixed)
    }
}

fn split(binding: AclBinding) -> (ResourceType, PatternType, String, Entry) {
    (
        binding.resource_type,
        binding.pattern_type,
        binding.resource_name,
        Entry {
            principal: binding.principal,
            host: binding.host,
            operation: binding.operation,
            permission: binding.permission,
        },
    )
}

type SortKey<'a> = (
    ResourceType,
    PatternType,
    &'a str,
    &'a str,
    &'a str,
    Operation,
    Permission,
);

fn sort_key(b: &AclBinding) -> SortKey<'_> {
    (
        b.resource_type,
        b.pattern_type,
        &b.resource_name,
        &b.principal,
        &b.host,
        b.operation,
        b.permission,
    )
}

/// How the authorizer decides, beside the ACLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Principals (`User:admin`) allowed everything, whatever the ACLs say.
    pub super_users: Vec<String>,
    /// Allow an operation on a resource no ACL applies to (Kafka's
    /// `allow.everyone.if.no.acl.found`, false by default: then only ACLs allow).
    pub allow_everyone_if_no_acl_found: bool,
}

/// Who asks: the principal as `type:name` and the host as the peer's IP address printed.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub principal: &'a str,
    pub host: &'a str,
}

/// Decides from an [`AclSet`], as Kafka's `StandardAuthorizerData.authorize`.
pub struct Authorizer<'a> {
    pub acls: &'a AclSet,
    pub config: &'a AuthorizerConfig,
}

impl Authorizer<'_> {
    /// Whether `who` may do `operation` on the resource `resource_type` `name`: a super user
    /// may do everything; otherwise a matching DENY refuses, whatever allows; a matching
    /// ALLOW (of the operation, of ALL or of one implying it) allows; and when no ACL at all
    /// applies to the resource, `allow_everyone_if_no_acl_found` decides.
    pub fn authorize(
        &self,
        who: Requester<'_>,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.config.super_users.iter().any(|s| s == who.principal) {
            return true;
        }
        let mut any_acl = false;
        let mut allowed = false;
        for entry in self.acls.applying(resource_type, name) {
            any_acl = true;
            if !(entry.principal == who.principal || entry.principal == WILDCARD_PRINCIPAL) {
                continue;
            }
            if !(entry.host == WILDCARD_HOST || entry.host == who.host) {
                continue;
            }
            match entry.permission {
                Permission::Deny => {
                    if entry.operation == Operation::All || entry.operation == operation {
                        return false;
                    }
                }
                Permission::Allow => allowed |= entry.operation.allows(operation),
            }
        }
        if !any_acl {
            return self.config.allow_everyone_if_no_acl_found;
        }
        allowed
    }

    /// Whether `who` may do `operation` on at least one resource of the type, as Kafka's
    /// `authorizeByResourceType` answers (an idempotent producer needs WRITE on some topic):
    /// some ALLOW of theirs names a pattern that a DENY does not cover, or, with no ACL of the
    /// type at all, `allow_everyone_if_no_acl_found`. Walks the type's ACLs: for rare requests.
    pub fn authorize_any(
        &self,
        who: Requester<'_>,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.config.super_users.iter().any(|s| s == who.principal) {
            return true;
        }
        let indexes = [
            self.acls.literal.get(&resource_type),
            self.acls.prefixed.get(&resource_type),
        ];
        let mut any_acl = false;
        for index in indexes.into_iter().flatten() {
            for (name, entries) in &index.by_name {
                any_acl |= !entries.is_empty();
                let allows = entries.iter().any(|e| {
                    e.permission == Permission::Allow
                        && (e.principal == who.principal || e.principal == WILDCARD_PRINCIPAL)
                        && (e.host == WILDCARD_HOST || e.host == who.host)
                        && e.operation.allows(operation)
                });
                // The pattern's own name stands for the resources it names: allowed there,
                // no DENY (literal, wildcard or a shorter prefix) takes it away.
                if allows && self.authorize(who, operation, resource_type, name) {
                    return true;
                }
            }
        }
        !any_acl && self.config.allow_everyone_if_no_acl_found
    }

    /// Kafka's `authorized_operations` bit set for one resource: bit `code` set for each
    /// operation of the resource type's that `who` may do.
    pub fn authorized_operations(
        &self,
        who: Requester<'_>,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        Operation::supported_by(resource_type)
            .iter()
            .filter(|&&op| self.authorize(who, op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }
}

/// Every operation of a resource type as a bit set: what a broker without an authorizer
/// reports in `authorized_operations`.
pub fn all_operations(resource_type: ResourceType) -> i32 {
    Operation::supported_by(resource_type)
        .iter()
        .fold(0, |bits, op| bits | (1 << op.code()))
}

#[cfg(test)]
mod tests;
