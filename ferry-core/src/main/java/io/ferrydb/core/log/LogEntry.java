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
 * {@code ack} is the rule the client was acknowledged under ({@link AckPolicy}): the
 * loss ledger needs it to tell an acknowledged write from one that never was.
 *
 * <p>Encoding: u8 version=2 | i32 epoch | i64 lsn | i64 hlc | u8 op | u8 ack | 20 digest | i32+bytes image
 * (version 1 has no ack byte and decodes as {@link AckPolicy#NONE}).
 */
public record LogEntry(int epoch, long lsn, long hlc, LogOp op, AckPolicy ack, Digest digest, byte[] afterImage) {
    private static final int VERSION = 2;

    public LogEntry {
        Verify.that(lsn >= 1, "lsn must be >= 1, got %d", lsn);
        Verify.that(epoch >= 1, "epoch must be >= 1, got %d", epoch);
        Verify.that(ack != null, "ack policy of lsn %d is null", lsn);
    }

    /** An entry that no client was acknowledged for (expiries, tests). */
    public LogEntry(int epoch, long lsn, long hlc, LogOp op, Digest digest, byte[] afterImage) {
        this(epoch, lsn, hlc, op, AckPolicy.NONE, digest, afterImage);
    }

    /** The length of {@link #encode()}'s result, without encoding. */
    public int encodedLength() {
        return ENCODED_FIXED + afterImage.length;
    }

    /** version, epoch, lsn, hlc, op, ack, digest, image length. */
    private static final int ENCODED_FIXED = 1 + 4 + 8 + 8 + 1 + 1 + 20 + 4;

    public byte[] encode() {
        ByteWriter w = new ByteWriter(ENCODED_FIXED + afterImage.length);
        w.u8(VERSION).i32(epoch).i64(lsn).i64(hlc).u8(op.code()).u8(ack.code());
        byte[] d = new byte[20];
        digest.copyTo(d, 0);
        return w.bytes(d).blob(afterImage).toByteArray();
    }

    public static LogEntry decode(byte[] bytes) {
        ByteReader r = new ByteReader(bytes);
        int version = r.u8();
        Verify.that(version == 1 || version == VERSION, "unknown log entry version %d", version);
        int epoch = r.i32();
        long lsn = r.i64();
        long hlc = r.i64();
        LogOp op = LogOp.fromCode(r.u8());
        AckPolicy ack = version == 1 ? AckPolicy.NONE : AckPolicy.fromCode(r.u8());
        Digest digest = Digest.wrap(r.bytes(20));
        byte[] image = r.blob();
        Verify.that(r.atEnd(), "trailing bytes after log entry lsn=%d", lsn);
        return new LogEntry(epoch, lsn, hlc, op, ack, digest, image);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LogEntry e && epoch == e.epoch && lsn == e.lsn && hlc == e.hlc && op == e.op && ack == e.ack
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
