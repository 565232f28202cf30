package io.ferrydb.core.cluster.sim;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Digest;
import io.ferrydb.api.Durability;
import io.ferrydb.api.Key;
import io.ferrydb.api.Limits;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.Clock;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.NamespaceTable;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.core.cluster.PartitionRef;
import io.ferrydb.core.cluster.LsnReport;
import io.ferrydb.core.cluster.Replica;
import io.ferrydb.core.cluster.ReplicaState;
import io.ferrydb.core.log.EpochStart;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.loss.FailoverCheck;
import io.ferrydb.core.loss.LossRecord;
import io.ferrydb.core.mirror.AckTriplet;
import io.ferrydb.core.mirror.ChangeTracking;
import io.ferrydb.core.mirror.MirrorPartition;
import io.ferrydb.core.mirror.MirrorReply;
import io.ferrydb.core.mirror.PartitionReplicator;
import io.ferrydb.core.mirror.ReplicateBatch;
import io.ferrydb.core.mirror.ResyncPath;
import io.ferrydb.core.mirror.ResyncPlanner;
import io.ferrydb.core.mirror.SyncSession;
import io.ferrydb.core.mirror.SyncStart;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.storage.CachedStorage;
import io.ferrydb.core.storage.SimulatedStorage;
import io.ferrydb.core.store.PartitionInfo;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.core.store.WriteOutcome;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The node-level data path for {@link ClusterSimulation}: every node runs a real
 * {@link RecordStore} on a {@link SimulatedStorage}, the master side of mirroring
 * ({@link PartitionReplicator}) and the mirror side ({@link MirrorPartition}) over
 * ordered streams that break with the network, group fsyncs, promotions with the
 * failover check, syncs chosen by {@link ResyncPlanner} and shipped in acknowledged
 * chunks (log replay, tracked keys, copy with divergent-tail accounting), and change
 * tracking while a mirror is away. It is the same wiring as the server's
 * {@code NodeCluster}, {@code Replication}, {@code Resyncer} and {@code MirrorReceiver},
 * single-threaded and on simulated time.
 *
 * <p>A few "hot" partitions take client writes under random commit levels and
 * durabilities; the other partitions stay empty and sync as LSN counters. Crashes are
 * process kills (storage keeps what was written, caches and buffers are gone) or, when
 * {@code powerLoss}, machine crashes (unsynced storage writes may be lost too).
 *
 * <p>Checked after healing ({@link #checkConverged}): no acknowledged ALL+SYNC write is
 * lost; every acknowledged write that is lost is in some node's loss ledger; the ledger
 * has no false entries (each record's writes are really gone, and an ACKNOWLEDGED record
 * counts no write no client was told about); IN_SYNC replicas hold identical records,
 * positions and logs; logs are gapless.
 */
final class MirroredDataPath implements ClusterSimulation.DataPath {
    private static final String NS = ClusterSimulation.NS;
    private static final NamespaceConfig CONFIG = NamespaceConfig.defaults(NS);
    private static final long SYNC_RETRY_MS = 1_000;
    private static final long HANDOFF_STREAM_WAIT_MS = 2_000;
    private static final int CHUNK = 4;
    /** Each node's record cache in the simulation: 256 bytes a stripe, so records are evicted all the time. */
    private static final long SIM_RECORD_CACHE_BYTES = 64 * 1024;
    private static final CommitLevel[] LEVELS = CommitLevel.values();
    private static final Durability[] DURABILITIES = Durability.values();

    /** Partitions that may be hot and six keys of each (found once: a digest per key tried). */
    private static final Map<Integer, List<Key>> CANDIDATES = new TreeMap<>();

    static {
        for (long k = 0; CANDIDATES.size() < 8; k++) {
            CANDIDATES.putIfAbsent(Key.of(NS, "s", k * 7919).partition(), new ArrayList<>());
        }
        for (long k = 0; CANDIDATES.values().stream().anyMatch(l -> l.size() < 6); k++) {
            Key key = Key.of(NS, "s", k);
            List<Key> l = CANDIDATES.get(key.partition());
            if (l != null && l.size() < 6) {
                l.add(key);
            }
        }
    }

    private final ClusterSimulation sim;
    private final Random random;
    private final boolean powerLoss;
    private final long writesUntilMs;
    private final int[] hot;
    private final Set<Integer> hotSet = new HashSet<>();
    private final Map<Integer, List<Key>> keys = new HashMap<>();
    private final PartitionReplicator.Config replicatorConfig;
    private final MirrorPartition.Config mirrorConfig;
    private final int trackingMaxKeys;
    private final int diskMaxMs;
    private final Map<String, Store> stores = new HashMap<>();
    /** Every write a master logged, in the order it logged them. */
    final List<Write> writes = new ArrayList<>();
    private long nextValue;
    private long nextSession;

    /** A write a master logged: its identity in the partition's history and whether its client was acknowledged. */
    static final class Write {
        final int partition;
        final long epoch;
        final long lsn;
        final CommitLevel level;
        final Durability durability;
        final Digest digest;
        final String master;
        boolean acked;

        Write(int partition, long epoch, long lsn, CommitLevel level, Durability durability, Digest digest, String master) {
            this.partition = partition;
            this.epoch = epoch;
            this.lsn = lsn;
            this.level = level;
            this.durability = durability;
            this.digest = digest;
            this.master = master;
        }

        @Override
        public String toString() {
            return "write p" + partition + " e" + epoch + " lsn " + lsn + " " + level + "+" + durability + " on " + master + (acked ? " (acked)" : "");
        }
    }

    MirroredDataPath(ClusterSimulation sim, boolean powerLoss, long writesUntilMs) {
        this.sim = sim;
        this.random = sim.random;
        this.powerLoss = powerLoss;
        this.writesUntilMs = writesUntilMs;
        List<Integer> candidates = new ArrayList<>(CANDIDATES.keySet());
        int n = 1 + random.nextInt(3);
        hot = new int[n];
        for (int i = 0; i < n; i++) {
            int p = candidates.remove(random.nextInt(candidates.size()));
            hot[i] = p;
            hotSet.add(p);
            keys.put(p, CANDIDATES.get(p));
        }
        int batch = 1 + random.nextInt(6);
        replicatorConfig = new PartitionReplicator.Config(batch, batch + random.nextInt(40), 50 + random.nextInt(250));
        mirrorConfig = new MirrorPartition.Config(1 + random.nextInt(12), 5 + random.nextInt(150));
        trackingMaxKeys = 1 + random.nextInt(8);
        diskMaxMs = 1 + random.nextInt(15);
        for (ClusterSimulation.Node node : sim.nodes) {
            stores.put(node.id, new Store(node));
        }
    }

    private static final boolean TRACE = Boolean.getBoolean("ferry.node.trace");

    void trace(String format, Object... args) {
        if (TRACE) {
            System.out.printf("%6d %s%n", sim.scheduler.nowMs(), String.format(format, args));
        }
    }

    int[] hotPartitions() {
        return hot.clone();
    }

    List<Key> keysOf(int p) {
        return keys.get(p);
    }

    boolean hot(int p) {
        return hotSet.contains(p);
    }

    Store store(String node) {
        return stores.get(node);
    }

    // ---- DataPath ----

    @Override
    public void started(ClusterSimulation.Node n) {
        stores.get(n.id).open();
    }

    @Override
    public void crashed(ClusterSimulation.Node n) {
        stores.get(n.id).crash();
    }

    @Override
    public long[] lsns(ClusterSimulation.Node n, String namespace) {
        long[] out = new long[Limits.PARTITION_COUNT];
        Store s = stores.get(n.id);
        for (int p : hot) {
            out[p] = LsnReport.of(s.store, NS, p);
        }
        return out;
    }

    @Override
    public void viewChanged(ClusterSimulation.Node n, ClusterView previous, ClusterView current) {
        stores.get(n.id).onView(previous, current);
    }

    @Override
    public void startSync(ClusterSimulation.Node master, int inc, PartitionRef ref) {
        if (!hot(ref.partition())) {
            sim.startSync(master, inc, ref); // an empty partition: nothing to copy
            return;
        }
        sim.count("sync-started");
        Store s = stores.get(master.id);
        s.requested.put(ref.partition() + "@" + ref.node(), ref);
        boolean handoff = ref.node().equals(master.member.view().entry(NS, ref.partition()).handoffTo());
        // The server starts syncs on its copy thread (handoffs on their own).
        s.later(1 + random.nextInt(10), () -> {
            if (s.requested.get(ref.partition() + "@" + ref.node()) == ref && !(handoff && s.awaitStream(ref))
                    && (!handoff || master.member.maySync(NS, ref.partition(), ref.node()))) {
                s.startSession(ref.partition(), ref.node(), null, false);
            }
        });
    }

    @Override
    public void tick(ClusterSimulation.Node n, int inc) {
        stores.get(n.id).tick();
    }

    @Override
    public void write() {
        if (sim.scheduler.nowMs() > writesUntilMs) {
            return;
        }
        int p = hot[random.nextInt(hot.length)];
        for (ClusterSimulation.Node n : sim.nodes) {
            if (n.up && n.member.mastering(NS, p, n.localMs())) {
                stores.get(n.id).clientWrite(p);
            }
        }
    }

    // ---- one node's data path ----

    final class Store {
        final ClusterSimulation.Node node;
        final SimulatedStorage disk = new SimulatedStorage();
        CachedStorage cache;
        RecordStore store;
        int inc;
        final Map<Integer, PartitionReplicator> replicators = new HashMap<>();
        final Map<Long, Write> waiting = new HashMap<>();
        final Map<Integer, MirrorPartition> mirrors = new HashMap<>();
        /** The master a mirrored partition answers to (the last one that sent it a batch). */
        final Map<Integer, String> replyTo = new HashMap<>();
        final Set<Integer> syncingHere = new HashSet<>();
        final Map<Integer, List<EpochStart>> syncStarts = new HashMap<>();
        final Map<String, Session> sessions = new LinkedHashMap<>();
        final Map<String, PartitionRef> requested = new HashMap<>();
        /** Handoffs whose target, an IN_SYNC mirror on the stream, has to report this LSN durable (as Replication does). */
        final Map<String, long[]> streamHandoffs = new HashMap<>();
        /** Finished syncs (p@mirror) whose catching up is reported once the mirror holds what was logged meanwhile. */
        final Set<String> caughtUpReports = new java.util.LinkedHashSet<>();
        final Set<Integer> tracked = new HashSet<>();
        /** Partitions this node holds data of but no replica: when it asked their master for its history. */
        final Map<Integer, Long> releaseAskedAt = new HashMap<>();
        /** The stream to each mirror this master last sent on (mirror incarnation and network cuts): a new one reconnects. */
        final Map<String, Long> connections = new HashMap<>();
        final List<Runnable> afterFsync = new ArrayList<>();
        boolean fsyncScheduled;
        long nextToken;
        /** Whether messages this process had sent before it was killed still arrive (decided at each crash). */
        boolean sentSurvivesCrash;

        Store(ClusterSimulation.Node node) {
            this.node = node;
        }

        String id() {
            return node.id;
        }

        long now() {
            return node.localMs();
        }

        void open() {
            inc = node.incarnation;
            Clock clock = new Clock() {
                @Override
                public long wallMillis() {
                    return 1_700_000_000_000L + node.localMs();
                }

                @Override
                public long monotonicNanos() {
                    return sim.scheduler.nowMs() * 1_000_000L;
                }
            };
            // A small record cache (as every node runs one), new with each process, evicting often.
            cache = new CachedStorage(disk, SIM_RECORD_CACHE_BYTES);
            store = RecordStore.open(cache, clock, new HybridLogicalClock(clock), List.of(CONFIG), x -> { });
        }

        /** Adds what this process's record cache did to the run's counts (it goes with the process). */
        void tallyCache() {
            if (cache != null) {
                sim.count("record-cache-hits", cache.hits.sumThenReset());
                sim.count("record-cache-evictions", cache.evictions.sumThenReset());
                sim.count("record-cache-raced-fills", cache.racedFills.sumThenReset());
            }
        }

        void crash() {
            tallyCache();
            sentSurvivesCrash = !powerLoss && random.nextBoolean();
            trace("%s crashed (what it had sent %s)", id(), sentSurvivesCrash ? "still arrives" : "is lost");
            if (!powerLoss) {
                disk.sync(); // a killed process: the page cache keeps every write
            }
            disk.crash(random);
            replicators.clear();
            waiting.clear();
            mirrors.clear();
            replyTo.clear();
            syncingHere.clear();
            syncStarts.clear();
            sessions.clear();
            requested.clear();
            tracked.clear();
            caughtUpReports.clear();
            releaseAskedAt.clear();
            connections.clear();
            afterFsync.clear();
            fsyncScheduled = false;
        }

        boolean alive() {
            return node.alive(inc);
        }

        /** Runs {@code r} after {@code ms} if this process still lives. */
        void later(long ms, Runnable r) {
            int i = inc;
            sim.scheduler.after(ms, () -> {
                if (node.alive(i)) {
                    r.run();
                }
            });
        }

        /** Group commit: one fsync for everything written before it, then the callbacks. */
        void fsync(Runnable after) {
            if (after != null) {
                afterFsync.add(after);
            }
            if (fsyncScheduled) {
                return;
            }
            fsyncScheduled = true;
            later(1 + random.nextInt(diskMaxMs), () -> {
                fsyncScheduled = false;
                disk.sync();
                List<Runnable> done = new ArrayList<>(afterFsync);
                afterFsync.clear();
                for (Map.Entry<Integer, PartitionReplicator> e : new ArrayList<>(replicators.entrySet())) {
                    release(e.getValue().onLocalDurable(store.partitionInfo(NS, e.getKey()).lastLsn()));
                    send(e.getValue().poll());
                }
                done.forEach(Runnable::run);
            });
        }

        /** Sends on the ordered stream to another node's process; lost if either process dies or the network cuts. */
        void stream(String to, Consumer<Store> deliver) {
            Store target = stores.get(to);
            ClusterSimulation.Node t = target.node;
            int fromInc = inc;
            int toInc = t.incarnation;
            // What a killed process had written to a connection may still reach the other end
            // (the kernel sends it): half of the kills deliver it, power losses never.
            sim.network.stream(node.index, t.index, () -> (node.alive(fromInc) || node.incarnation == fromInc && !node.up && sentSurvivesCrash)
                            && t.alive(toInc) && t.up,
                    () -> deliver.accept(target));
        }

        // ---- master side ----

        void clientWrite(int p) {
            PartitionEntry e = node.member.view().entry(NS, p);
            if (store.partitionInfo(NS, p).epoch() != e.epoch()) {
                return; // not adopted yet (the server adopts with the view, before the gate sees it)
            }
            PartitionReplicator r = replicators.get(p);
            if (r != null && r.deposed()) {
                sim.count("write-refused-deposed");
                return;
            }
            CommitLevel level = LEVELS[random.nextInt(LEVELS.length)];
            Durability durability = DURABILITIES[random.nextInt(DURABILITIES.length)];
            List<Key> ks = keys.get(p);
            Key key = ks.get(random.nextInt(ks.size()));
            WritePolicy policy = WritePolicy.DEFAULT.withCommitLevel(level).withDurability(durability);
            WriteOutcome o = random.nextInt(8) == 0 ? store.delete(key, policy)
                    : store.put(key, List.of(new BinValidator.NamedValue("v", Value.of(++nextValue))), policy);
            if (!(o instanceof WriteOutcome.Written w)) {
                return;
            }
            Write write = new Write(p, w.epoch(), w.lsn(), level, durability, key.digest(), id());
            trace("%s writes %s", id(), write);
            writes.add(write);
            sim.count("write");
            if (r == null) {
                if (durability == Durability.ASYNC) {
                    ack(write);
                } else {
                    fsync(() -> ack(write));
                }
                return;
            }
            long token = ++nextToken;
            waiting.put(token, write);
            PartitionReplicator.Outcome out = r.onCommitted(w.entry(), level, durability, token);
            release(out.acknowledge());
            resync(p, out.needResync());
            if (durability == Durability.SYNC) {
                fsync(null);
            }
            send(r.poll());
        }

        void ack(Write w) {
            trace("acked %s", w);
            w.acked = true;
            sim.count("acked");
        }

        void release(List<Long> tokens) {
            for (long t : tokens) {
                Write w = waiting.remove(t);
                if (w != null) {
                    ack(w);
                }
            }
        }

        void send(List<PartitionReplicator.Send> sends) {
            for (PartitionReplicator.Send s : sends) {
                connect(s.mirror());
                ReplicateBatch b = s.batch();
                String from = id();
                stream(s.mirror(), m -> m.onBatch(from, b));
            }
        }

        /** A new stream to {@code mirror}: every partition resumes from what the mirror last said it holds durably. */
        void connect(String mirror) {
            long key = ((long) stores.get(mirror).node.incarnation << 40) ^ sim.network.cuts;
            Long was = connections.put(mirror, key);
            if (was == null || was == key) {
                return; // the first stream (nothing sent before could be lost), or the same one
            }
            for (Map.Entry<Integer, PartitionReplicator> e : replicators.entrySet()) {
                PartitionReplicator r = e.getValue();
                AckTriplet held = r.mirrorHoldings().get(mirror);
                if (held != null && !r.syncing(mirror)) {
                    PartitionReplicator.Outcome o = r.onMirrorConnected(mirror, AckTriplet.durable(held.committedLsn()));
                    release(o.acknowledge());
                    resync(e.getKey(), o.needResync());
                }
            }
        }

        void onReply(String mirror, MirrorReply reply) {
            PartitionReplicator r = replicators.get(reply.partition());
            if (r == null) {
                return;
            }
            PartitionReplicator.Outcome o = r.onReply(mirror, reply);
            release(o.acknowledge());
            if (o.deposed()) {
                sim.count("deposed");
                waiting.keySet().removeAll(r.pendingTokens());
            }
            resync(reply.partition(), o.needResync());
            send(r.poll());
        }

        void tick() {
            long now = now();
            for (Map.Entry<Integer, PartitionReplicator> e : new ArrayList<>(replicators.entrySet())) {
                PartitionReplicator r = e.getValue();
                Set<String> behind = r.tick(now);
                resync(e.getKey(), behind);
                send(r.poll());
            }
            for (Session s : new ArrayList<>(sessions.values())) {
                PartitionReplicator r = replicators.get(s.p);
                boolean wanted = r != null && r.mirrorHoldings().containsKey(s.mirror) && (s.sync.plan() == null || r.syncing(s.mirror));
                if (!wanted) {
                    sessions.remove(s.key(), s);
                } else if (s.awaitingSince >= 0 && now - s.awaitingSince >= SYNC_RETRY_MS) {
                    sim.count("sync-restarted");
                    startSession(s.p, s.mirror, s.sync.floor(), true);
                }
            }
            requested.values().removeIf(ref -> !node.member.syncWanted(ref));
            checkStreamHandoffs(now);
            for (Map.Entry<Integer, MirrorPartition> e : new ArrayList<>(mirrors.entrySet())) {
                startFlush(e.getKey(), e.getValue(), e.getValue().tick(now));
            }
            if (random.nextInt(8) == 0) {
                fsync(null); // the WAL reaches the disk now and then without anyone waiting
            }
            askToRelease(now);
        }

        /**
         * A partition this node holds data of without being its replica (a deposed master
         * whose place went to another node): ask its master for its history, account for the
         * divergent tail against it and drop the partition.
         */
        void askToRelease(long now) {
            ClusterView v = node.member.view();
            for (int p : hot) {
                PartitionEntry e = v.entry(NS, p);
                if (e.epoch() == 0 || e.replicaOn(id()) != null || e.master() == null || !e.available() || syncingHere.contains(p)
                        || syncStarts.containsKey(p)) {
                    continue;
                }
                Long asked = releaseAskedAt.get(p);
                if (asked != null && now - asked < SYNC_RETRY_MS) {
                    continue;
                }
                if (store.partitionInfo(NS, p).lastLsn() == 0 && store.countRecords(NS, p) == 0) {
                    continue;
                }
                releaseAskedAt.put(p, now);
                String me = id();
                stream(e.master(), m -> m.onReleaseAsked(me, p));
            }
        }

        /** Another node asks for this node's history of a partition, to release its own copy. */
        void onReleaseAsked(String from, int p) {
            PartitionEntry e = node.member.view().entry(NS, p);
            PartitionInfo info = store.partitionInfo(NS, p);
            if (!id().equals(e.master()) || e.replicaOn(from) != null || info.epoch() != e.epoch()) {
                // Not the master, or it still counts the asker as a replica (the asker's view may
                // lag behind the one that added it back): no answer, the asker asks again.
                return;
            }
            List<EpochStart> starts = store.epochStarts(NS, p);
            String me = id();
            stream(from, s -> s.onRelease(me, p, info.epoch(), info.lastLsn(), starts));
        }

        void onRelease(String master, int p, long epoch, long lastLsn, List<EpochStart> starts) {
            releaseAskedAt.remove(p);
            PartitionEntry e = node.member.view().entry(NS, p);
            if (e.replicaOn(id()) != null || !master.equals(e.master()) || epoch < e.epoch() || syncingHere.contains(p)
                    || syncStarts.containsKey(p)) {
                return; // a replica again, or the answer is not the current master's history: ask again later
            }
            mirrors.remove(p);
            replyTo.remove(p);
            trace("%s releases p%d (at lsn %d) against %s's history through %d epoch %d %s", id(), p, store.partitionInfo(NS, p).lastLsn(),
                    master, lastLsn, epoch, starts);
            store.release(NS, p, (int) epoch, lastLsn, starts, id());
            sim.count("released");
        }

        /**
         * This replica's answer to a failover check of a master promoted in {@code epoch}: its
         * triplet and the entries it holds above {@code lsn}. Storing any, it marks itself
         * divergent (not promotable until synced), as the server's MirrorReceiver.holds.
         */
        FailoverCheck.Survivor holdsAbove(int p, long lsn, long epoch) {
            MirrorPartition m = mirrors.get(p);
            long last = store.partitionInfo(NS, p).lastLsn();
            List<LogEntry> logged = last > lsn ? store.readLog(NS, p, lsn + 1, Integer.MAX_VALUE) : List.of();
            FailoverCheck.Survivor s = m == null
                    ? FailoverCheck.Survivor.of(id(), AckTriplet.durable(last), logged, List.of(), lsn)
                    : FailoverCheck.Survivor.of(id(), m.holds(), logged, m.cachedAbove(lsn), lsn);
            if (store.markDivergent(NS, p, epoch, lsn)) {
                sim.count("survivor-marked-divergent");
                trace("%s holds p%d beyond %d, where epoch %d continues: not promotable until synced", id(), p, lsn, epoch);
            }
            return s;
        }

        // ---- views ----

        void onView(ClusterView previous, ClusterView current) {
            NamespaceTable t = current.table(NS);
            if (t == null) {
                return;
            }
            // Promotions first: what the cache acknowledged is written, and the failover check runs.
            boolean wrote = false;
            for (int p : hot) {
                PartitionEntry before = previous.entry(NS, p);
                PartitionEntry e = t.entry(p);
                if (id().equals(e.master()) && !id().equals(before.master())) {
                    syncingHere.remove(p);
                    MirrorPartition m = mirrors.remove(p);
                    if (m != null) {
                        MirrorPartition.Flush f = m.flushAll();
                        if (f != null) {
                            store.applyReplicated(NS, p, f.entries());
                        }
                        wrote = true;
                    }
                    long reported = t.failedMasterLsn(p);
                    trace("%s promoted on p%d in epoch %d at lsn %d (failed master %s reported %d)", id(), p, e.epoch(),
                            store.partitionInfo(NS, p).lastLsn(), before.master(), reported);
                    if (reported >= 0 && before.master() != null) {
                        // The failover check: the triplets (and tails) of the old epoch's other reachable replicas.
                        long held = store.partitionInfo(NS, p).lastLsn();
                        List<FailoverCheck.Survivor> survivors = new ArrayList<>();
                        List<String> unreached = new ArrayList<>();
                        for (Replica r : before.mirrors()) {
                            if (r.node().equals(id())) {
                                continue;
                            }
                            Store x = stores.get(r.node());
                            if (x == null || !x.node.up || sim.network.isBlocked(node.index, x.node.index)
                                    || sim.network.isBlocked(x.node.index, node.index)) {
                                unreached.add(r.node());
                            } else {
                                survivors.add(x.holdsAbove(p, held, e.epoch()));
                            }
                        }
                        trace("%s failover check of p%d at lsn %d: asked %s, unreached %s", id(), p, held,
                                survivors.stream().map(x -> x.node() + "=" + x.holds()).toList(), unreached);
                        sim.count(survivors.isEmpty() ? "failover-check-alone" : "failover-check-asked-survivors");
                        if (survivors.stream().anyMatch(s -> s.holds().receivedLsn() > held)) {
                            sim.count("failover-check-survivor-ahead");
                        }
                        LossRecord r = store.recordFailoverGap(NS, p, before.epoch(), e.epoch(), before.master(), reported, survivors,
                                unreached, id());
                        if (r != null) {
                            sim.count("failover-record");
                            if (!r.digests().isEmpty()) {
                                sim.count("failover-record-with-survivor-digests");
                            }
                        }
                        wrote = true;
                    }
                }
            }
            if (wrote) {
                disk.sync(); // the promotion's fsync, before serving
            }
            if (TRACE && !current.members().equals(previous.members())) {
                StringBuilder sb = new StringBuilder();
                current.members().values().forEach(m -> sb.append(' ').append(m.id()).append('=').append(m.liveness()));
                trace("%s view %d members:%s", id(), current.version(), sb);
            }
            // Replicators before the epochs: as in the server.
            for (int p : hot) {
                PartitionEntry e = t.entry(p);
                PartitionEntry before = previous.entry(NS, p);
                if (before.equals(e) && previous.table(NS) != null) {
                    continue;
                }
                trace("%s view %d p%d: %s (store at lsn %d epoch %d)", id(), current.version(), p, e, store.partitionInfo(NS, p).lastLsn(),
                        store.partitionInfo(NS, p).epoch());
                if (id().equals(e.master()) && e.epoch() > 0) {
                    Map<String, ReplicaState> states = new LinkedHashMap<>();
                    for (Replica r : e.mirrors()) {
                        states.put(r.node(), r.state());
                    }
                    PartitionReplicator r = replicators.get(p);
                    if (r == null) {
                        if (states.isEmpty()) {
                            continue;
                        }
                        r = new PartitionReplicator(NS, p, e.epoch(), store.partitionInfo(NS, p).lastLsn(), replicatorConfig);
                        replicators.put(p, r);
                    }
                    release(r.onView(e.epoch(), states));
                    trackChanges(p, states, r.mirrorHoldings());
                    send(r.poll());
                } else {
                    if (tracked.remove(p)) {
                        store.stopTracking(NS, p);
                    }
                    PartitionReplicator r = replicators.remove(p);
                    if (r != null) {
                        waiting.keySet().removeAll(r.pendingTokens()); // those clients get UNAVAILABLE
                    }
                }
            }
            for (int p : hot) {
                PartitionEntry e = t.entry(p);
                if (id().equals(e.master()) && e.epoch() > 0) {
                    store.adoptEpoch(NS, p, e.epoch());
                }
            }
        }

        void trackChanges(int p, Map<String, ReplicaState> states, Map<String, AckTriplet> held) {
            long from = ChangeTracking.decide(states, held);
            if (from > 0) {
                tracked.add(p);
                store.startTracking(NS, p, from, trackingMaxKeys);
            } else if (from == ChangeTracking.STOP && tracked.remove(p)) {
                store.stopTracking(NS, p);
            }
        }

        // ---- mirror side ----

        void onBatch(String master, ReplicateBatch b) {
            int p = b.partition();
            if (syncingHere.contains(p)) {
                return; // a sync is rewriting the partition; the master streams again after it
            }
            MirrorPartition m = mirrors.computeIfAbsent(p, k -> {
                PartitionInfo info = store.partitionInfo(NS, k);
                return new MirrorPartition(NS, k, info.epoch(), info.lastLsn(), store.epochAt(NS, k, info.lastLsn()), mirrorConfig);
            });
            replyTo.put(p, master);
            MirrorPartition.Step step = m.onBatch(b, now());
            MirrorReply reply = step.reply();
            if (reply instanceof MirrorReply.Refused refused && refused.reason() == MirrorReply.Reason.STALE_EPOCH) {
                mirrors.remove(p, m); // a deposed master: keep no mirror state
            }
            MirrorReply flushed = startFlush(p, m, step.flush());
            if (flushed != null) {
                reply = flushed;
            }
            if (reply != null) {
                MirrorReply r = reply;
                String me = id();
                stream(master, s -> s.onReply(me, r));
            }
        }

        /** Writes a flush now; an ASYNC one completes at once (returns the answer), a SYNC one after the next fsync. */
        MirrorReply startFlush(int p, MirrorPartition m, MirrorPartition.Flush f) {
            if (f == null) {
                return null;
            }
            store.applyReplicated(NS, p, f.entries());
            if (!f.fsync()) {
                MirrorPartition.Step s = m.onFlushed(f, now());
                MirrorReply next = startFlush(p, m, s.flush());
                return next != null ? next : s.reply();
            }
            fsync(() -> {
                if (mirrors.get(p) != m) {
                    return; // replaced by a sync or a promotion meanwhile
                }
                MirrorPartition.Step s = m.onFlushed(f, now());
                MirrorReply r = s.reply();
                MirrorReply next = startFlush(p, m, s.flush());
                if (next != null) {
                    r = next;
                }
                String master = replyTo.get(p);
                if (r != null && master != null) {
                    MirrorReply reply = r;
                    String me = id();
                    stream(master, st -> st.onReply(me, reply));
                }
            });
            return null;
        }

        // ---- syncs: the master's side ----

        /** A sync in progress: the same sans-IO session the server's Resyncer drives, and when it last sent. */
        final class Session {
            final SyncSession sync;
            final int p;
            final String mirror;
            long awaitingSince;

            Session(SyncSession sync) {
                this.sync = sync;
                this.p = sync.partition();
                this.mirror = sync.mirror();
            }

            String key() {
                return p + "@" + mirror;
            }
        }

        /**
         * Syncs (which rewrite a mirror's copy) run only while this node holds a master lease: a
         * restarted process handed its old view had none, yet copied its history over a mirror
         * the control plane had just promoted (seed 334), before that mirror learned it.
         */
        boolean leased() {
            return node.member.leaseValid(node.localMs());
        }

        void resync(int p, Set<String> mirrorsBehind) {
            for (String m : mirrorsBehind) {
                // As Replication.resync: an IN_SYNC mirror is reported behind first (ClusterMember.maySync).
                if (node.member.maySync(NS, p, m)) {
                    startSession(p, m, null, false);
                } else {
                    sim.count("mirror-reported-behind");
                }
            }
        }

        /**
         * Replication.awaitStream: a handoff's target fed by the ordered stream needs no sync,
         * only to acknowledge durably what the log holds now. False: it is synced instead.
         */
        boolean awaitStream(PartitionRef ref) {
            PartitionReplicator r = replicators.get(ref.partition());
            if (r == null || !r.streamedInSync(ref.node())) {
                return false;
            }
            sim.count("handoff-by-stream-started");
            streamHandoffs.put(ref.partition() + "@" + ref.node(), new long[] {store.partitionInfo(NS, ref.partition()).lastLsn(),
                    now() + HANDOFF_STREAM_WAIT_MS});
            return true;
        }

        void checkStreamHandoffs(long now) {
            for (var it = caughtUpReports.iterator(); it.hasNext(); ) {
                String k = it.next();
                PartitionRef ref = requested.get(k);
                PartitionReplicator r = ref == null ? null : replicators.get(ref.partition());
                if (r == null) {
                    it.remove();
                } else if (r.mayReportCaughtUp(ref.node())) {
                    it.remove();
                    requested.remove(k);
                    node.member.onSyncComplete(ref);
                    sim.count("sync-done");
                }
            }
            for (var it = streamHandoffs.entrySet().iterator(); it.hasNext(); ) {
                var e = it.next();
                PartitionRef ref = requested.get(e.getKey());
                PartitionReplicator r = ref == null ? null : replicators.get(ref.partition());
                if (r == null) {
                    it.remove();
                    continue;
                }
                boolean streamed = r.streamedInSync(ref.node());
                if (streamed && r.durableOn(ref.node(), e.getValue()[0])) {
                    it.remove();
                    requested.remove(e.getKey());
                    trace("%s hands p%d off to %s by the stream (durable there through %d)", id(), ref.partition(), ref.node(), e.getValue()[0]);
                    sim.count("handoff-by-stream");
                    node.member.onSyncComplete(ref);
                } else if (!streamed || now >= e.getValue()[1]) {
                    it.remove();
                    sim.count("handoff-by-stream-fell-back");
                    if (node.member.maySync(NS, ref.partition(), ref.node())) {
                        startSession(ref.partition(), ref.node(), null, true);
                    } else {
                        sim.count("handoff-target-reported-behind");
                    }
                }
            }
        }

        void startSession(int p, String mirror, ResyncPath floor, boolean over) {
            if (!over && sessions.containsKey(p + "@" + mirror)) {
                return;
            }
            PartitionReplicator r = replicators.get(p);
            if (r == null) {
                return;
            }
            Session s = new Session(new SyncSession(++nextSession, NS, p, mirror, floor, r.epoch()));
            sessions.put(s.key(), s);
            s.awaitingSince = now();
            if (!leased()) {
                return; // started over by the retry timer once this node holds a lease again
            }
            long sid = s.sync.id();
            long fence = s.sync.fence();
            String me = id();
            stream(mirror, m -> m.onProbe(me, p, sid, fence));
        }

        void onProbeReply(String mirror, int p, long sid, long committed, long lastEntryEpoch, boolean hasRecords) {
            Session s = sessions.get(p + "@" + mirror);
            PartitionReplicator r = replicators.get(p);
            if (s == null || s.sync.id() != sid || s.sync.plan() != null || r == null || !leased()) {
                return;
            }
            ResyncPath first = random.nextInt(4) == 0 ? ResyncPath.values()[random.nextInt(3)] : null;
            SyncStart start = SyncStart.prepare(store, NS, p, committed, hasRecords, lastEntryEpoch, store.countRecords(NS, p), first,
                    s.sync.floor());
            s.sync.planned(start);
            ResyncPlanner.Plan plan = start.plan();
            sim.count("sync-" + plan.path());
            trace("%s syncs p%d to %s by %s through %d (mirror at %d): %s", id(), p, mirror, plan.path(), start.through(), committed, plan.why());
            r.beginSync(mirror, start.through());
            sendNext(s);
        }

        void sendNext(Session s) {
            if (!leased()) {
                // The retry timer starts it over (it must be running: a session left waiting for
                // nothing kept its mirror RESYNCING forever, and a leaving node LEAVING: seed 239).
                s.awaitingSince = now();
                return;
            }
            SyncSession.Next next = s.sync.next(store, CHUNK, Integer.MAX_VALUE);
            if (next instanceof SyncSession.Next.Escalate e) {
                sim.count("sync-escalated");
                startSession(s.p, s.mirror, e.floor(), true);
                return;
            }
            SyncSession.Chunk c = ((SyncSession.Next.Send) next).chunk();
            s.awaitingSince = now();
            String me = id();
            int p = s.p;
            stream(s.mirror, m -> m.onChunk(me, p, c));
        }

        /** The mirror refused a sync: it has seen a newer epoch of the partition, so this master is deposed. */
        void onSyncFenced(String mirror, int p, long sid, long mirrorEpoch, AckTriplet holds) {
            Session s = sessions.get(p + "@" + mirror);
            if (s == null || s.sync.id() != sid) {
                return;
            }
            sessions.remove(s.key(), s);
            sim.count("sync-fenced");
            PartitionReplicator r = replicators.get(p);
            if (r != null) {
                onReply(mirror, new MirrorReply.Refused(NS, p, mirrorEpoch, MirrorReply.Reason.STALE_EPOCH, holds.receivedLsn() + 1, holds));
            }
        }

        void onChunkAck(String mirror, int p, long sid, int nextSeq, String failed, long copiedThrough) {
            Session s = sessions.get(p + "@" + mirror);
            if (s == null || s.sync.id() != sid) {
                return;
            }
            if (failed != null) {
                sim.count("sync-escalated");
                startSession(p, mirror, s.sync.escalation(), true);
                return;
            }
            if (copiedThrough < 0) {
                // Only the answer to the chunk in flight moves the sync on; any other leaves the
                // retry timer running (clearing it on a stale answer stranded the session).
                if (s.sync.movesOn(nextSeq)) {
                    s.awaitingSince = -1;
                    sendNext(s);
                }
                return;
            }
            PartitionReplicator r = replicators.get(p);
            sessions.remove(s.key(), s);
            if (r == null) {
                return;
            }
            PartitionReplicator.Outcome o = r.onResynced(mirror, copiedThrough);
            release(o.acknowledge());
            // Reported caught up once the mirror holds durably what was logged while it was synced
            // (checkStreamHandoffs), as the server's Replication does.
            if (requested.containsKey(s.key()) && o.needResync().isEmpty()) {
                caughtUpReports.add(s.key());
            }
            resync(p, o.needResync());
            send(r.poll());
        }

        // ---- syncs: the mirror's side ----

        /** The newest epoch of the partition this node has seen (its store's, its mirror state's). */
        long knownEpoch(int p) {
            MirrorPartition m = mirrors.get(p);
            return Math.max(store.partitionInfo(NS, p).epoch(), m == null ? 0 : m.epoch());
        }

        /** A sync from a master older than what this node has seen is refused: a deposed master must not overwrite a newer history. */
        boolean fenced(String master, int p, long sid, long fence) {
            long known = knownEpoch(p);
            if (fence >= known) {
                return false;
            }
            PartitionInfo info = store.partitionInfo(NS, p);
            AckTriplet holds = AckTriplet.durable(info.lastLsn());
            String me = id();
            trace("%s refuses a sync of p%d from %s in epoch %d: it has seen epoch %d", me, p, master, fence, known);
            stream(master, s -> s.onSyncFenced(me, p, sid, known, holds));
            return true;
        }

        void onProbe(String master, int p, long sid, long fence) {
            if (fenced(master, p, sid, fence)) {
                return;
            }
            syncingHere.add(p);
            mirrors.remove(p);
            PartitionInfo info = store.partitionInfo(NS, p);
            long last = info.lastLsn();
            long lastEpoch = last == 0 ? 0 : store.epochAt(NS, p, last);
            boolean hasRecords = store.countRecords(NS, p) > 0;
            String me = id();
            stream(master, s -> s.onProbeReply(me, p, sid, last, lastEpoch, hasRecords));
        }

        void onChunk(String master, int p, SyncSession.Chunk c) {
            if (fenced(master, p, c.session(), c.fence())) {
                return;
            }
            String me = id();
            trace("%s chunk %d of %s from %s p%d through %d last=%s (store at %d)", me, c.seq(), c.kind(), master, p, c.through(), c.last(),
                    store.partitionInfo(NS, p).lastLsn());
            try {
                if (c.kind() == ResyncPath.LOG) {
                    long at = store.partitionInfo(NS, p).lastLsn();
                    if (!c.entries().isEmpty() && c.entries().get(0).lsn() != at + 1) {
                        throw new IllegalStateException("log replay chunk starts at lsn " + c.entries().get(0).lsn() + " but this replica is at " + at);
                    }
                    if (!c.entries().isEmpty()) {
                        store.applyReplicated(NS, p, c.entries());
                    }
                } else {
                    if (c.seq() == 0) {
                        syncStarts.put(p, c.starts());
                        store.beginSync(NS, p, c.kind() == ResyncPath.COPY, (int) c.epoch(), c.through(), c.starts(), me);
                    } else if (!syncStarts.containsKey(p)) {
                        throw new IllegalStateException("chunk " + c.seq() + " of a sync whose first chunk this replica did not apply");
                    }
                    store.applySyncRecords(NS, p, c.records(), c.gone());
                    if (c.last()) {
                        store.finishSync(NS, p, (int) c.epoch(), c.through(), c.lastHlc(), syncStarts.remove(p));
                    }
                }
            } catch (RuntimeException e) {
                syncStarts.remove(p);
                sim.count("sync-chunk-failed");
                String why = String.valueOf(e.getMessage());
                stream(master, s -> s.onChunkAck(me, p, c.session(), -1, why, -1));
                return;
            }
            if (!c.last()) {
                stream(master, s -> s.onChunkAck(me, p, c.session(), c.seq() + 1, null, -1));
                return;
            }
            long at = store.partitionInfo(NS, p).lastLsn();
            if (at != c.through()) {
                String why = "after the last chunk this replica is at lsn " + at + ", not " + c.through();
                stream(master, s -> s.onChunkAck(me, p, c.session(), -1, why, -1));
                return;
            }
            mirrors.put(p, new MirrorPartition(NS, p, c.epoch(), c.through(), store.epochAt(NS, p, c.through()), mirrorConfig));
            replyTo.put(p, master);
            syncingHere.remove(p);
            fsync(() -> stream(master, s -> s.onChunkAck(me, p, c.session(), -1, null, c.through())));
        }
    }

    // ---- checkers ----

    @Override
    public void checkConverged() {
        stores.values().forEach(Store::tallyCache);
        ClusterView v = sim.nodes.stream().filter(n -> n.up).findFirst().orElseThrow().member.view();
        List<LossRecord> ledger = new ArrayList<>();
        for (Store s : stores.values()) {
            ledger.addAll(s.store.losses());
        }
        for (int p : hot) {
            PartitionEntry e = v.entry(NS, p);
            Store master = stores.get(e.master());
            RecordStore ms = master.store;
            PartitionInfo mi = ms.partitionInfo(NS, p);
            // Replicas: identical positions, records and logs; every log gapless.
            for (Replica r : e.replicas()) {
                Store rs = stores.get(r.node());
                MirrorPartition cached = rs.mirrors.get(p);
                if (cached != null && cached.holds().cachedCount() > 0) {
                    sim.fail("partition %d: mirror %s still caches %s after the quiet period", p, r.node(), cached.holds());
                }
                PartitionInfo ri = rs.store.partitionInfo(NS, p);
                if (ri.lastLsn() != mi.lastLsn() || ri.epoch() > mi.epoch()) {
                    sim.fail("partition %d: replica %s is at lsn %d epoch %d, master %s at lsn %d epoch %d", p, r.node(), ri.lastLsn(),
                            ri.epoch(), e.master(), mi.lastLsn(), mi.epoch());
                }
                for (Key k : keys.get(p)) {
                    if (!java.util.Objects.equals(ms.get(k), rs.store.get(k))) {
                        sim.fail("partition %d: record %s differs: master %s has %s, replica %s has %s", p, k, e.master(), ms.get(k),
                                r.node(), rs.store.get(k));
                    }
                }
                Map<Long, LogEntry> log = log(rs.store, p, ri);
                Map<Long, LogEntry> mlog = log(ms, p, mi);
                for (Map.Entry<Long, LogEntry> le : log.entrySet()) {
                    LogEntry other = mlog.get(le.getKey());
                    if (other != null && !other.equals(le.getValue())) {
                        sim.fail("partition %d: log entry %d differs between %s and master %s", p, le.getKey(), r.node(), e.master());
                    }
                    if (ms.epochAt(NS, p, le.getKey()) != le.getValue().epoch()) {
                        sim.fail("partition %d: replica %s holds lsn %d of epoch %d; the master's history has epoch %d there", p, r.node(),
                                le.getKey(), le.getValue().epoch(), ms.epochAt(NS, p, le.getKey()));
                    }
                }
            }
            // Writes against the master's history.
            for (Write w : writes) {
                if (w.partition != p) {
                    continue;
                }
                boolean survived = survived(ms, mi, w);
                if (survived || !w.acked) {
                    continue;
                }
                if (w.level == CommitLevel.ALL && w.durability == Durability.SYNC) {
                    sim.fail("acknowledged ALL+SYNC %s lost (the history holds epoch %d at lsn %d; master %s at lsn %d)", w,
                            ms.epochAt(NS, p, w.lsn), w.lsn, e.master(), mi.lastLsn());
                }
                if (powerLoss && w.durability == Durability.ASYNC) {
                    // Acknowledged before any fsync: a machine crash of the only node holding it
                    // takes it without a trace anyone could record.
                    sim.count("lost-async-to-power-loss");
                    continue;
                }
                boolean listed = false;
                for (LossRecord r : ledger) {
                    if (r.partition() == p && r.epoch() == w.epoch && r.fromLsn() <= w.lsn && w.lsn <= r.toLsn()
                            && (r.kind() == LossRecord.Kind.FAILOVER || r.digests().contains(w.digest))) {
                        listed = true;
                    }
                }
                if (!listed) {
                    sim.fail("acknowledged %s lost and not in the ledger %s", w, ledger);
                }
                sim.count("lost-acked-listed");
            }
        }
        // No false entries: each record's writes are gone, and an ACKNOWLEDGED one counts only acknowledged writes.
        for (LossRecord r : ledger) {
            if (!hot(r.partition()) || r.count() < 1) {
                sim.fail("ledger record for an unwritten partition or empty: %s", r);
            }
            Store master = stores.get(v.entry(NS, r.partition()).master());
            PartitionInfo mi = master.store.partitionInfo(NS, r.partition());
            int acked = 0;
            int inRange = 0;
            Set<Digest> unexplained = new HashSet<>(r.digests());
            for (Write w : writes) {
                if (w.partition == r.partition() && w.epoch == r.epoch() && w.lsn >= r.fromLsn() && w.lsn <= r.toLsn()) {
                    unexplained.remove(w.digest);
                    if (survived(master.store, mi, w)) {
                        sim.fail("ledger record %s lists %s, which the history holds", r, w);
                    }
                    inRange++;
                    if (w.acked && (r.kind() == LossRecord.Kind.FAILOVER || r.digests().contains(w.digest))) {
                        acked++;
                    }
                }
            }
            if (!unexplained.isEmpty()) {
                sim.fail("ledger record %s names digests %s of no lost write in its range", r, unexplained);
            }
            if (r.certainty() == LossRecord.Certainty.ACKNOWLEDGED && acked < r.count()) {
                sim.fail("ledger record %s says %d acknowledged writes; %d of its writes were acknowledged", r, r.count(), acked);
            }
            sim.count("ledger-" + r.kind() + "-" + r.certainty());
            if (r.kind() == LossRecord.Kind.FAILOVER && inRange == 0) {
                sim.count("ledger-FAILOVER-nothing-written-in-its-epoch");
            }
        }
    }

    /** Whether the partition's history (its log where it reaches, its epoch starts elsewhere) holds {@code w}. */
    private static boolean survived(RecordStore ms, PartitionInfo mi, Write w) {
        if (w.lsn > mi.lastLsn()) {
            return false;
        }
        List<LogEntry> at = w.lsn >= mi.firstLsn() ? ms.readLog(NS, w.partition, w.lsn, 1) : List.of();
        if (!at.isEmpty() && at.get(0).lsn() == w.lsn) {
            return at.get(0).epoch() == w.epoch && at.get(0).digest().equals(w.digest);
        }
        return ms.epochAt(NS, w.partition, w.lsn) == w.epoch;
    }

    /** The replica's log, checked gapless from its first to its last LSN. */
    private Map<Long, LogEntry> log(RecordStore s, int p, PartitionInfo info) {
        Map<Long, LogEntry> out = new TreeMap<>();
        long next = info.firstLsn();
        while (next <= info.lastLsn()) {
            List<LogEntry> chunk = s.readLog(NS, p, next, 64);
            if (chunk.isEmpty() || chunk.get(0).lsn() != next) {
                sim.fail("partition %d: log has a gap at lsn %d (first %d, last %d)", p, next, info.firstLsn(), info.lastLsn());
            }
            for (LogEntry e : chunk) {
                if (e.lsn() != next) {
                    sim.fail("partition %d: log has a gap at lsn %d", p, next);
                }
                out.put(e.lsn(), e);
                next++;
            }
        }
        return out;
    }
}
