package io.ferrydb.core.mirror;

import io.ferrydb.core.Verify;
import io.ferrydb.core.log.LogEntry;

import java.util.List;

/**
 * Master to mirror: consecutive log entries of one partition, sent in the master's
 * epoch right after {@code prevLsn}. {@code durableThroughLsn} is the highest LSN of
 * the batch whose write asked for SYNC durability: the mirror acknowledges it only
 * once it is durable (0 when every entry is ASYNC and may be acknowledged from cache).
 */
public record ReplicateBatch(String namespace, int partition, long epoch, long prevLsn, List<LogEntry> entries,
                             long durableThroughLsn) {
    public ReplicateBatch {
        entries = List.copyOf(entries);
        Verify.that(epoch >= 1, "batch epoch must be >= 1, got %d", epoch);
        Verify.that(prevLsn >= 0, "prevLsn must be >= 0, got %d", prevLsn);
        long expect = prevLsn + 1;
        for (LogEntry e : entries) {
            Verify.that(e.lsn() == expect, "batch of %s/%d not consecutive: expected lsn %d, got %d", namespace, partition, expect, e.lsn());
            Verify.that(e.epoch() <= epoch, "entry epoch %d above batch epoch %d", e.epoch(), epoch);
            expect++;
        }
        Verify.that(durableThroughLsn == 0 || durableThroughLsn > prevLsn && durableThroughLsn < expect,
                "durableThroughLsn %d outside the batch (%d, %d)", durableThroughLsn, prevLsn, expect - 1);
    }

    public long lastLsn() {
        return prevLsn + entries.size();
    }
}
