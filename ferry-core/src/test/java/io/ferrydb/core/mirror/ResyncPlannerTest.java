package io.ferrydb.core.mirror;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ResyncPlannerTest {
    /** A mirror at lsn 1,000 (epoch 3) of a master at 1,001,000 whose partition holds 2,500 records. */
    private static ResyncPlanner.Input input(long masterFirst, long trackedSince, long trackedKeys, ResyncPath forced) {
        return new ResyncPlanner.Input(1_000, true, 3, 3, masterFirst, 1_001_000, trackedSince, trackedKeys, 2_500, forced);
    }

    @Test
    void takesTheCheapestSufficientPath() {
        assertEquals(ResyncPath.TRACKED, ResyncPlanner.choose(input(1, 900, 2_400, null)).path(),
                "a million log entries cost more than 2,400 tracked keys");
        assertEquals(2_400, ResyncPlanner.choose(input(1, 900, 2_400, null)).records());
        assertEquals(ResyncPath.COPY, ResyncPlanner.choose(input(1, 900, 2_600, null)).path(), "more tracked keys than records");
        assertEquals(ResyncPath.LOG, ResyncPlanner.choose(new ResyncPlanner.Input(1_000, true, 3, 3, 1, 1_010, 900, 10, 2_500, null)).path(),
                "ten entries to replay");
        assertEquals(ResyncPath.COPY, ResyncPlanner.choose(input(5_000, -1, 0, null)).path(), "neither log nor tracking covers 1,001");
        assertEquals(ResyncPath.COPY, ResyncPlanner.choose(input(5_000, 1_002, 10, null)).path(), "tracking began after 1,001");
    }

    @Test
    void aMirrorWhoseLastEntryIsNotTheMastersIsCopied() {
        assertEquals(ResyncPath.COPY, ResyncPlanner.choose(new ResyncPlanner.Input(1_000, true, 2, 3, 1, 1_001_000, 900, 10, 2_500, null)).path());
        assertEquals(ResyncPath.COPY, ResyncPlanner.choose(new ResyncPlanner.Input(1_000, true, 3, 0, 1, 1_001_000, 900, 10, 2_500, null)).path(),
                "the master cannot tell its epoch there");
        assertEquals(ResyncPath.COPY, ResyncPlanner.choose(new ResyncPlanner.Input(2_000, true, 3, 3, 1, 1_500, 900, 10, 2_500, ResyncPath.LOG)).path(),
                "beyond the master's end: a divergent tail, whatever was forced");
        assertEquals(ResyncPath.LOG, ResyncPlanner.choose(new ResyncPlanner.Input(0, false, 0, 0, 1, 10, -1, 0, 50, null)).path(),
                "an empty mirror replays a short complete log");
        assertEquals(ResyncPath.COPY, ResyncPlanner.choose(new ResyncPlanner.Input(0, true, 0, 0, 1, 10, -1, 0, 50, null)).path(),
                "records without a position (an interrupted sync) are not trusted");
    }

    @Test
    void aForcedPathEscalatesWhenItIsNotSufficient() {
        assertEquals(ResyncPath.LOG, ResyncPlanner.choose(input(1, 900, 2_400, ResyncPath.LOG)).path());
        assertEquals(ResyncPath.TRACKED, ResyncPlanner.choose(input(5_000, 900, 2_400, ResyncPath.LOG)).path());
        assertEquals(ResyncPath.COPY, ResyncPlanner.choose(input(5_000, -1, 0, ResyncPath.LOG)).path());
        assertEquals(ResyncPath.COPY, ResyncPlanner.choose(input(1, 900, 2_400, ResyncPath.COPY)).path());
    }
}
