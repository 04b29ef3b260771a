package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Client configurations tuned to the broker's limits, and the checks every test shares. */
final class Clients {
  /** The broker's minimum session timeout (its initial rebalance delay is 0). */
  static final int SESSION_TIMEOUT_MS = 6000;

  static final int HEARTBEAT_INTERVAL_MS = 1000;
  /** Longest wait for anything a healthy broker does in well under a second. */
  static final Duration TIMEOUT = Duration.ofSeconds(30);
  /** How long a consumer must stay silent to show that nothing more is coming. */
  static final Duration QUIET = Duration.ofMillis(1500);

  private Clients() {}

  static KafkaProducer<byte[], byte[]> producer(
      SluiceBroker.Broker broker, Map<String, Object> overrides) {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis() - 1000);
    props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) TIMEOUT.toMillis());
    props.putAll(overrides);
    return new KafkaProducer<>(props);
  }

  static Properties consumerProps(SluiceBroker.Broker broker, Map<String, Object> overrides) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, SESSION_TIMEOUT_MS);
    props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, HEARTBEAT_INTERVAL_MS);
    props.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 20_000);
    props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    props.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis() - 1000);
    props.putAll(overrides);
    return props;
  }

  static KafkaConsumer<byte[], byte[]> consumer(
      SluiceBroker.Broker broker, Map<String, Object> overrides) {
    return new KafkaConsumer<>(consumerProps(broker, overrides));
  }

  /**
   * Whether transactions against {@code broker} run on transaction version 2 (KIP-890): the
   * client is 4.x and the broker finalizes {@code transaction.version} 2. 3.x clients know only
   * the first version.
   */
  static boolean transactionV2(SluiceBroker.Broker broker) {
    return !clientVersion().startsWith("3.") && broker.transactionVersion() >= 2;
  }

  /** The producer epoch the coordinator holds for {@code transactionalId}. */
  static int producerEpoch(SluiceBroker.Broker broker, String transactionalId) throws Exception {
    try (Admin admin = admin(broker)) {
      return admin
          .describeTransactions(List.of(transactionalId))
          .description(transactionalId)
          .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
          .producerEpoch();
    }
  }

  static Admin admin(SluiceBroker.Broker broker) {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis() - 1000);
    return Admin.create(props);
  }

  /** Set-up for tests that are not about the admin API: one CreateTopics. */
  static void createTopic(SluiceBroker.Broker broker, String name, int partitions)
      throws Exception {
    try (Admin admin = admin(broker)) {
      admin
          .createTopics(List.of(new NewTopic(name, partitions, (short) 1)))
          .all()
          .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /**
   * Reads {@code partition} from {@code from} (without a group) until {@code count} records came,
   * then for {@link #QUIET} more to show that nothing else follows.
   */
  static List<ConsumerRecord<byte[], byte[]>> readPartition(
      SluiceBroker.Broker broker,
      TopicPartition partition,
      long from,
      int count,
      Map<String, Object> overrides) {
    try (KafkaConsumer<byte[], byte[]> consumer = consumer(broker, overrides)) {
      consumer.assign(List.of(partition));
      consumer.seek(partition, from);
      return pollExactly(consumer, count);
    }
  }

  /** Polls until {@code count} records came, then for {@link #QUIET} more. */
  static List<ConsumerRecord<byte[], byte[]>> pollExactly(
      KafkaConsumer<byte[], byte[]> consumer, int count) {
    List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (got.size() < count && System.nanoTime() < deadline) {
      consumer.poll(Duration.ofMillis(200)).forEach(got::add);
    }
    long quietEnd = System.nanoTime() + QUIET.toNanos();
    while (System.nanoTime() < quietEnd) {
      consumer.poll(Duration.ofMillis(200)).forEach(got::add);
    }
    return got;
  }

  /**
   * The kafka-clients version on the class path, from the properties file its jar carries
   * (its parser class moved between 3.9 and 4.x).
   */
  static String clientVersion() {
    try (InputStream in =
        KafkaConsumer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
      Properties props = new Properties();
      if (in != null) {
        props.load(in);
      }
      return props.getProperty("version", "unknown");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** A record's content as text, bytes in hex, so that a list of them compares exactly. */
  static String describe(byte[] key, byte[] value, Iterable<Header> headers) {
    StringBuilder sb = new StringBuilder();
    sb.append("key=").append(hex(key)).append(" value=").append(hex(value)).append(" headers=[");
    String sep = "";
    for (Header h : headers) {
      sb.append(sep).append(h.key()).append(':').append(hex(h.value()));
      sep = ", ";
    }
    return sb.append(']').toString();
  }

  static String describe(ConsumerRecord<byte[], byte[]> r) {
    return describe(r.key(), r.value(), r.headers());
  }

  static String hex(byte[] bytes) {
    return bytes == null ? "null" : "0x" + HexFormat.of().formatHex(bytes);
  }

  /** The received records' offsets are exactly {@code first, first+1, ...}. */
  static void assertContiguousOffsets(long first, List<ConsumerRecord<byte[], byte[]>> got) {
    List<Long> want = new ArrayList<>();
    List<Long> have = new ArrayList<>();
    for (int i = 0; i < got.size(); i++) {
      want.add(first + i);
      have.add(got.get(i).offset());
    }
    assertEquals(want, have, "offsets");
  }
}
