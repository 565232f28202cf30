package io.ferrydb.server.config;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.FerryException;
import io.ferrydb.core.mirror.ResyncPath;
import io.ferrydb.core.namespace.NamespaceConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A node's configuration, read from YAML with kebab-case keys (see
 * {@code docs/ferry.yaml}). Every field has an embedded default, so an empty file
 * (or none) gives a working single node.
 */
public final class NodeConfig {
    public static final int DEFAULT_PORT = 7400;
    public static final int DEFAULT_HTTP_PORT = 7401;
    public static final String DEFAULT_DATA_DIR = "./ferry-data";
    public static final int DEFAULT_CONTROL_PORT = 7402;

    public String nodeId = "node-1";
    public String host = "127.0.0.1";
    public int port = DEFAULT_PORT;
    public int httpPort = DEFAULT_HTTP_PORT;
    public String dataDir = DEFAULT_DATA_DIR;
    /** ASYNC writes are fsynced at least this often. */
    public long asyncFlushMs = 100;
    /** Bound of the group-commit queue. */
    public int maxPendingSyncs = 100_000;
    /** Bound of requests in flight on one pipelined session. */
    public int sessionMaxInflight = 10_000;
    /** Threads that apply writes, each for a share of the partitions. */
    public int storageThreads = 2;
    /** Bound of write jobs (one per session message) waiting for each storage thread. */
    public int writeQueueCapacity = 4096;
    /** Bound of entries in one batch get / batch write. */
    public int maxBatchSize = 5_000;
    /** Largest inbound gRPC message. */
    public int maxMessageBytes = 16 * 1024 * 1024;
    public long blockCacheBytes = 256L * 1024 * 1024;
    /** Records kept in memory ahead of RocksDB's point reads ({@code CachedStorage}); 0 turns it off. */
    public long recordCacheBytes = 64L * 1024 * 1024;
    /** How often expired records, old tombstones and old log entries are purged. */
    public long purgeIntervalMs = 60_000;
    public List<NamespaceYaml> namespaces = new ArrayList<>(List.of(new NamespaceYaml()));
    /** Names the control plane's Raft group; nodes of one cluster share it. */
    public String clusterName = "ferry";
    /** Port of the control plane (Apache Ratis) on voters. */
    public int controlPort = DEFAULT_CONTROL_PORT;
    /** The Raft voters as id@host:port (1, 3 or 5). Empty: learn them from a seed, or with no seeds run alone as the only voter. */
    public List<String> controlVoters = new ArrayList<>();
    /** host:port (gRPC) of nodes already in the cluster, asked for the voters when control-voters is empty. */
    public List<String> seeds = new ArrayList<>();
    public long heartbeatIntervalMs = 250;
    /** A master serves only within this long after an acknowledged heartbeat. */
    public long leaseMs = 1000;
    /** A node silent this long is declared failed (must exceed the lease with margin for clock drift). */
    public long failureTimeoutMs = 1500;
    /** Sync (clone, resync, handoff) traffic a master sends, bytes per second for all its syncs together; 0: unlimited. */
    public long syncRateBytesPerSecond = 64L * 1024 * 1024;
    /** Digests a master tracks per partition while a mirror is away; past this its resync copies the partition. */
    public int changeTrackingMaxKeys = 100_000;
    /** AUTO chooses the cheapest sufficient resync path; LOG, TRACKED or COPY try that one first (benchmarks, tests). */
    public String resyncPath = "AUTO";

    /** The resync path to try first, or null for AUTO. */
    public ResyncPath forcedResyncPath() {
        return "AUTO".equals(resyncPath) ? null : ResyncPath.valueOf(resyncPath);
    }
    /** The Redis protocol endpoint (ferry-redis). */
    public RedisYaml redis = new RedisYaml();

    public static final class NamespaceYaml {
        public String name = "test";
        public int replicationFactor = 2;
        public long defaultTtlSeconds = 0;
        public int maxRecordSizeBytes = 1024 * 1024;
        public long tombstoneRetentionMs = 24L * 3600 * 1000;
        public long logRetentionBytes = 64L * 1024 * 1024;
        public long logRetentionMs = 24L * 3600 * 1000;
        public Durability defaultDurability = Durability.SYNC;
        public CommitLevel defaultCommitLevel = CommitLevel.ALL;

        public NamespaceConfig toConfig() {
            return new NamespaceConfig(name, replicationFactor, defaultTtlSeconds, maxRecordSizeBytes, tombstoneRetentionMs,
                    logRetentionBytes, logRetentionMs, defaultDurability, defaultCommitLevel);
        }
    }

    private static ObjectMapper mapper() {
        return new ObjectMapper(new YAMLFactory())
                .setPropertyNamingStrategy(PropertyNamingStrategies.KEBAB_CASE)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    }

    public static NodeConfig load(Path file) {
        try {
            String text = java.nio.file.Files.readString(file);
            if (text.isBlank()) {
                return new NodeConfig().validate();
            }
            NodeConfig c = mapper().readValue(text, NodeConfig.class);
            return (c == null ? new NodeConfig() : c).validate();
        } catch (JsonMappingException e) {
            String path = e.getPath().stream()
                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(Collectors.joining(".")).replace(".[", "[");
            throw FerryException.invalid("config %s: field '%s': %s", file, path, e.getOriginalMessage());
        } catch (IOException e) {
            throw FerryException.invalid("config %s: %s", file, e.getMessage());
        }
    }

    public String toYaml() {
        try {
            return mapper().writeValueAsString(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Turns the Redis endpoint on and adds its namespace if it is not configured
     * (ASYNC durability, commit level ALL: acknowledged once every in-sync mirror holds
     * the write in memory, fsynced within async-flush-ms, like Redis with AOF everysec).
     */
    public NodeConfig withRedis(int port) {
        redis.enabled = true;
        redis.port = port;
        addRedisNamespace();
        return this;
    }

    private void addRedisNamespace() {
        if (namespaces.stream().noneMatch(n -> redis.namespace.equals(n.name))) {
            NamespaceYaml n = new NamespaceYaml();
            n.name = redis.namespace;
            n.defaultDurability = Durability.ASYNC;
            namespaces.add(n);
        }
    }

    public List<NamespaceConfig> namespaceConfigs() {
        List<NamespaceConfig> out = new ArrayList<>();
        for (NamespaceYaml n : namespaces) {
            out.add(n.toConfig());
        }
        return out;
    }

    public NodeConfig validate() {
        require(nodeId != null && !nodeId.isBlank(), "node-id must not be empty");
        require(port >= 0 && port <= 65535, "port must be 0..65535, got %d", port);
        require(httpPort >= 0 && httpPort <= 65535, "http-port must be 0..65535, got %d", httpPort);
        require(dataDir != null && !dataDir.isBlank(), "data-dir must not be empty");
        require(asyncFlushMs >= 1 && asyncFlushMs <= 60_000, "async-flush-ms must be 1..60000, got %d", asyncFlushMs);
        require(maxPendingSyncs >= 1, "max-pending-syncs must be >= 1, got %d", maxPendingSyncs);
        require(sessionMaxInflight >= 1, "session-max-inflight must be >= 1, got %d", sessionMaxInflight);
        require(maxBatchSize >= 1, "max-batch-size must be >= 1, got %d", maxBatchSize);
        require(writeQueueCapacity >= 1, "write-queue-capacity must be >= 1, got %d", writeQueueCapacity);
        require(storageThreads >= 1 && storageThreads <= 64, "storage-threads must be 1..64, got %d", storageThreads);
        require(maxMessageBytes >= 1024, "max-message-bytes must be >= 1024, got %d", maxMessageBytes);
        require(blockCacheBytes >= 1024 * 1024, "block-cache-bytes must be >= 1 MiB, got %d", blockCacheBytes);
        require(recordCacheBytes == 0 || recordCacheBytes >= 1024 * 1024, "record-cache-bytes must be 0 (off) or >= 1 MiB, got %d", recordCacheBytes);
        require(purgeIntervalMs >= 10, "purge-interval-ms must be >= 10, got %d", purgeIntervalMs);
        require(clusterName != null && !clusterName.isBlank(), "cluster-name must not be empty");
        require(controlPort >= 0 && controlPort <= 65535, "control-port must be 0..65535, got %d", controlPort);
        require(controlVoters != null, "control-voters must be a list");
        require(controlVoters.isEmpty() || controlVoters.size() == 1 || controlVoters.size() == 3 || controlVoters.size() == 5,
                "control-voters must have 1, 3 or 5 entries, got %d", controlVoters.size());
        for (int i = 0; i < controlVoters.size(); i++) {
            String v = controlVoters.get(i);
            require(v != null && v.matches("[^@\\s]+@[^:\\s]+:\\d{1,5}"), "control-voters[%d] must be id@host:port, got '%s'", i, v);
        }
        require(seeds != null, "seeds must be a list");
        for (int i = 0; i < seeds.size(); i++) {
            String s = seeds.get(i);
            require(s != null && s.matches("[^:\\s]+:\\d{1,5}"), "seeds[%d] must be host:port, got '%s'", i, s);
        }
        require(heartbeatIntervalMs >= 10, "heartbeat-interval-ms must be >= 10, got %d", heartbeatIntervalMs);
        require(leaseMs > 2 * heartbeatIntervalMs, "lease-ms (%d) must exceed two heartbeat intervals (%d)", leaseMs, 2 * heartbeatIntervalMs);
        require(failureTimeoutMs * 0.9 > leaseMs * 1.1,
                "failure-timeout-ms (%d) must exceed lease-ms (%d) by the clock-drift margin (x1.22)", failureTimeoutMs, leaseMs);
        require(syncRateBytesPerSecond >= 0, "sync-rate-bytes-per-second must be >= 0 (0: unlimited), got %d", syncRateBytesPerSecond);
        require(resyncPath != null && resyncPath.matches("AUTO|LOG|TRACKED|COPY"), "resync-path must be AUTO, LOG, TRACKED or COPY, got '%s'", resyncPath);
        require(changeTrackingMaxKeys >= 1, "change-tracking-max-keys must be >= 1, got %d", changeTrackingMaxKeys);
        require(redis != null, "redis must be a mapping");
        redis.validate();
        if (redis.enabled && namespaces != null) {
            addRedisNamespace();
        }
        require(namespaces != null && !namespaces.isEmpty(), "namespaces must list at least one namespace");
        List<String> names = new ArrayList<>();
        for (int i = 0; i < namespaces.size(); i++) {
            NamespaceYaml n = namespaces.get(i);
            require(n != null, "namespaces[%d] is empty", i);
            require(!names.contains(n.name), "namespaces[%d].name '%s' is configured twice", i, n.name);
            names.add(n.name);
            try {
                n.toConfig();
            } catch (FerryException e) {
                throw FerryException.invalid("namespaces[%d]: %s", i, e.reason());
            }
        }
        return this;
    }

    private static void require(boolean ok, String format, Object... args) {
        if (!ok) {
            throw FerryException.invalid("config: " + format, args);
        }
    }
}
