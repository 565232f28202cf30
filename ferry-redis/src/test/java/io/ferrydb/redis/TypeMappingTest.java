package io.ferrydb.redis;

import io.ferrydb.api.Value;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.redis.RedisValues.View;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How each Redis type is told apart in a record's bins (docs/REDIS.md), and WRONGTYPE between them. */
class TypeMappingTest {
    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static View view(List<BinValidator.NamedValue> bins) {
        Map<String, Value> m = new LinkedHashMap<>();
        for (BinValidator.NamedValue v : bins) {
            m.put(v.name(), v.value());
        }
        return new View(m, 1, 0);
    }

    @Test
    void eachTypeReadsBackAndRefusesTheOthers() {
        View string = view(RedisValues.stringBins(b("v")));
        View list = view(RedisValues.listBins(List.of(b("a"), b("b"), new byte[] {0, (byte) 0xff})));
        View set = view(RedisValues.setBins(List.of(new Value.BytesValue(b("x")), new Value.BytesValue(b("y")))));
        View hash = view(RedisValues.hashBins(Map.of("list", new Value.BytesValue(b("1")), "$set", new Value.BytesValue(b("2")))));
        assertEquals(List.of("string", "list", "set", "hash"), List.of(string.type(), list.type(), set.type(), hash.type()));
        assertEquals(3, list.list().size());
        assertArrayEquals(new byte[] {0, (byte) 0xff}, list.list().get(2));
        assertTrue(set.set().contains(new Value.BytesValue(b("y"))));
        assertEquals(Map.of("list", new Value.BytesValue(b("1")), "$set", new Value.BytesValue(b("2"))), hash.hash());
        for (View v : List.of(list, set, hash)) {
            assertThrows(RedisValues.RedisError.class, v::string, v.type());
        }
        for (View v : List.of(string, set, hash)) {
            assertThrows(RedisValues.RedisError.class, v::list, v.type());
        }
        for (View v : List.of(string, list, hash)) {
            assertThrows(RedisValues.RedisError.class, v::set, v.type());
        }
        for (View v : List.of(string, list, set)) {
            assertEquals(RedisValues.WRONGTYPE, assertThrows(RedisValues.RedisError.class, v::hash, v.type()).getMessage());
        }
    }

    @Test
    void nativelyWrittenCollectionsReadAsRedisValues() {
        // A list bin of strings and ints, a set map keyed by strings: read as bytes, members found by their bytes.
        View list = new View(Map.of(RedisValues.LIST_BIN, Value.of(List.of(Value.of("a"), Value.of(7L)))), 1, 0);
        assertArrayEquals(b("7"), list.list().get(1));
        View set = new View(Map.of(RedisValues.SET_BIN, Value.of(Map.of(Value.of("m"), Value.of(true)))), 1, 0);
        assertTrue(set.set().contains(new Value.BytesValue(b("m"))));
        // $list holding something else is not a list: a hash with field "list".
        View odd = new View(Map.of(RedisValues.LIST_BIN, Value.of(3L)), 1, 0);
        assertEquals("hash", odd.type());
        assertEquals(Value.of(3L), odd.hash().get("list"));
    }
}
