//! IncrementalAlterConfigs' operations on a set of configs, as Kafka applies them: SET and
//! DELETE a key, APPEND items to or SUBTRACT items from a list-typed key (starting from the
//! key's default when it is not set). Pure: the result is checked by the validators after.

use std::collections::BTreeMap;

/// One operation on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    Set(String),
    Delete,
    Append(String),
    Subtract(String),
}

impl ConfigOp {
    /// Kafka's `AlterConfigOp.OpType` id with its value; `None` for an unknown id.
    pub fn from_wire(op: i8, value: Option<String>) -> Option<ConfigOp> {
        let value = value.unwrap_or_default();
        Some(match op {
            0 => ConfigOp::Set(value),
            1 => ConfigOp::Delete,
            2 => ConfigOp::Append(value),
            3 => ConfigOp::Subtract(value),
            _ => return None,
        })
    }

    fn name(&self) -> &'static str {
        match self {
            ConfigOp::Set(_) => "SET",
            ConfigOp::Delete => "DELETE",
            ConfigOp::Append(_) => "APPEND",
            ConfigOp::Subtract(_) => "SUBTRACT",
        }
    }
}

/// An APPEND or SUBTRACT on a key that is not a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAList {
    pub key: String,
    pub op: &'static str,
}

/// `current` after `ops`, in order. `is_list` says which keys are lists and `default` gives
/// a key's default, the list an APPEND or SUBTRACT starts from when the key is not set.
pub fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[(String, ConfigOp)],
    is_list: impl Fn(&str) -> bool,
    default: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, NotAList> {
    let mut next = current.clone();
    for (key, op) in ops {
        match op {
            ConfigOp::Set(value) => {
                next.insert(key.clone(), value.clone());
            }
            ConfigOp::Delete => {
                next.remove(key);
            }
            ConfigOp::Append(items) | ConfigOp::Subtract(items) => {
                if !is_list(key) {
                    return Err(NotAList {
                        key: key.clone(),
                        op: op.name(),
                    });
                }
                let base = next.get(key).cloned().or_else(|| default(key));
                let mut list: Vec<String> = base
                    .unwrap_or_default()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if matches!(op, ConfigOp::Append(_)) {
                    for item in items.split(',') {
                        if !list.iter().any(|i| i == item) {
                            list.push(item.to_string());
                        }
                    }
                } else {
                    for item in items.split(',') {
                        list.retain(|i| i != item);
                    }
                }
                next.insert(key.clone(), list.join(","));
            }
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn apply(
        current: &[(&str, &str)],
        ops: Vec<(&str, ConfigOp)>,
    ) -> Result<BTreeMap<String, String>, NotAList> {
        let ops: Vec<(String, ConfigOp)> = ops.into_iter().map(|(k, o)| (k.into(), o)).collect();
        apply_ops(
            &configs(current),
            &ops,
            |k| k == "cleanup.policy",
            |k| (k == "cleanup.policy").then(|| "delete".to_string()),
        )
    }

    #[test]
    fn set_and_delete_replace_and_remove_one_key() {
        let next = apply(
            &[("retention.ms", "1"), ("segment.ms", "2")],
            vec![
                ("retention.ms", ConfigOp::Set("5".into())),
                ("segment.ms", ConfigOp::Delete),
                ("flush.ms", ConfigOp::Delete),
            ],
        );
        assert_eq!(next, Ok(configs(&[("retention.ms", "5")])));
    }

    #[test]
    fn append_starts_from_the_default_and_keeps_each_item_once() {
        let next = apply(
            &[],
            vec![("cleanup.policy", ConfigOp::Append("compact,delete".into()))],
        );
        assert_eq!(next, Ok(configs(&[("cleanup.policy", "delete,compact")])));
        let next = apply(
            &[("cleanup.policy", "compact")],
            vec![("cleanup.policy", ConfigOp::Append("compact".into()))],
        );
        assert_eq!(next, Ok(configs(&[("cleanup.policy", "compact")])));
    }

    #[test]
    fn subtract_removes_items_and_may_leave_an_empty_list() {
        let next = apply(
            &[("cleanup.policy", "delete,compact")],
            vec![("cleanup.policy", ConfigOp::Subtract("delete".into()))],
        );
        assert_eq!(next, Ok(configs(&[("cleanup.policy", "compact")])));
        let next = apply(
            &[],
            vec![("cleanup.policy", ConfigOp::Subtract("delete".into()))],
        );
        assert_eq!(next, Ok(configs(&[("cleanup.policy", "")])));
    }

    #[test]
    fn append_or_subtract_on_a_key_that_is_not_a_list_is_refused() {
        for op in [ConfigOp::Append("1".into()), ConfigOp::Subtract("1".into())] {
            let name = op.name();
            assert_eq!(
                apply(&[], vec![("retention.ms", op)]),
                Err(NotAList {
                    key: "retention.ms".into(),
                    op: name,
                })
            );
        }
        assert_eq!(ConfigOp::from_wire(4, None), None);
        assert_eq!(ConfigOp::from_wire(1, None), Some(ConfigOp::Delete));
    }
}
