package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sluice.interop.Clients.TIMEOUT;
import static sluice.interop.Clients.utf8;

import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Kafka's command-line tools (the kafka-tools artifact, 4.4.0) run in this JVM against the broker,
 * as their bin/ scripts would run them: their printed output is asserted line by line.
 */
@ExtendWith(SluiceBroker.class)
class KafkaToolsTest {
  private static final String TOPICS = "org.apache.kafka.tools.TopicCommand";
  private static final String PRODUCER = "org.apache.kafka.tools.ConsoleProducer";
  private static final String CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer";
  private static final String GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
  private static final String OFFSETS = "org.apache.kafka.tools.GetOffsetShell";
  private static final String CONFIGS = "org.apache.kafka.tools.ConfigCommand";
  private static final String LOG_DIRS = "org.apache.kafka.tools.LogDirsCommand";
  private static final String LEADER_ELECTION = "org.apache.kafka.tools.LeaderElectionCommand";
  private static final String PRODUCER_PERF = "org.apache.kafka.tools.ProducerPerformance";
  private static final String CONSUMER_PERF = "org.apache.kafka.tools.ConsumerPerformance";

  /** The console consumer waits for records this long at most, rather than forever. */
  private static final String TIMEOUT_MS = String.valueOf(TIMEOUT.toMillis());

  private final SluiceBroker.Broker broker;
  private Admin admin;

  KafkaToolsTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  // Not in the constructor: JUnit builds an instance for a disabled test too, and runs no
  // @AfterEach for it.
  @BeforeEach
  void openAdmin() {
    admin = Clients.admin(broker);
  }

  @AfterEach
  void closeAdmin() {
    admin.close();
  }

  /** Runs a tool with {@code --bootstrap-server} first; it must exit 0. */
  private Tools.Result ok(String tool, String... args) throws Exception {
    return okWithInput(tool, "", args);
  }

  private Tools.Result okWithInput(String tool, String stdin, String... args) throws Exception {
    Tools.Result r = Tools.runWithInput(tool, stdin, withBootstrap(args));
    assertEquals(0, r.status(), () -> "exit status of " + r);
    return r;
  }

  private String[] withBootstrap(String... args) {
    String[] all = new String[args.length + 2];
    all[0] = "--bootstrap-server";
    all[1] = broker.bootstrap();
    System.arraycopy(args, 0, all, 2, args.length);
    return all;
  }

  private <T> T get(org.apache.kafka.common.KafkaFuture<T> future) throws Exception {
    return future.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void produce(String topic, int partition, int count) throws Exception {
    try (KafkaProducer<byte[], byte[]> producer = Clients.producer(broker, Map.of())) {
      for (int i = 0; i < count; i++) {
        producer.send(new ProducerRecord<>(topic, partition, utf8("k" + i), utf8("v" + i))).get();
      }
    }
  }

  /** A table the group tool prints, each row split into its columns, rows in partition order. */
  private static List<List<String>> rows(Tools.Result r) {
    return r.outLines().stream()
        .filter(line -> !line.isBlank())
        .map(line -> Arrays.asList(line.trim().split("\\s+")))
        .sorted(Comparator.comparing((List<String> row) -> row.get(0).equals("GROUP") ? 0 : 1)
            .thenComparing(row -> row.size() > 2 ? row.get(2) : ""))
        .collect(Collectors.toList());
  }

  @Test
  @DisplayName("kafka-topics admin: --create, --list, --describe with partitions and configs, --delete")
  void topics() throws Exception {
    String topic = broker.unique("cli-topics");
    Tools.Result created =
        ok(TOPICS, "--create", "--topic", topic, "--partitions", "3", "--replication-factor", "1",
            "--config", "cleanup.policy=compact");
    assertEquals(List.of("Created topic " + topic + "."), created.outLines());

    assertTrue(ok(TOPICS, "--list").outLines().contains(topic), "listed");

    Uuid id = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic).topicId();
    int node = nodeId();
    // The tool prints N/A for the eligible leader replicas when the broker reports none (no
    // DescribeTopicPartitions: the partitions come from Metadata).
    List<String> want =
        List.of(
            "Topic: " + topic + "\tTopicId: " + id + "\tPartitionCount: 3\tReplicationFactor: 1"
                + "\tConfigs: cleanup.policy=compact",
            partitionLine(topic, 0, node),
            partitionLine(topic, 1, node),
            partitionLine(topic, 2, node));
    assertEquals(want, ok(TOPICS, "--describe", "--topic", topic).outLines());

    Tools.Result deleted = ok(TOPICS, "--delete", "--topic", topic);
    assertEquals(List.of(), deleted.outLines());
    assertFalse(ok(TOPICS, "--list").outLines().contains(topic), "still listed after --delete");
  }

  /*
   * kafka-topics describes through DescribeTopicPartitions, whose empty eligible-leader lists (as
   * Kafka 4.4 answers them) print as nothing; through Metadata they would print N/A.
   */
  private static String partitionLine(String topic, int partition, int node) {
    return "\tTopic: " + topic + "\tPartition: " + partition + "\tLeader: " + node + "\tReplicas: "
        + node + "\tIsr: " + node + "\tElr: \tLastKnownElr: ";
  }

  @Test
  @DisplayName("console producer keys and values (parse.key), console consumer group --from-beginning --max-messages, lag")
  void consoleProducerAndConsumer() throws Exception {
    String topic = broker.unique("cli-console");
    String group = broker.unique("cli-console-group");
    Clients.createTopic(broker, topic, 1);
    Tools.Result produced =
        okWithInput(PRODUCER, "k1:v1\nk2:v2\nk1:v3\nk3:v4\n", "--topic", topic,
            "--reader-property", "parse.key=true", "--reader-property", "key.separator=:");
    assertEquals(List.of(), produced.outLines());

    Tools.Result consumed =
        ok(CONSUMER, "--timeout-ms", TIMEOUT_MS, "--topic", topic, "--group", group,
            "--from-beginning", "--max-messages", "3",
            "--formatter-property", "print.key=true", "--formatter-property", "print.offset=true");
    assertEquals(
        List.of("Offset:0\tk1\tv1", "Offset:1\tk2\tv2", "Offset:2\tk1\tv3"), consumed.outLines());
    assertTrue(
        consumed.errLines().contains("Processed a total of 3 messages"), () -> consumed.toString());

    // The console consumer commits what it printed: 3 of the 4 records.
    Tools.Result described = ok(GROUPS, "--describe", "--group", group);
    assertEquals(
        List.of(
            List.of("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                "CONSUMER-ID", "HOST", "CLIENT-ID"),
            List.of(group, topic, "0", "3", "4", "1", "-", "-", "-")),
        rows(described));

    // A second run of the group resumes at its commit.
    Tools.Result rest =
        ok(CONSUMER, "--timeout-ms", TIMEOUT_MS, "--topic", topic, "--group", group,
            "--max-messages", "1",
            "--formatter-property", "print.key=true");
    assertEquals(List.of("k3\tv4"), rest.outLines());
  }

  @Test
  @DisplayName("kafka-consumer-groups group: --list, --describe offsets and lag, --reset-offsets --to-earliest --execute")
  void consumerGroups() throws Exception {
    String topic = broker.unique("cli-groups");
    String group = broker.unique("cli-group");
    Clients.createTopic(broker, topic, 2);
    produce(topic, 0, 5);
    produce(topic, 1, 4);
    try (KafkaConsumer<byte[], byte[]> consumer =
        Clients.consumer(broker, Map.of(ConsumerConfig.GROUP_ID_CONFIG, group))) {
      consumer.commitSync(
          Map.of(
              new TopicPartition(topic, 0), new OffsetAndMetadata(3),
              new TopicPartition(topic, 1), new OffsetAndMetadata(1)));
    }
    assertTrue(ok(GROUPS, "--list").outLines().contains(group), "listed");

    List<String> header =
        List.of("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
            "CONSUMER-ID", "HOST", "CLIENT-ID");
    Tools.Result described = ok(GROUPS, "--describe", "--group", group);
    assertEquals(
        List.of(
            header,
            List.of(group, topic, "0", "3", "5", "2", "-", "-", "-"),
            List.of(group, topic, "1", "1", "4", "3", "-", "-", "-")),
        rows(described));
    assertTrue(
        described.errLines().contains("Consumer group '" + group + "' has no active members."),
        () -> described.toString());

    Tools.Result reset =
        ok(GROUPS, "--reset-offsets", "--to-earliest", "--execute", "--group", group,
            "--topic", topic);
    assertEquals(
        List.of(
            List.of("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"),
            List.of(group, topic, "0", "0"),
            List.of(group, topic, "1", "0")),
        rows(reset));

    assertEquals(
        List.of(
            header,
            List.of(group, topic, "0", "0", "5", "5", "-", "-", "-"),
            List.of(group, topic, "1", "0", "4", "4", "-", "-", "-")),
        rows(ok(GROUPS, "--describe", "--group", group)));
  }

  @Test
  @DisplayName("kafka-consumer-groups group with an active member: --describe --state and --members")
  void activeGroup() throws Exception {
    String topic = broker.unique("cli-active");
    String group = broker.unique("cli-active-group");
    Clients.createTopic(broker, topic, 2);
    try (KafkaConsumer<byte[], byte[]> consumer =
        Clients.consumer(
            broker,
            Map.of(
                ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.CLIENT_ID_CONFIG, "cli-member"))) {
      consumer.subscribe(List.of(topic));
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (consumer.assignment().size() < 2 && System.nanoTime() < deadline) {
        consumer.poll(Duration.ofMillis(100));
      }
      assertEquals(2, consumer.assignment().size(), "assigned partitions");
      String memberId = consumer.groupMetadata().memberId();

      List<List<String>> state = rows(ok(GROUPS, "--describe", "--group", group, "--state"));
      assertEquals(
          List.of(
              List.of("GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"),
              List.of(group, broker.bootstrap(), "(" + nodeId() + ")", "range", "Stable", "1")),
          state);

      List<List<String>> members =
          rows(ok(GROUPS, "--describe", "--group", group, "--members", "--verbose"));
      assertEquals(
          List.of("GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "CURRENT-EPOCH",
              "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"),
          members.get(0));
      assertEquals(
          List.of(group, memberId, "/127.0.0.1", "cli-member", "2", "-",
              topic + ":0,1", "-", "-"),
          members.get(1));
      assertEquals(2, members.size(), () -> "rows: " + members);
    }
  }

  private int nodeId() throws Exception {
    return get(admin.describeCluster().nodes()).stream().findFirst().map(Node::id).orElse(-1);
  }

  @Test
  @DisplayName("kafka-get-offsets: latest, earliest after deleteRecords, by partition")
  void getOffsets() throws Exception {
    String topic = broker.unique("cli-offsets");
    Clients.createTopic(broker, topic, 2);
    produce(topic, 0, 5);
    produce(topic, 1, 4);
    get(
        admin
            .deleteRecords(Map.of(new TopicPartition(topic, 0), RecordsToDelete.beforeOffset(2)))
            .all());
    assertEquals(
        List.of(topic + ":0:5", topic + ":1:4"), ok(OFFSETS, "--topic", topic).outLines());
    assertEquals(
        List.of(topic + ":0:2", topic + ":1:0"),
        ok(OFFSETS, "--topic", topic, "--time", "-2").outLines());
    assertEquals(
        List.of(topic + ":1:4"),
        ok(OFFSETS, "--topic", topic, "--partitions", "1", "--time", "-1").outLines());
  }

  @Test
  @DisplayName("kafka-log-dirs --describe: the /memory dir with each partition's bytes, lag 0")
  void logDirs() throws Exception {
    String topic = broker.unique("cli-log-dirs");
    Clients.createTopic(broker, topic, 2);
    Tools.Result r = ok(LOG_DIRS, "--describe", "--topic-list", topic);
    List<String> lines = r.outLines();
    assertEquals(
        List.of(
            "Querying brokers for log directories information",
            "Received log directory information from brokers 0"),
        lines.subList(0, 2));
    // The JSON's keys and partitions come out of hash maps: compared as a tree, partitions as a set.
    JsonNode json = new ObjectMapper().readTree(lines.get(2));
    assertEquals(1, json.get("version").asInt());
    assertEquals(1, json.get("brokers").size());
    JsonNode node = json.get("brokers").get(0);
    assertEquals(0, node.get("broker").asInt());
    assertEquals(1, node.get("logDirs").size());
    JsonNode dir = node.get("logDirs").get(0);
    assertEquals("/memory", dir.get("logDir").asText());
    assertTrue(dir.get("error").isNull(), "error: " + dir.get("error"));
    Set<String> partitions = new TreeSet<>();
    dir.get("partitions")
        .forEach(
            p ->
                partitions.add(
                    p.get("partition").asText() + " size=" + p.get("size").asLong() + " lag="
                        + p.get("offsetLag").asLong() + " future=" + p.get("isFuture").asBoolean()));
    assertEquals(
        Set.of(
            topic + "-0 size=0 lag=0 future=false", topic + "-1 size=0 lag=0 future=false"),
        partitions);
  }

  @Test
  @DisplayName("kafka-leader-election --election-type preferred: no election needed")
  void leaderElection() throws Exception {
    String topic = broker.unique("cli-elect");
    Clients.createTopic(broker, topic, 2);
    Tools.Result r =
        ok(LEADER_ELECTION, "--election-type", "preferred", "--topic", topic, "--partition", "1");
    assertEquals(List.of("Valid replica already elected for partitions " + topic + "-1"), r.outLines());
    Tools.Result all = ok(LEADER_ELECTION, "--election-type", "unclean", "--all-topic-partitions");
    assertEquals(List.of(), all.outLines());
  }

  @Test
  @DisplayName("kafka-configs --describe of a topic lists its override")
  void describeConfigs() throws Exception {
    String topic = broker.unique("cli-configs");
    ok(TOPICS, "--create", "--topic", topic, "--partitions", "1", "--config", "retention.ms=12345");
    List<String> lines =
        ok(CONFIGS, "--describe", "--entity-type", "topics", "--entity-name", topic).outLines();
    assertEquals(2, lines.size(), () -> "lines: " + lines);
    assertEquals("Dynamic configs for topic " + topic + " are:", lines.get(0));
    assertTrue(
        lines.get(1).startsWith("  retention.ms=12345 sensitive=false synonyms="),
        () -> "config line: " + lines.get(1));
  }

  @Test
  @DisplayName("kafka-configs --describe of a topic lists the override's synonyms")
  void describeConfigsSynonyms() throws Exception {
    String topic = broker.unique("cli-synonyms");
    ok(TOPICS, "--create", "--topic", topic, "--partitions", "1", "--config", "retention.ms=12345");
    assertEquals(
        List.of(
            "Dynamic configs for topic " + topic + " are:",
            "  retention.ms=12345 sensitive=false"
                + " synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=12345}"),
        ok(CONFIGS, "--describe", "--entity-type", "topics", "--entity-name", topic).outLines());
  }

  @Test
  @DisplayName("kafka-configs --alter --add-config / --delete-config change a topic's overrides")
  void alterConfigs() throws Exception {
    String topic = broker.unique("cli-alter");
    Clients.createTopic(broker, topic, 1);
    assertEquals(
        List.of("Completed updating config for topic " + topic + "."),
        ok(CONFIGS, "--alter", "--entity-type", "topics", "--entity-name", topic,
                "--add-config", "retention.ms=1000,cleanup.policy=[compact,delete]")
            .outLines());
    assertEquals(
        List.of(
            "Dynamic configs for topic " + topic + " are:",
            "  cleanup.policy=compact,delete sensitive=false"
                + " synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete,"
                + " DEFAULT_CONFIG:log.cleanup.policy=delete}",
            "  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000}"),
        ok(CONFIGS, "--describe", "--entity-type", "topics", "--entity-name", topic).outLines());
    assertEquals(
        List.of("Completed updating config for topic " + topic + "."),
        ok(CONFIGS, "--alter", "--entity-type", "topics", "--entity-name", topic,
                "--delete-config", "retention.ms")
            .outLines());
    assertEquals(
        List.of(
            "Dynamic configs for topic " + topic + " are:",
            "  cleanup.policy=compact,delete sensitive=false"
                + " synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete,"
                + " DEFAULT_CONFIG:log.cleanup.policy=delete}"),
        ok(CONFIGS, "--describe", "--entity-type", "topics", "--entity-name", topic).outLines());
  }

  @Test
  @DisplayName("Admin.incrementalAlterConfigs: SET, APPEND and a refused bad value")
  void adminIncrementalAlterConfigs() throws Exception {
    String topic = broker.unique("admin-alter");
    Clients.createTopic(broker, topic, 1);
    org.apache.kafka.common.config.ConfigResource resource =
        new org.apache.kafka.common.config.ConfigResource(
            org.apache.kafka.common.config.ConfigResource.Type.TOPIC, topic);
    admin
        .incrementalAlterConfigs(
            Map.of(
                resource,
                List.of(
                    new org.apache.kafka.clients.admin.AlterConfigOp(
                        new org.apache.kafka.clients.admin.ConfigEntry("retention.ms", "2000"),
                        org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET),
                    new org.apache.kafka.clients.admin.AlterConfigOp(
                        new org.apache.kafka.clients.admin.ConfigEntry("cleanup.policy", "compact"),
                        org.apache.kafka.clients.admin.AlterConfigOp.OpType.APPEND))))
        .all()
        .get(30, TimeUnit.SECONDS);
    org.apache.kafka.clients.admin.Config config =
        admin.describeConfigs(List.of(resource)).all().get(30, TimeUnit.SECONDS).get(resource);
    assertEquals("2000", config.get("retention.ms").value());
    assertEquals(
        org.apache.kafka.clients.admin.ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
        config.get("retention.ms").source());
    assertEquals("delete,compact", config.get("cleanup.policy").value());
    java.util.concurrent.ExecutionException refused =
        org.junit.jupiter.api.Assertions.assertThrows(
            java.util.concurrent.ExecutionException.class,
            () ->
                admin
                    .incrementalAlterConfigs(
                        Map.of(
                            resource,
                            List.of(
                                new org.apache.kafka.clients.admin.AlterConfigOp(
                                    new org.apache.kafka.clients.admin.ConfigEntry(
                                        "retention.ms", "soon"),
                                    org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET))))
                    .all()
                    .get(30, TimeUnit.SECONDS));
    assertTrue(
        refused.getCause() instanceof org.apache.kafka.common.errors.InvalidConfigurationException,
        () -> "refused with " + refused.getCause());
  }

  @Test
  @DisplayName("producer and consumer performance tools report the record counts they moved")
  void performanceTools() throws Exception {
    String topic = broker.unique("cli-perf");
    Clients.createTopic(broker, topic, 1);
    Tools.Result produced =
        Tools.run(
            PRODUCER_PERF, "--topic", topic, "--num-records", "200", "--record-size", "100",
            "--throughput", "-1", "--bootstrap-server", broker.bootstrap());
    assertEquals(0, produced.status(), () -> produced.toString());
    List<String> summary =
        produced.outLines().stream().filter(l -> l.matches("^\\d+ records sent, .*")).toList();
    assertEquals(1, summary.size(), () -> produced.toString());
    assertTrue(summary.get(0).startsWith("200 records sent, "), summary.get(0));
    assertEquals(List.of(topic + ":0:200"), ok(OFFSETS, "--topic", topic).outLines());

    Tools.Result consumed = ok(CONSUMER_PERF, "--topic", topic, "--num-records", "200");
    List<String> lines = consumed.outLines();
    assertEquals(2, lines.size(), () -> consumed.toString());
    List<String> columns = Arrays.asList(lines.get(0).split(", "));
    List<String> values = Arrays.asList(lines.get(1).split(", "));
    assertEquals(columns.size(), values.size(), () -> consumed.toString());
    // 200 records of 100 bytes: 20000 bytes, 0.0191 MiB.
    assertEquals("200", values.get(columns.indexOf("data.consumed.in.nMsg")));
    assertEquals("0.0191", values.get(columns.indexOf("data.consumed.in.MB")));
  }
}
