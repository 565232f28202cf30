package io.ferrydb.core.loss;

import io.ferrydb.api.Digest;
import io.ferrydb.core.Verify;
import io.ferrydb.core.record.ByteReader;
import io.ferrydb.core.record.ByteWriter;

import java.util.ArrayList;
import java.util.List;

/**
 * One entry of the loss ledger: writes of one partition and epoch that a client was
 * (or may have been) told were stored and that no replica holds any more.
 *
 * @param epoch      the epoch the lost writes were made in
 * @param newEpoch   the epoch that replaced them
 * @param fromLsn    lowest lost LSN
 * @param toLsn      highest lost LSN (the range may have holes: {@code count} is exact)
 * @param digests    the lost records' digests where known (at most {@link #MAX_DIGESTS}; {@code count} is the total)
 * @param detectedBy node that found and recorded the loss
 */
public record LossRecord(long id, String namespace, int partition, long epoch, long newEpoch, long fromLsn, long toLsn,
                         long count, List<Digest> digests, Certainty certainty, Kind kind, String detectedBy,
                         long detectedAtMs, String detail) {
    public static final int MAX_DIGESTS = 100_000;
    private static final int VERSION = 1;

    public enum Certainty {
        /** The write's rule acknowledges it once the master holds it: it was acknowledged. */
        ACKNOWLEDGED,
        /** Acknowledged unless the master died between storing and answering, or (ALL+ASYNC) unless the promoted mirror never received it. */
        POSSIBLY_ACKNOWLEDGED
    }

    public enum Kind {
        /** A deposed replica's log went beyond what the new master took over; the entries were truncated. */
        DIVERGENT_TAIL,
        /**
         * Found at failover: the failed master had reported (in its last heartbeat) LSNs beyond
         * what the promoted replica holds. Digests unknown; superseded by the DIVERGENT_TAIL
         * records of the same epoch if the failed master comes back with its log.
         */
        FAILOVER
    }

    /** Whether this FAILOVER record's range is accounted, with digests, by a DIVERGENT_TAIL record among {@code all}. */
    public boolean supersededBy(List<LossRecord> all) {
        if (kind != Kind.FAILOVER) {
            return false;
        }
        for (LossRecord r : all) {
            if (r.kind == Kind.DIVERGENT_TAIL && r.namespace.equals(namespace) && r.partition == partition && r.epoch == epoch
                    && r.fromLsn <= toLsn && r.toLsn >= fromLsn) {
                return true;
            }
        }
        return false;
    }

    public LossRecord {
        Verify.that(count >= 1, "a loss record counts at least one write, got %d", count);
        Verify.that(fromLsn >= 1 && toLsn >= fromLsn, "bad lost LSN range %d..%d", fromLsn, toLsn);
        Verify.that(digests.size() <= count, "%d digests for %d lost writes", digests.size(), count);
        digests = List.copyOf(digests);
    }

    public byte[] encode() {
        ByteWriter w = new ByteWriter(128 + digests.size() * 20);
        w.u8(VERSION).i64(id).shortString(namespace).u16(partition).i64(epoch).i64(newEpoch).i64(fromLsn).i64(toLsn).i64(count)
                .u8(certainty.ordinal()).u8(kind.ordinal()).shortString(detectedBy).i64(detectedAtMs)
                .blob(detail.getBytes(java.nio.charset.StandardCharsets.UTF_8)).i32(digests.size());
        byte[] d = new byte[20];
        for (Digest digest : digests) {
            digest.copyTo(d, 0);
            w.bytes(d);
        }
        return w.toByteArray();
    }

    public static LossRecord decode(byte[] bytes) {
        ByteReader r = new ByteReader(bytes);
        int version = r.u8();
        Verify.that(version == VERSION, "unknown loss record version %d", version);
        long id = r.i64();
        String ns = r.shortString();
        int partition = r.u16();
        long epoch = r.i64();
        long newEpoch = r.i64();
        long from = r.i64();
        long to = r.i64();
        long count = r.i64();
        Certainty certainty = Certainty.values()[r.u8()];
        Kind kind = Kind.values()[r.u8()];
        String by = r.shortString();
        long at = r.i64();
        String detail = new String(r.blob(), java.nio.charset.StandardCharsets.UTF_8);
        int n = r.i32();
        List<Digest> digests = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            digests.add(Digest.wrap(r.bytes(20)));
        }
        Verify.that(r.atEnd(), "trailing bytes after loss record %d", id);
        return new LossRecord(id, ns, partition, epoch, newEpoch, from, to, count, digests, certainty, kind, by, at, detail);
    }
}
