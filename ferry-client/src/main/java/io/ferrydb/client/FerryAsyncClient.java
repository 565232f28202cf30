package io.ferrydb.client;

import io.ferrydb.api.Key;
import io.ferrydb.api.Record;
import io.ferrydb.api.WritePolicy;

import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Non-blocking calls. Futures fail with {@link io.ferrydb.api.FerryException}; they
 * complete on a transport thread, so don't block inside their callbacks.
 */
public interface FerryAsyncClient {
    CompletableFuture<WriteResult> put(WritePolicy policy, Key key, Map<String, ?> bins);

    /** Completes with null when the record does not exist. */
    CompletableFuture<Record> get(Key key, String... bins);

    CompletableFuture<Boolean> exists(Key key);

    /** Completes with whether a live record was deleted. */
    CompletableFuture<Boolean> delete(WritePolicy policy, Key key);
}
