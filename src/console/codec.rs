//! Records as the console's JSON shows and takes them. Bytes travel as
//! `{"text": .., "base64": ..}`: `text` when they are UTF-8, `base64` when they are not (one
//! of the two, so the live tail encodes each record once), so the page can show binary as hex
//! or base64 and republish it unchanged. A null key, value or header value is JSON `null`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::record::full::{FullRecord, NewRecord};

/// Headers one produced record may carry, at most.
pub(super) const HEADERS_MAX: usize = 64;

#[derive(Debug, Serialize)]
pub(super) struct ShownBytes {
    text: Option<String>,
    base64: Option<String>,
}

fn shown(bytes: Option<&[u8]>) -> Option<ShownBytes> {
    bytes.map(|b| match std::str::from_utf8(b) {
        Ok(text) => ShownBytes {
            text: Some(text.to_string()),
            base64: None,
        },
        Err(_) => ShownBytes {
            text: None,
            base64: Some(STANDARD.encode(b)),
        },
    })
}

#[derive(Debug, Serialize)]
pub(super) struct ShownHeader {
    name: String,
    value: Option<ShownBytes>,
}

#[derive(Debug, Serialize)]
pub(super) struct ShownRecord {
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<ShownBytes>,
    value: Option<ShownBytes>,
    headers: Vec<ShownHeader>,
}

pub(super) fn show(partition: i32, record: &FullRecord) -> ShownRecord {
    ShownRecord {
        partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: shown(record.key.as_deref()),
        value: shown(record.value.as_deref()),
        headers: record
            .headers
            .iter()
            .map(|(name, value)| ShownHeader {
                name: name.clone(),
                value: shown(value.as_deref()),
            })
            .collect(),
    }
}

/// Bytes as the page sends them: text, or base64 (a shown binary field sent back).
#[derive(Debug, Deserialize)]
pub(super) struct GivenBytes {
    text: Option<String>,
    base64: Option<String>,
}

impl GivenBytes {
    fn bytes(self) -> Result<Vec<u8>, String> {
        match (self.text, self.base64) {
            (Some(text), None) => Ok(text.into_bytes()),
            (None, Some(b64)) => STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| format!("not base64: {e}")),
            _ => Err("give exactly one of text and base64".into()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct GivenHeader {
    name: String,
    value: Option<GivenBytes>,
}

/// A record to produce, as the page sends it.
#[derive(Debug, Deserialize)]
pub(super) struct GivenRecord {
    #[serde(default)]
    pub(super) partition: Option<i32>,
    #[serde(default)]
    key: Option<GivenBytes>,
    #[serde(default)]
    value: Option<GivenBytes>,
    #[serde(default)]
    headers: Vec<GivenHeader>,
}

impl GivenRecord {
    pub(super) fn into_record(self) -> Result<NewRecord, String> {
        if self.headers.len() > HEADERS_MAX {
            return Err(format!("at most {HEADERS_MAX} headers"));
        }
        let headers = self
            .headers
            .into_iter()
            .map(|h| Ok((h.name, h.value.map(GivenBytes::bytes).transpose()?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(NewRecord {
            timestamp: None,
            key: self.key.map(GivenBytes::bytes).transpose()?,
            value: self.value.map(GivenBytes::bytes).transpose()?,
            headers,
        })
    }
}
