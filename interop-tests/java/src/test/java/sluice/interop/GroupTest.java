package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sluice.interop.Clients.TIMEOUT;
import static sluice.interop.Clients.utf8;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Consumer groups: the classic protocol with two assignors, static membership, KIP-848. */
@ExtendWith(SluiceBroker.class)
class GroupTest {
  private static final int PARTITIONS = 4;
  private static final int PER_PARTITION = 25;

  private final SluiceBroker.Broker broker;

  GroupTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  private static Map<String, Object> classic(String group, Class<?> assignor) {
    Map<String, Object> config = new HashMap<>();
    config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
    config.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor.getName());
    return config;
  }

  private static void await(String what, BooleanSupplier condition, GroupMember... members)
      throws InterruptedException {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (!condition.getAsBoolean()) {
      for (GroupMember m : members) {
        if (m.failure() != null) {
          throw new AssertionError(m.name + " failed while waiting for " + what, m.failure());
        }
      }
      if (System.nanoTime() > deadline) {
        StringBuilder state = new StringBuilder();
        for (GroupMember m : members) {
          state.append(' ').append(m.name).append('=').append(m.assignment());
        }
        throw new AssertionError("timed out waiting for " + what + ";" + state);
      }
      Thread.sleep(50);
    }
  }

  /** Both members own partitions, none twice, all of them. */
  private static boolean split(GroupMember a, GroupMember b) {
    Set<Integer> x = a.assignment();
    Set<Integer> y = b.assignment();
    Set<Integer> all = new HashSet<>(x);
    all.addAll(y);
    return !x.isEmpty() && !y.isEmpty() && x.size() + y.size() == PARTITIONS && all.size() == PARTITIONS;
  }

  /** {@link #PER_PARTITION} records into each partition: "p<partition>-<i>". */
  private void produceRound(String topic) throws Exception {
    try (KafkaProducer<byte[], byte[]> producer = Clients.producer(broker, Map.of())) {
      for (int p = 0; p < PARTITIONS; p++) {
        for (int i = 0; i < PER_PARTITION; i++) {
          producer.send(new ProducerRecord<>(topic, p, utf8("k" + i), utf8("p" + p + "-" + i)));
        }
      }
      producer.flush();
    }
  }

  private static Map<Integer, List<String>> byPartition(List<ConsumerRecord<byte[], byte[]>> rs) {
    Map<Integer, List<String>> out = new TreeMap<>();
    for (ConsumerRecord<byte[], byte[]> r : rs) {
      out.computeIfAbsent(r.partition(), k -> new ArrayList<>())
          .add(new String(r.value(), StandardCharsets.UTF_8));
    }
    return out;
  }

  private static List<String> expected(int partition) {
    List<String> values = new ArrayList<>();
    for (int i = 0; i < PER_PARTITION; i++) {
      values.add("p" + partition + "-" + i);
    }
    return values;
  }

  @DisplayName("group (classic protocol)")
  @ParameterizedTest(name = "{0}: two members split 4 partitions, each record once, commits = end offsets")
  @ValueSource(strings = {"RangeAssignor", "CooperativeStickyAssignor"})
  void classicGroup(String assignorName) throws Exception {
    Class<?> assignor =
        assignorName.equals("RangeAssignor") ? RangeAssignor.class : CooperativeStickyAssignor.class;
    String topic = broker.unique("java-group");
    String group = broker.unique("java-group");
    Clients.createTopic(broker, topic, PARTITIONS);
    try (GroupMember a = new GroupMember("a", broker, topic, classic(group, assignor));
        GroupMember b = new GroupMember("b", broker, topic, classic(group, assignor))) {
      await("a split of the partitions", () -> split(a, b), a, b);
      produceRound(topic);
      await(
          "every record",
          () -> a.received().size() + b.received().size() >= PARTITIONS * PER_PARTITION,
          a,
          b);
      Thread.sleep(Clients.QUIET.toMillis()); // nothing more (no duplicates) comes
      assertTrue(split(a, b), "the split held: a=" + a.assignment() + " b=" + b.assignment());

      for (GroupMember m : List.of(a, b)) {
        Map<Integer, List<String>> got = byPartition(m.received());
        Map<Integer, List<String>> want = new TreeMap<>();
        for (int p : m.assignment()) {
          want.put(p, expected(p));
        }
        assertEquals(want, got, "member " + m.name + " owning " + m.assignment());
        m.call(KafkaConsumer::commitSync);
      }

      Map<TopicPartition, OffsetAndMetadata> committed;
      try (Admin admin = Clients.admin(broker)) {
        committed =
            admin
                .listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata()
                .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      }
      Map<TopicPartition, Long> want = new HashMap<>();
      Map<TopicPartition, Long> have = new HashMap<>();
      for (int p = 0; p < PARTITIONS; p++) {
        want.put(new TopicPartition(topic, p), (long) PER_PARTITION);
      }
      committed.forEach((tp, om) -> have.put(tp, om.offset()));
      assertEquals(want, have, "committed offsets = end offsets");
      assertNull(a.failure());
      assertNull(b.failure());
    }
  }

  @Test
  @DisplayName("group static membership: a member back within the session keeps its partitions, no rebalance")
  void staticMembership() throws Exception {
    String topic = broker.unique("java-static");
    String group = broker.unique("java-static");
    Clients.createTopic(broker, topic, PARTITIONS);
    Map<String, Object> aConfig = classic(group, RangeAssignor.class);
    aConfig.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "static-a");
    Map<String, Object> bConfig = classic(group, RangeAssignor.class);
    bConfig.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "static-b");

    try (GroupMember b = new GroupMember("b", broker, topic, bConfig)) {
      Set<Integer> aBefore;
      Set<Integer> bBefore;
      int bRebalances;
      int bRevocations;
      try (GroupMember a = new GroupMember("a", broker, topic, aConfig)) {
        await("a split of the partitions", () -> split(a, b), a, b);
        // Range over instance ids: static-a sorts first.
        assertEquals(Set.of(0, 1), a.assignment());
        aBefore = new TreeSet<>(a.assignment());
        bBefore = new TreeSet<>(b.assignment());
        bRebalances = b.assignedCalls();
        // b may have been alone in the group for a moment before a joined (then it gave up
        // everything once, as the eager protocol does): count from here.
        bRevocations = b.revokedCalls();
      } // a static member's close sends no LeaveGroup: the group keeps its place for 6 s

      long rejoinStarted = System.nanoTime();
      try (GroupMember again = new GroupMember("a-again", broker, topic, aConfig)) {
        await("the rejoined member's assignment", () -> !again.assignment().isEmpty(), again, b);
        long rejoinMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - rejoinStarted);
        assertTrue(rejoinMs < Clients.SESSION_TIMEOUT_MS, "rejoined after " + rejoinMs + " ms");
        assertEquals(aBefore, again.assignment(), "the rejoined member's partitions");
        // b saw no rebalance: still its partitions, no new assignment callback.
        Thread.sleep(Clients.QUIET.toMillis());
        assertEquals(bBefore, b.assignment(), "the other member's partitions");
        assertEquals(bRebalances, b.assignedCalls(), "rebalances seen by the other member");
        assertEquals(bRevocations, b.revokedCalls(), "revocations seen by the other member");
      }
    }
  }

  /*
   * group.protocol=consumer (KIP-848) needs ConsumerGroupHeartbeat (API key 68), which Sluice
   * does not advertise in ApiVersions. Observed with kafka-clients 4.4.0: the consumer's
   * background thread finds the API missing and the first poll() (within ~0.4 s) throws
   * org.apache.kafka.common.errors.UnsupportedVersionException with the message below, which
   * tells the user to set group.protocol=classic; nothing hangs or retries.
   */
  @Test
  @DisplayName("group.protocol=consumer (KIP-848) fails cleanly: UnsupportedVersionException")
  void consumerProtocolUnsupported() throws Exception {
    String topic = broker.unique("java-kip848");
    Clients.createTopic(broker, topic, 1);
    Map<String, Object> config =
        Map.of(
            ConsumerConfig.GROUP_ID_CONFIG, broker.unique("java-kip848"),
            ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
    Properties props = Clients.consumerProps(broker, config);
    // The consumer protocol refuses the classic protocol's session and heartbeat settings
    // (the broker owns them there).
    props.remove(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG);
    props.remove(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG);
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      consumer.subscribe(List.of(topic));
      Throwable thrown = null;
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (thrown == null && System.nanoTime() < deadline) {
        try {
          consumer.poll(Duration.ofMillis(200));
        } catch (RuntimeException e) {
          thrown = e;
        }
      }
      assertEquals(UnsupportedVersionException.class, thrown == null ? null : thrown.getClass());
      // kafka-clients 3.9 (the -Pkafka39 suite) reports the missing API by its name; 4.x
      // explains the fix.
      String want =
          Clients.clientVersion().startsWith("3.")
              ? "The node does not support CONSUMER_GROUP_HEARTBEAT"
              : "The cluster does not support the new CONSUMER group protocol. Set"
                  + " group.protocol=classic on the consumer configs to revert to the CLASSIC"
                  + " protocol until the cluster is upgraded.";
      assertEquals(want, thrown.getMessage());
    }
  }
}
