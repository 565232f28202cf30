package io.ferrydb.core.storage;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The record cache must never answer what the store under it would not. */
class CachedStorageTest {

    private static byte[] key(int i) {
        // data keys: a 6-byte partition prefix and a 20-byte digest
        byte[] k = new byte[26];
        k[5] = (byte) (i % 4);
        for (int j = 6; j < 26; j++) {
            k[j] = (byte) (i * 31 + j * 7 + (i >>> 3));
        }
        k[25] = (byte) i;
        k[24] = (byte) (i >>> 8);
        return k;
    }

    private static byte[] value(Random r, int maxLength) {
        byte[] v = new byte[1 + r.nextInt(maxLength)];
        r.nextBytes(v);
        return v;
    }

    private static void assertSameAsInner(CachedStorage cached, Storage inner, int keys, String when) {
        for (int i = 0; i < keys; i++) {
            byte[] want = inner.get(Column.DATA, key(i));
            byte[] got = cached.get(Column.DATA, key(i));
            if (want == null) {
                assertNull(got, when + ": key " + i + " is absent below the cache");
            } else {
                assertArrayEquals(want, got, when + ": key " + i);
            }
        }
    }

    /** Random puts, deletes, range deletes, ingests, failed batches and reads against a small cache that evicts. */
    @Property(tries = 60)
    void answersWhatTheStoreBelowHolds(@ForAll @IntRange(min = 0, max = 1_000_000) int seed) {
        Random r = new Random(seed);
        SimulatedStorage inner = new SimulatedStorage();
        int keys = 600;
        // about two records per stripe for ~2.3 keys per stripe: reads evict each other
        CachedStorage cached = new CachedStorage(inner, 256L * (26 + 40 + CachedStorage.ENTRY_OVERHEAD_BYTES) * 2);
        for (int step = 0; step < 600; step++) {
            int what = r.nextInt(100);
            if (what < 45) {
                cached.get(Column.DATA, key(r.nextInt(keys)));
            } else if (what < 80) {
                Batch b = new Batch();
                for (int n = 1 + r.nextInt(6); n > 0; n--) {
                    int k = r.nextInt(keys);
                    if (r.nextInt(4) == 0) {
                        b.delete(Column.DATA, key(k));
                    } else {
                        b.put(Column.DATA, key(k), value(r, 40));
                    }
                }
                b.put(Column.LOG, key(step), value(r, 8));
                cached.write(b);
            } else if (what < 85) {
                byte[] from = key(r.nextInt(keys));
                from = java.util.Arrays.copyOf(from, 6);
                byte[] to = KeyLayout.prefixEnd(from);
                cached.write(new Batch().deleteRange(Column.DATA, from, to));
            } else if (what < 90) {
                java.util.TreeMap<byte[], byte[]> sorted = new java.util.TreeMap<>(java.util.Arrays::compareUnsigned);
                for (int n = 1 + r.nextInt(10); n > 0; n--) {
                    sorted.put(key(r.nextInt(keys)), value(r, 40));
                }
                List<byte[][]> kvs = new ArrayList<>();
                sorted.forEach((k, v) -> kvs.add(new byte[][] {k, v}));
                cached.ingest(Column.DATA, kvs);
            } else if (what < 95) {
                // The simulated store refuses a backwards range and applies none of the batch.
                Batch bad = new Batch().put(Column.DATA, key(r.nextInt(keys)), value(r, 40))
                        .deleteRange(Column.LOG, new byte[] {9}, new byte[] {1});
                assertThrows(IllegalArgumentException.class, () -> cached.write(bad));
            } else {
                assertSameAsInner(cached, inner, keys, "seed " + seed + " step " + step);
            }
            assertTrue(cached.sizeBytes() <= cached.capacityBytes(), "seed " + seed + ": over capacity");
        }
        assertSameAsInner(cached, inner, keys, "seed " + seed + " at the end");
        assertTrue(cached.hits.sum() > 0, "seed " + seed + ": no read was answered from the cache");
        assertTrue(cached.evictions.sum() > 0, "seed " + seed + ": nothing was evicted");
    }

    @Test
    void aReadThatRacedAWriteDoesNotCacheWhatItRead() {
        AtomicReference<Runnable> duringGet = new AtomicReference<>();
        SimulatedStorage disk = new SimulatedStorage();
        Storage inner = new Forwarding(disk) {
            @Override
            public byte[] get(Column column, byte[] key) {
                byte[] read = disk.get(column, key);
                Runnable r = duringGet.getAndSet(null);
                if (r != null) {
                    r.run(); // a write lands after the read, before the read's value is cached
                }
                return read;
            }
        };
        CachedStorage cached = new CachedStorage(inner, 1 << 20);
        cached.write(new Batch().put(Column.DATA, key(1), new byte[] {1}));
        cached.write(new Batch().delete(Column.DATA, key(2)));
        // Evict key 1 by a failed write, so the next read misses.
        assertThrows(IllegalArgumentException.class,
                () -> cached.write(new Batch().put(Column.DATA, key(1), new byte[] {9}).deleteRange(Column.LOG, new byte[] {9}, new byte[] {1})));
        duringGet.set(() -> cached.write(new Batch().put(Column.DATA, key(1), new byte[] {2})));
        assertArrayEquals(new byte[] {1}, cached.get(Column.DATA, key(1)), "the read returns what it read");
        assertArrayEquals(new byte[] {2}, cached.get(Column.DATA, key(1)), "and did not cache it over the later write");
        assertEquals(1, cached.racedFills.sum());
    }

    @Test
    void overlappingWritesOfOneKeyLeaveTheStoresOrderNotTheirFinishingOrder() {
        AtomicReference<Runnable> afterWrite = new AtomicReference<>();
        SimulatedStorage disk = new SimulatedStorage();
        Storage inner = new Forwarding(disk) {
            @Override
            public void write(Batch batch) {
                disk.write(batch);
                Runnable r = afterWrite.getAndSet(null);
                if (r != null) {
                    r.run(); // a second write reaches the store after this one and finishes first
                }
            }
        };
        CachedStorage cached = new CachedStorage(inner, 1 << 20);
        afterWrite.set(() -> cached.write(new Batch().put(Column.DATA, key(3), new byte[] {2})));
        cached.write(new Batch().put(Column.DATA, key(3), new byte[] {1}));
        assertArrayEquals(new byte[] {2}, disk.get(Column.DATA, key(3)));
        assertArrayEquals(new byte[] {2}, cached.get(Column.DATA, key(3)));
        cached.write(new Batch().put(Column.DATA, key(3), new byte[] {3}));
        long hits = cached.hits.sum();
        assertArrayEquals(new byte[] {3}, cached.get(Column.DATA, key(3)), "a write with no overlap is written through");
        assertEquals(hits + 1, cached.hits.sum());
    }

    /** Threads writing and reading the same few keys; once they stop, the cache agrees with the store. */
    @Test
    void concurrentWritersAndReadersLeaveNoStaleEntry() throws Exception {
        for (int round = 0; round < 20; round++) {
            SimulatedStorage disk = new SimulatedStorage();
            Storage inner = new Forwarding(disk) {
                @Override
                public byte[] get(Column column, byte[] key) {
                    byte[] v = disk.get(column, key);
                    Thread.yield();
                    return v;
                }

                @Override
                public void write(Batch batch) {
                    Thread.yield();
                    disk.write(batch);
                    Thread.yield();
                }
            };
            int keys = 8;
            CachedStorage cached = new CachedStorage(inner, 1 << 20);
            CountDownLatch start = new CountDownLatch(1);
            List<Thread> threads = new ArrayList<>();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            for (int t = 0; t < 4; t++) {
                int seed = round * 10 + t;
                boolean writer = t < 2;
                threads.add(new Thread(() -> {
                    Random r = new Random(seed);
                    try {
                        start.await();
                        for (int i = 0; i < 3_000; i++) {
                            if (writer) {
                                Batch b = new Batch();
                                for (int n = 1 + r.nextInt(3); n > 0; n--) {
                                    if (r.nextInt(5) == 0) {
                                        b.delete(Column.DATA, key(r.nextInt(keys)));
                                    } else {
                                        b.put(Column.DATA, key(r.nextInt(keys)), value(r, 16));
                                    }
                                }
                                cached.write(b);
                            } else {
                                cached.get(Column.DATA, key(r.nextInt(keys)));
                            }
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            threads.forEach(Thread::start);
            start.countDown();
            for (Thread t : threads) {
                t.join();
            }
            if (failure.get() != null) {
                throw new AssertionError(failure.get());
            }
            assertSameAsInner(cached, disk, keys, "round " + round);
        }
    }

    @Test
    void onlyTheDataColumnIsCached() {
        SimulatedStorage disk = new SimulatedStorage();
        CachedStorage cached = new CachedStorage(disk, 1 << 20);
        cached.write(new Batch().put(Column.META, key(1), new byte[] {1}).put(Column.LOG, key(1), new byte[] {2}));
        assertArrayEquals(new byte[] {1}, cached.get(Column.META, key(1)));
        assertArrayEquals(new byte[] {2}, cached.get(Column.LOG, key(1)));
        assertEquals(0, cached.entryCount());
        assertEquals(0, cached.hits.sum() + cached.misses.sum());
    }

    @Test
    void aRecordLargerThanAStripeIsNotCached() {
        SimulatedStorage disk = new SimulatedStorage();
        CachedStorage cached = new CachedStorage(disk, 256 * 1024);
        byte[] big = new byte[4096];
        cached.write(new Batch().put(Column.DATA, key(1), big));
        assertEquals(0, cached.entryCount());
        assertArrayEquals(big, cached.get(Column.DATA, key(1)));
        assertEquals(0, cached.entryCount());
    }

    /** Forwards everything to another store; tests override what they interleave with. */
    private static class Forwarding implements Storage {
        private final Storage to;

        Forwarding(Storage to) {
            this.to = to;
        }

        @Override
        public byte[] get(Column column, byte[] key) {
            return to.get(column, key);
        }

        @Override
        public void write(Batch batch) {
            to.write(batch);
        }

        @Override
        public void ingest(Column column, List<byte[][]> sortedKeyValues) {
            to.ingest(column, sortedKeyValues);
        }

        @Override
        public void sync() {
            to.sync();
        }

        @Override
        public Cursor scan(Column column, byte[] fromInclusive, byte[] toExclusive) {
            return to.scan(column, fromInclusive, toExclusive);
        }

        @Override
        public void close() {
            to.close();
        }
    }
}
