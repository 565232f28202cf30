package io.ferrydb.core.mirror;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.clock.ManualClock;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.storage.SimulatedStorage;
import io.ferrydb.core.store.RecordStore;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The master's side of a sync, against a real record store: chunks, acknowledgements, escalation. */
class SyncSessionTest {
    private static final String NS = "test";
    private static final Key FIRST = Key.of(NS, "s", 0L);
    private static final int P = FIRST.partition();

    private final ManualClock clock = new ManualClock(1_700_000_000_000L);
    /** The log is kept 60 s. */
    private final RecordStore store = RecordStore.open(new SimulatedStorage(), clock, new HybridLogicalClock(clock),
            List.of(new NamespaceConfig(NS, 2, 0, 1 << 20, 86_400_000L, 1 << 30, 60_000L, Durability.SYNC, CommitLevel.ALL)), n -> { });

    /** {@code n} writes to keys of partition P (each key written once). */
    private List<Key> write(int n) {
        List<Key> keys = new ArrayList<>();
        for (long i = 0; keys.size() < n; i++) {
            Key k = Key.of(NS, "s", i);
            if (k.partition() == P) {
                store.put(k, List.of(new BinValidator.NamedValue("v", Value.of(i))), WritePolicy.DEFAULT);
                keys.add(k);
            }
        }
        return keys;
    }

    private SyncSession session(long mirrorLsn, ResyncPath forced) {
        SyncSession s = new SyncSession(7, NS, P, "n2", null, 3);
        s.planned(SyncStart.prepare(store, NS, P, mirrorLsn, mirrorLsn > 0, mirrorLsn > 0 ? 1 : 0, store.countRecords(NS, P), forced, null));
        return s;
    }

    private static SyncSession.Chunk send(SyncSession.Next n) {
        return assertInstanceOf(SyncSession.Next.Send.class, n).chunk();
    }

    @Test
    void aLogReplayShipsTheEntriesAfterTheMirrorInChunksAndOnlyTheAwaitedAnswerMovesItOn() {
        write(10);
        SyncSession s = session(3, ResyncPath.LOG);
        assertEquals(ResyncPath.LOG, s.plan().path());
        assertEquals(10, s.through());
        SyncSession.Chunk first = send(s.next(store, 4, Integer.MAX_VALUE));
        assertEquals(0, first.seq());
        assertEquals(7, first.session());
        assertEquals(3, first.fence(), "every chunk names the master's epoch, so a mirror that saw a newer one refuses it");
        assertEquals(List.of(4L, 5L, 6L, 7L), first.entries().stream().map(LogEntry::lsn).toList());
        assertFalse(first.last());
        assertEquals(first.entries().stream().mapToInt(e -> e.encode().length).sum(), first.bytes());
        assertFalse(s.movesOn(0), "a stale answer (the probe's, or an older chunk's)");
        assertTrue(s.movesOn(1));
        SyncSession.Chunk second = send(s.next(store, 100, 1));
        assertEquals(List.of(8L), second.entries().stream().map(LogEntry::lsn).toList(), "the byte bound cuts a chunk after one entry");
        SyncSession.Chunk third = send(s.next(store, 100, Integer.MAX_VALUE));
        assertEquals(List.of(9L, 10L), third.entries().stream().map(LogEntry::lsn).toList());
        assertTrue(third.last());
        assertEquals(7, s.shipped());
        assertEquals(first.bytes() + second.bytes() + third.bytes(), s.bytes());
    }

    @Test
    void aCopyShipsEveryRecordAndItsFirstChunkCarriesTheEpochStarts() {
        List<Key> keys = write(5);
        SyncSession s = session(0, ResyncPath.COPY);
        assertEquals(ResyncPath.COPY, s.plan().path());
        SyncSession.Chunk first = send(s.next(store, 2, Integer.MAX_VALUE));
        assertEquals(ResyncPath.COPY, first.kind());
        assertEquals(2, first.records().size());
        assertEquals(store.partitionInfo(NS, P).lastLsn(), first.through());
        SyncSession.Chunk rest = send(s.next(store, 10, Integer.MAX_VALUE));
        assertEquals(3, rest.records().size());
        assertTrue(rest.last());
        assertTrue(rest.starts().isEmpty(), "only the first chunk carries the starts");
        assertEquals(keys.size(), s.shipped());
    }

    @Test
    void aLogReplayWhoseEntriesWereTrimmedEscalatesToTrackedKeys() {
        write(6);
        SyncSession s = session(1, ResyncPath.LOG);
        // Retention trims the log after the plan was made.
        clock.advanceMillis(120_000);
        assertEquals(6, store.trimLog(NS, P));
        SyncSession.Next n = s.next(store, 10, Integer.MAX_VALUE);
        SyncSession.Next.Escalate e = assertInstanceOf(SyncSession.Next.Escalate.class, n);
        assertEquals(ResyncPath.TRACKED, e.floor());
        assertTrue(e.why().contains("lsn 2"), e.why());
        assertEquals(ResyncPath.TRACKED, s.escalation(), "a chunk the mirror could not apply escalates one path up");
    }
}
