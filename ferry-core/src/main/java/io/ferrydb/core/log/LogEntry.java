package io.ferrydb.core.log;

import io.ferrydb.api.Digest;
import io.ferrydb.core.Verify;
import io.ferrydb.core.record.ByteReader;
import io.ferrydb.core.record.ByteWriter;

/**
 * One partition-log entry: {@code (epoch, lsn, hlc, op, digest, after-image)}. The
 * after-image is the encoded record after the change (a tombstone for deletes and
 * expiries), so the log alone can rebuild the partition and feed change streams.
 *
 * <p>Encoding: u8 version=1 | i32 epoch | i64 lsn | i64 hlc | u8 op | 20 digest | i32+bytes image.
 */
public record LogEntry(int epoch, long lsn, long hlc, LogOp op, Digest digest, byte[] afterImage) {
    private static final int VERSION = 1;

    public LogEntry {
        Verify.that(lsn >= 1, "lsn must be >= 1, got %d", lsn);
        Verify.that(epoch >= 1, "epoch must be >= 1, got %d", epoch);
    }

    public byte[] encode() {
        ByteWriter w = new ByteWriter(46 + afterImage.length);
        w.u8(VERSION).i32(epoch).i64(lsn).i64(hlc).u8(op.code());
        byte[] d = new byte[20];
        digest.copyTo(d, 0);
        return w.bytes(d).blob(afterImage).toByteArray();
    }

    public static LogEntry decode(byte[] bytes) {
        ByteReader r = new ByteReader(bytes);
        int version = r.u8();
        Verify.that(version == VERSION, "unknown log entry version %d", version);
        int epoch = r.i32();
        long lsn = r.i64();
        long hlc = r.i64();
        LogOp op = LogOp.fromCode(r.u8());
        Digest digest = Digest.wrap(r.bytes(20));
        byte[] image = r.blob();
        Verify.that(r.atEnd(), "trailing bytes after log entry lsn=%d", lsn);
        return new LogEntry(epoch, lsn, hlc, op, digest, image);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LogEntry e && epoch == e.epoch && lsn == e.lsn && hlc == e.hlc && op == e.op
                && digest.equals(e.digest) && java.util.Arrays.equals(afterImage, e.afterImage);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(lsn) * 31 + digest.hashCode();
    }

    /** Reads only the hlc, for retention by age without decoding the image. */
    public static long hlcOf(byte[] encoded) {
        ByteReader r = new ByteReader(encoded);
        r.u8();
        r.i32();
        r.i64();
        return r.i64();
    }
}
