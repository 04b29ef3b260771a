//! Where the ACLs of a data directory live: `<data>/acls.toml`, every ACL in one file that
//! is replaced whole — written aside, synced, renamed over the old one and the directory
//! synced, as the dynamic broker configs are — so a crash leaves the old set or the new one
//! and an acknowledged change survives. A broker in memory keeps them in memory only.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::AclBinding;

/// The file under the data directory that holds the ACLs.
pub const ACLS_FILE: &str = "acls.toml";

/// The file's shape: a TOML array of tables, one `[[acl]]` each.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AclsFile {
    #[serde(default)]
    acl: Vec<AclBinding>,
}

/// Where ACL changes are persisted. Its methods block on the disk: call them through
/// [`crate::blocking::run`] from a handler.
#[derive(Debug, Clone)]
pub enum AclStore {
    Memory,
    Disk(PathBuf),
}

impl AclStore {
    /// The ACLs last persisted (none in memory, or before the first is created).
    pub fn load(&self) -> io::Result<Vec<AclBinding>> {
        let AclStore::Disk(dir) = self else {
            return Ok(Vec::new());
        };
        let path = dir.join(ACLS_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<AclsFile>(&text)
                .map(|file| file.acl)
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the persisted ACLs by `acls`, durably, before returning.
    pub fn save(&self, acls: Vec<AclBinding>) -> io::Result<()> {
        let AclStore::Disk(dir) = self else {
            return Ok(());
        };
        write_durably(dir, &AclsFile { acl: acls })
    }
}

fn write_durably(dir: &Path, acls: &AclsFile) -> io::Result<()> {
    let text = toml::to_string(acls).map_err(io::Error::other)?;
    let path = dir.join(ACLS_FILE);
    let aside = path.with_extension("tmp");
    {
        let mut file = File::create(&aside)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    fs::rename(&aside, &path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Operation, PatternType, Permission, ResourceType};

    #[test]
    fn acls_saved_to_a_directory_load_back_and_memory_keeps_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::Disk(dir.path().to_path_buf());
        assert_eq!(store.load().unwrap(), Vec::new(), "nothing saved yet");
        let acl = AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "orders-".into(),
            pattern_type: PatternType::Prefixed,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: Operation::DescribeConfigs,
            permission: Permission::Deny,
        };
        store.save(vec![acl.clone()]).unwrap();
        assert_eq!(store.load().unwrap(), vec![acl.clone()]);
        assert!(
            !dir.path().join("acls.tmp").exists(),
            "the aside file was renamed"
        );
        store.save(Vec::new()).unwrap();
        assert_eq!(store.load().unwrap(), Vec::new());

        AclStore::Memory.save(vec![acl]).unwrap();
        assert_eq!(AclStore::Memory.load().unwrap(), Vec::new());
    }

    #[test]
    fn a_file_that_does_not_parse_is_an_error_not_an_empty_set() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(ACLS_FILE),
            "[[acl]]\nresource_type = 'NOPE'\n",
        )
        .unwrap();
        let error = AclStore::Disk(dir.path().to_path_buf()).load().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
