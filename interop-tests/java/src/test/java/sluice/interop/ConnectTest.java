package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static sluice.interop.Clients.TIMEOUT;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.cli.ConnectStandalone;
import org.apache.kafka.connect.runtime.Connect;
import org.apache.kafka.connect.runtime.ConnectorConfig;
import org.apache.kafka.connect.runtime.Herder;
import org.apache.kafka.connect.runtime.rest.entities.ConnectorInfo;
import org.apache.kafka.connect.runtime.standalone.StandaloneHerder;
import org.apache.kafka.connect.sink.SinkConnector;
import org.apache.kafka.connect.util.FutureCallback;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Kafka Connect 4.4 standalone worker, in-process, against the broker: a source connector
 * copies the lines of a file into a topic and a sink connector copies the topic into another
 * file (LineConnectors). A second worker on the same offset file and the same sink group must go
 * on where the first stopped.
 */
@ExtendWith(SluiceBroker.class)
class ConnectTest {
  private final SluiceBroker.Broker broker;

  ConnectTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  private Connect<StandaloneHerder> startWorker(Path offsets) {
    Map<String, String> props = new HashMap<>();
    props.put("bootstrap.servers", broker.bootstrap());
    props.put("key.converter", "org.apache.kafka.connect.storage.StringConverter");
    props.put("value.converter", "org.apache.kafka.connect.storage.StringConverter");
    props.put("offset.storage.file.filename", offsets.toString());
    props.put("offset.flush.interval.ms", "500");
    props.put("listeners", "http://127.0.0.1:0");
    // The two connectors are in META-INF/services; no classpath scan needed.
    props.put("plugin.discovery", "service_load");
    props.put("consumer.session.timeout.ms", String.valueOf(Clients.SESSION_TIMEOUT_MS));
    props.put("consumer.heartbeat.interval.ms", String.valueOf(Clients.HEARTBEAT_INTERVAL_MS));
    return new ConnectStandalone().startConnect(props);
  }

  static void putConnector(Herder herder, String name, Map<String, String> config)
      throws Exception {
    Map<String, String> full = new HashMap<>(config);
    full.put(ConnectorConfig.NAME_CONFIG, name);
    full.put(ConnectorConfig.TASKS_MAX_CONFIG, "1");
    FutureCallback<Herder.Created<ConnectorInfo>> created = new FutureCallback<>();
    herder.putConnectorConfig(name, full, false, created);
    assertEquals(name, created.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).result().name());
  }

  static List<String> lines(Path file) throws IOException {
    if (!Files.exists(file)) {
      return List.of();
    }
    // Complete lines only: the sink may be half-way through a batch.
    List<String> lines = new ArrayList<>(List.of(Files.readString(file, StandardCharsets.UTF_8).split("\n", -1)));
    lines.remove(lines.size() - 1);
    return lines;
  }

  static void waitForLines(Path file, int count) throws Exception {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (lines(file).size() < count) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "timed out waiting for " + count + " lines in " + file + ": " + lines(file).size());
      }
      Thread.sleep(50);
    }
  }

  static void append(Path file, List<String> lines) throws IOException {
    Files.writeString(
        file,
        String.join("\n", lines) + "\n",
        StandardCharsets.UTF_8,
        StandardOpenOption.CREATE,
        StandardOpenOption.APPEND);
  }

  static List<String> numbered(String prefix, int from, int to) {
    List<String> lines = new ArrayList<>();
    for (int i = from; i < to; i++) {
      lines.add(prefix + " " + i + " \u00fcber \u2603 " + "x".repeat(i % 7));
    }
    return lines;
  }

  static Map<TopicPartition, Long> committed(Admin admin, String group) throws Exception {
    Map<TopicPartition, Long> offsets = new HashMap<>();
    admin
        .listConsumerGroupOffsets(group)
        .partitionsToOffsetAndMetadata()
        .get()
        .forEach((tp, om) -> offsets.put(tp, om.offset()));
    return offsets;
  }

  /** Runs both connectors until {@code output} has {@code count} lines, then stops the worker. */
  private void runUntil(
      Path offsets, String source, String sink, Map<String, String> sourceConfig,
      Map<String, String> sinkConfig, Path output, int count) throws Exception {
    Connect<StandaloneHerder> connect = startWorker(offsets);
    try {
      putConnector(connect.herder(), source, sourceConfig);
      putConnector(connect.herder(), sink, sinkConfig);
      waitForLines(output, count);
    } finally {
      connect.stop();
      connect.awaitStop();
    }
  }

  @Test
  @DisplayName("a standalone Connect worker copies a file through a topic, and resumes from its offsets")
  void fileThroughTopic(@TempDir Path dir) throws Exception {
    String topic = broker.unique("java-connect");
    Clients.createTopic(broker, topic, 1);
    TopicPartition tp = new TopicPartition(topic, 0);
    Path input = dir.resolve("input.txt");
    Path output = dir.resolve("output.txt");
    Path offsets = dir.resolve("connect.offsets");
    String source = broker.unique("line-source");
    String sink = broker.unique("line-sink");
    Map<String, String> sourceConfig =
        Map.of(
            ConnectorConfig.CONNECTOR_CLASS_CONFIG, LineConnectors.LineSource.class.getName(),
            LineConnectors.FILE, input.toString(),
            LineConnectors.TOPIC, topic);
    Map<String, String> sinkConfig =
        Map.of(
            ConnectorConfig.CONNECTOR_CLASS_CONFIG, LineConnectors.LineSink.class.getName(),
            LineConnectors.FILE, output.toString(),
            SinkConnector.TOPICS_CONFIG, topic);

    List<String> first = numbered("first", 0, 100);
    append(input, first);
    runUntil(offsets, source, sink, sourceConfig, sinkConfig, output, 100);
    assertEquals(first, lines(output));
    try (Admin admin = Clients.admin(broker)) {
      // The sink task commits its consumer's position when it stops.
      assertEquals(Map.of(tp, 100L), committed(admin, "connect-" + sink));
    }

    // A new worker: the source goes on after line 100 (the offset file), the sink after
    // offset 100 (its group's committed offset), so nothing is copied twice.
    List<String> second = numbered("second", 100, 150);
    append(input, second);
    runUntil(offsets, source, sink, sourceConfig, sinkConfig, output, 150);
    List<String> all = new ArrayList<>(first);
    all.addAll(second);
    assertEquals(all, lines(output));
    assertEquals(all, lines(input));
    try (Admin admin = Clients.admin(broker)) {
      assertEquals(
          150L,
          admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get().offset(),
          "each line sent once");
      assertEquals(Map.of(tp, 150L), committed(admin, "connect-" + sink));
    }
  }
}
