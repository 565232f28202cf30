package io.ferrydb.server.cluster;

import io.ferrydb.api.Limits;
import io.ferrydb.core.cluster.ClusterMember;
import io.ferrydb.core.cluster.ClusterTimings;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.HeartbeatRequest;
import io.ferrydb.core.cluster.Liveness;
import io.ferrydb.core.cluster.Member;
import io.ferrydb.core.cluster.NamespaceSpec;
import io.ferrydb.core.cluster.NamespaceTable;
import io.ferrydb.core.cluster.PartitionRole;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.proto.ClusterStatusRequest;
import io.ferrydb.proto.ClusterStatusResponse;
import io.ferrydb.proto.FerryClusterGrpc;
import io.ferrydb.server.config.NodeConfig;
import io.ferrydb.server.service.PartitionGate;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.core.cluster.PartitionEntry;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A node's membership in the cluster: it runs the control plane (a Ratis voter, or
 * only a client), drives the sans-IO {@link ClusterMember} from one thread (ticks,
 * heartbeat replies, sync completions all go through {@code loop}), and exposes the
 * node's view, roles and lease to the request path and to operators.
 *
 * <p>Until the mirroring data path exists, a sync (resync, clone, handoff) completes
 * at once: the table moves as the issue of record describes, but no records are copied.
 */
public final class NodeCluster implements AutoCloseable, PartitionGate {
    private static final Logger LOG = LoggerFactory.getLogger(NodeCluster.class);
    private static final long TICK_MS = 25;
    private static final long JOIN_TIMEOUT_MS = 60_000;

    private final NodeConfig config;
    private final RecordStore store;
    private final String address;
    private final String httpAddress;
    private final ClusterTimings timings;
    private final ScheduledExecutorService loop;
    /**
     * Applies views (promotions, replicators, epochs: seconds for a view changing thousands of
     * entries on a loaded node) and starts the syncs they ask for, in order, apart from the
     * cluster loop that sends the heartbeats: applied there, a decommission's views starved the
     * leaving node's heartbeats until it was declared failed (HandoffBenchmark: a failover, a
     * rejoin and a resync in the middle of every handoff).
     */
    private final java.util.concurrent.ExecutorService viewLoop;
    private final Map<String, String> voters;
    private final RatisControlPlane controlPlane;
    private final ClusterMember member;
    private volatile ClusterView view = ClusterView.EMPTY;
    /** The newest view this voter's replica of the control log committed (adopted on the loop). */
    private final java.util.concurrent.atomic.AtomicReference<ClusterView> committedView = new java.util.concurrent.atomic.AtomicReference<>();
    private volatile long leaseUntilMs = Long.MIN_VALUE;
    private final AtomicLong heartbeatsFailed = new AtomicLong();
    private final AtomicLong heartbeatsSent = new AtomicLong();
    private final AtomicLong epochChanges = new AtomicLong();
    private final AtomicLong viewChanges = new AtomicLong();
    private final Counter membersDeclaredDead;
    private final Counter notMasterRefusals;
    private final Counter leaseRefusals;
    private final Counter mirrorsReportedBehind;
    private final io.micrometer.core.instrument.Timer failoverTimer;
    private final io.micrometer.core.instrument.Timer viewApplyTimer;
    /** A view that takes this long to apply is logged with its phases. */
    private static final long SLOW_VIEW_NS = TimeUnit.MILLISECONDS.toNanos(200);

    private final io.ferrydb.server.mirror.Replication replication;
    private final io.ferrydb.server.mirror.MirrorReceiver receiver;

    public NodeCluster(NodeConfig config, RecordStore store, String address, String httpAddress, MeterRegistry registry,
                       io.ferrydb.server.mirror.Replication replication, io.ferrydb.server.mirror.MirrorReceiver receiver) {
        this.replication = replication;
        this.receiver = receiver;
        this.config = config;
        this.store = store;
        this.address = address;
        this.httpAddress = httpAddress;
        this.timings = new ClusterTimings(config.heartbeatIntervalMs, config.leaseMs, config.failureTimeoutMs,
                Math.max(config.heartbeatIntervalMs * 4, 1000), 0.1);
        this.voters = resolveVoters(config);
        boolean voter = voters.containsKey(config.nodeId);
        Path dir = Path.of(config.dataDir).toAbsolutePath().normalize().resolve("control");
        this.controlPlane = new RatisControlPlane(ControlPlaneConfig.of(config.nodeId, voters, dir)
                .withVoter(voter).withClusterName(config.clusterName).withTimings(timings));
        this.loop = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ferry-cluster");
            t.setDaemon(true);
            return t;
        });
        this.viewLoop = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "ferry-cluster-view");
            t.setDaemon(true);
            return t;
        });
        List<NamespaceSpec> specs = new ArrayList<>();
        for (NamespaceConfig ns : store.namespaces()) {
            specs.add(new NamespaceSpec(ns.name(), ns.replicationFactor()));
        }
        this.mirrorsReportedBehind = Counter.builder("ferry_mirror_reported_behind")
                .description("IN_SYNC mirrors this master reported behind (fell out of its stream) so the table makes them RESYNCING before a sync")
                .register(registry);
        this.member = new ClusterMember(config.nodeId, address, httpAddress, voter, specs, timings, new Outbox(),
                this::lastLsns,
                (ref, kind) -> {
                    if (kind == ClusterMember.SyncKind.HANDOFF) {
                        LOG.debug("handoff of {}/{} to {} (epoch {}) in the view", ref.namespace(), ref.partition(), ref.node(), ref.epoch());
                    }
                    viewLoop.execute(() -> replication.sync(ref, kind == ClusterMember.SyncKind.HANDOFF));
                });
        // A sync is done when the mirror has the partition's copy and the stream continues after it.
        replication.onSyncDone(ref -> loop.execute(() -> completeSync(ref)));
        replication.leaseCheck(this::leaseValid);
        replication.syncGate((ns, p, mirror, start) -> loop.execute(() -> {
            if (member.maySync(ns, p, mirror)) {
                viewLoop.execute(start);
            } else {
                mirrorsReportedBehind.increment();
                LOG.info("{}/{}: mirror {} fell out of the stream while IN_SYNC; asking the control plane to mark it RESYNCING before syncing it",
                        ns, p, mirror);
            }
        }));
        // Releasing partitions this node holds data of but no replica: the master answers
        // only while it masters the partition (epoch adopted) and the asker is no replica of it.
        receiver.releaseCheck((ns, p, asker) -> {
            PartitionEntry e = view.entry(ns, p);
            return config.nodeId.equals(e.master()) && e.available() && e.replicaOn(asker) == null
                    && store.partitionInfo(ns, p).epoch() == e.epoch();
        });
        replication.onReleaseAnswer((master, history) -> receiver.release(history.getNamespace(), history.getPartition(), history, master));
        this.membersDeclaredDead = Counter.builder("ferry_cluster_members_failed").description("members this node saw declared failed").register(registry);
        this.notMasterRefusals = Counter.builder("ferry_cluster_refused_not_master")
                .description("requests refused because another node masters the partition").register(registry);
        this.leaseRefusals = Counter.builder("ferry_cluster_refused_no_lease")
                .description("requests refused because this node's master lease had lapsed").register(registry);
        this.viewApplyTimer = io.micrometer.core.instrument.Timer.builder("ferry_cluster_view_apply")
                .description("time to apply a new cluster view (on the view thread, apart from the heartbeats)").register(registry);
        this.failoverTimer = io.micrometer.core.instrument.Timer.builder("ferry_cluster_failover")
                .description("on the control-plane leader: time from a failed member's last heartbeat to the committed view declaring it failed")
                .publishPercentiles(0.5, 0.99).register(registry);
        FunctionCounter.builder("ferry_cluster_epoch_changes", epochChanges, AtomicLong::get)
                .description("partition epochs this node has seen change").register(registry);
        FunctionCounter.builder("ferry_cluster_view_changes", viewChanges, AtomicLong::get)
                .description("cluster views adopted").register(registry);
        FunctionCounter.builder("ferry_cluster_heartbeats_failed", heartbeatsFailed, AtomicLong::get)
                .description("heartbeats that got no answer from a leader").register(registry);
        FunctionCounter.builder("ferry_cluster_heartbeats", heartbeatsSent, AtomicLong::get)
                .description("heartbeats sent").register(registry);
        FunctionCounter.builder("ferry_cluster_leader_changes", controlPlane, RatisControlPlane::leaderChangeCount)
                .description("control-plane leader changes seen by this voter").register(registry);
        Gauge.builder("ferry_cluster_view_version", () -> view.version()).description("version of the view this node acts on").register(registry);
        Gauge.builder("ferry_cluster_lease_valid", () -> leaseValid() ? 1 : 0).description("1 while this node holds a master lease").register(registry);
        Gauge.builder("ferry_cluster_is_leader", () -> controlPlane.isLeader() ? 1 : 0).description("1 on the control-plane leader").register(registry);
        for (NamespaceConfig ns : store.namespaces()) {
            Gauge.builder("ferry_cluster_partitions_mastered", () -> count(ns.name(), PartitionRole.MASTER)).tag("namespace", ns.name())
                    .description("partitions this node masters").register(registry);
            Gauge.builder("ferry_cluster_partitions_mirrored", () -> count(ns.name(), PartitionRole.MIRROR)).tag("namespace", ns.name())
                    .description("partitions this node mirrors").register(registry);
        }
    }

    /** Voters from config; else from a seed; else this node alone. */
    static Map<String, String> resolveVoters(NodeConfig config) {
        Map<String, String> voters = new LinkedHashMap<>();
        if (!config.controlVoters.isEmpty()) {
            for (String v : config.controlVoters) {
                int at = v.indexOf('@');
                voters.put(v.substring(0, at), v.substring(at + 1));
            }
            return voters;
        }
        if (config.seeds.isEmpty()) {
            if (config.controlPort == 0) {
                // Chosen once and kept in the config, so a restart in this process reuses it.
                config.controlPort = freePort(config.host);
            }
            voters.put(config.nodeId, config.host + ":" + config.controlPort);
            return voters;
        }
        List<String> errors = new ArrayList<>();
        for (String seed : config.seeds) {
            ManagedChannel ch = NettyChannelBuilder.forTarget(seed).usePlaintext().build();
            try {
                ClusterStatusResponse r = FerryClusterGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS)
                        .status(ClusterStatusRequest.getDefaultInstance());
                for (String v : r.getControlVotersList()) {
                    int at = v.indexOf('@');
                    voters.put(v.substring(0, at), v.substring(at + 1));
                }
                LOG.info("seed {} named the control voters {}", seed, voters);
                return voters;
            } catch (RuntimeException e) {
                errors.add(seed + ": " + e.getMessage());
            } finally {
                ch.shutdownNow();
            }
        }
        throw new IllegalStateException("no seed answered with the control voters: " + errors);
    }

    private static int freePort(String host) {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName(host))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free control port on " + host, e);
        }
    }

    public void start() {
        try {
            controlPlane.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the control plane: " + e.getMessage(), e);
        }
        // A voter applies the control plane's log itself: it adopts each committed view as its
        // replica applies it, not a heartbeat later (a handoff's switch reached its target up to
        // an interval late, and every heartbeat reply then carried the whole view). Only once a
        // heartbeat brought the current view: a restarted voter replays old views first.
        controlPlane.addViewListener(v -> {
            ClusterView before = committedView.getAndAccumulate(v, (a, b) -> a == null || b.version() > a.version() ? b : a);
            if (before == null || before.version() < v.version()) {
                member.committedElsewhere(v.version());
                loop.execute(this::adoptCommitted);
            }
        });
        loop.scheduleWithFixedDelay(this::tick, 0, TICK_MS, TimeUnit.MILLISECONDS);
    }

    /** Waits until this node is an alive member of the table it holds (bounded). */
    public void awaitJoined() throws InterruptedException {
        long deadline = System.currentTimeMillis() + JOIN_TIMEOUT_MS;
        while (System.currentTimeMillis() < deadline) {
            Member me = view.member(config.nodeId);
            if (me != null && me.liveness() == Liveness.ALIVE && view.tables().keySet().containsAll(namespaceNames())) {
                return;
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("node " + config.nodeId + " did not join the cluster within " + JOIN_TIMEOUT_MS
                + " ms; control voters " + voters + ", leader " + controlPlane.leaderId().orElse("unknown"));
    }

    private List<String> namespaceNames() {
        List<String> names = new ArrayList<>();
        for (NamespaceConfig ns : store.namespaces()) {
            names.add(ns.name());
        }
        return names;
    }

    private void completeSync(io.ferrydb.core.cluster.PartitionRef ref) {
        if (ref.node().equals(member.view().entry(ref.namespace(), ref.partition()).handoffTo())) {
            LOG.debug("handoff of {}/{} to {}: the target caught up", ref.namespace(), ref.partition(), ref.node());
        }
        member.onSyncComplete(ref);
    }

    /** Adopts the view this voter's log replica committed last, once a heartbeat brought a first view (loop thread). */
    private void adoptCommitted() {
        ClusterView committed = committedView.get();
        if (committed != null && member.view().version() > 0) {
            member.onCommittedView(committed);
        }
    }

    private void tick() {
        try {
            adoptCommitted();
            for (long ms : controlPlane.drainFailoverTimesMs()) {
                failoverTimer.record(ms, TimeUnit.MILLISECONDS);
                LOG.info("failover: a member was declared failed {} ms after its last heartbeat", ms);
            }
            member.tick(System.currentTimeMillis());
        } catch (RuntimeException e) {
            LOG.error("cluster tick failed", e);
        }
    }

    private long[] lastLsns(String namespace) {
        long[] lsns = new long[Limits.PARTITION_COUNT];
        for (int p = 0; p < lsns.length; p++) {
            lsns[p] = io.ferrydb.core.cluster.LsnReport.of(store, namespace, p);
        }
        return lsns;
    }

    private final class Outbox implements ClusterMember.Outbox {
        @Override
        public void sendHeartbeat(HeartbeatRequest request, long sentAtMs) {
            heartbeatsSent.incrementAndGet();
            controlPlane.heartbeat(request).whenComplete((reply, error) -> loop.execute(() -> {
                if (error != null || reply == null || !reply.fromLeader()) {
                    heartbeatsFailed.incrementAndGet();
                    return;
                }
                member.onHeartbeatReply(reply, sentAtMs);
                leaseUntilMs = member.leaseUntilMs();
            }));
        }

        /** The newest view the member adopted, applied by the view thread (see viewChanged). */
        private final java.util.concurrent.atomic.AtomicReference<ClusterView> newestView = new java.util.concurrent.atomic.AtomicReference<>();

        @Override
        public void viewChanged(ClusterView previous, ClusterView current) {
            newestView.accumulateAndGet(current, (a, b) -> a == null || b.version() > a.version() ? b : a);
            viewLoop.execute(() -> {
                // Views queued meanwhile are applied as one step, from the view applied last to
                // the newest (a voter adopts every view its log commits; a decommission commits
                // dozens, each taking a starved node hundreds of ms to apply one by one).
                ClusterView applied = view;
                ClusterView newest = newestView.get();
                if (newest.version() <= applied.version()) {
                    return;
                }
                try {
                    apply(applied, newest);
                } catch (RuntimeException e) {
                    LOG.error("applying cluster view {} failed", newest.version(), e);
                }
            });
        }

        private void apply(ClusterView previous, ClusterView current) {
            long startNs = System.nanoTime();
            int changed = applyView(previous, current);
            long ns = System.nanoTime() - startNs;
            viewApplyTimer.record(ns, TimeUnit.NANOSECONDS);
            if (ns >= SLOW_VIEW_NS) {
                LOG.info("applying cluster view {} ({} partition epochs changed) took {} ms on the view thread (promote {} ms, "
                                + "replicators {} ms, epochs {} ms)", current.version(), changed, ns / 1_000_000, phaseNs[0] / 1_000_000,
                        phaseNs[1] / 1_000_000, phaseNs[2] / 1_000_000);
            }
        }

        /** Where the last view's time went: promotions, replicators, epoch adoption (for the slow-view log line). */
        private final long[] phaseNs = new long[3];

        private int applyView(ClusterView previous, ClusterView current) {
            int changed = 0;
            // A promoted mirror first writes what its cache acknowledged; the store logs the
            // new epochs and the replicators know the new mirrors before the request gate sees
            // this view, so every change a master logs carries the epoch it was admitted under
            // and is streamed to that epoch's mirrors.
            long t0 = System.nanoTime();
            promoteMirrors(previous, current);
            long t1 = System.nanoTime();
            // Replicators first: a write still admitted under the old view may be logged in
            // the new epoch, and a batch's epoch must not be below its entries'.
            replication.onView(previous, current);
            long t2 = System.nanoTime();
            adoptEpochs(previous, current);
            long t3 = System.nanoTime();
            phaseNs[0] = t1 - t0;
            phaseNs[1] = t2 - t1;
            phaseNs[2] = t3 - t2;
            view = current;
            viewChanges.incrementAndGet();
            for (NamespaceTable t : current.tables().values()) {
                NamespaceTable before = previous.table(t.namespace());
                for (int p = 0; p < t.size(); p++) {
                    if (before == null || before.entry(p).epoch() != t.entry(p).epoch()) {
                        epochChanges.incrementAndGet();
                        changed++;
                    }
                }
            }
            for (Member m : current.members().values()) {
                Member was = previous.member(m.id());
                if (m.liveness() == Liveness.DEAD && was != null && was.liveness() != Liveness.DEAD) {
                    membersDeclaredDead.increment();
                    LOG.warn("member {} declared failed (view {})", m.id(), current.version());
                }
            }
            LOG.debug("adopted cluster view {}", current.version());
            return changed;
        }
    }

    public ClusterView view() {
        return view;
    }

    /** How long a failover check waits for the old epoch's other replicas before the partitions serve anyway. */
    private static final long FAILOVER_SURVEY_TIMEOUT_MS = 500;

    private void promoteMirrors(ClusterView previous, ClusterView current) {
        boolean wrote = false;
        record Check(String ns, int p, PartitionEntry before, PartitionEntry now, long reported, io.ferrydb.server.mirror.FailoverSurvey.Query query) {}
        List<Check> checks = new ArrayList<>();
        for (NamespaceConfig ns : store.namespaces()) {
            NamespaceTable t = current.table(ns.name());
            if (t == null) {
                continue;
            }
            NamespaceTable was = previous.table(ns.name());
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                PartitionEntry before = was == null ? PartitionEntry.UNASSIGNED : was.entry(p);
                if (e == before || !config.nodeId.equals(e.master())) {
                    continue;
                }
                if (!config.nodeId.equals(before.master())) {
                    LOG.debug("{}/{}: master here from view {}", ns.name(), p, current.version());
                    wrote |= receiver.promote(ns.name(), p);
                    long reported = t.failedMasterLsn(p);
                    if (reported >= 0 && before.master() != null) {
                        // Before serving: the failover check, against the old epoch's other replicas.
                        List<String> others = new ArrayList<>();
                        for (io.ferrydb.core.cluster.Replica r : before.mirrors()) {
                            if (!r.node().equals(config.nodeId)) {
                                others.add(r.node());
                            }
                        }
                        long held = store.partitionInfo(ns.name(), p).lastLsn();
                        checks.add(new Check(ns.name(), p, before, e, reported,
                                new io.ferrydb.server.mirror.FailoverSurvey.Query(ns.name(), p, held, e.epoch(), others)));
                    }
                }
            }
        }
        if (!checks.isEmpty()) {
            long startNs = System.nanoTime();
            Map<io.ferrydb.server.mirror.FailoverSurvey.Query, io.ferrydb.server.mirror.FailoverSurvey.Outcome> answers =
                    io.ferrydb.server.mirror.FailoverSurvey.ask(config.nodeId, checks.stream().map(Check::query).toList(), id -> {
                        Member m = current.member(id);
                        return m == null || m.liveness() != Liveness.ALIVE ? null : m.address();
                    }, FAILOVER_SURVEY_TIMEOUT_MS);
            for (Check c : checks) {
                io.ferrydb.server.mirror.FailoverSurvey.Outcome o = answers.get(c.query());
                receiver.checkFailoverGap(c.ns(), c.p(), c.before().epoch(), c.now().epoch(), c.before().master(), c.reported(),
                        o.survivors(), o.unreached());
            }
            wrote = true;
            LOG.info("failover check of {} partitions took {} ms", checks.size(), (System.nanoTime() - startNs) / 1_000_000);
        }
        if (wrote) {
            // One fsync for every promoted partition, before any of them serves.
            receiver.sync();
        }
    }

    private void adoptEpochs(ClusterView previous, ClusterView v) {
        for (NamespaceConfig ns : store.namespaces()) {
            NamespaceTable t = v.table(ns.name());
            if (t == null) {
                continue;
            }
            NamespaceTable before = previous.table(ns.name());
            Map<Integer, Long> epochs = new java.util.HashMap<>();
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                if (before != null && before.entry(p).equals(e)) {
                    continue; // unchanged: adopted with the view that made it
                }
                if (config.nodeId.equals(e.master()) && e.epoch() > 0) {
                    epochs.put(p, e.epoch());
                }
            }
            if (!epochs.isEmpty()) {
                store.adoptEpochs(ns.name(), epochs); // one storage write for the view's partitions
            }
        }
    }

    public boolean leaseValid() {
        return System.currentTimeMillis() < leaseUntilMs;
    }

    /** Whether this node may serve the partition as master now (table + lease). */
    public boolean mastering(String namespace, int partition) {
        ClusterView v = view;
        if (!leaseValid()) {
            return false;
        }
        var e = v.entry(namespace, partition);
        return config.nodeId.equals(e.master()) && e.available();
    }

    /**
     * Serves the partition only as its master with a valid lease; otherwise refuses with
     * NOT_MASTER naming the master this node knows, so the client refreshes and retries.
     */
    @Override
    public void admit(String namespace, int partition) {
        ClusterView v = view;
        NamespaceTable t = v.table(namespace);
        if (t == null) {
            return; // not a namespace of this cluster: the store answers with the field's error
        }
        PartitionEntry e = t.entry(partition);
        String master = e.master();
        if (config.nodeId.equals(master) && e.available()) {
            if (leaseValid()) {
                return;
            }
            leaseRefusals.increment();
            throw new FerryException(ErrorCode.NOT_MASTER, "node " + config.nodeId + " masters partition " + partition + " of "
                    + namespace + " (epoch " + e.epoch() + ") but holds no master lease (control plane not reached for "
                    + timings.leaseMs() + " ms); retry", null, false);
        }
        notMasterRefusals.increment();
        Member m = master == null ? null : v.member(master);
        String where = master == null || !e.available()
                ? "has no serving master now (moving or unavailable)"
                : "is mastered by node " + master + (m == null ? "" : " at " + m.address());
        // The hint: the serving master, or while the partition moves the node taking it over
        // (it serves from the switch on: retries wait there rather than behind a new map).
        Member hint = master != null && e.available() ? m : e.handoffTo() == null ? null : v.member(e.handoffTo());
        throw new io.ferrydb.api.NotMasterException("partition " + partition + " of " + namespace + " (epoch " + e.epoch() + ") "
                + where + ", not by node " + config.nodeId + " (view " + v.version() + ")", hint == null ? null : hint.address(), e.epoch());
    }

    private int count(String namespace, PartitionRole role) {
        ClusterView v = view;
        NamespaceTable t = v.table(namespace);
        int n = 0;
        if (t != null) {
            for (int p = 0; p < t.size(); p++) {
                var e = t.entry(p);
                boolean master = config.nodeId.equals(e.master());
                if (role == PartitionRole.MASTER ? master : !master && e.replicaOn(config.nodeId) != null) {
                    n++;
                }
            }
        }
        return n;
    }

    public RatisControlPlane controlPlane() {
        return controlPlane;
    }

    /** The voters as id@host:port. */
    public List<String> votersList() {
        List<String> out = new ArrayList<>();
        voters.forEach((id, addr) -> out.add(id + "@" + addr));
        return out;
    }

    public String nodeId() {
        return config.nodeId;
    }

    @Override
    public void close() {
        loop.shutdownNow();
        viewLoop.shutdownNow();
        try {
            loop.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        controlPlane.close();
    }
}
