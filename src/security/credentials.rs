//! The users' SCRAM credentials: from `sasl_users` at each start, and from
//! AlterUserScramCredentials, which in disk mode persists them in `scram_credentials.json`
//! in the data directory (a temporary file, fsynced, renamed over it, the directory
//! fsynced). Only salts and derived keys are kept, never a password.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::scram::{ScramCredential, ScramMechanism, ITERATIONS_DEFAULT};
use crate::config::SaslUsers;

const FILE_NAME: &str = "scram_credentials.json";
/// Users the store holds at most: each is a client-made entry (AlterUserScramCredentials).
pub const USERS_MAX: usize = 100_000;

type UserCredentials = BTreeMap<ScramMechanism, ScramCredential>;

/// One change of an AlterUserScramCredentials request, checked by the caller.
#[derive(Debug, Clone)]
pub enum CredentialChange {
    Delete {
        user: String,
        mechanism: ScramMechanism,
    },
    Upsert {
        user: String,
        mechanism: ScramMechanism,
        credential: ScramCredential,
    },
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialError {
    /// Deleting a credential the user does not have.
    NotFound,
    /// The store is full.
    TooManyUsers,
}

#[derive(Debug)]
pub struct CredentialStore {
    users: RwLock<BTreeMap<String, UserCredentials>>,
    /// Where changes persist; none in memory mode.
    dir: Option<PathBuf>,
}

impl CredentialStore {
    /// The store of `dir` (its file read when there is one), or an empty one in memory.
    pub fn open(dir: Option<&Path>) -> io::Result<CredentialStore> {
        let users = match dir {
            Some(dir) => match fs::read(dir.join(FILE_NAME)) {
                Ok(bytes) => parse(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", dir.join(FILE_NAME).display()),
                    )
                })?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
                Err(e) => return Err(e),
            },
            None => BTreeMap::new(),
        };
        Ok(CredentialStore {
            users: RwLock::new(users),
            dir: dir.map(Path::to_path_buf),
        })
    }

    /// Gives each `NAME:PASSWORD` user both SCRAM credentials (fresh salts), replacing what
    /// the store had for them. Kept in memory: they come from the settings at every start.
    pub fn apply_users(&self, users: &SaslUsers) -> io::Result<()> {
        let mut made = Vec::new();
        for (name, password) in users.entries().flatten() {
            let mut credentials = UserCredentials::new();
            for mechanism in ScramMechanism::ALL {
                credentials.insert(
                    mechanism,
                    ScramCredential::from_password(mechanism, password, ITERATIONS_DEFAULT)?,
                );
            }
            made.push((name.to_string(), credentials));
        }
        let mut held = self.write();
        held.extend(made);
        Ok(())
    }

    pub fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.read().get(user)?.get(&mechanism).cloned()
    }

    /// Some credential of `user` for PLAIN: SCRAM-SHA-256's, else SCRAM-SHA-512's.
    pub fn any(&self, user: &str) -> Option<(ScramMechanism, ScramCredential)> {
        let users = self.read();
        let (mechanism, credential) = users.get(user)?.iter().next()?;
        Some((*mechanism, credential.clone()))
    }

    /// The mechanisms and iterations of `user`'s credentials; `None` for a user without any.
    pub fn describe(&self, user: &str) -> Option<Vec<(ScramMechanism, i32)>> {
        let users = self.read();
        let credentials = users.get(user)?;
        Some(
            credentials
                .iter()
                .map(|(m, c)| (*m, c.iterations))
                .collect(),
        )
    }

    /// Every user with a credential, in name order.
    pub fn users(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Applies each change that can be applied, persists them (disk mode) and returns each
    /// change's outcome in order. An error writing the file is returned as such: nothing
    /// changed then.
    pub fn alter(
        &self,
        changes: Vec<CredentialChange>,
    ) -> io::Result<Vec<Result<(), CredentialError>>> {
        let mut users = self.write();
        let mut next = users.clone();
        let outcomes: Vec<Result<(), CredentialError>> = changes
            .into_iter()
            .map(|change| match change {
                CredentialChange::Delete { user, mechanism } => {
                    let Some(credentials) = next.get_mut(&user) else {
                        return Err(CredentialError::NotFound);
                    };
                    credentials
                        .remove(&mechanism)
                        .ok_or(CredentialError::NotFound)?;
                    if credentials.is_empty() {
                        next.remove(&user);
                    }
                    Ok(())
                }
                CredentialChange::Upsert {
                    user,
                    mechanism,
                    credential,
                } => {
                    if !next.contains_key(&user) && next.len() >= USERS_MAX {
                        return Err(CredentialError::TooManyUsers);
                    }
                    next.entry(user).or_default().insert(mechanism, credential);
                    Ok(())
                }
            })
            .collect();
        if let Some(dir) = &self.dir {
            write_file(dir, &next)?;
        }
        *users = next;
        Ok(outcomes)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, UserCredentials>> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, UserCredentials>> {
        self.users.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn write_file(dir: &Path, users: &BTreeMap<String, UserCredentials>) -> io::Result<()> {
    let mut out = Map::new();
    for (user, credentials) in users {
        let mut by_mechanism = Map::new();
        for (mechanism, c) in credentials {
            by_mechanism.insert(
                mechanism.name().to_string(),
                json!({
                    "salt": BASE64.encode(&c.salt),
                    "stored_key": BASE64.encode(&c.stored_key),
                    "server_key": BASE64.encode(&c.server_key),
                    "iterations": c.iterations,
                }),
            );
        }
        out.insert(user.clone(), Value::Object(by_mechanism));
    }
    let text = serde_json::to_vec_pretty(&json!({ "version": 1, "users": out }))
        .map_err(io::Error::other)?;
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(&text)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(FILE_NAME))?;
    File::open(dir)?.sync_all()
}

fn parse(bytes: &[u8]) -> Result<BTreeMap<String, UserCredentials>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let users = value
        .get("users")
        .and_then(Value::as_object)
        .ok_or("no users object")?;
    let mut out = BTreeMap::new();
    for (user, credentials) in users {
        let mut parsed = UserCredentials::new();
        for (name, c) in credentials.as_object().ok_or("a user is not an object")? {
            let mechanism = ScramMechanism::from_name(name)
                .ok_or_else(|| format!("unknown mechanism {name}"))?;
            let bytes = |key: &str| -> Result<Vec<u8>, String> {
                c.get(key)
                    .and_then(Value::as_str)
                    .and_then(|s| BASE64.decode(s).ok())
                    .ok_or_else(|| format!("{user}: bad {key}"))
            };
            let iterations = c
                .get("iterations")
                .and_then(Value::as_i64)
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| format!("{user}: bad iterations"))?;
            parsed.insert(
                mechanism,
                ScramCredential {
                    salt: bytes("salt")?,
                    stored_key: bytes("stored_key")?,
                    server_key: bytes("server_key")?,
                    iterations,
                },
            );
        }
        out.insert(user.clone(), parsed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_altered_persist_and_flag_users_do_not_need_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(Some(dir.path())).unwrap();
        store
            .apply_users(&SaslUsers(vec!["alice:secret".into()]))
            .unwrap();
        let (m, c) = store.any("alice").unwrap();
        assert!(c.matches_password(m, "secret"));
        let bob = ScramCredential::from_password(ScramMechanism::Sha512, "pw", 8192).unwrap();
        let outcomes = store
            .alter(vec![
                CredentialChange::Upsert {
                    user: "bob".into(),
                    mechanism: ScramMechanism::Sha512,
                    credential: bob.clone(),
                },
                CredentialChange::Delete {
                    user: "carol".into(),
                    mechanism: ScramMechanism::Sha256,
                },
            ])
            .unwrap();
        assert_eq!(outcomes, vec![Ok(()), Err(CredentialError::NotFound)]);
        let reopened = CredentialStore::open(Some(dir.path())).unwrap();
        assert_eq!(reopened.get("bob", ScramMechanism::Sha512), Some(bob));
        assert_eq!(
            reopened.describe("bob"),
            Some(vec![(ScramMechanism::Sha512, 8192)])
        );
        let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(!text.contains("secret") && !text.contains("\"pw\""));
    }
}
