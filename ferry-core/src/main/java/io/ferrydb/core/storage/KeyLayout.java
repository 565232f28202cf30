package io.ferrydb.core.storage;

import io.ferrydb.api.Digest;
import io.ferrydb.core.Verify;

import java.nio.charset.StandardCharsets;

/**
 * Byte layout of keys. Big-endian numbers so that key order is numeric order.
 * <pre>
 * data: u8 nsLen | ns | u16 partition | digest[20]
 * log:  u8 nsLen | ns | u16 partition | i64 lsn
 * meta partition high-water mark: 'P' | u8 nsLen | ns | u16 partition
 *      value: i32 epoch | i64 lastLsn | i64 lastHlc
 * </pre>
 */
public final class KeyLayout {
    private KeyLayout() {}

    private static final byte META_PARTITION = 'P';

    public static byte[] partitionPrefix(String ns, int partition) {
        byte[] n = ns.getBytes(StandardCharsets.UTF_8);
        byte[] k = new byte[1 + n.length + 2];
        writePrefix(k, n, partition);
        return k;
    }

    private static int writePrefix(byte[] k, byte[] n, int partition) {
        k[0] = (byte) n.length;
        System.arraycopy(n, 0, k, 1, n.length);
        int p = 1 + n.length;
        k[p] = (byte) (partition >>> 8);
        k[p + 1] = (byte) partition;
        return p + 2;
    }

    public static byte[] dataKey(String ns, Digest digest) {
        byte[] n = ns.getBytes(StandardCharsets.UTF_8);
        byte[] k = new byte[1 + n.length + 2 + 20];
        int p = writePrefix(k, n, digest.partition());
        digest.copyTo(k, p);
        return k;
    }

    public static Digest digestOfDataKey(byte[] key) {
        int p = 1 + (key[0] & 0xFF) + 2;
        Verify.that(key.length == p + 20, "data key has %d bytes, expected %d", key.length, p + 20);
        byte[] d = new byte[20];
        System.arraycopy(key, p, d, 0, 20);
        return Digest.wrap(d);
    }

    public static byte[] logKey(String ns, int partition, long lsn) {
        byte[] n = ns.getBytes(StandardCharsets.UTF_8);
        byte[] k = new byte[1 + n.length + 2 + 8];
        int p = writePrefix(k, n, partition);
        for (int i = 7; i >= 0; i--) {
            k[p + i] = (byte) lsn;
            lsn >>>= 8;
        }
        return k;
    }

    public static long lsnOfLogKey(byte[] key) {
        long v = 0;
        for (int i = key.length - 8; i < key.length; i++) {
            v = (v << 8) | (key[i] & 0xFF);
        }
        return v;
    }

    /** First key after every key that starts with {@code prefix}. */
    public static byte[] prefixEnd(byte[] prefix) {
        byte[] end = prefix.clone();
        for (int i = end.length - 1; i >= 0; i--) {
            if (end[i] != (byte) 0xFF) {
                end[i]++;
                return java.util.Arrays.copyOf(end, i + 1);
            }
        }
        throw new IllegalArgumentException("prefix of only 0xFF bytes has no end");
    }

    public static byte[] metaPartitionKey(String ns, int partition) {
        byte[] n = ns.getBytes(StandardCharsets.UTF_8);
        byte[] k = new byte[1 + 1 + n.length + 2];
        k[0] = META_PARTITION;
        System.arraycopy(partitionPrefix(ns, partition), 0, k, 1, 1 + n.length + 2);
        return k;
    }

    public static byte[] metaPartitionValue(int epoch, long lastLsn) {
        return metaPartitionValue(epoch, lastLsn, 0);
    }

    /**
     * The high-water mark with the HLC of the last write: recovery takes the maximum,
     * so the clock never goes back after a restart even when retention emptied a log.
     */
    public static byte[] metaPartitionValue(int epoch, long lastLsn, long lastHlc) {
        byte[] v = new byte[20];
        for (int i = 19; i >= 12; i--) {
            v[i] = (byte) lastHlc;
            lastHlc >>>= 8;
        }
        for (int i = 3; i >= 0; i--) {
            v[i] = (byte) epoch;
            epoch >>>= 8;
        }
        for (int i = 11; i >= 4; i--) {
            v[i] = (byte) lastLsn;
            lastLsn >>>= 8;
        }
        return v;
    }

    public static int epochOfMeta(byte[] v) {
        return ((v[0] & 0xFF) << 24) | ((v[1] & 0xFF) << 16) | ((v[2] & 0xFF) << 8) | (v[3] & 0xFF);
    }

    public static long hlcOfMeta(byte[] v) {
        long x = 0;
        for (int i = 12; i < 20; i++) {
            x = (x << 8) | (v[i] & 0xFF);
        }
        return x;
    }

    public static long lastLsnOfMeta(byte[] v) {
        long x = 0;
        for (int i = 4; i < 12; i++) {
            x = (x << 8) | (v[i] & 0xFF);
        }
        return x;
    }
}
