package io.ferrydb.core.cluster;

import io.ferrydb.api.Limits;
import io.ferrydb.core.Verify;

/** A namespace's partition table as of one cluster-state version (immutable). */
public final class NamespaceTable {
    private final String namespace;
    private final int replicationFactor;
    private final PartitionEntry[] entries;

    NamespaceTable(String namespace, int replicationFactor, PartitionEntry[] entries) {
        Verify.that(entries.length == Limits.PARTITION_COUNT, "table of %s has %d entries", namespace, entries.length);
        this.namespace = namespace;
        this.replicationFactor = replicationFactor;
        this.entries = entries;
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
