//! How records are written and read by the command line: kcat's `-f` format tokens, one
//! JSON object per record (the format of `consume --json`, `dump`, `seed` and
//! `produce --format json`), and offset specifications.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::client::Record;

/// A parsed kcat format: literal bytes and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    KeyLength,
    Value,
    ValueLength,
    /// The value's length as a big-endian i32 (-1 for null), kcat's `%R`.
    ValueLengthBinary,
    Timestamp,
    Headers,
}

impl Format {
    /// Parses kcat's tokens: `%t` topic, `%p` partition, `%o` offset, `%k` key, `%K` key
    /// length, `%s` value, `%S` value length, `%R` value length as binary big-endian i32,
    /// `%T` timestamp (ms), `%h` headers (`k=v` comma-separated), `%%`; and `\n \r \t \\`.
    pub fn parse(text: &str) -> Result<Format, String> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = text.chars();
        let flush = |literal: &mut Vec<u8>, pieces: &mut Vec<Piece>| {
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(literal)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let token = match chars.next() {
                        Some('t') => Piece::Topic,
                        Some('p') => Piece::Partition,
                        Some('o') => Piece::Offset,
                        Some('k') => Piece::Key,
                        Some('K') => Piece::KeyLength,
                        Some('s') => Piece::Value,
                        Some('S') => Piece::ValueLength,
                        Some('R') => Piece::ValueLengthBinary,
                        Some('T') => Piece::Timestamp,
                        Some('h') => Piece::Headers,
                        Some('%') => {
                            literal.push(b'%');
                            continue;
                        }
                        Some(other) => return Err(format!("unknown format token %{other}")),
                        None => return Err("the format ends with a lone %".to_string()),
                    };
                    flush(&mut literal, &mut pieces);
                    pieces.push(token);
                }
                '\\' => {
                    let byte = match chars.next() {
                        Some('n') => b'\n',
                        Some('r') => b'\r',
                        Some('t') => b'\t',
                        Some('\\') => b'\\',
                        Some(other) => return Err(format!("unknown escape \\{other}")),
                        None => return Err("the format ends with a lone \\".to_string()),
                    };
                    literal.push(byte);
                }
                c => {
                    let mut buf = [0u8; 4];
                    literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        flush(&mut literal, &mut pieces);
        Ok(Format(pieces))
    }

    /// Appends `record` (of `topic`) written in this format to `out`.
    pub fn write(&self, topic: &str, record: &Record, out: &mut Vec<u8>) {
        fn length(data: &Option<Bytes>) -> i64 {
            data.as_ref().map_or(-1, |d| d.len() as i64)
        }
        for piece in &self.0 {
            match piece {
                Piece::Literal(bytes) => out.extend_from_slice(bytes),
                Piece::Topic => out.extend_from_slice(topic.as_bytes()),
                Piece::Partition => out.extend_from_slice(record.partition.to_string().as_bytes()),
                Piece::Offset => out.extend_from_slice(record.offset.to_string().as_bytes()),
                Piece::Key => out.extend_from_slice(record.key.as_deref().unwrap_or_default()),
                Piece::KeyLength => {
                    out.extend_from_slice(length(&record.key).to_string().as_bytes())
                }
                Piece::Value => out.extend_from_slice(record.value.as_deref().unwrap_or_default()),
                Piece::ValueLength => {
                    out.extend_from_slice(length(&record.value).to_string().as_bytes())
                }
                Piece::ValueLengthBinary => {
                    let n = i32::try_from(length(&record.value)).unwrap_or(i32::MAX);
                    out.extend_from_slice(&n.to_be_bytes());
                }
                Piece::Timestamp => {
                    out.extend_from_slice(record.timestamp.unwrap_or(-1).to_string().as_bytes())
                }
                Piece::Headers => {
                    for (i, (name, value)) in record.headers.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(name.as_bytes());
                        out.push(b'=');
                        out.extend_from_slice(value.as_deref().unwrap_or_default());
                    }
                }
            }
        }
    }
}

/// Bytes as JSON: a string when UTF-8, else base64 (the caller adds the marker).
fn bytes_json(data: &Option<Bytes>) -> (Value, bool) {
    match data {
        None => (Value::Null, false),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (Value::String(text.to_string()), false),
            Err(_) => (Value::String(BASE64.encode(bytes)), true),
        },
    }
}

/// One record as a JSON object: topic, partition, offset, timestamp, key, value, headers
/// (`[[name, value], …]`, in order). A key or value that is not UTF-8 is base64 with
/// `"key_encoding": "base64"` (or `value_encoding`); such a header value is
/// `{"base64": "…"}`.
pub fn record_json(topic: &str, record: &Record) -> Value {
    let (key, key_b64) = bytes_json(&record.key);
    let (value, value_b64) = bytes_json(&record.value);
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|(name, value)| {
            let value = match bytes_json(value) {
                (v, true) => json!({ "base64": v }),
                (v, false) => v,
            };
            json!([name, value])
        })
        .collect();
    let mut object = Map::new();
    object.insert("topic".into(), json!(topic));
    object.insert("partition".into(), json!(record.partition));
    object.insert("offset".into(), json!(record.offset));
    object.insert("timestamp".into(), json!(record.timestamp));
    object.insert("key".into(), key);
    if key_b64 {
        object.insert("key_encoding".into(), json!("base64"));
    }
    object.insert("value".into(), value);
    if value_b64 {
        object.insert("value_encoding".into(), json!("base64"));
    }
    object.insert("headers".into(), Value::Array(headers));
    Value::Object(object)
}

/// A record read from a JSON line, and the topic it names (if any).
#[derive(Debug)]
pub struct JsonRecord {
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub record: Record,
}

/// The most bytes of one input line: a record larger than this is refused before parsing.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Parses one JSON line: `{"key":..,"value":..,"headers":{..} or [[k,v]..],
/// "timestamp":..,"partition":..}` (all optional), with the base64 markers of
/// [`record_json`].
pub fn parse_json_record(line: &str) -> Result<JsonRecord, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or_else(|| "a record must be a JSON object".to_string())?;
    let data = |field: &str| -> Result<Option<Bytes>, String> {
        let encoding = object
            .get(&format!("{field}_encoding"))
            .and_then(Value::as_str);
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => match encoding {
                Some("base64") => BASE64
                    .decode(text)
                    .map(|b| Some(Bytes::from(b)))
                    .map_err(|e| format!("{field}: bad base64: {e}")),
                None | Some("utf8") => Ok(Some(Bytes::from(text.clone()))),
                Some(other) => Err(format!("{field}_encoding `{other}` is not base64")),
            },
            Some(other) => Ok(Some(Bytes::from(other.to_string()))),
        }
    };
    let header_value = |value: &Value| -> Result<Option<Bytes>, String> {
        match value {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(Bytes::from(text.clone()))),
            Value::Object(o) => match o.get("base64").and_then(Value::as_str) {
                Some(text) => BASE64
                    .decode(text)
                    .map(|b| Some(Bytes::from(b)))
                    .map_err(|e| format!("header: bad base64: {e}")),
                None => Err("a header value object must be {\"base64\": \"…\"}".to_string()),
            },
            other => Ok(Some(Bytes::from(other.to_string()))),
        }
    };
    let mut headers = Vec::new();
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                headers.push((name.clone(), header_value(value)?));
            }
        }
        Some(Value::Array(pairs)) => {
            for pair in pairs {
                match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(name), value]) => {
                        headers.push((name.clone(), header_value(value)?))
                    }
                    _ => return Err("headers must be [[name, value], …]".to_string()),
                }
            }
        }
        Some(_) => return Err("headers must be an object or [[name, value], …]".to_string()),
    }
    let partition = match object.get("partition") {
        None | Some(Value::Null) => None,
        Some(p) => Some(
            p.as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .filter(|p| *p >= 0)
                .ok_or_else(|| "partition must be a non-negative integer".to_string())?,
        ),
    };
    let timestamp = match object.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(t) => Some(
            t.as_i64()
                .ok_or_else(|| "timestamp must be an integer (ms)".to_string())?,
        ),
    };
    Ok(JsonRecord {
        topic: object
            .get("topic")
            .and_then(Value::as_str)
            .map(str::to_string),
        partition,
        record: Record {
            partition: partition.unwrap_or(0),
            offset: 0,
            timestamp,
            key: data("key")?,
            value: data("value")?,
            headers,
        },
    })
}

/// Where reading starts: `start`, `end`, `-N` (N before the end), `N`, `@TIMESTAMP_MS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    Start,
    End,
    BeforeEnd(i64),
    At(i64),
    Timestamp(i64),
}

impl std::str::FromStr for OffsetSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<OffsetSpec, String> {
        let bad = || format!("`{text}` is not an offset (start, end, -N, N or @TIMESTAMP_MS)");
        match text {
            "start" | "beginning" | "earliest" => Ok(OffsetSpec::Start),
            "end" | "latest" => Ok(OffsetSpec::End),
            _ => {
                if let Some(ts) = text.strip_prefix('@') {
                    ts.parse().map(OffsetSpec::Timestamp).map_err(|_| bad())
                } else if let Some(n) = text.strip_prefix('-') {
                    n.parse::<i64>()
                        .map(OffsetSpec::BeforeEnd)
                        .map_err(|_| bad())
                } else {
                    text.parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .map(OffsetSpec::At)
                        .ok_or_else(bad)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            partition: 2,
            offset: 17,
            timestamp: Some(1234),
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"hello")),
            headers: vec![
                ("a".into(), Some(Bytes::from_static(b"1"))),
                ("b".into(), None),
            ],
        }
    }

    #[test]
    fn kcat_tokens() {
        let format = Format::parse("%t %p %o %k %s %S %K %T %h\\t%%\\n").unwrap();
        let mut out = Vec::new();
        format.write("t", &record(), &mut out);
        assert_eq!(out, b"t 2 17 k hello 5 1 1234 a=1,b=\t%\n");
        let mut null = record();
        null.key = None;
        null.value = None;
        let mut out = Vec::new();
        Format::parse("[%k][%K][%S]%R")
            .unwrap()
            .write("t", &null, &mut out);
        assert_eq!(out, b"[][-1][-1]\xff\xff\xff\xff");
        assert!(Format::parse("%x").is_err());
        assert!(Format::parse("50%").is_err());
    }

    #[test]
    fn json_records_round_trip_bytes_nulls_and_headers() {
        let mut binary = record();
        binary.key = Some(Bytes::from_static(b"\xff\x00k"));
        binary.value = None;
        binary.headers = vec![
            ("e".into(), Some(Bytes::new())),
            ("bin".into(), Some(Bytes::from_static(b"\x80"))),
            ("n".into(), None),
        ];
        let line = record_json("t", &binary).to_string();
        assert!(line.contains("\"key_encoding\":\"base64\""), "{line}");
        let parsed = parse_json_record(&line).unwrap();
        assert_eq!(parsed.topic.as_deref(), Some("t"));
        assert_eq!(parsed.partition, Some(2));
        assert_eq!(parsed.record.key, binary.key);
        assert_eq!(parsed.record.value, None);
        assert_eq!(parsed.record.timestamp, Some(1234));
        assert_eq!(parsed.record.headers, binary.headers);
    }

    #[test]
    fn json_input_takes_header_objects() {
        let parsed =
            parse_json_record(r#"{"key":"k","value":"v","headers":{"x":"1"},"partition":3}"#)
                .unwrap();
        assert_eq!(
            parsed.record.headers,
            vec![("x".into(), Some(Bytes::from_static(b"1")))]
        );
        assert_eq!(parsed.partition, Some(3));
        assert_eq!(parsed.record.timestamp, None);
        assert!(parse_json_record(r#"{"partition":-1}"#).is_err());
        assert!(parse_json_record("[1]").is_err());
    }

    #[test]
    fn offset_specs() {
        assert_eq!("start".parse(), Ok(OffsetSpec::Start));
        assert_eq!("end".parse(), Ok(OffsetSpec::End));
        assert_eq!("-5".parse(), Ok(OffsetSpec::BeforeEnd(5)));
        assert_eq!("42".parse(), Ok(OffsetSpec::At(42)));
        assert_eq!(
            "@1700000000000".parse(),
            Ok(OffsetSpec::Timestamp(1_700_000_000_000))
        );
        assert!("soon".parse::<OffsetSpec>().is_err());
        assert!("@x".parse::<OffsetSpec>().is_err());
    }
}
