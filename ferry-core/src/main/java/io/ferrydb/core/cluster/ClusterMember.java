package io.ferrydb.core.cluster;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A node's side of the control plane: it heartbeats to the leader (its first
 * heartbeat is its join), adopts newer views from the replies, holds the master
 * lease, starts the syncs its mastered partitions need and reports them caught up.
 *
 * <p>Sans-IO: time comes in with every call; heartbeats and view changes go out
 * through {@link Outbox}; syncs go to a {@link SyncDriver} which calls
 * {@link #onSyncComplete} when done. Views only move forward (a duplicated or
 * reordered reply carrying an older version is ignored), so a node's epochs only grow.
 */
public final class ClusterMember {
    public interface Outbox {
        /** Sends a heartbeat; the reply must come back to {@link #onHeartbeatReply} with the same {@code sentAtMs}. */
        void sendHeartbeat(HeartbeatRequest request, long sentAtMs);

        void viewChanged(ClusterView previous, ClusterView current);
    }

    /** The node's last committed LSN per partition of a namespace (-1 where it holds nothing). */
    public interface LsnSource {
        long[] lastLsns(String namespace);
    }

    /** What a sync is for. */
    public enum SyncKind {
        /** A returning replica catches up. */
        RESYNC,
        /** A new replica is filled. */
        CLONE,
        /** The master has stopped serving; the target takes everything it has before becoming master. */
        HANDOFF
    }

    /** Brings a mirror up to date; the data path of mirroring. Completion comes back through {@link #onSyncComplete}. */
    public interface SyncDriver {
        void start(PartitionRef mirror, SyncKind kind);
    }

    private final String nodeId;
    private final String address;
    private final String httpAddress;
    private final boolean voter;
    private final List<NamespaceSpec> namespaces;
    private final ClusterTimings timings;
    private final Outbox outbox;
    private final LsnSource lsnSource;
    private final SyncDriver syncDriver;
    /** This process's identity in heartbeats: the leader fences a member whose process restarted unnoticed. */
    private final long incarnation = java.util.concurrent.ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE);

    private ClusterView view = ClusterView.EMPTY;
    private long leaseUntilMs = Long.MIN_VALUE;
    private long lastSentMs = Long.MIN_VALUE;
    private final Set<PartitionRef> syncsStarted = new HashSet<>();
    private final Set<PartitionRef> caughtUp = new LinkedHashSet<>();
    /** IN_SYNC mirrors that fell out of this master's stream, reported until the table shows them RESYNCING. */
    private final Set<PartitionRef> behind = new LinkedHashSet<>();

    public ClusterMember(String nodeId, String address, String httpAddress, boolean voter, List<NamespaceSpec> namespaces,
                         ClusterTimings timings, Outbox outbox, LsnSource lsnSource, SyncDriver syncDriver) {
        this.nodeId = nodeId;
        this.address = address;
        this.httpAddress = httpAddress;
        this.voter = voter;
        this.namespaces = List.copyOf(namespaces);
        this.timings = timings;
        this.outbox = outbox;
        this.lsnSource = lsnSource;
        this.syncDriver = syncDriver;
    }

    public String nodeId() {
        return nodeId;
    }

    public ClusterView view() {
        return view;
    }

    public long leaseUntilMs() {
        return leaseUntilMs;
    }

    /**
     * A handoff's sync finished since the last heartbeat: its partition refuses writes until
     * the control plane hears of it, so it is reported after {@code 1/}{@link #REPORT_SPEEDUP}
     * of the interval, not after a full one. (Clones and resyncs wait for the next heartbeat:
     * a decommission finishes thousands, and reporting each at once kept the leaving node's
     * heartbeats at five times the rate for its whole length.)
     */
    private boolean unreported;
    static final int REPORT_SPEEDUP = 5;

    public void tick(long nowMs) {
        long interval = unreported ? Math.max(1, timings.heartbeatIntervalMs() / REPORT_SPEEDUP) : timings.heartbeatIntervalMs();
        if (lastSentMs != Long.MIN_VALUE && nowMs - lastSentMs < interval) {
            return;
        }
        lastSentMs = nowMs;
        unreported = false;
        Map<String, long[]> lsns = new TreeMap<>();
        for (NamespaceSpec ns : namespaces) {
            lsns.put(ns.name(), lsnSource.lastLsns(ns.name()));
        }
        // A view this node's own log replica has committed is on its way to adopt(): the leader
        // need not send it (a whole table, encoded on the leader's apply thread). Not before a
        // first view came with a heartbeat: the caller adopts local views only from then on.
        long known = view.version() > 0 ? Math.max(view.version(), committedElsewhere) : view.version();
        outbox.sendHeartbeat(new HeartbeatRequest(nodeId, address, httpAddress, voter, namespaces, known, lsns,
                new ArrayList<>(caughtUp), incarnation, new ArrayList<>(behind)), nowMs);
    }

    public void onHeartbeatReply(HeartbeatReply reply, long sentAtMs) {
        if (!reply.fromLeader()) {
            return;
        }
        if (reply.leaseGranted()) {
            leaseUntilMs = Math.max(leaseUntilMs, sentAtMs + timings.leaseMs());
        }
        if (reply.view() != null && reply.view().version() > view.version()) {
            adopt(reply.view());
        }
    }

    private volatile long committedElsewhere;

    /**
     * A view this node's replica of the control log committed, not adopted yet (any thread):
     * heartbeats report it as known, so replies do not carry it. The caller must pass it to
     * {@link #onCommittedView} soon (at the latest on its next tick).
     */
    public void committedElsewhere(long version) {
        if (version > committedElsewhere) {
            committedElsewhere = version;
        }
    }

    /**
     * A committed view learned apart from the heartbeats (a voter applies the control
     * plane's log itself): adopted if newer. A handoff's target thus serves as soon as its
     * own replica of the log has the switch, not a heartbeat later; leases still come only
     * from heartbeats.
     */
    public void onCommittedView(ClusterView committed) {
        if (committed.version() > view.version()) {
            adopt(committed);
        }
    }

    private void adopt(ClusterView next) {
        ClusterView previous = view;
        view = next;
        caughtUp.removeIf(ref -> !pending(ref));
        rekeyBehind();
        syncsStarted.removeIf(ref -> !pending(ref));
        outbox.viewChanged(previous, next);
        startSyncs(previous);
    }

    /** Whether the current view still waits for this sync (a driver retries only while it does). */
    public boolean syncWanted(PartitionRef ref) {
        return pending(ref);
    }

    private boolean pending(PartitionRef ref) {
        PartitionEntry e = view.entry(ref.namespace(), ref.partition());
        return e.epoch() == ref.epoch() && nodeId.equals(e.master()) && ClusterController.awaitsReport(e, ref.node());
    }

    private void startSyncs(ClusterView previous) {
        for (NamespaceTable t : view.tables().values()) {
            NamespaceTable before = previous.table(t.namespace());
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                // An unchanged entry needs nothing new (views arrive decoded: compare by value).
                if (before != null && before.entry(p).equals(e)) {
                    continue;
                }
                if (!nodeId.equals(e.master()) || e.replicas().get(0).state() != ReplicaState.IN_SYNC) {
                    continue;
                }
                for (Replica r : e.mirrors()) {
                    SyncKind kind = r.node().equals(e.handoffTo()) ? SyncKind.HANDOFF
                            : r.state() == ReplicaState.RESYNCING ? SyncKind.RESYNC
                            : r.state() == ReplicaState.CLONING ? SyncKind.CLONE : null;
                    if (kind != null) {
                        PartitionRef ref = new PartitionRef(t.namespace(), p, r.node(), e.epoch());
                        if (syncsStarted.add(ref)) {
                            syncDriver.start(ref, kind);
                        }
                    }
                }
            }
        }
    }

    /** The sync of a mirror finished; it is reported with the next heartbeats until the table shows it. */
    public void onSyncComplete(PartitionRef ref) {
        if (pending(ref) && caughtUp.add(ref) && ref.node().equals(view.entry(ref.namespace(), ref.partition()).handoffTo())) {
            unreported = true;
        }
    }

    /**
     * Whether a sync of {@code mirror}, which fell out of this master's stream, may start
     * now. Not while the table calls it IN_SYNC (a handoff's target included): a sync
     * may rewrite it, and until the last chunk it holds neither its old copy nor the
     * master's, so it must not stay promotable (NodeSimulationTest seed 9764: a mirror
     * restarted unnoticed, applied a copy's first chunk, and was promoted empty; seed
     * 1327: the same with a handoff's target). Such a mirror is reported behind with the
     * next heartbeats, sent soon; the table makes it RESYNCING (ending a handoff to it)
     * and the sync starts from that view ({@link SyncDriver#start}).
     */
    public boolean maySync(String namespace, int partition, String mirror) {
        PartitionEntry e = view.entry(namespace, partition);
        Replica r = e.replicaOn(mirror);
        if (!nodeId.equals(e.master()) || r == null || r.state() != ReplicaState.IN_SYNC && !reportedCaughtUp(namespace, partition, e, mirror)) {
            return true; // not this master's to report, or not promotable; the sync's own checks (epoch fence) apply
        }
        if (behind.add(new PartitionRef(namespace, partition, mirror, e.epoch()))) {
            unreported = true;
        }
        return false;
    }

    /**
     * Whether this master reported {@code mirror} caught up in the entry's epoch and the
     * table does not show it yet: it may become IN_SYNC any moment, so it is treated as
     * IN_SYNC already (a sync started now could end up rewriting an IN_SYNC mirror).
     */
    private boolean reportedCaughtUp(String namespace, int partition, PartitionEntry e, String mirror) {
        return !caughtUp.isEmpty() && caughtUp.contains(new PartitionRef(namespace, partition, mirror, e.epoch()));
    }

    /**
     * A new view: a mirror reported behind that is still IN_SYNC under this master (the
     * epoch moved on for another replica's sake) is reported again in the new epoch; the
     * stream will not tell again what it told once (NodeSimulationTest seed 105). One the
     * table made RESYNCING is synced from that view; one ABSENT, when it returns.
     */
    private void rekeyBehind() {
        if (behind.isEmpty()) {
            return;
        }
        List<PartitionRef> still = new ArrayList<>();
        for (PartitionRef ref : behind) {
            PartitionEntry e = view.entry(ref.namespace(), ref.partition());
            Replica r = e.replicaOn(ref.node());
            if (nodeId.equals(e.master()) && r != null && (r.state() == ReplicaState.IN_SYNC || reportedCaughtUp(ref.namespace(), ref.partition(), e, ref.node()))) {
                still.add(new PartitionRef(ref.namespace(), ref.partition(), ref.node(), e.epoch()));
            }
        }
        behind.clear();
        behind.addAll(still);
    }

    public PartitionRole role(String namespace, int partition) {
        PartitionEntry e = view.entry(namespace, partition);
        if (nodeId.equals(e.master())) {
            return PartitionRole.MASTER;
        }
        return e.replicaOn(nodeId) == null ? PartitionRole.NONE : PartitionRole.MIRROR;
    }

    /** Whether this node may serve the partition as master now: the table says so and the lease holds. */
    public boolean mastering(String namespace, int partition, long nowMs) {
        if (nowMs >= leaseUntilMs) {
            return false;
        }
        PartitionEntry e = view.entry(namespace, partition);
        if (!nodeId.equals(e.master()) || !e.available()) {
            return false;
        }
        Member me = view.member(nodeId);
        return me != null && (me.liveness() == Liveness.ALIVE || me.liveness() == Liveness.LEAVING);
    }

    public boolean leaseValid(long nowMs) {
        return nowMs < leaseUntilMs;
    }
}
