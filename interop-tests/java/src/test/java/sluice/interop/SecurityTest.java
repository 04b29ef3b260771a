package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static sluice.interop.Clients.TIMEOUT;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kafka-clients with SCRAM-SHA-512 over SASL_SSL against its own broker (one SASL_SSL listener,
 * one user), whose certificates the {@code openssl} command makes at run time (no key is
 * committed); and a wrong password refused.
 */
class SecurityTest {
  private static final String USER = "alice";
  private static final String PASSWORD = "alice-secret";

  @TempDir static Path certs;
  private static Process broker;
  private static String bootstrap;

  private static void openssl(String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of("openssl"));
    command.addAll(List.of(args));
    Process p =
        new ProcessBuilder(command)
            .directory(certs.toFile())
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    assertEquals(0, p.waitFor(), "openssl " + String.join(" ", args));
  }

  @BeforeAll
  static void start() throws Exception {
    String[] ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
    List<String> ca = new ArrayList<>(List.of("req", "-x509"));
    ca.addAll(List.of(ec));
    ca.addAll(List.of("-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=CA"));
    openssl(ca.toArray(String[]::new));
    List<String> csr = new ArrayList<>(List.of("req"));
    csr.addAll(List.of(ec));
    csr.addAll(
        List.of("-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"));
    openssl(csr.toArray(String[]::new));
    Files.writeString(
        certs.resolve("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext");

    int port;
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress("127.0.0.1", 0));
      port = socket.getLocalPort();
    }
    bootstrap = "127.0.0.1:" + port;
    String configured = System.getProperty("sluice.bin");
    if (configured == null || configured.isBlank() || configured.startsWith("${")) {
      configured = System.getenv("SLUICE_BIN");
    }
    Path binary =
        configured == null || configured.isBlank()
            ? Paths.get("..", "..", "target", "debug", "sluice").toAbsolutePath().normalize()
            : Paths.get(configured).toAbsolutePath();
    String logDir = System.getenv("INTEROP_LOG_DIR");
    Path log =
        Paths.get(logDir == null || logDir.isBlank() ? System.getProperty("java.io.tmpdir") : logDir)
            .resolve("broker-java-SecurityTest.log");
    Files.createDirectories(log.getParent());
    ProcessBuilder builder =
        new ProcessBuilder(
            binary.toString(), "serve", "--memory", "--http", "none",
            "--listener", "SASL_SSL://" + bootstrap,
            "--tls-cert", certs.resolve("server.pem").toString(),
            "--tls-key", certs.resolve("server.key").toString(),
            "--sasl-user", USER + ":" + PASSWORD);
    builder.environment().keySet().removeIf(name -> name.startsWith("SLUICE_"));
    builder.redirectErrorStream(true);
    builder.redirectOutput(ProcessBuilder.Redirect.to(log.toFile()));
    builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    broker = builder.start();
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (true) {
      if (!broker.isAlive()) {
        throw new IllegalStateException(
            "sluice exited before accepting: " + Files.readString(log, StandardCharsets.UTF_8));
      }
      try (Socket s = new Socket("127.0.0.1", port)) {
        break;
      } catch (IOException notYet) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("sluice did not accept on " + bootstrap);
        }
        Thread.sleep(50);
      }
    }
  }

  @AfterAll
  static void stop() throws Exception {
    if (broker != null && broker.isAlive()) {
      broker.destroy();
      if (!broker.waitFor(10, TimeUnit.SECONDS)) {
        broker.destroyForcibly();
      }
    }
  }

  private static Map<String, Object> settings(String password) {
    Map<String, Object> config = new HashMap<>();
    config.put("bootstrap.servers", bootstrap);
    config.put("security.protocol", "SASL_SSL");
    config.put("ssl.truststore.type", "PEM");
    config.put("ssl.truststore.location", certs.resolve("ca.pem").toString());
    config.put("sasl.mechanism", "SCRAM-SHA-512");
    config.put(
        "sasl.jaas.config",
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
            + USER + "\" password=\"" + password + "\";");
    return config;
  }

  @Test
  void scramSha512OverSaslSslProducesAndConsumes() throws Exception {
    String topic = "java-sec-" + ProcessHandle.current().pid();
    List<Long> offsets = new ArrayList<>();
    try (KafkaProducer<String, String> producer =
        new KafkaProducer<>(settings(PASSWORD), new StringSerializer(), new StringSerializer())) {
      for (int i = 0; i < 3; i++) {
        offsets.add(
            producer
                .send(new ProducerRecord<>(topic, 0, "key-" + i, "value-" + i))
                .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                .offset());
      }
    }
    assertEquals(List.of(0L, 1L, 2L), offsets);
    Map<String, Object> consumerSettings = settings(PASSWORD);
    consumerSettings.put("group.id", "java-sec");
    consumerSettings.put("enable.auto.commit", "false");
    List<String> received = new ArrayList<>();
    try (KafkaConsumer<String, String> consumer =
        new KafkaConsumer<>(
            consumerSettings, new StringDeserializer(), new StringDeserializer())) {
      TopicPartition partition = new TopicPartition(topic, 0);
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (received.size() < 3 && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          received.add(r.offset() + ":" + r.key() + ":" + r.value());
        }
      }
    }
    assertEquals(List.of("0:key-0:value-0", "1:key-1:value-1", "2:key-2:value-2"), received);
  }

  @Test
  void aWrongPasswordIsRefused() {
    try (Admin admin = Admin.create(settings("not-the-password"))) {
      ExecutionException failed =
          assertThrows(
              ExecutionException.class,
              () -> admin.describeCluster().clusterId().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
      assertInstanceOf(SaslAuthenticationException.class, failed.getCause());
    }
  }
}
