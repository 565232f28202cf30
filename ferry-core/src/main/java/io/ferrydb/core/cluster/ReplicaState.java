package io.ferrydb.core.cluster;

import io.ferrydb.core.Verify;

/**
 * A replica's state in the partition table. Transitions are checked: a replica
 * only becomes {@code IN_SYNC} by catching up ({@code RESYNCING}) or by being filled
 * ({@code CLONING}), so a promoted master was always IN_SYNC before. An IN_SYNC
 * mirror that fell out of its master's stream becomes RESYNCING directly (its master
 * reports it behind) before a sync may rewrite it.
 */
public enum ReplicaState {
    /** Holds every committed change of the current epoch. */
    IN_SYNC,
    /** Its node is down; the master tracks the changes it misses. */
    ABSENT,
    /** Its node is back and catching up from the master. */
    RESYNCING,
    /** A new replica being filled (join, rebalance). */
    CLONING;

    public boolean canBecome(ReplicaState next) {
        switch (this) {
            case IN_SYNC: return next == ABSENT || next == RESYNCING;
            case ABSENT: return next == RESYNCING;
            case RESYNCING: return next == IN_SYNC || next == ABSENT;
            case CLONING: return next == IN_SYNC;
            default: return false;
        }
    }

    public ReplicaState to(ReplicaState next) {
        Verify.that(canBecome(next), "illegal replica transition %s -> %s", this, next);
        return next;
    }
}
