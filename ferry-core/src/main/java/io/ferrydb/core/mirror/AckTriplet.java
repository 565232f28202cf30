package io.ferrydb.core.mirror;

import io.ferrydb.core.Verify;

/**
 * What a replica holds of a partition's log, as it reports with every
 * acknowledgement: LSNs {@code [cacheStartLsn, cacheEndLsn]} are only in its volatile
 * cache (a crash loses them), everything up to {@code committedLsn} is durable. An
 * empty cache is {@code cacheStartLsn == committedLsn + 1} and {@code cacheEndLsn == committedLsn}.
 * From these triplets a failover computes exactly which acknowledged writes no
 * surviving replica holds.
 */
public record AckTriplet(long cacheStartLsn, long cacheEndLsn, long committedLsn) {
    public AckTriplet {
        Verify.that(committedLsn >= 0, "committedLsn must be >= 0, got %d", committedLsn);
        Verify.that(cacheStartLsn == committedLsn + 1, "cache must start right after the committed LSN: start=%d committed=%d",
                cacheStartLsn, committedLsn);
        Verify.that(cacheEndLsn >= committedLsn, "cache end %d below committed %d", cacheEndLsn, committedLsn);
    }

    /** Nothing cached: everything received is durable. */
    public static AckTriplet durable(long committedLsn) {
        return new AckTriplet(committedLsn + 1, committedLsn, committedLsn);
    }

    /** The highest LSN received (cached or durable). */
    public long receivedLsn() {
        return cacheEndLsn;
    }

    public long cachedCount() {
        return cacheEndLsn - committedLsn;
    }
}
