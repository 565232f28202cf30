package io.ferrydb.core.storage;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Random;
import java.util.TreeMap;

/**
 * An in-memory {@link Storage} with RocksDB's crash semantics, for deterministic tests.
 *
 * <p>Every {@link #write} applies its batch atomically to sorted maps (unsigned byte
 * order, like RocksDB's bytewise comparator) and appends it to an unsynced list;
 * {@link #sync} makes all of them durable. {@link #crash} models a process crash with
 * the WAL: the state is rebuilt from the durable batches plus a random-length prefix of
 * the unsynced ones (a WAL tail is lost, never a hole in the middle). The prefix length
 * comes from the caller's seeded {@link Random}, so a failing seed replays exactly.
 */
public final class SimulatedStorage implements Storage {
    private final List<List<Batch.Op>> durable = new ArrayList<>();
    private final List<List<Batch.Op>> unsynced = new ArrayList<>();
    private final Map<Column, NavigableMap<byte[], byte[]>> state = new EnumMap<>(Column.class);
    private int openCursorCount;
    /** Bumped by every crash, so cursors of a previous incarnation do not count. */
    private int incarnation;
    private long writeCount;
    private long syncCount;
    private boolean closed;

    public SimulatedStorage() {
        reset();
    }

    private void reset() {
        for (Column c : Column.values()) {
            state.put(c, new TreeMap<>(Arrays::compareUnsigned));
        }
    }

    @Override
    public synchronized byte[] get(Column column, byte[] key) {
        checkOpen();
        byte[] v = state.get(column).get(key);
        return v == null ? null : v.clone();
    }

    @Override
    public synchronized void write(Batch batch) {
        checkOpen();
        // Copy and validate the whole batch before touching state, so a bad op applies nothing.
        List<Batch.Op> ops = new ArrayList<>(batch.ops().size());
        for (Batch.Op op : batch.ops()) {
            if (op.kind() == Batch.Kind.DELETE_RANGE && Arrays.compareUnsigned(op.key(), op.value()) > 0) {
                throw new IllegalArgumentException("delete range start is after its end");
            }
            ops.add(new Batch.Op(op.kind(), op.column(), op.key().clone(), op.value() == null ? null : op.value().clone()));
        }
        apply(ops);
        unsynced.add(ops);
        writeCount++;
    }

    @Override
    public synchronized void sync() {
        checkOpen();
        durable.addAll(unsynced);
        unsynced.clear();
        syncCount++;
    }

    @Override
    public synchronized Cursor scan(Column column, byte[] fromInclusive, byte[] toExclusive) {
        checkOpen();
        List<byte[][]> snapshot = new ArrayList<>();
        if (Arrays.compareUnsigned(fromInclusive, toExclusive) < 0) {
            for (Map.Entry<byte[], byte[]> e : state.get(column).subMap(fromInclusive, true, toExclusive, false).entrySet()) {
                snapshot.add(new byte[][] {e.getKey(), e.getValue()});
            }
        }
        openCursorCount++;
        return new SnapshotCursor(snapshot);
    }

    /**
     * Simulates a crash and restart: keeps every synced batch and a random-length prefix
     * of the unsynced ones, which become durable (the WAL was replayed). Returns how
     * many unsynced batches survived.
     */
    public synchronized int crash(Random random) {
        int kept = random.nextInt(unsynced.size() + 1);
        durable.addAll(unsynced.subList(0, kept));
        unsynced.clear();
        reset();
        for (List<Batch.Op> ops : durable) {
            apply(ops);
        }
        openCursorCount = 0;
        incarnation++;
        closed = false;
        return kept;
    }

    @Override
    public synchronized void close() {
        closed = true;
    }

    public synchronized int unsyncedBatchCount() {
        return unsynced.size();
    }

    public synchronized int openCursorCount() {
        return openCursorCount;
    }

    public synchronized long writeCount() {
        return writeCount;
    }

    public synchronized long syncCount() {
        return syncCount;
    }

    /** Number of keys in a column, for assertions. */
    public synchronized int size(Column column) {
        return state.get(column).size();
    }

    private void apply(List<Batch.Op> ops) {
        for (Batch.Op op : ops) {
            NavigableMap<byte[], byte[]> m = state.get(op.column());
            switch (op.kind()) {
                case PUT -> m.put(op.key(), op.value());
                case DELETE -> m.remove(op.key());
                case DELETE_RANGE -> m.subMap(op.key(), true, op.value(), false).clear();
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("storage is closed");
        }
    }

    private final class SnapshotCursor implements Cursor {
        private final Iterator<byte[][]> it;
        private final int openedIn = incarnation;
        private byte[][] current;
        private boolean cursorClosed;

        SnapshotCursor(List<byte[][]> entries) {
            this.it = entries.iterator();
        }

        @Override
        public boolean next() {
            if (cursorClosed) {
                throw new IllegalStateException("cursor is closed");
            }
            current = it.hasNext() ? it.next() : null;
            return current != null;
        }

        @Override
        public byte[] key() {
            return entry()[0].clone();
        }

        @Override
        public byte[] value() {
            return entry()[1].clone();
        }

        private byte[][] entry() {
            if (current == null) {
                throw new IllegalStateException("cursor is not positioned on an entry");
            }
            return current;
        }

        @Override
        public void close() {
            if (!cursorClosed) {
                cursorClosed = true;
                synchronized (SimulatedStorage.this) {
                    if (openedIn == incarnation) {
                        openCursorCount--;
                    }
                }
            }
        }
    }
}
