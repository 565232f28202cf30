package io.ferrydb.redis;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RedisValuesTest {
    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Property
    void everyLongRoundTripsThroughItsDecimalText(@ForAll long n) {
        assertEquals(n, RedisValues.parseLong(b(Long.toString(n))));
    }

    @Test
    void integersAreStrictLikeRedis() {
        for (String bad : new String[] {"", "-", "+1", " 1", "1 ", "01", "1.0", "9223372036854775808", "-9223372036854775809", "abc"}) {
            assertThrows(RedisValues.RedisError.class, () -> RedisValues.parseLong(b(bad)), bad);
        }
        assertEquals(0, RedisValues.parseLong(b("0")));
        assertEquals(Long.MIN_VALUE, RedisValues.parseLong(b("-9223372036854775808")));
    }

    @Test
    void floatsPrintAsRedisDoes() {
        assertEquals("10.6", RedisValues.formatDouble(new BigDecimal("10.50").add(new BigDecimal("0.1"))));
        assertEquals("5200", RedisValues.formatDouble(new BigDecimal("5.0e3").add(new BigDecimal("2.0e2"))));
        assertEquals("0", RedisValues.formatDouble(new BigDecimal("-0.0")));
        assertThrows(RedisValues.RedisError.class, () -> RedisValues.parseDecimal(b("1.5x"), RedisValues.NOT_FLOAT));
        assertThrows(RedisValues.RedisError.class, () -> RedisValues.parseDecimal(b(" 1"), RedisValues.NOT_FLOAT));
    }

    @Test
    void hashFieldsStartingWithDollarCannotLookLikeAString() {
        assertEquals("$$v", RedisValues.binOf("$v"));
        assertEquals("$v", RedisValues.fieldOf("$$v"));
        assertEquals("name", RedisValues.binOf("name"));
        RedisValues.View hashWithDollarField = new RedisValues.View(
                java.util.Map.of(RedisValues.binOf("$"), new io.ferrydb.api.Value.BytesValue(b("x"))), 1, 0);
        assertFalse(hashWithDollarField.isString());
        assertEquals("hash", hashWithDollarField.type());
        assertTrue(new RedisValues.View(java.util.Map.of("$", new io.ferrydb.api.Value.BytesValue(b("x"))), 1, 0).isString());
        assertThrows(RedisValues.RedisError.class, () -> RedisValues.field(b("sixteen-bytes-xx")));
        assertThrows(RedisValues.RedisError.class, () -> RedisValues.field(new byte[] {(byte) 0xff}));
    }

    @Test
    void globPatterns() {
        assertTrue(Glob.matches("user:*", "user:1"));
        assertTrue(Glob.matches("h?llo", "hello"));
        assertTrue(Glob.matches("h[ae]llo", "hallo"));
        assertFalse(Glob.matches("h[^e]llo", "hello"));
        assertTrue(Glob.matches("k[0-9]*", "k42"));
        assertTrue(Glob.matches("a\\*b", "a*b"));
        assertFalse(Glob.matches("a\\*b", "axb"));
        assertTrue(Glob.matches("*", ""));
        assertFalse(Glob.matches("?", ""));
    }
}
