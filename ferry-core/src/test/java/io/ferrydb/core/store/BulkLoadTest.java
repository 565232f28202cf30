package io.ferrydb.core.store;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.clock.ManualClock;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.log.LogOp;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.storage.SimulatedStorage;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A bulk load: records without log entries, one BULK_LOAD boundary, the same on a mirror that follows the stream. */
class BulkLoadTest {
    private static final String NS = "test";
    private static final List<Key> KEYS = TestKeys.inPartition(NS, "s", Key.of(NS, "s", 9L).partition(), 50);
    private static final int P = KEYS.get(0).partition();
    private final ManualClock clock = new ManualClock(1_700_000_000_000L);

    private RecordStore open(SimulatedStorage disk) {
        return RecordStore.open(disk, clock, new HybridLogicalClock(clock), List.of(NamespaceConfig.defaults(NS)), n -> { });
    }

    private static List<BinValidator.NamedValue> bins(long v) {
        return List.of(new BinValidator.NamedValue("v", Value.of(v)));
    }

    @Test
    void recordsComeWithoutLogEntriesBehindOneBoundaryAndAMirrorIngestsThemInPlace() {
        SimulatedStorage masterDisk = new SimulatedStorage();
        RecordStore master = open(masterDisk);
        RecordStore mirror = open(new SimulatedStorage());
        master.put(KEYS.get(0), bins(-1), WritePolicy.DEFAULT);
        List<RecordStore.BulkRecord> records = new ArrayList<>();
        for (int i = 0; i < KEYS.size(); i++) {
            records.add(new RecordStore.BulkRecord(KEYS.get(i), bins(i)));
        }
        RecordStore.BulkPlan plan = master.planBulk(NS, P, 77, records);
        List<LogEntry> marked = new ArrayList<>();
        boolean[] before = new boolean[1];
        LogEntry marker = master.ingestBulk(plan, () -> before[0] = true, marked::add);
        assertTrue(before[0]);
        assertEquals(List.of(marker), marked);
        assertEquals(LogOp.BULK_LOAD, marker.op());
        assertEquals(2, marker.lsn(), "one entry for 50 records");
        assertEquals(77, RecordStore.bulkLoadId(marker));
        master.put(KEYS.get(1), bins(100), WritePolicy.DEFAULT);
        for (int i = 0; i < KEYS.size(); i++) {
            assertEquals(i == 1 ? 100L : (long) i, master.get(KEYS.get(i)).bins().get("v").toJava(), "key " + i);
        }
        assertEquals(1, master.get(KEYS.get(5)).generation(), "a loaded record is new");

        // The mirror: the stream before the boundary, the records at the boundary, the stream after.
        List<LogEntry> log = master.readLog(NS, P, 1, 10);
        assertEquals(3, log.size());
        mirror.applyReplicated(NS, P, log.subList(0, 1));
        mirror.applyBulk(NS, P, plan.keyValues());
        mirror.applyReplicated(NS, P, log.subList(1, 3));
        for (Key k : KEYS) {
            assertEquals(master.get(k), mirror.get(k), "mirror record " + k);
        }

        // Ingested records are durable at once (the SST is synced before it is added).
        masterDisk.crash(new Random(4));
        RecordStore again = open(masterDisk);
        assertEquals((long) 7, again.get(KEYS.get(7)).bins().get("v").toJava());
    }

    @Test
    void badRecordsRefuseTheWholeLoadNamingTheRecord() {
        RecordStore master = open(new SimulatedStorage());
        Key elsewhere = Key.of(NS, "s", "not-in-p");
        List<RecordStore.BulkRecord> records = List.of(new RecordStore.BulkRecord(KEYS.get(0), bins(1)),
                new RecordStore.BulkRecord(elsewhere.partition() == P ? Key.of(NS, "s", "x2") : elsewhere, bins(2)));
        FerryException e = assertThrows(FerryException.class, () -> master.planBulk(NS, P, 1, records));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("records[1].key"), e.getMessage());
        assertEquals(0, master.partitionInfo(NS, P).lastLsn());
    }

    @Test
    void trackingForAnAbsentMirrorIncludesTheLoadedKeys() {
        RecordStore master = open(new SimulatedStorage());
        master.startTracking(NS, P, 1, 1_000);
        master.ingestBulk(master.planBulk(NS, P, 1, List.of(new RecordStore.BulkRecord(KEYS.get(3), bins(3)),
                new RecordStore.BulkRecord(KEYS.get(4), bins(4)))), () -> { }, e -> { });
        assertEquals(2, master.tracking(NS, P).keys());
    }

    @Test
    void trackingThatStartsBehindABulkLoadGivesUp() {
        RecordStore master = open(new SimulatedStorage());
        master.put(KEYS.get(0), bins(0), WritePolicy.DEFAULT);
        master.ingestBulk(master.planBulk(NS, P, 1, List.of(new RecordStore.BulkRecord(KEYS.get(3), bins(3)))), () -> { }, e -> { });
        master.startTracking(NS, P, 1, 1_000); // the away mirror had nothing: its lsn 1 onwards includes the load
        assertTrue(master.tracking(NS, P).overflowed(), "a bulk load's keys are not in the log to seed tracking from");
    }
}
