package io.ferrydb.core.cluster;

import io.ferrydb.core.Verify;

import java.util.List;

/**
 * One partition's row of the table: its epoch and its replicas, master first.
 * A master whose replica is {@code ABSENT} means the partition is unavailable: no
 * in-sync copy survives, so the control plane waits for that node to return rather
 * than promote a replica that misses acknowledged writes.
 *
 * <p>{@code handoffTo} names the IN_SYNC mirror a planned master change goes to. In
 * that epoch the master stops serving, brings the target level and reports it; the
 * next epoch makes the target master. So the old master has stopped before the new
 * one starts, and a planned handoff needs no lease to run out.
 */
public record PartitionEntry(long epoch, List<Replica> replicas, String handoffTo) {
    public static final PartitionEntry UNASSIGNED = new PartitionEntry(0, List.of());

    public PartitionEntry(long epoch, List<Replica> replicas) {
        this(epoch, replicas, null);
    }

    public PartitionEntry {
        replicas = List.copyOf(replicas);
        Verify.that(epoch >= 0, "negative epoch %d", epoch);
        for (int i = 0; i < replicas.size(); i++) {
            for (int j = i + 1; j < replicas.size(); j++) {
                Verify.that(!replicas.get(i).node().equals(replicas.get(j).node()),
                        "node %s holds two replicas of one partition", replicas.get(i).node());
            }
        }
        if (!replicas.isEmpty()) {
            ReplicaState masterState = replicas.get(0).state();
            Verify.that(masterState == ReplicaState.IN_SYNC || masterState == ReplicaState.ABSENT,
                    "a master must be IN_SYNC (or ABSENT when unavailable), was %s", masterState);
        }
        if (handoffTo != null) {
            Replica target = null;
            for (int i = 1; i < replicas.size(); i++) {
                if (replicas.get(i).node().equals(handoffTo)) {
                    target = replicas.get(i);
                }
            }
            Verify.that(target != null && target.state() == ReplicaState.IN_SYNC,
                    "handoff target %s must be an IN_SYNC mirror: %s", handoffTo, replicas);
            Verify.that(replicas.get(0).state() == ReplicaState.IN_SYNC, "only an in-sync master hands off: %s", replicas);
        }
    }

    /**
     * Written out (not the record's generated one): a view change compares all 4,096 entries
     * of a table several times, and the generated equals (method-handle based) was the
     * view thread's top frame during a decommission (JFR). Entries a view did not change are
     * often the same object: that is checked first.
     */
    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof PartitionEntry other)) {
            return false;
        }
        if (epoch != other.epoch || !java.util.Objects.equals(handoffTo, other.handoffTo) || replicas.size() != other.replicas.size()) {
            return false;
        }
        for (int i = 0; i < replicas.size(); i++) {
            if (!replicas.get(i).equals(other.replicas.get(i))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        return (Long.hashCode(epoch) * 31 + replicas.hashCode()) * 31 + java.util.Objects.hashCode(handoffTo);
    }

    /** The master's node id, or null when unassigned. */
    public String master() {
        return replicas.isEmpty() ? null : replicas.get(0).node();
    }

    /** Whether the master is in sync and not handing off, i.e. the partition can serve writes. */
    public boolean available() {
        return !replicas.isEmpty() && replicas.get(0).state() == ReplicaState.IN_SYNC && handoffTo == null;
    }

    /** The master is down and no in-sync mirror could take over. */
    public boolean masterAbsent() {
        return !replicas.isEmpty() && replicas.get(0).state() == ReplicaState.ABSENT;
    }

    public PartitionEntry withHandoff(String target) {
        return new PartitionEntry(epoch, replicas, target);
    }

    public List<Replica> mirrors() {
        return replicas.isEmpty() ? List.of() : replicas.subList(1, replicas.size());
    }

    public Replica replicaOn(String node) {
        for (Replica r : replicas) {
            if (r.node().equals(node)) {
                return r;
            }
        }
        return null;
    }
}
