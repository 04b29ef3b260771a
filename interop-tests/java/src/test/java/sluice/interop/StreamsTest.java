package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sluice.interop.Clients.TIMEOUT;
import static sluice.interop.Clients.utf8;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kafka Streams 4.4.0 against the broker: a word count whose KTable lives in a changelog topic,
 * with a repartition topic between the split and the count. A second instance with the same
 * application id and an empty state directory must rebuild the counts from the changelog.
 */
@ExtendWith(SluiceBroker.class)
class StreamsTest {
  private static final String STORE = "counts";

  private final SluiceBroker.Broker broker;

  StreamsTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  private static Topology wordCount(String input, String output) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
        .flatMapValues(line -> Arrays.asList(line.split(" ")))
        .groupBy((key, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
        .count(Materialized.as(STORE))
        .toStream()
        .to(output, Produced.with(Serdes.String(), Serdes.Long()));
    return builder.build();
  }

  /** One running instance of the word count, and what it reported. */
  private final class App implements AutoCloseable {
    final KafkaStreams streams;
    final AtomicLong restored = new AtomicLong();
    final List<Throwable> errors = new CopyOnWriteArrayList<>();

    App(String appId, String guarantee, Path stateDir, String input, String output) {
      Properties props = new Properties();
      props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
      props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
      props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
      props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
      props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
      // Every update of a count goes to the changelog and the output (no cache), committed
      // often: the output is one record per word read, in order.
      props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
      props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
      props.put(
          StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG),
          Clients.SESSION_TIMEOUT_MS);
      props.put(
          StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG),
          Clients.HEARTBEAT_INTERVAL_MS);
      streams = new KafkaStreams(wordCount(input, output), props);
      streams.setUncaughtExceptionHandler(
          e -> {
            errors.add(e);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
          });
      streams.setGlobalStateRestoreListener(
          new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long end, long n) {}

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
              if (store.equals(STORE)) {
                restored.addAndGet(total);
              }
            }
          });
      streams.start();
    }

    @Override
    public void close() {
      // Leaving the group lets the next instance take the tasks without waiting out a session.
      boolean closed =
          streams.close(
              CloseOptions.groupMembershipOperation(
                      CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                  .withTimeout(TIMEOUT));
      assertTrue(closed, "streams closed within " + TIMEOUT);
      assertEquals(List.of(), errors, "stream thread errors");
    }
  }

  private void produceLines(String topic, String... lines) throws Exception {
    try (KafkaProducer<byte[], byte[]> producer = Clients.producer(broker, Map.of())) {
      for (String line : lines) {
        producer.send(new ProducerRecord<>(topic, 0, null, utf8(line))).get();
      }
    }
  }

  /**
   * The output topic from its start as {@code word=count}, once {@code count} records came and
   * nothing followed for {@link Clients#QUIET}.
   */
  private List<String> readOutput(String topic, String isolation, int count, App app) {
    Properties props =
        Clients.consumerProps(
            broker,
            Map.of(
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation));
    List<String> got = new ArrayList<>();
    try (KafkaConsumer<String, Long> consumer = new KafkaConsumer<>(props)) {
      TopicPartition tp = new TopicPartition(topic, 0);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (got.size() < count && System.nanoTime() < deadline && app.errors.isEmpty()) {
        for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(200))) {
          got.add(r.key() + "=" + r.value());
        }
      }
      long quietEnd = System.nanoTime() + Clients.QUIET.toNanos();
      while (System.nanoTime() < quietEnd) {
        for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(200))) {
          got.add(r.key() + "=" + r.value());
        }
      }
    }
    assertEquals(List.of(), app.errors, "stream thread errors");
    return got;
  }

  /**
   * Counts "a b c", "a b", "a"; stops; then "a d", "a" reach a second instance with an empty
   * state directory, whose counts must go on from the changelog (a=4, a=5, not a=1, a=2).
   */
  private void countThenRestore(String guarantee, String isolation, Path stateRoot)
      throws Exception {
    String prefix = guarantee.replace('_', '-');
    String input = broker.unique("streams-" + prefix + "-in");
    String output = broker.unique("streams-" + prefix + "-out");
    String appId = broker.unique("streams-" + prefix + "-app");
    Clients.createTopic(broker, input, 1);
    Clients.createTopic(broker, output, 1);

    produceLines(input, "a b c", "a b", "a");
    List<String> first = List.of("a=1", "b=1", "c=1", "a=2", "b=2", "a=3");
    try (App app = new App(appId, guarantee, stateRoot.resolve("first"), input, output)) {
      assertEquals(first, readOutput(output, isolation, first.size(), app));
      assertEquals(0, app.restored.get(), "a new application has nothing to restore");
    }
    try (Admin admin = Clients.admin(broker)) {
      // Streams creates the changelog compacted; the broker keeps every record meanwhile.
      ConfigResource changelog =
          new ConfigResource(ConfigResource.Type.TOPIC, appId + "-" + STORE + "-changelog");
      Config config =
          admin
              .describeConfigs(List.of(changelog))
              .all()
              .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
              .get(changelog);
      assertEquals("compact", config.get("cleanup.policy").value());
    }

    produceLines(input, "a d", "a");
    List<String> both = new ArrayList<>(first);
    both.addAll(List.of("a=4", "d=1", "a=5"));
    try (App app = new App(appId, guarantee, stateRoot.resolve("second"), input, output)) {
      assertEquals(both, readOutput(output, isolation, both.size(), app));
      // The changelog holds one update per word counted before: 6.
      assertEquals(6, app.restored.get(), "records restored into the store from the changelog");
    }
    long end = endOffset(output);
    if (isolation.equals("read_committed")) {
      // Transactions: a commit marker follows each transaction's records.
      assertTrue(end > both.size(), "end offset " + end + " of a transactional output");
      assertProducerEpochs(appId);
    } else {
      assertEquals(both.size(), end, "end offset of the output");
    }
  }

  /**
   * Each instance's producer (one stream thread: one transactional id) committed at least once:
   * on transaction version 2 every commit bumped its epoch past 0; on version 1 it stays 0.
   */
  private void assertProducerEpochs(String appId) throws Exception {
    List<String> ids = new ArrayList<>();
    try (Admin admin = Clients.admin(broker)) {
      for (TransactionListing listing :
          admin.listTransactions().all().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        if (listing.transactionalId().startsWith(appId + "-")) {
          ids.add(listing.transactionalId());
        }
      }
    }
    assertEquals(2, ids.size(), "one transactional id per instance: " + ids);
    for (String id : ids) {
      int epoch = Clients.producerEpoch(broker, id);
      if (Clients.transactionV2(broker)) {
        assertTrue(epoch >= 1, id + " at epoch " + epoch + " after its commits");
      } else {
        assertEquals(0, epoch, id);
      }
    }
  }

  private long endOffset(String topic) throws Exception {
    TopicPartition tp = new TopicPartition(topic, 0);
    try (Admin admin = Clients.admin(broker)) {
      return admin
          .listOffsets(Map.of(tp, OffsetSpec.latest()))
          .all()
          .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
          .get(tp)
          .offset();
    }
  }

  @Test
  @DisplayName("streams word count at_least_once: KTable counts, restored from the changelog by a new instance")
  void wordCountAtLeastOnce(@TempDir Path stateRoot) throws Exception {
    countThenRestore(StreamsConfig.AT_LEAST_ONCE, "read_uncommitted", stateRoot);
  }

  @Test
  @DisplayName("streams word count exactly_once_v2: read_committed counts, restored from the changelog by a new instance")
  void wordCountExactlyOnce(@TempDir Path stateRoot) throws Exception {
    countThenRestore(StreamsConfig.EXACTLY_ONCE_V2, "read_committed", stateRoot);
  }
}
