package io.ferrydb.core.record;

import io.ferrydb.api.Key;
import io.ferrydb.api.Limits;
import io.ferrydb.api.Value;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Tuple;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/** jqwik generators for values and stored records, shared by the codec and log tests. */
public final class RecordArbitraries {
    private RecordArbitraries() {}

    /** Well-formed Unicode: ASCII, BMP (no surrogates) and astral code points, possibly empty. */
    public static Arbitrary<String> unicode(int minCodePoints, int maxCodePoints) {
        Arbitrary<Integer> codePoint = Arbitraries.frequencyOf(
                Tuple.of(5, Arbitraries.integers().between(0x00, 0x7F)),
                Tuple.of(2, Arbitraries.integers().between(0x80, 0xD7FF)),
                Tuple.of(1, Arbitraries.integers().between(0xE000, 0xFFFF)),
                Tuple.of(2, Arbitraries.integers().between(0x10000, 0x10FFFF)));
        return codePoint.list().ofMinSize(minCodePoints).ofMaxSize(maxCodePoints).map(cps -> {
            StringBuilder sb = new StringBuilder();
            cps.forEach(sb::appendCodePoint);
            return sb.toString();
        });
    }

    /** Names without control characters, within {@code maxBytes} UTF-8 bytes. */
    public static Arbitrary<String> names(int maxBytes) {
        return unicode(1, maxBytes).map(s -> s.codePoints().filter(cp -> !Character.isISOControl(cp))
                        .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString())
                .filter(s -> !s.isEmpty() && s.getBytes(StandardCharsets.UTF_8).length <= maxBytes);
    }

    public static Arbitrary<Double> doubles() {
        return Arbitraries.oneOf(
                Arbitraries.doubles(),
                Arbitraries.of(Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, 0.0,
                        Double.MIN_VALUE, Double.MAX_VALUE, -Double.MAX_VALUE, Double.MIN_NORMAL),
                // Any bit pattern, including NaNs with payloads.
                Arbitraries.longs().map(Double::longBitsToDouble));
    }

    public static Arbitrary<Value> scalars() {
        return Arbitraries.oneOf(
                Arbitraries.longs().map(Value::of),
                doubles().map(Value::of),
                unicode(0, 12).map(Value::of),
                Arbitraries.bytes().array(byte[].class).ofMaxSize(12).map(Value::of),
                Arbitraries.of(true, false).map(Value::of));
    }

    /** Any value, lists and maps nested up to three levels. */
    public static Arbitrary<Value> values() {
        return Arbitraries.recursive(RecordArbitraries::scalars, inner -> Arbitraries.oneOf(
                inner,
                inner.list().ofMaxSize(3).map((List<Value> l) -> Value.of(l)),
                Arbitraries.maps(inner, inner).ofMaxSize(3).map((Map<Value, Value> m) -> Value.of(m))), 0, 3);
    }

    public static Arbitrary<Map<String, Value>> bins() {
        return Arbitraries.maps(names(Limits.BIN_NAME_MAX_BYTES), values()).ofMaxSize(5);
    }

    /** A key type with matching key bytes (the codec also accepts empty string/bytes keys). */
    public static Arbitrary<Tuple.Tuple2<Key.KeyType, byte[]>> keys() {
        return Arbitraries.oneOf(
                Arbitraries.longs().map(l -> Tuple.of(Key.KeyType.LONG, ByteBuffer.allocate(8).putLong(l).array())),
                unicode(0, 20).map(s -> Tuple.of(Key.KeyType.STRING, s.getBytes(StandardCharsets.UTF_8))),
                Arbitraries.bytes().array(byte[].class).ofMaxSize(40).map(b -> Tuple.of(Key.KeyType.BYTES, b)));
    }

    /** Live records and tombstones (which have no bins). */
    public static Arbitrary<StoredRecord> records() {
        Arbitrary<Tuple.Tuple4<Integer, Long, Long, Integer>> meta = Combinators.combine(
                Arbitraries.integers(), Arbitraries.longs(), Arbitraries.longs(), Arbitraries.integers()).as(Tuple::of);
        return Combinators.combine(names(Limits.SET_NAME_MAX_BYTES), keys(), bins(), meta,
                        Arbitraries.frequency(Tuple.of(4, false), Tuple.of(1, true)))
                .as((set, key, bins, m, tombstone) -> new StoredRecord(set, key.get1(), key.get2(),
                        tombstone ? Map.of() : bins, m.get1(), m.get2(), m.get3(), m.get4(), tombstone));
    }
}
