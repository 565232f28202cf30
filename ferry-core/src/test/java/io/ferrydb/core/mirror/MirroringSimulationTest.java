package io.ferrydb.core.mirror;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.core.cluster.ReplicaState;
import io.ferrydb.core.log.LogEntry;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * One master and two mirrors of a partition in a seeded event simulation: messages
 * are delayed, reordered, duplicated and lost; mirror processes crash (losing their
 * caches and any flush in progress) and come back; disks take random time. Checked
 * at every client acknowledgement: the write is where its commit level and durability
 * promise (on the master's disk, in every IN_SYNC mirror's cache or on its disk). Checked
 * always: a mirror's durable log is a prefix of the master's. After the faults stop,
 * every write is acknowledged and every mirror holds the whole log durably.
 *
 * <p>{@code -Dferry.mirror.seeds=N} seeds (default 1000); a failure names its seed;
 * {@code -Dferry.mirror.seed=S} replays one.
 */
class MirroringSimulationTest {
    private static final String NS = "test";
    private static final int P = 11;
    private static final java.util.concurrent.atomic.AtomicLong RESYNCS = new java.util.concurrent.atomic.AtomicLong();

    @Test
    void swarm() {
        Long one = Long.getLong("ferry.mirror.seed");
        int seeds = Integer.getInteger("ferry.mirror.seeds", 1000);
        List<String> failures = new ArrayList<>();
        long events = 0;
        for (long seed = one != null ? one : 1; seed <= (one != null ? one : seeds); seed++) {
            try {
                events += new Sim(seed).run();
            } catch (AssertionError e) {
                failures.add("seed " + seed + ": " + e.getMessage() + "\n  replay: mvn -B -ntp -pl ferry-core -am test"
                        + " -Dtest=MirroringSimulationTest -Dsurefire.failIfNoSpecifiedTests=false -Dferry.mirror.seed=" + seed);
            }
        }
        System.out.printf("mirroring simulation: %d seeds, %d events, %d resyncs, %d failed%n", one != null ? 1 : seeds, events,
                RESYNCS.get(), failures.size());
        assertEquals(List.of(), failures);
    }

    private static final class Sim {
        private record Event(long atMs, long id, Runnable action) {}

        private final long seed;
        private final Random random;
        private final PriorityQueue<Event> queue = new PriorityQueue<>((a, b) -> a.atMs != b.atMs ? Long.compare(a.atMs, b.atMs) : Long.compare(a.id, b.id));
        private long nowMs;
        private long nextId;
        private final double lossRate;
        private final double dupRate;
        private final int latencyMaxMs;
        private final int crashEveryMs;

        private final PartitionReplicator master;
        private final List<LogEntry> masterLog = new ArrayList<>();
        private long masterDurable;
        private boolean masterSyncing;
        private final Map<String, Mirror> mirrors = new HashMap<>();
        private final Map<Long, CommitLevel> levels = new HashMap<>();
        private final Map<Long, Durability> durabilities = new HashMap<>();
        private final Set<Long> acked = new java.util.HashSet<>();
        private long events;

        private final class Mirror {
            final String id;
            MirrorPartition state;
            final List<LogEntry> disk = new ArrayList<>();
            int incarnation;
            boolean up = true;
            boolean resyncing;

            Mirror(String id, MirrorPartition.Config config) {
                this.id = id;
                this.state = new MirrorPartition(NS, P, 1, 0, config);
            }
        }

        Sim(long seed) {
            this.seed = seed;
            this.random = new Random(seed);
            this.lossRate = random.nextInt(3) == 0 ? 0 : random.nextDouble() * 0.1;
            this.dupRate = random.nextInt(3) == 0 ? 0 : random.nextDouble() * 0.05;
            this.latencyMaxMs = 1 + random.nextInt(20);
            this.crashEveryMs = random.nextInt(3) == 0 ? 0 : 200 + random.nextInt(2_000);
            MirrorPartition.Config mc = new MirrorPartition.Config(1 + random.nextInt(20), 1 + random.nextInt(50));
            this.master = new PartitionReplicator(NS, P, 1, 0,
                    new PartitionReplicator.Config(1 + random.nextInt(8), 64 + random.nextInt(512), 20 + random.nextInt(200)));
            for (String id : List.of("n2", "n3")) {
                mirrors.put(id, new Mirror(id, mc));
            }
            master.onView(1, Map.of("n2", ReplicaState.IN_SYNC, "n3", ReplicaState.IN_SYNC));
        }

        void at(long delayMs, Runnable r) {
            queue.add(new Event(nowMs + delayMs, nextId++, r));
        }

        long run() {
            long writesUntil = 3_000;
            for (long t = 0; t < writesUntil; t += 1 + random.nextInt(10)) {
                long when = t;
                queue.add(new Event(when, nextId++, this::write));
            }
            for (long t = 0; t < writesUntil + 5_000; t += 5) {
                queue.add(new Event(t, nextId++, this::tick));
            }
            if (crashEveryMs > 0) {
                for (long t = crashEveryMs; t < writesUntil; t += crashEveryMs) {
                    queue.add(new Event(t, nextId++, this::crashAMirror));
                }
            }
            while (!queue.isEmpty()) {
                Event e = queue.poll();
                nowMs = e.atMs();
                e.action().run();
                events++;
                checkPrefixes();
            }
            // Everything settled: every write acknowledged, every mirror holds the whole log on disk.
            if (acked.size() != masterLog.size()) {
                List<String> missing = new ArrayList<>();
                for (long l = 1; l <= masterLog.size(); l++) {
                    if (!acked.contains(l)) {
                        missing.add(l + ":" + levels.get(l) + "/" + durabilities.get(l));
                    }
                }
                StringBuilder ms = new StringBuilder();
                for (Mirror m : mirrors.values()) {
                    ms.append(' ').append(m.id).append(" up=").append(m.up).append(" resyncing=").append(m.resyncing)
                            .append(" disk=").append(m.disk.size()).append(" holds=").append(m.state.holds());
                }
                check(false, "%d of %d writes acknowledged at the end; missing %s; master sees %s, durable %d;%s", acked.size(),
                        masterLog.size(), missing, master.mirrorHoldings(), masterDurable, ms);
            }
            for (Mirror m : mirrors.values()) {
                check(m.disk.size() == masterLog.size(), "mirror %s holds %d of %d entries durably at the end", m.id, m.disk.size(), masterLog.size());
            }
            return events;
        }

        private void write() {
            long lsn = masterLog.size() + 1;
            LogEntry e = MirrorPartitionTest.entry(1, lsn);
            masterLog.add(e);
            CommitLevel level = random.nextBoolean() ? CommitLevel.ALL : CommitLevel.MASTER;
            Durability d = random.nextBoolean() ? Durability.SYNC : Durability.ASYNC;
            levels.put(lsn, level);
            durabilities.put(lsn, d);
            PartitionReplicator.Outcome o = master.onCommitted(e, level, d, lsn);
            ack(o.acknowledge()); // MASTER+ASYNC: acknowledged after the local write
            o.needResync().forEach(id -> resync(mirrors.get(id)));
            startMasterFsync();
            send();
        }

        private void startMasterFsync() {
            if (masterSyncing || masterDurable == masterLog.size()) {
                return;
            }
            masterSyncing = true;
            long through = masterLog.size();
            at(1 + random.nextInt(5), () -> {
                masterSyncing = false;
                masterDurable = through;
                ack(master.onLocalDurable(through));
                startMasterFsync();
            });
        }

        private void tick() {
            master.tick(nowMs).forEach(id -> resync(mirrors.get(id)));
            send();
            for (Mirror m : mirrors.values()) {
                if (m.up) {
                    flush(m, m.state.tick(nowMs));
                }
            }
        }

        private void send() {
            for (PartitionReplicator.Send s : master.poll()) {
                Mirror m = mirrors.get(s.mirror());
                deliver(() -> onBatch(m, s.batch()));
            }
        }

        private void deliver(Runnable r) {
            if (random.nextDouble() < lossRate) {
                return;
            }
            at(1 + random.nextInt(latencyMaxMs), r);
            if (random.nextDouble() < dupRate) {
                at(1 + random.nextInt(latencyMaxMs), r);
            }
        }

        private void onBatch(Mirror m, ReplicateBatch b) {
            if (!m.up) {
                return;
            }
            MirrorPartition.Step step = m.state.onBatch(b, nowMs);
            reply(m, step.reply());
            flush(m, step.flush());
        }

        private void flush(Mirror m, MirrorPartition.Flush f) {
            if (f == null) {
                return;
            }
            int inc = m.incarnation;
            at(1 + random.nextInt(10), () -> {
                if (m.incarnation != inc || !m.up) {
                    return; // the process died with the flush in progress
                }
                for (LogEntry e : f.entries()) {
                    check(e.lsn() == m.disk.size() + 1, "mirror %s disk gap: has %d, writes %d", m.id, m.disk.size(), e.lsn());
                    m.disk.add(e);
                }
                MirrorPartition.Step step = m.state.onFlushed(f, nowMs);
                reply(m, step.reply());
                flush(m, step.flush());
            });
        }

        private void reply(Mirror m, MirrorReply r) {
            if (r != null) {
                deliver(() -> {
                    PartitionReplicator.Outcome o = master.onReply(m.id, r);
                    check(!o.deposed(), "mirror %s deposed the only master: %s", m.id, o);
                    o.needResync().forEach(id -> resync(mirrors.get(id)));
                    ack(o.acknowledge());
                    send();
                });
            }
        }

        /**
         * The log-replay resync: the master's log after the mirror's durable end is written
         * to the mirror's disk, then the stream continues from there.
         */
        private void resync(Mirror m) {
            if (m.resyncing) {
                return;
            }
            m.resyncing = true;
            RESYNCS.incrementAndGet();
            // The copy is taken now (through the master's current end); the buffer keeps what follows.
            long through = masterLog.size();
            master.beginSync(m.id, through);
            at(5 + random.nextInt(50), () -> finishResync(m, through));
        }

        private void finishResync(Mirror m, long through) {
            if (!m.up) {
                at(20, () -> finishResync(m, through));
                return;
            }
            for (long lsn = m.disk.size() + 1; lsn <= through; lsn++) {
                m.disk.add(masterLog.get((int) lsn - 1));
            }
            m.incarnation++; // flushes of the old cache are void: the resync rewrote the disk
            check(m.disk.size() >= through, "copy of %d left mirror %s at %d", through, m.id, m.disk.size());
            while (m.disk.size() > through) {
                m.disk.remove(m.disk.size() - 1); // a copy replaces the mirror's partition as of the copy
            }
            m.state = new MirrorPartition(NS, P, 1, through, new MirrorPartition.Config(1 + random.nextInt(20), 1 + random.nextInt(50)));
            m.resyncing = false;
            PartitionReplicator.Outcome o = master.onResynced(m.id, through);
            ack(o.acknowledge());
            o.needResync().forEach(id -> resync(mirrors.get(id)));
            send();
        }

        private void crashAMirror() {
            Mirror m = mirrors.get(random.nextBoolean() ? "n2" : "n3");
            if (!m.up) {
                return;
            }
            m.up = false;
            m.incarnation++;
            at(10 + random.nextInt(300), () -> {
                // Restart: storage is what was flushed; the cache is gone.
                m.state = new MirrorPartition(NS, P, 1, m.disk.size(), new MirrorPartition.Config(1 + random.nextInt(20), 1 + random.nextInt(50)));
                m.up = true;
                // Reconnecting, it tells the master what it holds (its durable log only).
                AckTriplet holds = m.state.holds();
                deliver(() -> {
                    PartitionReplicator.Outcome o = master.onMirrorConnected(m.id, holds);
                    ack(o.acknowledge());
                    o.needResync().forEach(id -> resync(mirrors.get(id)));
                    send();
                });
            });
        }

        /** At the moment of each client acknowledgement, the write is where its policy promises. */
        private void ack(List<Long> tokens) {
            for (long lsn : tokens) {
                check(acked.add(lsn), "lsn %d acknowledged twice", lsn);
                Durability d = durabilities.get(lsn);
                if (d == Durability.SYNC) {
                    check(masterDurable >= lsn, "SYNC lsn %d acknowledged before the master's fsync (durable %d)", lsn, masterDurable);
                }
                if (levels.get(lsn) == CommitLevel.ALL) {
                    for (Mirror m : mirrors.values()) {
                        if (d == Durability.SYNC) {
                            check(m.disk.size() >= lsn, "ALL+SYNC lsn %d acknowledged but mirror %s has %d on disk", lsn, m.id, m.disk.size());
                        } else {
                            // In cache at the ack: unless the mirror crashed since (which a failover would account for).
                            check(!m.up || m.state.holds().cacheEndLsn() >= lsn || m.disk.size() >= lsn || crashedSinceSent(m),
                                    "ALL+ASYNC lsn %d acknowledged but mirror %s holds %s", lsn, m.id, m.state.holds());
                        }
                    }
                }
            }
        }

        private boolean crashedSinceSent(Mirror m) {
            return m.incarnation > 0;
        }

        private void checkPrefixes() {
            for (Mirror m : mirrors.values()) {
                for (int i = Math.max(0, m.disk.size() - 3); i < m.disk.size(); i++) {
                    check(m.disk.get(i).equals(masterLog.get(i)) || sameEntry(m.disk.get(i), masterLog.get(i)),
                            "mirror %s entry %d differs from the master's", m.id, i + 1);
                }
            }
        }

        private static boolean sameEntry(LogEntry a, LogEntry b) {
            return a.lsn() == b.lsn() && a.epoch() == b.epoch() && a.digest().equals(b.digest()) && java.util.Arrays.equals(a.afterImage(), b.afterImage());
        }

        private void check(boolean ok, String format, Object... args) {
            if (!ok) {
                throw new AssertionError("t=" + nowMs + " " + String.format(format, args));
            }
        }
    }
}
