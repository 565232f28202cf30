package io.ferrydb.core.mirror;

import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.log.LogOp;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MirrorPartitionTest {
    private static final String NS = "test";
    private static final int P = 7;
    private static final MirrorPartition.Config CONFIG = new MirrorPartition.Config(4, 100);

    static LogEntry entry(long epoch, long lsn) {
        return new LogEntry((int) epoch, lsn, 1000 + lsn, LogOp.PUT, io.ferrydb.api.Key.of(NS, "s", "k" + lsn).digest(),
                new byte[] {(byte) lsn});
    }

    static ReplicateBatch batch(long epoch, long prevLsn, int count, long durableThrough) {
        List<LogEntry> es = new ArrayList<>();
        for (long lsn = prevLsn + 1; lsn <= prevLsn + count; lsn++) {
            es.add(entry(epoch, lsn));
        }
        return new ReplicateBatch(NS, P, epoch, prevLsn, es, durableThrough);
    }

    private static AckTriplet ackOf(MirrorPartition.Step s) {
        return assertInstanceOf(MirrorReply.Acked.class, s.reply()).holds();
    }

    @Test
    void asyncChangesAreAcknowledgedFromCacheAndFlushedBySizeAndAge() {
        MirrorPartition m = new MirrorPartition(NS, P, 1, 0, CONFIG);
        MirrorPartition.Step s = m.onBatch(batch(1, 0, 2, 0), 0);
        assertEquals(new AckTriplet(1, 2, 0), ackOf(s), "acknowledged from cache: 1..2 volatile, nothing durable");
        assertNull(s.flush(), "two cached changes, young: no flush yet");
        assertNull(m.tick(99));
        MirrorPartition.Flush byAge = m.tick(100);
        assertNotNull(byAge, "the oldest change reached the flush interval");
        assertEquals(List.of(1L, 2L), byAge.entries().stream().map(LogEntry::lsn).toList());
        assertTrue(!byAge.fsync());
        // While the flush runs, more changes arrive and are acknowledged from cache.
        assertEquals(new AckTriplet(1, 5, 0), ackOf(m.onBatch(batch(1, 2, 3, 0), 110)));
        MirrorPartition.Step done = m.onFlushed(byAge, 120);
        assertEquals(new AckTriplet(3, 5, 2), ackOf(done));
        assertNull(done.flush(), "3 cached < capacity 4 and young");
        MirrorPartition.Step full = m.onBatch(batch(1, 5, 1, 0), 130);
        assertEquals(new AckTriplet(3, 6, 2), ackOf(full));
        assertNotNull(full.flush(), "cache reached its capacity");
        assertEquals(3, full.flush().entries().get(0).lsn());
        assertEquals(AckTriplet.durable(6), ackOf(m.onFlushed(full.flush(), 140)));
    }

    @Test
    void aSyncChangeIsAcknowledgedOnlyOnceDurable() {
        MirrorPartition m = new MirrorPartition(NS, P, 1, 10, CONFIG);
        MirrorPartition.Step s = m.onBatch(batch(1, 10, 2, 12), 0);
        assertNull(s.reply(), "no acknowledgement before the SYNC change is on disk");
        assertNotNull(s.flush());
        assertTrue(s.flush().fsync());
        // A later ASYNC batch arriving before the flush completes must not acknowledge early either.
        assertNull(m.onBatch(batch(1, 12, 1, 0), 1).reply());
        MirrorPartition.Step done = m.onFlushed(s.flush(), 5);
        assertEquals(new AckTriplet(13, 13, 12), ackOf(done), "12 durable, 13 still cached");
    }

    @Test
    void staleEpochsGapsAndResendsAreHandled() {
        MirrorPartition m = new MirrorPartition(NS, P, 3, 0, CONFIG);
        ackOf(m.onBatch(batch(3, 0, 2, 0), 0));
        MirrorReply.Refused stale = assertInstanceOf(MirrorReply.Refused.class, m.onBatch(batch(2, 2, 1, 0), 1).reply());
        assertEquals(MirrorReply.Reason.STALE_EPOCH, stale.reason());
        MirrorReply.Refused gap = assertInstanceOf(MirrorReply.Refused.class, m.onBatch(batch(3, 4, 1, 0), 2).reply());
        assertEquals(MirrorReply.Reason.GAP, gap.reason());
        assertEquals(3, gap.expectedLsn(), "resend from the first missing LSN");
        // A resend overlapping what is held applies only the new part.
        assertEquals(new AckTriplet(1, 4, 0), ackOf(m.onBatch(batch(3, 1, 3, 0), 3)));
    }

    @Test
    void aNewMasterReplacesTheCachedTailButNotTheDurableOne() {
        MirrorPartition m = new MirrorPartition(NS, P, 1, 0, new MirrorPartition.Config(100, 1000));
        MirrorPartition.Step sync = m.onBatch(batch(1, 0, 3, 3), 0);
        m.onFlushed(sync.flush(), 1);
        ackOf(m.onBatch(batch(1, 3, 3, 0), 2)); // 4..6 cached
        // Epoch 2's master had only up to 4: the mirror's cached 5..6 were never durable here.
        MirrorPartition.Step s = m.onBatch(batch(2, 4, 1, 0), 3);
        assertEquals(new AckTriplet(4, 5, 3), ackOf(s));
        assertEquals(2, m.epoch());
        // Epoch 3's master continues from 2, below the durable 3: only a resync can fix that.
        MirrorReply.Refused diverged = assertInstanceOf(MirrorReply.Refused.class, m.onBatch(batch(3, 2, 1, 0), 4).reply());
        assertEquals(MirrorReply.Reason.DIVERGED, diverged.reason());
        assertEquals(2, m.epoch(), "a refused batch does not move the epoch");
    }

    /**
     * The same master's epoch moved on (another replica changed) and it resent from below
     * what this mirror had made durable, its acknowledgement still on the way: the batch
     * carries the very entry at the mirror's durable end, so the history is the same and
     * the batch continues it. One written in another epoch at that LSN is DIVERGED, and so
     * is any when the mirror does not know its entry's epoch.
     */
    @Test
    void aNewEpochsResendCarryingTheDurableEndContinuesTheMirror() {
        MirrorPartition m = new MirrorPartition(NS, P, 1, 0, new MirrorPartition.Config(100, 1000));
        MirrorPartition.Step sync = m.onBatch(batch(1, 0, 5, 5), 0);
        m.onFlushed(sync.flush(), 1); // durable through 5, written in epoch 1
        ackOf(m.onBatch(batch(1, 5, 1, 0), 2)); // 6 cached
        // Epoch 2 of the same master: entries 4..6 of epoch 1 resent, then 7 of epoch 2.
        List<LogEntry> resend = new ArrayList<>(batch(1, 3, 3, 0).entries());
        resend.add(entry(2, 7));
        MirrorPartition.Step s = m.onBatch(new ReplicateBatch(NS, P, 2, 3, resend, 0), 3);
        assertEquals(new AckTriplet(6, 7, 5), ackOf(s), "6..7 cached on top of the durable 5");
        assertEquals(2, m.epoch());
        // A SYNC change makes 6..8 flush; while that flush runs, epoch 3's resend carrying 8 continues too.
        MirrorPartition.Step syncing = m.onBatch(batch(2, 7, 1, 8), 4);
        assertNotNull(syncing.flush());
        List<LogEntry> again = List.of(entry(1, 6), entry(2, 7), entry(2, 8), entry(3, 9));
        assertNull(m.onBatch(new ReplicateBatch(NS, P, 3, 5, again, 0), 5).reply(), "8 is still to be made durable");
        assertEquals(3, m.epoch());
        assertEquals(new AckTriplet(9, 9, 8), ackOf(m.onFlushed(syncing.flush(), 6)));

        // Another master's epoch 4 that wrote lsn 5 itself: a different history.
        MirrorPartition other = new MirrorPartition(NS, P, 1, 0, new MirrorPartition.Config(100, 1000));
        other.onFlushed(other.onBatch(batch(1, 0, 5, 5), 0).flush(), 1);
        MirrorReply.Refused diverged = assertInstanceOf(MirrorReply.Refused.class, other.onBatch(batch(4, 4, 2, 0), 2).reply());
        assertEquals(MirrorReply.Reason.DIVERGED, diverged.reason());
        // A mirror that does not know its durable entry's epoch cannot tell: DIVERGED.
        MirrorPartition unknown = new MirrorPartition(NS, P, 1, 5, CONFIG);
        assertEquals(MirrorReply.Reason.DIVERGED,
                assertInstanceOf(MirrorReply.Refused.class, unknown.onBatch(new ReplicateBatch(NS, P, 2, 3,
                        batch(1, 3, 3, 0).entries(), 0), 0).reply()).reason());
        MirrorPartition known = new MirrorPartition(NS, P, 1, 5, 1, CONFIG);
        ackOf(known.onBatch(new ReplicateBatch(NS, P, 2, 3, batch(1, 3, 3, 0).entries(), 0), 0));
        // A new epoch's batch starting more than 2^31 LSNs below the durable end: refused, not an index out of range.
        MirrorPartition far = new MirrorPartition(NS, P, 1, 3_000_000_000L, 1, CONFIG);
        assertEquals(MirrorReply.Reason.DIVERGED, assertInstanceOf(MirrorReply.Refused.class, far.onBatch(batch(2, 0, 1, 0), 0).reply()).reason());
    }

    @Test
    void aCrashLosesExactlyTheCachedChanges() {
        MirrorPartition m = new MirrorPartition(NS, P, 1, 0, new MirrorPartition.Config(3, 1000));
        MirrorPartition.Step s = m.onBatch(batch(1, 0, 3, 0), 0);
        m.onFlushed(s.flush(), 1);
        assertEquals(new AckTriplet(4, 5, 3), ackOf(m.onBatch(batch(1, 3, 2, 0), 2)));
        m.crash();
        assertEquals(AckTriplet.durable(3), m.holds(), "4..5 were acknowledged from cache and are gone");
        MirrorReply.Refused gap = assertInstanceOf(MirrorReply.Refused.class, m.onBatch(batch(1, 5, 1, 0), 3).reply());
        assertEquals(4, gap.expectedLsn());
    }
}
