package io.ferrydb.core.storage;

import io.ferrydb.core.Verify;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * A {@link Storage} that answers point reads of the data column from memory: a bounded
 * cache of encoded records (and of known-absent keys) in front of another store.
 *
 * <p>Why here and not in the record store: every change of a record, whatever path
 * makes it (a client write, a mirror applying the master's log, a bulk ingest, a
 * resync, a truncation, a purge), goes through {@link #write} or {@link #ingest}, so
 * the cache is kept exact in one place, and the simulator's crash tests run through it.
 *
 * <p>Exactness, without assuming anything about the callers' locking:
 * <ul>
 *   <li>Keys hash to stripes. A write marks each stripe it touches before writing
 *       through and, once the inner write returned, bumps the stripe's version and
 *       stores each written value (write-through: the read before the next write of the
 *       same key is a hit).</li>
 *   <li>Two writes that overlapped on a stripe may reach the inner store in either
 *       order, so a write that saw another one in flight on its stripe evicts the keys
 *       instead of storing them; the next read fetches the winner.</li>
 *   <li>A read that misses remembers the stripe's version, reads the inner store and
 *       fills the cache only if no write touched the stripe meanwhile (a value read
 *       before a write must not land after it).</li>
 *   <li>A range delete or an ingest of the data column touches every stripe involved
 *       and evicts (a range delete empties the cache).</li>
 * </ul>
 * Each stripe is an LRU map with a byte budget of its share of the capacity.
 * Callers must not modify the arrays {@link #get} returns or that they hand to
 * {@link #write}: the cache keeps them.
 */
public final class CachedStorage implements Storage {
    /** 2^8: {@link CacheKey#stripe} takes a hash's top 8 bits. */
    private static final int STRIPE_COUNT = 256;
    /** Map entry, node and key-wrapper overhead charged per cached key. */
    static final int ENTRY_OVERHEAD_BYTES = 96;
    /** Marks a key the inner store does not hold (a distinct instance, compared by identity). */
    private static final byte[] ABSENT = new byte[0];

    private final Storage inner;
    private final long stripeCapacityBytes;
    private final Stripe[] stripes = new Stripe[STRIPE_COUNT];

    public final LongAdder hits = new LongAdder();
    public final LongAdder misses = new LongAdder();
    public final LongAdder evictions = new LongAdder();
    /** Misses whose value was not cached because a write touched the stripe during the read. */
    public final LongAdder racedFills = new LongAdder();

    private static final class Stripe {
        final LinkedHashMap<CacheKey, byte[]> entries = new LinkedHashMap<>(64, 0.75f, true);
        long bytes;
        /** Bumped by every write that touched the stripe, once it reached the inner store. */
        long version;
        /** Writes between their start and their end on this stripe. */
        int writersInFlight;
        /** Two writes overlapped since the stripe was last quiet: writes evict, not store. */
        boolean contended;
    }

    public CachedStorage(Storage inner, long capacityBytes) {
        Verify.that(capacityBytes >= 0, "record cache capacity %d < 0", capacityBytes);
        this.inner = inner;
        this.stripeCapacityBytes = capacityBytes / STRIPE_COUNT;
        for (int i = 0; i < STRIPE_COUNT; i++) {
            stripes[i] = new Stripe();
        }
    }

    @Override
    public byte[] get(Column column, byte[] key) {
        if (column != Column.DATA) {
            return inner.get(column, key);
        }
        CacheKey k = new CacheKey(key);
        Stripe s = stripes[k.stripe()];
        long version;
        synchronized (s) {
            byte[] cached = s.entries.get(k);
            if (cached != null) {
                hits.increment();
                return cached == ABSENT ? null : cached;
            }
            version = s.version;
        }
        misses.increment();
        byte[] value = inner.get(column, key);
        synchronized (s) {
            if (s.version == version && s.writersInFlight == 0) {
                store(s, k, value == null ? ABSENT : value);
            } else {
                racedFills.increment();
            }
        }
        return value;
    }

    @Override
    public void write(Batch batch) {
        List<Batch.Op> ops = batch.ops();
        long[] touched = null;
        // Each data key's hash once per write: for marking its stripe and for settling it.
        CacheKey[] keys = null;
        boolean rangeDelete = false;
        for (int j = 0; j < ops.size(); j++) {
            Batch.Op op = ops.get(j);
            if (op.column() != Column.DATA) {
                continue;
            }
            if (touched == null) {
                touched = new long[STRIPE_COUNT / 64];
                keys = new CacheKey[ops.size()];
            }
            if (op.kind() == Batch.Kind.DELETE_RANGE) {
                rangeDelete = true;
                Arrays.fill(touched, -1L);
            } else {
                keys[j] = new CacheKey(op.key());
                int i = keys[j].stripe();
                touched[i >>> 6] |= 1L << (i & 63);
            }
        }
        if (touched == null) {
            inner.write(batch);
            return;
        }
        begin(touched);
        boolean written = false;
        try {
            inner.write(batch);
            written = true;
        } finally {
            if (rangeDelete) {
                emptyStripes(touched);
            } else {
                // A failed write may or may not have reached the store: forget what it touched.
                settle(ops, keys, !written);
            }
            end(touched);
        }
    }

    @Override
    public void ingest(Column column, List<byte[][]> sortedKeyValues) {
        if (column != Column.DATA || sortedKeyValues.isEmpty()) {
            inner.ingest(column, sortedKeyValues);
            return;
        }
        long[] touched = new long[STRIPE_COUNT / 64];
        CacheKey[] keys = new CacheKey[sortedKeyValues.size()];
        for (int j = 0; j < keys.length; j++) {
            keys[j] = new CacheKey(sortedKeyValues.get(j)[0]);
            int i = keys[j].stripe();
            touched[i >>> 6] |= 1L << (i & 63);
        }
        begin(touched);
        try {
            inner.ingest(column, sortedKeyValues);
        } finally {
            for (CacheKey k : keys) {
                Stripe s = stripes[k.stripe()];
                synchronized (s) {
                    s.version++;
                    remove(s, k);
                }
            }
            end(touched);
        }
    }

    private void begin(long[] touched) {
        for (int i = 0; i < STRIPE_COUNT; i++) {
            if ((touched[i >>> 6] & (1L << (i & 63))) != 0) {
                Stripe s = stripes[i];
                synchronized (s) {
                    if (s.writersInFlight++ > 0) {
                        s.contended = true;
                    }
                }
            }
        }
    }

    private void end(long[] touched) {
        for (int i = 0; i < STRIPE_COUNT; i++) {
            if ((touched[i >>> 6] & (1L << (i & 63))) != 0) {
                Stripe s = stripes[i];
                synchronized (s) {
                    Verify.that(s.writersInFlight > 0, "record cache stripe %d: end of a write that did not begin", i);
                    if (--s.writersInFlight == 0) {
                        s.contended = false;
                    }
                }
            }
        }
    }

    /** Empties the touched stripes (after a range delete). */
    private void emptyStripes(long[] touched) {
        for (int i = 0; i < STRIPE_COUNT; i++) {
            if ((touched[i >>> 6] & (1L << (i & 63))) != 0) {
                Stripe s = stripes[i];
                synchronized (s) {
                    s.version++;
                    evictions.add(s.entries.size());
                    s.entries.clear();
                    s.bytes = 0;
                }
            }
        }
    }

    /** After a write of {@code ops}: stores each data key's new value, or evicts it if {@code evict} or its stripe was contended. */
    private void settle(List<Batch.Op> ops, CacheKey[] keys, boolean evict) {
        for (int j = 0; j < ops.size(); j++) {
            Batch.Op op = ops.get(j);
            CacheKey k = keys[j];
            if (k != null) {
                Stripe s = stripes[k.stripe()];
                synchronized (s) {
                    s.version++;
                    if (evict || s.contended) {
                        remove(s, k);
                    } else {
                        store(s, k, op.kind() == Batch.Kind.PUT ? op.value() : ABSENT);
                    }
                }
            }
        }
    }

    /** Caller holds the stripe. */
    private void store(Stripe s, CacheKey k, byte[] value) {
        long weight = weight(k, value);
        if (weight > stripeCapacityBytes) {
            remove(s, k);
            return;
        }
        byte[] old = s.entries.put(k, value);
        s.bytes += weight - (old == null ? 0 : weight(k, old));
        if (s.bytes > stripeCapacityBytes) {
            Iterator<Map.Entry<CacheKey, byte[]>> it = s.entries.entrySet().iterator();
            while (s.bytes > stripeCapacityBytes && it.hasNext()) {
                Map.Entry<CacheKey, byte[]> eldest = it.next();
                s.bytes -= weight(eldest.getKey(), eldest.getValue());
                it.remove();
                evictions.increment();
            }
        }
    }

    /** Caller holds the stripe. */
    private static void remove(Stripe s, CacheKey k) {
        byte[] old = s.entries.remove(k);
        if (old != null) {
            s.bytes -= weight(k, old);
        }
    }

    private static long weight(CacheKey k, byte[] value) {
        return (long) k.bytes.length + value.length + ENTRY_OVERHEAD_BYTES;
    }

    /** Keys cached (present or known absent). */
    public long entryCount() {
        long n = 0;
        for (Stripe s : stripes) {
            synchronized (s) {
                n += s.entries.size();
            }
        }
        return n;
    }

    /** Bytes charged for the cached keys, against {@link #capacityBytes()}. */
    public long sizeBytes() {
        long n = 0;
        for (Stripe s : stripes) {
            synchronized (s) {
                n += s.bytes;
            }
        }
        return n;
    }

    public long capacityBytes() {
        return stripeCapacityBytes * STRIPE_COUNT;
    }

    @Override
    public void sync() {
        inner.sync();
    }

    @Override
    public boolean writesThrottled() {
        return inner.writesThrottled();
    }

    @Override
    public Cursor scan(Column column, byte[] fromInclusive, byte[] toExclusive) {
        return inner.scan(column, fromInclusive, toExclusive);
    }

    @Override
    public void close() {
        inner.close();
    }

    /** A data key compared by content; data keys end in a digest, whose bytes hash well. */
    private static final class CacheKey {
        final byte[] bytes;
        private final int hash;

        CacheKey(byte[] bytes) {
            this.bytes = bytes;
            this.hash = hashOf(bytes);
        }

        private static int hashOf(byte[] key) {
            int h = Arrays.hashCode(key);
            return h ^ (h >>> 16) ^ (h >>> 8);
        }

        /** The top bits: a stripe's map buckets by the low ones. */
        int stripe() {
            return hash >>> 24;
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof CacheKey other && other.hash == hash && Arrays.equals(other.bytes, bytes);
        }
    }
}
