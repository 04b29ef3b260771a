package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialDeletion;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Java client over Sluice's secured listeners: SCRAM-SHA-512 and SCRAM-SHA-256 over
 * SASL_SSL, PLAIN over SASL_PLAINTEXT, a wrong password refused with Kafka's exception, and SCRAM
 * credentials managed with the Admin client. One broker for the class, started here with {@code
 * --listener}, {@code --tls-cert}/{@code --tls-key} and {@code --sasl-user}; its certificate is
 * made at run time with {@code openssl} (self-signed, for 127.0.0.1), never committed.
 */
class SecurityTest {
  private static Path dir;
  private static SluiceProcess broker;
  private static String saslSsl;
  private static String saslPlaintext;
  private static Path certificate;
  private static int names;

  @BeforeAll
  static void start() throws Exception {
    dir = Files.createTempDirectory("sluice-java-security");
    certificate = dir.resolve("cert.pem");
    Path key = dir.resolve("key.pem");
    run(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", key.toString(), "-out", certificate.toString(), "-days", "1",
        "-subj", "/CN=sluice", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost");
    saslSsl = SluiceProcess.freeAddress();
    saslPlaintext = SluiceProcess.freeAddress();
    broker =
        SluiceProcess.start(
            "SecurityTest",
            List.of(
                "--memory", "--http", "none",
                "--listener", "SASL_SSL://" + saslSsl,
                "--listener", "SASL_PLAINTEXT://" + saslPlaintext,
                "--tls-cert", certificate.toString(), "--tls-key", key.toString(),
                "--sasl-user", "alice:alice-secret", "--sasl-user", "admin:admin-secret"),
            List.of(saslSsl, saslPlaintext));
  }

  @AfterAll
  static void stop() throws Exception {
    if (broker != null) {
      broker.close();
    }
  }

  /** Client settings for SASL over `address` (TLS when `tls`) as `user`. */
  private static Properties sasl(
      String address, boolean tls, String mechanism, String user, String password) {
    Properties props = new Properties();
    props.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, address);
    props.put(
        CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, tls ? "SASL_SSL" : "SASL_PLAINTEXT");
    props.put(SaslConfigs.SASL_MECHANISM, mechanism);
    String module =
        mechanism.equals("PLAIN")
            ? "org.apache.kafka.common.security.plain.PlainLoginModule"
            : "org.apache.kafka.common.security.scram.ScramLoginModule";
    props.put(
        SaslConfigs.SASL_JAAS_CONFIG,
        module + " required username=\"" + user + "\" password=\"" + password + "\";");
    if (tls) {
      // The broker's certificate names 127.0.0.1, so hostname verification stays on.
      props.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
      props.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, certificate.toString());
    }
    props.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
    props.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, 20_000);
    return props;
  }

  /** Creates a topic, produces keyed records with a header and reads them back exactly. */
  private static void roundTrip(Properties props) throws Exception {
    String topic = "java-sasl-" + ProcessHandle.current().pid() + "-" + (++names);
    try (Admin admin = Admin.create(props)) {
      admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
    }
    Properties producerProps = new Properties();
    producerProps.putAll(props);
    producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    producerProps.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 20_000);
    List<Long> offsets = new ArrayList<>();
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
      for (int i = 0; i < 10; i++) {
        ProducerRecord<String, String> record =
            new ProducerRecord<>(topic, 0, "key-" + i, "value-" + i);
        record.headers().add("n", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
        RecordMetadata sent = producer.send(record).get(20, TimeUnit.SECONDS);
        offsets.add(sent.offset());
      }
    }
    assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L), offsets);
    Properties consumerProps = new Properties();
    consumerProps.putAll(props);
    consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    List<String> read = new ArrayList<>();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
      TopicPartition partition = new TopicPartition(topic, 0);
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (read.size() < 10 && System.nanoTime() < deadline) {
        ConsumerRecords<String, String> records = consumer.poll(java.time.Duration.ofMillis(200));
        for (ConsumerRecord<String, String> r : records) {
          read.add(
              r.offset() + " " + r.key() + " " + r.value() + " n="
                  + new String(r.headers().lastHeader("n").value(), StandardCharsets.UTF_8));
        }
      }
    }
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      expected.add(i + " key-" + i + " value-" + i + " n=" + i);
    }
    assertEquals(expected, read);
  }

  @Test
  void scramSha512OverSaslSsl() throws Exception {
    roundTrip(sasl(saslSsl, true, "SCRAM-SHA-512", "alice", "alice-secret"));
  }

  @Test
  void scramSha256OverSaslSsl() throws Exception {
    roundTrip(sasl(saslSsl, true, "SCRAM-SHA-256", "alice", "alice-secret"));
  }

  @Test
  void plainOverSaslPlaintext() throws Exception {
    roundTrip(sasl(saslPlaintext, false, "PLAIN", "alice", "alice-secret"));
  }

  @Test
  void aWrongPasswordIsRefusedWithSaslAuthenticationException() {
    for (String mechanism : List.of("SCRAM-SHA-512", "PLAIN")) {
      try (Admin admin = Admin.create(sasl(saslSsl, true, mechanism, "alice", "wrong"))) {
        ExecutionException failed =
            assertThrows(
                ExecutionException.class, () -> admin.describeCluster().clusterId().get());
        assertInstanceOf(SaslAuthenticationException.class, failed.getCause(), mechanism);
      }
    }
  }

  @Test
  void scramCredentialsAreManagedWithTheAdminClient() throws Exception {
    Properties asAdmin = sasl(saslSsl, true, "SCRAM-SHA-512", "admin", "admin-secret");
    try (Admin admin = Admin.create(asAdmin)) {
      admin
          .alterUserScramCredentials(
              List.of(
                  new UserScramCredentialUpsertion(
                      "carol", new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                      "carol-secret")))
          .all()
          .get();
      Map<String, UserScramCredentialsDescription> described =
          admin.describeUserScramCredentials(List.of("carol", "alice")).all().get();
      assertEquals(
          List.of(new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096)),
          described.get("carol").credentialInfos());
      Map<ScramMechanism, Integer> alice = new HashMap<>();
      described.get("alice").credentialInfos().forEach(c -> alice.put(c.mechanism(), c.iterations()));
      assertTrue(
          alice.keySet().containsAll(List.of(ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)),
          "a --sasl-user has both SCRAM mechanisms: " + alice);

      roundTrip(sasl(saslSsl, true, "SCRAM-SHA-256", "carol", "carol-secret"));

      admin
          .alterUserScramCredentials(
              List.of(new UserScramCredentialDeletion("carol", ScramMechanism.SCRAM_SHA_256)))
          .all()
          .get();
    }
    try (Admin carol = Admin.create(sasl(saslSsl, true, "SCRAM-SHA-256", "carol", "carol-secret"))) {
      ExecutionException failed =
          assertThrows(ExecutionException.class, () -> carol.describeCluster().clusterId().get());
      assertInstanceOf(SaslAuthenticationException.class, failed.getCause());
    }
  }

  private static void run(String... command) throws IOException, InterruptedException {
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (process.waitFor() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + output);
    }
  }
}
