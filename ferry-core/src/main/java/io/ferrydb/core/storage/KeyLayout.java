package io.ferrydb.core.storage;

import io.ferrydb.api.Digest;
import io.ferrydb.core.Verify;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte layout of keys. Big-endian numbers so that key order is numeric order.
 * <pre>
 * data: u32 nsCode | u16 partition | digest[20]
 * log:  u32 nsCode | u16 partition | i64 lsn
 * meta partition high-water mark: 'P' | u8 nsLen | ns | u16 partition
 *      value: i32 epoch | i64 lastLsn | i64 lastHlc
 * meta epoch starts: 'E' | u8 nsLen | ns | u16 partition (value: EpochStart list)
 * meta loss ledger:  'L' | i64 id (value: LossRecord)
 * meta change tracking: 'S' | u8 nsLen | ns | u16 partition (since LSN, bound, overflowed);
 *      tracked digests 'T' | u8 nsLen | ns | u16 partition | digest[20] (empty value)
 * </pre>
 * Data and log keys start with a fixed 6-byte partition prefix, so RocksDB can bucket
 * its memtables by partition (a hash of small skiplists instead of one large one).
 * nsCode is the first 4 bytes of SHA-1("ferry-ns:" + name); a node refuses to start
 * with two namespaces whose codes collide.
 */
public final class KeyLayout {
    private KeyLayout() {}

    /** Length of the partition prefix of data and log keys. */
    public static final int PREFIX_LENGTH = 6;
    private static final byte META_PARTITION = 'P';
    private static final byte META_EPOCH_STARTS = 'E';
    private static final byte META_LOSS = 'L';
    private static final byte META_TRACKING = 'S';
    private static final byte META_TRACKED = 'T';
    private static final byte META_REWRITING = 'R';
    private static final Map<String, byte[]> NS_CODES = new ConcurrentHashMap<>();

    /** The namespace's 4-byte code (a copy). */
    public static byte[] namespaceCode(String ns) {
        return code(ns).clone();
    }

    private static byte[] code(String ns) {
        return NS_CODES.computeIfAbsent(ns, n -> {
            try {
                byte[] sha = MessageDigest.getInstance("SHA-1").digest(("ferry-ns:" + n).getBytes(StandardCharsets.UTF_8));
                return Arrays.copyOf(sha, 4);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("the JDK must provide SHA-1", e);
            }
        });
    }

    private static void writePrefix(byte[] k, String ns, int partition) {
        System.arraycopy(code(ns), 0, k, 0, 4);
        k[4] = (byte) (partition >>> 8);
        k[5] = (byte) partition;
    }

    public static byte[] partitionPrefix(String ns, int partition) {
        byte[] k = new byte[PREFIX_LENGTH];
        writePrefix(k, ns, partition);
        return k;
    }

    public static byte[] dataKey(String ns, Digest digest) {
        byte[] k = new byte[PREFIX_LENGTH + 20];
        writePrefix(k, ns, digest.partition());
        digest.copyTo(k, PREFIX_LENGTH);
        return k;
    }

    public static Digest digestOfDataKey(byte[] key) {
        Verify.that(key.length == PREFIX_LENGTH + 20, "data key has %d bytes, expected %d", key.length, PREFIX_LENGTH + 20);
        byte[] d = new byte[20];
        System.arraycopy(key, PREFIX_LENGTH, d, 0, 20);
        return Digest.wrap(d);
    }

    public static byte[] logKey(String ns, int partition, long lsn) {
        byte[] k = new byte[PREFIX_LENGTH + 8];
        writePrefix(k, ns, partition);
        for (int i = 7; i >= 0; i--) {
            k[PREFIX_LENGTH + i] = (byte) lsn;
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
                return Arrays.copyOf(end, i + 1);
            }
        }
        throw new IllegalArgumentException("prefix of only 0xFF bytes has no end");
    }

    public static byte[] metaPartitionKey(String ns, int partition) {
        byte[] n = ns.getBytes(StandardCharsets.UTF_8);
        byte[] k = new byte[1 + 1 + n.length + 2];
        k[0] = META_PARTITION;
        k[1] = (byte) n.length;
        System.arraycopy(n, 0, k, 2, n.length);
        k[2 + n.length] = (byte) (partition >>> 8);
        k[3 + n.length] = (byte) partition;
        return k;
    }

    /** Where a partition's recent epochs began: 'E' | u8 nsLen | ns | u16 partition. */
    public static byte[] metaEpochStartsKey(String ns, int partition) {
        byte[] k = metaPartitionKey(ns, partition);
        k[0] = META_EPOCH_STARTS;
        return k;
    }

    /** A partition's change tracking (since LSN, bound, overflowed): 'S' | u8 nsLen | ns | u16 partition. */
    public static byte[] metaTrackingKey(String ns, int partition) {
        byte[] k = metaPartitionKey(ns, partition);
        k[0] = META_TRACKING;
        return k;
    }

    /** Present while a sync rewrites the partition (between its first chunk and its last): 'R' | u8 nsLen | ns | u16 partition. */
    public static byte[] metaRewritingKey(String ns, int partition) {
        byte[] k = metaPartitionKey(ns, partition);
        k[0] = META_REWRITING;
        return k;
    }

    /** Tracked digests of a partition: 'T' | u8 nsLen | ns | u16 partition | digest[20]. */
    public static byte[] trackedPrefix(String ns, int partition) {
        byte[] k = metaPartitionKey(ns, partition);
        k[0] = META_TRACKED;
        return k;
    }

    public static byte[] trackedKey(String ns, int partition, Digest digest) {
        byte[] prefix = trackedPrefix(ns, partition);
        byte[] k = Arrays.copyOf(prefix, prefix.length + 20);
        digest.copyTo(k, prefix.length);
        return k;
    }

    public static Digest digestOfTrackedKey(byte[] key) {
        return Digest.wrap(Arrays.copyOfRange(key, key.length - 20, key.length));
    }

    /** All loss-ledger records: 'L' | i64 id (big-endian, so they list in id order). */
    public static byte[] lossPrefix() {
        return new byte[] {META_LOSS};
    }

    public static byte[] lossKey(long id) {
        byte[] k = new byte[9];
        k[0] = META_LOSS;
        for (int i = 8; i >= 1; i--) {
            k[i] = (byte) id;
            id >>>= 8;
        }
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
