package io.ferrydb.api;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** A bin value: int64, float64, string, bytes, bool, list or map. Immutable. */
public sealed interface Value {

    /** The type tag, also the on-disk tag: never renumber. */
    enum Type {
        INT(1), FLOAT(2), STRING(3), BYTES(4), BOOL(5), LIST(6), MAP(7);

        private final int tag;

        Type(int tag) {
            this.tag = tag;
        }

        public int tag() {
            return tag;
        }

        public static Type fromTag(int tag) {
            for (Type t : values()) {
                if (t.tag == tag) {
                    return t;
                }
            }
            throw FerryException.invalid("unknown value type tag %d", tag);
        }
    }

    Type type();

    /** The plain Java form: Long, Double, String, byte[], Boolean, List, Map. */
    Object toJava();

    static Value of(long v) {
        return new IntValue(v);
    }

    static Value of(double v) {
        return new FloatValue(v);
    }

    static Value of(String v) {
        return new StringValue(v);
    }

    static Value of(byte[] v) {
        return new BytesValue(v);
    }

    static Value of(boolean v) {
        return BoolValue.of(v);
    }

    static Value of(List<Value> v) {
        return new ListValue(v);
    }

    static Value of(Map<Value, Value> v) {
        return new MapValue(v);
    }

    /** Converts a plain Java value (Integer, Long, Double, String, byte[], Boolean, List, Map, Value). */
    static Value from(Object o) {
        if (o instanceof Value v) {
            return v;
        } else if (o instanceof Long || o instanceof Integer || o instanceof Short || o instanceof Byte) {
            return of(((Number) o).longValue());
        } else if (o instanceof Double || o instanceof Float) {
            return of(((Number) o).doubleValue());
        } else if (o instanceof String s) {
            return of(s);
        } else if (o instanceof byte[] b) {
            return of(b);
        } else if (o instanceof Boolean b) {
            return of(b);
        } else if (o instanceof List<?> l) {
            List<Value> out = new ArrayList<>(l.size());
            for (Object e : l) {
                out.add(from(e));
            }
            return of(out);
        } else if (o instanceof Map<?, ?> m) {
            Map<Value, Value> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                out.put(from(e.getKey()), from(e.getValue()));
            }
            return of(out);
        }
        throw FerryException.invalid("unsupported value type %s", o == null ? "null" : o.getClass().getName());
    }

    record IntValue(long value) implements Value {
        public Type type() {
            return Type.INT;
        }

        public Object toJava() {
            return value;
        }

        @Override
        public String toString() {
            return Long.toString(value);
        }
    }

    record FloatValue(double value) implements Value {
        public Type type() {
            return Type.FLOAT;
        }

        public Object toJava() {
            return value;
        }

        @Override
        public String toString() {
            return Double.toString(value);
        }
    }

    record StringValue(String value) implements Value {
        public StringValue {
            Objects.requireNonNull(value, "value");
        }

        public Type type() {
            return Type.STRING;
        }

        public Object toJava() {
            return value;
        }

        @Override
        public String toString() {
            return value;
        }
    }

    record BoolValue(boolean value) implements Value {
        private static final BoolValue TRUE = new BoolValue(true);
        private static final BoolValue FALSE = new BoolValue(false);

        static BoolValue of(boolean v) {
            return v ? TRUE : FALSE;
        }

        public Type type() {
            return Type.BOOL;
        }

        public Object toJava() {
            return value;
        }

        @Override
        public String toString() {
            return Boolean.toString(value);
        }
    }

    /** Bytes, compared by content. */
    final class BytesValue implements Value {
        private final byte[] value;

        public BytesValue(byte[] value) {
            this.value = value.clone();
        }

        public byte[] value() {
            return value.clone();
        }

        public int length() {
            return value.length;
        }

        /** The backing array; callers must not modify it. */
        public byte[] unsafeBytes() {
            return value;
        }

        public Type type() {
            return Type.BYTES;
        }

        public Object toJava() {
            return value.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BytesValue b && Arrays.equals(value, b.value);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(value);
        }

        @Override
        public String toString() {
            return "base64:" + Base64.getEncoder().encodeToString(value);
        }
    }

    record ListValue(List<Value> items) implements Value {
        public ListValue {
            items = Collections.unmodifiableList(new ArrayList<>(items));
        }

        public Type type() {
            return Type.LIST;
        }

        public Object toJava() {
            List<Object> out = new ArrayList<>(items.size());
            for (Value v : items) {
                out.add(v.toJava());
            }
            return out;
        }
    }

    record MapValue(Map<Value, Value> entries) implements Value {
        public MapValue {
            entries = Collections.unmodifiableMap(new LinkedHashMap<>(entries));
        }

        public Type type() {
            return Type.MAP;
        }

        public Object toJava() {
            Map<Object, Object> out = new LinkedHashMap<>();
            for (Map.Entry<Value, Value> e : entries.entrySet()) {
                out.put(e.getKey().toJava(), e.getValue().toJava());
            }
            return out;
        }
    }

    /** Approximate encoded size, used for limits before encoding. */
    static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }
}
