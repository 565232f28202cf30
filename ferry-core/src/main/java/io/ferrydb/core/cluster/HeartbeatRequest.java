package io.ferrydb.core.cluster;

import java.util.List;
import java.util.Map;

/**
 * What a node sends the control-plane leader every heartbeat interval: who it is
 * (so the first heartbeat is its join), the table version it holds, its last LSN of
 * every partition it holds a replica of, and the replicas it finished syncing.
 *
 * @param lsns        per namespace, the node's last committed LSN per partition (-1: holds none)
 * @param incarnation identifies the node's process (chosen at random when it starts; 0: unknown): a
 *                    new one from a member not declared failed means the process restarted
 * @param behind      IN_SYNC mirrors of partitions this node masters that fell out of its stream
 *                    and must become RESYNCING before a sync rewrites them
 */
public record HeartbeatRequest(String node, String address, String httpAddress, boolean voter,
                               List<NamespaceSpec> namespaces, long knownVersion,
                               Map<String, long[]> lsns, List<PartitionRef> caughtUp, long incarnation,
                               List<PartitionRef> behind) {
    public HeartbeatRequest(String node, String address, String httpAddress, boolean voter, List<NamespaceSpec> namespaces, long knownVersion,
                            Map<String, long[]> lsns, List<PartitionRef> caughtUp, long incarnation) {
        this(node, address, httpAddress, voter, namespaces, knownVersion, lsns, caughtUp, incarnation, List.of());
    }

    public HeartbeatRequest(String node, String address, String httpAddress, boolean voter, List<NamespaceSpec> namespaces, long knownVersion,
                            Map<String, long[]> lsns, List<PartitionRef> caughtUp) {
        this(node, address, httpAddress, voter, namespaces, knownVersion, lsns, caughtUp, 0);
    }

    public HeartbeatRequest {
        namespaces = List.copyOf(namespaces);
        lsns = Map.copyOf(lsns);
        caughtUp = List.copyOf(caughtUp);
        behind = List.copyOf(behind);
    }
}
