package io.ferrydb.core.storage;

import io.ferrydb.api.Digest;
import io.ferrydb.api.Limits;
import io.ferrydb.core.record.RecordArbitraries;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Key order is what makes scans by partition and by LSN range correct. */
class KeyLayoutTest {

    @Provide
    Arbitrary<String> namespaces() {
        return RecordArbitraries.names(Limits.NAMESPACE_NAME_MAX_BYTES);
    }

    @Provide
    Arbitrary<Long> lsns() {
        return Arbitraries.oneOf(Arbitraries.longs().between(0, 1_000_000), Arbitraries.longs(),
                Arbitraries.of(0L, 1L, 255L, 256L, 65_535L, 65_536L, Long.MAX_VALUE, Long.MIN_VALUE, -1L));
    }

    @Property(tries = 500)
    void logKeysSortByLsnAsUnsignedNumbers(@ForAll("namespaces") String ns, @ForAll @IntRange(max = 4095) int partition,
                                           @ForAll("lsns") long a, @ForAll("lsns") long b) {
        byte[] ka = KeyLayout.logKey(ns, partition, a);
        byte[] kb = KeyLayout.logKey(ns, partition, b);
        assertEquals(Integer.signum(Long.compareUnsigned(a, b)), Integer.signum(Arrays.compareUnsigned(ka, kb)));
        assertEquals(a, KeyLayout.lsnOfLogKey(ka));
        assertTrue(startsWith(ka, KeyLayout.partitionPrefix(ns, partition)));
    }

    @Test
    void logKeyOrderIsNumericAcrossByteBoundaries() {
        long[] ascending = {1, 2, 255, 256, 257, 65_535, 65_536, 1L << 32, Long.MAX_VALUE};
        for (int i = 1; i < ascending.length; i++) {
            assertTrue(Arrays.compareUnsigned(KeyLayout.logKey("test", 7, ascending[i - 1]), KeyLayout.logKey("test", 7, ascending[i])) < 0,
                    ascending[i - 1] + " should sort before " + ascending[i]);
        }
    }

    @Property(tries = 300)
    void dataKeysOfAPartitionShareItsPrefixAndStayInItsRange(@ForAll("namespaces") String ns, @ForAll @Size(20) byte[] raw) {
        Digest d = Digest.wrap(raw);
        byte[] key = KeyLayout.dataKey(ns, d);
        byte[] prefix = KeyLayout.partitionPrefix(ns, d.partition());
        assertTrue(startsWith(key, prefix));
        assertTrue(inRange(key, prefix, KeyLayout.prefixEnd(prefix)));
        assertEquals(d, KeyLayout.digestOfDataKey(key));
        int other = (d.partition() + 1) % Limits.PARTITION_COUNT;
        byte[] otherPrefix = KeyLayout.partitionPrefix(ns, other);
        assertFalse(inRange(key, otherPrefix, KeyLayout.prefixEnd(otherPrefix)));
    }

    @Property(tries = 300)
    void partitionsOfDifferentNamespacesNeverOverlap(@ForAll("namespaces") String a, @ForAll("namespaces") String b,
                                                     @ForAll @IntRange(max = 4095) int pa, @ForAll @IntRange(max = 4095) int pb,
                                                     @ForAll @Size(20) byte[] raw, @ForAll("lsns") long lsn) {
        Assume.that(!a.equals(b) || pa != pb);
        byte[] prefixB = KeyLayout.partitionPrefix(b, pb);
        byte[] endB = KeyLayout.prefixEnd(prefixB);
        assertFalse(inRange(KeyLayout.logKey(a, pa, lsn), prefixB, endB));
        byte[] dataKey = KeyLayout.dataKey(a, Digest.wrap(raw));
        if (!a.equals(b) || Digest.wrap(raw).partition() != pb) {
            assertFalse(inRange(dataKey, prefixB, endB));
        }
    }

    @Test
    void namespaceThatIsAPrefixOfAnotherDoesNotLeakIntoIt() {
        byte[] p = KeyLayout.partitionPrefix("test", 1);
        byte[] end = KeyLayout.prefixEnd(p);
        assertFalse(inRange(KeyLayout.logKey("test2", 1, 1), p, end));
        assertFalse(inRange(KeyLayout.logKey("tes", 1, 1), p, end));
        assertTrue(inRange(KeyLayout.logKey("test", 1, Long.MAX_VALUE), p, end));
        assertTrue(inRange(KeyLayout.logKey("test", 1, -1L), p, end));
    }

    /** prefixEnd is exact: a key starts with the prefix if and only if prefix <= key < end. */
    @Property(tries = 500)
    void prefixEndBoundsExactlyTheKeysWithThePrefix(@ForAll @Size(min = 1, max = 6) byte[] prefix,
                                                    @ForAll @Size(max = 8) byte[] tail, @ForAll boolean extend) {
        Assume.that(!allFF(prefix));
        byte[] end = KeyLayout.prefixEnd(prefix);
        byte[] key = extend ? concat(prefix, tail) : tail;
        assertEquals(startsWith(key, prefix), inRange(key, prefix, end),
                () -> "prefix=" + Arrays.toString(prefix) + " end=" + Arrays.toString(end) + " key=" + Arrays.toString(key));
        assertTrue(Arrays.compareUnsigned(prefix, end) < 0);
    }

    @Test
    void prefixEndExamples() {
        assertArrayEquals(new byte[] {1, 3}, KeyLayout.prefixEnd(new byte[] {1, 2}));
        assertArrayEquals(new byte[] {2}, KeyLayout.prefixEnd(new byte[] {1, (byte) 0xFF}));
        assertArrayEquals(new byte[] {1, 0, 0x10}, KeyLayout.prefixEnd(new byte[] {1, 0, 0x0F, (byte) 0xFF, (byte) 0xFF}));
        assertThrows(IllegalArgumentException.class, () -> KeyLayout.prefixEnd(new byte[] {(byte) 0xFF, (byte) 0xFF}));
        // The last partition of a namespace: low byte 0xFF.
        byte[] last = KeyLayout.partitionPrefix("test", 4095);
        byte[] lastEnd = KeyLayout.prefixEnd(last);
        assertTrue(inRange(KeyLayout.logKey("test", 4095, -1L), last, lastEnd));
        assertFalse(inRange(KeyLayout.logKey("test", 4094, -1L), last, lastEnd));
    }

    @Property(tries = 300)
    void metaValueRoundTrips(@ForAll int epoch, @ForAll long lastLsn, @ForAll long lastHlc) {
        byte[] v = KeyLayout.metaPartitionValue(epoch, lastLsn, lastHlc);
        assertEquals(20, v.length);
        assertEquals(epoch, KeyLayout.epochOfMeta(v));
        assertEquals(lastLsn, KeyLayout.lastLsnOfMeta(v));
        assertEquals(lastHlc, KeyLayout.hlcOfMeta(v));
    }

    @Property(tries = 200)
    void metaKeysAreDistinctPerPartitionAndNamespace(@ForAll("namespaces") String a, @ForAll("namespaces") String b,
                                                     @ForAll @IntRange(max = 4095) int pa, @ForAll @IntRange(max = 4095) int pb) {
        byte[] ka = KeyLayout.metaPartitionKey(a, pa);
        byte[] kb = KeyLayout.metaPartitionKey(b, pb);
        assertEquals(a.equals(b) && pa == pb, Arrays.equals(ka, kb));
        assertEquals('P', ka[0]);
    }

    @Test
    void digestOfDataKeyRejectsKeysOfTheWrongLength() {
        byte[] key = KeyLayout.dataKey("test", Digest.wrap(new byte[20]));
        assertNotEquals(0, key.length);
        assertThrows(io.ferrydb.core.Verify.VerifyException.class, () -> KeyLayout.digestOfDataKey(Arrays.copyOf(key, key.length - 1)));
    }

    static boolean startsWith(byte[] key, byte[] prefix) {
        return key.length >= prefix.length && Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length);
    }

    static boolean inRange(byte[] key, byte[] fromInclusive, byte[] toExclusive) {
        return Arrays.compareUnsigned(fromInclusive, key) <= 0 && Arrays.compareUnsigned(key, toExclusive) < 0;
    }

    private static boolean allFF(byte[] b) {
        for (byte x : b) {
            if (x != (byte) 0xFF) {
                return false;
            }
        }
        return true;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
