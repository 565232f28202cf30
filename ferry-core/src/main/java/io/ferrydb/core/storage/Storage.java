package io.ferrydb.core.storage;

/**
 * A node's ordered key-value store with explicit flush semantics.
 *
 * <ul>
 *   <li>{@link #write} applies a batch atomically; it is visible to reads at once but
 *       durable only after a later {@link #sync} returns.</li>
 *   <li>{@link #sync} makes every write that completed before it was called durable.
 *       Concurrent writers may share one sync (group commit).</li>
 *   <li>A crash keeps a prefix of the writes in completion order: every synced write
 *       and possibly some later ones, never a later write without an earlier one.</li>
 * </ul>
 * The runtime implements it with RocksDB (WAL + WriteBatch); tests with a simulated
 * store that loses unsynced writes on a crash.
 */
public interface Storage extends AutoCloseable {

    byte[] get(Column column, byte[] key);

    void write(Batch batch);

    void sync();

    /**
     * Adds sorted key-value pairs of one column durably without the write-ahead log
     * (RocksDB: an SST file ingested): a bulk load. Newer than every earlier write; the
     * caller orders it against concurrent writes of the same keys.
     */
    default void ingest(Column column, java.util.List<byte[][]> sortedKeyValues) {
        Batch b = new Batch();
        for (byte[][] kv : sortedKeyValues) {
            b.put(column, kv[0], kv[1]);
        }
        write(b);
        sync();
    }

    /**
     * True while the store slows or stops writers to let compaction catch up (a RocksDB
     * write stall): a write now may block for a long time, so callers that must not block
     * (an event loop) hand their writes to a storage thread. May be a few ms out of date.
     */
    default boolean writesThrottled() {
        return false;
    }

    /** Entries with {@code fromInclusive <= key < toExclusive}, in key order. */
    Cursor scan(Column column, byte[] fromInclusive, byte[] toExclusive);

    @Override
    void close();
}
