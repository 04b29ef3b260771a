package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sluice.interop.Clients.TIMEOUT;
import static sluice.interop.Clients.utf8;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The consumer without a group: positions, seeks, timestamps, isolation levels. */
@ExtendWith(SluiceBroker.class)
class ConsumerTest {
  private final SluiceBroker.Broker broker;

  ConsumerTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  /** A one-partition topic with records "v-0".."v-(count-1)", timestamps {@code t0 + i s}. */
  private TopicPartition topicWith(String prefix, int count, long t0) throws Exception {
    String topic = broker.unique(prefix);
    Clients.createTopic(broker, topic, 1);
    try (KafkaProducer<byte[], byte[]> producer = Clients.producer(broker, Map.of())) {
      for (int i = 0; i < count; i++) {
        producer.send(
            new ProducerRecord<>(topic, 0, t0 + i * 1000L, utf8("k-" + i), utf8("v-" + i)));
      }
      producer.flush();
    }
    return new TopicPartition(topic, 0);
  }

  private static String value(ConsumerRecord<byte[], byte[]> r) {
    return new String(r.value(), StandardCharsets.UTF_8);
  }

  /** The first record a poll returns after a seek (waiting up to TIMEOUT). */
  private static ConsumerRecord<byte[], byte[]> next(KafkaConsumer<byte[], byte[]> consumer) {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
        return r;
      }
    }
    throw new AssertionError("no record within " + TIMEOUT);
  }

  @Test
  @DisplayName("seek, seekToBeginning and seekToEnd move the position exactly")
  void seeks() throws Exception {
    TopicPartition tp = topicWith("java-seek", 100, System.currentTimeMillis());
    try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(broker, Map.of())) {
      consumer.assign(List.of(tp));

      consumer.seek(tp, 50);
      ConsumerRecord<byte[], byte[]> r = next(consumer);
      assertEquals(50L, r.offset());
      assertEquals("v-50", value(r));

      consumer.seekToBeginning(List.of(tp));
      assertEquals(0L, consumer.position(tp));
      r = next(consumer);
      assertEquals(0L, r.offset());
      assertEquals("v-0", value(r));

      consumer.seekToEnd(List.of(tp));
      assertEquals(100L, consumer.position(tp));
      // Nothing past the end: a poll stays empty, then a new record is the next one.
      List<ConsumerRecord<byte[], byte[]>> none = Clients.pollExactly(consumer, 0);
      assertEquals(List.of(), none.stream().map(ConsumerTest::value).toList());
      try (KafkaProducer<byte[], byte[]> producer = Clients.producer(broker, Map.of())) {
        producer.send(new ProducerRecord<>(tp.topic(), 0, null, utf8("after the end")))
            .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      }
      r = next(consumer);
      assertEquals(100L, r.offset());
      assertEquals("after the end", value(r));
    }
  }

  @Test
  @DisplayName("offsetsForTimes: the first offset at or after each producer timestamp")
  void offsetsForTimes() throws Exception {
    long t0 = System.currentTimeMillis() - 3_600_000; // an hour ago, one record a second
    TopicPartition tp = topicWith("java-times", 10, t0);
    try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(broker, Map.of())) {
      Map<Long, Long> wantOffset = Map.of(t0 - 5000, 0L, t0, 0L, t0 + 2500, 3L, t0 + 9000, 9L);
      for (Map.Entry<Long, Long> e : wantOffset.entrySet()) {
        Map<TopicPartition, OffsetAndTimestamp> found =
            consumer.offsetsForTimes(Map.of(tp, e.getKey()));
        OffsetAndTimestamp at = found.get(tp);
        assertNotNull(at, "offsetsForTimes(" + (e.getKey() - t0) + " ms after t0)");
        assertEquals(e.getValue(), at.offset(), "offset for t0 + " + (e.getKey() - t0) + " ms");
        assertEquals(t0 + e.getValue() * 1000, at.timestamp(), "its timestamp");
      }
      // Later than every record: the client maps the partition to null.
      Map<TopicPartition, OffsetAndTimestamp> after =
          consumer.offsetsForTimes(Map.of(tp, t0 + 9001));
      assertTrue(after.containsKey(tp), "partition missing from " + after);
      assertNull(after.get(tp), "past the last timestamp");

      // And the record found is the one with that timestamp.
      consumer.assign(List.of(tp));
      consumer.seek(tp, consumer.offsetsForTimes(Map.of(tp, t0 + 4000)).get(tp).offset());
      ConsumerRecord<byte[], byte[]> r = next(consumer);
      assertEquals("v-4", value(r));
      assertEquals(t0 + 4000, r.timestamp());
    }
  }

  @Test
  @DisplayName("isolation.level=read_committed reads every non-transactional record")
  void readCommitted() throws Exception {
    TopicPartition tp = topicWith("java-read-committed", 50, System.currentTimeMillis());
    Map<String, Object> committed =
        Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(broker, committed)) {
      // The last stable offset of a partition without transactions is its high watermark.
      assertEquals(Map.of(tp, 50L), consumer.endOffsets(List.of(tp)));
    }
    List<ConsumerRecord<byte[], byte[]>> got = Clients.readPartition(broker, tp, 0, 50, committed);
    Clients.assertContiguousOffsets(0, got);
    List<String> want = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      want.add("v-" + i);
    }
    assertEquals(want, got.stream().map(ConsumerTest::value).toList());
  }
}
