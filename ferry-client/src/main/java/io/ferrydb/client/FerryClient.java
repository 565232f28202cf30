package io.ferrydb.client;

import io.ferrydb.api.Key;
import io.ferrydb.api.Record;
import io.ferrydb.api.WritePolicy;

import java.util.List;
import java.util.Map;

/**
 * The FerryDB Java client. Thread-safe; share one per process. Failed calls throw
 * {@link io.ferrydb.api.FerryException} carrying the server's status code.
 *
 * <pre>
 * try (FerryClient c = FerryClient.connect("127.0.0.1:7400")) {
 *     c.put(Key.of("test", "users", "ada"), Map.of("name", "Ada", "born", 1815));
 *     Record r = c.get(Key.of("test", "users", "ada"));
 * }
 * </pre>
 */
public interface FerryClient extends AutoCloseable {

    static FerryClient connect(String hostPort) {
        return new GrpcFerryClient(ClientConfig.of(hostPort));
    }

    static FerryClient connect(ClientConfig config) {
        return new GrpcFerryClient(config);
    }

    FerryAsyncClient async();

    default WriteResult put(Key key, Map<String, ?> bins) {
        return put(WritePolicy.DEFAULT, key, bins);
    }

    WriteResult put(WritePolicy policy, Key key, Map<String, ?> bins);

    /** The record (only the named bins, if any are named), or null if it does not exist. */
    Record get(Key key, String... bins);

    boolean exists(Key key);

    default boolean delete(Key key) {
        return delete(WritePolicy.DEFAULT, key);
    }

    boolean delete(WritePolicy policy, Key key);

    /** One result per key, in order. */
    List<BatchResult> batchGet(List<Key> keys, String... bins);

    /** One result per operation, in order; each succeeds or fails on its own. */
    List<BatchResult> batchWrite(List<WriteOperation> ops);

    /**
     * Bulk-loads records of one namespace: split by master, each node's share ingested as
     * SST files on the master and its mirrors without partition-log entries (one boundary
     * entry per partition). Every record is new (generation 1); a failure fails the call.
     * Returns how many were loaded. Keep a call to a few tens of thousands of records.
     */
    long bulkLoad(List<Key> keys, List<? extends Map<String, ?>> bins);

    /** Streams the matching records to the listener; returns the number received. */
    long scan(ScanOptions options, ScanListener listener);

    NodeInfo info();

    @Override
    void close();
}
