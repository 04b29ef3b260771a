package sluice.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static sluice.interop.Clients.TIMEOUT;

import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreateAclsResult;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The Admin client's ACL calls against a broker with the authorizer on and the (anonymous)
 * client a super user: createAcls, describeAcls and deleteAcls with exact results.
 */
@ExtendWith(SluiceBroker.class)
@SluiceSettings({"authorizer=true", "super_users=User:ANONYMOUS"})
class AclTest {
  private final SluiceBroker.Broker broker;
  private Admin admin;

  AclTest(SluiceBroker.Broker broker) {
    this.broker = broker;
  }

  @BeforeEach
  void openAdmin() {
    admin = Clients.admin(broker);
  }

  @AfterEach
  void closeAdmin() {
    admin.close();
  }

  private static AclBinding binding(
      String name, PatternType pattern, String principal, AclOperation op, AclPermissionType p) {
    return new AclBinding(
        new ResourcePattern(ResourceType.TOPIC, name, pattern),
        new AccessControlEntry(principal, "*", op, p));
  }

  private Set<AclBinding> describe(AclBindingFilter filter) throws Exception {
    Collection<AclBinding> found =
        admin.describeAcls(filter).values().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    return Set.copyOf(found);
  }

  @Test
  void aclsAreCreatedDescribedAndDeleted() throws Exception {
    String topic = broker.unique("acl");
    AclBinding read =
        binding(
            topic, PatternType.LITERAL, "User:alice", AclOperation.READ, AclPermissionType.ALLOW);
    AclBinding deny =
        binding(
            topic + "-",
            PatternType.PREFIXED,
            "User:bob",
            AclOperation.WRITE,
            AclPermissionType.DENY);
    AclBinding badCluster =
        new AclBinding(
            new ResourcePattern(ResourceType.CLUSTER, "other", PatternType.LITERAL),
            new AccessControlEntry("User:alice", "*", AclOperation.ALTER, AclPermissionType.ALLOW));
    CreateAclsResult created = admin.createAcls(List.of(read, deny, badCluster));
    created.values().get(read).get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    created.values().get(deny).get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    ExecutionException refused =
        assertThrows(
            ExecutionException.class,
            () -> created.values().get(badCluster).get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
    assertInstanceOf(InvalidRequestException.class, refused.getCause());

    AclBindingFilter ours =
        new AclBindingFilter(
            new ResourcePatternFilter(ResourceType.TOPIC, null, PatternType.ANY),
            AccessControlEntryFilter.ANY);
    Set<AclBinding> all =
        describe(ours).stream()
            .filter(b -> b.pattern().name().startsWith(topic))
            .collect(Collectors.toSet());
    assertEquals(Set.of(read, deny), all);

    // MATCH: what applies to topic "<topic>-eu" is the prefixed ACL alone.
    AclBindingFilter matching =
        new AclBindingFilter(
            new ResourcePatternFilter(ResourceType.TOPIC, topic + "-eu", PatternType.MATCH),
            AccessControlEntryFilter.ANY);
    assertEquals(Set.of(deny), describe(matching));

    AclBindingFilter prefixed =
        new AclBindingFilter(
            new ResourcePatternFilter(ResourceType.TOPIC, topic + "-", PatternType.PREFIXED),
            AccessControlEntryFilter.ANY);
    Collection<AclBinding> deleted =
        admin.deleteAcls(List.of(prefixed)).all().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    assertEquals(List.of(deny), List.copyOf(deleted));
    AclBindingFilter exact =
        new AclBindingFilter(
            new ResourcePatternFilter(ResourceType.TOPIC, topic, PatternType.LITERAL),
            AccessControlEntryFilter.ANY);
    assertEquals(Set.of(read), describe(exact));
    assertEquals(Set.of(), describe(matching));
  }
}
