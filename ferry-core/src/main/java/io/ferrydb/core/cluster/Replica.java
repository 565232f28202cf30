package io.ferrydb.core.cluster;

import java.util.Objects;

/** One copy of a partition: the node holding it and its state. */
public record Replica(String node, ReplicaState state) {
    public Replica {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(state, "state");
    }

    public Replica to(ReplicaState next) {
        return new Replica(node, state.to(next));
    }
}
