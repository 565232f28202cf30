package io.ferrydb.core.clock;

import io.ferrydb.api.Hlc;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HybridLogicalClockTest {
    private static final long T0 = 1_700_000_000_000L;

    @Test
    void physicalPartTracksTheWallClockAndLogicalRestartsAtZero() {
        ManualClock clock = new ManualClock(T0);
        HybridLogicalClock hlc = new HybridLogicalClock(clock);
        long a = hlc.now();
        assertEquals(T0, Hlc.physicalMs(a));
        assertEquals(0, Hlc.logical(a));
        clock.advanceMillis(5);
        long b = hlc.now();
        assertEquals(T0 + 5, Hlc.physicalMs(b));
        assertEquals(0, Hlc.logical(b));
        assertEquals(b, hlc.peek());
    }

    @Test
    void withinOneMillisecondTheLogicalCounterAdvances() {
        ManualClock clock = new ManualClock(T0);
        HybridLogicalClock hlc = new HybridLogicalClock(clock);
        for (int i = 0; i < 10; i++) {
            long ts = hlc.now();
            assertEquals(T0, Hlc.physicalMs(ts));
            assertEquals(i, Hlc.logical(ts));
        }
    }

    @Test
    void staysMonotonicWhenTheWallClockGoesBackwards() {
        ManualClock clock = new ManualClock(T0);
        HybridLogicalClock hlc = new HybridLogicalClock(clock);
        long before = hlc.now();
        clock.setWallMillis(T0 - 60_000);
        long after = hlc.now();
        assertTrue(after > before);
        assertEquals(T0, Hlc.physicalMs(after), "physical part holds at the highest time seen");
        assertEquals(1, Hlc.logical(after));
        // Once the wall clock passes the old high-water mark, it takes over again.
        clock.setWallMillis(T0 + 1);
        long caughtUp = hlc.now();
        assertEquals(Hlc.encode(T0 + 1, 0), caughtUp);
    }

    @Test
    void updateAdvancesPastARemoteTimestamp() {
        ManualClock clock = new ManualClock(T0);
        HybridLogicalClock hlc = new HybridLogicalClock(clock);
        long remote = Hlc.encode(T0 + 10_000, 7);
        long ts = hlc.update(remote);
        assertTrue(ts > remote);
        assertEquals(Hlc.encode(T0 + 10_000, 8), ts);
        assertTrue(hlc.now() > ts);
        assertTrue(hlc.peek() > remote);
    }

    @Test
    void updateWithAnOldRemoteTimestampStillAdvances() {
        ManualClock clock = new ManualClock(T0);
        HybridLogicalClock hlc = new HybridLogicalClock(clock);
        long first = hlc.now();
        long ts = hlc.update(Hlc.encode(T0 - 1000, 3));
        assertTrue(ts > first);
        assertEquals(T0, Hlc.physicalMs(ts));
    }

    @Test
    void logicalOverflowCarriesIntoThePhysicalPartAndStaysMonotonic() {
        ManualClock clock = new ManualClock(T0);
        HybridLogicalClock hlc = new HybridLogicalClock(clock);
        long prev = 0;
        for (int i = 0; i <= (int) Hlc.LOGICAL_MASK + 1; i++) {
            long ts = hlc.now();
            assertTrue(ts > prev);
            prev = ts;
        }
        assertEquals(Hlc.encode(T0 + 1, 0), prev);
    }

    sealed interface Step permits Advance, SetBack, Now, Update {}

    record Advance(long ms) implements Step {}

    record SetBack(long ms) implements Step {}

    record Now() implements Step {}

    /** A timestamp from another node whose wall clock is {@code skewMs} off ours. */
    record Update(long skewMs, int logical) implements Step {}

    @Provide
    Arbitrary<List<Step>> steps() {
        Arbitrary<Step> step = Arbitraries.frequencyOf(
                Tuple.of(2, Arbitraries.longs().between(0, 50).map(Advance::new)),
                Tuple.of(1, Arbitraries.longs().between(1, 5_000).map(SetBack::new)),
                Tuple.of(4, Arbitraries.just(new Now())),
                Tuple.of(2, net.jqwik.api.Combinators.combine(Arbitraries.longs().between(-5_000, 5_000),
                        Arbitraries.integers().between(0, 100)).as(Update::new)));
        return step.list().ofMinSize(1).ofMaxSize(60);
    }

    /**
     * Every timestamp exceeds all issued or received before; its physical part is the
     * highest time seen (wall or remote), and the logical part restarts at 0 whenever
     * the wall clock is ahead of everything seen.
     */
    @Property(tries = 300)
    void timestampsAreStrictlyIncreasingAndTrackTheHighestTimeSeen(@ForAll("steps") List<Step> steps) {
        ManualClock clock = new ManualClock(T0);
        HybridLogicalClock hlc = new HybridLogicalClock(clock);
        long last = 0;
        for (Step s : steps) {
            long received = 0;
            long ts;
            if (s instanceof Advance a) {
                clock.advanceMillis(a.ms());
                continue;
            } else if (s instanceof SetBack b) {
                clock.setWallMillis(clock.wallMillis() - b.ms());
                continue;
            } else if (s instanceof Update u) {
                received = Hlc.encode(clock.wallMillis() + u.skewMs(), u.logical());
                ts = hlc.update(received);
            } else {
                ts = hlc.now();
            }
            long seen = Math.max(last, received);
            assertTrue(ts > seen, () -> Hlc.format(ts) + " not after " + Hlc.format(seen));
            long wall = clock.wallMillis();
            assertEquals(Math.max(wall, Hlc.physicalMs(seen)), Hlc.physicalMs(ts));
            if (wall > Hlc.physicalMs(seen)) {
                assertEquals(0, Hlc.logical(ts));
            } else {
                assertEquals(seen + 1, ts);
            }
            assertEquals(ts, hlc.peek());
            last = ts;
        }
    }
}
