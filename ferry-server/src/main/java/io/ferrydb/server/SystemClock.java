package io.ferrydb.server;

import io.ferrydb.core.clock.Clock;

/** The runtime clock: the system's wall and monotonic clocks. */
public final class SystemClock implements Clock {
    public static final SystemClock INSTANCE = new SystemClock();

    @Override
    public long wallMillis() {
        return System.currentTimeMillis();
    }

    @Override
    public long monotonicNanos() {
        return System.nanoTime();
    }
}
