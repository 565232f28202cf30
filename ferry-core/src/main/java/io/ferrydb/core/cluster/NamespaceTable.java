package io.ferrydb.core.cluster;

import io.ferrydb.api.Limits;
import io.ferrydb.core.Verify;

/** A namespace's partition table as of one cluster-state version (immutable). */
public final class NamespaceTable {
    private final String namespace;
    private final int replicationFactor;
    private final PartitionEntry[] entries;
    /** Per partition: the failed master's last reported LSN when the current epoch replaced it, else -1. */
    private final long[] failedMasterLsns;

    NamespaceTable(String namespace, int replicationFactor, PartitionEntry[] entries) {
        this(namespace, replicationFactor, entries, null);
    }

    NamespaceTable(String namespace, int replicationFactor, PartitionEntry[] entries, long[] failedMasterLsns) {
        Verify.that(entries.length == Limits.PARTITION_COUNT, "table of %s has %d entries", namespace, entries.length);
        Verify.that(failedMasterLsns == null || failedMasterLsns.length == entries.length, "table of %s has %d failover LSNs",
                namespace, failedMasterLsns == null ? 0 : failedMasterLsns.length);
        this.namespace = namespace;
        this.replicationFactor = replicationFactor;
        this.entries = entries;
        this.failedMasterLsns = failedMasterLsns;
    }

    /**
     * When the partition's current epoch promoted a replica because its master failed:
     * the LSN that master reported in its last heartbeat (the new master checks its log
     * reaches it, else records the gap as lost), 0 when it had reported none. -1 otherwise.
     */
    public long failedMasterLsn(int partition) {
        return failedMasterLsns == null ? -1 : failedMasterLsns[partition];
    }

    public String namespace() {
        return namespace;
    }

    public int replicationFactor() {
        return replicationFactor;
    }

    public PartitionEntry entry(int partition) {
        return entries[partition];
    }

    public int size() {
        return entries.length;
    }
}
