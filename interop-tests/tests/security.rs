//! Security on the connection with real clients (rdkafka, kcat) and raw requests: TLS and
//! mTLS, SASL PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER over SASL_PLAINTEXT and SASL_SSL,
//! refused logins, re-authentication (KIP-368), requests before authentication, the SCRAM
//! credential APIs, and each listener advertising its own address.
//!
//! Certificates are made at run time with rcgen; no key is committed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientContext, Offset};
use sluice::config::SecurityProtocol;
use sluice::security::scram::ScramMechanism;
use sluice::Config;
use sluice_interop_tests::wire::Wire;
use sluice_interop_tests::{
    assert_all_delivered, assigned_consumer, consume_exactly, consumer_config, create_topic,
    producer_config, stored_batches, unique_topic, Record, TestBroker, TestProducer,
};

/// A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and a CA
/// that signed none of them, as PEM files in a temporary directory.
struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    fn new() -> Certificates {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("a temporary directory");
        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).expect("write a PEM file")
        };
        let ca = |cn: &str| {
            let key = KeyPair::generate().expect("a CA key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.self_signed(&key).expect("a CA certificate");
            (cert, key)
        };
        let (ca_cert, ca_key) = ca("Sluice test CA");
        let (other_cert, _) = ca("Some other CA");
        let server_key = KeyPair::generate().expect("a server key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("server params")
            .signed_by(&server_key, &ca_cert, &ca_key)
            .expect("a server certificate");
        let client_key = KeyPair::generate().expect("a client key");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
        client
            .distinguished_name
            .push(DnType::CommonName, "client-one");
        client
            .distinguished_name
            .push(DnType::OrganizationName, "Sluice Tests");
        let client = client
            .signed_by(&client_key, &ca_cert, &ca_key)
            .expect("a client certificate");
        write("ca.pem", ca_cert.pem());
        write("other-ca.pem", other_cert.pem());
        write("server.pem", server.pem());
        write("server.key", server_key.serialize_pem());
        write("client.pem", client.pem());
        write("client.key", client_key.serialize_pem());
        Certificates { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A broker with a listener of each protocol, TLS from `certs`, users alice/bob, every
/// mechanism enabled.
fn secure_config(certs: &Certificates) -> Config {
    Config {
        listeners: SecurityProtocol::ALL
            .iter()
            .map(|p| format!("{p}://127.0.0.1:0"))
            .collect(),
        tls_cert: Some(certs.path("server.pem")),
        tls_key: Some(certs.path("server.key")),
        sasl_users: vec![
            "alice:alice-secret".to_string(),
            "bob:bob-secret".to_string(),
        ]
        .into(),
        sasl_enabled_mechanisms: sluice::config::SASL_MECHANISMS
            .iter()
            .map(|m| m.to_string())
            .collect(),
        ..Config::for_tests()
    }
}

/// Starts a broker, the log capture installed first (the test binary's one subscriber).
fn start(config: Config) -> TestBroker {
    CapturedLogs::install();
    TestBroker::start_with(config)
}

fn bootstrap(broker: &TestBroker, protocol: SecurityProtocol) -> String {
    broker.listener_addr(protocol).to_string()
}

/// rdkafka settings for `mechanism` as `user` over `protocol`.
fn sasl_settings(
    config: &mut ClientConfig,
    certs: &Certificates,
    protocol: SecurityProtocol,
    mechanism: &str,
    user: &str,
    password: &str,
) {
    config.set("security.protocol", protocol.name());
    if protocol.uses_tls() {
        config.set(
            "ssl.ca.location",
            certs.path("ca.pem").to_str().expect("a UTF-8 path"),
        );
    }
    if protocol.uses_sasl() {
        config.set("sasl.mechanism", mechanism);
        if mechanism == "OAUTHBEARER" {
            config
                .set("enable.sasl.oauthbearer.unsecure.jwt", "true")
                .set("sasl.oauthbearer.config", format!("principal={user}"));
        } else {
            config
                .set("sasl.username", user)
                .set("sasl.password", password);
        }
    }
}

/// A record's key and value.
type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

fn records(tag: &str) -> Vec<Record> {
    (0..3)
        .map(|i| Record::keyed(format!("{tag}-key-{i}"), format!("{tag}-value-{i}")))
        .collect()
}

#[test]
fn every_mechanism_produces_and_consumes_over_sasl_plaintext_and_sasl_ssl() {
    let certs = Certificates::new();
    let broker = start(secure_config(&certs));
    for protocol in [SecurityProtocol::SaslPlaintext, SecurityProtocol::SaslSsl] {
        for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
            let servers = bootstrap(&broker, protocol);
            let topic = unique_topic(&format!("sec-{}", mechanism.to_lowercase()));
            let mut producer = producer_config(&servers);
            sasl_settings(
                &mut producer,
                &certs,
                protocol,
                mechanism,
                "alice",
                "alice-secret",
            );
            let sent = records(mechanism);
            assert_all_delivered(&TestProducer::new(&producer).send_all(&topic, &sent));
            let mut consumer = consumer_config(&servers);
            sasl_settings(
                &mut consumer,
                &certs,
                protocol,
                mechanism,
                "alice",
                "alice-secret",
            );
            let consumer = assigned_consumer(&consumer, &topic, &[(0, Offset::Beginning)]);
            let received = consume_exactly(&consumer, 3);
            let got: Vec<KeyValue> = received
                .iter()
                .map(|r| (r.key.clone(), r.value.clone()))
                .collect();
            let want: Vec<KeyValue> = sent
                .iter()
                .map(|r| (r.key.clone(), r.value.clone()))
                .collect();
            assert_eq!(got, want, "{mechanism} over {protocol}");
            assert_eq!(
                received.iter().map(|r| r.offset).collect::<Vec<_>>(),
                vec![0, 1, 2]
            );
        }
    }
    let metrics = broker.broker().metrics().render();
    assert!(
        metrics.contains(
            r#"sluice_authentications_total{listener="SASL_SSL",mechanism="SCRAM-SHA-512",result="success"}"#
        ),
        "{metrics}"
    );
}

/// Records the errors librdkafka reports through its error callback.
#[derive(Clone, Default)]
struct ErrorLog(Arc<Mutex<Vec<String>>>);

impl ClientContext for ErrorLog {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .lock()
            .expect("the error log")
            .push(format!("{error}: {reason}"));
    }
}

impl rdkafka::producer::ProducerContext for ErrorLog {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

impl ErrorLog {
    /// Waits until an error containing `needle` is reported; returns every error so far.
    fn wait_for(&self, producer: &BaseProducer<ErrorLog>, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            producer.poll(Duration::from_millis(100));
            let errors = self.0.lock().expect("the error log").clone();
            if errors.iter().any(|e| e.contains(needle)) {
                return errors;
            }
            assert!(
                Instant::now() < deadline,
                "no error containing {needle:?}; errors: {errors:?}"
            );
        }
    }
}

/// Tries to produce one record and returns the client's errors once one contains `needle`.
fn refused(config: &ClientConfig, topic: &str, needle: &str) -> Vec<String> {
    let log = ErrorLog::default();
    let producer: BaseProducer<ErrorLog> =
        config.create_with_context(log.clone()).expect("a producer");
    producer
        .send(BaseRecord::to(topic).key("k").payload("refused"))
        .map_err(|(e, _)| e)
        .expect("queued");
    let errors = log.wait_for(&producer, needle);
    producer.purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
    errors
}

#[test]
fn a_wrong_password_and_an_unknown_user_are_refused_and_nothing_is_appended() {
    let certs = Certificates::new();
    let broker = start(secure_config(&certs));
    let topic = unique_topic("sec-refused");
    create_topic(
        &bootstrap(&broker, SecurityProtocol::Plaintext),
        &topic,
        1,
        &[],
    )
    .expect("create the topic");
    for protocol in [SecurityProtocol::SaslPlaintext, SecurityProtocol::SaslSsl] {
        for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
            for (user, password) in [("alice", "not-her-password"), ("mallory", "anything")] {
                let mut config = producer_config(&bootstrap(&broker, protocol));
                sasl_settings(&mut config, &certs, protocol, mechanism, user, password);
                let errors = refused(&config, &topic, "Authentication failed");
                assert!(
                    errors
                        .iter()
                        .any(|e| e.contains("SASL authentication error")),
                    "{mechanism} {user} over {protocol}: {errors:?}"
                );
            }
        }
    }
    assert!(
        stored_batches(&broker, &topic, 0).is_empty(),
        "nothing appended"
    );
    let metrics = broker.broker().metrics().render();
    assert!(metrics.contains(
        r#"sluice_authentications_total{listener="SASL_PLAINTEXT",mechanism="PLAIN",result="failure"}"#
    ));
}

#[test]
fn a_client_that_trusts_another_ca_fails_the_handshake() {
    let certs = Certificates::new();
    let broker = start(secure_config(&certs));
    let topic = unique_topic("sec-wrong-ca");
    create_topic(
        &bootstrap(&broker, SecurityProtocol::Plaintext),
        &topic,
        1,
        &[],
    )
    .expect("create the topic");
    let mut config = producer_config(&bootstrap(&broker, SecurityProtocol::Ssl));
    config.set("security.protocol", "SSL").set(
        "ssl.ca.location",
        certs.path("other-ca.pem").to_str().expect("UTF-8"),
    );
    let errors = refused(&config, &topic, "certificate verify failed");
    // librdkafka words it "SSL handshake failed: ..." or "... (after N ms in state
    // SSL_HANDSHAKE)", depending on when OpenSSL reports the failure.
    assert!(
        errors
            .iter()
            .any(|e| e.contains("SSL handshake failed") || e.contains("state SSL_HANDSHAKE")),
        "{errors:?}"
    );
    assert!(
        stored_batches(&broker, &topic, 0).is_empty(),
        "nothing appended"
    );
}

/// Log lines of the sluice crate, at info, kept for the tests to read.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("the log buffer")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Installed once for this test binary (before any broker starts its own).
    fn install() -> CapturedLogs {
        static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = CapturedLogs::default();
            let writer = logs.clone();
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("sluice=info"))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .try_init();
            logs
        })
        .clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("the log buffer")).into_owned()
    }
}

#[test]
fn with_a_client_ca_the_certificate_subject_is_the_principal() {
    let logs = CapturedLogs::install();
    let certs = Certificates::new();
    let broker = start(Config {
        tls_client_ca: Some(certs.path("ca.pem")),
        ..secure_config(&certs)
    });
    let topic = unique_topic("sec-mtls");
    let mut config = producer_config(&bootstrap(&broker, SecurityProtocol::Ssl));
    config
        .set("security.protocol", "SSL")
        .set(
            "ssl.ca.location",
            certs.path("ca.pem").to_str().expect("UTF-8"),
        )
        .set(
            "ssl.certificate.location",
            certs.path("client.pem").to_str().expect("UTF-8"),
        )
        .set(
            "ssl.key.location",
            certs.path("client.key").to_str().expect("UTF-8"),
        );
    assert_all_delivered(&TestProducer::new(&config).send_all(&topic, &records("mtls")));
    assert_eq!(stored_batches(&broker, &topic, 0).len(), 1);
    // RFC 2253: the most specific name first, as Kafka's default principal builder gives.
    let text = logs.text();
    assert!(
        text.contains("principal=User:O=Sluice Tests,CN=client-one"),
        "{text}"
    );

    // Without a client certificate the handshake fails.
    let mut anonymous = producer_config(&bootstrap(&broker, SecurityProtocol::Ssl));
    anonymous.set("security.protocol", "SSL").set(
        "ssl.ca.location",
        certs.path("ca.pem").to_str().expect("UTF-8"),
    );
    let errors = refused(&anonymous, &topic, "SSL");
    assert!(!errors.is_empty());
    assert_eq!(
        stored_batches(&broker, &topic, 0).len(),
        1,
        "nothing more appended"
    );

    // SASL_SSL clients log in with SASL and need no certificate of their own.
    let mut sasl = producer_config(&bootstrap(&broker, SecurityProtocol::SaslSsl));
    sasl_settings(
        &mut sasl,
        &certs,
        SecurityProtocol::SaslSsl,
        "PLAIN",
        "alice",
        "alice-secret",
    );
    assert_all_delivered(&TestProducer::new(&sasl).send_all(&topic, &records("sasl-ssl")));
    assert_eq!(stored_batches(&broker, &topic, 0).len(), 2);
}

#[test]
fn librdkafka_re_authenticates_and_keeps_producing_past_several_session_lifetimes() {
    let certs = Certificates::new();
    let broker = start(Config {
        connections_max_reauth_ms: 1500,
        ..secure_config(&certs)
    });
    let topic = unique_topic("sec-reauth");
    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        let mut config = producer_config(&bootstrap(&broker, SecurityProtocol::SaslPlaintext));
        sasl_settings(
            &mut config,
            &certs,
            SecurityProtocol::SaslPlaintext,
            mechanism,
            "bob",
            "bob-secret",
        );
        let producer = TestProducer::new(&config);
        // 6 s: four lifetimes of 1.5 s, a record every 300 ms.
        for i in 0..20 {
            let report = producer.send_one(&topic, &Record::value(format!("{mechanism}-{i}")));
            assert!(report.error.is_none(), "{mechanism} record {i}: {report:?}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let total: usize = stored_batches(&broker, &topic, 0).len();
    assert_eq!(total, 40, "every record appended once, in its own batch");
    let metrics = broker.broker().metrics().render();
    let successes: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("sluice_authentications_total{")
                && l.contains(r#"listener="SASL_PLAINTEXT""#)
                && l.contains(r#"result="success""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // The first login of each producer, then a renewal per lifetime on each connection.
    assert!(successes >= 6.0, "{successes} authentications:\n{metrics}");
}

async fn handshake(wire: &mut Wire, version: i16, mechanism: &str) -> SaslHandshakeResponse {
    wire.call(
        ApiKey::SaslHandshake,
        version,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into())),
    )
    .await
}

async fn authenticate(wire: &mut Wire, version: i16, bytes: &[u8]) -> SaslAuthenticateResponse {
    wire.call(
        ApiKey::SaslAuthenticate,
        version,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(bytes)),
    )
    .await
}

async fn metadata(wire: &mut Wire) -> MetadataResponse {
    wire.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(vec![])),
    )
    .await
}

#[test]
fn raw_clients_see_the_sasl_rules() {
    let certs = Certificates::new();
    let broker = start(Config {
        connections_max_reauth_ms: 1000,
        ..secure_config(&certs)
    });
    let topic = unique_topic("sec-raw");
    create_topic(
        &bootstrap(&broker, SecurityProtocol::Plaintext),
        &topic,
        1,
        &[],
    )
    .expect("create the topic");
    let sasl = broker.listener_addr(SecurityProtocol::SaslPlaintext);
    let plaintext = broker.listener_addr(SecurityProtocol::Plaintext);
    broker.block_on(async {
        // Produce, Metadata and JoinGroup before authentication close the connection.
        let produce = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from_static(b"not even a batch"))),
                ])]);
        let mut wire = Wire::connect(sasl).await;
        wire.send(0, 9, 2, &produce, 9).await;
        wire.expect_closed("Produce before authentication").await;
        let mut wire = Wire::connect(sasl).await;
        let _: ApiVersionsResponse = wire
            .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
            .await;
        wire.send(3, 12, 2, &MetadataRequest::default(), 12).await;
        wire.expect_closed("Metadata before authentication").await;
        let mut wire = Wire::connect(sasl).await;
        assert_eq!(handshake(&mut wire, 1, "PLAIN").await.error_code, 0);
        let join = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_session_timeout_ms(10_000)
            .with_protocol_type(StrBytes::from_static_str("consumer"));
        wire.send(11, 5, 1, &join, 5).await;
        wire.expect_closed("JoinGroup during authentication").await;

        // An unsupported mechanism names the enabled ones.
        let mut wire = Wire::connect(sasl).await;
        let answer = handshake(&mut wire, 1, "GSSAPI").await;
        assert_eq!(answer.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
        let offered: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
        assert_eq!(
            offered,
            ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
        );
        wire.expect_closed("after an unsupported mechanism").await;

        // A wrong password: SASL_AUTHENTICATION_FAILED with a message, then the close.
        let mut wire = Wire::connect(sasl).await;
        assert_eq!(handshake(&mut wire, 1, "PLAIN").await.error_code, 0);
        let answer = authenticate(&mut wire, 2, b"\0alice\0wrong").await;
        assert_eq!(answer.error_code, 58, "SASL_AUTHENTICATION_FAILED");
        assert!(answer
            .error_message
            .as_ref()
            .is_some_and(|m| m.contains("Authentication failed")));
        wire.expect_closed("after a failed authentication").await;

        // A good login: the session lasts connections_max_reauth_ms; Metadata gives this
        // listener's address; a connection that does not renew is closed once it expired.
        let mut wire = Wire::connect(sasl).await;
        assert_eq!(handshake(&mut wire, 1, "PLAIN").await.error_code, 0);
        let answer = authenticate(&mut wire, 1, b"\0alice\0alice-secret").await;
        assert_eq!(answer.error_code, 0);
        assert_eq!(answer.session_lifetime_ms, 1000);
        let brokers = metadata(&mut wire).await.brokers;
        assert_eq!(brokers.len(), 1);
        assert_eq!(
            i32::from(sasl.port()),
            brokers[0].port,
            "the SASL listener's port"
        );
        // A renewal on the same connection.
        assert_eq!(handshake(&mut wire, 1, "PLAIN").await.error_code, 0);
        let answer = authenticate(&mut wire, 2, b"\0alice\0alice-secret").await;
        assert_eq!((answer.error_code, answer.session_lifetime_ms), (0, 1000));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        wire.send(3, 12, 2, &MetadataRequest::default(), 12).await;
        wire.expect_closed("a request after the session expired")
            .await;

        // The PLAINTEXT listener advertises its own port and refuses SASL as out of place.
        let mut wire = Wire::connect(plaintext).await;
        let brokers = metadata(&mut wire).await.brokers;
        assert_eq!(i32::from(plaintext.port()), brokers[0].port);
        assert_eq!(
            handshake(&mut wire, 1, "PLAIN").await.error_code,
            34,
            "ILLEGAL_SASL_STATE"
        );
    });
    assert!(
        stored_batches(&broker, &topic, 0).is_empty(),
        "nothing appended"
    );
}

#[test]
fn sasl_handshake_v0_carries_bare_tokens() {
    let certs = Certificates::new();
    let broker = start(secure_config(&certs));
    let sasl = broker.listener_addr(SecurityProtocol::SaslPlaintext);
    broker.block_on(async {
        let mut wire = Wire::connect(sasl).await;
        assert_eq!(handshake(&mut wire, 0, "PLAIN").await.error_code, 0);
        let token = b"\0bob\0bob-secret";
        let mut frame = (token.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(token);
        wire.write(&frame).await;
        assert_eq!(
            wire.read_frame().await.as_deref(),
            Some(&b""[..]),
            "an empty final token"
        );
        assert_eq!(metadata(&mut wire).await.brokers.len(), 1);

        let mut wire = Wire::connect(sasl).await;
        assert_eq!(handshake(&mut wire, 0, "PLAIN").await.error_code, 0);
        let token = b"\0bob\0wrong";
        let mut frame = (token.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(token);
        wire.write(&frame).await;
        wire.expect_closed("a bad bare token").await;
    });
}

#[test]
fn plaintext_on_a_tls_port_and_tls_on_a_plaintext_port_are_closed() {
    let certs = Certificates::new();
    let broker = start(secure_config(&certs));
    let ssl = broker.listener_addr(SecurityProtocol::Ssl);
    let plaintext = broker.listener_addr(SecurityProtocol::Plaintext);
    broker.block_on(async {
        let mut wire = Wire::connect(ssl).await;
        wire.send(18, 3, 2, &ApiVersionsRequest::default(), 3).await;
        wire.expect_closed_or_reset("a Kafka request on the TLS port")
            .await;
        // The first bytes of a TLS ClientHello read as a 369 MB frame.
        let mut wire = Wire::connect(plaintext).await;
        wire.write(&[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ])
        .await;
        wire.expect_closed("a TLS ClientHello on the plaintext port")
            .await;
        // Both still serve the clients that speak their protocol.
        let mut wire = Wire::connect(plaintext).await;
        assert_eq!(metadata(&mut wire).await.brokers.len(), 1);
    });
    let servers = bootstrap(&broker, SecurityProtocol::Ssl);
    let mut config = producer_config(&servers);
    config.set("security.protocol", "SSL").set(
        "ssl.ca.location",
        certs.path("ca.pem").to_str().expect("UTF-8"),
    );
    let topic = unique_topic("sec-ssl-still");
    assert_all_delivered(&TestProducer::new(&config).send_all(&topic, &records("ssl")));
}

fn salted(mechanism: ScramMechanism, password: &str, salt: &[u8], iterations: i32) -> Bytes {
    Bytes::from(mechanism.salted_password(password.as_bytes(), salt, iterations as u32))
}

async fn alter(wire: &mut Wire, request: &AlterUserScramCredentialsRequest) -> Vec<(String, i16)> {
    let answer: AlterUserScramCredentialsResponse = wire
        .call(ApiKey::AlterUserScramCredentials, 0, request)
        .await;
    answer
        .results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect()
}

async fn describe(wire: &mut Wire, users: &[&str]) -> Vec<(String, i16, Vec<(i8, i32)>)> {
    let request = DescribeUserScramCredentialsRequest::default().with_users(Some(
        users
            .iter()
            .map(|u| UserName::default().with_name(StrBytes::from_string(u.to_string())))
            .collect(),
    ));
    let answer: DescribeUserScramCredentialsResponse = wire
        .call(ApiKey::DescribeUserScramCredentials, 0, &request)
        .await;
    answer
        .results
        .iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.error_code,
                r.credential_infos
                    .iter()
                    .map(|c| (c.mechanism, c.iterations))
                    .collect(),
            )
        })
        .collect()
}

fn upsertion(
    user: &str,
    mechanism: ScramMechanism,
    password: &str,
    iterations: i32,
) -> ScramCredentialUpsertion {
    let salt = b"carols-salt-0123";
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.into()))
        .with_mechanism(mechanism.code())
        .with_iterations(iterations)
        .with_salt(Bytes::from_static(salt))
        .with_salted_password(salted(mechanism, password, salt, iterations.max(1)))
}

#[test]
fn scram_credentials_altered_through_the_api_log_in_and_survive_a_restart() {
    let certs = Certificates::new();
    let data = tempfile::tempdir().expect("a data directory");
    let config = Config {
        memory: false,
        data_dir: data.path().to_path_buf(),
        ..secure_config(&certs)
    };
    let broker = start(config.clone());
    let plaintext = broker.listener_addr(SecurityProtocol::Plaintext);
    broker.block_on(async {
        let mut wire = Wire::connect(plaintext).await;
        let request = AlterUserScramCredentialsRequest::default()
            .with_upsertions(vec![
                upsertion("carol", ScramMechanism::Sha512, "carol-secret", 8192),
                upsertion("dave", ScramMechanism::Sha256, "x", 100),
                upsertion("erin", ScramMechanism::Sha256, "x", 20_000),
                upsertion("frank", ScramMechanism::Sha256, "x", 4096),
            ])
            .with_deletions(vec![
                ScramCredentialDeletion::default()
                    .with_name(StrBytes::from_static_str("frank"))
                    .with_mechanism(1),
                ScramCredentialDeletion::default()
                    .with_name(StrBytes::from_static_str("nobody"))
                    .with_mechanism(1),
            ]);
        let outcomes = alter(&mut wire, &request).await;
        let expected = [
            ("frank", 92),  // DUPLICATE_RESOURCE: altered twice in one request
            ("nobody", 91), // RESOURCE_NOT_FOUND
            ("carol", 0),
            ("dave", 93), // UNACCEPTABLE_CREDENTIAL: too few iterations
            ("erin", 93), // too many
        ];
        let expected: Vec<(String, i16)> =
            expected.iter().map(|(u, c)| (u.to_string(), *c)).collect();
        assert_eq!(outcomes, expected);
        assert_eq!(
            describe(&mut wire, &["carol", "alice", "nobody"]).await,
            vec![
                ("carol".to_string(), 0, vec![(2, 8192)]),
                ("alice".to_string(), 0, vec![(1, 4096), (2, 4096)]),
                ("nobody".to_string(), 91, vec![]),
            ]
        );
    });
    let login = |broker: &TestBroker, password: &str| {
        let mut config = producer_config(&bootstrap(broker, SecurityProtocol::SaslSsl));
        sasl_settings(
            &mut config,
            &certs,
            SecurityProtocol::SaslSsl,
            "SCRAM-SHA-512",
            "carol",
            password,
        );
        config
    };
    let topic = unique_topic("sec-carol");
    assert_all_delivered(
        &TestProducer::new(&login(&broker, "carol-secret")).send_all(&topic, &records("carol")),
    );
    drop(broker);

    let broker = start(config);
    let topic = unique_topic("sec-carol-again");
    assert_all_delivered(
        &TestProducer::new(&login(&broker, "carol-secret")).send_all(&topic, &records("again")),
    );
    let text = std::fs::read_to_string(data.path().join("scram_credentials.json"))
        .expect("the credentials file");
    assert!(!text.contains("carol-secret") && !text.contains("alice-secret"));
    // PLAIN checks the password against the same SCRAM credential.
    let mut plain = producer_config(&bootstrap(&broker, SecurityProtocol::SaslPlaintext));
    sasl_settings(
        &mut plain,
        &certs,
        SecurityProtocol::SaslPlaintext,
        "PLAIN",
        "carol",
        "carol-secret",
    );
    assert_all_delivered(&TestProducer::new(&plain).send_all(&topic, &records("plain")));
    assert_eq!(stored_batches(&broker, &topic, 0).len(), 2);
}

#[test]
fn kcat_talks_scram_sha_256_over_sasl_ssl() {
    let certs = Certificates::new();
    let broker = start(secure_config(&certs));
    let topic = unique_topic("sec-kcat");
    let servers = bootstrap(&broker, SecurityProtocol::SaslSsl);
    let ca = certs.path("ca.pem");
    let common = |mode: &str| -> Vec<String> {
        [
            "-b",
            &servers,
            "-t",
            &topic,
            mode,
            "-X",
            "security.protocol=SASL_SSL",
            "-X",
            "sasl.mechanism=SCRAM-SHA-256",
            "-X",
            "sasl.username=alice",
            "-X",
            "sasl.password=alice-secret",
            "-X",
            &format!("ssl.ca.location={}", ca.display()),
            "-X",
            "broker.address.family=v4",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |args: Vec<String>, input: Option<&str>| {
        let mut child = Command::new("kcat")
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kcat on PATH (CI installs it)");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            if let Some(input) = input {
                stdin
                    .write_all(input.as_bytes())
                    .expect("write kcat's input");
            }
        }
        let output = child.wait_with_output().expect("kcat runs");
        assert!(
            output.status.success(),
            "kcat {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    };
    run(common("-P"), Some("one\ntwo\nthree\n"));
    let mut consume = common("-C");
    consume.extend(["-o", "beginning", "-e", "-q"].map(String::from));
    assert_eq!(run(consume, None), "one\ntwo\nthree\n");
}
