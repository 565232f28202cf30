package io.ferrydb.core.loss;

import io.ferrydb.api.Digest;
import io.ferrydb.api.Key;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.log.LogOp;
import io.ferrydb.core.mirror.AckTriplet;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FailoverCheckTest {
    private static Digest digest(long lsn) {
        return Key.of("test", "s", "k" + lsn).digest();
    }

    private static List<LogEntry> entries(int epoch, long from, long to) {
        List<LogEntry> out = new ArrayList<>();
        for (long lsn = from; lsn <= to; lsn++) {
            out.add(new LogEntry(epoch, lsn, 1000 + lsn, LogOp.PUT, digest(lsn), new byte[] {1}));
        }
        return out;
    }

    @Test
    void nothingIsLostWhenThePromotedReplicaHoldsWhatEveryoneKnows() {
        FailoverCheck.Survivor behind = FailoverCheck.Survivor.of("n3", new AckTriplet(9, 10, 8), entries(1, 1, 8), entries(1, 9, 10), 12);
        FailoverCheck.Finding f = FailoverCheck.check("n2", 12, 1, "n1", 12, List.of(behind), List.of());
        assertFalse(f.lost());
        assertEquals(0, f.count());
        assertEquals(12, f.maxCommittedLsn(), "the promoted replica's own log is durable once it serves");
        assertEquals(12, f.survivorsEndLsn());
    }

    @Test
    void aSurvivorsCachedTailBeyondThePromotedReplicaIsLostWithItsDigests() {
        // n3 received 11..14 into its cache; the failed master's last heartbeat said 13.
        FailoverCheck.Survivor ahead = FailoverCheck.Survivor.of("n3", new AckTriplet(11, 14, 10), entries(1, 9, 10), entries(1, 11, 14), 10);
        FailoverCheck.Finding f = FailoverCheck.check("n2", 10, 1, "n1", 13, List.of(ahead), List.of("n4"));
        assertTrue(f.lost());
        assertEquals(11, f.lostFromLsn());
        assertEquals(14, f.lostToLsn(), "the survivor's cache end is past the heartbeat: the larger one bounds what was written");
        assertEquals(List.of(digest(11), digest(12), digest(13), digest(14)), f.digests());
        assertEquals(10, f.maxCommittedLsn());
        assertEquals(14, f.survivorsEndLsn());
        assertTrue(f.detail().contains("n3 committed 10, cache 11..14 (gap: 4 beyond n2)"), f.detail());
        assertTrue(f.detail().contains("n4 did not answer"), f.detail());
    }

    @Test
    void digestsComeOnlyFromTheFailedMastersEpochAndTheRestIsCountedWithoutThem() {
        // n3 holds 11..12 durably from epoch 2 and 13 cached from an older epoch 1 (its own stale tail).
        List<LogEntry> logged = entries(2, 11, 12);
        List<LogEntry> cached = entries(1, 13, 13);
        FailoverCheck.Survivor s = FailoverCheck.Survivor.of("n3", new AckTriplet(13, 13, 12), logged, cached, 10);
        FailoverCheck.Finding f = FailoverCheck.check("n2", 10, 2, "n1", 16, List.of(s), List.of());
        assertEquals(11, f.lostFromLsn());
        assertEquals(16, f.lostToLsn());
        assertEquals(6, f.count());
        assertEquals(List.of(digest(11), digest(12)), f.digests());
        assertEquals(12, f.maxCommittedLsn(), "n3 holds 12 durably, beyond the promoted replica");
        assertTrue(f.detail().contains("4 of the lost writes have digests only on n1"), f.detail());
    }

    @Test
    void withoutSurvivorsTheHeartbeatAloneBoundsTheLoss() {
        FailoverCheck.Finding f = FailoverCheck.check("n2", 3, 1, "n1", 7, List.of(), List.of());
        assertEquals(4, f.lostFromLsn());
        assertEquals(7, f.lostToLsn());
        assertEquals(List.of(), f.digests());
        FailoverCheck.Finding unknown = FailoverCheck.check("n2", 3, 1, "n1", -1, List.of(), List.of());
        assertFalse(unknown.lost());
    }
}
