package io.ferrydb.api;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * A record's address: namespace, set and a user key (string, long or bytes).
 * The digest of (set, user key) is what storage, logs and shipping use.
 */
public final class Key {
    private final String namespace;
    private final String set;
    private final KeyType type;
    private final Object userKey;
    private volatile Digest digest;

    public enum KeyType {
        /** Type bytes are the digest input's separators; they must never change. */
        LONG(1), STRING(3), BYTES(4);

        private final int code;

        KeyType(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }

        public static KeyType fromCode(int code) {
            for (KeyType t : values()) {
                if (t.code == code) {
                    return t;
                }
            }
            throw FerryException.invalid("unknown key type code %d", code);
        }
    }

    private Key(String namespace, String set, KeyType type, Object userKey) {
        this.namespace = Objects.requireNonNull(namespace, "namespace");
        this.set = Objects.requireNonNull(set, "set");
        this.type = type;
        this.userKey = Objects.requireNonNull(userKey, "userKey");
    }

    public static Key of(String namespace, String set, String userKey) {
        return new Key(namespace, set, KeyType.STRING, userKey);
    }

    public static Key of(String namespace, String set, long userKey) {
        return new Key(namespace, set, KeyType.LONG, userKey);
    }

    public static Key of(String namespace, String set, byte[] userKey) {
        return new Key(namespace, set, KeyType.BYTES, userKey.clone());
    }

    /** Rebuilds a key from its type and encoded bytes (see {@link #userKeyBytes()}). */
    public static Key fromBytes(String namespace, String set, KeyType type, byte[] bytes) {
        return switch (type) {
            case STRING -> of(namespace, set, new String(bytes, StandardCharsets.UTF_8));
            case LONG -> {
                if (bytes.length != 8) {
                    throw FerryException.invalid("long key must be 8 bytes, got %d", bytes.length);
                }
                long v = 0;
                for (byte b : bytes) {
                    v = (v << 8) | (b & 0xFF);
                }
                yield of(namespace, set, v);
            }
            case BYTES -> of(namespace, set, bytes);
        };
    }

    /** Validates the names and key size, naming the field in the error. */
    public Key validate(String field) {
        Names.checkNamespace(field + ".namespace", namespace);
        Names.checkSet(field + ".set", set);
        int keyBytes = userKeyBytes().length;
        if (type != KeyType.LONG && keyBytes == 0) {
            throw FerryException.invalid("%s.user_key must not be empty", field);
        }
        if (keyBytes > Limits.KEY_BYTES_MAX) {
            throw FerryException.invalid("%s.user_key is %d bytes; the limit is %d", field, keyBytes, Limits.KEY_BYTES_MAX);
        }
        return this;
    }

    public String namespace() {
        return namespace;
    }

    public String set() {
        return set;
    }

    public KeyType type() {
        return type;
    }

    /** The user key as String, Long or byte[] (a copy). */
    public Object userKey() {
        return userKey instanceof byte[] b ? b.clone() : userKey;
    }

    /** The user key encoded as digest input: UTF-8, 8-byte big-endian, or raw bytes. */
    public byte[] userKeyBytes() {
        return switch (type) {
            case STRING -> ((String) userKey).getBytes(StandardCharsets.UTF_8);
            case LONG -> {
                long v = (Long) userKey;
                byte[] b = new byte[8];
                for (int i = 7; i >= 0; i--) {
                    b[i] = (byte) v;
                    v >>>= 8;
                }
                yield b;
            }
            case BYTES -> ((byte[]) userKey).clone();
        };
    }

    public Digest digest() {
        Digest d = digest;
        if (d == null) {
            d = Digest.of(set, type, userKeyBytes());
            digest = d;
        }
        return d;
    }

    public int partition() {
        return digest().partition();
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Key k)) {
            return false;
        }
        return namespace.equals(k.namespace) && set.equals(k.set) && type == k.type
                && (type == KeyType.BYTES ? Arrays.equals((byte[]) userKey, (byte[]) k.userKey) : userKey.equals(k.userKey));
    }

    @Override
    public int hashCode() {
        return Objects.hash(namespace, set, digest());
    }

    @Override
    public String toString() {
        String k = type == KeyType.BYTES ? "0x" + Digest.hex((byte[]) userKey) : String.valueOf(userKey);
        return namespace + ":" + set + ":" + k;
    }
}
