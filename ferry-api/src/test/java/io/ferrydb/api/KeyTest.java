package io.ferrydb.api;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Key identity and the name rules that keep digests unambiguous; errors must name the field. */
class KeyTest {

    // ---- equality ----------------------------------------------------------------------

    @Property(tries = 200)
    void keysWithEqualPartsAreEqual(@ForAll("names") String ns, @ForAll("names") String set,
                                    @ForAll("keyStrings") String s, @ForAll long l, @ForAll @Size(min = 1, max = 32) byte[] b) {
        assertEqualKeys(Key.of(ns, set, s), Key.of(new String(ns), new String(set), new String(s)));
        assertEqualKeys(Key.of(ns, set, l), Key.of(ns, set, Long.valueOf(l)));
        assertEqualKeys(Key.of(ns, set, b), Key.of(ns, set, b.clone()));
    }

    @Property(tries = 200)
    void keysDifferingInAnyPartAreNotEqual(@ForAll("names") String ns, @ForAll("names") String set, @ForAll long l) {
        Key k = Key.of(ns, set, l);
        assertNotEquals(k, Key.of(ns + "x", set, l));
        assertNotEquals(k, Key.of(ns, set + "x", l));
        assertNotEquals(k, Key.of(ns, set, l + 1));
        assertNotEquals(k, Key.of(ns, set, Long.toString(l)));
        assertNotEquals(k, Key.of(ns, set, k.userKeyBytes()));
    }

    @Test
    void bytesKeysAreComparedByContentAndCopiedOnTheWayIn() {
        byte[] raw = {1, 2, 3};
        Key k = Key.of("ns", "s", raw);
        Digest before = k.digest();
        raw[0] = 9;
        assertEquals(Key.of("ns", "s", new byte[] {1, 2, 3}), k);
        assertEquals(before, Key.of("ns", "s", new byte[] {1, 2, 3}).digest());
        assertNotEquals(Key.of("ns", "s", new byte[] {1, 2, 4}), k);
        ((byte[]) k.userKey())[0] = 9;
        assertArrayEquals(new byte[] {1, 2, 3}, (byte[]) k.userKey());
    }

    @Property(tries = 200)
    void fromBytesRebuildsTheSameKey(@ForAll("keyStrings") String s, @ForAll long l, @ForAll @Size(min = 1, max = 32) byte[] b) {
        for (Key k : new Key[] {Key.of("ns", "s", s), Key.of("ns", "s", l), Key.of("ns", "s", b)}) {
            Key rebuilt = Key.fromBytes("ns", "s", k.type(), k.userKeyBytes());
            assertEqualKeys(k, rebuilt);
            assertEquals(k.digest(), rebuilt.digest());
        }
    }

    @Test
    void fromBytesRejectsALongKeyThatIsNotEightBytes() {
        FerryException e = assertThrows(FerryException.class, () -> Key.fromBytes("ns", "s", Key.KeyType.LONG, new byte[7]));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
    }

    @Test
    void keyTypeCodesArePinned() {
        assertEquals(1, Key.KeyType.LONG.code());
        assertEquals(3, Key.KeyType.STRING.code());
        assertEquals(4, Key.KeyType.BYTES.code());
        assertSame(Key.KeyType.BYTES, Key.KeyType.fromCode(4));
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(FerryException.class, () -> Key.KeyType.fromCode(2)).code());
    }

    // ---- validation --------------------------------------------------------------------

    @Property(tries = 200)
    void validKeysPassValidation(@ForAll("names") String ns, @ForAll("names") String set, @ForAll("keyStrings") String s) {
        String namespace = ns.getBytes(StandardCharsets.UTF_8).length <= Limits.NAMESPACE_NAME_MAX_BYTES ? ns : "ns";
        Key k = Key.of(namespace, set, s);
        assertSame(k, k.validate("key"));
    }

    @Test
    void emptyNamesAreRejectedNamingTheField() {
        assertInvalid("key.namespace", () -> Key.of("", "s", "k").validate("key"));
        assertInvalid("key.set", () -> Key.of("ns", "", "k").validate("key"));
        assertInvalid("key.user_key", () -> Key.of("ns", "s", "").validate("key"));
        assertInvalid("key.user_key", () -> Key.of("ns", "s", new byte[0]).validate("key"));
    }

    @Test
    void namesAreBoundedInUtf8BytesNotCharacters() {
        String ns31 = "n".repeat(Limits.NAMESPACE_NAME_MAX_BYTES);
        Key.of(ns31, "s", "k").validate("key");
        FerryException e = assertInvalid("key.namespace", () -> Key.of(ns31 + "n", "s", "k").validate("key"));
        assertTrue(e.getMessage().contains("32"), e.getMessage());
        // 32 two-byte characters are 64 bytes: one over the set limit although only 32 chars.
        String set64 = "é".repeat(32);
        FerryException s = assertInvalid("key.set", () -> Key.of("ns", set64, "k").validate("key"));
        assertTrue(s.getMessage().contains("64"), s.getMessage());
        Key.of("ns", "é".repeat(31) + "s", "k").validate("key");
    }

    @Test
    void userKeyIsBoundedToOneKibibyte() {
        Key.of("ns", "s", new byte[Limits.KEY_BYTES_MAX]).validate("key");
        FerryException e = assertInvalid("key.user_key", () -> Key.of("ns", "s", new byte[Limits.KEY_BYTES_MAX + 1]).validate("key"));
        assertTrue(e.getMessage().contains("1025"), e.getMessage());
        assertInvalid("key.user_key", () -> Key.of("ns", "s", "x".repeat(Limits.KEY_BYTES_MAX + 1)).validate("key"));
    }

    @Property(tries = 200)
    void controlCharactersAnywhereInANameAreRejected(@ForAll("controlChars") char c, @ForAll @IntRange(max = 5) int at) {
        String name = "abcde".substring(0, at) + c + "abcde".substring(at);
        FerryException set = assertInvalid("key.set", () -> Key.of("ns", name, "k").validate("key"));
        assertTrue(set.getMessage().contains("index " + at), set.getMessage());
        assertInvalid("key.namespace", () -> Key.of(name, "s", "k").validate("key"));
        assertInvalid("bins[3].name", () -> Names.checkBin("bins[3].name", name));
    }

    @Test
    void binNamesAreBoundedToFifteenBytes() {
        Names.checkBin("bins[0].name", "b".repeat(Limits.BIN_NAME_MAX_BYTES));
        assertInvalid("bins[0].name", () -> Names.checkBin("bins[0].name", "b".repeat(Limits.BIN_NAME_MAX_BYTES + 1)));
        assertInvalid("bins[0].name", () -> Names.checkBin("bins[0].name", null));
    }

    // ---- helpers -------------------------------------------------------------------------

    @Provide
    Arbitrary<String> names() {
        return DigestTest.codePointStrings(1, 15).filter(s -> s.getBytes(StandardCharsets.UTF_8).length <= Limits.SET_NAME_MAX_BYTES);
    }

    @Provide
    Arbitrary<String> keyStrings() {
        return DigestTest.codePointStrings(1, 40);
    }

    @Provide
    Arbitrary<Character> controlChars() {
        return Arbitraries.oneOf(Arbitraries.chars().range('\u0000', '\u001F'), Arbitraries.chars().range('\u007F', '\u009F'));
    }

    private static void assertEqualKeys(Key a, Key b) {
        assertEquals(a, b);
        assertEquals(b, a);
        assertEquals(a.hashCode(), b.hashCode());
        assertEquals(a.digest(), b.digest());
        assertEquals(a.toString(), b.toString());
    }

    private static FerryException assertInvalid(String field, Runnable r) {
        FerryException e = assertThrows(FerryException.class, r::run);
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.reason().startsWith(field), "message should name " + field + ": " + e.getMessage());
        return e;
    }
}
