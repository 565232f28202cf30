package io.ferrydb.core.namespace;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Names;

/**
 * A namespace's settings.
 *
 * @param logRetentionBytes per partition, like Kafka's retention.bytes; the oldest
 *                          entries are trimmed beyond it
 * @param logRetentionMs    entries older than this are trimmed
 */
public record NamespaceConfig(String name, int replicationFactor, long defaultTtlSeconds, int maxRecordSizeBytes,
                              long tombstoneRetentionMs, long logRetentionBytes, long logRetentionMs,
                              Durability defaultDurability, CommitLevel defaultCommitLevel) {

    public static final int MAX_RECORD_SIZE_LIMIT_BYTES = 8 * 1024 * 1024;

    public NamespaceConfig {
        Names.checkNamespace("namespace.name", name);
        require(replicationFactor >= 1 && replicationFactor <= 8, "namespace '%s' replication-factor must be 1..8, got %d", name, replicationFactor);
        require(defaultTtlSeconds >= 0, "namespace '%s' default-ttl-seconds must be >= 0 (0 = never expire), got %d", name, defaultTtlSeconds);
        require(maxRecordSizeBytes >= 64 && maxRecordSizeBytes <= MAX_RECORD_SIZE_LIMIT_BYTES,
                "namespace '%s' max-record-size-bytes must be 64..%d, got %d", name, MAX_RECORD_SIZE_LIMIT_BYTES, maxRecordSizeBytes);
        require(tombstoneRetentionMs >= 0, "namespace '%s' tombstone-retention-ms must be >= 0, got %d", name, tombstoneRetentionMs);
        require(logRetentionBytes >= 0, "namespace '%s' log-retention-bytes must be >= 0, got %d", name, logRetentionBytes);
        require(logRetentionMs >= 0, "namespace '%s' log-retention-ms must be >= 0, got %d", name, logRetentionMs);
        if (defaultDurability == null) {
            defaultDurability = Durability.SYNC;
        }
        if (defaultCommitLevel == null) {
            defaultCommitLevel = CommitLevel.ALL;
        }
    }

    /** The embedded default namespace {@code test}: RF 2, no TTL, 1 MiB records. */
    public static NamespaceConfig defaults(String name) {
        return new NamespaceConfig(name, 2, 0, 1024 * 1024, 24L * 3600 * 1000,
                64L * 1024 * 1024, 24L * 3600 * 1000, Durability.SYNC, CommitLevel.ALL);
    }

    private static void require(boolean ok, String format, Object... args) {
        if (!ok) {
            throw FerryException.invalid(format, args);
        }
    }
}
