package io.ferrydb.api;

/** How many replicas must hold a write before it is acknowledged. */
public enum CommitLevel {
    /** Acknowledge after the partition master. */
    MASTER,
    /** Acknowledge after the master and every in-sync mirror. */
    ALL
}
