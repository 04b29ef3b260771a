package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sluice.interop.Clients.TIMEOUT;
import static sluice.interop.Clients.utf8;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.AbortTransactionSpec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The transaction tooling of kafka-clients' Admin (what {@code kafka-transactions.sh} runs):
 * listTransactions, describeTransactions, describeProducers and abortTransaction.
 */
@ExtendWith(SluiceBroker.class)
class TransactionAdminTest {
  /** Long enough that no transaction of these tests times out while they run. */
  private static final int TRANSACTION_TIMEOUT_MS = 300_000;

  private final SluiceBroker.Broker broker;

  TransactionAdminTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  private KafkaProducer<byte[], byte[]> transactional(String id) {
    KafkaProducer<byte[], byte[]> producer =
        Clients.producer(
            broker,
            Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, id,
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, TRANSACTION_TIMEOUT_MS));
    producer.initTransactions();
    return producer;
  }

  private static <T> T get(org.apache.kafka.common.KafkaFuture<T> future) throws Exception {
    return future.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** The listings of {@code ids} only: other tests share the broker. */
  private static Set<TransactionListing> listed(
      Admin admin, ListTransactionsOptions options, Collection<String> ids) throws Exception {
    return get(admin.listTransactions(options).all()).stream()
        .filter(t -> ids.contains(t.transactionalId()))
        .collect(Collectors.toSet());
  }

  private static List<ProducerState> producers(Admin admin, TopicPartition tp) throws Exception {
    List<ProducerState> producers =
        new ArrayList<>(get(admin.describeProducers(List.of(tp)).partitionResult(tp)).activeProducers());
    producers.sort((a, b) -> Long.compare(a.producerId(), b.producerId()));
    return producers;
  }

  private static long endOffset(Admin admin, TopicPartition tp, IsolationLevel isolation)
      throws Exception {
    return get(admin
            .listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(isolation))
            .partitionResult(tp))
        .offset();
  }

  @Test
  @DisplayName("listTransactions and describeTransactions show an ongoing and a completed transaction")
  void listAndDescribe() throws Exception {
    String topic = broker.unique("java-txn-admin");
    String other = broker.unique("java-txn-admin-other");
    Clients.createTopic(broker, topic, 2);
    Clients.createTopic(broker, other, 1);
    String ongoingId = broker.unique("java-txn-admin-ongoing");
    String committedId = broker.unique("java-txn-admin-committed");
    List<String> ids = List.of(ongoingId, committedId);
    try (KafkaProducer<byte[], byte[]> ongoing = transactional(ongoingId);
        KafkaProducer<byte[], byte[]> committed = transactional(committedId);
        Admin admin = Clients.admin(broker)) {
      long before = System.currentTimeMillis();
      ongoing.beginTransaction();
      ongoing.send(new ProducerRecord<>(topic, 1, utf8("k"), utf8("a"))).get();
      ongoing.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("b"))).get();
      ongoing.send(new ProducerRecord<>(other, 0, utf8("k"), utf8("c"))).get();
      committed.beginTransaction();
      committed.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("d"))).get();
      committed.commitTransaction();
      long after = System.currentTimeMillis();

      Map<String, TransactionDescription> described =
          get(admin.describeTransactions(ids).all());
      TransactionDescription open = described.get(ongoingId);
      assertEquals(TransactionState.ONGOING, open.state());
      assertEquals(0, open.producerEpoch());
      assertEquals(TRANSACTION_TIMEOUT_MS, open.transactionTimeoutMs());
      long started = open.transactionStartTimeMs().orElseThrow();
      assertTrue(before <= started && started <= after, started + " not in " + before + ".." + after);
      assertEquals(
          Set.of(
              new TopicPartition(topic, 0),
              new TopicPartition(topic, 1),
              new TopicPartition(other, 0)),
          open.topicPartitions());
      TransactionDescription done = described.get(committedId);
      assertEquals(TransactionState.COMPLETE_COMMIT, done.state());
      // Transaction version 2 bumps the epoch at the commit.
      assertEquals(Clients.transactionV2(broker) ? 1 : 0, done.producerEpoch());
      assertEquals(OptionalLong.empty(), done.transactionStartTimeMs());
      assertEquals(Set.of(), done.topicPartitions());
      long openPid = open.producerId();
      long donePid = done.producerId();
      assertNotEquals(openPid, donePid);
      assertEquals(open.coordinatorId(), done.coordinatorId());

      ExecutionException unknown =
          assertThrows(
              ExecutionException.class,
              () -> get(admin.describeTransactions(List.of(broker.unique("nope"))).all()));
      assertInstanceOf(TransactionalIdNotFoundException.class, unknown.getCause());

      TransactionListing openListing =
          new TransactionListing(ongoingId, openPid, TransactionState.ONGOING);
      TransactionListing doneListing =
          new TransactionListing(committedId, donePid, TransactionState.COMPLETE_COMMIT);
      assertEquals(
          Set.of(openListing, doneListing), listed(admin, new ListTransactionsOptions(), ids));
      assertEquals(
          Set.of(openListing),
          listed(
              admin,
              new ListTransactionsOptions().filterStates(List.of(TransactionState.ONGOING)),
              ids));
      assertEquals(
          Set.of(doneListing),
          listed(admin, new ListTransactionsOptions().filterProducerIds(Set.of(donePid)), ids));
      assertEquals(
          Set.of(),
          listed(
              admin,
              new ListTransactionsOptions()
                  .filterStates(List.of(TransactionState.ONGOING))
                  .filterProducerIds(Set.of(donePid)),
              ids));
      // Running longer than 0 ms: the open one; longer than an hour: none of them.
      ListTransactionsOptions ongoingFor = new ListTransactionsOptions()
          .filterStates(List.of(TransactionState.ONGOING));
      assertEquals(Set.of(openListing), listed(admin, ongoingFor.filterOnDuration(0), ids));
      assertEquals(Set.of(), listed(admin, ongoingFor.filterOnDuration(3_600_000), ids));
      ongoing.abortTransaction();
    }
  }

  @Test
  @DisplayName("describeProducers shows an idempotent and a transactional producer of a partition")
  void describeProducers() throws Exception {
    String topic = broker.unique("java-txn-producers");
    Clients.createTopic(broker, topic, 1);
    TopicPartition tp = new TopicPartition(topic, 0);
    String id = broker.unique("java-txn-producers-id");
    long ts = 1_700_000_000_000L;
    try (KafkaProducer<byte[], byte[]> idempotent =
            Clients.producer(broker, Map.of(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true));
        KafkaProducer<byte[], byte[]> txn = transactional(id);
        Admin admin = Clients.admin(broker)) {
      for (int i = 0; i < 3; i++) { // offsets 0, 1, 2: sequences 0, 1, 2
        idempotent.send(new ProducerRecord<>(topic, 0, ts + i, utf8("k"), utf8("i" + i))).get();
      }
      txn.beginTransaction();
      for (int i = 0; i < 2; i++) { // offsets 3, 4: sequences 0, 1
        txn.send(new ProducerRecord<>(topic, 0, ts + 10 + i, utf8("k"), utf8("t" + i))).get();
      }
      long txnPid = get(admin.describeTransactions(List.of(id)).all()).get(id).producerId();
      List<ProducerState> open = producers(admin, tp);
      assertEquals(2, open.size(), open.toString());
      ProducerState idempotentState =
          open.get(0).producerId() == txnPid ? open.get(1) : open.get(0);
      long idempotentPid = idempotentState.producerId();
      assertNotEquals(txnPid, idempotentPid);
      ProducerState expectedIdempotent =
          new ProducerState(idempotentPid, 0, 2, ts + 2, OptionalInt.empty(), OptionalLong.empty());
      assertEquals(expectedIdempotent, idempotentState);
      ProducerState expectedTxn =
          new ProducerState(txnPid, 0, 1, ts + 11, OptionalInt.empty(), OptionalLong.of(3));
      assertEquals(
          Set.of(expectedIdempotent, expectedTxn), Set.copyOf(open), open.toString());

      long beforeCommit = System.currentTimeMillis();
      txn.commitTransaction();
      // The commit marker (offset 5) is written just after the answer to EndTxn.
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      ProducerState committed = null;
      while (System.nanoTime() < deadline) {
        committed =
            producers(admin, tp).stream()
                .filter(p -> p.producerId() == txnPid)
                .findFirst()
                .orElseThrow();
        if (committed.currentTransactionStartOffset().isEmpty()) {
          break;
        }
        Thread.sleep(20);
      }
      long afterCommit = System.currentTimeMillis();
      assertEquals(OptionalLong.empty(), committed.currentTransactionStartOffset());
      assertEquals(OptionalInt.of(0), committed.coordinatorEpoch());
      // Transaction version 2's marker carries the bumped epoch, which starts its sequence
      // again: the partition forgets the batches of the epoch before, as Kafka does.
      boolean bumped = Clients.transactionV2(broker);
      assertEquals(bumped ? 1 : 0, committed.producerEpoch());
      assertEquals(bumped ? -1 : 1, committed.lastSequence());
      // The marker is the producer's last write: its time is the broker's.
      assertTrue(
          beforeCommit <= committed.lastTimestamp() && committed.lastTimestamp() <= afterCommit,
          committed.toString());
      assertEquals(6L, endOffset(admin, tp, IsolationLevel.READ_COMMITTED));
    }
  }

  @Test
  @DisplayName("abortTransaction ends the transaction of an abandoned producer")
  void abortHangingTransaction() throws Exception {
    String topic = broker.unique("java-txn-hanging");
    Clients.createTopic(broker, topic, 1);
    TopicPartition tp = new TopicPartition(topic, 0);
    String id = broker.unique("java-txn-hanging-id");
    KafkaProducer<byte[], byte[]> abandoned = transactional(id);
    abandoned.beginTransaction();
    abandoned.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("h-0"))).get();
    abandoned.send(new ProducerRecord<>(topic, 0, utf8("k"), utf8("h-1"))).get();
    // Closed at once: the producer sends no EndTxn, its transaction stays open (offsets 0-1).
    abandoned.close(Duration.ZERO);
    try (Admin admin = Clients.admin(broker)) {
      assertEquals(0L, endOffset(admin, tp, IsolationLevel.READ_COMMITTED));
      assertEquals(2L, endOffset(admin, tp, IsolationLevel.READ_UNCOMMITTED));
      List<ProducerState> hanging = producers(admin, tp);
      assertEquals(1, hanging.size(), hanging.toString());
      ProducerState producer = hanging.get(0);
      assertEquals(OptionalLong.of(0), producer.currentTransactionStartOffset());
      assertEquals(OptionalInt.empty(), producer.coordinatorEpoch());

      // What `kafka-transactions.sh abort --start-offset 0` sends.
      AbortTransactionSpec abort =
          new AbortTransactionSpec(
              tp,
              producer.producerId(),
              (short) producer.producerEpoch(),
              producer.coordinatorEpoch().orElse(0));
      get(admin.abortTransaction(abort).all());

      // The ABORT marker at 2 ends it: everything is stable.
      assertEquals(3L, endOffset(admin, tp, IsolationLevel.READ_UNCOMMITTED));
      assertEquals(3L, endOffset(admin, tp, IsolationLevel.READ_COMMITTED));
      try (KafkaConsumer<byte[], byte[]> consumer =
          Clients.consumer(
              broker, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
        consumer.assign(List.of(tp));
        consumer.seekToBeginning(List.of(tp));
        List<ConsumerRecord<byte[], byte[]>> seen = new ArrayList<>();
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (consumer.position(tp) < 3 && System.nanoTime() < deadline) {
          consumer.poll(Duration.ofMillis(100)).forEach(seen::add);
        }
        assertEquals(3L, consumer.position(tp), "the consumer reaches the end");
        assertEquals(List.of(), seen);
      }
      ProducerState ended = producers(admin, tp).get(0);
      assertEquals(OptionalLong.empty(), ended.currentTransactionStartOffset());
      assertEquals(OptionalInt.of(0), ended.coordinatorEpoch());

      // Aborting again finds nothing open: the marker is written, nothing else moves.
      get(admin.abortTransaction(abort).all());
      assertEquals(4L, endOffset(admin, tp, IsolationLevel.READ_UNCOMMITTED));
      assertEquals(4L, endOffset(admin, tp, IsolationLevel.READ_COMMITTED));

      // A newer epoch fences the older one, whose marker is then refused.
      AbortTransactionSpec newer =
          new AbortTransactionSpec(tp, producer.producerId(), (short) 3, 0);
      get(admin.abortTransaction(newer).all());
      ExecutionException stale =
          assertThrows(ExecutionException.class, () -> get(admin.abortTransaction(abort).all()));
      assertInstanceOf(InvalidProducerEpochException.class, stale.getCause());
      assertEquals(5L, endOffset(admin, tp, IsolationLevel.READ_COMMITTED));
    }
  }
}
