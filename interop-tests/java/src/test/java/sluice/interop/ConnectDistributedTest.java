package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static sluice.interop.Clients.TIMEOUT;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.connect.cli.ConnectDistributed;
import org.apache.kafka.connect.runtime.Connect;
import org.apache.kafka.connect.runtime.ConnectorConfig;
import org.apache.kafka.connect.runtime.distributed.DistributedHerder;
import org.apache.kafka.connect.sink.SinkConnector;
import org.apache.kafka.connect.util.FutureCallback;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Kafka Connect 4.4 distributed worker, in-process, against the broker. The worker keeps its
 * connectors' configs, source offsets and statuses in three topics it creates compacted (and
 * refuses to run on if they are not), and coordinates through a group of its own. A second
 * worker on the same topics finds the connectors in the config topic and goes on where the
 * first stopped.
 */
@ExtendWith(SluiceBroker.class)
class ConnectDistributedTest {
  private final SluiceBroker.Broker broker;

  ConnectDistributedTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  private Connect<DistributedHerder> startWorker(String group, String prefix) {
    Map<String, String> props = new HashMap<>();
    props.put("bootstrap.servers", broker.bootstrap());
    props.put("group.id", group);
    props.put("config.storage.topic", prefix + "-configs");
    props.put("offset.storage.topic", prefix + "-offsets");
    props.put("status.storage.topic", prefix + "-status");
    props.put("config.storage.replication.factor", "1");
    props.put("offset.storage.replication.factor", "1");
    props.put("status.storage.replication.factor", "1");
    props.put("offset.storage.partitions", "5");
    props.put("status.storage.partitions", "1");
    props.put("key.converter", "org.apache.kafka.connect.storage.StringConverter");
    props.put("value.converter", "org.apache.kafka.connect.storage.StringConverter");
    props.put("offset.flush.interval.ms", "500");
    props.put("listeners", "http://127.0.0.1:0");
    props.put("plugin.discovery", "service_load");
    // A stopped worker's connectors move at once, not after the default 5 minutes.
    props.put("scheduled.rebalance.max.delay.ms", "0");
    props.put("session.timeout.ms", String.valueOf(Clients.SESSION_TIMEOUT_MS));
    props.put("heartbeat.interval.ms", String.valueOf(Clients.HEARTBEAT_INTERVAL_MS));
    props.put("consumer.session.timeout.ms", String.valueOf(Clients.SESSION_TIMEOUT_MS));
    props.put("consumer.heartbeat.interval.ms", String.valueOf(Clients.HEARTBEAT_INTERVAL_MS));
    return new ConnectDistributed().startConnect(props);
  }

  /** Creates a connector once the worker leads its group (until then the herder refuses). */
  private static void putConnector(DistributedHerder herder, String name, Map<String, String> config)
      throws Exception {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (true) {
      try {
        ConnectTest.putConnector(herder, name, config);
        return;
      } catch (ExecutionException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(200);
      }
    }
  }

  private static Set<String> connectors(DistributedHerder herder) throws Exception {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (true) {
      FutureCallback<Collection<String>> listed = new FutureCallback<>();
      herder.connectors(listed);
      try {
        return new TreeSet<>(listed.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
      } catch (ExecutionException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(200);
      }
    }
  }

  private static void stop(Connect<DistributedHerder> connect) {
    connect.stop();
    connect.awaitStop();
  }

  @Test
  @DisplayName("a distributed Connect worker runs on compacted internal topics, and a second one takes over its connectors")
  void distributedWorkerHandsOver(@TempDir Path dir) throws Exception {
    String topic = broker.unique("java-connect-distributed");
    Clients.createTopic(broker, topic, 1);
    TopicPartition tp = new TopicPartition(topic, 0);
    Path input = dir.resolve("input.txt");
    Path output = dir.resolve("output.txt");
    String group = broker.unique("connect-cluster");
    String prefix = broker.unique("connect");
    String source = broker.unique("line-source");
    String sink = broker.unique("line-sink");

    List<String> first = ConnectTest.numbered("first", 0, 100);
    ConnectTest.append(input, first);
    Connect<DistributedHerder> worker = startWorker(group, prefix);
    try {
      putConnector(
          worker.herder(),
          source,
          Map.of(
              ConnectorConfig.CONNECTOR_CLASS_CONFIG, LineConnectors.LineSource.class.getName(),
              LineConnectors.FILE, input.toString(),
              LineConnectors.TOPIC, topic));
      putConnector(
          worker.herder(),
          sink,
          Map.of(
              ConnectorConfig.CONNECTOR_CLASS_CONFIG, LineConnectors.LineSink.class.getName(),
              LineConnectors.FILE, output.toString(),
              SinkConnector.TOPICS_CONFIG, topic));
      ConnectTest.waitForLines(output, 100);
    } finally {
      stop(worker);
    }
    assertEquals(first, ConnectTest.lines(output));

    try (Admin admin = Clients.admin(broker)) {
      for (String internal : List.of("-configs", "-offsets", "-status")) {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, prefix + internal);
        Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
        assertEquals("compact", config.get("cleanup.policy").value(), prefix + internal);
      }
      assertEquals(Map.of(tp, 100L), ConnectTest.committed(admin, "connect-" + sink));
    }

    // The second worker is given no connector: it reads both from the config topic, the
    // source's position from the offset topic and the sink's from its group.
    List<String> second = ConnectTest.numbered("second", 100, 150);
    ConnectTest.append(input, second);
    worker = startWorker(group, prefix);
    try {
      assertEquals(new TreeSet<>(List.of(source, sink)), connectors(worker.herder()));
      ConnectTest.waitForLines(output, 150);
    } finally {
      stop(worker);
    }
    List<String> all = new ArrayList<>(first);
    all.addAll(second);
    assertEquals(all, ConnectTest.lines(output), "each line copied once");
    try (Admin admin = Clients.admin(broker)) {
      assertEquals(Map.of(tp, 150L), ConnectTest.committed(admin, "connect-" + sink));
    }
  }
}
