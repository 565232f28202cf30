package io.ferrydb.core.mirror;

import io.ferrydb.core.cluster.ReplicaState;

import java.util.Map;

/**
 * Whether a master tracks the digests it changes in a partition, decided from its
 * mirrors' states: while a mirror is ABSENT it tracks from the first LSN that mirror may
 * lack (what it last reported durable + 1), so that its resync can ship each changed key
 * once; when every mirror is IN_SYNC again it stops; otherwise it keeps what it does.
 * Shared by the server's replication and the node simulation. Pure.
 */
public final class ChangeTracking {
    /** Leave tracking as it is. */
    public static final long KEEP = -1;
    /** Stop tracking: every mirror is IN_SYNC. */
    public static final long STOP = 0;

    private ChangeTracking() {}

    /** {@link #KEEP}, {@link #STOP}, or the LSN (>= 1) to track from. */
    public static long decide(Map<String, ReplicaState> mirrors, Map<String, AckTriplet> held) {
        long since = Long.MAX_VALUE;
        boolean allInSync = true;
        for (Map.Entry<String, ReplicaState> m : mirrors.entrySet()) {
            if (m.getValue() == ReplicaState.ABSENT) {
                AckTriplet h = held.get(m.getKey());
                since = Math.min(since, h == null ? 1 : h.committedLsn() + 1);
            }
            allInSync &= m.getValue() == ReplicaState.IN_SYNC;
        }
        if (since != Long.MAX_VALUE) {
            return since;
        }
        return allInSync ? STOP : KEEP;
    }
}
