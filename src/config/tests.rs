use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_need_no_file_and_no_environment() {
    let config = Config::load(None, env(&[("PATH", "/bin")])).unwrap();
    assert_eq!(config.listen, "127.0.0.1:9092");
    assert_eq!(config.http_address(), Some("127.0.0.1:9644"));
}

#[test]
fn the_environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sluice.toml");
    std::fs::write(&file, "num_partitions = 3\nlisten = \"127.0.0.1:1234\"\n").unwrap();
    let config = Config::load(
        Some(&file),
        env(&[
            ("SLUICE_NUM_PARTITIONS", "8"),
            ("SLUICE_HTTP", "none"),
            ("SLUICE_CONFIG", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(config.num_partitions, 8);
    assert_eq!(config.listen, "127.0.0.1:1234");
    assert_eq!(config.http_address(), None);
}

#[test]
fn a_bad_value_names_its_key() {
    let checked = |pairs: &[(&str, &str)]| {
        Config::load(None, env(pairs)).and_then(|c| c.validate().map(|()| c))
    };
    let key = |pairs: &[(&str, &str)]| checked(pairs).unwrap_err().key;
    assert_eq!(key(&[("SLUICE_NUM_PARTITIONS", "many")]), "num_partitions");
    assert_eq!(key(&[("SLUICE_NUM_PARTITIONS", "0")]), "num_partitions");
    assert_eq!(key(&[("SLUICE_LISTEN", "nowhere")]), "listen");
    assert_eq!(key(&[("SLUICE_LISTEN", "localhost:")]), "listen");
    assert_eq!(key(&[("SLUICE_HTTP", "localhost")]), "http");
    assert!(
        checked(&[("SLUICE_BIN", "/usr/bin/x")]).is_ok(),
        "not a setting: ignored"
    );
    assert_eq!(key(&[("SLUICE_LOG_FORMAT", "xml")]), "log_format");
}

#[test]
fn a_misspelt_variable_is_reported_with_the_closest_key() {
    let (config, warnings) = Config::load_with_warnings(
        None,
        env(&[
            ("SLUICE_NUM_PARTITON", "3"),
            ("SLUICE_CONFIG", "sluice.toml"),
            ("SLUICE_BIN", "/usr/bin/sluice"),
            ("SLUICE_MAX_CONECTIONS", "5"),
            ("SLUICE_WHATEVER_ELSE", "1"),
            ("SLUICE_NUM_PARTITIONS", "2"),
            ("PATH", "/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(config.num_partitions, 2, "the misspelt one is not applied");
    assert_eq!(config.max_connections, Config::default().max_connections);
    assert_eq!(
        warnings,
        vec![
            UnknownVariable {
                name: "SLUICE_MAX_CONECTIONS".into(),
                closest: Some("max_connections".into()),
            },
            UnknownVariable {
                name: "SLUICE_NUM_PARTITON".into(),
                closest: Some("num_partitions".into()),
            },
            UnknownVariable {
                name: "SLUICE_WHATEVER_ELSE".into(),
                closest: None,
            },
        ],
        "SLUICE_CONFIG and SLUICE_BIN are not settings and not warned about"
    );
    assert_eq!(
        warnings[1].to_string(),
        "environment variable SLUICE_NUM_PARTITON is not a setting; ignored \
         (did you mean `num_partitions`, SLUICE_NUM_PARTITIONS?)"
    );
    assert_eq!(
        warnings[2].to_string(),
        "environment variable SLUICE_WHATEVER_ELSE is not a setting; ignored"
    );
}

#[test]
fn edit_distance_counts_insertions_deletions_and_substitutions() {
    assert_eq!(edit_distance("", ""), 0);
    assert_eq!(edit_distance("http", "http"), 0);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("num_partiton", "num_partitions"), 2);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("listne", "listen"), 2);
}

#[test]
fn listeners_take_host_names() {
    let config = Config::load(
        None,
        env(&[
            ("SLUICE_LISTEN", "localhost:9092"),
            ("SLUICE_HTTP", "[::1]:9644"),
        ]),
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(config.listen, "localhost:9092");
    assert_eq!(
        split_host_port(&config.listen),
        Some(("localhost".to_string(), 9092))
    );
    assert_eq!(
        config.http_address().and_then(split_host_port),
        Some(("::1".to_string(), 9644))
    );
    assert_eq!(split_host_port("localhost:http"), None, "a numeric port");
}

#[test]
fn the_first_ipv4_address_is_bound() {
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 9092));
    let v4 = SocketAddr::from(([127, 0, 0, 1], 9092));
    let other_v4 = SocketAddr::from(([10, 0, 0, 1], 9092));
    assert_eq!(pick_address([v6, v4, other_v4]), Some(v4));
    assert_eq!(pick_address([v6]), Some(v6));
    assert_eq!(pick_address([]), None);
}

#[test]
fn the_example_file_documents_every_key_with_its_default() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sluice.toml"))
        .unwrap();
    let table: toml::Table = text.parse().unwrap();
    let from_file: Config = toml::Value::Table(table).try_into().unwrap();
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    for key in defaults.keys() {
        assert!(
            text.contains(&format!("{key} =")),
            "config/sluice.toml lacks {key}"
        );
    }
    assert_eq!(
        toml::Table::try_from(from_file).unwrap(),
        defaults,
        "the file's values are the defaults"
    );
}

#[test]
fn fault_rules_come_from_the_file_and_a_bad_one_names_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sluice.toml");
    std::fs::write(
        &file,
        "[[faults]]\napi = \"Produce\"\naction = \"error\"\nerror = \"NOT_LEADER_OR_FOLLOWER\"\ncount = 2\n\n[[faults]]\napi = \"Fetch\"\naction = \"delay\"\ndelay_ms = 100\n",
    )
    .unwrap();
    let config = Config::load(Some(&file), env(&[])).unwrap();
    config.validate().unwrap();
    assert_eq!(config.faults.len(), 2);
    let faults = crate::faults::Faults::from_rules(&config.faults).unwrap();
    let listed = faults.list();
    assert_eq!(listed[0].error_code, Some(6));
    assert_eq!(listed[1].delay_ms, Some(100));

    std::fs::write(&file, "[[faults]]\napi = \"Produce\"\naction = \"error\"\n").unwrap();
    let config = Config::load(Some(&file), env(&[])).unwrap();
    assert_eq!(config.validate().unwrap_err().key, "faults[0].error");
}
