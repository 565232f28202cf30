package io.ferrydb.core.clock;

/** Time as the core sees it: injected, so the simulator can drive it. */
public interface Clock {
    /** Wall-clock milliseconds since the epoch (may jump; used for HLC and expiry). */
    long wallMillis();

    /** Monotonic nanoseconds (for durations and timeouts only). */
    long monotonicNanos();
}
