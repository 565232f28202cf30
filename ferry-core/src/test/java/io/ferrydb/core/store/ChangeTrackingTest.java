package io.ferrydb.core.store;

import io.ferrydb.api.Digest;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.clock.ManualClock;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.storage.SimulatedStorage;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Change tracking on a master while a mirror is away, and a resync by tracked keys into a lagging mirror. */
class ChangeTrackingTest {
    private static final String NS = "test";
    private static final List<Key> KEYS = TestKeys.inPartition(NS, "s", Key.of(NS, "s", 0L).partition(), 8);
    private static final int P = KEYS.get(0).partition();
    private static final NamespaceConfig CFG = NamespaceConfig.defaults(NS);

    private final ManualClock clock = new ManualClock(1_700_000_000_000L);

    private RecordStore open(SimulatedStorage disk) {
        return RecordStore.open(disk, clock, new HybridLogicalClock(clock), List.of(CFG), n -> { });
    }

    private static void put(RecordStore s, Key k, long v) {
        s.put(k, List.of(new BinValidator.NamedValue("v", Value.of(v))), WritePolicy.DEFAULT);
    }

    @Test
    void aKeyWrittenManyTimesIsTrackedOnceAndShippedAsItIsNow() {
        SimulatedStorage masterDisk = new SimulatedStorage();
        RecordStore master = open(masterDisk);
        RecordStore mirror = open(new SimulatedStorage());
        for (int i = 0; i < 4; i++) {
            put(master, KEYS.get(i), 0);
        }
        mirror.applyReplicated(NS, P, master.readLog(NS, P, 1, 100)); // in sync through lsn 4, then away
        master.startTracking(NS, P, 5, 100);
        for (int round = 1; round <= 1_000; round++) {
            put(master, KEYS.get(0), round);
        }
        put(master, KEYS.get(5), 7);
        master.delete(KEYS.get(1), WritePolicy.DEFAULT);
        assertEquals(new RecordStore.TrackingInfo(5, 3, 100, false), master.tracking(NS, P), "1,002 writes, 3 keys");

        // Tracking survives a restart of the master.
        masterDisk.sync();
        masterDisk.crash(new Random(3));
        master = open(masterDisk);
        assertEquals(new RecordStore.TrackingInfo(5, 3, 100, false), master.tracking(NS, P));

        assertNull(master.snapshotTracked(NS, P, 4), "tracking began after lsn 4: not sufficient for a mirror at 3");
        RecordStore.TrackedSnapshot ts = master.snapshotTracked(NS, P, 5);
        assertNotNull(ts);
        assertEquals(3, ts.snapshot().records().size() + ts.gone().size());
        assertEquals(1006, ts.snapshot().lastLsn());

        mirror.beginSync(NS, P, false, ts.snapshot().epoch(), ts.snapshot().lastLsn(), ts.snapshot().epochStarts(), "n2");
        mirror.applySyncRecords(NS, P, ts.snapshot().records(), ts.gone());
        mirror.finishSync(NS, P, ts.snapshot().epoch(), ts.snapshot().lastLsn(), ts.snapshot().lastHlc(), ts.snapshot().epochStarts());
        for (Key k : KEYS) {
            assertEquals(master.get(k), mirror.get(k), "record " + k);
        }
        assertEquals(1006, mirror.partitionInfo(NS, P).lastLsn());
        // The stream continues after the sync point.
        put(master, KEYS.get(2), 9);
        mirror.applyReplicated(NS, P, master.readLog(NS, P, 1007, 10));
        assertEquals(master.get(KEYS.get(2)), mirror.get(KEYS.get(2)));

        master.stopTracking(NS, P);
        assertNull(master.tracking(NS, P));
    }

    @Test
    void pastItsBoundTrackingGivesUpAndOnlyACopyWillDo() {
        RecordStore master = open(new SimulatedStorage());
        master.startTracking(NS, P, 1, 2);
        for (int i = 0; i < 5; i++) {
            put(master, KEYS.get(i), i);
        }
        RecordStore.TrackingInfo t = master.tracking(NS, P);
        assertTrue(t.overflowed());
        assertEquals(2, t.keys());
        assertNull(master.snapshotTracked(NS, P, 1));
    }

    @Test
    void startingLateSeedsTheDigestsAlreadyLogged() {
        RecordStore master = open(new SimulatedStorage());
        put(master, KEYS.get(0), 1);
        put(master, KEYS.get(1), 1);
        put(master, KEYS.get(1), 2);
        master.startTracking(NS, P, 2, 100); // the mirror had lsn 1 durably
        RecordStore.TrackedSnapshot ts = master.snapshotTracked(NS, P, 2);
        assertEquals(List.of(KEYS.get(1).digest()), ts.snapshot().records().stream()
                .map(b -> io.ferrydb.core.record.RecordCodec.decode(b).digest()).toList());
        master.startTracking(NS, P, 3, 100);
        assertEquals(2, master.tracking(NS, P).sinceLsn(), "an earlier start is kept");
        List<Digest> none = master.snapshotTracked(NS, P, 2).gone();
        assertEquals(List.of(), none);
    }
}
