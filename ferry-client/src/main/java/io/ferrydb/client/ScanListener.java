package io.ferrydb.client;

import io.ferrydb.api.Record;

/** Receives a scan's records and its progress reports, on the calling thread. */
public interface ScanListener {
    /** Return false to stop the scan. */
    boolean onRecord(Record record);

    default void onProgress(int partitionsDone, int partitionsTotal, long recordsSent) {}
}
