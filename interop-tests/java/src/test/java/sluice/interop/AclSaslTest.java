package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.errors.ClusterAuthorizationException;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.TransactionalIdAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * ACLs against SASL principals with the Java client, on one broker started with {@code
 * --authorizer --super-user User:admin} and three SCRAM users: the super user grants, alice and
 * bob are allowed exactly what the ACLs say — prefixed topic patterns, DENY over ALLOW, hosts,
 * Metadata showing only what a principal may describe, a group and transactional ids — and are
 * refused with Kafka's exceptions otherwise.
 */
class AclSaslTest {
  private static SluiceProcess broker;
  private static String address;

  @BeforeAll
  static void start() throws Exception {
    address = SluiceProcess.freeAddress();
    broker =
        SluiceProcess.start(
            "AclSaslTest",
            List.of(
                "--memory", "--http", "none", "--listener", "SASL_PLAINTEXT://" + address,
                "--sasl-user", "admin:admin-secret", "--sasl-user", "alice:alice-secret",
                "--sasl-user", "bob:bob-secret", "--authorizer", "--super-user", "User:admin"),
            List.of(address));
    try (Admin admin = Admin.create(as("admin"))) {
      admin
          .createTopics(
              List.of(
                  new NewTopic("orders-open", 1, (short) 1),
                  new NewTopic("orders-locked", 1, (short) 1),
                  new NewTopic("secret", 1, (short) 1)))
          .all()
          .get();
      admin
          .createAcls(
              List.of(
                  allow("User:alice", ResourceType.TOPIC, "orders-", PatternType.PREFIXED, AclOperation.ALL),
                  deny("User:alice", ResourceType.TOPIC, "orders-locked", AclOperation.WRITE),
                  allow("User:alice", ResourceType.GROUP, "app", PatternType.LITERAL, AclOperation.READ),
                  allow("User:alice", ResourceType.TRANSACTIONAL_ID, "tx-alice", PatternType.LITERAL, AclOperation.WRITE),
                  // Bob reads the orders topics, from 127.0.0.1 only, and has no group.
                  new AclBinding(
                      new ResourcePattern(ResourceType.TOPIC, "orders-", PatternType.PREFIXED),
                      new AccessControlEntry("User:bob", "127.0.0.1", AclOperation.READ, AclPermissionType.ALLOW)),
                  // An ALLOW from another host gives bob nothing on the secret topic.
                  new AclBinding(
                      new ResourcePattern(ResourceType.TOPIC, "secret", PatternType.LITERAL),
                      new AccessControlEntry("User:bob", "10.9.9.9", AclOperation.ALL, AclPermissionType.ALLOW))))
          .all()
          .get();
    }
  }

  @AfterAll
  static void stop() throws Exception {
    if (broker != null) {
      broker.close();
    }
  }

  private static AclBinding allow(
      String principal, ResourceType type, String name, PatternType pattern, AclOperation op) {
    return new AclBinding(
        new ResourcePattern(type, name, pattern),
        new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW));
  }

  private static AclBinding deny(String principal, ResourceType type, String name, AclOperation op) {
    return new AclBinding(
        new ResourcePattern(type, name, PatternType.LITERAL),
        new AccessControlEntry(principal, "*", op, AclPermissionType.DENY));
  }

  private static Properties as(String user) {
    Properties props = new Properties();
    props.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, address);
    props.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
    props.put(SaslConfigs.SASL_MECHANISM, "SCRAM-SHA-256");
    props.put(
        SaslConfigs.SASL_JAAS_CONFIG,
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
            + user + "\" password=\"" + user + "-secret\";");
    props.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    props.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
    return props;
  }

  private static KafkaProducer<String, String> producer(String user, String transactionalId) {
    return producer(user, transactionalId, new Properties());
  }

  private static KafkaProducer<String, String> producer(
      String user, String transactionalId, Properties overrides) {
    Properties props = as(user);
    props.putAll(overrides);
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10_000);
    props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 15_000);
    props.putAll(overrides);
    if (transactionalId != null) {
      props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    }
    return new KafkaProducer<>(props);
  }

  /** What a send to `topic` ends with: its offset, or the exception that refused it. */
  private static Object send(KafkaProducer<String, String> producer, String topic) {
    try {
      return producer.send(new ProducerRecord<>(topic, 0, "k", "v")).get(20, TimeUnit.SECONDS).offset();
    } catch (ExecutionException e) {
      return e.getCause();
    } catch (Exception e) {
      return e;
    }
  }

  private static Set<String> visibleTopics(String user) throws Exception {
    try (Admin admin = Admin.create(as(user))) {
      return new TreeSet<>(admin.listTopics().names().get());
    }
  }

  @Test
  void aPrefixedAllowLetsAliceWriteButADenyOnOneTopicWins() {
    try (KafkaProducer<String, String> alice = producer("alice", null)) {
      assertEquals(0L, send(alice, "orders-open"));
      assertInstanceOf(TopicAuthorizationException.class, send(alice, "orders-locked"));
      assertInstanceOf(TopicAuthorizationException.class, send(alice, "secret"));
    }
    // An idempotent producer (the Java client's default) needs IDEMPOTENT_WRITE on the cluster
    // or WRITE on some topic to get a producer id; bob, who may only read, is refused it, as
    // Kafka refuses it (KafkaApis' InitProducerId check).
    try (KafkaProducer<String, String> bob = producer("bob", null)) {
      Object refused = send(bob, "orders-open");
      assertInstanceOf(KafkaException.class, refused);
      Throwable root = (Throwable) refused;
      while (root.getCause() != null) {
        root = root.getCause();
      }
      assertTrue(
          root instanceof ClusterAuthorizationException
              || String.valueOf(root.getMessage()).contains("ClusterAuthorizationException"),
          "refused for want of cluster authorization: " + refused);
    }
    Properties plain = new Properties();
    plain.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
    try (KafkaProducer<String, String> bob = producer("bob", null, plain)) {
      // Without idempotence: READ does not imply WRITE.
      assertInstanceOf(TopicAuthorizationException.class, send(bob, "orders-open"));
    }
  }

  @Test
  void metadataShowsEachPrincipalWhatItMayDescribeAndHostsCount() throws Exception {
    assertEquals(Set.of("orders-locked", "orders-open", "secret"), visibleTopics("admin"));
    assertEquals(Set.of("orders-locked", "orders-open"), visibleTopics("alice"));
    // Bob's READ (from 127.0.0.1) implies DESCRIBE; his ALLOW on `secret` is for another host.
    assertEquals(Set.of("orders-locked", "orders-open"), visibleTopics("bob"));
  }

  @Test
  void aGroupNeedsReadOnTheGroup() throws Exception {
    try (KafkaProducer<String, String> admin = producer("admin", null)) {
      admin.send(new ProducerRecord<>("orders-locked", 0, "g", "for the group")).get();
    }
    Properties alice = as("alice");
    alice.put(ConsumerConfig.GROUP_ID_CONFIG, "app");
    alice.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    alice.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    alice.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    alice.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, Clients.SESSION_TIMEOUT_MS);
    alice.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Clients.HEARTBEAT_INTERVAL_MS);
    List<String> read = new ArrayList<>();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(alice)) {
      consumer.subscribe(List.of("orders-locked"));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (read.isEmpty() && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          read.add(r.value());
        }
      }
      consumer.commitSync();
    }
    // The DENY is for WRITE only: alice reads the locked topic in her group.
    assertEquals(List.of("for the group"), read);

    Properties bob = as("bob");
    bob.putAll(alice);
    bob.putAll(as("bob"));
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(bob)) {
      consumer.subscribe(List.of("orders-locked"));
      assertThrows(GroupAuthorizationException.class, () -> {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
          consumer.poll(Duration.ofMillis(200));
        }
      });
    }
  }

  @Test
  void aTransactionalIdNeedsWriteOnIt() {
    try (KafkaProducer<String, String> allowed = producer("alice", "tx-alice")) {
      allowed.initTransactions();
      allowed.beginTransaction();
      allowed.send(new ProducerRecord<>("orders-open", 0, "t", "in a transaction"));
      allowed.commitTransaction();
    }
    try (KafkaProducer<String, String> refused = producer("alice", "tx-other")) {
      assertThrows(TransactionalIdAuthorizationException.class, refused::initTransactions);
    }
  }
}
