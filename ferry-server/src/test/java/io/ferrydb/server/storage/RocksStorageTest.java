package io.ferrydb.server.storage;

import io.ferrydb.core.storage.Batch;
import io.ferrydb.core.storage.Column;
import io.ferrydb.core.storage.Cursor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RocksStorageTest {
    @TempDir
    Path dir;

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void batchSpansColumnFamiliesAndSurvivesReopen() {
        try (RocksStorage s = new RocksStorage(dir, 8 << 20)) {
            s.write(new Batch().put(Column.DATA, b("k"), b("v")).put(Column.LOG, b("l1"), b("e1")).put(Column.META, b("m"), b("1")));
            s.sync();
        }
        try (RocksStorage s = new RocksStorage(dir, 8 << 20)) {
            assertArrayEquals(b("v"), s.get(Column.DATA, b("k")));
            assertArrayEquals(b("e1"), s.get(Column.LOG, b("l1")));
            assertArrayEquals(b("1"), s.get(Column.META, b("m")));
            assertNull(s.get(Column.DATA, b("l1")), "column families are separate");
        }
    }

    @Test
    void theRecordCacheFollowsAnIngestAndARangeDeleteOfRealRocksDb() {
        try (RocksStorage rocks = new RocksStorage(dir, 8 << 20)) {
            io.ferrydb.core.storage.CachedStorage s = new io.ferrydb.core.storage.CachedStorage(rocks, 1 << 20);
            assertNull(s.get(Column.DATA, b("k1")), "absent, and cached as absent");
            s.write(new Batch().put(Column.DATA, b("k2"), b("old")));
            assertArrayEquals(b("old"), s.get(Column.DATA, b("k2")));
            long hits = s.hits.sum();
            assertNull(s.get(Column.DATA, b("k1")));
            assertEquals(hits + 1, s.hits.sum(), "the absent key was answered from the cache");
            // A bulk load's SST file goes into RocksDB without the write path: the cache must drop those keys.
            s.ingest(Column.DATA, List.of(new byte[][] {b("k1"), b("loaded")}, new byte[][] {b("k2"), b("new")}));
            assertArrayEquals(b("loaded"), s.get(Column.DATA, b("k1")));
            assertArrayEquals(b("new"), s.get(Column.DATA, b("k2")));
            assertArrayEquals(b("new"), rocks.get(Column.DATA, b("k2")));
            s.write(new Batch().deleteRange(Column.DATA, b("k0"), b("k9")));
            assertNull(s.get(Column.DATA, b("k1")));
            assertNull(s.get(Column.DATA, b("k2")));
        }
    }

    @Test
    void closeWaitsForAnOpenCursorAndLaterCallsFailInsteadOfCrashing() throws Exception {
        RocksStorage s = new RocksStorage(dir, 8 << 20);
        s.write(new Batch().put(Column.DATA, b("a"), b("1")).put(Column.DATA, b("b"), b("2")));
        Cursor c = s.scan(Column.DATA, b("a"), b("z"));
        assertTrue(c.next());
        Thread closer = new Thread(s::close, "closer");
        closer.start();
        closer.join(300);
        assertTrue(closer.isAlive(), "close must wait while a cursor is open");
        // The cursor still works: the store under it has not been freed.
        assertArrayEquals(b("1"), c.value());
        assertTrue(c.next());
        assertArrayEquals(b("2"), c.value());
        c.close();
        closer.join(10_000);
        assertFalse(closer.isAlive(), "close finishes once the cursor is closed");
        io.ferrydb.api.FerryException e = org.junit.jupiter.api.Assertions.assertThrows(io.ferrydb.api.FerryException.class,
                () -> s.get(Column.DATA, b("a")));
        assertEquals(io.ferrydb.api.ErrorCode.UNAVAILABLE, e.code());
        org.junit.jupiter.api.Assertions.assertThrows(io.ferrydb.api.FerryException.class, () -> s.write(new Batch().put(Column.DATA, b("c"), b("3"))));
        assertEquals(-1, s.longProperty(Column.DATA, "rocksdb.estimate-num-keys"));
        s.close(); // twice is harmless
        try (RocksStorage again = new RocksStorage(dir, 8 << 20)) {
            assertArrayEquals(b("2"), again.get(Column.DATA, b("b")), "closed cleanly: it reopens with the data");
        }
    }

    @Test
    void aWriteStallIsReportedAsThrottled() throws Exception {
        try (RocksStorage s = new RocksStorage(dir, 8 << 20)) {
            assertFalse(s.writesThrottled());
            // Two L0 files stop writers when the stop trigger is 2 and no compaction is due
            // (RocksDB's write controller; with compactions disabled it ignores L0 counts).
            s.setMutableOptions(Column.DATA, org.rocksdb.MutableColumnFamilyOptions.builder()
                    .setLevel0FileNumCompactionTrigger(100).setLevel0SlowdownWritesTrigger(1).setLevel0StopWritesTrigger(2).build());
            for (int i = 0; i < 2; i++) {
                s.write(new Batch().put(Column.DATA, b("k" + i), b("v")));
                s.flushMemtables();
            }
            Thread.sleep(25); // past the 20 ms the answer is kept
            assertTrue(s.writesThrottled(), "two L0 files with a stop trigger of 2 stop writes");
            // Compaction allowed again: the stall clears.
            s.setMutableOptions(Column.DATA, org.rocksdb.MutableColumnFamilyOptions.builder()
                    .setLevel0FileNumCompactionTrigger(1).setLevel0SlowdownWritesTrigger(20).setLevel0StopWritesTrigger(36).build());
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (s.writesThrottled()) {
                assertTrue(System.nanoTime() < deadline, "the stall did not clear");
                Thread.sleep(5);
            }
        }
    }

    @Test
    void scanIsBoundedAndOrderedAndDeleteRangeIsHalfOpen() {
        try (RocksStorage s = new RocksStorage(dir, 8 << 20)) {
            Batch batch = new Batch();
            for (int i = 0; i < 10; i++) {
                batch.put(Column.LOG, new byte[] {1, (byte) i}, new byte[] {(byte) i});
            }
            batch.put(Column.LOG, new byte[] {2, 0}, new byte[] {99});
            s.write(batch);
            assertEquals(List.of(3, 4, 5, 6), keys(s, new byte[] {1, 3}, new byte[] {1, 7}));
            s.write(new Batch().deleteRange(Column.LOG, new byte[] {1, 0}, new byte[] {1, 5}));
            assertEquals(List.of(5, 6, 7, 8, 9), keys(s, new byte[] {1}, new byte[] {2}));
            assertEquals(1, keys(s, new byte[] {2}, new byte[] {3}).size());
        }
    }

    /**
     * With hash memtables and a prefix extractor, a partition scan must return exactly
     * that partition's keys in order, from memtables, SSTs and both mixed.
     */
    @Test
    void partitionScansSeeExactlyTheirPartitionInMemtableAndSst() {
        try (RocksStorage s = new RocksStorage(dir, 8 << 20)) {
            int[] partitions = {0, 1, 7, 4095};
            for (int round = 0; round < 2; round++) {
                Batch b = new Batch();
                for (int p : partitions) {
                    for (long lsn = round * 50 + 1; lsn <= round * 50 + 50; lsn++) {
                        b.put(Column.LOG, io.ferrydb.core.storage.KeyLayout.logKey("test", p, lsn), new byte[] {(byte) p});
                        b.put(Column.LOG, io.ferrydb.core.storage.KeyLayout.logKey("other", p, lsn), new byte[] {9});
                    }
                }
                s.write(b);
                if (round == 0) {
                    s.flushMemtables();
                }
            }
            for (int p : partitions) {
                byte[] prefix = io.ferrydb.core.storage.KeyLayout.partitionPrefix("test", p);
                List<Long> lsns = new ArrayList<>();
                try (Cursor c = s.scan(Column.LOG, prefix, io.ferrydb.core.storage.KeyLayout.prefixEnd(prefix))) {
                    while (c.next()) {
                        assertEquals(p & 0xFF, c.value()[0] & 0xFF, "a key of another partition or namespace leaked into the scan");
                        lsns.add(io.ferrydb.core.storage.KeyLayout.lsnOfLogKey(c.key()));
                    }
                }
                List<Long> expected = new ArrayList<>();
                for (long l = 1; l <= 100; l++) {
                    expected.add(l);
                }
                assertEquals(expected, lsns, "partition " + p);
                // From the middle of the partition.
                try (Cursor c = s.scan(Column.LOG, io.ferrydb.core.storage.KeyLayout.logKey("test", p, 42), io.ferrydb.core.storage.KeyLayout.prefixEnd(prefix))) {
                    assertTrue(c.next());
                    assertEquals(42, io.ferrydb.core.storage.KeyLayout.lsnOfLogKey(c.key()));
                }
            }
        }
    }

    private static List<Integer> keys(RocksStorage s, byte[] from, byte[] to) {
        List<Integer> out = new ArrayList<>();
        try (Cursor c = s.scan(Column.LOG, from, to)) {
            while (c.next()) {
                out.add((int) c.key()[1]);
            }
        }
        return out;
    }
}
