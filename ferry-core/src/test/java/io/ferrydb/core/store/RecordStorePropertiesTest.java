package io.ferrydb.core.store;

import io.ferrydb.api.Digest;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.Key;
import io.ferrydb.api.Limits;
import io.ferrydb.api.RecordExistsAction;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.clock.ManualClock;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.log.LogOp;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.record.RecordCodec;
import io.ferrydb.core.record.StoredRecord;
import io.ferrydb.core.storage.Batch;
import io.ferrydb.core.storage.Column;
import io.ferrydb.core.storage.Cursor;
import io.ferrydb.core.storage.KeyLayout;
import io.ferrydb.core.storage.SimulatedStorage;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Deterministic simulation of the record store over {@link SimulatedStorage}: random
 * puts, deletes, syncs, clock moves and crashes (each losing a random unsynced tail),
 * checked against a model after every reopen and at the end. jqwik supplies the action
 * list and the seed of the only {@link Random}; a failure prints both, and jqwik replays
 * it first on the next run (or pin it with {@code @Property(seed = "...")}).
 */
class RecordStorePropertiesTest {
    static final String NS = "test";
    static final String SET = "s";
    static final long T0 = 1_700_000_000_000L;
    /** Three partitions with three keys each, so writes interleave within and across partitions. */
    static final List<Key> KEYS = new ArrayList<>();
    static final int[] PARTITIONS;

    static {
        List<List<Key>> clusters = TestKeys.clustered(NS, SET, 3, 3);
        PARTITIONS = new int[clusters.size()];
        for (int i = 0; i < clusters.size(); i++) {
            KEYS.addAll(clusters.get(i));
            PARTITIONS[i] = clusters.get(i).get(0).partition();
        }
    }

    sealed interface Action permits Put, Delete, Sync, Crash, Tick {}

    /** Sets bin "a" and/or "b" (a null value leaves that bin out of the request). */
    record Put(int key, RecordExistsAction exists, Long a, Long b) implements Action {}

    record Delete(int key) implements Action {}

    record Sync() implements Action {}

    /** Crash, move the wall clock back by {@code clockBackMs} (a restart on a skewed clock), reopen. */
    record Crash(long clockBackMs) implements Action {}

    record Tick(long ms) implements Action {}

    private static Arbitrary<Action> actionArbitrary(int syncWeight, int crashWeight) {
        Arbitrary<Integer> key = Arbitraries.integers().between(0, KEYS.size() - 1);
        Arbitrary<RecordExistsAction> exists = Arbitraries.frequencyOf(
                Tuple.of(6, Arbitraries.just(RecordExistsAction.UPSERT)),
                Tuple.of(1, Arbitraries.just(RecordExistsAction.REPLACE)),
                Tuple.of(1, Arbitraries.just(RecordExistsAction.CREATE_ONLY)),
                Tuple.of(1, Arbitraries.just(RecordExistsAction.UPDATE_ONLY)),
                Tuple.of(1, Arbitraries.just(RecordExistsAction.REPLACE_ONLY)));
        Arbitrary<Long> value = Arbitraries.longs().between(0, 1000).injectNull(0.3);
        Arbitrary<Action> put = Combinators.combine(key, exists, value, value)
                .as((k, e, a, b) -> new Put(k, e, a == null && b == null ? Long.valueOf(0) : a, b));
        Arbitrary<Long> clockBack = Arbitraries.oneOf(Arbitraries.just(0L), Arbitraries.longs().between(1, 60_000));
        return Arbitraries.frequencyOf(
                Tuple.of(8, put),
                Tuple.of(3, key.map(Delete::new)),
                Tuple.of(syncWeight, Arbitraries.just(new Sync())),
                Tuple.of(crashWeight, clockBack.map(Crash::new)),
                Tuple.of(2, Arbitraries.longs().between(0, 2_000).map(Tick::new)));
    }

    @Provide
    Arbitrary<List<Action>> actions() {
        return actionArbitrary(2, 1).list().ofMinSize(1).ofMaxSize(50);
    }

    /** Mostly unsynced writes and frequent crashes: long lost tails, the hard case for atomicity. */
    @Provide
    Arbitrary<List<Action>> crashHeavy() {
        return actionArbitrary(1, 3).list().ofMinSize(1).ofMaxSize(30);
    }

    @Property(tries = 200)
    void syncedWritesSurviveCrashesAndTheLogStaysGapless(@ForAll("actions") List<Action> actions, @ForAll long seed) {
        Sim sim = new Sim(seed);
        for (Action a : actions) {
            sim.run(a);
        }
        sim.checkInvariants();
        sim.crashAndReopen(0);
        sim.checkOtherPartitionsUntouched();
        sim.writeAfterReopen();
    }

    @Property(tries = 200)
    void aCrashKeepsEachWriteBatchWholeOrNotAtAll(@ForAll("crashHeavy") List<Action> actions, @ForAll long seed) {
        Sim sim = new Sim(seed);
        for (Action a : actions) {
            sim.run(a);
        }
        // crashAndReopen checks data, log and meta of the raw storage before the store reopens.
        sim.crashAndReopen(0);
        sim.checkOtherPartitionsUntouched();
    }

    /** The atomicity check must be able to fail: a log entry without its data part is caught. */
    @Test
    void theAtomicityCheckDetectsATornBatch() {
        Sim sim = new Sim(1);
        sim.run(new Put(0, RecordExistsAction.UPSERT, 1L, null));
        assertRawConsistent(sim.storage);
        Key key = KEYS.get(0);
        int p = key.partition();
        StoredRecord before = sim.store.get(key);
        StoredRecord after = new StoredRecord(before.set(), before.keyType(), before.keyBytes(), Map.of("v", Value.of(2L)),
                before.generation() + 1, before.lastUpdateHlc() + 1, 0, 0, false);
        byte[] image = RecordCodec.encode(after);
        LogEntry second = new LogEntry(1, 2, sim.store.hlc().now(), LogOp.PUT, key.digest(), image);
        sim.storage.write(new Batch().put(Column.LOG, KeyLayout.logKey(NS, p, 2), second.encode()));
        assertThrows(AssertionFailedError.class, () -> assertRawConsistent(sim.storage));
    }

    record Model(Map<String, Long> bins, int generation) {}

    record Write(int key, int partition, long lsn, long hlc, LogOp op, Model after) {}

    /** The store under test, its storage and clock, and a model of what must be there. */
    static final class Sim {
        final Random random;
        final ManualClock clock = new ManualClock(T0);
        final SimulatedStorage storage = new SimulatedStorage();
        RecordStore store;
        /** Live records by key index; a missing entry means absent or deleted. */
        final Map<Integer, Model> model = new HashMap<>();
        /** Every write that is in the log (or may yet be lost), in the order issued. */
        final List<Write> writes = new ArrayList<>();
        /** writes[0, syncedCount) were followed by a sync. */
        int syncedCount;
        final Map<Integer, Long> lastLsn = new HashMap<>();
        /** Every new write's hlc must exceed this: the largest hlc in the log or issued. */
        long hlcFloor;

        Sim(long seed) {
            random = new Random(seed);
            store = open();
            for (int p : PARTITIONS) {
                lastLsn.put(p, 0L);
            }
        }

        RecordStore open() {
            return RecordStore.open(storage, clock, new HybridLogicalClock(clock), List.of(NamespaceConfig.defaults(NS)), n -> {});
        }

        void run(Action action) {
            if (action instanceof Put p) {
                put(p);
            } else if (action instanceof Delete d) {
                delete(d);
            } else if (action instanceof Sync) {
                storage.sync();
                syncedCount = writes.size();
            } else if (action instanceof Crash c) {
                crashAndReopen(c.clockBackMs());
            } else if (action instanceof Tick t) {
                clock.advanceMillis(t.ms());
            }
        }

        void put(Put p) {
            Key key = KEYS.get(p.key());
            Model current = model.get(p.key());
            Map<String, Long> requested = new LinkedHashMap<>();
            List<BinValidator.NamedValue> bins = new ArrayList<>();
            if (p.a() != null) {
                requested.put("a", p.a());
                bins.add(new BinValidator.NamedValue("a", Value.of(p.a())));
            }
            if (p.b() != null) {
                requested.put("b", p.b());
                bins.add(new BinValidator.NamedValue("b", Value.of(p.b())));
            }
            WriteOutcome outcome = store.put(key, bins, WritePolicy.DEFAULT.withExists(p.exists()));
            ErrorCode refusal = switch (p.exists()) {
                case CREATE_ONLY -> current != null ? ErrorCode.ALREADY_EXISTS : null;
                case UPDATE_ONLY, REPLACE_ONLY -> current == null ? ErrorCode.NOT_FOUND : null;
                default -> null;
            };
            if (refusal != null) {
                WriteOutcome.Refused r = assertInstanceOf(WriteOutcome.Refused.class, outcome, p.toString());
                assertEquals(refusal, r.code());
                assertEquals(lastLsn.get(key.partition()), store.partitionInfo(NS, key.partition()).lastLsn(), "a refusal must not use an lsn");
                return;
            }
            WriteOutcome.Written w = assertInstanceOf(WriteOutcome.Written.class, outcome, p.toString());
            boolean merge = current != null && (p.exists() == RecordExistsAction.UPSERT || p.exists() == RecordExistsAction.UPDATE_ONLY);
            Map<String, Long> bins2 = new TreeMap<>(merge ? current.bins() : Map.of());
            bins2.putAll(requested);
            Model after = new Model(bins2, current == null ? 1 : current.generation() + 1);
            assertEquals(after.generation(), w.generation(), "generation of " + p);
            written(p.key(), key.partition(), w, LogOp.PUT, after);
        }

        void delete(Delete d) {
            Key key = KEYS.get(d.key());
            Model current = model.get(d.key());
            WriteOutcome outcome = store.delete(key, WritePolicy.DEFAULT);
            if (current == null) {
                assertInstanceOf(WriteOutcome.Absent.class, outcome, d.toString());
                assertEquals(lastLsn.get(key.partition()), store.partitionInfo(NS, key.partition()).lastLsn());
                return;
            }
            WriteOutcome.Written w = assertInstanceOf(WriteOutcome.Written.class, outcome, d.toString());
            assertEquals(current.generation() + 1, w.generation(), "tombstone generation");
            written(d.key(), key.partition(), w, LogOp.DELETE, null);
        }

        private void written(int keyIndex, int partition, WriteOutcome.Written w, LogOp op, Model after) {
            assertEquals(lastLsn.get(partition) + 1, w.lsn(), "lsn continues at last + 1 in partition " + partition);
            assertEquals(RecordStore.INITIAL_EPOCH, w.epoch());
            assertTrue(w.hlc() > hlcFloor, "hlc " + w.hlc() + " not after " + hlcFloor);
            hlcFloor = w.hlc();
            lastLsn.put(partition, w.lsn());
            writes.add(new Write(keyIndex, partition, w.lsn(), w.hlc(), op, after));
            if (after == null) {
                model.remove(keyIndex);
            } else {
                model.put(keyIndex, after);
            }
        }

        void crashAndReopen(long clockBackMs) {
            storage.crash(random);
            assertRawConsistent(storage);
            clock.setWallMillis(clock.wallMillis() - clockBackMs);
            store = open();

            Map<Integer, Long> recovered = new HashMap<>();
            for (int p : PARTITIONS) {
                recovered.put(p, store.partitionInfo(NS, p).lastLsn());
            }
            int survivors = 0;
            while (survivors < writes.size() && writes.get(survivors).lsn() <= recovered.get(writes.get(survivors).partition())) {
                survivors++;
            }
            for (int i = survivors; i < writes.size(); i++) {
                Write w = writes.get(i);
                assertTrue(w.lsn() > recovered.get(w.partition()), "write " + i + " survived although write " + survivors + " was lost");
            }
            assertTrue(survivors >= syncedCount, "synced writes lost: " + survivors + " of " + syncedCount + " synced survived");
            checkSyncedWritesReadable(survivors);
            writes.subList(survivors, writes.size()).clear();
            syncedCount = writes.size();

            model.clear();
            lastLsn.replaceAll((p, v) -> 0L);
            long maxHlc = 0;
            for (Write w : writes) {
                if (w.after() == null) {
                    model.remove(w.key());
                } else {
                    model.put(w.key(), w.after());
                }
                lastLsn.put(w.partition(), w.lsn());
                maxHlc = Math.max(maxHlc, w.hlc());
            }
            assertEquals(lastLsn, recovered, "recovered last lsn per partition");
            long maxLogHlc = 0;
            for (int p : PARTITIONS) {
                for (LogEntry e : store.readLog(NS, p, 0, Integer.MAX_VALUE)) {
                    maxLogHlc = Math.max(maxLogHlc, e.hlc());
                }
            }
            assertEquals(maxHlc, maxLogHlc);
            hlcFloor = maxLogHlc;
            assertTrue(store.hlc().peek() > maxLogHlc, "recovery must move the hlc past the log");
            checkInvariants();
        }

        void checkOtherPartitionsUntouched() {
            for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                if (lastLsn.containsKey(p)) {
                    continue;
                }
                PartitionInfo info = store.partitionInfo(NS, p);
                assertEquals(0, info.lastLsn(), "untouched partition " + p);
                assertEquals(0, info.logEntries(), "untouched partition " + p);
            }
        }

        /** The user-visible guarantee: the last synced write of each key reads back with its generation. */
        private void checkSyncedWritesReadable(int survivors) {
            Map<Integer, Write> lastSyncedByKey = new HashMap<>();
            Map<Integer, Integer> lastSurvivingIndexByKey = new HashMap<>();
            for (int i = 0; i < survivors; i++) {
                lastSurvivingIndexByKey.put(writes.get(i).key(), i);
                if (i < syncedCount) {
                    lastSyncedByKey.put(writes.get(i).key(), writes.get(i));
                }
            }
            for (Map.Entry<Integer, Write> e : lastSyncedByKey.entrySet()) {
                Write w = e.getValue();
                if (writes.get(lastSurvivingIndexByKey.get(e.getKey())) != w) {
                    continue; // overwritten later by a write that also survived
                }
                StoredRecord r = store.get(KEYS.get(e.getKey()));
                if (w.op() == LogOp.DELETE) {
                    assertNull(r, "synced delete of key " + e.getKey() + " undone by crash");
                } else {
                    assertNotNull(r, "synced put of key " + e.getKey() + " lost");
                    assertEquals(w.after().generation(), r.generation());
                }
            }
        }

        /** One more write per partition after a reopen: lsn last + 1, hlc past every logged hlc. */
        void writeAfterReopen() {
            for (int i = 0; i < KEYS.size(); i += 3) {
                run(new Put(i, RecordExistsAction.UPSERT, 1L, null));
            }
            checkInvariants();
        }

        void checkInvariants() {
            Map<Integer, List<LogEntry>> logs = new HashMap<>();
            for (int p : PARTITIONS) {
                PartitionInfo info = store.partitionInfo(NS, p);
                List<LogEntry> log = store.readLog(NS, p, 0, Integer.MAX_VALUE);
                logs.put(p, log);
                assertEquals(lastLsn.get(p), info.lastLsn(), "last lsn of partition " + p);
                assertEquals(1, info.firstLsn(), "nothing was trimmed in partition " + p);
                assertEquals(info.lastLsn(), log.size(), "log of partition " + p + " is gapless from 1");
                for (int i = 0; i < log.size(); i++) {
                    LogEntry e = log.get(i);
                    assertEquals(i + 1, e.lsn(), "lsn at position " + i + " of partition " + p);
                    assertEquals(RecordStore.INITIAL_EPOCH, e.epoch());
                    assertEquals(p, e.digest().partition());
                    assertEquals(e.op() == LogOp.DELETE, RecordCodec.decode(e.afterImage()).tombstone());
                }
                assertEquals(log.size(), info.logEntries());
                assertEquals(rawLogBytes(storage, p), info.logBytes(), "log byte accounting of partition " + p);
                if (log.size() >= 2) {
                    List<LogEntry> tail = store.readLog(NS, p, log.size() - 1, 10);
                    assertEquals(2, tail.size());
                    assertEquals(log.size() - 1, tail.get(0).lsn());
                }
            }
            assertRawConsistent(storage);
            for (Write w : writes) {
                LogEntry e = logs.get(w.partition()).get((int) w.lsn() - 1);
                assertEquals(KEYS.get(w.key()).digest(), e.digest(), "digest at lsn " + w.lsn());
                assertEquals(w.op(), e.op());
                assertEquals(w.hlc(), e.hlc());
                if (w.after() != null) {
                    assertEquals(w.after().generation(), RecordCodec.decode(e.afterImage()).generation());
                }
            }
            for (int i = 0; i < KEYS.size(); i++) {
                StoredRecord r = store.get(KEYS.get(i));
                Model m = model.get(i);
                if (m == null) {
                    assertNull(r, "key " + i + " should be absent");
                    continue;
                }
                assertNotNull(r, "key " + i + " should be live");
                assertEquals(m.generation(), r.generation(), "generation of key " + i);
                Map<String, Value> bins = new LinkedHashMap<>();
                m.bins().forEach((name, v) -> bins.put(name, Value.of(v)));
                assertEquals(bins, r.bins(), "bins of key " + i);
            }
            assertEquals(0, storage.openCursorCount(), "cursor leak");
        }
    }

    /**
     * Checks the raw columns without the store: per partition, meta's last lsn is the
     * last log entry, the log is contiguous from 1, and every record in data equals the
     * after-image of the last log entry of its digest (a tombstone after a delete).
     * Holds after any crash only if data, log and meta are written in one batch.
     */
    static void assertRawConsistent(SimulatedStorage storage) {
        for (int p : PARTITIONS) {
            byte[] meta = storage.get(Column.META, KeyLayout.metaPartitionKey(NS, p));
            byte[] prefix = KeyLayout.partitionPrefix(NS, p);
            List<LogEntry> log = new ArrayList<>();
            try (Cursor c = storage.scan(Column.LOG, prefix, KeyLayout.prefixEnd(prefix))) {
                while (c.next()) {
                    LogEntry e = LogEntry.decode(c.value());
                    assertEquals(KeyLayout.lsnOfLogKey(c.key()), e.lsn());
                    log.add(e);
                }
            }
            Map<Digest, byte[]> data = new HashMap<>();
            try (Cursor c = storage.scan(Column.DATA, prefix, KeyLayout.prefixEnd(prefix))) {
                while (c.next()) {
                    data.put(KeyLayout.digestOfDataKey(c.key()), c.value());
                }
            }
            // These simulations never trim, so meta (the high-water mark written by a
            // trim) stays absent and the log starts at lsn 1.
            assertNull(meta, "meta without a trim in partition " + p);
            Map<Digest, LogEntry> lastByDigest = new HashMap<>();
            for (int i = 0; i < log.size(); i++) {
                assertEquals(i + 1, log.get(i).lsn(), "raw log gap in partition " + p);
                lastByDigest.put(log.get(i).digest(), log.get(i));
            }
            assertEquals(lastByDigest.keySet(), data.keySet(), "digests in data vs log of partition " + p);
            for (Map.Entry<Digest, LogEntry> e : lastByDigest.entrySet()) {
                assertArrayEquals(e.getValue().afterImage(), data.get(e.getKey()), "data of " + e.getKey() + " vs its last log entry");
            }
        }
    }

    static long rawLogBytes(SimulatedStorage storage, int partition) {
        byte[] prefix = KeyLayout.partitionPrefix(NS, partition);
        long bytes = 0;
        try (Cursor c = storage.scan(Column.LOG, prefix, KeyLayout.prefixEnd(prefix))) {
            while (c.next()) {
                bytes += c.key().length + c.value().length;
            }
        }
        return bytes;
    }
}
