//! The broker's ACLs and the one authorization step every handler calls: the ACL set behind
//! a lock, the store that persists each change before it is acknowledged, and the rules of
//! CreateAcls, DescribeAcls and DeleteAcls on a single node (Kafka's `AclControlManager`
//! and `AclApis`). With the authorizer off (the default) every check allows and the ACL
//! APIs are refused with SECURITY_DISABLED, as Kafka without an authorizer.

use std::io;
use std::sync::{Mutex, RwLock};

use super::Broker;
use crate::acl::store::AclStore;
use crate::acl::{
    all_operations, AclBinding, AclFilter, AclSet, Authorizer, AuthorizerConfig, InvalidAcl,
    Operation, Requester, ResourceType,
};
use crate::metrics::DenialLabels;
use crate::session::RequestContext;

/// The ACLs of a broker.
pub struct Acls {
    enabled: bool,
    config: AuthorizerConfig,
    max: usize,
    store: AclStore,
    set: RwLock<AclSet>,
    /// Serialises changes: each is persisted whole before it replaces the set, so two changes
    /// at once must not persist each other's half.
    changing: Mutex<()>,
}

/// Why an ACL change was refused, by Kafka's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclAdminError {
    /// No authorizer is configured (SECURITY_DISABLED).
    SecurityDisabled,
    /// A binding or filter Kafka refuses (INVALID_REQUEST).
    Invalid(String),
    /// The broker holds `acls_max` ACLs already (POLICY_VIOLATION).
    LimitReached(usize),
    /// The change could not be persisted (UNKNOWN_SERVER_ERROR).
    Storage(String),
}

impl Acls {
    /// The ACLs of `store`, loaded; blocks on the disk.
    pub fn open(
        enabled: bool,
        config: AuthorizerConfig,
        max: usize,
        store: AclStore,
    ) -> io::Result<Acls> {
        let set = AclSet::from_bindings(store.load()?);
        if !set.is_empty() {
            tracing::info!(acls = set.len(), enabled, "ACLs loaded");
        }
        Ok(Acls {
            enabled,
            config,
            max,
            store,
            set: RwLock::new(set),
            changing: Mutex::new(()),
        })
    }

    /// No authorizer and no ACLs, in memory: what unit tests of other parts build.
    pub fn disabled() -> Acls {
        Acls {
            enabled: false,
            config: AuthorizerConfig::default(),
            max: 0,
            store: AclStore::Memory,
            set: RwLock::new(AclSet::new()),
            changing: Mutex::new(()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, AclSet> {
        self.set.read().unwrap_or_else(|p| p.into_inner())
    }

    fn decide<R>(
        &self,
        context: &RequestContext<'_>,
        f: impl FnOnce(&Authorizer<'_>, Requester<'_>) -> R,
    ) -> R {
        let principal = context.principal().to_string();
        // An IPv4 client on a dual-stack socket is named by its IPv4 address, as Kafka does.
        let host = context.peer().ip().to_canonical().to_string();
        let set = self.read();
        let authorizer = Authorizer {
            acls: &set,
            config: &self.config,
        };
        f(
            &authorizer,
            Requester {
                principal: &principal,
                host: &host,
            },
        )
    }
}

impl Broker {
    pub fn acls(&self) -> &Acls {
        &self.acls
    }

    /// Whether the request's principal, from its host, may do `operation` on the resource;
    /// always true with the authorizer off. A refusal is counted and logged.
    pub fn authorize(
        &self,
        context: &RequestContext<'_>,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if !self.acls.enabled {
            return true;
        }
        let allowed = self.acls.decide(context, |authorizer, who| {
            authorizer.authorize(who, operation, resource_type, name)
        });
        if !allowed {
            self.count_denial(operation, resource_type);
            tracing::debug!(
                principal = %context.principal(),
                peer = %context.peer(),
                operation = operation.as_str(),
                resource_type = resource_type.as_str(),
                resource = name,
                "authorization denied"
            );
        }
        allowed
    }

    /// Counts a refusal in `sluice_authorization_denials_total`.
    pub fn count_denial(&self, operation: Operation, resource_type: ResourceType) {
        self.metrics()
            .authorization_denials
            .get_or_create(&DenialLabels {
                resource_type: resource_type.as_str(),
                operation: operation.as_str(),
            })
            .inc();
    }

    /// As [`Broker::authorize`], but a refusal is neither counted nor logged: for a check
    /// that another may make up for (CREATE on the cluster, else on each topic), as Kafka
    /// checks it without logging a denial.
    pub fn allows_quietly(
        &self,
        context: &RequestContext<'_>,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        !self.acls.enabled
            || self.acls.decide(context, |authorizer, who| {
                authorizer.authorize(who, operation, resource_type, name)
            })
    }

    /// Whether the request may do `operation` on some resource of the type (Kafka's
    /// `authorizeByResourceType`); not counted as a denial: the caller decides what to refuse.
    pub fn allows_any(
        &self,
        context: &RequestContext<'_>,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        !self.acls.enabled
            || self.acls.decide(context, |authorizer, who| {
                authorizer.authorize_any(who, operation, resource_type)
            })
    }

    /// Whether the request may do `operation` on the cluster.
    pub fn authorize_cluster(&self, context: &RequestContext<'_>, operation: Operation) -> bool {
        self.authorize(
            context,
            operation,
            ResourceType::Cluster,
            crate::acl::CLUSTER_NAME,
        )
    }

    /// Kafka's `authorized_operations` bit set of the resource for the request's principal:
    /// every operation of the type with the authorizer off, as Kafka without one answers.
    /// Not counted as denials: it only reports.
    pub fn authorized_operations(
        &self,
        context: &RequestContext<'_>,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        if !self.acls.enabled {
            return all_operations(resource_type);
        }
        self.acls.decide(context, |authorizer, who| {
            authorizer.authorized_operations(who, resource_type, name)
        })
    }

    /// CreateAcls: each creation stored (an existing one is left as it is) or refused, in
    /// order; the stored ones are persisted before this returns. Blocks on the disk.
    pub fn create_acls(
        &self,
        creations: Vec<Result<AclBinding, InvalidAcl>>,
    ) -> Vec<Result<(), AclAdminError>> {
        if !self.acls.enabled {
            return creations
                .iter()
                .map(|_| Err(AclAdminError::SecurityDisabled))
                .collect();
        }
        let _changing = self.acls.changing.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.acls.read().clone();
        // Per creation: refused, found already there (false) or added (true).
        let outcomes: Vec<Result<bool, AclAdminError>> = creations
            .into_iter()
            .map(|creation| {
                let binding = creation.map_err(|e| AclAdminError::Invalid(e.0))?;
                if next.contains(&binding) {
                    return Ok(false);
                }
                if next.len() >= self.acls.max {
                    return Err(AclAdminError::LimitReached(self.acls.max));
                }
                next.insert(binding);
                Ok(true)
            })
            .collect();
        let persisted = if outcomes.iter().any(|o| o == &Ok(true)) {
            let saved = self.acls.store.save(next.bindings().collect());
            if saved.is_ok() {
                *self.acls.set.write().unwrap_or_else(|p| p.into_inner()) = next;
            }
            saved.map_err(|e| {
                tracing::error!(error = %e, "cannot persist the ACLs; the creations are refused");
                AclAdminError::Storage(e.to_string())
            })
        } else {
            Ok(())
        };
        outcomes
            .into_iter()
            .map(|outcome| match outcome? {
                true => persisted.clone(),
                false => Ok(()),
            })
            .collect()
    }

    /// DescribeAcls: the ACLs `filter` selects.
    pub fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, AclAdminError> {
        if !self.acls.enabled {
            return Err(AclAdminError::SecurityDisabled);
        }
        Ok(self.acls.read().matching(filter))
    }

    /// DeleteAcls: for each filter, the ACLs it selected and that were deleted (an ACL two
    /// filters select is deleted by the first); persisted before this returns. Blocks on the
    /// disk.
    pub fn delete_acls(
        &self,
        filters: &[AclFilter],
    ) -> Result<Vec<Vec<AclBinding>>, AclAdminError> {
        if !self.acls.enabled {
            return Err(AclAdminError::SecurityDisabled);
        }
        let _changing = self.acls.changing.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.acls.read().clone();
        let deleted: Vec<Vec<AclBinding>> = filters
            .iter()
            .map(|filter| {
                let matched = next.matching(filter);
                for binding in &matched {
                    next.remove(binding);
                }
                matched
            })
            .collect();
        if deleted.iter().all(Vec::is_empty) {
            return Ok(deleted);
        }
        self.acls
            .store
            .save(next.bindings().collect())
            .map_err(|e| {
                tracing::error!(error = %e, "cannot persist the ACLs; the deletions are refused");
                AclAdminError::Storage(e.to_string())
            })?;
        *self.acls.set.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(deleted)
    }
}
