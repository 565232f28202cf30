package io.ferrydb.core.store;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Digest;
import io.ferrydb.api.Durability;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.clock.ManualClock;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.loss.LossRecord;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.storage.SimulatedStorage;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Failover and loss accounting on real record stores, seeded: a master and two mirrors
 * of a partition; the master writes under random commit levels and durabilities while
 * the mirrors receive (into a volatile cache) and flush at random, the master fsyncs at
 * random, and a client acknowledgement is given the moment a write's rule holds. Then
 * the master's process is killed (its unsynced writes stay, as with SIGKILL), sometimes
 * a mirror's process too (its cache is lost; it restarts), the IN_SYNC mirror with the
 * highest LSN is promoted (flushing its cache if alive) and writes on in a new epoch,
 * and the old master comes back and is copied from the new one.
 *
 * <p>Checked per seed: no acknowledged ALL+SYNC write is lost; every acknowledged write
 * that is lost is in the loss ledger; the ledger holds nothing false (each ACKNOWLEDGED
 * entry was acknowledged, every listed write really is gone); afterwards the old master
 * holds exactly the new master's records and position. {@code -Dferry.loss.seeds=N}
 * (default 1000), {@code -Dferry.loss.seed=S} replays one.
 */
class LossAccountingSimulationTest {
    private static final String NS = "test";
    private static final List<Key> KEYS = TestKeys.inPartition(NS, "s", Key.of(NS, "s", 3L).partition(), 12);
    private static final int P = KEYS.get(0).partition();
    private static final NamespaceConfig CFG = NamespaceConfig.defaults(NS);
    private static final CommitLevel[] LEVELS = CommitLevel.values();
    private static final Durability[] DURABILITIES = Durability.values();

    @Test
    void swarm() {
        Long one = Long.getLong("ferry.loss.seed");
        int seeds = Integer.getInteger("ferry.loss.seeds", 1000);
        List<String> failures = new ArrayList<>();
        long[] totals = new long[4]; // acked, lost acknowledged, ledger writes, seeds with a loss
        for (long seed = one != null ? one : 1; seed <= (one != null ? one : seeds); seed++) {
            try {
                new Sim(seed, totals).run();
            } catch (AssertionError | RuntimeException e) {
                failures.add("seed " + seed + ": " + e + "\n  replay: -Dtest=LossAccountingSimulationTest -Dferry.loss.seed=" + seed);
            }
        }
        System.out.printf("loss accounting simulation: %d seeds, %d acknowledged writes, %d of them lost and all in the ledger"
                + " (%d seeds with losses), %d writes in ledger records, %d failed%n", one != null ? 1 : seeds, totals[0], totals[1],
                totals[3], totals[2], failures.size());
        assertEquals(List.of(), failures);
    }

    private static final class Sim {
        private final Random random;
        private final long[] totals;
        private final ManualClock clock = new ManualClock(1_700_000_000_000L);

        Sim(long seed, long[] totals) {
            this.random = new Random(seed);
            this.totals = totals;
        }

        private final class Replica {
            final String id;
            final SimulatedStorage disk = new SimulatedStorage();
            RecordStore store;
            /** Received from the master, not yet applied: the volatile cache. */
            final List<LogEntry> cache = new ArrayList<>();
            long received;

            Replica(String id) {
                this.id = id;
                store = RecordStore.open(new io.ferrydb.core.storage.CachedStorage(disk, 64 * 1024), clock, new HybridLogicalClock(clock), List.of(CFG), n -> { });
            }

            long durable() {
                return store.partitionInfo(NS, P).lastLsn();
            }

            void flush() {
                if (!cache.isEmpty()) {
                    store.applyReplicated(NS, P, List.copyOf(cache));
                    cache.clear();
                }
                disk.sync();
            }

            void restart() {
                cache.clear();
                received = durable();
                store = RecordStore.open(new io.ferrydb.core.storage.CachedStorage(disk, 64 * 1024), clock, new HybridLogicalClock(clock), List.of(CFG), n -> { });
            }
        }

        private record Write(long lsn, CommitLevel level, Durability durability, Digest digest) {}

        void run() {
            Replica master = new Replica("a");
            List<Replica> mirrors = List.of(new Replica("b"), new Replica("c"));
            master.store.adoptEpoch(NS, P, 2);
            long masterSynced = 0;
            List<Write> writes = new ArrayList<>();
            Set<Long> acked = new HashSet<>();
            int steps = 30 + random.nextInt(120);
            for (int step = 0; step < steps; step++) {
                int what = random.nextInt(10);
                if (what < 4) {
                    CommitLevel level = LEVELS[random.nextInt(LEVELS.length)];
                    Durability d = DURABILITIES[random.nextInt(DURABILITIES.length)];
                    Key k = KEYS.get(random.nextInt(KEYS.size()));
                    clock.advanceMillis(1);
                    master.store.put(k, List.of(new BinValidator.NamedValue("v", Value.of((long) step))),
                            WritePolicy.DEFAULT.withCommitLevel(level).withDurability(d));
                    writes.add(new Write(master.store.partitionInfo(NS, P).lastLsn(), level, d, k.digest()));
                } else if (what < 7) {
                    Replica m = mirrors.get(random.nextInt(2));
                    long last = master.store.partitionInfo(NS, P).lastLsn();
                    if (m.received < last) {
                        m.cache.addAll(master.store.readLog(NS, P, m.received + 1, 1 + random.nextInt(3)));
                        m.received = m.cache.isEmpty() ? m.durable() : m.cache.get(m.cache.size() - 1).lsn();
                    }
                } else if (what < 9) {
                    mirrors.get(random.nextInt(2)).flush();
                } else {
                    master.disk.sync();
                    masterSynced = master.store.partitionInfo(NS, P).lastLsn();
                }
                // A client is acknowledged the moment its write's rule holds.
                for (Write w : writes) {
                    if (!acked.contains(w.lsn()) && holds(w, masterSynced, mirrors)) {
                        acked.add(w.lsn());
                    }
                }
            }
            totals[0] += acked.size();

            // The master's process is killed (its writes stay on disk: SIGKILL keeps the page
            // cache); sometimes a mirror's process too (its cache is gone, it restarts).
            Replica[] promotedRestarted = new Replica[1];
            if (random.nextInt(4) == 0) {
                promotedRestarted[0] = mirrors.get(random.nextInt(2));
                promotedRestarted[0].restart();
            }
            Replica promoted = null;
            for (Replica m : mirrors) {
                m.flush(); // promotion writes what the cache acknowledged
                if (promoted == null || m.durable() > promoted.durable()) {
                    promoted = m;
                }
            }
            long takeover = promoted.durable();
            promoted.store.adoptEpoch(NS, P, 3);
            for (int i = 0; i < random.nextInt(4); i++) {
                clock.advanceMillis(1);
                promoted.store.put(KEYS.get(random.nextInt(KEYS.size())), List.of(new BinValidator.NamedValue("v", Value.of(-1L))),
                        WritePolicy.DEFAULT);
            }
            master.restart();
            RecordStore.PartitionSnapshot snap = promoted.store.snapshotPartition(NS, P);
            master.store.replacePartition(NS, P, snap, "a");
            for (Replica m : mirrors) {
                if (m != promoted) {
                    assertEquals(List.of(), m.store.replacePartition(NS, P, snap, m.id).records(), "a lagging mirror lost nothing");
                }
            }

            // Check the ledger against what happened.
            boolean cacheLost = snap.epochStarts().get(snap.epochStarts().size() - 1).cacheLost();
            if (promotedRestarted[0] == promoted) {
                assertEquals(true, cacheLost, "the promoted mirror restarted during epoch 2 but its epoch start does not say so");
            }
            List<Digest> expectAcked = new ArrayList<>();
            List<Digest> expectPossibly = new ArrayList<>();
            Set<Long> listed = new HashSet<>();
            long lostAcked = 0;
            for (Write w : writes) {
                if (w.lsn() <= takeover) {
                    continue; // the new master has it
                }
                boolean ack = acked.contains(w.lsn());
                if (w.level() == CommitLevel.MASTER && w.durability() == Durability.ASYNC) {
                    expectAcked.add(w.digest());
                    listed.add(w.lsn());
                    assertEquals(true, ack, "the ledger will call " + w + " acknowledged; it was not");
                } else if ((w.level() == CommitLevel.MASTER && w.durability() == Durability.SYNC)
                        || (w.level() == CommitLevel.ALL && w.durability() == Durability.ASYNC && cacheLost)) {
                    expectPossibly.add(w.digest());
                    listed.add(w.lsn());
                }
                if (ack) {
                    lostAcked++;
                    assertEquals(false, w.level() == CommitLevel.ALL && w.durability() == Durability.SYNC,
                            "acknowledged ALL+SYNC write at lsn " + w.lsn() + " lost");
                    assertEquals(true, listed.contains(w.lsn()), "acknowledged write " + w + " lost and not in the ledger");
                }
            }
            List<Digest> gotAcked = new ArrayList<>();
            List<Digest> gotPossibly = new ArrayList<>();
            for (LossRecord r : master.store.losses()) {
                totals[2] += r.count();
                assertEquals(r.count(), r.digests().size());
                (r.certainty() == LossRecord.Certainty.ACKNOWLEDGED ? gotAcked : gotPossibly).addAll(r.digests());
            }
            assertEquals(expectAcked, gotAcked, "ACKNOWLEDGED ledger entries");
            assertEquals(expectPossibly, gotPossibly, "POSSIBLY_ACKNOWLEDGED ledger entries");
            totals[1] += lostAcked;
            if (lostAcked > 0) {
                totals[3]++;
            }
            // The old master now holds exactly the new master's partition.
            assertEquals(promoted.store.partitionInfo(NS, P).lastLsn(), master.store.partitionInfo(NS, P).lastLsn());
            for (Key k : KEYS) {
                assertEquals(promoted.store.get(k), master.store.get(k), "record " + k + " after the copy");
            }
        }

        private static boolean holds(Write w, long masterSynced, List<Replica> mirrors) {
            boolean masterOk = w.durability() == Durability.ASYNC || masterSynced >= w.lsn();
            if (w.level() == CommitLevel.MASTER) {
                return masterOk;
            }
            for (Replica m : mirrors) {
                long has = w.durability() == Durability.SYNC ? m.durable() : m.received;
                if (has < w.lsn()) {
                    return false;
                }
            }
            return masterOk;
        }
    }
}
