package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sluice.interop.Clients.TIMEOUT;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.MapPropertySource;
import org.springframework.kafka.annotation.EnableKafka;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.core.ProducerFactory;
import org.springframework.kafka.listener.ConcurrentMessageListenerContainer;
import org.springframework.kafka.listener.MessageListenerContainer;
import org.springframework.kafka.support.SendResult;
import org.springframework.kafka.transaction.KafkaTransactionManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Spring for Apache Kafka (spring-kafka 4.1) on a plain Spring context against the broker: a
 * {@link KafkaTemplate} and an {@code @EnableKafka} {@code @KafkaListener} whose container runs
 * three consumers of one group, and transactions through {@code executeInTransaction} and a
 * {@link KafkaTransactionManager}.
 */
@ExtendWith(SluiceBroker.class)
class SpringKafkaTest {
  private static final String LISTENER_ID = "sluice-spring-listener";
  private static final int PARTITIONS = 3;

  private final SluiceBroker.Broker broker;

  SpringKafkaTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  /** The records a {@code @KafkaListener} received, in the order each container thread saw them. */
  static final class Received {
    final List<ConsumerRecord<String, String>> records = new CopyOnWriteArrayList<>();

    @KafkaListener(
        id = LISTENER_ID,
        topics = "${sluice.topic}",
        groupId = "${sluice.group}",
        concurrency = "" + PARTITIONS)
    void onRecord(ConsumerRecord<String, String> record) {
      records.add(record);
    }
  }

  @Configuration
  @EnableKafka
  static class ListenerConfig {
    @Bean
    ProducerFactory<String, String> producerFactory(@Value("${sluice.bootstrap}") String bootstrap) {
      return new DefaultKafkaProducerFactory<>(producerProps(bootstrap));
    }

    @Bean
    KafkaTemplate<String, String> kafkaTemplate(ProducerFactory<String, String> producerFactory) {
      return new KafkaTemplate<>(producerFactory);
    }

    @Bean
    ConcurrentKafkaListenerContainerFactory<String, String> kafkaListenerContainerFactory(
        @Value("${sluice.bootstrap}") String bootstrap) {
      Map<String, Object> props = new HashMap<>();
      props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
      props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
      props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, Clients.SESSION_TIMEOUT_MS);
      props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Clients.HEARTBEAT_INTERVAL_MS);
      ConcurrentKafkaListenerContainerFactory<String, String> factory =
          new ConcurrentKafkaListenerContainerFactory<>();
      factory.setConsumerFactory(new DefaultKafkaConsumerFactory<>(props));
      return factory;
    }

    @Bean
    Received received() {
      return new Received();
    }
  }

  private static Map<String, Object> producerProps(String bootstrap) {
    Map<String, Object> props = new HashMap<>();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis() - 1000);
    props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) TIMEOUT.toMillis());
    return props;
  }

  private AnnotationConfigApplicationContext context(Map<String, Object> properties) {
    AnnotationConfigApplicationContext context = new AnnotationConfigApplicationContext();
    Map<String, Object> all = new HashMap<>(properties);
    all.put("sluice.bootstrap", broker.bootstrap());
    context.getEnvironment().getPropertySources().addFirst(new MapPropertySource("sluice", all));
    return context;
  }

  /** The partition kafka-clients' default partitioner picks for a keyed record. */
  private static int partitionOf(String key) {
    return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % PARTITIONS;
  }

  private static String describe(ConsumerRecord<String, String> r) {
    return r.partition() + "@" + r.offset() + " " + r.key() + "=" + r.value();
  }

  private static String describe(String key, String value, RecordMetadata m) {
    return m.partition() + "@" + m.offset() + " " + key + "=" + value;
  }

  private static void waitUntil(String what, java.util.function.BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      Thread.sleep(50);
    }
  }

  @Test
  @DisplayName("a KafkaTemplate's keyed records reach a @KafkaListener group of three consumers")
  void templateToListener() throws Exception {
    String topic = broker.unique("java-spring");
    String group = broker.unique("java-spring-group");
    Clients.createTopic(broker, topic, PARTITIONS);
    try (AnnotationConfigApplicationContext context =
        context(Map.of("sluice.topic", topic, "sluice.group", group))) {
      context.register(ListenerConfig.class);
      context.refresh();

      // Send only once the group is stable, one partition per consumer: records sent during a
      // rebalance could be delivered twice, and the exact list below could not hold.
      ConcurrentMessageListenerContainer<?, ?> container =
          (ConcurrentMessageListenerContainer<?, ?>)
              context.getBean(KafkaListenerEndpointRegistry.class).getListenerContainer(LISTENER_ID);
      waitUntil(
          "one partition for each of the three consumers",
          () -> {
            List<? extends MessageListenerContainer> children = container.getContainers();
            return children.size() == PARTITIONS
                && children.stream()
                    .allMatch(
                        c -> c.getAssignedPartitions() != null
                            && c.getAssignedPartitions().size() == 1);
          });

      @SuppressWarnings("unchecked")
      KafkaTemplate<String, String> template = context.getBean(KafkaTemplate.class);
      List<String> sent = new ArrayList<>();
      Map<Integer, Long> nextOffset = new HashMap<>();
      List<String> expected = new ArrayList<>();
      List<java.util.concurrent.CompletableFuture<SendResult<String, String>>> futures =
          new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        String key = "key-" + i;
        String value = "value-" + i + "-\u00e9";
        futures.add(template.send(topic, key, value));
        int partition = partitionOf(key);
        long offset = nextOffset.merge(partition, 1L, Long::sum) - 1;
        expected.add(partition + "@" + offset + " " + key + "=" + value);
        sent.add(key);
      }
      template.flush();
      for (int i = 0; i < futures.size(); i++) {
        SendResult<String, String> result = futures.get(i).get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        assertEquals(
            expected.get(i),
            describe(
                result.getProducerRecord().key(),
                result.getProducerRecord().value(),
                result.getRecordMetadata()),
            "send result " + i);
      }
      assertEquals(PARTITIONS, nextOffset.size(), "the 30 keys cover every partition");

      Received received = context.getBean(Received.class);
      waitUntil("30 records at the listener", () -> received.records.size() >= 30);
      // Each partition's records arrive in order; across partitions the threads interleave.
      Comparator<String> byPartitionThenOffset =
          Comparator.comparing((String s) -> Integer.parseInt(s.substring(0, s.indexOf('@'))))
              .thenComparing(
                  s -> Long.parseLong(s.substring(s.indexOf('@') + 1, s.indexOf(' '))));
      List<String> got =
          received.records.stream().map(SpringKafkaTest::describe).collect(Collectors.toList());
      for (int p = 0; p < PARTITIONS; p++) {
        String prefix = p + "@";
        assertEquals(
            expected.stream().filter(s -> s.startsWith(prefix)).collect(Collectors.toList()),
            got.stream().filter(s -> s.startsWith(prefix)).collect(Collectors.toList()),
            "partition " + p + " in order");
      }
      assertEquals(
          expected.stream().sorted(byPartitionThenOffset).collect(Collectors.toList()),
          got.stream().sorted(byPartitionThenOffset).collect(Collectors.toList()));

      // The containers commit (AckMode.BATCH) after each poll's records: the group's offsets
      // reach the end of every partition.
      Map<TopicPartition, OffsetAndMetadata> wantCommitted = new HashMap<>();
      nextOffset.forEach(
          (p, next) -> wantCommitted.put(new TopicPartition(topic, p), new OffsetAndMetadata(next)));
      try (Admin admin = Clients.admin(broker)) {
        waitUntil(
            "the group's commits",
            () -> {
              try {
                Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                return committed.keySet().equals(wantCommitted.keySet())
                    && committed.entrySet().stream()
                        .allMatch(
                            e -> e.getValue().offset() == wantCommitted.get(e.getKey()).offset());
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            });
      }
      assertEquals(30, received.records.size(), "no record delivered twice");
    }
  }

  private static List<String> readAll(
      SluiceBroker.Broker broker, TopicPartition tp, String isolation, int count) {
    return Clients.readPartition(
            broker, tp, 0, count, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation))
        .stream()
        .map(
            r -> r.offset() + ":" + new String(r.key(), StandardCharsets.UTF_8) + "="
                + new String(r.value(), StandardCharsets.UTF_8))
        .collect(Collectors.toList());
  }

  @Test
  @DisplayName(
      "Spring transactions commit and roll back: executeInTransaction and KafkaTransactionManager")
  void transactions() throws Exception {
    String topic = broker.unique("java-spring-txn");
    Clients.createTopic(broker, topic, 1);
    TopicPartition tp = new TopicPartition(topic, 0);
    DefaultKafkaProducerFactory<String, String> factory =
        new DefaultKafkaProducerFactory<>(producerProps(broker.bootstrap()));
    factory.setTransactionIdPrefix(broker.unique("java-spring-tx") + "-");
    try {
      KafkaTemplate<String, String> template = new KafkaTemplate<>(factory);

      // 0, 1 committed; 2 its marker.
      template.executeInTransaction(
          ops -> {
            ops.send(topic, 0, "k", "commit-0");
            ops.send(topic, 0, "k", "commit-1");
            return null;
          });
      // 3 written, then rolled back; 4 the abort marker.
      IllegalStateException rolledBack =
          assertThrows(
              IllegalStateException.class,
              () ->
                  template.executeInTransaction(
                      ops -> {
                        try {
                          ops.send(topic, 0, "k", "rollback-0").get();
                        } catch (Exception e) {
                          throw new AssertionError(e);
                        }
                        throw new IllegalStateException("roll back");
                      }));
      assertEquals("roll back", rolledBack.getMessage());

      KafkaTransactionManager<String, String> manager = new KafkaTransactionManager<>(factory);
      TransactionTemplate transactions = new TransactionTemplate(manager);
      // 5 committed; 6 its marker. Inside a managed transaction the template joins it.
      transactions.executeWithoutResult(status -> template.send(topic, 0, "k", "commit-2"));
      // 7 written, then rolled back; 8 the abort marker.
      assertThrows(
          IllegalStateException.class,
          () ->
              transactions.executeWithoutResult(
                  status -> {
                    try {
                      template.send(topic, 0, "k", "rollback-1").get();
                    } catch (Exception e) {
                      throw new AssertionError(e);
                    }
                    throw new IllegalStateException("roll back");
                  }));
      assertTrue(template.isTransactional());
    } finally {
      factory.destroy();
    }

    assertEquals(
        List.of("0:k=commit-0", "1:k=commit-1", "5:k=commit-2"),
        readAll(broker, tp, "read_committed", 3));
    assertEquals(
        List.of("0:k=commit-0", "1:k=commit-1", "3:k=rollback-0", "5:k=commit-2", "7:k=rollback-1"),
        readAll(broker, tp, "read_uncommitted", 5));
    try (Admin admin = Clients.admin(broker);
        KafkaConsumer<byte[], byte[]> consumer =
            Clients.consumer(
                broker, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
      assertEquals(9L, consumer.endOffsets(List.of(tp)).get(tp), "last stable offset");
      assertEquals(
          9L,
          admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get().offset());
    }
  }
}
