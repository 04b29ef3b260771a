//! Where topics live on disk: `<data>/topics/<name>.toml` defines a topic (its id, partition
//! count and config overrides) and `<data>/<name>-<partition>/` holds each partition's log.
//!
//! The definition is the commit point, written last when a topic is created and removed
//! first when it is deleted. After any crash, a partition directory without a definition is
//! a leftover that no topic owns, removed at the next start; and a directory found where a
//! new topic's partition is to be is removed, never reused, so a topic created again under
//! an old name never finds the old topic's records.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::broker_keys::DynamicBrokerConfigs;
use super::metadata::{MetadataRecord, MetadataStore, TopicDefinition};
use super::validate_name;

/// The file under the data dir that holds the dynamic broker configs.
const BROKER_CONFIGS_FILE: &str = "broker-configs.toml";
/// The directory under the data dir that holds topic definitions.
pub(super) const TOPICS_DIR: &str = "topics";
/// Partition directories being deleted end with this.
const DELETED_SUFFIX: &str = "-delete";
/// Longest file name most filesystems allow, in bytes.
const MAX_FILE_NAME_BYTES: usize = 255;

/// The topic definitions of a data directory, one file per topic.
pub(super) struct FileStore {
    data_dir: PathBuf,
}

impl FileStore {
    pub(super) fn new(data_dir: &Path) -> FileStore {
        FileStore {
            data_dir: data_dir.to_path_buf(),
        }
    }
}

impl MetadataStore for FileStore {
    fn load(&self) -> io::Result<Vec<TopicDefinition>> {
        read_definitions(&self.data_dir)
    }

    fn persist(&self, record: &MetadataRecord) -> io::Result<()> {
        match record {
            MetadataRecord::TopicDefined(definition) => {
                write_definition(&self.data_dir, definition)
            }
            MetadataRecord::TopicRemoved { name } => remove_definition(&self.data_dir, name),
            MetadataRecord::BrokerConfigsSet(configs) => {
                write_broker_configs(&self.data_dir, configs)
            }
        }
    }

    fn load_broker_configs(&self) -> io::Result<DynamicBrokerConfigs> {
        let path = self.data_dir.join(BROKER_CONFIGS_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DynamicBrokerConfigs::default()),
            Err(e) => Err(e),
        }
    }

    fn make_durable(&self, topic: &str) -> io::Result<()> {
        sync_definition(&self.data_dir, topic)
    }
}

/// A topic as stored in `<data>/topics/<name>.toml` (the name is the file's).
#[derive(Debug, Serialize, Deserialize)]
struct TopicFile {
    pub id: Uuid,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

pub(super) fn definition_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(TOPICS_DIR).join(format!("{name}.toml"))
}

/// A partition's directory. A valid name (at most 249 characters) and partition index (at
/// most 5 digits) always fit in a file name.
pub(super) fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

/// The name a partition directory is renamed to while it is deleted:
/// `<topic>-<partition>.<topic id>-delete`, the topic cut short so the whole fits in a file
/// name (as Kafka does), and unique to this topic so a new topic of the same name never
/// meets it.
fn aside_name(topic: &str, index: i32, id: Uuid) -> String {
    let suffix = format!("-{index}.{}{DELETED_SUFFIX}", id.simple());
    let keep = topic
        .len()
        .min(MAX_FILE_NAME_BYTES.saturating_sub(suffix.len()));
    // Topic names are ASCII, so any byte is a character boundary.
    format!("{}{suffix}", &topic[..keep])
}

/// Writes a definition so that a crash leaves either the old file or the new one. It is made
/// durable by [`sync_definition`] before the first record of the topic is (see
/// [`crate::partition::DurableFirst`]), and by the `syncfs` of a clean shutdown.
fn write_definition(data_dir: &Path, definition: &TopicDefinition) -> io::Result<()> {
    let file = TopicFile {
        id: definition.id,
        partitions: definition.partitions,
        configs: definition.configs.clone(),
    };
    let text = toml::to_string(&file).map_err(io::Error::other)?;
    let path = definition_path(data_dir, &definition.name);
    let aside = path.with_extension("tmp");
    fs::write(&aside, text)?;
    fs::rename(&aside, &path)
}

/// Replaces the dynamic broker configs durably: written aside, synced, renamed over the old
/// file and the directory synced, so a crash leaves the old set or the new one, and an
/// acknowledged change survives.
fn write_broker_configs(data_dir: &Path, configs: &DynamicBrokerConfigs) -> io::Result<()> {
    let text = toml::to_string(configs).map_err(io::Error::other)?;
    let path = data_dir.join(BROKER_CONFIGS_FILE);
    let aside = path.with_extension("tmp");
    {
        let mut file = File::create(&aside)?;
        io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
    }
    fs::rename(&aside, &path)?;
    sync_dir(data_dir)
}

/// Makes a topic's definition and its partitions' directory entries durable: a topic must
/// outlive any record synced to it.
fn sync_definition(data_dir: &Path, name: &str) -> io::Result<()> {
    File::open(definition_path(data_dir, name))?.sync_all()?;
    sync_dir(&data_dir.join(TOPICS_DIR))?;
    sync_dir(data_dir)
}

/// Reads every definition under `data_dir`, by name. A definition that cannot be read or
/// names an invalid topic is an error: starting without it would lose the topic.
fn read_definitions(data_dir: &Path) -> io::Result<Vec<TopicDefinition>> {
    let dir = data_dir.join(TOPICS_DIR);
    fs::create_dir_all(&dir)?;
    let mut definitions = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
        else {
            continue;
        };
        let invalid = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {why}", path.display()),
            )
        };
        let text = fs::read_to_string(&path)?;
        let file: TopicFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        validate_name(name).map_err(|e| invalid(e.to_string()))?;
        definitions.push(TopicDefinition {
            name: name.to_string(),
            id: file.id,
            partitions: file.partitions,
            configs: file.configs,
        });
    }
    definitions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(definitions)
}

/// Removes what no definition owns: partition directories of deletions cut short, and of
/// creations that failed or were cut short before their definition was written.
pub(super) fn remove_leftovers(data_dir: &Path, definitions: &[TopicDefinition]) -> io::Result<()> {
    let owned: HashSet<String> = definitions
        .iter()
        .flat_map(|d| (0..d.partitions).map(move |i| format!("{}-{i}", d.name)))
        .collect();
    for entry in fs::read_dir(data_dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let leftover = name.ends_with(DELETED_SUFFIX)
            || (is_partition_dir_name(name) && !owned.contains(name));
        if leftover {
            tracing::warn!(dir = %entry.path().display(), "removing a partition directory no topic owns");
            fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// `<valid topic name>-<partition index>`.
fn is_partition_dir_name(name: &str) -> bool {
    let Some((topic, index)) = name.rsplit_once('-') else {
        return false;
    };
    !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) && validate_name(topic).is_ok()
}

/// Makes fresh partition directories for a topic being created. A directory already there
/// belongs to no topic (the name is free, and leftovers are removed at start), so it is
/// removed rather than reused.
pub(super) fn make_partition_dirs(
    data_dir: &Path,
    topic: &str,
    range: std::ops::Range<i32>,
) -> io::Result<()> {
    for index in range {
        let dir = partition_dir(data_dir, topic, index);
        match fs::remove_dir_all(&dir) {
            Ok(()) => tracing::warn!(dir = %dir.display(), "removed a stale partition directory"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs::create_dir(&dir)?;
    }
    Ok(())
}

/// Removes the partition directories of a creation that failed; errors are only logged
/// (what is left is removed at the next start).
pub(super) fn remove_partition_dirs(data_dir: &Path, topic: &str, range: std::ops::Range<i32>) {
    for index in range {
        let dir = partition_dir(data_dir, topic, index);
        if let Err(e) = fs::remove_dir_all(&dir) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the directory of a failed creation");
            }
        }
    }
}

/// Removes a topic's definition, durably: the commit point of its deletion. Nothing else
/// is changed; on an error the topic is as it was.
fn remove_definition(data_dir: &Path, topic: &str) -> io::Result<()> {
    match fs::remove_file(definition_path(data_dir, topic)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    sync_dir(&data_dir.join(TOPICS_DIR))
}

/// Renames a deleted topic's partition directories aside (quick, so the name is soon free
/// again) and returns them, to be removed at leisure. A directory that cannot be renamed is
/// left where it is, with a warning: no definition owns it, so it is removed when the name
/// is created again or at the next start.
pub(super) fn set_aside(data_dir: &Path, topic: &str, id: Uuid, partitions: i32) -> Vec<PathBuf> {
    let mut aside = Vec::new();
    for index in 0..partitions {
        let dir = partition_dir(data_dir, topic, index);
        let to = data_dir.join(aside_name(topic, index, id));
        match fs::rename(&dir, &to) {
            Ok(()) => aside.push(to),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot set a deleted partition's directory aside")
            }
        }
    }
    aside
}

/// Removes directories set aside by [`set_aside`]; failures are logged (what is left is
/// removed at the next start).
pub(super) fn remove_dirs(dirs: Vec<PathBuf>) {
    for dir in dirs {
        if let Err(e) = fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a deleted partition's directory");
        }
    }
}

/// Makes a directory's entries (creations, renames, removals) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aside_name_of_the_longest_topic_fits_a_file_name() {
        let id = Uuid::new_v4();
        let long = "t".repeat(249);
        let name = aside_name(&long, 9999, id);
        assert!(name.len() <= MAX_FILE_NAME_BYTES, "{} bytes", name.len());
        assert!(name.ends_with(&format!("-9999.{}-delete", id.simple())));
        assert_eq!(
            aside_name("short", 3, id),
            format!("short-3.{}-delete", id.simple())
        );
    }

    #[test]
    fn partition_directory_names_are_told_apart() {
        assert!(is_partition_dir_name("orders-0"));
        assert!(is_partition_dir_name("a-b-12"));
        assert!(!is_partition_dir_name("topics"));
        assert!(!is_partition_dir_name("orders-"));
        assert!(!is_partition_dir_name("orders-x1"));
    }
}
