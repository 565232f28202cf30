package io.ferrydb.server.service;

/**
 * Decides, at the moment a request executes, whether this node may serve a partition:
 * in a cluster only the partition's master holding a valid lease may. A refusal is a
 * {@link io.ferrydb.api.FerryException} with {@link io.ferrydb.api.ErrorCode#NOT_MASTER}
 * (or UNAVAILABLE while the node is joining) naming where the partition is served;
 * the request was not executed.
 */
@FunctionalInterface
public interface PartitionGate {
    /** Serves everything: a node outside any cluster (tests of the storage path). */
    PartitionGate OPEN = (namespace, partition) -> { };

    void admit(String namespace, int partition);
}
