package io.ferrydb.redis;

import io.ferrydb.api.Limits;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.Member;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.core.mirror.AckTriplet;
import io.ferrydb.server.FerryNode;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * INFO: Redis's sections with FerryDB's facts. Replication is mirroring: this node is
 * "master" of the partitions it masters, its "replicas" are the nodes mirroring them,
 * and a replica's offset is the sum over those partitions of the LSN it acknowledged
 * (the master's offset is the sum of its last LSNs), so offsets grow with every write
 * as Redis's do and lag shows as a difference.
 */
final class InfoReport {
    private static final List<String> DEFAULT_SECTIONS = List.of("server", "clients", "memory", "stats", "replication", "keyspace");

    private final RedisEndpoint endpoint;
    private final FerryNode node;
    private final Keyspace ks;

    InfoReport(RedisEndpoint endpoint, FerryNode node, Keyspace ks) {
        this.endpoint = endpoint;
        this.node = node;
        this.ks = ks;
    }

    Object report(RedisConnection c, byte[][] args) {
        Set<String> sections = new LinkedHashSet<>();
        for (int i = 1; i < args.length; i++) {
            String s = Commands.lower(args[i]);
            if (s.equals("all") || s.equals("everything") || s.equals("default")) {
                sections.addAll(DEFAULT_SECTIONS);
            } else {
                sections.add(s);
            }
        }
        if (sections.isEmpty()) {
            sections.addAll(DEFAULT_SECTIONS);
        }
        if (!sections.contains("keyspace")) {
            return new Reply.Verbatim(text(sections, Map.of()));
        }
        // Counting keys walks the namespace: off the event loop, and later commands wait for it.
        c.unfinished = true;
        return ks.scan(null, 0, Limits.PARTITION_COUNT).thenApply(entries -> {
            long now = System.currentTimeMillis();
            Map<String, long[]> perSet = new TreeMap<>();
            for (Keyspace.Entry e : entries) {
                long[] t = perSet.computeIfAbsent(e.set(), s -> new long[3]);
                t[0]++;
                if (e.view().expiresAtMs() != 0) {
                    t[1]++;
                    t[2] += Math.max(0, e.view().expiresAtMs() - now);
                }
            }
            return (Reply) new Reply.Verbatim(text(sections, perSet));
        });
    }

    private String text(Set<String> sections, Map<String, long[]> perSet) {
        StringBuilder sb = new StringBuilder();
        for (String s : sections) {
            Map<String, Object> fields = switch (s) {
                case "server" -> server();
                case "clients" -> clients();
                case "memory" -> memory();
                case "stats" -> stats();
                case "replication" -> replication();
                case "keyspace" -> keyspace(perSet);
                default -> null;
            };
            if (fields == null) {
                continue;
            }
            if (sb.length() > 0) {
                sb.append("\r\n");
            }
            sb.append("# ").append(Character.toUpperCase(s.charAt(0))).append(s.substring(1)).append("\r\n");
            for (Map.Entry<String, Object> f : fields.entrySet()) {
                sb.append(f.getKey()).append(':').append(f.getValue()).append("\r\n");
            }
        }
        return sb.toString();
    }

    private Map<String, Object> server() {
        Map<String, Object> m = new LinkedHashMap<>();
        long uptimeMs = node.info().getUptimeMs();
        m.put("redis_version", ServerCommands.REDIS_VERSION);
        m.put("ferrydb_version", FerryNode.VERSION);
        m.put("redis_mode", "standalone");
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        m.put("process_id", ProcessHandle.current().pid());
        m.put("run_id", runId());
        m.put("tcp_port", endpoint.port());
        m.put("uptime_in_seconds", uptimeMs / 1000);
        m.put("uptime_in_days", uptimeMs / 86_400_000);
        m.put("ferrydb_node_id", node.config().nodeId);
        m.put("ferrydb_namespace", ks.namespace());
        return m;
    }

    private String runId() {
        String id = node.config().nodeId + "@" + node.config().host + ":" + node.grpcPort();
        return String.format(Locale.ROOT, "%040x", new java.math.BigInteger(1, id.getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                .substring(0, 40);
    }

    private Map<String, Object> clients() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("connected_clients", endpoint.metrics().connections.get());
        m.put("blocked_clients", 0);
        return m;
    }

    private Map<String, Object> memory() {
        Runtime rt = Runtime.getRuntime();
        long used = rt.totalMemory() - rt.freeMemory();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("used_memory", used);
        m.put("used_memory_human", String.format(Locale.ROOT, "%.2fM", used / 1048576.0));
        m.put("total_system_memory", rt.maxMemory());
        m.put("maxmemory", 0);
        m.put("maxmemory_policy", "noeviction");
        return m;
    }

    private Map<String, Object> stats() {
        RedisMetrics metrics = endpoint.metrics();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("total_connections_received", metrics.connectionsTotal.sum());
        m.put("total_commands_processed", metrics.commandsTotal.sum());
        m.put("expired_keys", ks.store().expiredPurged.sum());
        m.put("total_error_replies", metrics.errorsTotal());
        m.put("ferrydb_forwarded_requests", metrics.forwarded.sum());
        return m;
    }

    private Map<String, Object> replication() {
        String ns = ks.namespace();
        ClusterView view = node.cluster() == null ? ClusterView.EMPTY : node.cluster().view();
        long masterOffset = 0;
        int mastered = 0;
        Map<String, long[]> mirrors = new TreeMap<>();
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            if (!ks.local(p)) {
                continue;
            }
            mastered++;
            masterOffset += ks.store().partitionInfo(ns, p).lastLsn();
            PartitionEntry entry = view.entry(ns, p);
            Map<String, AckTriplet> held = node.replication().holdings(ns, p);
            for (io.ferrydb.core.cluster.Replica r : entry.mirrors()) {
                AckTriplet t = held.get(r.node());
                mirrors.computeIfAbsent(r.node(), n -> new long[1])[0] += t == null ? 0 : t.receivedLsn();
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", "master");
        m.put("connected_slaves", mirrors.size());
        int i = 0;
        for (Map.Entry<String, long[]> e : mirrors.entrySet()) {
            Member member = view.member(e.getKey());
            String addr = member == null ? e.getKey() + ":0" : member.address();
            int colon = addr.lastIndexOf(':');
            m.put("slave" + i++, "ip=" + addr.substring(0, Math.max(0, colon)) + ",port=" + addr.substring(colon + 1)
                    + ",state=online,offset=" + e.getValue()[0] + ",lag=0,ferrydb_node=" + e.getKey());
        }
        m.put("master_failover_state", "no-failover");
        m.put("master_replid", runId());
        m.put("master_repl_offset", masterOffset);
        m.put("ferrydb_partitions_mastered", mastered);
        return m;
    }

    private static Map<String, Object> keyspace(Map<String, long[]> perSet) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : perSet.entrySet()) {
            long[] t = e.getValue();
            m.put(e.getKey(), "keys=" + t[0] + ",expires=" + t[1] + ",avg_ttl=" + (t[1] == 0 ? 0 : t[2] / t[1]));
        }
        return m;
    }
}
