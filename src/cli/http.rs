//! The commands that speak HTTP to the broker's admin listener: `health`, `fault` and
//! `reset`, through hyper's HTTP/1 client.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use serde_json::{json, Map, Value};
use tokio::net::TcpStream;

use super::table::Table;
use super::{print_json, CliError, EXIT_FAILURE};

/// The longest one HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a response body this client reads.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The admin listener to talk to.
#[derive(clap::Args, Clone, Debug)]
pub struct HttpTarget {
    /// The broker's admin listener, HOST:PORT.
    #[arg(long = "http", env = "SLUICE_HTTP", default_value = "127.0.0.1:9644")]
    pub http: String,
}

#[derive(clap::Args, Debug)]
pub struct HealthArgs {
    /// Print {"ready": …, "status": …} instead of a word.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: HttpTarget,
}

#[derive(clap::Args, Debug)]
pub struct ResetArgs {
    /// Only these topics (comma-separated) [default: everything].
    #[arg(long)]
    pub topics: Option<String>,
    /// Print the admin API's answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: HttpTarget,
}

#[derive(clap::Subcommand, Debug)]
pub enum FaultCommand {
    /// Inject a fault: an error, a delay, a dropped request or a closed connection.
    Add(FaultArgs),
    /// List the faults with how often each fired.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: HttpTarget,
    },
    /// Remove one fault, or all.
    Clear {
        id: Option<u64>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: HttpTarget,
    },
}

#[derive(clap::Args, Debug)]
pub struct FaultArgs {
    /// The Kafka API, as Kafka names it (Produce, Fetch, …).
    #[arg(long)]
    pub api: String,
    /// error, delay, drop or close.
    #[arg(long, value_parser = ["error", "delay", "drop", "close"])]
    pub action: String,
    /// The error to answer with (Kafka's name, e.g. NOT_LEADER_OR_FOLLOWER).
    #[arg(long)]
    pub error: Option<String>,
    #[arg(long)]
    pub topic: Option<String>,
    #[arg(long)]
    pub partition: Option<i32>,
    #[arg(long)]
    pub group: Option<String>,
    #[arg(long)]
    pub client_id: Option<String>,
    #[arg(long)]
    pub delay_ms: Option<u64>,
    /// Fire this many times, then stop.
    #[arg(long)]
    pub count: Option<u64>,
    /// Fire with this probability (0 to 1).
    #[arg(long)]
    pub probability: Option<f64>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: HttpTarget,
}

/// A response: status and body.
pub struct HttpResponse {
    pub status: u16,
    pub body: Bytes,
}

/// One HTTP/1.1 request on a fresh connection to `addr`.
pub async fn request(
    addr: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<HttpResponse, String> {
    let exchange = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
        let driver = tokio::spawn(connection);
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, addr);
        let payload = match &body {
            Some(value) => {
                builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(payload))
            .map_err(|e| format!("bad request {method} {path}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{method} {path} on {addr}: {e}"))?;
        let status = response.status().as_u16();
        let body = http_body_util::Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("{method} {path} on {addr}: reading the body: {e}"))?
            .to_bytes();
        driver.abort();
        Ok(HttpResponse { status, body })
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{method} {path} on {addr}: no answer within {HTTP_TIMEOUT:?}"))?
}

/// A request whose answer must be 2xx; the body as JSON (null when empty).
async fn call(
    addr: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, CliError> {
    let response = request(addr, method.clone(), path, body)
        .await
        .map_err(CliError::usage)?;
    let text = String::from_utf8_lossy(&response.body).to_string();
    if !(200..300).contains(&response.status) {
        return Err(CliError::failure(format!(
            "{method} {path}: HTTP {} {}",
            response.status,
            text.trim()
        )));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text)
        .map_err(|e| CliError::failure(format!("{method} {path}: the answer is not JSON: {e}")))
}

/// Exit 0 when `/health/ready` answers 200; 1 otherwise, saying why.
pub async fn health(args: HealthArgs) -> Result<(), CliError> {
    let addr = &args.target.http;
    let answer = request(addr, Method::GET, "/health/ready", None).await;
    if args.json {
        let status = answer.as_ref().ok().map(|r| r.status);
        print_json(&json!({ "ready": status == Some(200), "status": status }));
    }
    match answer {
        Ok(response) if response.status == 200 => {
            if !args.json {
                println!("ready");
            }
            Ok(())
        }
        Ok(response) => Err(CliError::failure(format!(
            "not ready: HTTP {} {}",
            response.status,
            String::from_utf8_lossy(&response.body).trim()
        ))),
        Err(e) => Err(CliError {
            message: format!("not ready: {e}"),
            exit_code: EXIT_FAILURE,
        }),
    }
}

/// The JSON body of `POST /admin/faults` for `args`.
pub fn fault_body(args: &FaultArgs) -> Value {
    let mut body = Map::new();
    body.insert("api".into(), json!(args.api));
    body.insert("action".into(), json!(args.action));
    let optional = [
        ("error", args.error.as_ref().map(|v| json!(v))),
        ("topic", args.topic.as_ref().map(|v| json!(v))),
        ("partition", args.partition.map(|v| json!(v))),
        ("group", args.group.as_ref().map(|v| json!(v))),
        ("client_id", args.client_id.as_ref().map(|v| json!(v))),
        ("delay_ms", args.delay_ms.map(|v| json!(v))),
        ("count", args.count.map(|v| json!(v))),
        ("probability", args.probability.map(|v| json!(v))),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            body.insert(name.into(), value);
        }
    }
    Value::Object(body)
}

pub async fn fault(command: FaultCommand) -> Result<(), CliError> {
    match command {
        FaultCommand::Add(args) => {
            if let Some(p) = args.probability {
                if !(0.0..=1.0).contains(&p) {
                    return Err(CliError::usage("--probability must be between 0 and 1"));
                }
            }
            let answer = call(
                &args.target.http,
                Method::POST,
                "/admin/faults",
                Some(fault_body(&args)),
            )
            .await?;
            if args.json {
                print_json(&answer);
            } else {
                println!(
                    "fault {} added",
                    answer.get("id").cloned().unwrap_or(Value::Null)
                );
            }
            Ok(())
        }
        FaultCommand::List { json, target } => {
            let answer = call(&target.http, Method::GET, "/admin/faults", None).await?;
            if json {
                print_json(&answer);
                return Ok(());
            }
            let columns = [
                "id",
                "api",
                "action",
                "error",
                "topic",
                "partition",
                "group",
                "client_id",
                "delay_ms",
                "count",
                "probability",
                "fired",
            ];
            let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let mut table = Table::new(&header);
            for fault in answer.as_array().into_iter().flatten() {
                table.row(
                    columns
                        .iter()
                        .map(|c| match fault.get(*c) {
                            None | Some(Value::Null) => "-".to_string(),
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                        })
                        .collect(),
                );
            }
            table.print();
            Ok(())
        }
        FaultCommand::Clear { id, json, target } => {
            let path = match id {
                Some(id) => format!("/admin/faults/{id}"),
                None => "/admin/faults".to_string(),
            };
            let answer = call(&target.http, Method::DELETE, &path, None).await?;
            if json {
                print_json(&answer);
            } else {
                println!("cleared");
            }
            Ok(())
        }
    }
}

pub async fn reset(args: ResetArgs) -> Result<(), CliError> {
    let path = match &args.topics {
        Some(topics) => format!("/admin/reset?topics={topics}"),
        None => "/admin/reset".to_string(),
    };
    let answer = call(&args.target.http, Method::POST, &path, None).await?;
    if args.json {
        print_json(&answer);
    } else {
        println!("reset");
    }
    Ok(())
}
