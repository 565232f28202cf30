package io.ferrydb.api;

/**
 * Hybrid logical clock timestamps: 48 bits of physical milliseconds since the epoch,
 * then 16 bits of logical counter (Kulkarni et al., "Logical Physical Clocks", 2014).
 * They order like longs and stay within a few milliseconds of wall time.
 */
public final class Hlc {
    private Hlc() {}

    public static final int LOGICAL_BITS = 16;
    public static final long LOGICAL_MASK = (1L << LOGICAL_BITS) - 1;

    public static long encode(long physicalMs, long logical) {
        return (physicalMs << LOGICAL_BITS) | (logical & LOGICAL_MASK);
    }

    public static long physicalMs(long hlc) {
        return hlc >>> LOGICAL_BITS;
    }

    public static int logical(long hlc) {
        return (int) (hlc & LOGICAL_MASK);
    }

    public static String format(long hlc) {
        return java.time.Instant.ofEpochMilli(physicalMs(hlc)) + "+" + logical(hlc);
    }
}
