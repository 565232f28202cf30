package io.ferrydb.core.store;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.clock.ManualClock;
import io.ferrydb.core.log.AckPolicy;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.loss.DivergentTail;
import io.ferrydb.core.loss.LossRecord;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.storage.SimulatedStorage;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A deposed master's divergent tail: what a copy from the new master truncates, and
 * which of it the loss ledger records (only what clients were or may have been told).
 */
class DivergentTailTest {
    private static final String NS = "test";
    private static final List<Key> KEYS = TestKeys.inPartition(NS, "s", Key.of(NS, "s", 0L).partition(), 12);
    private static final int P = KEYS.get(0).partition();
    private static final NamespaceConfig CFG = NamespaceConfig.defaults(NS);

    private final ManualClock clock = new ManualClock(1_700_000_000_000L);

    private RecordStore open(SimulatedStorage disk) {
        return RecordStore.open(disk, clock, new HybridLogicalClock(clock), List.of(CFG), n -> { });
    }

    private static void put(RecordStore s, Key k, CommitLevel level, Durability durability) {
        s.put(k, List.of(new BinValidator.NamedValue("v", Value.of(k.toString()))),
                WritePolicy.DEFAULT.withCommitLevel(level).withDurability(durability));
    }

    @Test
    void logEntriesCarryTheResolvedAckPolicy() {
        RecordStore s = open(new SimulatedStorage());
        put(s, KEYS.get(0), CommitLevel.MASTER, Durability.ASYNC);
        s.put(KEYS.get(1), List.of(new BinValidator.NamedValue("v", Value.of(1L))), WritePolicy.DEFAULT); // namespace default ALL+SYNC
        List<LogEntry> log = s.readLog(NS, P, 1, 10);
        assertEquals(AckPolicy.MASTER_ASYNC, log.get(0).ack());
        assertEquals(AckPolicy.ALL_SYNC, log.get(1).ack());
    }

    @Test
    void copyFromANewEpochRecordsTheAcknowledgedPartOfTheDivergentTail() {
        SimulatedStorage oldDisk = new SimulatedStorage();
        RecordStore old = open(oldDisk);
        RecordStore promoted = open(new SimulatedStorage());
        old.adoptEpoch(NS, P, 2);
        for (int i = 0; i < 4; i++) {
            put(old, KEYS.get(i), CommitLevel.ALL, Durability.SYNC);
        }
        promoted.applyReplicated(NS, P, old.readLog(NS, P, 1, 100)); // the mirror held lsn 1..4
        // The old master goes on alone: lsn 5..10 under mixed rules, never mirrored.
        put(old, KEYS.get(4), CommitLevel.MASTER, Durability.ASYNC);
        put(old, KEYS.get(5), CommitLevel.MASTER, Durability.ASYNC);
        put(old, KEYS.get(6), CommitLevel.MASTER, Durability.SYNC);
        put(old, KEYS.get(7), CommitLevel.ALL, Durability.SYNC);
        put(old, KEYS.get(8), CommitLevel.ALL, Durability.ASYNC);
        put(old, KEYS.get(9), CommitLevel.MASTER, Durability.ASYNC);
        assertEquals(10, old.partitionInfo(NS, P).lastLsn());

        // Failover: the mirror becomes master of epoch 3 at lsn 5 and writes on.
        assertTrue(promoted.adoptEpoch(NS, P, 3));
        put(promoted, KEYS.get(10), CommitLevel.ALL, Durability.SYNC);
        put(promoted, KEYS.get(11), CommitLevel.ALL, Durability.SYNC);

        RecordStore.PartitionSnapshot snap = promoted.snapshotPartition(NS, P);
        DivergentTail.Accounting acc = old.replacePartition(NS, P, snap, "n1");

        assertEquals(2, acc.records().size(), "one record per certainty");
        LossRecord sure = acc.records().get(0);
        assertEquals(LossRecord.Certainty.ACKNOWLEDGED, sure.certainty());
        assertEquals(3, sure.count());
        assertEquals(5, sure.fromLsn());
        assertEquals(10, sure.toLsn());
        assertEquals(List.of(KEYS.get(4).digest(), KEYS.get(5).digest(), KEYS.get(9).digest()), sure.digests());
        assertEquals(2, sure.epoch());
        assertEquals(3, sure.newEpoch());
        LossRecord maybe = acc.records().get(1);
        assertEquals(LossRecord.Certainty.POSSIBLY_ACKNOWLEDGED, maybe.certainty());
        assertEquals(List.of(KEYS.get(6).digest()), maybe.digests(), "MASTER+SYNC: acknowledged only if its fsync finished");
        assertEquals(2, acc.notAcknowledged(), "ALL entries the promoted mirror never held were never acknowledged");

        // Truncated: the old master now holds exactly the new master's partition.
        assertEquals(6, old.partitionInfo(NS, P).lastLsn());
        assertEquals(3, old.partitionInfo(NS, P).epoch());
        assertNull(old.get(KEYS.get(4)), "the divergent write is gone, not merged back");
        assertEquals(promoted.get(KEYS.get(10)), old.get(KEYS.get(10)));
        assertEquals(promoted.get(KEYS.get(3)), old.get(KEYS.get(3)));

        // The ledger was written with the truncation and survives a crash; ids go on.
        oldDisk.sync();
        oldDisk.crash(new Random(1));
        RecordStore again = open(oldDisk);
        assertEquals(acc.records(), again.losses());
    }

    @Test
    void aMirrorThatRestartedDuringTheOldEpochMakesAllAsyncTailEntriesPossiblyAcknowledged() {
        RecordStore old = open(new SimulatedStorage());
        SimulatedStorage mirrorDisk = new SimulatedStorage();
        RecordStore mirror = open(mirrorDisk);
        old.adoptEpoch(NS, P, 2);
        put(old, KEYS.get(0), CommitLevel.ALL, Durability.ASYNC);
        mirror.applyReplicated(NS, P, old.readLog(NS, P, 1, 100));
        mirrorDisk.sync();
        put(old, KEYS.get(1), CommitLevel.ALL, Durability.ASYNC); // was in the mirror's cache, then the mirror restarted
        mirrorDisk.crash(new Random(2));
        RecordStore restarted = open(mirrorDisk);
        assertTrue(restarted.adoptEpoch(NS, P, 3));
        DivergentTail.Accounting acc = old.replacePartition(NS, P, restarted.snapshotPartition(NS, P), "n1");
        assertEquals(1, acc.records().size());
        assertEquals(LossRecord.Certainty.POSSIBLY_ACKNOWLEDGED, acc.records().get(0).certainty());
        assertEquals(List.of(KEYS.get(1).digest()), acc.records().get(0).digests());
        assertEquals(2, acc.records().get(0).fromLsn());
    }

    @Test
    void aCopyWithinTheSameHistoryRecordsNothing() {
        RecordStore master = open(new SimulatedStorage());
        RecordStore lagging = open(new SimulatedStorage());
        master.adoptEpoch(NS, P, 2);
        for (int i = 0; i < 5; i++) {
            put(master, KEYS.get(i), CommitLevel.MASTER, Durability.ASYNC);
        }
        lagging.applyReplicated(NS, P, master.readLog(NS, P, 1, 2));
        master.adoptEpoch(NS, P, 4); // a new table epoch, same master
        put(master, KEYS.get(5), CommitLevel.MASTER, Durability.ASYNC);
        DivergentTail.Accounting acc = lagging.replacePartition(NS, P, master.snapshotPartition(NS, P), "n2");
        assertEquals(List.of(), acc.records(), "a replica that is merely behind lost nothing");
        assertEquals(0, acc.notAcknowledged());
        assertEquals(List.of(), lagging.losses());
    }
    /**
     * Syncs of different partitions account for their tails at the same time (the mirror
     * side runs them on several threads): every ledger record keeps its own id, so none
     * overwrites another's key. Found in MirroringIT: two records got one id and the
     * second replaced the first on disk.
     */
    @Test
    void tailsAccountedConcurrentlyKeepEveryLedgerRecord() throws Exception {
        SimulatedStorage oldDisk = new SimulatedStorage();
        RecordStore old = open(oldDisk);
        RecordStore promoted = open(new SimulatedStorage());
        int partitions = 200;
        for (int p = 0; p < partitions; p++) {
            old.adoptEpoch(NS, p, 2);
            put(old, TestKeys.inPartition(NS, "s", p, 1).get(0), CommitLevel.MASTER, Durability.ASYNC);
            assertTrue(promoted.adoptEpoch(NS, p, 3));
        }
        java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(4);
        List<Thread> threads = new java.util.ArrayList<>();
        for (int t = 0; t < 4; t++) {
            int first = t;
            Thread th = new Thread(() -> {
                try {
                    start.await();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                for (int p = first; p < partitions; p += 4) {
                    old.replacePartition(NS, p, promoted.snapshotPartition(NS, p), "n1");
                }
            });
            th.start();
            threads.add(th);
        }
        for (Thread th : threads) {
            th.join();
        }
        assertEquals(partitions, old.losses().size(), "one ledger record per partition");
        assertEquals(partitions, old.losses().stream().map(LossRecord::id).distinct().count());
        oldDisk.sync();
        assertEquals(partitions, open(oldDisk).losses().size());
    }
}
