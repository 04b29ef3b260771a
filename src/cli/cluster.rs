//! `sluice cluster info`: the cluster id, the controller, the brokers with their listeners,
//! and with `--versions` the API versions the bootstrap broker speaks.

use serde_json::json;

use super::table::Table;
use super::{print_json, CliError, Common};
use crate::client::connection::api_name;

#[derive(clap::Subcommand, Debug)]
pub enum ClusterCommand {
    /// Cluster id, controller, brokers (and API versions with --versions).
    Info {
        /// Also list the API versions of the bootstrap broker.
        #[arg(long)]
        versions: bool,
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(command: ClusterCommand) -> Result<(), CliError> {
    let ClusterCommand::Info { versions, common } = command;
    let mut client = common.connect().await?;
    let cluster_id = client.cluster_id().map(str::to_string);
    let controller = client.controller_id();
    let brokers: Vec<_> = client.brokers().values().cloned().collect();
    let mut apis: Vec<(i16, i16, i16)> = client
        .any()
        .versions()
        .iter()
        .map(|(key, (min, max))| (*key, *min, *max))
        .collect();
    apis.sort();
    if common.json {
        let mut out = json!({
            "cluster_id": cluster_id,
            "controller": controller,
            "brokers": brokers.iter().map(|b| json!({
                "node_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack,
            })).collect::<Vec<_>>(),
        });
        if versions {
            out["api_versions"] = json!(apis
                .iter()
                .map(|(key, min, max)| json!({
                    "api_key": key, "name": api_name(*key), "min": min, "max": max,
                }))
                .collect::<Vec<_>>());
        }
        print_json(&out);
        return Ok(());
    }
    println!(
        "cluster {}  controller {controller}",
        cluster_id.as_deref().unwrap_or("-")
    );
    let mut table = Table::new(&["NODE", "LISTENER", "RACK"]);
    for b in &brokers {
        table.row(vec![
            b.node_id.to_string(),
            b.addr(),
            b.rack.clone().unwrap_or_else(|| "-".to_string()),
        ]);
    }
    table.print();
    if versions {
        println!();
        let mut table = Table::new(&["KEY", "API", "MIN", "MAX"]);
        for (key, min, max) in apis {
            table.row(vec![
                key.to_string(),
                api_name(key),
                min.to_string(),
                max.to_string(),
            ]);
        }
        table.print();
    }
    Ok(())
}
