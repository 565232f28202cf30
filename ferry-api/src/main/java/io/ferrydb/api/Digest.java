package io.ferrydb.api;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * The 20-byte digest of a record's (set, user key): every internal path (storage,
 * logs, shipping) addresses records by it.
 *
 * <p>The function is fixed forever once data exists:
 * {@code SHA-1( utf8(set) || keyTypeByte || keyBytes )} where keyTypeByte is 1 for
 * long, 3 for string, 4 for bytes; keyBytes are 8 bytes big-endian for a long, UTF-8
 * for a string, the raw bytes for bytes. Set names cannot contain control characters,
 * so the type byte separates set and key unambiguously. SHA-1 is used for spread, not
 * for security (the same role RIPEMD-160 plays in Aerospike).
 *
 * <p>The partition is {@code (d[0] | d[1] << 8) & 0xFFF}: the low 12 bits of the
 * little-endian first two bytes, 4096 partitions per namespace.
 */
public final class Digest implements Comparable<Digest> {
    private static final ThreadLocal<MessageDigest> SHA1 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK must provide SHA-1", e);
        }
    });
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final byte[] bytes;

    private Digest(byte[] bytes) {
        this.bytes = bytes;
    }

    public static Digest of(String set, Key.KeyType type, byte[] keyBytes) {
        MessageDigest md = SHA1.get();
        md.reset();
        md.update(set.getBytes(StandardCharsets.UTF_8));
        md.update((byte) type.code());
        md.update(keyBytes);
        return new Digest(md.digest());
    }

    public static Digest wrap(byte[] bytes) {
        if (bytes.length != Limits.DIGEST_LENGTH_BYTES) {
            throw FerryException.invalid("digest must be %d bytes, got %d", Limits.DIGEST_LENGTH_BYTES, bytes.length);
        }
        return new Digest(bytes.clone());
    }

    public static Digest fromHex(String hex) {
        if (hex.length() != Limits.DIGEST_LENGTH_BYTES * 2) {
            throw FerryException.invalid("digest hex must be %d characters", Limits.DIGEST_LENGTH_BYTES * 2);
        }
        byte[] b = new byte[Limits.DIGEST_LENGTH_BYTES];
        for (int i = 0; i < b.length; i++) {
            int hi = Character.digit(hex.charAt(2 * i), 16);
            int lo = Character.digit(hex.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) {
                throw FerryException.invalid("digest hex has a non-hex character near index %d", 2 * i);
            }
            b[i] = (byte) (hi << 4 | lo);
        }
        return new Digest(b);
    }

    public int partition() {
        return partitionOf(bytes);
    }

    public static int partitionOf(byte[] digest) {
        return ((digest[0] & 0xFF) | ((digest[1] & 0xFF) << 8)) & (Limits.PARTITION_COUNT - 1);
    }

    /** A copy of the 20 bytes. */
    public byte[] toBytes() {
        return bytes.clone();
    }

    /** Writes the 20 bytes into {@code dst} at {@code offset} without copying twice. */
    public void copyTo(byte[] dst, int offset) {
        System.arraycopy(bytes, 0, dst, offset, bytes.length);
    }

    public String toHex() {
        return hex(bytes);
    }

    static String hex(byte[] b) {
        char[] c = new char[b.length * 2];
        for (int i = 0; i < b.length; i++) {
            c[2 * i] = HEX[(b[i] >> 4) & 0xF];
            c[2 * i + 1] = HEX[b[i] & 0xF];
        }
        return new String(c);
    }

    @Override
    public int compareTo(Digest o) {
        return Arrays.compareUnsigned(bytes, o.bytes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Digest d && Arrays.equals(bytes, d.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return toHex();
    }
}
