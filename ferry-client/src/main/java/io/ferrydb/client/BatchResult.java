package io.ferrydb.client;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.Record;

/**
 * One entry of a batch answer. {@code error} is null on success; for a batch get,
 * {@code record} is null when the record does not exist (error NOT_FOUND).
 */
public record BatchResult(ErrorCode error, String message, Record record, WriteResult write, boolean existed) {
    public boolean ok() {
        return error == null;
    }
}
