package io.ferrydb.redis;

import io.ferrydb.api.FerryException;
import io.ferrydb.api.Names;
import io.ferrydb.api.Record;
import io.ferrydb.api.Value;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.record.StoredRecord;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How Redis values live in FerryDB records (see ARCHITECTURE.md, "Redis endpoint", and
 * docs/REDIS.md): a string is a record with exactly one bin named {@value #STRING_BIN}
 * holding bytes; a list is a record with exactly one list bin named {@value #LIST_BIN}
 * (its elements as bytes, head first); a set is a record with exactly one map bin named
 * {@value #SET_BIN} (members as bytes keys, each mapped to {@code true}); a hash is a
 * record whose bins are its fields, each holding bytes. A field whose name starts with
 * {@code $} is stored as {@code $} + field, so no hash can look like a string, list or
 * set. Fields must be valid bin names (UTF-8, no control characters, at most 15 bytes,
 * 14 when they start with {@code $}).
 */
final class RedisValues {
    static final String STRING_BIN = "$";
    static final String LIST_BIN = "$list";
    static final String SET_BIN = "$set";
    private static final Value MEMBER = Value.of(true);
    static final String WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";
    static final String NOT_INTEGER = "ERR value is not an integer or out of range";
    static final String NOT_FLOAT = "ERR value is not a valid float";
    static final String SYNTAX = "ERR syntax error";

    private RedisValues() {}

    /** A live record as a command sees it. */
    record View(Map<String, Value> bins, int generation, long expiresAtMs) {
        static View of(StoredRecord r) {
            return r == null ? null : new View(r.bins(), r.generation(), r.expiresAtMs());
        }

        static View of(Record r) {
            return r == null ? null : new View(r.bins(), r.generation(), r.expiresAtMs());
        }

        boolean isString() {
            return bins.size() == 1 && bins.containsKey(STRING_BIN);
        }

        boolean isList() {
            return bins.size() == 1 && bins.get(LIST_BIN) instanceof Value.ListValue;
        }

        boolean isSet() {
            return bins.size() == 1 && bins.get(SET_BIN) instanceof Value.MapValue;
        }

        /** The string's bytes; throws WRONGTYPE for a hash. */
        byte[] string() {
            if (!isString()) {
                throw new RedisError(WRONGTYPE);
            }
            return bytes(bins.get(STRING_BIN));
        }

        /** The hash's fields (decoded names); throws WRONGTYPE for another type. */
        Map<String, Value> hash() {
            if (isString() || isList() || isSet()) {
                throw new RedisError(WRONGTYPE);
            }
            Map<String, Value> out = new LinkedHashMap<>();
            for (Map.Entry<String, Value> e : bins.entrySet()) {
                out.put(fieldOf(e.getKey()), e.getValue());
            }
            return out;
        }

        /** The list's elements, head first; throws WRONGTYPE for another type. */
        List<byte[]> list() {
            if (!isList()) {
                throw new RedisError(WRONGTYPE);
            }
            List<Value> items = ((Value.ListValue) bins.get(LIST_BIN)).items();
            List<byte[]> out = new ArrayList<>(items.size());
            for (Value v : items) {
                out.add(bytes(v));
            }
            return out;
        }

        /** The set's members (as bytes values, insertion order); throws WRONGTYPE for another type. */
        java.util.LinkedHashSet<Value.BytesValue> set() {
            if (!isSet()) {
                throw new RedisError(WRONGTYPE);
            }
            Map<Value, Value> entries = ((Value.MapValue) bins.get(SET_BIN)).entries();
            java.util.LinkedHashSet<Value.BytesValue> out = new java.util.LinkedHashSet<>();
            for (Value member : entries.keySet()) {
                out.add(member instanceof Value.BytesValue b ? b : new Value.BytesValue(bytes(member)));
            }
            return out;
        }

        String type() {
            return isString() ? "string" : isList() ? "list" : isSet() ? "set" : "hash";
        }
    }

    /** An expected refusal answered to the client as a Redis error (no stack trace: hot path). */
    static final class RedisError extends RuntimeException {
        RedisError(String message) {
            super(message, null, false, false);
        }
    }

    static List<BinValidator.NamedValue> stringBins(byte[] value) {
        return List.of(new BinValidator.NamedValue(STRING_BIN, new Value.BytesValue(value)));
    }

    static List<BinValidator.NamedValue> listBins(List<byte[]> elements) {
        List<Value> items = new ArrayList<>(elements.size());
        for (byte[] e : elements) {
            items.add(new Value.BytesValue(e));
        }
        return List.of(new BinValidator.NamedValue(LIST_BIN, new Value.ListValue(items)));
    }

    static List<BinValidator.NamedValue> setBins(java.util.Collection<Value.BytesValue> members) {
        Map<Value, Value> entries = new LinkedHashMap<>();
        for (Value.BytesValue m : members) {
            entries.put(m, MEMBER);
        }
        return List.of(new BinValidator.NamedValue(SET_BIN, new Value.MapValue(entries)));
    }

    static List<BinValidator.NamedValue> hashBins(Map<String, Value> fields) {
        List<BinValidator.NamedValue> out = new ArrayList<>(fields.size());
        for (Map.Entry<String, Value> e : fields.entrySet()) {
            out.add(new BinValidator.NamedValue(binOf(e.getKey()), e.getValue()));
        }
        return out;
    }

    /** The field name of a hash field's bytes, checked to be storable as a bin name. */
    static String field(byte[] raw) {
        String f;
        try {
            f = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(raw)).toString();
        } catch (CharacterCodingException e) {
            throw new RedisError("ERR hash field is not valid UTF-8: FerryDB stores hash fields as bin names");
        }
        try {
            Names.checkBin("hash field", binOf(f));
        } catch (FerryException e) {
            throw new RedisError("ERR " + e.reason() + " (FerryDB stores hash fields as bin names of at most 15 bytes)");
        }
        return f;
    }

    static String binOf(String field) {
        return field.startsWith("$") ? "$" + field : field;
    }

    static String fieldOf(String bin) {
        return bin.startsWith("$") ? bin.substring(1) : bin;
    }

    /** A bin's value as Redis bytes: bytes as they are, other types (written natively) as text. */
    static byte[] bytes(Value v) {
        if (v instanceof Value.BytesValue b) {
            return b.value();
        }
        if (v instanceof Value.StringValue s) {
            return s.value().getBytes(StandardCharsets.UTF_8);
        }
        if (v instanceof Value.IntValue i) {
            return Long.toString(i.value()).getBytes(StandardCharsets.US_ASCII);
        }
        if (v instanceof Value.FloatValue f) {
            return formatDouble(BigDecimal.valueOf(f.value())).getBytes(StandardCharsets.US_ASCII);
        }
        if (v instanceof Value.BoolValue b) {
            return (b.value() ? "1" : "0").getBytes(StandardCharsets.US_ASCII);
        }
        return String.valueOf(v.toJava()).getBytes(StandardCharsets.UTF_8);
    }

    static String text(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Parses a Redis integer argument or value (no spaces, no '+', fits a signed 64-bit). */
    static long parseLong(byte[] b, String error) {
        if (b.length == 0 || b.length > 20) {
            throw new RedisError(error);
        }
        int i = 0;
        boolean negative = b[0] == '-';
        if (negative) {
            i = 1;
            if (b.length == 1) {
                throw new RedisError(error);
            }
        }
        if (b[i] == '0' && b.length > i + 1) {
            throw new RedisError(error);
        }
        long v = 0;
        for (; i < b.length; i++) {
            int d = b[i] - '0';
            if (d < 0 || d > 9) {
                throw new RedisError(error);
            }
            // Accumulate negatively: the range of negative longs is one larger.
            if (v < (Long.MIN_VALUE + d) / 10) {
                throw new RedisError(error);
            }
            v = v * 10 - d;
        }
        if (!negative) {
            if (v == Long.MIN_VALUE) {
                throw new RedisError(error);
            }
            v = -v;
        }
        return v;
    }

    static long parseLong(byte[] b) {
        return parseLong(b, NOT_INTEGER);
    }

    /** A Redis float: decimal or exponent notation; inf and NaN are refused as Redis's INCRBYFLOAT does. */
    static BigDecimal parseDecimal(byte[] b, String error) {
        String s = text(b);
        if (s.isEmpty() || Character.isWhitespace(s.charAt(0)) || Character.isWhitespace(s.charAt(s.length() - 1))) {
            throw new RedisError(error);
        }
        try {
            return new BigDecimal(s);
        } catch (NumberFormatException e) {
            throw new RedisError(error);
        }
    }

    /** Redis's human float format: no exponent, no trailing zeros ("10.6", "5200"). */
    static String formatDouble(BigDecimal d) {
        // Redis computes in long double and prints 17 significant digits; 17 digits here too.
        BigDecimal r = d.round(new java.math.MathContext(17)).stripTrailingZeros();
        String s = r.toPlainString();
        return s.equals("-0") ? "0" : s;
    }
}
