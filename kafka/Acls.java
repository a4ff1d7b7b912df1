// Grants the ACLs of a secured local broker (kafka/broker.py up --secure) through Kafka's
// Admin API. Run as a single-file program (java -cp 'kafka/lib/*' kafka/Acls.java ...):
// the broker's jars hold no ACL command line tool since Kafka 4, and broker.py stays
// standard-library Python. docs/operations.md lists the same ACLs for operators.
//
//   java -cp 'kafka/lib/*' kafka/Acls.java <admin.properties> <topic prefix> <worker app id>

import java.io.FileInputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Acls {
    static final List<AclBinding> bindings = new ArrayList<>();

    static void allow(String user, ResourceType type, String name, PatternType pattern, AclOperation... ops) {
        for (AclOperation op : ops) {
            bindings.add(new AclBinding(
                new ResourcePattern(type, name, pattern),
                new AccessControlEntry("User:" + user, "*", op, AclPermissionType.ALLOW)));
        }
    }

    public static void main(String[] args) throws Exception {
        Properties admin = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            admin.load(in);
        }
        String prefix = args[1];
        String workerId = args[2];  // Settings.worker_id: the stem of the workers' groups and internal topics
        ResourceType topic = ResourceType.TOPIC;
        PatternType literal = PatternType.LITERAL;
        PatternType prefixed = PatternType.PREFIXED;

        // worker: every contract topic, its own internal topics (changelogs) and groups.
        allow("worker", topic, prefix, prefixed, AclOperation.ALL);
        allow("worker", topic, workerId, prefixed, AclOperation.ALL);
        allow("worker", ResourceType.GROUP, workerId, prefixed, AclOperation.ALL);
        allow("worker", ResourceType.CLUSTER, "kafka-cluster", literal,
            AclOperation.DESCRIBE, AclOperation.IDEMPOTENT_WRITE);

        // agent: write the event topics, send selection requests, own its reply topics,
        // read the registry (the SDK's model lookup). Nothing of the worker's tables.
        for (String name : new String[] {"task-completed", "rate-limited", "failover", "selection-requests"}) {
            allow("agent", topic, prefix + name, literal, AclOperation.WRITE, AclOperation.DESCRIBE);
        }
        allow("agent", topic, prefix + "registry", literal, AclOperation.READ, AclOperation.DESCRIBE);
        allow("agent", topic, prefix + "replies.", prefixed,
            AclOperation.CREATE, AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE);
        allow("agent", ResourceType.CLUSTER, "kafka-cluster", literal, AclOperation.IDEMPOTENT_WRITE);

        // reader: read only. The summaries (dashboards, tail), what `modelrouter evaluate`
        // and `explain` read: the decisions, their outcomes, the registry and the scorecards;
        // and the budgets (`summary` and `budget show`). Budgets are written by admin (a super
        // user); the worker reads them, and shares its reservations, under its prefix grant.
        for (String name : new String[] {
                "summaries", "decisions", "task-completed", "registry", "scorecards", "budgets"}) {
            allow("reader", topic, prefix + name, literal, AclOperation.READ, AclOperation.DESCRIBE);
        }

        try (Admin client = Admin.create(admin)) {
            client.createAcls(bindings).all().get();
        }
        System.out.println("granted " + bindings.size() + " ACLs to worker, agent and reader");
    }
}
