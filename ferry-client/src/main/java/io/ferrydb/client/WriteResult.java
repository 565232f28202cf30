package io.ferrydb.client;

/** Where a write landed: its partition-log position, the record's new generation and its HLC time. */
public record WriteResult(int epoch, long lsn, int generation, long hlc) {}
