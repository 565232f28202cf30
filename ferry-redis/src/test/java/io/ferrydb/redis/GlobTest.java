package io.ferrydb.redis;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * KEYS / SCAN MATCH globs byte for byte as Redis matches them. Every expectation below
 * was taken from redis-server 7.0.15: the keys were SET and {@code KEYS <pattern>}
 * answered exactly these (including the odd corners: {@code [a-]} is the range a..']',
 * an unterminated class still matches, {@code ?} is one byte of a UTF-8 character).
 */
class GlobTest {
    private static final List<String> KEYS = List.of("a", "b", "]", "-", "ab", "a-", "hello", "hallo", "hxllo", "h]llo",
            "a*b", "a\\b", "axb", "[", "x[", "é", "z", "^");

    private static List<String> keys(String pattern) {
        List<String> out = new ArrayList<>();
        for (String k : KEYS) {
            if (Glob.matches(pattern.getBytes(StandardCharsets.UTF_8), k.getBytes(StandardCharsets.UTF_8))) {
                out.add(k);
            }
        }
        out.sort(null);
        return out;
    }

    private static void redisAnswers(String pattern, String... expected) {
        List<String> want = new ArrayList<>(List.of(expected));
        want.sort(null);
        assertEquals(want, keys(pattern), "KEYS " + pattern);
    }

    @Test
    void matchesLikeRedis() {
        redisAnswers("[a-]", "]", "^", "a");
        redisAnswers("[]]");
        redisAnswers("[^]a]");
        redisAnswers("[z-a]", "a", "b", "z");
        redisAnswers("[a", "a");
        redisAnswers("h[");
        redisAnswers("a\\");
        redisAnswers("\\a", "a");
        redisAnswers("[\\]]", "]");
        redisAnswers("[^", "-", "[", "]", "^", "a", "b", "z");
        redisAnswers("?", "-", "[", "]", "^", "a", "b", "z");
        redisAnswers("??", "a-", "ab", "x[", "é");
        redisAnswers("h[^e]llo", "h]llo", "hallo", "hxllo");
        redisAnswers("a\\*b", "a*b");
        redisAnswers("a\\\\b", "a\\b");
        redisAnswers("[-a]", "-", "a");
        redisAnswers("x\\[", "x[");
        redisAnswers("[\\^]", "^");
        redisAnswers("[a-\\]]");
        redisAnswers("h*llo", "h]llo", "hallo", "hello", "hxllo");
        redisAnswers("a**", "a", "a*b", "a-", "a\\b", "ab", "axb");
        redisAnswers("*b", "a*b", "a\\b", "ab", "axb", "b");
    }

    @Test
    void binaryKeysMatchBytes() {
        byte[] key = {(byte) 0xff, 0, (byte) 0x80};
        assertEquals(true, Glob.matches("???".getBytes(StandardCharsets.US_ASCII), key));
        assertEquals(true, Glob.matches(new byte[] {(byte) 0xff, '*'}, key));
        assertEquals(false, Glob.matches(new byte[] {(byte) 0xfe, '*'}, key));
    }
}
