package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sluice.interop.Clients.TIMEOUT;
import static sluice.interop.Clients.utf8;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
import org.apache.kafka.common.errors.NoReassignmentInProgressException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The Admin client: topics, configs, partitions, groups, records, the cluster, log dirs. */
@ExtendWith(SluiceBroker.class)
class AdminTest {
  private final SluiceBroker.Broker broker;
  private Admin admin;

  AdminTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  @BeforeEach
  void openAdmin() {
    admin = Clients.admin(broker);
  }

  @AfterEach
  void closeAdmin() {
    admin.close(Duration.ofSeconds(10));
  }

  private static <T> T get(KafkaFuture<T> future) throws Exception {
    return future.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** The cause of the future's failure (the client wraps it in an ExecutionException). */
  private static Throwable failure(KafkaFuture<?> future) {
    ExecutionException e =
        assertThrows(
            ExecutionException.class, () -> future.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
    return e.getCause();
  }

  private Node theNode() throws Exception {
    Collection<Node> nodes = get(admin.describeCluster().nodes());
    assertEquals(1, nodes.size(), "nodes: " + nodes);
    return nodes.iterator().next();
  }

  private void produce(String topic, int partition, int count) throws Exception {
    try (KafkaProducer<byte[], byte[]> producer = Clients.producer(broker, Map.of())) {
      for (int i = 0; i < count; i++) {
        producer.send(new ProducerRecord<>(topic, partition, null, utf8("r" + i)));
      }
      producer.flush();
    }
  }

  @Test
  @DisplayName("admin describeCluster: one node on the listener, a cluster id, the node is controller")
  void describeCluster() throws Exception {
    DescribeClusterResult cluster = admin.describeCluster();
    Node node = theNode();
    assertEquals("127.0.0.1", node.host());
    assertEquals(broker.port(), node.port());
    String clusterId = get(cluster.clusterId());
    assertNotNull(clusterId);
    assertFalse(clusterId.isBlank(), "cluster id '" + clusterId + "'");
    assertEquals(node, get(cluster.controller()));
  }

  @Test
  @DisplayName("admin topics: createTopics with configs, listTopics, describeTopics, deleteTopics")
  void topics() throws Exception {
    String name = broker.unique("java-admin-topic");
    NewTopic topic = new NewTopic(name, 3, (short) 1).configs(Map.of("retention.ms", "3600000"));
    CreateTopicsResult created = admin.createTopics(List.of(topic));
    get(created.all());
    assertEquals(3, get(created.numPartitions(name)));
    assertEquals(1, get(created.replicationFactor(name)));
    assertEquals("3600000", get(created.config(name)).get("retention.ms").value());
    Uuid id = get(created.topicId(name));
    assertNotEquals(Uuid.ZERO_UUID, id);

    Throwable again = failure(admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all());
    assertInstanceOf(TopicExistsException.class, again);

    assertTrue(get(admin.listTopics().names()).contains(name), "listTopics has " + name);

    Node node = theNode();
    TopicDescription description = get(admin.describeTopics(List.of(name)).topicNameValues().get(name));
    assertEquals(name, description.name());
    assertEquals(id, description.topicId());
    assertFalse(description.isInternal());
    List<Integer> partitions = new ArrayList<>();
    for (TopicPartitionInfo p : description.partitions()) {
      partitions.add(p.partition());
      assertEquals(node, p.leader(), "leader of partition " + p.partition());
      assertEquals(List.of(node), p.replicas());
      assertEquals(List.of(node), p.isr());
    }
    assertEquals(List.of(0, 1, 2), partitions);

    get(admin.deleteTopics(List.of(name)).all());
    assertFalse(get(admin.listTopics().names()).contains(name), "deleted topic still listed");
    Throwable gone = failure(admin.describeTopics(List.of(name)).topicNameValues().get(name));
    assertInstanceOf(UnknownTopicOrPartitionException.class, gone);
  }

  @Test
  @DisplayName("admin describeConfigs: a topic's retention.ms override and a default")
  void describeConfigs() throws Exception {
    String name = broker.unique("java-admin-configs");
    get(
        admin
            .createTopics(
                List.of(new NewTopic(name, 1, (short) 1).configs(Map.of("retention.ms", "7200000"))))
            .all());
    ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, name);
    Config config = get(admin.describeConfigs(List.of(resource)).values().get(resource));

    ConfigEntry retention = config.get("retention.ms");
    assertNotNull(retention, "retention.ms in " + config);
    assertEquals("7200000", retention.value());
    assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source());
    assertFalse(retention.isDefault());

    ConfigEntry cleanup = config.get("cleanup.policy");
    assertNotNull(cleanup, "cleanup.policy in " + config);
    assertEquals("delete", cleanup.value());
    assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, cleanup.source());
    assertTrue(cleanup.isDefault());
  }

  @Test
  @DisplayName("admin createPartitions: 2 to 5, new partitions usable")
  void createPartitions() throws Exception {
    String name = broker.unique("java-admin-partitions");
    get(admin.createTopics(List.of(new NewTopic(name, 2, (short) 1))).all());
    get(admin.createPartitions(Map.of(name, NewPartitions.increaseTo(5))).all());
    TopicDescription description = get(admin.describeTopics(List.of(name)).topicNameValues().get(name));
    assertEquals(5, description.partitions().size());
    produce(name, 4, 3); // the producer's metadata sees partition 4
    Map<TopicPartition, OffsetSpec> latest = Map.of(new TopicPartition(name, 4), OffsetSpec.latest());
    assertEquals(3L, get(admin.listOffsets(latest).partitionResult(new TopicPartition(name, 4))).offset());
  }

  @Test
  @DisplayName("admin deleteRecords: the low watermark moves, a consumer from the beginning starts there")
  void deleteRecords() throws Exception {
    String name = broker.unique("java-admin-delete-records");
    get(admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all());
    produce(name, 0, 10);
    TopicPartition tp = new TopicPartition(name, 0);
    long low =
        get(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp))
            .lowWatermark();
    assertEquals(4L, low);
    assertEquals(4L, get(admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp)).offset());
    assertEquals(10L, get(admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp)).offset());

    try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(broker, Map.of())) {
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      assertEquals(4L, consumer.position(tp));
      List<ConsumerRecord<byte[], byte[]>> got = Clients.pollExactly(consumer, 6);
      Clients.assertContiguousOffsets(4, got);
    }
    // A group without commits, auto.offset.reset=earliest, also starts at the low watermark.
    try (KafkaConsumer<byte[], byte[]> consumer =
        Clients.consumer(
            broker,
            Map.of(
                ConsumerConfig.GROUP_ID_CONFIG, broker.unique("java-admin-dr"),
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic"))) {
      consumer.subscribe(List.of(name));
      List<ConsumerRecord<byte[], byte[]>> got = Clients.pollExactly(consumer, 6);
      Clients.assertContiguousOffsets(4, got);
    }
  }

  @Test
  @DisplayName("admin groups: list, describe, list/alter/delete offsets, delete the group")
  @SuppressWarnings("deprecation") // listConsumerGroups: the API the brief names; listGroups is newer
  void consumerGroups() throws Exception {
    String topic = broker.unique("java-admin-groups");
    String group = broker.unique("java-admin-groups");
    get(admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all());
    produce(topic, 0, 10);
    produce(topic, 1, 10);
    TopicPartition p0 = new TopicPartition(topic, 0);
    TopicPartition p1 = new TopicPartition(topic, 1);

    Map<String, Object> config = new HashMap<>();
    config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
    config.put(ConsumerConfig.CLIENT_ID_CONFIG, "java-admin-member");
    try (GroupMember member = new GroupMember("m", broker, topic, config)) {
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (member.received().size() < 20 && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertEquals(20, member.received().size());
      member.call(KafkaConsumer::commitSync);

      Map<String, ConsumerGroupListing> listed =
          get(admin.listConsumerGroups().all()).stream()
              .collect(Collectors.toMap(ConsumerGroupListing::groupId, l -> l));
      assertTrue(listed.containsKey(group), "listConsumerGroups: " + listed.keySet());
      assertEquals(GroupState.STABLE, listed.get(group).groupState().orElse(null));

      ConsumerGroupDescription described =
          get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group));
      assertEquals(group, described.groupId());
      assertEquals(GroupState.STABLE, described.groupState());
      assertEquals("range", described.partitionAssignor());
      assertEquals(theNode(), described.coordinator());
      assertEquals(1, described.members().size());
      MemberDescription m = described.members().iterator().next();
      assertEquals("java-admin-member", m.clientId());
      assertEquals(Set.of(p0, p1), m.assignment().topicPartitions());

      assertEquals(Map.of(p0, 10L, p1, 10L), committedOffsets(group));
    }

    // The member left: the group is empty, its offsets stay.
    ConsumerGroupDescription empty =
        get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group));
    assertEquals(GroupState.EMPTY, empty.groupState());
    assertEquals(0, empty.members().size());

    get(
        admin
            .alterConsumerGroupOffsets(
                group, Map.of(p0, new OffsetAndMetadata(3), p1, new OffsetAndMetadata(7, "seven")))
            .all());
    assertEquals(Map.of(p0, 3L, p1, 7L), committedOffsets(group));
    assertEquals(
        "seven",
        get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata())
            .get(p1)
            .metadata());

    get(admin.deleteConsumerGroupOffsets(group, Set.of(p0)).all());
    assertEquals(Map.of(p1, 7L), committedOffsets(group));

    get(admin.deleteConsumerGroups(List.of(group)).all());
    List<String> after =
        get(admin.listConsumerGroups().all()).stream().map(ConsumerGroupListing::groupId).toList();
    assertFalse(after.contains(group), "deleted group still listed: " + after);
    assertEquals(Map.of(), committedOffsets(group));
  }

  private Map<TopicPartition, Long> committedOffsets(String group) throws Exception {
    Map<TopicPartition, Long> out = new HashMap<>();
    get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata())
        .forEach((tp, om) -> out.put(tp, om == null ? null : om.offset()));
    return out;
  }

  @Test
  @DisplayName("admin describeLogDirs: one log dir (/memory), bytes per partition, space unknown")
  void describeLogDirs() throws Exception {
    String name = broker.unique("java-log-dirs");
    get(admin.createTopics(List.of(new NewTopic(name, 2, (short) 1))).all());
    produce(name, 1, 3);
    int node = theNode().id();
    Map<String, LogDirDescription> dirs = get(admin.describeLogDirs(List.of(node)).allDescriptions()).get(node);
    assertEquals(Set.of("/memory"), dirs.keySet());
    LogDirDescription dir = dirs.get("/memory");
    assertEquals(null, dir.error());
    // Sluice runs in memory here: Kafka's -1 for a space it does not know.
    assertEquals(OptionalLong.empty(), dir.totalBytes());
    assertEquals(OptionalLong.empty(), dir.usableBytes());
    ReplicaInfo empty = dir.replicaInfos().get(new TopicPartition(name, 0));
    ReplicaInfo written = dir.replicaInfos().get(new TopicPartition(name, 1));
    assertEquals(0, empty.size());
    assertTrue(written.size() > 0, "size of the written partition: " + written.size());
    assertEquals(0, written.offsetLag());
    assertFalse(written.isFuture());
  }

  @Test
  @DisplayName("admin electLeaders: ELECTION_NOT_NEEDED per partition, unknown ones UNKNOWN_TOPIC_OR_PARTITION")
  void electLeaders() throws Exception {
    String name = broker.unique("java-elect");
    get(admin.createTopics(List.of(new NewTopic(name, 2, (short) 1))).all());
    TopicPartition p0 = new TopicPartition(name, 0);
    TopicPartition missing = new TopicPartition(name, 9);
    for (ElectionType type : ElectionType.values()) {
      Map<TopicPartition, Optional<Throwable>> result =
          get(admin.electLeaders(type, Set.of(p0, missing)).partitions());
      assertEquals(Set.of(p0, missing), result.keySet(), type.toString());
      assertInstanceOf(ElectionNotNeededException.class, result.get(p0).orElseThrow(), type.toString());
      assertInstanceOf(
          UnknownTopicOrPartitionException.class, result.get(missing).orElseThrow(), type.toString());
    }
    // Every partition: none needs an election, so none is listed.
    assertEquals(Map.of(), get(admin.electLeaders(ElectionType.PREFERRED, null).partitions()));
  }

  @Test
  @DisplayName("admin partition reassignments: none in progress; another broker refused")
  void partitionReassignments() throws Exception {
    String name = broker.unique("java-reassign");
    get(admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all());
    TopicPartition p0 = new TopicPartition(name, 0);
    int node = theNode().id();
    assertEquals(Map.of(), get(admin.listPartitionReassignments().reassignments()));
    assertEquals(Map.of(), get(admin.listPartitionReassignments(Set.of(p0)).reassignments()));
    // To this node alone: nothing to move.
    get(
        admin
            .alterPartitionReassignments(
                Map.of(p0, Optional.of(new NewPartitionReassignment(List.of(node)))))
            .all());
    Throwable refused =
        failure(
            admin
                .alterPartitionReassignments(
                    Map.of(p0, Optional.of(new NewPartitionReassignment(List.of(node + 42)))))
                .all());
    assertInstanceOf(InvalidReplicaAssignmentException.class, refused);
    Throwable cancelled = failure(admin.alterPartitionReassignments(Map.of(p0, Optional.empty())).all());
    assertInstanceOf(NoReassignmentInProgressException.class, cancelled);
  }

  @Test
  @DisplayName("admin describeTopics through DescribeTopicPartitions, 2 partitions a page")
  void describeTopicsInPages() throws Exception {
    String a = broker.unique("java-pages-a");
    String b = broker.unique("java-pages-b");
    get(admin.createTopics(List.of(new NewTopic(a, 5, (short) 1), new NewTopic(b, 1, (short) 1))).all());
    Map<String, TopicDescription> described =
        get(
            admin
                .describeTopics(
                    List.of(a, b), new DescribeTopicsOptions().partitionSizeLimitPerResponse(2))
                .allTopicNames());
    assertEquals(Set.of(a, b), described.keySet());
    assertEquals(
        List.of(0, 1, 2, 3, 4),
        described.get(a).partitions().stream().map(TopicPartitionInfo::partition).toList());
    assertEquals(
        List.of(0), described.get(b).partitions().stream().map(TopicPartitionInfo::partition).toList());
    Throwable missing =
        failure(admin.describeTopics(List.of(a + "-missing")).topicNameValues().get(a + "-missing"));
    assertInstanceOf(UnknownTopicOrPartitionException.class, missing);
  }
}
