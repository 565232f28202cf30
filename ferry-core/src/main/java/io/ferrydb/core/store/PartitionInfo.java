package io.ferrydb.core.store;

/** A snapshot of one partition's log position. firstLsn > lastLsn when the log is empty. */
public record PartitionInfo(String namespace, int partition, int epoch, long firstLsn, long lastLsn,
                            long logBytes, long logEntries) {}
