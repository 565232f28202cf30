package io.ferrydb.core.clock;

import io.ferrydb.api.Hlc;
import io.ferrydb.core.Verify;

/**
 * A hybrid logical clock (Kulkarni et al. 2014): timestamps that never go backwards,
 * advance past every timestamp received from another node ({@link #update}), and stay
 * close to physical time. Thread-safe; the physical clock is injected.
 */
public final class HybridLogicalClock {
    private final Clock clock;
    private long last;

    public HybridLogicalClock(Clock clock) {
        this.clock = clock;
    }

    /** A new timestamp, strictly greater than every one issued or received before. */
    public synchronized long now() {
        long physical = Hlc.encode(clock.wallMillis(), 0);
        long next = physical > last ? physical : last + 1;
        Verify.that(next > last, "hlc did not advance: last=%d next=%d", last, next);
        last = next;
        return next;
    }

    /** Advances past a timestamp seen in a message or on disk, and returns a new timestamp. */
    public synchronized long update(long remote) {
        if (remote > last) {
            last = remote;
        }
        return now();
    }

    /** The last issued timestamp, without issuing a new one. */
    public synchronized long peek() {
        return last;
    }
}
