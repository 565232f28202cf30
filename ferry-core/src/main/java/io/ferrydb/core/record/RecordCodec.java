package io.ferrydb.core.record;

import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.core.Verify;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The on-disk record format (version 1), big-endian:
 * <pre>
 * u8 version=1 | u8 flags (bit0 tombstone) | i32 generation | i64 lastUpdateHlc
 * | i64 expiresAtMs | i32 originCluster | u8+utf8 set | u8 keyType | i32+bytes key
 * | i32 binCount | binCount × (u8+utf8 name | value)
 * value: u8 tag | INT i64 | FLOAT i64 bits | STRING i32+utf8 | BYTES i32+bytes
 *        | BOOL u8 | LIST i32 n, n values | MAP i32 n, n (key value) pairs
 * </pre>
 * Decoding checks every length, so a corrupt record fails loudly instead of
 * producing a wrong one.
 */
public final class RecordCodec {
    private RecordCodec() {}

    static final int VERSION = 1;
    private static final int FLAG_TOMBSTONE = 1;

    public static byte[] encode(StoredRecord r) {
        int size = 64 + r.keyBytes().length + r.set().length();
        for (Map.Entry<String, Value> bin : r.bins().entrySet()) {
            size += 8 + bin.getKey().length() + sizeHint(bin.getValue());
        }
        // Sized from the values, so a 100-byte string is not copied twice while the buffer grows.
        ByteWriter w = new ByteWriter(size);
        w.u8(VERSION).u8(r.tombstone() ? FLAG_TOMBSTONE : 0).i32(r.generation()).i64(r.lastUpdateHlc())
                .i64(r.expiresAtMs()).i32(r.originCluster()).shortString(r.set())
                .u8(r.keyType().code()).blob(r.keyBytes()).i32(r.bins().size());
        for (Map.Entry<String, Value> bin : r.bins().entrySet()) {
            w.shortString(bin.getKey());
            writeValue(w, bin.getValue());
        }
        return w.toByteArray();
    }

    /** About the encoded size of a value (exact enough for byte and ASCII strings), without walking nested ones. */
    private static int sizeHint(Value v) {
        if (v instanceof Value.BytesValue b) {
            return b.length();
        }
        if (v instanceof Value.StringValue s) {
            return s.value().length();
        }
        return 16;
    }

    public static StoredRecord decode(byte[] bytes) {
        ByteReader r = new ByteReader(bytes);
        Header h = readHeader(r);
        int origin = r.i32();
        String set = r.shortString();
        Key.KeyType keyType = Key.KeyType.fromCode(r.u8());
        byte[] key = r.blob();
        int binCount = r.i32();
        Verify.that(binCount >= 0, "negative bin count %d", binCount);
        // Each bin takes at least 2 bytes: a corrupt count fails here, not in an allocation.
        Verify.that(binCount <= r.remaining() / 2, "bin count %d exceeds the %d bytes left", binCount, r.remaining());
        Map<String, Value> bins = new LinkedHashMap<>(Math.max(4, binCount * 2));
        for (int i = 0; i < binCount; i++) {
            String name = r.shortString();
            bins.put(name, readValue(r));
        }
        Verify.that(r.atEnd(), "trailing bytes after record at %d of %d", r.position(), bytes.length);
        return new StoredRecord(set, keyType, key, bins, h.generation(), h.lastUpdateHlc(), h.expiresAtMs(), origin, h.tombstone());
    }

    /** The metadata a background pass needs, read without decoding key or bins. */
    public record Header(boolean tombstone, int generation, long lastUpdateHlc, long expiresAtMs) {}

    public static Header peekHeader(byte[] bytes) {
        return readHeader(new ByteReader(bytes));
    }

    private static Header readHeader(ByteReader r) {
        int version = r.u8();
        Verify.that(version == VERSION, "unknown record version %d", version);
        int flags = r.u8();
        int generation = r.i32();
        long hlc = r.i64();
        long expiresAt = r.i64();
        return new Header((flags & FLAG_TOMBSTONE) != 0, generation, hlc, expiresAt);
    }

    static void writeValue(ByteWriter w, Value v) {
        w.u8(v.type().tag());
        if (v instanceof Value.IntValue i) {
            w.i64(i.value());
        } else if (v instanceof Value.FloatValue f) {
            w.i64(Double.doubleToRawLongBits(f.value()));
        } else if (v instanceof Value.StringValue s) {
            w.blob(s.value().getBytes(StandardCharsets.UTF_8));
        } else if (v instanceof Value.BytesValue b) {
            w.blob(b.unsafeBytes());
        } else if (v instanceof Value.BoolValue b) {
            w.u8(b.value() ? 1 : 0);
        } else if (v instanceof Value.ListValue l) {
            w.i32(l.items().size());
            for (Value item : l.items()) {
                writeValue(w, item);
            }
        } else if (v instanceof Value.MapValue m) {
            w.i32(m.entries().size());
            for (Map.Entry<Value, Value> e : m.entries().entrySet()) {
                writeValue(w, e.getKey());
                writeValue(w, e.getValue());
            }
        } else {
            throw new IllegalArgumentException("unknown value class " + v.getClass());
        }
    }

    static Value readValue(ByteReader r) {
        Value.Type type = Value.Type.fromTag(r.u8());
        return switch (type) {
            case INT -> Value.of(r.i64());
            case FLOAT -> Value.of(Double.longBitsToDouble(r.i64()));
            case STRING -> Value.of(new String(r.blob(), StandardCharsets.UTF_8));
            case BYTES -> Value.of(r.blob());
            case BOOL -> Value.of(r.u8() != 0);
            case LIST -> {
                int n = r.i32();
                Verify.that(n >= 0, "negative list size %d", n);
                Verify.that(n <= r.remaining(), "list size %d exceeds the %d bytes left", n, r.remaining());
                List<Value> items = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    items.add(readValue(r));
                }
                yield Value.of(items);
            }
            case MAP -> {
                int n = r.i32();
                Verify.that(n >= 0, "negative map size %d", n);
                Verify.that(n <= r.remaining() / 2, "map size %d exceeds the %d bytes left", n, r.remaining());
                Map<Value, Value> m = new LinkedHashMap<>();
                for (int i = 0; i < n; i++) {
                    Value k = readValue(r);
                    m.put(k, readValue(r));
                }
                yield Value.of(m);
            }
        };
    }
}
