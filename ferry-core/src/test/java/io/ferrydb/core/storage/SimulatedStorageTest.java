package io.ferrydb.core.storage;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The simulator is what the store's crash properties rest on, so it is tested too. */
class SimulatedStorageTest {

    private static byte[] k(int... bytes) {
        byte[] b = new byte[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            b[i] = (byte) bytes[i];
        }
        return b;
    }

    @Test
    void scanIsOrderedByUnsignedBytesAndHalfOpen() {
        SimulatedStorage s = new SimulatedStorage();
        s.write(new Batch().put(Column.DATA, k(0x80), k(1)).put(Column.DATA, k(0x01), k(2))
                .put(Column.DATA, k(0xFF), k(3)).put(Column.DATA, k(0x01, 0x00), k(4)));
        assertEquals(List.of("01", "0100", "80"), keys(s, Column.DATA, k(0x00), k(0xFF)));
        assertEquals(List.of("0100", "80", "ff"), keys(s, Column.DATA, k(0x01, 0x00), k(0xFF, 0x00)));
        assertEquals(List.of(), keys(s, Column.DATA, k(0x80), k(0x80)));
        assertEquals(List.of(), keys(s, Column.DATA, k(0x90), k(0x10)));
        assertEquals(List.of(), keys(s, Column.LOG, k(0x00), k(0xFF)));
    }

    @Test
    void deleteRangeRemovesFromInclusiveToExclusive() {
        SimulatedStorage s = new SimulatedStorage();
        Batch b = new Batch();
        for (int i = 1; i <= 5; i++) {
            b.put(Column.LOG, k(i), k(i));
        }
        s.write(b);
        s.write(new Batch().deleteRange(Column.LOG, k(2), k(4)));
        assertEquals(List.of("01", "04", "05"), keys(s, Column.LOG, k(0), k(0xFF)));
        s.write(new Batch().deleteRange(Column.LOG, k(4), k(4)));
        assertEquals(3, s.size(Column.LOG));
        assertThrows(IllegalArgumentException.class, () -> s.write(new Batch().put(Column.LOG, k(9), k(9)).deleteRange(Column.LOG, k(5), k(1))));
        assertNull(s.get(Column.LOG, k(9)), "a rejected batch applies nothing");
    }

    @Test
    void aCursorSeesASnapshot() {
        SimulatedStorage s = new SimulatedStorage();
        s.write(new Batch().put(Column.DATA, k(1), k(1)));
        try (Cursor c = s.scan(Column.DATA, k(0), k(0xFF))) {
            s.write(new Batch().put(Column.DATA, k(2), k(2)).delete(Column.DATA, k(1)));
            assertTrue(c.next());
            assertArrayEquals(k(1), c.key());
            assertFalse(c.next());
            assertEquals(1, s.openCursorCount());
        }
        assertEquals(0, s.openCursorCount());
    }

    @Test
    void valuesAreCopiedInAndOut() {
        SimulatedStorage s = new SimulatedStorage();
        byte[] v = k(1, 2);
        s.write(new Batch().put(Column.META, k(1), v));
        v[0] = 9;
        s.get(Column.META, k(1))[1] = 9;
        assertArrayEquals(k(1, 2), s.get(Column.META, k(1)));
    }

    @Test
    void crashKeepsSyncedBatchesAndLosesUnsyncedOnesWhenThePrefixIsEmpty() {
        SimulatedStorage s = new SimulatedStorage();
        s.write(new Batch().put(Column.DATA, k(1), k(1)));
        s.sync();
        s.write(new Batch().put(Column.DATA, k(2), k(2)).put(Column.LOG, k(2), k(2)));
        s.write(new Batch().delete(Column.DATA, k(1)));
        // A Random whose first nextInt(3) is 0: the whole unsynced tail is lost.
        Random zero = new Random() {
            @Override
            public int nextInt(int bound) {
                return 0;
            }
        };
        assertEquals(0, s.crash(zero));
        assertArrayEquals(k(1), s.get(Column.DATA, k(1)));
        assertNull(s.get(Column.DATA, k(2)));
        assertNull(s.get(Column.LOG, k(2)));
        assertEquals(0, s.unsyncedBatchCount());
    }

    @Property(tries = 200)
    void crashKeepsExactlyAPrefixOfBatches(@ForAll @IntRange(min = 1, max = 30) int batches,
                                           @ForAll @IntRange(min = 0, max = 30) int syncAfter, @ForAll long seed) {
        SimulatedStorage s = new SimulatedStorage();
        for (int i = 0; i < batches; i++) {
            // Each batch writes its own marker and the same "last" key in two columns.
            s.write(new Batch().put(Column.DATA, k(i), k(i)).put(Column.META, k(0), k(i)));
            if (i + 1 == syncAfter) {
                s.sync();
            }
        }
        int synced = syncAfter <= batches ? syncAfter : 0;
        int kept = s.crash(new Random(seed));
        int survivors = 0;
        while (survivors < batches && s.get(Column.DATA, k(survivors)) != null) {
            survivors++;
        }
        for (int i = survivors; i < batches; i++) {
            assertNull(s.get(Column.DATA, k(i)), "batch " + i + " survived although batch " + survivors + " did not");
        }
        assertTrue(survivors >= synced, "synced batches lost: " + survivors + " < " + synced);
        assertEquals(synced + kept, survivors);
        if (survivors > 0) {
            assertArrayEquals(k(survivors - 1), s.get(Column.META, k(0)), "meta of the last surviving batch");
        } else {
            assertNull(s.get(Column.META, k(0)));
        }
        // After recovery the survivors are durable: a second crash keeps them all.
        s.crash(new Random(seed + 1));
        assertEquals(survivors, s.size(Column.DATA));
    }

    @Test
    void aClosedStorageRefusesCalls() {
        SimulatedStorage s = new SimulatedStorage();
        s.close();
        assertThrows(IllegalStateException.class, () -> s.get(Column.DATA, k(1)));
        assertThrows(IllegalStateException.class, () -> s.write(new Batch()));
    }

    private static List<String> keys(SimulatedStorage s, Column c, byte[] from, byte[] to) {
        List<String> out = new ArrayList<>();
        try (Cursor cur = s.scan(c, from, to)) {
            while (cur.next()) {
                StringBuilder sb = new StringBuilder();
                for (byte b : cur.key()) {
                    sb.append(String.format("%02x", b & 0xFF));
                }
                out.add(sb.toString());
            }
        }
        return out;
    }
}
