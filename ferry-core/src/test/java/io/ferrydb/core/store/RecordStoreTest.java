package io.ferrydb.core.store;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Hlc;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.clock.ManualClock;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.log.LogOp;
import io.ferrydb.core.loss.LossRecord;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.record.RecordCodec;
import io.ferrydb.core.record.StoredRecord;
import io.ferrydb.core.storage.Column;
import io.ferrydb.core.storage.KeyLayout;
import io.ferrydb.core.storage.SimulatedStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecordStoreTest {
    private static final String NS = "test";
    private static final String SET = "s";
    private static final long T0 = 1_700_000_000_000L;
    private static final long DAY_MS = 24L * 3600 * 1000;
    /** Five keys that share partition P, so purges and trims act on one partition's log. */
    private static final List<Key> KEYS = TestKeys.inPartition(NS, SET, Key.of(NS, SET, 0L).partition(), 5);
    private static final int P = KEYS.get(0).partition();

    private final ManualClock clock = new ManualClock(T0);
    private final SimulatedStorage storage = new SimulatedStorage();
    private RecordStore store;

    private static NamespaceConfig config(long tombstoneRetentionMs, long logRetentionBytes, long logRetentionMs) {
        return new NamespaceConfig(NS, 2, 0, 1024 * 1024, tombstoneRetentionMs, logRetentionBytes, logRetentionMs,
                Durability.SYNC, CommitLevel.ALL);
    }

    private RecordStore open(NamespaceConfig config) {
        store = RecordStore.open(storage, clock, new HybridLogicalClock(clock), List.of(config), n -> {});
        return store;
    }

    /** Sync, then crash: nothing is lost, and the store is rebuilt from storage alone. */
    private RecordStore restart(NamespaceConfig config) {
        storage.sync();
        storage.crash(new Random(0));
        return open(config);
    }

    private static List<BinValidator.NamedValue> bin(long v) {
        return List.of(new BinValidator.NamedValue("v", Value.of(v)));
    }

    private WriteOutcome.Written put(Key key, long value, long ttlSeconds) {
        return assertInstanceOf(WriteOutcome.Written.class, store.put(key, bin(value), WritePolicy.DEFAULT.withTtlSeconds(ttlSeconds)));
    }

    private WriteOutcome.Written delete(Key key) {
        return assertInstanceOf(WriteOutcome.Written.class, store.delete(key, WritePolicy.DEFAULT));
    }

    private List<LogEntry> log() {
        return store.readLog(NS, P, 0, Integer.MAX_VALUE);
    }

    private List<Long> lsns() {
        List<Long> out = new ArrayList<>();
        for (LogEntry e : log()) {
            out.add(e.lsn());
        }
        return out;
    }

    private byte[] rawData(Key key) {
        return storage.get(Column.DATA, KeyLayout.dataKey(NS, key.digest()));
    }

    // ---- epochs ------------------------------------------------------------------------

    @Test
    void adoptedEpochTagsLaterChangesAndSurvivesARestart() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        assertEquals(RecordStore.INITIAL_EPOCH, put(KEYS.get(0), 1, 0).epoch());
        assertTrue(store.adoptEpoch(NS, P, 7));
        assertFalse(store.adoptEpoch(NS, P, 5), "epochs only grow");
        assertFalse(store.adoptEpoch(NS, P, 7));
        WriteOutcome.Written w = put(KEYS.get(1), 2, 0);
        assertEquals(7, w.epoch());
        assertEquals(2, w.lsn(), "a new epoch continues the LSN sequence");
        assertEquals(List.of(1, 7), log().stream().map(LogEntry::epoch).toList());
        restart(config(DAY_MS, 1 << 20, DAY_MS));
        assertEquals(7, store.partitionInfo(NS, P).epoch());
        assertEquals(7, put(KEYS.get(2), 3, 0).epoch());
        assertEquals(3, store.partitionInfo(NS, P).lastLsn());
        assertEquals(RecordStore.INITIAL_EPOCH, store.partitionInfo(NS, (P + 1) % 4096).epoch(), "other partitions keep theirs");
    }

    // ---- mirroring -----------------------------------------------------------------------

    @Test
    void aMirrorAppliesTheMastersEntriesIntoTheSameRecordsAndLog() {
        NamespaceConfig cfg = config(DAY_MS, 1 << 20, DAY_MS);
        open(cfg);
        store.adoptEpoch(NS, P, 3);
        put(KEYS.get(0), 1, 0);
        put(KEYS.get(1), 2, 10);
        delete(KEYS.get(0));
        clock.advanceMillis(10_000);
        assertEquals(1, store.purgeExpired(NS, P, 100)); // an EXPIRE entry for KEYS[1]
        put(KEYS.get(2), 3, 0);
        List<LogEntry> entries = log();
        assertEquals(5, entries.size());

        SimulatedStorage mirrorDisk = new SimulatedStorage();
        RecordStore mirror = RecordStore.open(mirrorDisk, clock, new HybridLogicalClock(clock), List.of(cfg), n -> { });
        assertEquals(2, mirror.applyReplicated(NS, P, entries.subList(0, 2)));
        assertThrows(io.ferrydb.core.Verify.VerifyException.class, () -> mirror.applyReplicated(NS, P, entries.subList(3, 5)),
                "a gap is a bug the mirror's state machine must have caught");
        assertEquals(2, mirror.partitionInfo(NS, P).lastLsn(), "a refused batch changes nothing");
        assertEquals(5, mirror.applyReplicated(NS, P, entries.subList(2, 5)));

        List<LogEntry> copied = mirror.readLog(NS, P, 0, Integer.MAX_VALUE);
        assertEquals(entries.size(), copied.size());
        for (int i = 0; i < entries.size(); i++) {
            assertArrayEquals(entries.get(i).encode(), copied.get(i).encode(), "log entry " + (i + 1) + " is the master's");
        }
        for (Key k : KEYS.subList(0, 3)) {
            assertEquals(store.get(k), mirror.get(k), "record " + k);
            assertArrayEquals(rawData(k), mirrorDisk.get(Column.DATA, KeyLayout.dataKey(NS, k.digest())), "stored bytes of " + k);
        }
        assertNotNull(mirror.get(KEYS.get(2)));
        assertEquals(3, mirror.partitionInfo(NS, P).epoch(), "the mirror takes the master's epoch");

        // The mirror's copy survives a crash like the master's own log.
        mirrorDisk.sync();
        mirrorDisk.crash(new Random(0));
        RecordStore again = RecordStore.open(mirrorDisk, clock, new HybridLogicalClock(clock), List.of(cfg), n -> { });
        assertEquals(5, again.partitionInfo(NS, P).lastLsn());
        assertEquals(3, again.partitionInfo(NS, P).epoch());
        assertEquals(store.get(KEYS.get(2)), again.get(KEYS.get(2)));
    }

    @Test
    void aMirrorAppliesManyPartitionsInOneWriteAndAllOrNothing() {
        NamespaceConfig cfg = config(DAY_MS, 1 << 20, DAY_MS);
        open(cfg);
        List<Key> a = TestKeys.inPartition(NS, SET, P, 2);
        int q = (P + 7) % 4096;
        List<Key> b = TestKeys.inPartition(NS, SET, q, 2);
        store.adoptEpoch(NS, q, 4);
        for (int i = 0; i < 2; i++) {
            put(a.get(i), i, 0);
            put(b.get(i), 10 + i, 0);
        }
        List<LogEntry> logA = store.readLog(NS, P, 0, Integer.MAX_VALUE);
        List<LogEntry> logB = store.readLog(NS, q, 0, Integer.MAX_VALUE);

        SimulatedStorage mirrorDisk = new SimulatedStorage();
        RecordStore mirror = RecordStore.open(mirrorDisk, clock, new HybridLogicalClock(clock), List.of(cfg), n -> { });
        mirror.applyReplicated(NS, P, logA.subList(0, 1));
        // Partition q's first change is skipped: its part of the write has a gap, so nothing of the write applies.
        assertThrows(io.ferrydb.core.Verify.VerifyException.class, () -> mirror.applyReplicatedAll(List.of(
                new RecordStore.Replicated(NS, P, logA.subList(1, 2)), new RecordStore.Replicated(NS, q, logB.subList(1, 2)))));
        assertEquals(1, mirror.partitionInfo(NS, P).lastLsn(), "the partition before the bad one is unchanged too");
        assertNull(mirror.get(a.get(1)));
        assertEquals(0, mirror.partitionInfo(NS, q).lastLsn());

        mirror.applyReplicatedAll(List.of(new RecordStore.Replicated(NS, q, logB), new RecordStore.Replicated(NS, P, logA.subList(1, 2))));
        assertEquals(2, mirror.partitionInfo(NS, P).lastLsn());
        assertEquals(2, mirror.partitionInfo(NS, q).lastLsn());
        assertEquals(4, mirror.partitionInfo(NS, q).epoch(), "each partition takes its own entries' epoch");
        assertEquals(RecordStore.INITIAL_EPOCH, mirror.partitionInfo(NS, P).epoch());
        for (Key k : List.of(a.get(0), a.get(1), b.get(0), b.get(1))) {
            assertEquals(store.get(k), mirror.get(k), "record " + k);
        }
        assertThrows(io.ferrydb.core.Verify.VerifyException.class, () -> mirror.applyReplicatedAll(List.of(
                new RecordStore.Replicated(NS, P, List.of(logA.get(0))), new RecordStore.Replicated(NS, P, List.of(logA.get(1))))),
                "one partition twice in a write is refused");

        mirrorDisk.sync();
        mirrorDisk.crash(new Random(0));
        RecordStore again = RecordStore.open(mirrorDisk, clock, new HybridLogicalClock(clock), List.of(cfg), n -> { });
        assertEquals(2, again.partitionInfo(NS, q).lastLsn());
        assertEquals(4, again.partitionInfo(NS, q).epoch());
        assertEquals(store.get(b.get(1)), again.get(b.get(1)));
    }

    @Test
    void aPromotedReplicaRecordsWhatTheFailedMasterReportedBeyondItsLog() {
        NamespaceConfig cfg = config(DAY_MS, 1 << 20, DAY_MS);
        open(cfg);
        for (int i = 0; i < 3; i++) {
            put(KEYS.get(i), i, 0);
        }
        assertNull(store.recordFailoverGap(NS, P, 1, 2, "n1", 3, List.of(), List.of(), "n2"), "it holds everything reported: nothing lost");
        assertNull(store.recordFailoverGap(NS, P, 1, 2, "n1", 2, List.of(), List.of(), "n2"));
        LossRecord r = store.recordFailoverGap(NS, P, 1, 2, "n1", 7, List.of(), List.of(), "n2");
        assertEquals(4, r.fromLsn());
        assertEquals(7, r.toLsn());
        assertEquals(4, r.count());
        assertEquals(LossRecord.Kind.FAILOVER, r.kind());
        assertEquals(LossRecord.Certainty.POSSIBLY_ACKNOWLEDGED, r.certainty(), "an ALL write among them was never acknowledged");
        assertEquals(List.of(), r.digests(), "which records they were is known only to the failed master");
        assertEquals(List.of(r), store.losses());

        // The failed master returns: its divergent tail of the same epoch accounts for them exactly.
        LossRecord tail = new LossRecord(r.id() + 1, NS, P, 1, 3, 4, 6, 3, List.of(), LossRecord.Certainty.ACKNOWLEDGED,
                LossRecord.Kind.DIVERGENT_TAIL, "n1", 0, "");
        assertTrue(r.supersededBy(List.of(r, tail)));
        LossRecord otherEpoch = new LossRecord(r.id() + 1, NS, P, 2, 3, 4, 6, 3, List.of(), LossRecord.Certainty.ACKNOWLEDGED,
                LossRecord.Kind.DIVERGENT_TAIL, "n1", 0, "");
        assertFalse(r.supersededBy(List.of(r, otherEpoch)));
        assertFalse(tail.supersededBy(List.of(r, tail)), "only failover records are superseded");

        restart(cfg);
        assertEquals(List.of(r), store.losses(), "the record is durable");
        assertEquals(r.id() + 1, store.recordFailoverGap(NS, P, 1, 2, "n1", 9, List.of(), List.of(), "n2").id(), "ids keep growing after a restart");
    }

    /**
     * A sync marks the replica as being rewritten from its first chunk to its last, across
     * a restart (heartbeats report it, so it is never promoted half-rewritten); a release
     * (dropping a partition this node is no replica of) does not.
     */
    @Test
    void aSyncMarksThePartitionRewrittenUntilItsLastChunkEvenAcrossARestart() {
        NamespaceConfig cfg = config(DAY_MS, 1 << 20, DAY_MS);
        open(cfg);
        for (int i = 0; i < 3; i++) {
            put(KEYS.get(i), i, 0);
        }
        assertFalse(store.rewriting(NS, P));
        store.beginSync(NS, P, true, 1, 5, List.of(), "n2");
        assertTrue(store.rewriting(NS, P));
        restart(cfg);
        assertTrue(store.rewriting(NS, P), "an interrupted sync is still one after a restart");
        store.finishSync(NS, P, 1, 5, 0, List.of());
        assertFalse(store.rewriting(NS, P));
        restart(cfg);
        assertFalse(store.rewriting(NS, P));
        store.release(NS, P, 2, 5, List.of(), "n2");
        assertFalse(store.rewriting(NS, P), "a released partition is no replica to promote");
    }

    /**
     * A replica a failover check found storing a tail beyond the new master is marked not
     * promotable (seed 8158), durably, until a sync rewrites it; a question from an epoch
     * older than one the replica has seen, or a replica storing nothing beyond, is not.
     */
    @Test
    void aReplicaHoldingATailBeyondANewMasterIsNotPromotableUntilSynced() {
        NamespaceConfig cfg = config(DAY_MS, 1 << 20, DAY_MS);
        open(cfg);
        for (int i = 0; i < 3; i++) {
            put(KEYS.get(i), i, 0);
        }
        assertTrue(store.adoptEpoch(NS, P, 4));
        assertFalse(store.markDivergent(NS, P, 3, 1), "a late question from an older epoch");
        assertFalse(store.markDivergent(NS, P, 5, 3), "nothing stored beyond the asker's end");
        assertFalse(store.rewriting(NS, P));
        assertTrue(store.markDivergent(NS, P, 5, 1));
        assertTrue(store.rewriting(NS, P));
        assertFalse(store.markDivergent(NS, P, 5, 1), "marked once");
        restart(cfg);
        assertTrue(store.rewriting(NS, P), "the mark survives a restart");
        assertEquals(3, store.partitionInfo(NS, P).lastLsn(), "the mark changes nothing else");
        store.beginSync(NS, P, true, 5, 2, List.of(), "n2");
        store.finishSync(NS, P, 5, 2, 0, List.of());
        assertFalse(store.rewriting(NS, P), "a sync cleared it");
        restart(cfg);
        assertFalse(store.rewriting(NS, P));
    }

    // ---- expiry ------------------------------------------------------------------------

    @Test
    void getHidesAnExpiredRecordBeforeItIsPurged() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        put(KEYS.get(0), 1, 5);
        clock.advanceMillis(4_999);
        assertNotNull(store.get(KEYS.get(0)));
        clock.advanceMillis(1);
        assertNull(store.get(KEYS.get(0)), "expired at exactly expiresAtMs");
        assertNotNull(rawData(KEYS.get(0)), "still stored until purged");
        assertEquals(0, store.scan(NS, P, null, r -> true), "scan hides it too");
    }

    @Test
    void purgeExpiredRemovesExpiredRecordsAndLogsAnExpireEntry() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        put(KEYS.get(0), 1, 10);
        put(KEYS.get(1), 2, 100);
        WriteOutcome.Written last = put(KEYS.get(2), 3, -1);
        clock.advanceMillis(10_000);

        assertEquals(1, store.purgeExpired(NS, P, 100));

        assertNull(rawData(KEYS.get(0)), "expired record removed from data");
        assertNotNull(store.get(KEYS.get(1)));
        assertNotNull(store.get(KEYS.get(2)));
        List<LogEntry> log = log();
        assertEquals(List.of(1L, 2L, 3L, 4L), lsns());
        LogEntry expire = log.get(3);
        assertEquals(LogOp.EXPIRE, expire.op());
        assertEquals(KEYS.get(0).digest(), expire.digest());
        assertTrue(expire.hlc() > last.hlc());
        StoredRecord image = RecordCodec.decode(expire.afterImage());
        assertTrue(image.tombstone());
        assertEquals(2, image.generation());
        assertEquals(4, store.partitionInfo(NS, P).lastLsn());
        assertEquals(1, store.expiredPurged.sum());

        assertEquals(0, store.purgeExpired(NS, P, 100), "nothing left to purge");
        restart(config(DAY_MS, 1 << 20, DAY_MS));
        assertEquals(4, store.partitionInfo(NS, P).lastLsn());
        assertEquals(5, put(KEYS.get(0), 9, 0).lsn());
        assertEquals(1, store.get(KEYS.get(0)).generation(), "a purged record starts over");
    }

    @Test
    void purgeExpiredStopsAtMaxRecords() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        for (int i = 0; i < 3; i++) {
            put(KEYS.get(i), i, 1);
        }
        clock.advanceMillis(1_000);
        assertEquals(2, store.purgeExpired(NS, P, 2));
        assertEquals(1, store.purgeExpired(NS, P, 2));
        assertEquals(6, store.partitionInfo(NS, P).lastLsn());
    }

    // ---- tombstones ----------------------------------------------------------------------

    @Test
    void purgeTombstonesDropsOnlyTombstonesOlderThanRetention() {
        NamespaceConfig config = config(1_000, 1 << 20, DAY_MS);
        open(config);
        for (int i = 0; i < 3; i++) {
            put(KEYS.get(i), i, -1);
        }
        delete(KEYS.get(0));
        clock.advanceMillis(800);
        delete(KEYS.get(1));
        long lastLsn = store.partitionInfo(NS, P).lastLsn();
        clock.advanceMillis(700); // now T0+1500: the cutoff is T0+500

        assertEquals(1, store.purgeTombstones(NS, P, 100));

        assertNull(rawData(KEYS.get(0)), "old tombstone dropped");
        StoredRecord young = RecordCodec.decode(rawData(KEYS.get(1)));
        assertTrue(young.tombstone(), "young tombstone kept");
        assertNotNull(store.get(KEYS.get(2)), "live record untouched");
        assertEquals(lastLsn, store.partitionInfo(NS, P).lastLsn(), "dropping a tombstone is not logged");
        assertEquals(1, store.tombstonesPurged.sum());

        clock.advanceMillis(500); // now T0+2000: the cutoff is T0+1000
        assertEquals(1, store.purgeTombstones(NS, P, 100));
        assertNull(rawData(KEYS.get(1)));
        assertNotNull(store.get(KEYS.get(2)));
        assertEquals(0, store.purgeTombstones(NS, P, 100));
    }

    // ---- log trimming --------------------------------------------------------------------

    @Test
    void trimLogByBytesKeepsTheNewestEntriesAndLsnsContinue() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        for (int i = 0; i < 10; i++) {
            put(KEYS.get(i % KEYS.size()), 1000 + i, -1);
        }
        long total = store.partitionInfo(NS, P).logBytes();
        long entry = total / 10;
        assertEquals(total, entry * 10, "entries of equal size");
        // Room for three and a half entries: the newest three stay.
        NamespaceConfig small = config(DAY_MS, entry * 3 + entry / 2, DAY_MS);
        restart(small);

        assertEquals(7, store.trimLog(NS, P));

        PartitionInfo info = store.partitionInfo(NS, P);
        assertEquals(8, info.firstLsn());
        assertEquals(10, info.lastLsn());
        assertEquals(3, info.logEntries());
        assertEquals(3 * entry, info.logBytes());
        assertEquals(List.of(8L, 9L, 10L), lsns());
        assertEquals(List.of(8L, 9L, 10L), lsns(store.readLog(NS, P, 1, 100)), "reading from a trimmed lsn starts at the first kept");
        assertEquals(0, store.trimLog(NS, P), "within retention now");
        assertEquals(7, store.logEntriesTrimmed.sum());

        assertEquals(11, put(KEYS.get(0), 1, -1).lsn());
        restart(small);
        info = store.partitionInfo(NS, P);
        assertEquals(8, info.firstLsn());
        assertEquals(11, info.lastLsn());
        assertEquals(4 * entry, info.logBytes());
        assertEquals(12, put(KEYS.get(1), 1, -1).lsn());
        assertEquals(2, store.trimLog(NS, P));
        assertEquals(List.of(10L, 11L, 12L), lsns());
    }

    @Test
    void trimLogByAgeKeepsEntriesNewerThanRetention() {
        NamespaceConfig config = config(DAY_MS, 1 << 20, 1_000);
        open(config);
        for (int i = 0; i < 3; i++) {
            put(KEYS.get(i), i, -1);
        }
        clock.advanceMillis(600);
        put(KEYS.get(3), 3, -1);
        put(KEYS.get(4), 4, -1);
        clock.advanceMillis(700); // now T0+1300: entries before T0+300 are too old

        assertEquals(3, store.trimLog(NS, P));

        assertEquals(List.of(4L, 5L), lsns());
        assertEquals(4, store.partitionInfo(NS, P).firstLsn());
        for (LogEntry e : log()) {
            assertTrue(Hlc.physicalMs(e.hlc()) >= clock.wallMillis() - 1_000);
        }
        assertEquals(0, store.trimLog(NS, P));
        restart(config);
        assertEquals(List.of(4L, 5L), lsns(), "the trim survives a restart");
        assertEquals(4, store.partitionInfo(NS, P).firstLsn());
        assertEquals(6, put(KEYS.get(0), 9, -1).lsn());
    }

    @Test
    void trimmingTheWholeLogKeepsTheLsnSequenceAcrossRestart() {
        NamespaceConfig config = config(DAY_MS, 1 << 20, 1_000);
        open(config);
        for (int i = 0; i < 5; i++) {
            put(KEYS.get(i), i, -1);
        }
        clock.advanceMillis(5_000);
        assertEquals(5, store.trimLog(NS, P));
        PartitionInfo info = store.partitionInfo(NS, P);
        assertEquals(6, info.firstLsn());
        assertEquals(5, info.lastLsn());
        assertEquals(0, info.logEntries());
        assertEquals(0, info.logBytes());
        assertTrue(log().isEmpty());

        restart(config);
        info = store.partitionInfo(NS, P);
        assertEquals(6, info.firstLsn(), "empty log: first = last + 1");
        assertEquals(5, info.lastLsn());
        assertEquals(6, put(KEYS.get(0), 9, -1).lsn());
        assertEquals(List.of(6L), lsns());
        for (int i = 1; i < 5; i++) {
            assertNotNull(store.get(KEYS.get(i)), "trimming the log keeps the data");
        }
    }

    @Test
    void hlcDoesNotGoBackAfterRestartEvenWhenTheLogWasTrimmedAndTheWallClockWentBack() {
        NamespaceConfig config = config(DAY_MS, 1 << 20, 1_000);
        open(config);
        long lastHlc = put(KEYS.get(0), 1, -1).hlc();
        clock.advanceMillis(5_000);
        assertEquals(1, store.trimLog(NS, P));
        assertTrue(log().isEmpty());
        clock.setWallMillis(T0 - 60_000);
        restart(config);
        long next = put(KEYS.get(1), 2, -1).hlc();
        assertTrue(next > lastHlc, "hlc went back after restart: " + Hlc.format(next) + " <= " + Hlc.format(lastHlc));
    }

    @Test
    void writeAllAppliesInOrderSeesEarlierWritesAndRefusesIndividually() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        Key a = KEYS.get(0);
        Key b = KEYS.get(1);
        List<WriteOutcome> out = store.writeAll(List.of(
                new WriteOp.Put(a, bin(1), WritePolicy.DEFAULT),
                new WriteOp.Put(a, bin(2), WritePolicy.DEFAULT.withExists(io.ferrydb.api.RecordExistsAction.UPDATE_ONLY)),
                new WriteOp.Delete(b, WritePolicy.DEFAULT),
                new WriteOp.Put(Key.of("nope", SET, "x"), bin(3), WritePolicy.DEFAULT),
                new WriteOp.Put(b, bin(4), WritePolicy.DEFAULT.withExists(io.ferrydb.api.RecordExistsAction.CREATE_ONLY)),
                new WriteOp.Put(b, bin(5), WritePolicy.DEFAULT.withExists(io.ferrydb.api.RecordExistsAction.CREATE_ONLY))));
        WriteOutcome.Written first = assertInstanceOf(WriteOutcome.Written.class, out.get(0));
        WriteOutcome.Written second = assertInstanceOf(WriteOutcome.Written.class, out.get(1));
        assertEquals(1, first.generation());
        assertEquals(2, second.generation(), "the second write sees the first, in the same batch");
        assertEquals(first.lsn() + 1, second.lsn());
        assertInstanceOf(WriteOutcome.Absent.class, out.get(2));
        WriteOutcome.Refused badNs = assertInstanceOf(WriteOutcome.Refused.class, out.get(3));
        assertEquals(ErrorCode.INVALID_ARGUMENT, badNs.code());
        assertTrue(badNs.message().contains("key.namespace"), badNs.message());
        WriteOutcome.Written created = assertInstanceOf(WriteOutcome.Written.class, out.get(4));
        assertEquals(second.lsn() + 1, created.lsn(), "refused and absent writes take no lsn");
        assertEquals(ErrorCode.ALREADY_EXISTS, assertInstanceOf(WriteOutcome.Refused.class, out.get(5)).code());
        assertEquals(List.of(1L, 2L, 3L), lsns());
        assertEquals(Value.of(2L), store.get(a).bins().get("v"));
        assertEquals(Value.of(4L), store.get(b).bins().get("v"));
        restart(config(DAY_MS, 1 << 20, DAY_MS));
        assertEquals(4, put(KEYS.get(2), 6, -1).lsn(), "lsns continue after the batch across a restart");
    }

    // ---- scan ----------------------------------------------------------------------------

    @Test
    void scanFiltersBySetSkipsTombstonesAndVisitsInDigestOrder() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        List<Key> a = TestKeys.inPartition(NS, "a", P, 3);
        List<Key> b = TestKeys.inPartition(NS, "b", P, 2);
        for (Key k : a) {
            assertInstanceOf(WriteOutcome.Written.class, store.put(k, bin(1), WritePolicy.DEFAULT));
        }
        for (Key k : b) {
            assertInstanceOf(WriteOutcome.Written.class, store.put(k, bin(2), WritePolicy.DEFAULT));
        }
        delete(a.get(1));

        List<StoredRecord> seen = new ArrayList<>();
        assertEquals(2, store.scan(NS, P, "a", seen::add));
        for (StoredRecord r : seen) {
            assertEquals("a", r.set());
            assertTrue(!r.tombstone());
        }
        List<Key> expected = new ArrayList<>(List.of(a.get(0), a.get(2)));
        expected.sort((x, y) -> x.digest().compareTo(y.digest()));
        assertEquals(expected, List.of(seen.get(0).key(NS), seen.get(1).key(NS)));

        assertEquals(2, store.scan(NS, P, "b", r -> true));
        assertEquals(4, store.scan(NS, P, null, r -> true));
        assertEquals(0, store.scan(NS, P, "c", r -> true));
        assertEquals(1, store.scan(NS, P, null, r -> false), "the visitor stops the scan");
        assertEquals(0, store.scan(NS, (P + 1) % 4096, null, r -> true), "other partitions are separate");
        assertEquals(0, storage.openCursorCount());
    }

    // ---- errors --------------------------------------------------------------------------

    @Test
    void unknownNamespaceIsInvalidArgumentNamingTheField() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        Key key = Key.of("nope", SET, 1L);
        assertInvalid("key.namespace", () -> store.get(key));
        assertInvalid("key.namespace", () -> store.put(key, bin(1), WritePolicy.DEFAULT));
        assertInvalid("key.namespace", () -> store.delete(key, WritePolicy.DEFAULT));
        FerryException e = assertInvalid("key.namespace", () -> store.scan("nope", 0, null, r -> true));
        assertTrue(e.reason().contains("'nope'") && e.reason().contains("[test]"), e.reason());
        assertEquals(0, storage.writeCount(), "nothing written");
    }

    @Test
    void invalidBinsAndPartitionsAreInvalidArgument() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        assertInvalid("bins", () -> store.put(KEYS.get(0), List.of(), WritePolicy.DEFAULT));
        assertInvalid("bins[0].name", () -> store.put(KEYS.get(0), List.of(new BinValidator.NamedValue("x".repeat(16), Value.of(1L))), WritePolicy.DEFAULT));
        assertInvalid("partition", () -> store.readLog(NS, 4096, 0, 10));
        assertInvalid("partition", () -> store.scan(NS, -1, null, r -> true));
        assertEquals(0, store.partitionInfo(NS, P).lastLsn());
    }

    @Test
    void aRefusedWriteChangesNothing() {
        open(config(DAY_MS, 1 << 20, DAY_MS));
        put(KEYS.get(0), 1, -1);
        byte[] before = rawData(KEYS.get(0));
        long writes = storage.writeCount();
        WriteOutcome o = store.put(KEYS.get(0), bin(2), WritePolicy.DEFAULT.withExpectedGeneration(5));
        WriteOutcome.Refused r = assertInstanceOf(WriteOutcome.Refused.class, o);
        assertEquals(ErrorCode.FAILED_PRECONDITION, r.code());
        assertEquals(writes, storage.writeCount());
        assertArrayEquals(before, rawData(KEYS.get(0)));
        assertInstanceOf(WriteOutcome.Absent.class, store.delete(KEYS.get(1), WritePolicy.DEFAULT));
        assertEquals(writes, storage.writeCount());
        assertEquals(1, store.partitionInfo(NS, P).lastLsn());
    }

    private static List<Long> lsns(List<LogEntry> entries) {
        List<Long> out = new ArrayList<>();
        for (LogEntry e : entries) {
            out.add(e.lsn());
        }
        return out;
    }

    private static FerryException assertInvalid(String field, Executable call) {
        FerryException e = assertThrows(FerryException.class, call);
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code(), e.getMessage());
        assertTrue(e.reason().startsWith(field), "should name " + field + ": " + e.reason());
        return e;
    }
}
