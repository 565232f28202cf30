package io.ferrydb.api;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The digest function addresses every record on disk, so it must never change. The
 * golden constants below were computed once outside the project, e.g.
 * {@code printf 'users\x03alice' | sha1sum}; the properties recompute SHA-1 with
 * {@link MessageDigest} independently of {@link Digest}.
 */
class DigestTest {
    // sha1("users" || 0x03 || "alice")
    static final String USERS_ALICE_HEX = "0e5f6031f2ba099c9287a74e0d7b6ae90c3cb687";
    static final int USERS_ALICE_PARTITION = 3854;
    // sha1("events" || 0x01 || 00 00 00 00 00 00 00 2a)
    static final String EVENTS_42_HEX = "2793374dfde68a1fe466f8f498cdc4eed05d1259";
    static final int EVENTS_42_PARTITION = 807;
    // sha1("blobs" || 0x04 || de ad be ef)
    static final String BLOBS_DEADBEEF_HEX = "9ff07dc4ad6d2d82fbc7bae7dc8006df00681d54";
    static final int BLOBS_DEADBEEF_PARTITION = 159;

    private static final byte[] DEADBEEF = {(byte) 0xde, (byte) 0xad, (byte) 0xbe, (byte) 0xef};

    // ---- golden values ---------------------------------------------------------------

    @Test
    void stringKeyDigestIsPinned() {
        Key key = Key.of("ns", "users", "alice");
        assertEquals(USERS_ALICE_HEX, key.digest().toHex());
        assertEquals(USERS_ALICE_PARTITION, key.partition());
    }

    @Test
    void longKeyDigestIsPinned() {
        Key key = Key.of("ns", "events", 42L);
        assertEquals(EVENTS_42_HEX, key.digest().toHex());
        assertEquals(EVENTS_42_PARTITION, key.partition());
    }

    @Test
    void bytesKeyDigestIsPinned() {
        Key key = Key.of("ns", "blobs", DEADBEEF);
        assertEquals(BLOBS_DEADBEEF_HEX, key.digest().toHex());
        assertEquals(BLOBS_DEADBEEF_PARTITION, key.partition());
    }

    @Test
    void goldenValuesAgreeWithAnIndependentSha1() {
        assertEquals(USERS_ALICE_HEX, hex(sha1("users", 3, "alice".getBytes(StandardCharsets.UTF_8))));
        assertEquals(EVENTS_42_HEX, hex(sha1("events", 1, longBytes(42))));
        assertEquals(BLOBS_DEADBEEF_HEX, hex(sha1("blobs", 4, DEADBEEF)));
        assertEquals(USERS_ALICE_PARTITION, partitionOf(sha1("users", 3, "alice".getBytes(StandardCharsets.UTF_8))));
        assertEquals(EVENTS_42_PARTITION, partitionOf(sha1("events", 1, longBytes(42))));
        assertEquals(BLOBS_DEADBEEF_PARTITION, partitionOf(sha1("blobs", 4, DEADBEEF)));
    }

    @Test
    void namespaceIsNotPartOfTheDigest() {
        assertEquals(Key.of("a", "users", "alice").digest(), Key.of("b", "users", "alice").digest());
    }

    @Test
    void negativeLongKeysAreEncodedAsTwosComplementBigEndian() {
        Key key = Key.of("ns", "events", -1L);
        byte[] allOnes = new byte[8];
        Arrays.fill(allOnes, (byte) 0xFF);
        assertArrayEquals(allOnes, key.userKeyBytes());
        assertEquals(hex(sha1("events", 1, allOnes)), key.digest().toHex());
    }

    @Test
    void theKeyTypeByteSeparatesKeysWithTheSameBytes() {
        Key asString = Key.of("ns", "s", "a");
        Key asBytes = Key.of("ns", "s", new byte[] {'a'});
        assertArrayEquals(asString.userKeyBytes(), asBytes.userKeyBytes());
        assertNotEquals(asString.digest(), asBytes.digest());
    }

    @Test
    void partitionIsTheLowTwelveBitsOfTheLittleEndianFirstTwoBytes() {
        assertEquals(0x234, Digest.wrap(digestStartingWith(0x34, 0x12)).partition());
        assertEquals(4095, Digest.wrap(digestStartingWith(0xFF, 0xFF)).partition());
        assertEquals(0, Digest.wrap(digestStartingWith(0x00, 0xF0)).partition());
        assertEquals(0xF00, Digest.wrap(digestStartingWith(0x00, 0x0F)).partition());
        assertEquals(0x0FF, Digest.wrap(digestStartingWith(0xFF, 0x00)).partition());
    }

    @Test
    void wrapRejectsWrongLengthsNamingTheSize() {
        FerryException shortOne = assertThrows(FerryException.class, () -> Digest.wrap(new byte[19]));
        assertEquals(ErrorCode.INVALID_ARGUMENT, shortOne.code());
        assertTrue(shortOne.getMessage().contains("19"), shortOne.getMessage());
        FerryException longOne = assertThrows(FerryException.class, () -> Digest.wrap(new byte[21]));
        assertEquals(ErrorCode.INVALID_ARGUMENT, longOne.code());
        FerryException hex = assertThrows(FerryException.class, () -> Digest.fromHex("abcd"));
        assertEquals(ErrorCode.INVALID_ARGUMENT, hex.code());
    }

    @Test
    void wrapAndToBytesCopySoTheDigestIsImmutable() {
        byte[] raw = new byte[20];
        Digest d = Digest.wrap(raw);
        raw[0] = 7;
        assertEquals(0, d.toBytes()[0]);
        d.toBytes()[1] = 9;
        assertEquals(0, d.toBytes()[1]);
    }

    // ---- properties ------------------------------------------------------------------

    @Property(tries = 200)
    void stringKeyDigestIsSha1OfSetTypeAndUtf8Key(@ForAll("names") String set, @ForAll("keyStrings") String userKey) {
        byte[] expected = sha1(set, 3, userKey.getBytes(StandardCharsets.UTF_8));
        Key key = Key.of("ns", set, userKey);
        assertArrayEquals(expected, key.digest().toBytes());
        assertEquals(partitionOf(expected), key.partition());
    }

    @Property(tries = 200)
    void longKeyDigestIsSha1OfSetTypeAndBigEndianLong(@ForAll("names") String set, @ForAll long userKey) {
        byte[] expected = sha1(set, 1, longBytes(userKey));
        Key key = Key.of("ns", set, userKey);
        assertArrayEquals(expected, key.digest().toBytes());
        assertEquals(partitionOf(expected), key.partition());
    }

    @Property(tries = 200)
    void bytesKeyDigestIsSha1OfSetTypeAndRawBytes(@ForAll("names") String set, @ForAll @Size(min = 1, max = 64) byte[] userKey) {
        byte[] expected = sha1(set, 4, userKey);
        Key key = Key.of("ns", set, userKey);
        assertArrayEquals(expected, key.digest().toBytes());
        assertEquals(partitionOf(expected), key.partition());
    }

    @Property(tries = 200)
    void digestAndPartitionAreDeterministic(@ForAll("names") String set, @ForAll("keyStrings") String userKey) {
        Key a = Key.of("ns", set, userKey);
        Key b = Key.of("other", new String(set), new String(userKey));
        assertEquals(a.digest(), b.digest());
        assertEquals(a.digest().hashCode(), b.digest().hashCode());
        assertEquals(a.partition(), b.partition());
        assertEquals(a.digest(), Digest.of(set, Key.KeyType.STRING, userKey.getBytes(StandardCharsets.UTF_8)));
        // A second call on the same key (cached) agrees with the first.
        assertEquals(a.digest(), a.digest());
    }

    @Property(tries = 500)
    void partitionIsAlwaysWithinRangeAndFollowsTheFormula(@ForAll @Size(20) byte[] raw) {
        int p = Digest.wrap(raw).partition();
        assertTrue(p >= 0 && p < Limits.PARTITION_COUNT, "partition " + p);
        assertEquals(partitionOf(raw), p);
        assertEquals(p, Digest.partitionOf(raw));
    }

    @Property(tries = 200)
    void hexRoundTrips(@ForAll @Size(20) byte[] raw) {
        Digest d = Digest.wrap(raw);
        String hex = d.toHex();
        assertEquals(hex(raw), hex);
        assertEquals(d, Digest.fromHex(hex));
        assertEquals(d, Digest.fromHex(hex.toUpperCase()));
        assertEquals(hex, d.toString());
    }

    @Property(tries = 200)
    void orderIsUnsignedLexicographicAndConsistentWithEquals(@ForAll @Size(20) byte[] a, @ForAll @Size(20) byte[] b) {
        int expected = Integer.signum(Arrays.compareUnsigned(a, b));
        assertEquals(expected, Integer.signum(Digest.wrap(a).compareTo(Digest.wrap(b))));
        assertEquals(expected == 0, Digest.wrap(a).equals(Digest.wrap(b)));
    }

    // ---- arbitraries and independent reference implementation -------------------------

    /** Valid set names: 1..15 code points, no control characters, at most 63 UTF-8 bytes. */
    @Provide
    Arbitrary<String> names() {
        return codePointStrings(1, 15).filter(s -> s.getBytes(StandardCharsets.UTF_8).length <= Limits.SET_NAME_MAX_BYTES);
    }

    @Provide
    Arbitrary<String> keyStrings() {
        return codePointStrings(1, 40);
    }

    /** Well-formed Unicode (no lone surrogates, no control characters), mixing ASCII and astral planes. */
    static Arbitrary<String> codePointStrings(int minLength, int maxLength) {
        Arbitrary<Integer> codePoint = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Arbitraries.integers().between(0x20, 0x7E)),
                net.jqwik.api.Tuple.of(2, Arbitraries.integers().between(0xA0, 0xD7FF)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0xE000, 0xFFFD)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0x10000, 0x10FFFF)));
        return codePoint.list().ofMinSize(minLength).ofMaxSize(maxLength).map(cps -> {
            StringBuilder sb = new StringBuilder();
            cps.forEach(sb::appendCodePoint);
            return sb.toString();
        });
    }

    static byte[] sha1(String set, int typeByte, byte[] keyBytes) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-1");
            md.update(set.getBytes(StandardCharsets.UTF_8));
            md.update((byte) typeByte);
            md.update(keyBytes);
            return md.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static byte[] longBytes(long v) {
        return ByteBuffer.allocate(8).putLong(v).array();
    }

    static int partitionOf(byte[] d) {
        return ((d[0] & 0xFF) | (d[1] & 0xFF) << 8) & 0xFFF;
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xFF));
        }
        return sb.toString();
    }

    private static byte[] digestStartingWith(int b0, int b1) {
        byte[] d = new byte[20];
        d[0] = (byte) b0;
        d[1] = (byte) b1;
        return d;
    }
}
