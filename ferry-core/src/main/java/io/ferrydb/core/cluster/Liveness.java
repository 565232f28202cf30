package io.ferrydb.core.cluster;

/** A member's liveness as the control plane has decided it. */
public enum Liveness {
    ALIVE,
    /** Missed heartbeats for longer than the failure timeout; keeps its id and data and may return. */
    DEAD,
    /** Decommissioning: its replicas move away, then it becomes LEFT. */
    LEAVING,
    /** Gone for good; holds no replicas. */
    LEFT;

    /** Whether rendezvous hashing may place replicas on such a member. */
    public boolean eligible() {
        return this == ALIVE || this == DEAD;
    }
}
