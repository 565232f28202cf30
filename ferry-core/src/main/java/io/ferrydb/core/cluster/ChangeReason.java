package io.ferrydb.core.cluster;

/** Why a partition's replica set or states changed (recorded in the duplication-schema history). */
public enum ChangeReason {
    /** The namespace's table was created. */
    CREATE,
    JOIN,
    LEAVE,
    FAILURE,
    REBALANCE,
    BULK_LOAD
}
