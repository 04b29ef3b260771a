package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static sluice.interop.Clients.TIMEOUT;
import static sluice.interop.Clients.utf8;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The transactional producer and read_committed consumer of kafka-clients: on transaction
 * version 2 with a 4.x client against the broker's default (the epoch bumped at every end,
 * partitions and groups joining implicitly), on version 1 with a 3.x client or {@link
 * TransactionV1Test}'s broker.
 */
@ExtendWith(SluiceBroker.class)
class TransactionTest {
  private final SluiceBroker.Broker broker;
  /** Each transaction end bumps the producer epoch (version 2) or keeps it (version 1). */
  private final int bumpPerEnd;

  TransactionTest(SluiceBroker.Broker broker) {
    this.broker = broker;
    this.bumpPerEnd = Clients.transactionV2(broker) ? 1 : 0;
  }

  private KafkaProducer<byte[], byte[]> transactional(String id) {
    KafkaProducer<byte[], byte[]> producer =
        Clients.producer(broker, Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id));
    producer.initTransactions();
    return producer;
  }

  private static List<String> values(List<ConsumerRecord<byte[], byte[]>> records) {
    return records.stream()
        .map(r -> r.offset() + ":" + new String(r.value(), StandardCharsets.UTF_8))
        .collect(Collectors.toList());
  }

  private List<String> read(TopicPartition tp, String isolation, int count) {
    return values(
        Clients.readPartition(
            broker, tp, 0, count, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation)));
  }

  @Test
  @DisplayName("read_committed reads committed records and skips aborted ones")
  void commitAndAbort() throws Exception {
    String topic = broker.unique("java-txn");
    Clients.createTopic(broker, topic, 1);
    TopicPartition tp = new TopicPartition(topic, 0);
    try (KafkaProducer<byte[], byte[]> producer = transactional("java-txn-1")) {
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("c-0")));
      producer.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("c-1")));
      producer.commitTransaction();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("a-0")));
      producer.flush();
      producer.abortTransaction();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("c-2")));
      producer.commitTransaction();
    }
    // Three ends after the InitProducerId that gave epoch 0.
    assertEquals(3 * bumpPerEnd, Clients.producerEpoch(broker, "java-txn-1"));
    // 0-1 committed, 2 marker, 3 aborted, 4 marker, 5 committed, 6 marker.
    assertEquals(List.of("0:c-0", "1:c-1", "5:c-2"), read(tp, "read_committed", 3));
    assertEquals(
        List.of("0:c-0", "1:c-1", "3:a-0", "5:c-2"), read(tp, "read_uncommitted", 4));
    try (KafkaConsumer<byte[], byte[]> consumer =
        Clients.consumer(broker, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
      assertEquals(7L, consumer.endOffsets(List.of(tp)).get(tp));
    }
  }

  @Test
  @DisplayName("sendOffsetsToTransaction commits the group's offsets with the transaction")
  void consumeTransformProduce() throws Exception {
    String topic = broker.unique("java-txn-offsets");
    Clients.createTopic(broker, topic, 1);
    TopicPartition tp = new TopicPartition(topic, 0);
    String group = broker.unique("java-txn-group");
    ConsumerGroupMetadata metadata = new ConsumerGroupMetadata(group);
    try (KafkaProducer<byte[], byte[]> producer = transactional("java-txn-2");
        Admin admin = Clients.admin(broker)) {
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("out")));
      producer.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(5)), metadata);
      producer.abortTransaction();
      Map<TopicPartition, OffsetAndMetadata> committed =
          admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
      assertNull(committed.get(tp), "an aborted transaction commits no offset");

      producer.beginTransaction();
      producer.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(9, "meta")), metadata);
      producer.commitTransaction();
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      OffsetAndMetadata offset = null;
      while (System.nanoTime() < deadline) {
        offset = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().get(tp);
        if (offset != null) {
          break;
        }
        Thread.sleep(50);
      }
      assertEquals(new OffsetAndMetadata(9, "meta"), offset);
    }
    assertEquals(2 * bumpPerEnd, Clients.producerEpoch(broker, "java-txn-2"));
  }

  @Test
  @DisplayName("a second producer with the same transactional.id fences the first")
  void fencing() throws Exception {
    String topic = broker.unique("java-txn-fence");
    Clients.createTopic(broker, topic, 1);
    TopicPartition tp = new TopicPartition(topic, 0);
    try (KafkaProducer<byte[], byte[]> zombie = transactional("java-txn-3")) {
      zombie.beginTransaction();
      zombie.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("zombie"))).get();
      try (KafkaProducer<byte[], byte[]> fresh = transactional("java-txn-3")) {
        fresh.beginTransaction();
        fresh.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("fresh")));
        fresh.commitTransaction();
      }
      KafkaException error = assertThrows(KafkaException.class, zombie::commitTransaction);
      Throwable cause = error instanceof ProducerFencedException ? error : error.getCause();
      assertEquals(ProducerFencedException.class, cause.getClass(), error.toString());
    }
    // zombie at 0 aborted by the fence (its marker at 1), fresh at 2.
    assertEquals(List.of("2:fresh"), read(tp, "read_committed", 1));
    // Epoch 0 fenced to 1 for the abort, 2 for the fresh producer, and its commit.
    assertEquals(2 + bumpPerEnd, Clients.producerEpoch(broker, "java-txn-3"));
  }

  @Test
  @DisplayName("a transaction past transaction.timeout.ms is aborted by the broker")
  void timeout() throws Exception {
    String topic = broker.unique("java-txn-timeout");
    Clients.createTopic(broker, topic, 1);
    TopicPartition tp = new TopicPartition(topic, 0);
    try (KafkaProducer<byte[], byte[]> producer =
        Clients.producer(
            broker,
            Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, "java-txn-4",
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 1000))) {
      producer.initTransactions();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("slow"))).get();
      Thread.sleep(Duration.ofSeconds(3).toMillis());
      assertThrows(KafkaException.class, producer::commitTransaction);
    }
    try (KafkaConsumer<byte[], byte[]> consumer =
        Clients.consumer(broker, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
      // The abort marker at 1 makes everything stable: the end is 2, and nothing is read.
      assertEquals(2L, consumer.endOffsets(List.of(tp)).get(tp));
    }
    assertEquals(List.of(), read(tp, "read_committed", 0));
  }
}
