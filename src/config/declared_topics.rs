//! Topics declared in the configuration, created when the broker starts: what a CI job or a
//! dev machine wants to exist before its first client connects.
//!
//! One declaration is `NAME[:PARTITIONS[:key=value,...]]` (the `--topic` flag, and each word
//! of `SLUICE_TOPICS`), or a `[[topics]]` table in TOML with `name`, `partitions` and a
//! `configs` table. Topic names cannot hold `:` (Kafka allows letters, digits, `.`, `_` and
//! `-`), so the first `:` always ends the name.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A topic the broker creates at start unless it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DeclarationForm")]
pub struct TopicDeclaration {
    pub name: String,
    /// `None`: the broker's `num_partitions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Topic configs (`cleanup.policy`, `retention.ms`, …), checked by the same validator as
    /// CreateTopics when the topic is created.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, String>,
}

/// The two ways TOML may spell a declaration: the flag's string, or a table.
#[derive(Deserialize)]
#[serde(untagged)]
enum DeclarationForm {
    Text(String),
    Table {
        name: String,
        partitions: Option<i32>,
        #[serde(default)]
        configs: BTreeMap<String, String>,
    },
}

impl TryFrom<DeclarationForm> for TopicDeclaration {
    type Error = String;

    fn try_from(form: DeclarationForm) -> Result<Self, Self::Error> {
        match form {
            DeclarationForm::Text(text) => text.parse(),
            DeclarationForm::Table {
                name,
                partitions,
                configs,
            } => Ok(TopicDeclaration {
                name,
                partitions,
                configs,
            }),
        }
    }
}

impl FromStr for TopicDeclaration {
    type Err = String;

    /// `NAME`, `NAME:PARTITIONS`, `NAME:PARTITIONS:key=value,...` or `NAME::key=value,...`
    /// (the broker's partition count, with configs).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.splitn(3, ':');
        let name = parts.next().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(format!(
                "topic {text:?}: no name (NAME[:PARTITIONS[:key=value,...]])"
            ));
        }
        let partitions = match parts.next().filter(|p| !p.is_empty()) {
            None => None,
            Some(count) => Some(count.parse::<i32>().map_err(|_| {
                format!("topic {text:?}: partitions must be a number, not {count:?}")
            })?),
        };
        let mut configs = BTreeMap::new();
        for pair in parts.next().into_iter().flat_map(|c| c.split(',')) {
            let (key, value) = pair
                .split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .ok_or_else(|| format!("topic {text:?}: config {pair:?} is not key=value"))?;
            configs.insert(key.to_string(), value.to_string());
        }
        Ok(TopicDeclaration {
            name,
            partitions,
            configs,
        })
    }
}

impl fmt::Display for TopicDeclaration {
    /// The flag's form, which parses back to the same declaration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.partitions.is_none() && self.configs.is_empty() {
            return Ok(());
        }
        f.write_str(":")?;
        if let Some(partitions) = self.partitions {
            write!(f, "{partitions}")?;
        }
        if !self.configs.is_empty() {
            f.write_str(":")?;
            let pairs: Vec<String> = self
                .configs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            f.write_str(&pairs.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> TopicDeclaration {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_flag_form_gives_name_partitions_and_configs() {
        assert_eq!(
            parsed("orders"),
            TopicDeclaration {
                name: "orders".into(),
                partitions: None,
                configs: BTreeMap::new()
            }
        );
        assert_eq!(parsed("orders:6").partitions, Some(6));
        let compacted = parsed("users:3:cleanup.policy=compact,retention.ms=60000");
        assert_eq!(compacted.partitions, Some(3));
        assert_eq!(
            compacted.configs,
            BTreeMap::from([
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("retention.ms".to_string(), "60000".to_string()),
            ])
        );
        let default_count = parsed("events::retention.ms=1000");
        assert_eq!(default_count.partitions, None);
        assert_eq!(default_count.configs.len(), 1);
        // A value may hold '=' and ':' (everything after the key's '=').
        assert_eq!(parsed("t:1:k=a=b").configs["k"], "a=b");
        for text in ["orders", "orders:6", "users:3:a=1,b=2", "events::a=1"] {
            assert_eq!(parsed(text).to_string(), text);
        }
    }

    #[test]
    fn a_bad_declaration_says_what_is_wrong() {
        assert!(":3"
            .parse::<TopicDeclaration>()
            .unwrap_err()
            .contains("no name"));
        assert!("t:three"
            .parse::<TopicDeclaration>()
            .unwrap_err()
            .contains("partitions must be a number"));
        assert!("t:1:novalue"
            .parse::<TopicDeclaration>()
            .unwrap_err()
            .contains("not key=value"));
    }

    #[test]
    fn toml_takes_strings_and_tables() {
        #[derive(Deserialize)]
        struct Holder {
            topics: Vec<TopicDeclaration>,
        }
        let holder: Holder = toml::from_str(
            r#"
            topics = [
                "a:2",
                { name = "b", partitions = 4, configs = { "cleanup.policy" = "compact" } },
                { name = "c" },
            ]
            "#,
        )
        .unwrap();
        assert_eq!(holder.topics[0], parsed("a:2"));
        assert_eq!(holder.topics[1], parsed("b:4:cleanup.policy=compact"));
        assert_eq!(holder.topics[2], parsed("c"));
        let tables: Holder = toml::from_str(
            "[[topics]]\nname = \"x\"\npartitions = 3\n[topics.configs]\n\"retention.ms\" = \"5\"\n",
        )
        .unwrap();
        assert_eq!(tables.topics[0], parsed("x:3:retention.ms=5"));
    }
}
