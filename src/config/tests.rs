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
fn topics_are_declared_in_the_file_or_the_environment_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sluice.toml");
    std::fs::write(
        &file,
        "[[topics]]\nname = \"orders\"\npartitions = 3\n[topics.configs]\n\"retention.ms\" = \"60000\"\n",
    )
    .unwrap();
    let config = Config::load(Some(&file), env(&[])).unwrap();
    assert_eq!(
        config.topics,
        ["orders:3:retention.ms=60000"
            .parse::<TopicDeclaration>()
            .unwrap()]
    );
    config.validate().unwrap();

    // The environment replaces the file's list, one declaration per word.
    let config = Config::load(
        Some(&file),
        env(&[("SLUICE_TOPICS", "a:2  b::cleanup.policy=compact")]),
    )
    .unwrap();
    let names: Vec<String> = config.topics.iter().map(|t| t.to_string()).collect();
    assert_eq!(names, ["a:2", "b::cleanup.policy=compact"]);

    let refused = |topics: &str| {
        let config = Config::load(None, env(&[("SLUICE_TOPICS", topics)])).unwrap();
        config.validate().unwrap_err().to_string()
    };
    assert!(refused("a a").contains("a is declared twice"));
    assert!(refused("a:0").contains("partitions must be at least 1"));
    assert!(
        refused("a:1:retention.ms=x").contains("Invalid value x for configuration retention.ms")
    );
    assert!(refused("a:1:no.such=1").contains("Unknown topic config name: no.such"));
    assert!(refused("bad/name").contains("invalid topic name"));
}

#[test]
fn listeners_users_and_mechanisms_come_from_the_environment_as_lists() {
    let env = [
        (
            "SLUICE_LISTENERS",
            "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        ),
        (
            "SLUICE_ADVERTISED_LISTENERS",
            "SASL_SSL://kafka.example:9094",
        ),
        ("SLUICE_TLS_CERT", "/tls/server.pem"),
        ("SLUICE_TLS_KEY", "/tls/server.key"),
        ("SLUICE_SASL_USERS", "alice:secret,bob:hunter2"),
        ("SLUICE_SASL_ENABLED_MECHANISMS", "SCRAM-SHA-512"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let (config, unknown) = Config::load_with_warnings(None, env).unwrap();
    assert!(unknown.is_empty(), "{unknown:?}");
    config.validate().unwrap();
    let listeners = config.listener_settings().unwrap();
    assert_eq!(listeners.len(), 2);
    assert_eq!(listeners[1].protocol, SecurityProtocol::SaslSsl);
    assert_eq!(
        listeners[1].advertise.as_deref(),
        Some("kafka.example:9094")
    );
    assert_eq!(listeners[0].advertise, None);
    assert_eq!(config.sasl_enabled_mechanisms, ["SCRAM-SHA-512"]);
    assert_eq!(
        format!("{:?}", config.sasl_users),
        r#"["alice", "bob"]"#,
        "no passwords"
    );

    let bad = |config: Config| config.validate().unwrap_err().key;
    let tls_without_cert = Config {
        listeners: vec!["SSL://127.0.0.1:0".into()],
        ..Config::for_tests()
    };
    assert_eq!(bad(tls_without_cert), "tls_cert");
    let twice = Config {
        listeners: vec!["SSL://127.0.0.1:0".into(), "SSL://127.0.0.1:1".into()],
        ..Config::for_tests()
    };
    assert_eq!(bad(twice), "listeners");
    let unmatched = Config {
        listeners: vec!["PLAINTEXT://127.0.0.1:0".into()],
        advertised_listeners: vec!["SSL://h:1".into()],
        ..Config::for_tests()
    };
    assert_eq!(bad(unmatched), "advertised_listeners");
    let advertise_with_listeners = Config {
        listeners: vec!["PLAINTEXT://127.0.0.1:0".into()],
        advertise: Some("h:1".into()),
        ..Config::for_tests()
    };
    assert_eq!(bad(advertise_with_listeners), "advertise");
    let no_password = Config {
        sasl_users: vec!["alice".to_string()].into(),
        ..Config::for_tests()
    };
    assert_eq!(bad(no_password), "sasl_users");
    let unknown_mechanism = Config {
        sasl_enabled_mechanisms: vec!["GSSAPI".into()],
        ..Config::for_tests()
    };
    assert_eq!(bad(unknown_mechanism), "sasl_enabled_mechanisms");
}

#[test]
fn authorizer_settings_come_from_the_file_the_environment_and_are_checked() {
    let config = Config::load(
        None,
        env(&[
            ("SLUICE_AUTHORIZER", "true"),
            ("SLUICE_SUPER_USERS", "User:admin;User:ops, User:root"),
        ]),
    )
    .unwrap();
    assert!(config.authorizer);
    assert_eq!(config.super_users, ["User:admin", "User:ops", "User:root"]);
    assert!(!config.allow_everyone_if_no_acl_found);
    config.validate().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sluice.toml");
    std::fs::write(
        &file,
        "super_users = [\"User:a\"]\nallow_everyone_if_no_acl_found = true\n",
    )
    .unwrap();
    let config = Config::load(Some(&file), env(&[])).unwrap();
    assert_eq!(config.super_users, ["User:a"]);
    assert!(config.allow_everyone_if_no_acl_found);

    let bad = Config {
        super_users: vec!["admin".into()],
        ..Config::default()
    };
    assert_eq!(bad.validate().unwrap_err().key, "super_users");
    let bad = Config {
        acls_max: 0,
        ..Config::default()
    };
    assert_eq!(bad.validate().unwrap_err().key, "acls_max");
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
