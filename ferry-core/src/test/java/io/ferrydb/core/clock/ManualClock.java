package io.ferrydb.core.clock;

/**
 * A clock the test drives by hand. The wall clock may be set backwards (as NTP or a
 * restarted VM may do); the monotonic clock only ever moves forward.
 */
public final class ManualClock implements Clock {
    private long wallMs;
    private long monotonicNs;

    public ManualClock(long startWallMs) {
        this.wallMs = startWallMs;
    }

    @Override
    public synchronized long wallMillis() {
        return wallMs;
    }

    @Override
    public synchronized long monotonicNanos() {
        return monotonicNs;
    }

    /** Moves both clocks forward. */
    public synchronized void advanceMillis(long ms) {
        if (ms < 0) {
            throw new IllegalArgumentException("advance must be >= 0, got " + ms);
        }
        wallMs += ms;
        monotonicNs += ms * 1_000_000L;
    }

    /** Sets the wall clock to any value, including the past; the monotonic clock is untouched. */
    public synchronized void setWallMillis(long ms) {
        wallMs = ms;
    }
}
