package io.ferrydb.server.mirror;

import com.google.protobuf.ByteString;
import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.Member;
import io.ferrydb.core.cluster.NamespaceTable;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.core.cluster.PartitionRef;
import io.ferrydb.core.cluster.Replica;
import io.ferrydb.core.cluster.ReplicaState;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.mirror.AckTriplet;
import io.ferrydb.core.mirror.MirrorReply;
import io.ferrydb.core.mirror.PartitionReplicator;
import io.ferrydb.core.mirror.ResyncPath;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.proto.FerryMirrorGrpc;
import io.ferrydb.proto.FlushScope;
import io.ferrydb.proto.MirrorAck;
import io.ferrydb.proto.MirrorAcks;
import io.ferrydb.proto.MirrorBatch;
import io.ferrydb.proto.MirrorMessage;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A node's master side of mirroring: one {@link PartitionReplicator} per partition it
 * masters, one stream per mirror node, client acknowledgements as futures released by
 * the replicators, and syncs (clone, resync, handoff) done by copying the partition.
 *
 * <p>Threads: writes call {@link #committed} on storage threads, acknowledgements
 * arrive on transport threads, a timer ticks; each replicator is guarded by its own
 * monitor. A partition without mirrors costs one map lookup per write.
 */
public final class Replication implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Replication.class);
    private static final long TICK_MS = 20;

    /** A sync finished; the cluster member reports the mirror caught up. */
    public interface SyncDone {
        void done(PartitionRef ref);
    }

    private final String nodeId;
    private final RecordStore store;
    private final PartitionReplicator.Config config;
    private final Map<String, PartitionReplicator> replicators = new ConcurrentHashMap<>();
    /** Replicators the timer must visit (something outstanding); the others are idle. */
    private final Set<String> active = ConcurrentHashMap.newKeySet();
    private final Map<String, Link> links = new ConcurrentHashMap<>();
    private final Map<Long, CompletableFuture<Void>> waiting = new ConcurrentHashMap<>();
    /** Syncs in progress: partition key + mirror → the ref to report when done. */
    private final Map<String, PartitionRef> syncs = new ConcurrentHashMap<>();
    private final Resyncer resyncer;
    private final int trackingMaxKeys;
    private final AtomicLong tokens = new AtomicLong();
    private final ScheduledExecutorService timer;
    /** Handoffs' syncs, apart from the copies (see Resyncer), and the checks of handoffs served by the stream. */
    private final ScheduledExecutorService handoffs = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "ferry-mirror-handoff");
        t.setDaemon(true);
        return t;
    });
    private final java.util.concurrent.ExecutorService copier = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "ferry-mirror-copy");
        t.setDaemon(true);
        return t;
    });
    private volatile ClusterView view = ClusterView.EMPTY;
    private volatile SyncDone syncDone = ref -> { };
    private final Counter entriesSent;
    private final Counter messagesSent;
    private final Counter resends;
    private final Counter resyncsNeeded;
    private final Counter slowWrites;
    private final Counter handoffsByStream;

    /**
     * @param forcedPath      a resync path to try first (benchmarks, tests), or null to choose by cost
     * @param syncBytesPerSec node-wide rate of sync traffic (0: unlimited)
     * @param trackingMaxKeys digests tracked per partition while a mirror is away; past it a resync copies
     */
    public Replication(String nodeId, RecordStore store, PartitionReplicator.Config config, ResyncPath forcedPath, long syncBytesPerSec,
                       int trackingMaxKeys, MeterRegistry registry) {
        this.nodeId = nodeId;
        this.store = store;
        this.config = config;
        this.trackingMaxKeys = trackingMaxKeys;
        this.entriesSent = Counter.builder("ferry_mirror_entries_sent").description("changes streamed to mirrors").register(registry);
        this.messagesSent = Counter.builder("ferry_mirror_messages_sent").description("stream messages carrying changes to mirrors "
                + "(entries sent / messages sent is how well writes share messages)").register(registry);
        this.resends = Counter.builder("ferry_mirror_resends").description("times a mirror that acknowledged nothing for the resend "
                + "interval was sent again what it lacked durably (many mean acknowledgements are late or lost)").register(registry);
        this.resyncer = new Resyncer(nodeId, store, new Resyncer.Host() {
            @Override
            public PartitionReplicator replicator(String ns, int p) {
                return replicators.get(key(ns, p));
            }

            @Override
            public void send(String mirror, MirrorMessage m) {
                link(mirror).send(m);
            }

            @Override
            public boolean leased() {
                return lease.getAsBoolean();
            }
        }, copier, handoffs, forcedPath, syncBytesPerSec, registry);
        this.slowWrites = Counter.builder("ferry_mirror_slow_writes").description("partitions found with a write waiting over "
                + SLOW_WRITE_MS + " ms for its commit level (each logged with its mirrors' state)").register(registry);
        this.handoffsByStream = Counter.builder("ferry_mirror_handoffs_by_stream").description("planned handoffs whose target, an "
                + "IN_SYNC mirror, only had to acknowledge the log durably (no sync)").register(registry);
        this.resyncsNeeded = Counter.builder("ferry_mirror_resyncs_needed").description("mirrors that fell out of the stream and needed a copy").register(registry);
        io.micrometer.core.instrument.Gauge.builder("ferry_mirror_waiting_acks", waiting, Map::size)
                .description("client writes waiting for their commit level").register(registry);
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ferry-mirror-master");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::tick, TICK_MS, TICK_MS, TimeUnit.MILLISECONDS);
    }

    public void onSyncDone(SyncDone callback) {
        this.syncDone = callback;
    }

    /** Whether this node holds a master lease (syncs run only with one); always true until set. */
    private volatile java.util.function.BooleanSupplier lease = () -> true;

    public void leaseCheck(java.util.function.BooleanSupplier check) {
        this.lease = check;
    }

    /** A master answered a release request with its history of the partition. */
    public interface ReleaseAnswer {
        /** Returns whether the partition was released (then it is no candidate any more). */
        boolean answered(String master, MirrorAck history);
    }

    private volatile ReleaseAnswer releaseAnswer = (m, a) -> false;
    /**
     * Partitions this node may hold data of without being their replica (a deposed master
     * whose place went to another node, a replica moved away): ns/p to when their master was
     * last asked for its history (0: never). Checked on the copy thread.
     */
    private final Map<String, Long> releaseCandidates = new ConcurrentHashMap<>();
    private static final long RELEASE_RETRY_MS = 5_000;
    private long releaseSweepMs;
    private final java.util.concurrent.atomic.AtomicBoolean releaseSweeping = new java.util.concurrent.atomic.AtomicBoolean();

    public void onReleaseAnswer(ReleaseAnswer callback) {
        this.releaseAnswer = callback;
    }

    /**
     * Asks the masters of partitions this node holds data of but no replica for their
     * history, so that the node can account for its divergent tail and drop the data
     * (MirrorReceiver#release). Without it a master deposed while cut off, whose replica
     * went to another node while it was away, kept the writes only it had, unrecorded
     * (NodeSimulationTest found it).
     */
    private void askReleases() {
        try {
            long now = System.currentTimeMillis();
            ClusterView v = view;
            for (Map.Entry<String, Long> c : releaseCandidates.entrySet()) {
                String k = c.getKey();
                int slash = k.lastIndexOf('/');
                String ns = k.substring(0, slash);
                int p = Integer.parseInt(k.substring(slash + 1));
                PartitionEntry e = v.entry(ns, p);
                if (e.replicaOn(nodeId) != null) {
                    releaseCandidates.remove(k);
                    continue;
                }
                if (e.epoch() == 0 || e.master() == null || !e.available() || now - c.getValue() < RELEASE_RETRY_MS) {
                    continue;
                }
                if (store.partitionInfo(ns, p).lastLsn() == 0 && store.countRecords(ns, p) == 0) {
                    releaseCandidates.remove(k);
                    continue;
                }
                releaseCandidates.put(k, now);
                link(e.master()).send(MirrorMessage.newBuilder().setFromNode(nodeId)
                        .setRelease(io.ferrydb.proto.MirrorRelease.newBuilder().setNamespace(ns).setPartition(p)).build());
            }
        } catch (RuntimeException e) {
            LOG.error("asking to release partitions failed", e);
        } finally {
            releaseSweeping.set(false);
        }
    }

    private void released(String master, MirrorAck a) {
        try {
            String k = key(a.getNamespace(), a.getPartition());
            PartitionEntry e = view.entry(a.getNamespace(), a.getPartition());
            if (e.replicaOn(nodeId) != null || !master.equals(e.master()) || a.getEpoch() < e.epoch()) {
                return; // a replica again, or not the current master's history: asked again later
            }
            if (releaseAnswer.answered(master, a)) {
                releaseCandidates.remove(k);
            }
        } catch (RuntimeException ex) {
            LOG.error("releasing {}/{} failed", a.getNamespace(), a.getPartition(), ex);
        }
    }

    private static String key(String ns, int p) {
        return ns + "/" + p;
    }

    // ---- the table ----

    /**
     * A new view: replicators for the partitions this node masters (created at the
     * store's end), dropped for the others (their waiting writes fail UNAVAILABLE: the
     * commit level can no longer be confirmed here).
     *
     * <p>{@code previous} is the view applied before (EMPTY at first): partitions whose
     * entry did not change are skipped. Visiting all 8,192 partitions of a node's two
     * namespaces took 250-680 ms per view on the cluster thread that also sends the
     * heartbeats, even for views changing 17 entries (HandoffBenchmark, docs/BENCHMARKS.md).
     */
    public void onView(ClusterView previous, ClusterView v) {
        view = v;
        List<PartitionReplicator.Send> due = new ArrayList<>();
        for (NamespaceConfig ns : store.namespaces()) {
            NamespaceTable t = v.table(ns.name());
            if (t == null) {
                continue;
            }
            NamespaceTable before = previous.table(ns.name());
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                if (before != null && before.entry(p).equals(e)) {
                    continue;
                }
                String k = key(ns.name(), p);
                if (nodeId.equals(e.master()) && e.epoch() > 0) {
                    Map<String, ReplicaState> mirrors = new LinkedHashMap<>();
                    for (Replica r : e.mirrors()) {
                        mirrors.put(r.node(), r.state());
                    }
                    PartitionReplicator r = replicators.get(k);
                    if (r == null) {
                        if (mirrors.isEmpty()) {
                            continue;
                        }
                        r = new PartitionReplicator(ns.name(), p, e.epoch(), store.partitionInfo(ns.name(), p).lastLsn(), config);
                        replicators.put(k, r);
                    }
                    List<Long> released;
                    Map<String, AckTriplet> held;
                    synchronized (r) {
                        released = r.onView(e.epoch(), mirrors);
                        held = r.mirrorHoldings();
                        due.addAll(r.poll());
                    }
                    trackChanges(ns.name(), p, mirrors, held);
                    complete(released);
                } else {
                    if (e.epoch() > 0 && e.replicaOn(nodeId) == null) {
                        releaseCandidates.putIfAbsent(k, 0L);
                    }
                    if (tracked.remove(k)) {
                        copier.execute(() -> store.stopTracking(ns.name(), pp(k)));
                    }
                    PartitionReplicator r = replicators.remove(k);
                    if (r != null) {
                        List<Long> pending;
                        synchronized (r) {
                            pending = r.pendingTokens();
                        }
                        fail(pending, "partition " + p + " of " + ns.name() + " moved to another master before the write reached its commit level");
                    }
                }
            }
        }
        // What the changed partitions' new mirrors are owed, as one message per node (the
        // others have nothing new: visiting every replicator here cost each view its share).
        send(due);
    }

    /** Partitions whose changes this master tracks (a mirror is away or catching up). */
    private final Set<String> tracked = ConcurrentHashMap.newKeySet();

    private static int pp(String key) {
        return Integer.parseInt(key.substring(key.lastIndexOf('/') + 1));
    }

    /**
     * While a mirror is ABSENT the master records the digests it changes, from the first
     * LSN that mirror may lack (what it last reported durable + 1), so that its resync
     * can ship each changed key once; when every mirror is IN_SYNC again it stops. Runs
     * on the copy thread (seeding reads the log).
     */
    private void trackChanges(String ns, int p, Map<String, ReplicaState> mirrors, Map<String, AckTriplet> held) {
        String k = key(ns, p);
        long from = io.ferrydb.core.mirror.ChangeTracking.decide(mirrors, held);
        if (from > 0) {
            tracked.add(k);
            copier.execute(() -> store.startTracking(ns, p, from, trackingMaxKeys));
        } else if (from == io.ferrydb.core.mirror.ChangeTracking.STOP && tracked.remove(k)) {
            copier.execute(() -> store.stopTracking(ns, p));
        }
    }

    // ---- writes ----

    /**
     * The master wrote {@code entry}; returns a future completed when the write's commit
     * level and durability are met, or null when the partition has no mirrors (the
     * caller then acknowledges on local durability alone).
     */
    public CompletableFuture<Void> committed(String ns, int p, LogEntry entry, CommitLevel level, Durability durability) {
        Registered reg = register(ns, p, entry, level, durability);
        if (reg == null) {
            return null;
        }
        afterRegister(reg);
        return reg.future();
    }

    /** A change handed to its replicator; {@link #afterRegister} completes the hand-off outside the lock. */
    public record Registered(String namespace, int partition, PartitionReplicator replicator, CompletableFuture<Void> future,
                             PartitionReplicator.Outcome outcome) {}

    /**
     * Hands a written change to its partition's replicator. Call it while the store still
     * holds the partition's lock, so changes reach the replicator in LSN order whatever
     * thread wrote them; null when the partition has no mirrors.
     */
    public Registered register(String ns, int p, LogEntry entry, CommitLevel level, Durability durability) {
        PartitionReplicator r = replicators.get(key(ns, p));
        if (r == null) {
            return null;
        }
        long token = tokens.incrementAndGet();
        CompletableFuture<Void> f = new CompletableFuture<>();
        waiting.put(token, f);
        waitingSince.put(token, new Pending(key(ns, p), System.currentTimeMillis()));
        PartitionReplicator.Outcome o;
        synchronized (r) {
            o = r.onCommitted(entry, level, durability, token);
        }
        return new Registered(ns, p, r, f, o);
    }

    /** Acknowledges what the registration released and sends (after the store's lock is released). */
    public void afterRegister(Registered reg) {
        complete(reg.outcome().acknowledge());
        resync(reg.namespace(), reg.partition(), reg.outcome().needResync());
        active.add(key(reg.namespace(), reg.partition()));
        markDirty(reg.replicator());
    }

    /**
     * Before a bulk load of a partition is ingested here (the store holds the partition's
     * lock): the records go to every mirror of the partition's stream, after everything
     * logged before. The mirrors keep them and ingest them where the load's BULK_LOAD
     * entry comes in the stream.
     */
    public void beforeBulk(RecordStore.BulkPlan plan) {
        PartitionReplicator r = replicators.get(key(plan.namespace(), plan.partition()));
        if (r == null) {
            return;
        }
        java.util.Set<String> mirrors;
        synchronized (r) {
            mirrors = new java.util.TreeSet<>(r.mirrorHoldings().keySet());
        }
        io.ferrydb.proto.MirrorBulk.Builder b = io.ferrydb.proto.MirrorBulk.newBuilder().setNamespace(plan.namespace())
                .setPartition(plan.partition()).setLoadId(plan.loadId());
        for (byte[][] kv : plan.keyValues()) {
            b.addKeys(ByteString.copyFrom(kv[0])).addValues(ByteString.copyFrom(kv[1]));
        }
        MirrorMessage m = MirrorMessage.newBuilder().setFromNode(nodeId).setBulk(b).build();
        for (String mirror : mirrors) {
            link(mirror).send(m);
        }
    }

    /** The master's own storage is durable through {@code lsn}. */
    public void localDurable(String ns, int p, long lsn) {
        PartitionReplicator r = replicators.get(key(ns, p));
        if (r == null) {
            return;
        }
        List<Long> released;
        synchronized (r) {
            released = r.onLocalDurable(lsn);
        }
        complete(released);
    }

    private void complete(List<Long> released) {
        for (long t : released) {
            waitingSince.remove(t);
            CompletableFuture<Void> f = waiting.remove(t);
            if (f != null) {
                f.complete(null);
            }
        }
    }

    private void fail(List<Long> tokensToFail, String why) {
        for (long t : tokensToFail) {
            waitingSince.remove(t);
            CompletableFuture<Void> f = waiting.remove(t);
            if (f != null) {
                f.completeExceptionally(new FerryException(ErrorCode.UNAVAILABLE, why, null, false));
            }
        }
    }

    /** A write waiting for its commit level: its partition and since when. */
    private record Pending(String partition, long sinceMs) {}

    private final Map<Long, Pending> waitingSince = new ConcurrentHashMap<>();
    private static final long SLOW_WRITE_MS = 2_000;
    /** Partition key to when its slow write was last logged (one line per partition per 5 s). */
    private final Map<String, Long> slowLogged = new ConcurrentHashMap<>();
    private long slowCheckedMs;

    /**
     * Writes waiting for their commit level longer than {@link #SLOW_WRITE_MS}: counted, and
     * logged with what their replicator waits for (each mirror's state, what it holds, whether
     * it streams), once per partition per 5 s.
     */
    private void checkSlowWrites(long now) {
        if (now - slowCheckedMs < 1_000 || waitingSince.isEmpty()) {
            return;
        }
        slowCheckedMs = now;
        for (Pending w : waitingSince.values()) {
            if (now - w.sinceMs() < SLOW_WRITE_MS) {
                continue;
            }
            Long logged = slowLogged.get(w.partition());
            if (logged != null && now - logged < 5_000) {
                continue;
            }
            slowLogged.put(w.partition(), now);
            slowWrites.increment();
            PartitionReplicator r = replicators.get(w.partition());
            String state;
            if (r == null) {
                state = "no replicator";
            } else {
                synchronized (r) {
                    state = r.describe();
                }
            }
            LOG.warn("a write to {} has waited {} ms for its commit level: {}", w.partition(), now - w.sinceMs(), state);
        }
        if (slowLogged.size() > 4096) {
            slowLogged.clear();
        }
    }

    // ---- sending ----

    private final java.util.Queue<PartitionReplicator> dirty = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.concurrent.atomic.AtomicInteger drainers = new java.util.concurrent.atomic.AtomicInteger();

    /**
     * Queues a replicator with changes to send and drains the queue unless another
     * thread is draining: under load the writes of many partitions and storage threads
     * travel to a mirror node in one message; alone, a write leaves at once.
     */
    private void markDirty(PartitionReplicator r) {
        dirty.add(r);
        // Inside a storage round (or an acknowledgement message) every partition written
        // leaves in one message per mirror node when the round ends: one message per
        // write made per-message costs (framing, wake-ups, the mirror's answer) dominate.
        if (!FlushScope.deferIfActive(dirty, this::drainDirty)) {
            drainDirty();
        }
    }

    private void drainDirty() {
        if (drainers.getAndIncrement() != 0) {
            return;
        }
        do {
            List<PartitionReplicator.Send> all = new ArrayList<>();
            java.util.Set<PartitionReplicator> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            PartitionReplicator next;
            while ((next = dirty.poll()) != null) {
                if (seen.add(next)) {
                    synchronized (next) {
                        all.addAll(next.poll());
                    }
                }
            }
            send(all);
        } while (drainers.decrementAndGet() != 0);
    }

    private void send(List<PartitionReplicator.Send> sends) {
        if (sends.isEmpty()) {
            return;
        }
        Map<String, MirrorMessage.Builder> byNode = new LinkedHashMap<>();
        for (PartitionReplicator.Send s : sends) {
            MirrorBatch.Builder b = MirrorBatch.newBuilder().setNamespace(s.batch().namespace()).setPartition(s.batch().partition())
                    .setEpoch(s.batch().epoch()).setPrevLsn(s.batch().prevLsn()).setDurableThroughLsn(s.batch().durableThroughLsn());
            for (LogEntry e : s.batch().entries()) {
                b.addEntries(ByteString.copyFrom(e.encode()));
            }
            entriesSent.increment(s.batch().entries().size());
            byNode.computeIfAbsent(s.mirror(), n -> MirrorMessage.newBuilder().setFromNode(nodeId)).addBatches(b);
        }
        byNode.forEach((node, m) -> link(node).send(m.build()));
        messagesSent.increment(byNode.size());
    }

    private Link link(String node) {
        return links.computeIfAbsent(node, Link::new);
    }

    private void tick() {
        try {
            long now = System.currentTimeMillis();
            pruneSyncs();
            resyncer.tick(now);
            checkSlowWrites(now);
            if (now - releaseSweepMs >= 1_000 && !releaseCandidates.isEmpty() && releaseSweeping.compareAndSet(false, true)) {
                releaseSweepMs = now;
                copier.execute(this::askReleases);
            }
            List<PartitionReplicator.Send> due = new ArrayList<>();
            for (String k : active) {
                PartitionReplicator r = replicators.get(k);
                if (r == null) {
                    active.remove(k);
                    continue;
                }
                Set<String> behind;
                List<PartitionReplicator.Send> sends;
                synchronized (r) {
                    long before = r.resends();
                    behind = r.tick(now);
                    resends.increment(r.resends() - before);
                    sends = r.poll();
                    if (r.idle()) {
                        active.remove(k);
                    }
                }
                int slash = k.lastIndexOf('/');
                resync(k.substring(0, slash), Integer.parseInt(k.substring(slash + 1)), behind);
                due.addAll(sends);
            }
            send(due);
        } catch (RuntimeException e) {
            LOG.error("mirroring tick failed", e);
        }
    }

    // ---- acknowledgements ----

    private void onAck(String mirror, MirrorAck a) {
        if (a.getFenced()) {
            onFenced(mirror, a);
            return;
        }
        if (a.getRelease()) {
            copier.execute(() -> released(mirror, a));
            return;
        }
        if (a.getProbe() || a.getChunkSeq() > 0 || !a.getSyncFailed().isEmpty()) {
            resyncer.onAck(mirror, a);
            return;
        }
        PartitionReplicator r = replicators.get(key(a.getNamespace(), a.getPartition()));
        if (r == null) {
            return;
        }
        if (a.getCopied() && resyncer.finished(mirror, a) == null) {
            return; // the last chunk of a sync that was started over since
        }
        PartitionReplicator.Outcome o;
        List<PartitionReplicator.Send> sends;
        synchronized (r) {
            o = a.getCopied() ? r.onResynced(mirror, a.getCommittedLsn()) : r.onReply(mirror, MirrorReceiver.fromProto(a));
            sends = r.poll();
        }
        complete(o.acknowledge());
        if (o.deposed()) {
            LOG.warn("{}/{}: a mirror has seen a newer epoch; this node stops streaming as its master", a.getNamespace(), a.getPartition());
            fail(r.pendingTokens(), "a newer master of partition " + a.getPartition() + " exists");
        }
        if (a.getCopied()) {
            String k = key(a.getNamespace(), a.getPartition()) + "@" + mirror;
            PartitionRef ref = syncs.get(k);
            if (ref != null && o.needResync().isEmpty()) {
                // Reported once the mirror holds durably what was logged while it was synced.
                handoffs.execute(() -> awaitCaughtUp(ref, k));
            }
        }
        resync(a.getNamespace(), a.getPartition(), o.needResync());
        send(sends);
    }

    /** A mirror refused this master's sync (it has seen a newer epoch): the replicator stops, as for a batch refused so. */
    private void onFenced(String mirror, MirrorAck a) {
        PartitionReplicator r = replicators.get(key(a.getNamespace(), a.getPartition()));
        if (!resyncer.fenced(mirror, a) || r == null) {
            return;
        }
        PartitionReplicator.Outcome o;
        synchronized (r) {
            o = r.onReply(mirror, new io.ferrydb.core.mirror.MirrorReply.Refused(a.getNamespace(), a.getPartition(), a.getEpoch(),
                    io.ferrydb.core.mirror.MirrorReply.Reason.STALE_EPOCH, a.getCommittedLsn() + 1, AckTriplet.durable(a.getCommittedLsn())));
        }
        complete(o.acknowledge());
        if (o.deposed()) {
            LOG.warn("{}/{}: a mirror has seen a newer epoch; this node stops streaming as its master", a.getNamespace(), a.getPartition());
            fail(r.pendingTokens(), "a newer master of partition " + a.getPartition() + " exists");
        }
    }

    // ---- syncs ----

    /** The cluster member asks for a sync of {@code ref.node()}: copy the partition to it. */
    public void sync(PartitionRef ref) {
        sync(ref, false);
    }

    /** {@code handoff}: the partition refuses writes until this sync is done: it runs apart from the copies. */
    public void sync(PartitionRef ref, boolean handoff) {
        String k = key(ref.namespace(), ref.partition()) + "@" + ref.node();
        syncs.put(k, ref);
        // Off the caller's thread: the cluster member's loop also sends the heartbeats
        // that keep this node's leases, and a join can start thousands of copies.
        (handoff ? handoffs : copier).execute(() -> {
            if (syncs.get(k) != ref) {
                return;
            }
            if (handoff) {
                // A resync of the target already running on the copy thread (its stream broke) is
                // throttled and queued behind clones: the handoff's own sync replaces it.
                if (!resyncer.urgentInProgress(ref.namespace(), ref.partition(), ref.node()) && !awaitStream(ref, k)) {
                    syncHandoffTarget(ref);
                }
            } else if (!resyncer.inProgress(ref.namespace(), ref.partition(), ref.node())) {
                resyncer.start(ref.namespace(), ref.partition(), ref.node(), false);
            }
        });
    }

    /**
     * A handoff's target off the stream: it is IN_SYNC, so the gate has the table make it
     * RESYNCING first, which ends the handoff (it comes back once the target caught up).
     */
    private void syncHandoffTarget(PartitionRef ref) {
        syncGate.check(ref.namespace(), ref.partition(), ref.node(), () -> {
            if (!resyncer.urgentInProgress(ref.namespace(), ref.partition(), ref.node())) {
                resyncer.start(ref.namespace(), ref.partition(), ref.node(), true);
            }
        });
    }

    /** How long a handoff waits for its target's stream before it syncs the target instead. */
    static final long HANDOFF_STREAM_WAIT_MS = 2_000;
    private static final long HANDOFF_CHECK_MS = 2;

    /** A handoff waiting for its target to report the log durable through {@code throughLsn}. */
    private record StreamHandoff(PartitionRef ref, String key, long throughLsn, long deadlineMs) {}

    /** Handoffs served by the stream, waiting for the target's acknowledgement (handoffs thread only). */
    private final Map<String, StreamHandoff> streamHandoffs = new java.util.HashMap<>();
    private boolean handoffCheckScheduled;

    /**
     * A handoff's target that is an IN_SYNC mirror fed by the ordered stream already
     * receives every change of the partition; it needs no probe, plan and chunk round trips
     * (each queued at the target behind the clones of a decommission: 2.7 s for one
     * handoff, HandoffBenchmark), only to acknowledge durably what the log holds now (the
     * partition refuses writes from this view on). Returns false when the target is not such
     * a mirror: a sync it is. Runs on the handoffs thread.
     */
    private boolean awaitStream(PartitionRef ref, String k) {
        PartitionReplicator r = replicators.get(key(ref.namespace(), ref.partition()));
        if (r == null) {
            return false;
        }
        long through = store.partitionInfo(ref.namespace(), ref.partition()).lastLsn();
        synchronized (r) {
            if (!r.streamedInSync(ref.node())) {
                return false;
            }
        }
        streamHandoffs.put(k, new StreamHandoff(ref, k, through, System.currentTimeMillis() + HANDOFF_STREAM_WAIT_MS));
        if (!handoffCheckScheduled) {
            handoffCheckScheduled = true;
            handoffs.schedule(this::checkStreamHandoffs, HANDOFF_CHECK_MS, TimeUnit.MILLISECONDS);
        }
        return true;
    }

    /** Completes the stream handoffs whose target holds the log durably; syncs those whose stream broke or lagged. */
    private void checkStreamHandoffs() {
        handoffCheckScheduled = false;
        long now = System.currentTimeMillis();
        for (java.util.Iterator<StreamHandoff> it = streamHandoffs.values().iterator(); it.hasNext(); ) {
            StreamHandoff h = it.next();
            PartitionRef ref = h.ref();
            PartitionReplicator r = stillWanted(h.key(), ref);
            if (r == null) {
                it.remove();
                continue;
            }
            boolean streamed;
            boolean durable;
            synchronized (r) {
                streamed = r.streamedInSync(ref.node());
                durable = r.durableOn(ref.node(), h.throughLsn());
            }
            if (streamed && durable) {
                it.remove();
                if (syncs.remove(h.key(), ref)) {
                    handoffsByStream.increment();
                    syncDone.done(ref);
                }
            } else if (!streamed || now >= h.deadlineMs()) {
                it.remove();
                String state;
                synchronized (r) {
                    state = r.describe(); // only for the log line: not built on every 2 ms check
                }
                LOG.info("handoff of {}/{} to {}: {}; syncing it ({})", ref.namespace(), ref.partition(), ref.node(),
                        streamed ? "lsn " + h.throughLsn() + " not reported durable within " + HANDOFF_STREAM_WAIT_MS + " ms"
                                : "the target is off the stream", state);
                if (!resyncer.urgentInProgress(ref.namespace(), ref.partition(), ref.node())) {
                    syncHandoffTarget(ref);
                }
            }
        }
        if (!streamHandoffs.isEmpty()) {
            handoffCheckScheduled = true;
            handoffs.schedule(this::checkStreamHandoffs, HANDOFF_CHECK_MS, TimeUnit.MILLISECONDS);
        }
    }

    /** The partition's replicator while the sync {@code ref} is still wanted; null when its entry changed or this node no longer masters it. */
    private PartitionReplicator stillWanted(String key, PartitionRef ref) {
        PartitionReplicator r = replicators.get(key(ref.namespace(), ref.partition()));
        return syncs.get(key) == ref ? r : null;
    }

    private static final long CAUGHT_UP_CHECK_MS = 10;
    /** Finished syncs whose mirror is reported caught up once it holds what was logged meanwhile (handoffs thread only). */
    private final Map<String, PartitionRef> pendingCaughtUp = new java.util.HashMap<>();
    private boolean caughtUpCheckScheduled;

    /**
     * A sync finished: its mirror is reported caught up (to become IN_SYNC, promotable) once
     * it holds durably what this master logged while the sync ran, since writes acknowledged
     * meanwhile did not wait for it ({@link PartitionReplicator#mayReportCaughtUp}). Until
     * then the control plane keeps it RESYNCING or CLONING. Runs on the handoffs thread.
     */
    private void awaitCaughtUp(PartitionRef ref, String k) {
        pendingCaughtUp.put(k, ref);
        if (!caughtUpCheckScheduled) {
            caughtUpCheckScheduled = true;
            handoffs.schedule(this::checkCaughtUp, CAUGHT_UP_CHECK_MS, TimeUnit.MILLISECONDS);
        }
    }

    private void checkCaughtUp() {
        caughtUpCheckScheduled = false;
        for (java.util.Iterator<Map.Entry<String, PartitionRef>> it = pendingCaughtUp.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, PartitionRef> e = it.next();
            PartitionRef ref = e.getValue();
            PartitionReplicator r = stillWanted(e.getKey(), ref);
            if (r == null) {
                it.remove();
                continue;
            }
            boolean ready;
            synchronized (r) {
                ready = r.mayReportCaughtUp(ref.node());
            }
            if (ready) {
                it.remove();
                if (syncs.remove(e.getKey(), ref)) {
                    syncDone.done(ref);
                }
            }
            // Otherwise it waits: a mirror that fell off the stream is synced again, and that sync reports it.
        }
        if (!pendingCaughtUp.isEmpty()) {
            caughtUpCheckScheduled = true;
            handoffs.schedule(this::checkCaughtUp, CAUGHT_UP_CHECK_MS, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Forgets syncs whose partition entry changed: the cluster member starts a sync for
     * the new entry if it needs one. (Unanswered syncs start over in {@link Resyncer#tick}.)
     */
    private void pruneSyncs() {
        ClusterView v = view;
        for (Map.Entry<String, PartitionRef> e : syncs.entrySet()) {
            PartitionRef ref = e.getValue();
            PartitionEntry entry = v.entry(ref.namespace(), ref.partition());
            if (entry.epoch() != ref.epoch() || !nodeId.equals(entry.master())) {
                syncs.remove(e.getKey(), ref);
            }
        }
    }

    private void resync(String ns, int p, Set<String> mirrors) {
        for (String m : mirrors) {
            if (!resyncer.inProgress(ns, p, m)) {
                syncGate.check(ns, p, m, () -> startResync(ns, p, m));
            }
        }
    }

    private void startResync(String ns, int p, String m) {
        if (!resyncer.inProgress(ns, p, m)) {
            resyncsNeeded.increment();
            resyncer.start(ns, p, m);
        }
    }

    /**
     * Decides whether a mirror that fell out of the stream may be synced now (any thread;
     * {@code start} runs if so, on any thread). The cluster's gate holds back a mirror
     * the table calls IN_SYNC until the table makes it RESYNCING
     * ({@link io.ferrydb.core.cluster.ClusterMember#maySync}); that view starts the sync.
     */
    public interface SyncGate {
        void check(String ns, int p, String mirror, Runnable start);
    }

    private volatile SyncGate syncGate = (ns, p, m, start) -> start.run();

    public void syncGate(SyncGate gate) {
        this.syncGate = gate;
    }

    /** Syncs in progress on this master and the latest finished ones (for status). */
    public List<Resyncer.Progress> syncsInProgress() {
        return resyncer.progress();
    }

    public List<Resyncer.Result> recentSyncs() {
        return resyncer.recent();
    }

    public List<Resyncer.Totals> syncTotals() {
        return resyncer.totals();
    }

    /** What each mirror of a partition reported holding (for status). */
    public Map<String, AckTriplet> holdings(String ns, int p) {
        PartitionReplicator r = replicators.get(key(ns, p));
        if (r == null) {
            return Map.of();
        }
        synchronized (r) {
            return r.mirrorHoldings();
        }
    }

    // ---- links ----

    /** The stream to one mirror node, reopened after a failure. */
    private final class Link {
        private final String node;
        private ManagedChannel channel;
        private StreamObserver<MirrorMessage> out;
        private long opened;

        Link(String node) {
            this.node = node;
        }

        synchronized void send(MirrorMessage m) {
            try {
                if (out == null) {
                    open();
                }
                out.onNext(m);
            } catch (RuntimeException e) {
                LOG.debug("mirror stream to {} failed: {}", node, e.toString());
                broken();
            }
        }

        private void open() {
            Member m = view.member(node);
            if (m == null) {
                throw new IllegalStateException("no address for mirror " + node);
            }
            // Acknowledgements are handled on the transport thread that read them: handing
            // each to an executor thread cost a wake-up per message; nothing in onAck blocks
            // (syncs plan and read on the copy thread).
            ManagedChannel ch = NettyChannelBuilder.forTarget(m.address()).usePlaintext().directExecutor().build();
            LOG.info("opening a mirror stream to {} at {} (stream {} to it)", node, m.address(), ++opened);
            channel = ch;
            Acks acks = new Acks(ch);
            StreamObserver<MirrorMessage> stream = FerryMirrorGrpc.newStub(ch).stream(acks);
            if (acks.ended) {
                // The call failed while it started (a dead address can fail it on this very
                // thread, the acknowledgement callbacks running here): keeping it made every
                // later message vanish into a closed call, and the mirror was never reached again.
                ch.shutdownNow();
                channel = null;
                throw new IllegalStateException("the mirror stream to " + node + " failed as it opened");
            }
            out = stream;
            if (opened == 1) {
                // The first stream from this process to the node: nothing sent to it before could
                // have been lost, and what the batches polled for this stream carry goes on it.
                // Resuming every partition from the mirror's last word here took each partition
                // whose replicator had not heard from it yet (its word: nothing) off the stream,
                // and each IN_SYNC one then went through the control plane to be synced
                // (HandoffBenchmark: ~2,700 needless syncs in one decommission).
                return;
            }
            // A new stream: each partition resumes from what the mirror last said it holds
            // durably, or is copied again when the buffer no longer has what follows.
            for (Map.Entry<String, PartitionReplicator> e : replicators.entrySet()) {
                PartitionReplicator r = e.getValue();
                PartitionReplicator.Outcome o = PartitionReplicator.Outcome.NOTHING;
                synchronized (r) {
                    AckTriplet held = r.mirrorHoldings().get(node);
                    if (held != null && !r.syncing(node)) {
                        o = r.onMirrorConnected(node, AckTriplet.durable(held.committedLsn()));
                    }
                }
                complete(o.acknowledge());
                int slash = e.getKey().lastIndexOf('/');
                resync(e.getKey().substring(0, slash), Integer.parseInt(e.getKey().substring(slash + 1)), o.needResync());
            }
        }

        private synchronized void broken() {
            if (channel != null) {
                channel.shutdownNow();
            }
            channel = null;
            out = null;
        }

        /**
         * A stream ended: forget it only if it is still the current one. Shutting a channel
         * down ends its stream with an error some time later; when every such error reset
         * the link, it shut down the stream opened meanwhile, whose own error then shut down
         * the next one, and so on: batches and acknowledgements could vanish with their
         * channels. (Found while looking for why a cluster grown by a join mirrors slowly;
         * that slowness has another cause still, see docs/BENCHMARKS.md.)
         */
        private synchronized void ended(Acks acks) {
            acks.ended = true;
            ManagedChannel ch = acks.ch;
            if (channel == ch) {
                broken();
            } else {
                ch.shutdownNow();
            }
        }

        /** The acknowledgements of one stream. */
        private final class Acks implements StreamObserver<MirrorAcks> {
            private final ManagedChannel ch;
            /** Set (under the link's lock) when the stream ended, possibly before it was in use. */
            private boolean ended;

            Acks(ManagedChannel ch) {
                this.ch = ch;
            }

            @Override
            public void onNext(MirrorAcks acks) {
                // One scope for the whole message: the client answers it releases leave as
                // one message per client session, and what it lets this node send, as one.
                FlushScope.run(() -> {
                    for (MirrorAck a : acks.getAcksList()) {
                        try {
                            onAck(node, a);
                        } catch (RuntimeException e) {
                            LOG.error("mirror ack from {} failed", node, e);
                        }
                    }
                });
            }

            @Override
            public void onError(Throwable t) {
                ended(this);
            }

            @Override
            public void onCompleted() {
                ended(this);
            }
        }

        synchronized void close() {
            if (out != null) {
                try {
                    out.onCompleted();
                } catch (RuntimeException ignored) {
                    // closing anyway
                }
            }
            broken();
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
        copier.shutdownNow();
        handoffs.shutdownNow();
        for (Link l : links.values()) {
            l.close();
        }
        fail(new ArrayList<>(waiting.keySet()), "node is stopping");
    }
}
