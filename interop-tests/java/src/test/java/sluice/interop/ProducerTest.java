package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sluice.interop.Clients.TIMEOUT;
import static sluice.interop.Clients.utf8;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The producer: idempotence (the 4.x default), acks, every codec, nulls and empties. */
@ExtendWith(SluiceBroker.class)
class ProducerTest {
  private final SluiceBroker.Broker broker;

  ProducerTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  private record Sent(byte[] key, byte[] value, List<Header> headers) {
    ProducerRecord<byte[], byte[]> to(String topic, int partition) {
      return new ProducerRecord<>(topic, partition, key, value, headers);
    }

    String describe() {
      return Clients.describe(key, value, headers);
    }
  }

  private static List<String> describeSent(List<Sent> sent) {
    return sent.stream().map(Sent::describe).toList();
  }

  private static List<String> describeGot(List<ConsumerRecord<byte[], byte[]>> got) {
    return got.stream().map(Clients::describe).toList();
  }

  /** Sends every record to partition 0 of {@code topic}; returns the offsets acknowledged. */
  private static List<Long> sendAll(
      KafkaProducer<byte[], byte[]> producer, String topic, List<Sent> records) throws Exception {
    List<Future<RecordMetadata>> acks = new ArrayList<>();
    for (Sent r : records) {
      acks.add(producer.send(r.to(topic, 0)));
    }
    producer.flush();
    List<Long> offsets = new ArrayList<>();
    for (Future<RecordMetadata> ack : acks) {
      offsets.add(ack.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).offset());
    }
    return offsets;
  }

  @Test
  @DisplayName("idempotent producer (the default): 1000 records at offsets 0..999, read back exactly")
  void idempotentByDefault() throws Exception {
    String topic = broker.unique("java-idempotent");
    Clients.createTopic(broker, topic, 1);
    List<Sent> sent = new ArrayList<>();
    for (int i = 0; i < 1000; i++) {
      sent.add(
          new Sent(
              utf8("key-" + i),
              utf8("value-" + i),
              List.of(
                  new RecordHeader("seq", utf8(Integer.toString(i))),
                  new RecordHeader("dup", utf8("first")),
                  new RecordHeader("dup", utf8("second")))));
    }
    // No idempotence setting: kafka-clients 4.x enables it by default (with acks=all), so the
    // producer starts with InitProducerId and numbers its batches.
    List<Long> offsets;
    try (KafkaProducer<byte[], byte[]> producer =
        Clients.producer(broker, Map.of(ProducerConfig.LINGER_MS_CONFIG, 5))) {
      offsets = sendAll(producer, topic, sent);
    }
    List<Long> contiguous = new ArrayList<>();
    for (long i = 0; i < 1000; i++) {
      contiguous.add(i);
    }
    assertEquals(contiguous, offsets, "acknowledged offsets");

    List<ConsumerRecord<byte[], byte[]>> got =
        Clients.readPartition(broker, new TopicPartition(topic, 0), 0, 1000, Map.of());
    Clients.assertContiguousOffsets(0, got);
    assertEquals(describeSent(sent), describeGot(got));
  }

  @DisplayName("producer")
  @ParameterizedTest(name = "acks={0}: 300 records delivered exactly")
  @ValueSource(strings = {"0", "1", "all"})
  void acks(String acks) throws Exception {
    String topic = broker.unique("java-acks");
    Clients.createTopic(broker, topic, 1);
    List<Sent> sent = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      sent.add(new Sent(utf8("k" + i), utf8("acks " + acks + " record " + i), List.of()));
    }
    List<Long> offsets;
    try (KafkaProducer<byte[], byte[]> producer =
        Clients.producer(broker, Map.of(ProducerConfig.ACKS_CONFIG, acks))) {
      offsets = sendAll(producer, topic, sent);
    }
    if (acks.equals("0")) {
      // Without a response the producer knows no offset: it reports -1 for each record.
      assertTrue(offsets.stream().allMatch(o -> o == -1L), "acks=0 offsets: " + offsets);
    } else {
      assertEquals(0L, offsets.get(0));
      assertEquals(299L, offsets.get(299));
    }
    List<ConsumerRecord<byte[], byte[]>> got =
        Clients.readPartition(broker, new TopicPartition(topic, 0), 0, 300, Map.of());
    Clients.assertContiguousOffsets(0, got);
    assertEquals(describeSent(sent), describeGot(got));
  }

  @DisplayName("500 records, exact equality after")
  @ParameterizedTest(name = "compression {0}")
  @ValueSource(strings = {"gzip", "snappy", "lz4", "zstd"})
  void compression(String codec) throws Exception {
    String topic = broker.unique("java-" + codec);
    Clients.createTopic(broker, topic, 1);
    List<Sent> sent = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      sent.add(
          new Sent(
              utf8(String.format("key-%05d", i)),
              utf8(String.format("message %05d ", i) + "sluice ".repeat(40)),
              List.of(new RecordHeader("codec", utf8(codec)))));
    }
    double compressionRate;
    try (KafkaProducer<byte[], byte[]> producer =
        Clients.producer(
            broker,
            Map.of(
                ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, 20,
                ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024))) {
      sendAll(producer, topic, sent);
      compressionRate = metric(producer, "compression-rate-avg");
    }
    // The batches really were compressed: compressed size / uncompressed size well below 1.
    assertTrue(compressionRate > 0 && compressionRate < 0.5, "compression-rate-avg " + compressionRate);
    List<ConsumerRecord<byte[], byte[]>> got =
        Clients.readPartition(broker, new TopicPartition(topic, 0), 0, 500, Map.of());
    Clients.assertContiguousOffsets(0, got);
    assertEquals(describeSent(sent), describeGot(got));
  }

  @Test
  @DisplayName("keys+headers: null key, null value, empty value, null and empty header values")
  void nullsAndEmpties() throws Exception {
    String topic = broker.unique("java-nulls");
    Clients.createTopic(broker, topic, 1);
    List<Sent> sent =
        List.of(
            new Sent(null, utf8("no key"), List.of()),
            new Sent(utf8("tombstone"), null, List.of()),
            new Sent(utf8("empty value"), new byte[0], List.of()),
            new Sent(new byte[0], utf8("empty key"), List.of()),
            new Sent(null, null, List.of(new RecordHeader("null-header", null))),
            new Sent(
                utf8("mixed headers"),
                utf8("v"),
                List.of(
                    new RecordHeader("a", null),
                    new RecordHeader("b", new byte[0]),
                    new RecordHeader("a", utf8("again")),
                    new RecordHeader("ünïcode", utf8("välue-✓")))),
            new Sent(new byte[] {0, (byte) 0xff, 1}, new byte[] {(byte) 0xfe, 0}, List.of()));
    try (KafkaProducer<byte[], byte[]> producer = Clients.producer(broker, Map.of())) {
      assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L), sendAll(producer, topic, sent));
    }
    List<ConsumerRecord<byte[], byte[]>> got =
        Clients.readPartition(broker, new TopicPartition(topic, 0), 0, sent.size(), Map.of());
    assertEquals(describeSent(sent), describeGot(got));
  }

  private static double metric(KafkaProducer<byte[], byte[]> producer, String name) {
    for (Map.Entry<MetricName, ? extends Metric> e : producer.metrics().entrySet()) {
      if (e.getKey().name().equals(name) && e.getKey().group().equals("producer-metrics")) {
        return ((Number) e.getValue().metricValue()).doubleValue();
      }
    }
    throw new AssertionError("no producer metric " + name);
  }
}
