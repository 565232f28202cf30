package io.ferrydb.core.cluster;

import io.ferrydb.core.Verify;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The control-plane leader's brain: failure detection from heartbeats, and the
 * proposals that change the table (join, failure, caught-up). It runs only on the
 * current leader of the metadata store and keeps soft state (heartbeat times, LSN
 * reports) that a new leader rebuilds from fresh heartbeats.
 *
 * <p>Sans-IO: time comes in with every call, proposals go out through
 * {@link Proposer}, applied views come back through {@link #onApplied}. Safety rests
 * on leases (see {@link ClusterTimings}): a node is declared failed only after
 * {@code failureTimeoutMs} without a heartbeat, counted from no earlier than when this
 * controller became leader, and a node being declared failed gets no lease-granting
 * replies until the failure is applied, so its lease has run out before any mirror is
 * promoted in its place.
 */
public final class ClusterController {
    /** Sends a command to the metadata store; the applied state returns through {@link #onApplied}. */
    public interface Proposer {
        void propose(ClusterCommand command);
    }

    /** Counts for metrics. */
    public interface Listener {
        void nodeFailed(String node, long silentMs);

        Listener NONE = (node, silentMs) -> { };
    }

    private final ClusterTimings timings;
    private final Proposer proposer;
    private final Listener listener;

    private boolean leader;
    private long leaderSinceMs;
    private ClusterView view = ClusterView.EMPTY;
    private final Map<String, Long> lastHeartbeatMs = new HashMap<>();
    private final Map<String, Map<String, long[]>> reportedLsns = new HashMap<>();
    /** Nodes being declared failed: no lease until the failure is applied. */
    private final Set<String> fenced = new HashSet<>();
    /** Proposal keys and when they were sent, so an unapplied proposal is retried, not spammed. */
    private final Map<String, Long> proposedAtMs = new HashMap<>();
    private final Set<PartitionRef> caughtUpPending = new LinkedHashSet<>();
    /**
     * When each caught-up report was last proposed. A member repeats its reports with every
     * heartbeat until the table shows them, and during a decommission they name a thousand
     * partitions: proposing each heartbeat's set anew filled the log with overlapping
     * CaughtUp commands, and the leader's apply thread (which also answers the heartbeats)
     * fell a second behind its followers (HandoffBenchmark). A report is proposed again only
     * after {@link ClusterTimings#proposalRetryMs}.
     */
    private final Map<PartitionRef, Long> caughtUpProposedMs = new HashMap<>();
    /** Formation: the voters a cluster that has no tables yet waits for, and for how long. */
    private Set<String> formationVoters = Set.of();
    private long formationWaitMs;

    public ClusterController(ClusterTimings timings, Proposer proposer, Listener listener) {
        this.timings = timings;
        this.proposer = proposer;
        this.listener = listener;
    }

    /**
     * A cluster forming for the first time (no namespace table exists yet) admits the
     * nodes that heartbeat as members only, and creates the tables once every one of
     * {@code voters} is a member, or {@code waitMs} after this controller's election,
     * whichever comes first. Why: tables created with the first node and rebalanced on
     * each later join copy and hand off thousands of (empty) partitions per join; a
     * 5-node cluster formed that way took minutes on a loaded machine. Like Kafka's
     * initial rebalance delay and Aerospike's cluster formation quantum.
     */
    public void formWith(Set<String> voters, long waitMs) {
        Verify.that(waitMs >= 0, "formation wait must be >= 0, got %d", waitMs);
        this.formationVoters = Set.copyOf(voters);
        this.formationWaitMs = waitMs;
    }

    /** Whether the cluster is still forming: no table yet, and voters still awaited within the wait. */
    boolean forming(long nowMs) {
        if (!view.tables().isEmpty() || formationVoters.isEmpty() || nowMs - leaderSinceMs >= formationWaitMs) {
            return false;
        }
        for (String v : formationVoters) {
            Member m = view.member(v);
            if (m == null || m.liveness() != Liveness.ALIVE) {
                return true;
            }
        }
        return false;
    }

    public boolean isLeader() {
        return leader;
    }

    public ClusterView view() {
        return view;
    }

    public void becameLeader(long nowMs, ClusterView current) {
        leader = true;
        leaderSinceMs = nowMs;
        view = current;
        lastHeartbeatMs.clear();
        reportedLsns.clear();
        fenced.clear();
        proposedAtMs.clear();
        caughtUpPending.clear();
        caughtUpProposedMs.clear();
        behindProposedMs.clear();
    }

    public void lostLeadership() {
        leader = false;
    }

    public void onApplied(ClusterView applied) {
        if (applied.version() < view.version()) {
            return;
        }
        view = applied;
        fenced.removeIf(n -> {
            Member m = applied.member(n);
            return m == null || m.liveness() != Liveness.ALIVE && m.liveness() != Liveness.LEAVING;
        });
    }

    /** Milliseconds since each member's last heartbeat, as this leader saw it (for status). */
    public Map<String, Long> heartbeatAgesMs(long nowMs) {
        Map<String, Long> ages = new HashMap<>();
        for (Map.Entry<String, Long> e : lastHeartbeatMs.entrySet()) {
            ages.put(e.getKey(), nowMs - e.getValue());
        }
        return ages;
    }

    public HeartbeatReply onHeartbeat(HeartbeatRequest hb, long nowMs) {
        if (!leader) {
            return HeartbeatReply.NOT_LEADER;
        }
        lastHeartbeatMs.put(hb.node(), nowMs);
        Member m = view.member(hb.node());
        boolean alive = m != null && (m.liveness() == Liveness.ALIVE || m.liveness() == Liveness.LEAVING);
        // The member's incarnation is in the replicated state: a new leader knows it too.
        boolean restarted = alive && hb.incarnation() != 0 && m.incarnation() != 0 && m.incarnation() != hb.incarnation();
        boolean restartedMaster = restarted && mastersMirrored(hb.node());
        // Failed once this leader has heard from its IN_SYNC mirrors: the promotion picks among
        // them by their reports, and a mirror a sync is rewriting must say so before it can be
        // chosen (a fresh leader, like a restarted single voter, has no reports yet; the restarted
        // process gets no lease meanwhile, its incarnation being unknown to the state).
        if (restartedMaster && !fenced.contains(hb.node()) && mirrorsReported(hb.node())) {
            // The member's process restarted before its failure was declared. After a power loss its
            // store may lack writes it logged (and acknowledged, MASTER+ASYNC) that its mirrors hold:
            // continuing its epochs would reuse those LSNs for other changes, and the replicas would
            // disagree on an entry of one epoch (NodeSimulationTest with power loss, seed 59). It is
            // failed like a silent member (no lease from now on: its mirrors take over, in new epochs)
            // and rejoins as a returning node, its copies resynced.
            fenced.add(hb.node());
            proposeOnce("fail:" + hb.node(), nowMs, () -> new ClusterCommand.NodeFailed(hb.node(), nowMs, lsnsForFailure(hb.node())));
            listener.nodeFailed(hb.node(), 0);
        }
        reportedLsns.put(hb.node(), hb.lsns());
        // A restart of a node mastering nothing mirrored (or a member that joined before incarnations) is a join that records the new one.
        boolean memberChanged = m == null || m.liveness() == Liveness.DEAD
                || !m.address().equals(hb.address()) || !m.httpAddress().equals(hb.httpAddress()) || m.voter() != hb.voter()
                || (hb.incarnation() != 0 && m.incarnation() != hb.incarnation() && !restartedMaster);
        boolean forming = forming(nowMs);
        boolean needsJoin = memberChanged || !forming && !hasTables(hb.namespaces());
        if (needsJoin && (m == null || m.liveness() != Liveness.LEFT)) {
            // While forming, a join brings the member only; its namespaces come with a later join.
            List<NamespaceSpec> namespaces = forming ? List.of() : hb.namespaces();
            proposeOnce("join:" + hb.node() + (forming ? ":member" : ""), nowMs, () -> new ClusterCommand.Join(hb.node(), hb.address(),
                    hb.httpAddress(), hb.voter(), namespaces, nowMs, masterLsns(), hb.incarnation()));
        }
        if (!hb.caughtUp().isEmpty()) {
            caughtUpPending.addAll(hb.caughtUp());
            flushCaughtUp(nowMs);
        }
        if (!hb.behind().isEmpty()) {
            proposeBehind(hb.node(), hb.behind(), nowMs);
        }
        // No lease for a process the state does not know yet (its join records it): so a restarted
        // node failed for its restart never holds one, whenever it comes to master something mirrored.
        boolean known = hb.incarnation() == 0 || m == null || m.incarnation() == 0 || m.incarnation() == hb.incarnation();
        boolean granted = m != null && !fenced.contains(hb.node()) && known
                && (m.liveness() == Liveness.ALIVE || m.liveness() == Liveness.LEAVING);
        ClusterView newer = hb.knownVersion() < view.version() ? view : null;
        return new HeartbeatReply(true, granted, view.version(), newer);
    }

    /** Whether this leader holds a report from every alive IN_SYNC mirror of the partitions {@code node} masters. */
    private boolean mirrorsReported(String node) {
        for (NamespaceTable t : view.tables().values()) {
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                if (!node.equals(e.master())) {
                    continue;
                }
                for (Replica r : e.mirrors()) {
                    Member m = view.member(r.node());
                    if (r.state() == ReplicaState.IN_SYNC && m != null && m.liveness() == Liveness.ALIVE
                            && !r.node().equals(node) && !reportedLsns.containsKey(r.node())) {
                        return false;
                    }
                }
            }
        }
        return true;
    }

    /** Whether {@code node} masters a partition with an IN_SYNC mirror (a restart that lost writes could diverge from it). */
    private boolean mastersMirrored(String node) {
        for (NamespaceTable t : view.tables().values()) {
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                if (node.equals(e.master())) {
                    for (Replica r : e.mirrors()) {
                        if (r.state() == ReplicaState.IN_SYNC) {
                            return true;
                        }
                    }
                }
            }
        }
        return false;
    }

    private boolean hasTables(List<NamespaceSpec> namespaces) {
        for (NamespaceSpec ns : namespaces) {
            if (view.table(ns.name()) == null) {
                return false;
            }
        }
        return true;
    }

    /** Proposes a decommission on behalf of an operator. */
    public void decommission(String node, long nowMs) {
        proposer.propose(new ClusterCommand.Decommission(node, nowMs, masterLsns()));
    }

    public void tick(long nowMs) {
        if (!leader) {
            return;
        }
        for (Member m : view.members().values()) {
            if (m.liveness() != Liveness.ALIVE && m.liveness() != Liveness.LEAVING) {
                continue;
            }
            // A new leader has no heartbeat history: it counts from its own start, never earlier.
            long last = Math.max(leaderSinceMs, lastHeartbeatMs.getOrDefault(m.id(), leaderSinceMs));
            long silentMs = nowMs - last;
            // Once fenced, a node stays fenced until its failure is applied, even if heartbeats resume:
            // the proposal may still commit, and its lease must not outlive it.
            if (silentMs > timings.failureTimeoutMs() || fenced.contains(m.id())) {
                boolean firstTime = fenced.add(m.id());
                boolean sent = proposeOnce("fail:" + m.id(), nowMs, () -> new ClusterCommand.NodeFailed(m.id(), nowMs, lsnsForFailure(m.id())));
                if (firstTime && sent) {
                    listener.nodeFailed(m.id(), silentMs);
                }
            }
        }
        flushCaughtUp(nowMs);
    }

    private void flushCaughtUp(long nowMs) {
        caughtUpPending.removeIf(ref -> !stillPending(ref));
        if (caughtUpPending.isEmpty()) {
            return;
        }
        caughtUpProposedMs.values().removeIf(at -> nowMs - at >= timings.proposalRetryMs());
        List<PartitionRef> refs = new ArrayList<>();
        for (PartitionRef ref : caughtUpPending) {
            if (!caughtUpProposedMs.containsKey(ref)) {
                refs.add(ref);
            }
        }
        caughtUpPending.clear();
        if (refs.isEmpty()) {
            return;
        }
        for (PartitionRef ref : refs) {
            caughtUpProposedMs.put(ref, nowMs);
        }
        proposer.propose(new ClusterCommand.CaughtUp(refs, nowMs, lsnsOfMasters(refs)));
    }

    /** Behind reports proposed recently (retried after {@code proposalRetryMs} while still reported). */
    private final Map<PartitionRef, Long> behindProposedMs = new HashMap<>();

    private void proposeBehind(String master, List<PartitionRef> reported, long nowMs) {
        behindProposedMs.values().removeIf(at -> nowMs - at >= timings.proposalRetryMs());
        List<PartitionRef> refs = new ArrayList<>();
        for (PartitionRef ref : reported) {
            PartitionEntry e = view.entry(ref.namespace(), ref.partition());
            Replica r = e.replicaOn(ref.node());
            boolean current = e.epoch() == ref.epoch() && master.equals(e.master()) && r != null && r.state() == ReplicaState.IN_SYNC;
            if (current && !behindProposedMs.containsKey(ref)) {
                refs.add(ref);
            }
        }
        if (refs.isEmpty()) {
            return;
        }
        for (PartitionRef ref : refs) {
            behindProposedMs.put(ref, nowMs);
        }
        proposer.propose(new ClusterCommand.Behind(refs, nowMs, lsnsOfMasters(refs)));
    }

    private boolean stillPending(PartitionRef ref) {
        PartitionEntry e = view.entry(ref.namespace(), ref.partition());
        return e.epoch() == ref.epoch() && awaitsReport(e, ref.node());
    }

    /** Whether the table waits for the master to report {@code node}: synced (resync, clone) or handed off to. */
    static boolean awaitsReport(PartitionEntry e, String node) {
        if (node.equals(e.handoffTo())) {
            return true;
        }
        Replica r = e.replicaOn(node);
        return r != null && (r.state() == ReplicaState.RESYNCING || r.state() == ReplicaState.CLONING);
    }

    private boolean proposeOnce(String key, long nowMs, java.util.function.Supplier<ClusterCommand> command) {
        Long at = proposedAtMs.get(key);
        if (at != null && nowMs - at < timings.proposalRetryMs()) {
            return false;
        }
        proposedAtMs.put(key, nowMs);
        proposer.propose(command.get());
        return true;
    }

    /**
     * Every alive replica's LSN for the partitions the failed node masters, so the best
     * mirror is promoted, and the failed master's own last report, so the new master can
     * tell whether it lacks writes the failed one had made.
     */
    private List<LsnReport> lsnsForFailure(String failed) {
        List<LsnReport> out = new ArrayList<>();
        for (NamespaceTable t : view.tables().values()) {
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                if (!failed.equals(e.master())) {
                    continue;
                }
                long own = reported(failed, t.namespace(), p);
                if (own >= 0) {
                    out.add(new LsnReport(t.namespace(), p, failed, own));
                }
                for (Replica r : e.mirrors()) {
                    long lsn = reported(r.node(), t.namespace(), p);
                    if (LsnReport.informative(lsn)) {
                        out.add(new LsnReport(t.namespace(), p, r.node(), lsn));
                    }
                }
            }
        }
        return out;
    }

    private List<LsnReport> lsnsOfMasters(List<PartitionRef> refs) {
        List<LsnReport> out = new ArrayList<>();
        for (PartitionRef ref : refs) {
            PartitionEntry e = view.entry(ref.namespace(), ref.partition());
            for (Replica r : e.replicas()) {
                long lsn = reported(r.node(), ref.namespace(), ref.partition());
                if (LsnReport.informative(lsn)) {
                    out.add(new LsnReport(ref.namespace(), ref.partition(), r.node(), lsn));
                }
            }
        }
        return out;
    }

    /** Each master's reported LSN, so history entries record where an epoch began. */
    private List<LsnReport> masterLsns() {
        List<LsnReport> out = new ArrayList<>();
        for (NamespaceTable t : view.tables().values()) {
            for (int p = 0; p < t.size(); p++) {
                for (Replica r : t.entry(p).replicas()) {
                    long lsn = reported(r.node(), t.namespace(), p);
                    if (lsn >= 0) {
                        out.add(new LsnReport(t.namespace(), p, r.node(), lsn));
                    }
                }
            }
        }
        return out;
    }

    private long reported(String node, String namespace, int partition) {
        Map<String, long[]> byNs = reportedLsns.get(node);
        long[] lsns = byNs == null ? null : byNs.get(namespace);
        return lsns == null || partition >= lsns.length ? -1 : lsns[partition];
    }
}
