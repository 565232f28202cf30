package io.ferrydb.api;

/** When a write is acknowledged relative to fsync. */
public enum Durability {
    /** Acknowledge only after the write is fsynced (group commit shares fsyncs between writers). */
    SYNC,
    /** Acknowledge before fsync; the server flushes at least every {@code async-flush-ms}. */
    ASYNC
}
