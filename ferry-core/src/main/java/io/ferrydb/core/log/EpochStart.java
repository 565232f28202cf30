package io.ferrydb.core.log;

import io.ferrydb.core.Verify;
import io.ferrydb.core.record.ByteReader;
import io.ferrydb.core.record.ByteWriter;

import java.util.ArrayList;
import java.util.List;

/**
 * Where an epoch begins in a partition's log: its first LSN. A partition keeps the
 * recent ones (and a copy carries the master's), so a replica can tell which of its
 * entries a later epoch replaced: the divergent tail of a deposed master.
 *
 * @param cacheLost the node that began this epoch as the new master had restarted
 *                  during the epoch before, so it may have lost acknowledged changes
 *                  from its mirror cache
 */
public record EpochStart(long epoch, long startLsn, boolean cacheLost) {
    /** How many a partition keeps. */
    public static final int KEPT = 64;

    public EpochStart {
        Verify.that(epoch >= 1, "epoch must be >= 1, got %d", epoch);
        Verify.that(startLsn >= 1, "startLsn must be >= 1, got %d", startLsn);
    }

    /**
     * The epoch that {@code starts} (in ascending order) put at {@code lsn}, or 0 when
     * the list does not reach back that far.
     */
    public static long epochAt(List<EpochStart> starts, long lsn) {
        long epoch = 0;
        for (EpochStart s : starts) {
            if (s.startLsn > lsn) {
                break;
            }
            epoch = s.epoch;
        }
        return epoch;
    }

    /** {@code starts} with {@code next} appended (replacing starts at or after its LSN), bounded to {@link #KEPT}. */
    public static List<EpochStart> append(List<EpochStart> starts, EpochStart next) {
        List<EpochStart> out = new ArrayList<>(starts.size() + 1);
        for (EpochStart s : starts) {
            Verify.that(s.epoch < next.epoch, "epoch %d starts after epoch %d", next.epoch, s.epoch);
            if (s.startLsn < next.startLsn) {
                out.add(s);
            }
        }
        out.add(next);
        return out.size() > KEPT ? List.copyOf(out.subList(out.size() - KEPT, out.size())) : List.copyOf(out);
    }

    public static byte[] encode(List<EpochStart> starts) {
        ByteWriter w = new ByteWriter(2 + starts.size() * 17);
        w.u16(starts.size());
        for (EpochStart s : starts) {
            w.i64(s.epoch).i64(s.startLsn).u8(s.cacheLost ? 1 : 0);
        }
        return w.toByteArray();
    }

    public static List<EpochStart> decode(byte[] bytes) {
        ByteReader r = new ByteReader(bytes);
        int n = r.u16();
        List<EpochStart> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new EpochStart(r.i64(), r.i64(), r.u8() == 1));
        }
        Verify.that(r.atEnd(), "trailing bytes after %d epoch starts", n);
        return List.copyOf(out);
    }
}
