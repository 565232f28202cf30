package io.ferrydb.server.mirror;

import com.google.protobuf.ByteString;
import io.ferrydb.api.Digest;
import io.ferrydb.core.log.EpochStart;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.mirror.PartitionReplicator;
import io.ferrydb.core.mirror.ResyncPath;
import io.ferrydb.core.mirror.ResyncPlanner;
import io.ferrydb.core.mirror.SyncSession;
import io.ferrydb.core.mirror.SyncStart;
import io.ferrydb.core.store.PartitionInfo;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.proto.MirrorAck;
import io.ferrydb.proto.MirrorCopy;
import io.ferrydb.proto.MirrorMessage;
import io.ferrydb.proto.SyncKind;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The master's side of syncs (clone, resync, handoff) of one mirror's partition: asks
 * the mirror what it holds (a probe), lets {@link ResyncPlanner} choose the cheapest
 * sufficient path, pins the replicator's buffer after the sync point, and ships the
 * partition in chunks, each sent when the mirror acknowledged the one before (flow
 * control), within a node-wide byte rate. A path that fails escalates (log trimmed
 * meanwhile: tracked keys; tracking gave up: copy); a sync silent for
 * {@link #RETRY_MS} starts over. Chunks are read and sent on the copy thread, never on
 * the cluster loop.
 */
public final class Resyncer {
    private static final Logger LOG = LoggerFactory.getLogger(Resyncer.class);
    static final long RETRY_MS = 5_000;
    private static final long NO_LEASE_RETRY_MS = 500;
    private static final int CHUNK_ITEMS = 2_048;
    private static final int CHUNK_BYTES = 1 << 20;
    private static final int RECENT = 64;

    interface Host {
        /** The partition's replicator while this node masters it with mirrors, else null. */
        PartitionReplicator replicator(String ns, int p);

        void send(String mirror, MirrorMessage m);

        /**
         * Whether this node holds a master lease now. Syncs rewrite a mirror's copy, so they run
         * only with one: a restarted process handed its old view (it gets no lease until the
         * control plane knows it) copied its history over a mirror that had just been promoted,
         * before that mirror learned it (NodeSimulationTest).
         */
        boolean leased();
    }

    /** A finished sync, for status. */
    public record Result(String namespace, int partition, String mirror, ResyncPath path, long records, long bytes, long millis,
                  String why, long finishedAtMs) {}

    /** A sync in progress, for status. */
    public record Progress(String namespace, int partition, String mirror, String phase, long shipped, long total, long bytes, long millis) {}

    /** A sync in progress: the sans-IO session (shared with the node simulation) and this runtime's timing. */
    private static final class Session {
        final SyncSession sync;
        final String ns;
        final int p;
        final String mirror;
        final long startedNs = System.nanoTime();
        /** When the message the mirror must answer was sent; 0 while the answer is being processed here. */
        volatile long awaitingSinceMs;
        /** Paused because this node held no lease: started over soon, without counting as a restart. */
        volatile boolean waitingForLease;

        /** A handoff's sync: writes of the partition wait for it, so it neither queues behind copies nor is throttled. */
        final boolean urgent;

        Session(SyncSession sync, boolean urgent) {
            this.sync = sync;
            this.urgent = urgent;
            this.ns = sync.namespace();
            this.p = sync.partition();
            this.mirror = sync.mirror();
        }

        String key() {
            return ns + "/" + p + "@" + mirror;
        }
    }

    private final String nodeId;
    private final RecordStore store;
    private final Host host;
    private final ExecutorService copier;
    /**
     * Handoffs' syncs: a decommission starts thousands of clones, each planned and read on
     * the copy thread and throttled there, and the few handoffs (their partitions refuse
     * writes meanwhile) waited behind them for seconds (HandoffBenchmark).
     */
    private final ExecutorService urgent;
    private final ResyncPath forced;
    private final long rateBytesPerSecond;
    private final AtomicLong ids = new AtomicLong();
    private final Map<String, Session> sessions = new ConcurrentHashMap<>();
    private final ArrayDeque<Result> recent = new ArrayDeque<>();
    private double tokens;
    private long refilledNs = System.nanoTime();
    private final Map<ResyncPath, Counter> syncs = new EnumMap<>(ResyncPath.class);
    private final Map<ResyncPath, Counter> recordsShipped = new EnumMap<>(ResyncPath.class);
    private final Map<ResyncPath, Counter> bytesShipped = new EnumMap<>(ResyncPath.class);
    private final Map<ResyncPath, Timer> durations = new EnumMap<>(ResyncPath.class);
    private final Counter escalations;
    private final Counter restarts;
    private final Counter fenced;

    Resyncer(String nodeId, RecordStore store, Host host, ExecutorService copier, ExecutorService urgent, ResyncPath forced, long rateBytesPerSecond,
             MeterRegistry registry) {
        this.nodeId = nodeId;
        this.store = store;
        this.host = host;
        this.copier = copier;
        this.urgent = urgent;
        this.forced = forced;
        this.rateBytesPerSecond = rateBytesPerSecond;
        this.tokens = rateBytesPerSecond;
        for (ResyncPath path : ResyncPath.values()) {
            String tag = path.name().toLowerCase(java.util.Locale.ROOT);
            syncs.put(path, Counter.builder("ferry_resync_total").description("syncs of a mirror finished, by path").tag("path", tag).register(registry));
            recordsShipped.put(path, Counter.builder("ferry_resync_records_total").description("records (or log entries) shipped by syncs").tag("path", tag).register(registry));
            bytesShipped.put(path, Counter.builder("ferry_resync_bytes_total").description("bytes shipped by syncs").tag("path", tag).register(registry));
            durations.put(path, Timer.builder("ferry_resync_seconds").description("duration of a sync, probe to durable").tag("path", tag).register(registry));
        }
        escalations = Counter.builder("ferry_resync_escalations_total").description("syncs whose path failed and escalated").register(registry);
        fenced = Counter.builder("ferry_resync_fenced_total").description("syncs a mirror refused because it had seen a newer epoch (this master was deposed)").register(registry);
        restarts = Counter.builder("ferry_resync_restarts_total").description("syncs started over after " + RETRY_MS + " ms without an answer").register(registry);
        Gauge.builder("ferry_resyncs_in_progress", sessions, Map::size).description("syncs in progress on this master").register(registry);
    }

    /** Pauses a sync until this node holds a lease again: tick starts it over in {@link #NO_LEASE_RETRY_MS}. */
    private void waitForLease(Session s) {
        s.waitingForLease = true;
        s.awaitingSinceMs = System.currentTimeMillis() - RETRY_MS + NO_LEASE_RETRY_MS;
    }

    /** Starts (or restarts) a sync of {@code mirror}'s copy of the partition with a probe. */
    void start(String ns, int p, String mirror) {
        start(ns, p, mirror, false);
    }

    /** {@code urgent}: a handoff's sync (its own thread, no byte rate), see {@link Session#urgent}. */
    void start(String ns, int p, String mirror, boolean urgent) {
        start(ns, p, mirror, null, urgent);
    }

    private ExecutorService executor(Session s) {
        return s.urgent ? urgent : copier;
    }

    /** Starts a sync at {@code floor} or above (null: the cheapest sufficient path). */
    private void start(String ns, int p, String mirror, ResyncPath floor, boolean urgent) {
        PartitionReplicator r = host.replicator(ns, p);
        long fence = 0;
        if (r != null) {
            synchronized (r) {
                fence = r.epoch();
            }
        }
        Session s = new Session(new SyncSession(ids.incrementAndGet(), ns, p, mirror, floor, fence), urgent);
        sessions.put(s.key(), s);
        probe(s);
    }

    /** Sends the sync's probe (or waits for a lease). */
    private void probe(Session s) {
        s.awaitingSinceMs = System.currentTimeMillis();
        if (!host.leased()) {
            // Started over by tick soon (not after the full silence) once a lease is held.
            waitForLease(s);
            return;
        }
        host.send(s.mirror, MirrorMessage.newBuilder().setFromNode(nodeId).setCopy(MirrorCopy.newBuilder()
                .setNamespace(s.ns).setPartition(s.p).setKind(SyncKind.PROBE).setSession(s.sync.id()).setMasterEpoch(s.sync.fence())).build());
    }

    boolean inProgress(String ns, int p, String mirror) {
        return sessions.containsKey(ns + "/" + p + "@" + mirror);
    }

    /** Whether a handoff's sync of this mirror runs (on the urgent thread, unthrottled). */
    boolean urgentInProgress(String ns, int p, String mirror) {
        Session s = sessions.get(ns + "/" + p + "@" + mirror);
        return s != null && s.urgent;
    }

    /** A probe reply, a chunk acknowledgement or a failed chunk. */
    void onAck(String mirror, MirrorAck a) {
        Session s = sessions.get(a.getNamespace() + "/" + a.getPartition() + "@" + mirror);
        if (s == null || s.sync.id() != a.getSession()) {
            return; // an older sync's answer
        }
        if (!a.getSyncFailed().isEmpty()) {
            escalations.increment();
            LOG.info("sync of {} by {} failed at the mirror ({}); escalating to {}", s.key(),
                    s.sync.plan() == null ? ResyncPath.LOG : s.sync.plan().path(), a.getSyncFailed(), s.sync.escalation());
            start(s.ns, s.p, s.mirror, s.sync.escalation(), s.urgent);
            return;
        }
        // Only the answer the sync waits for moves it on (and stops the retry timer meanwhile);
        // any other leaves the timer running, or the session would wait for nothing.
        if (a.getProbe() && s.sync.plan() == null) {
            s.awaitingSinceMs = 0;
            executor(s).execute(() -> plan(s, a));
        } else if (!a.getProbe() && s.sync.movesOn(a.getChunkSeq())) {
            s.awaitingSinceMs = 0;
            executor(s).execute(() -> sendNext(s));
        }
    }

    /**
     * The mirror refused the sync: it has seen a newer epoch of the partition than this
     * master's. Returns whether it was this sync's answer (the session is dropped; the
     * caller deposes the replicator).
     */
    boolean fenced(String mirror, MirrorAck a) {
        Session s = sessions.get(a.getNamespace() + "/" + a.getPartition() + "@" + mirror);
        if (s == null || s.sync.id() != a.getSession()) {
            return false;
        }
        sessions.remove(s.key(), s);
        fenced.increment();
        LOG.warn("sync of {} refused: the mirror has seen epoch {} of the partition, this master is in epoch {} (deposed)", s.key(),
                a.getEpoch(), s.sync.fence());
        return true;
    }

    /** The mirror applied the last chunk durably: returns what the sync did, or null if it is not ours. */
    Result finished(String mirror, MirrorAck a) {
        Session s = sessions.get(a.getNamespace() + "/" + a.getPartition() + "@" + mirror);
        if (s == null || s.sync.id() != a.getSession() || s.sync.plan() == null) {
            return null;
        }
        sessions.remove(s.key(), s);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - s.startedNs);
        ResyncPath path = s.sync.plan().path();
        long shipped = s.sync.shipped();
        syncs.get(path).increment();
        recordsShipped.get(path).increment(shipped);
        bytesShipped.get(path).increment(s.sync.bytes());
        durations.get(path).record(System.nanoTime() - s.startedNs, TimeUnit.NANOSECONDS);
        Result r = new Result(s.ns, s.p, s.mirror, path, shipped, s.sync.bytes(), ms, s.sync.plan().why(), System.currentTimeMillis());
        synchronized (recent) {
            if (shipped == 0) {
                return r; // an unchanged partition: counted, not listed
            }
            recent.addLast(r);
            while (recent.size() > RECENT) {
                recent.removeFirst();
            }
        }
        LOG.debug("synced {} by {}: {} records, {} bytes in {} ms ({})", s.key(), path, shipped, s.sync.bytes(), ms, s.sync.plan().why());
        return r;
    }

    /** Starts over syncs that got no answer for {@link #RETRY_MS} and forgets those no longer wanted. */
    void tick(long now) {
        for (Session s : sessions.values()) {
            PartitionReplicator r = host.replicator(s.ns, s.p);
            boolean wanted;
            if (r == null) {
                wanted = false;
            } else {
                synchronized (r) {
                    wanted = r.mirrorHoldings().containsKey(s.mirror) && (s.sync.plan() == null || r.syncing(s.mirror));
                }
            }
            long since = s.awaitingSinceMs;
            if (!wanted) {
                sessions.remove(s.key(), s);

            } else if (since != 0 && now - since >= RETRY_MS && s.waitingForLease) {
                start(s.ns, s.p, s.mirror, s.sync.floor(), s.urgent);
            } else if (since != 0 && now - since >= RETRY_MS) {
                restarts.increment();
                LOG.info("sync of {} unanswered for {} ms: starting over", s.key(), RETRY_MS);
                start(s.ns, s.p, s.mirror, s.sync.floor(), s.urgent);
            }
        }
    }

    List<Progress> progress() {
        List<Progress> out = new ArrayList<>();
        for (Session s : sessions.values()) {
            ResyncPlanner.Plan plan = s.sync.plan();
            long total = plan == null ? 0 : plan.records();
            out.add(new Progress(s.ns, s.p, s.mirror, plan == null ? "PROBE" : plan.path().name(), s.sync.shipped(), total, s.sync.bytes(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - s.startedNs)));
        }
        return out;
    }

    /** Per path since start: syncs, records, bytes, seconds. */
    public record Totals(ResyncPath path, long syncs, long records, long bytes, double seconds) {}

    List<Totals> totals() {
        List<Totals> out = new ArrayList<>();
        for (ResyncPath path : ResyncPath.values()) {
            out.add(new Totals(path, (long) syncs.get(path).count(), (long) recordsShipped.get(path).count(),
                    (long) bytesShipped.get(path).count(), durations.get(path).totalTime(TimeUnit.SECONDS)));
        }
        return out;
    }

    List<Result> recent() {
        synchronized (recent) {
            return List.copyOf(recent);
        }
    }

    // ---- on the copy thread ----

    private void plan(Session s, MirrorAck probe) {
        if (sessions.get(s.key()) != s) {
            return;
        }
        PartitionReplicator r = host.replicator(s.ns, s.p);
        if (r == null) {
            sessions.remove(s.key(), s);
            return;
        }
        if (!host.leased()) {
            waitForLease(s);
            return;
        }
        long c = probe.getCommittedLsn();
        // What a copy would ship, counted outside the replicator's lock (a scan of the partition;
        // writes may add a few meanwhile: a cost estimate only).
        long records = store.countRecords(s.ns, s.p);
        // Pin the stream after S with no write in between: changes after S stay buffered and
        // follow the sync; what the sync ships is exactly the state at S. The partition's lock
        // first, then the replicator's: the order writers take them in (the reverse order
        // deadlocked with a write of the partition).
        store.withPartitionLocked(s.ns, s.p, () -> {
            synchronized (r) {
                SyncStart start = SyncStart.prepare(store, s.ns, s.p, c, probe.getHasRecords(), probe.getLastEntryEpoch(), records, forced,
                        s.sync.floor());
                s.sync.planned(start);
                r.beginSync(s.mirror, start.through());
            }
            return null;
        });
        LOG.debug("sync of {} (mirror at lsn {}) by {}: {} records through lsn {} ({})", s.key(), c, s.sync.plan().path(),
                s.sync.plan().records(), s.sync.through(), s.sync.plan().why());
        sendNext(s);
    }

    private void sendNext(Session s) {
        if (sessions.get(s.key()) != s) {
            return;
        }
        if (!host.leased()) {
            waitForLease(s);
            return;
        }
        SyncSession.Next next = s.sync.next(store, CHUNK_ITEMS, CHUNK_BYTES);
        if (next instanceof SyncSession.Next.Escalate e) {
            escalations.increment();
            LOG.info("sync of {} by {}: {}; escalating", s.key(), s.sync.plan().path(), e.why());
            start(s.ns, s.p, s.mirror, e.floor(), s.urgent);
            return;
        }
        SyncSession.Chunk chunk = ((SyncSession.Next.Send) next).chunk();
        if (!s.urgent) {
            throttle(chunk.bytes());
        }
        s.awaitingSinceMs = System.currentTimeMillis();
        host.send(s.mirror, MirrorMessage.newBuilder().setFromNode(nodeId).setCopy(toProto(s.ns, s.p, chunk)).build());
    }

    /** A sync chunk as the mirror stream carries it. */
    static MirrorCopy toProto(String ns, int p, SyncSession.Chunk chunk) {
        MirrorCopy.Builder c = MirrorCopy.newBuilder().setNamespace(ns).setPartition(p).setEpoch(chunk.epoch())
                .setThroughLsn(chunk.through()).setLastHlc(chunk.lastHlc()).setSession(chunk.session()).setSeq(chunk.seq())
                .setMasterEpoch(chunk.fence()).setLast(chunk.last()).setKind(switch (chunk.kind()) {
                    case LOG -> SyncKind.LOG;
                    case TRACKED -> SyncKind.TRACKED;
                    case COPY -> SyncKind.COPY;
                });
        for (LogEntry e : chunk.entries()) {
            c.addEntries(ByteString.copyFrom(e.encode()));
        }
        for (EpochStart e : chunk.starts()) {
            c.addEpochStarts(io.ferrydb.proto.EpochStart.newBuilder().setEpoch(e.epoch()).setStartLsn(e.startLsn()).setCacheLost(e.cacheLost()));
        }
        for (Digest d : chunk.gone()) {
            c.addGone(ByteString.copyFrom(d.toBytes()));
        }
        for (byte[] rec : chunk.records()) {
            c.addRecords(ByteString.copyFrom(rec));
        }
        return c.build();
    }

    /** Waits until the node-wide byte rate allows {@code bytes} more. */
    private void throttle(int bytes) {
        if (rateBytesPerSecond <= 0) {
            return;
        }
        long now = System.nanoTime();
        tokens = Math.min(rateBytesPerSecond, tokens + (now - refilledNs) / 1e9 * rateBytesPerSecond);
        refilledNs = now;
        tokens -= bytes;
        if (tokens < 0) {
            long waitNs = (long) (-tokens / rateBytesPerSecond * 1e9);
            try {
                TimeUnit.NANOSECONDS.sleep(waitNs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
