package sluice.interop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * One group member: a KafkaConsumer owned by its own thread (the client is not thread-safe),
 * polling until closed. The test reads what it received and its assignment, and hands it work
 * to run between polls (a commitSync).
 */
final class GroupMember implements AutoCloseable {
  final String name;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final Thread thread;
  private final List<ConsumerRecord<byte[], byte[]>> received = new CopyOnWriteArrayList<>();
  private final AtomicReference<Set<Integer>> assignment = new AtomicReference<>(Set.of());
  private final AtomicInteger assignedCalls = new AtomicInteger();
  private final AtomicInteger revokedCalls = new AtomicInteger();
  private final ConcurrentLinkedQueue<Runnable> work = new ConcurrentLinkedQueue<>();
  private final AtomicReference<Throwable> failure = new AtomicReference<>();
  private volatile boolean stopping;

  GroupMember(String name, SluiceBroker.Broker broker, String topic, Map<String, Object> config) {
    this.name = name;
    this.consumer = Clients.consumer(broker, config);
    this.thread = new Thread(() -> run(topic), "member-" + name);
    thread.setDaemon(true);
    thread.start();
  }

  private void run(String topic) {
    try {
      consumer.subscribe(
          List.of(topic),
          new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
              assignedCalls.incrementAndGet();
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
              revokedCalls.incrementAndGet();
            }
          });
      while (!stopping) {
        consumer.poll(Duration.ofMillis(100)).forEach(received::add);
        Set<Integer> now = new TreeSet<>();
        consumer.assignment().forEach(tp -> now.add(tp.partition()));
        assignment.set(Set.copyOf(now));
        for (Runnable task; (task = work.poll()) != null; ) {
          task.run();
        }
      }
    } catch (Throwable t) {
      failure.set(t);
    }
  }

  /** Runs {@code task} with the consumer on the member's thread; waits for it. */
  void call(Consumer<KafkaConsumer<byte[], byte[]>> task) throws Exception {
    CompletableFuture<Void> done = new CompletableFuture<>();
    work.add(
        () -> {
          try {
            task.accept(consumer);
            done.complete(null);
          } catch (Throwable t) {
            done.completeExceptionally(t);
          }
        });
    done.get(Clients.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
  }

  Set<Integer> assignment() {
    return assignment.get();
  }

  int assignedCalls() {
    return assignedCalls.get();
  }

  int revokedCalls() {
    return revokedCalls.get();
  }

  List<ConsumerRecord<byte[], byte[]>> received() {
    return new ArrayList<>(received);
  }

  /** The first exception the poll loop died of, or null. */
  Throwable failure() {
    return failure.get();
  }

  /** Stops polling and closes the consumer (a dynamic member sends LeaveGroup). */
  @Override
  public void close() throws InterruptedException {
    stopping = true;
    thread.join(Clients.TIMEOUT.toMillis());
    consumer.close(Duration.ofSeconds(10));
  }
}
