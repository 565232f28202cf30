package io.ferrydb.core.cluster;

import java.util.Objects;

/** One copy of a partition: the node holding it and its state. */
public record Replica(String node, ReplicaState state) {
    public Replica {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(state, "state");
    }

    /** Written out for speed (see {@link PartitionEntry#equals}). */
    @Override
    public boolean equals(Object o) {
        return this == o || o instanceof Replica other && state == other.state && node.equals(other.node);
    }

    @Override
    public int hashCode() {
        return node.hashCode() * 31 + state.hashCode();
    }

    public Replica to(ReplicaState next) {
        return new Replica(node, state.to(next));
    }
}
