package io.ferrydb.core.cluster;

import io.ferrydb.core.Verify;

import java.util.List;

/**
 * A change to the cluster state, committed through the control plane's log and
 * applied by {@link ClusterState#apply} on every control node. Commands carry the
 * proposer's time and the LSN reports the table change needs, so applying them is
 * deterministic: every control node computes the same table.
 */
public sealed interface ClusterCommand {
    long timeMs();

    List<LsnReport> lsns();

    /** A node joins or returns (keeping its id and data). */
    record Join(String node, String address, String httpAddress, boolean voter, List<NamespaceSpec> namespaces,
                long timeMs, List<LsnReport> lsns, long incarnation) implements ClusterCommand {
        public Join(String node, String address, String httpAddress, boolean voter, List<NamespaceSpec> namespaces, long timeMs,
                    List<LsnReport> lsns) {
            this(node, address, httpAddress, voter, namespaces, timeMs, lsns, 0);
        }

        public Join {
            namespaces = List.copyOf(namespaces);
            lsns = List.copyOf(lsns);
        }
    }

    /** The controller noticed missed heartbeats; {@code lsns} let it promote the most up-to-date mirror. */
    record NodeFailed(String node, long timeMs, List<LsnReport> lsns) implements ClusterCommand {
        public NodeFailed {
            lsns = List.copyOf(lsns);
        }
    }

    /** Graceful leave: move the node's replicas away, then mark it LEFT. */
    record Decommission(String node, long timeMs, List<LsnReport> lsns) implements ClusterCommand {
        public Decommission {
            lsns = List.copyOf(lsns);
        }
    }

    /**
     * A master bulk-loaded partitions: their records came without log entries; the
     * history records each partition's boundary (its BULK_LOAD entry's LSN) so change
     * streams know. No epoch changes.
     */
    record BulkLoaded(String namespace, List<Integer> partitions, List<Long> boundaryLsns, long records, long timeMs)
            implements ClusterCommand {
        public BulkLoaded {
            partitions = List.copyOf(partitions);
            boundaryLsns = List.copyOf(boundaryLsns);
            Verify.that(partitions.size() == boundaryLsns.size(), "%d partitions but %d boundaries", partitions.size(), boundaryLsns.size());
        }

        @Override
        public List<LsnReport> lsns() {
            return List.of();
        }
    }

    /** Masters report replicas that finished resync or cloning. */
    record CaughtUp(List<PartitionRef> replicas, long timeMs, List<LsnReport> lsns) implements ClusterCommand {
        public CaughtUp {
            replicas = List.copyOf(replicas);
            lsns = List.copyOf(lsns);
        }
    }

    /**
     * Masters report IN_SYNC mirrors that fell out of the stream (they lack what the
     * master no longer buffers: a restart lost their cache, or they were cut off too
     * long). Each becomes RESYNCING in a new epoch before any sync rewrites it, so a
     * replica being rewritten is never one the control plane could promote.
     */
    record Behind(List<PartitionRef> replicas, long timeMs, List<LsnReport> lsns) implements ClusterCommand {
        public Behind {
            replicas = List.copyOf(replicas);
            lsns = List.copyOf(lsns);
        }
    }
}
