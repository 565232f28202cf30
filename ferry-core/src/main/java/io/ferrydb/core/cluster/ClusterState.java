package io.ferrydb.core.cluster;

import io.ferrydb.api.Limits;
import io.ferrydb.api.Names;
import io.ferrydb.core.Verify;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The replicated cluster state: members, the partition table of every namespace and
 * the duplication-schema history. It is changed only by {@link #apply}, which is a
 * pure function of the state and the command (no clock, no randomness), so every
 * control node that applies the same log holds the same state. The Ratis state
 * machine and the simulator's in-memory store both wrap this class.
 *
 * <p>Table rules, applied to every partition after each command ({@link #reconcile}):
 * <ol>
 *   <li>replicas on DEAD nodes become ABSENT (a half-filled CLONING copy is dropped);
 *       replicas on returning nodes become RESYNCING;</li>
 *   <li>a master that is not an alive IN_SYNC replica is replaced by the alive IN_SYNC
 *       mirror with the highest reported LSN; with none, the partition stays unavailable
 *       under its old master until that node returns;</li>
 *   <li>every desired node (rendezvous top RF over non-leaving members) that is alive and
 *       holds no replica gets a CLONING one;</li>
 *   <li>once every desired node holds an IN_SYNC replica, mastership moves to the desired
 *       master and replicas no longer desired are dropped.</li>
 * </ol>
 * Any change gives the partition a new epoch and a history entry. Epochs only grow.
 */
public final class ClusterState {
    private final int historyLimitPerPartition;
    private long version;
    private final TreeMap<String, Member> members = new TreeMap<>();
    private final TreeMap<String, Table> tables = new TreeMap<>();
    /**
     * Nodes an operator decommissioned that have not reached LEFT. The intent outlives
     * the liveness: a leaving node that fails is DEAD, and when it comes back it resumes
     * LEAVING instead of rejoining (found by the simulator).
     */
    private final java.util.TreeSet<String> leaving = new java.util.TreeSet<>();

    public ClusterState(int historyLimitPerPartition) {
        Verify.that(historyLimitPerPartition >= 1, "history limit must be >= 1, got %d", historyLimitPerPartition);
        this.historyLimitPerPartition = historyLimitPerPartition;
    }

    /** A namespace's table and history (mutable; only this class changes it). */
    static final class Table {
        final int replicationFactor;
        final PartitionEntry[] entries = new PartitionEntry[Limits.PARTITION_COUNT];
        @SuppressWarnings("unchecked")
        final ArrayDeque<HistoryEntry>[] history = new ArrayDeque[Limits.PARTITION_COUNT];
        /** See {@link NamespaceTable#failedMasterLsn}. */
        final long[] failedMasterLsns = new long[Limits.PARTITION_COUNT];

        Table(int replicationFactor) {
            this.replicationFactor = replicationFactor;
            for (int p = 0; p < entries.length; p++) {
                entries[p] = PartitionEntry.UNASSIGNED;
                history[p] = new ArrayDeque<>();
            }
            java.util.Arrays.fill(failedMasterLsns, -1);
        }
    }

    public long version() {
        return version;
    }

    public int historyLimitPerPartition() {
        return historyLimitPerPartition;
    }

    public ClusterView view() {
        SortedMap<String, NamespaceTable> views = new TreeMap<>();
        for (Map.Entry<String, Table> e : tables.entrySet()) {
            views.put(e.getKey(), new NamespaceTable(e.getKey(), e.getValue().replicationFactor, e.getValue().entries.clone(),
                    e.getValue().failedMasterLsns.clone()));
        }
        return new ClusterView(version, members, views);
    }

    /** The duplication-schema history of one partition, oldest first (empty for an unknown namespace). */
    public List<HistoryEntry> history(String namespace, int partition) {
        Verify.that(partition >= 0 && partition < Limits.PARTITION_COUNT, "partition %d out of range", partition);
        Table t = tables.get(namespace);
        return t == null ? List.of() : List.copyOf(t.history[partition]);
    }

    public ApplyResult apply(ClusterCommand command) {
        ApplyResult result;
        if (command instanceof ClusterCommand.Join) {
            result = join((ClusterCommand.Join) command);
        } else if (command instanceof ClusterCommand.NodeFailed) {
            result = failed((ClusterCommand.NodeFailed) command);
        } else if (command instanceof ClusterCommand.Decommission) {
            result = decommission((ClusterCommand.Decommission) command);
        } else if (command instanceof ClusterCommand.CaughtUp) {
            result = caughtUp((ClusterCommand.CaughtUp) command);
        } else if (command instanceof ClusterCommand.BulkLoaded b) {
            result = bulkLoaded(b);
        } else if (command instanceof ClusterCommand.Behind b) {
            result = behind(b);
        } else {
            throw new IllegalArgumentException("unknown command " + command);
        }
        return result;
    }

    private ApplyResult join(ClusterCommand.Join j) {
        String bad = checkJoin(j);
        if (bad != null) {
            return new ApplyResult.Refused(version, bad);
        }
        Member old = members.get(j.node());
        Liveness next = leaving.contains(j.node()) ? Liveness.LEAVING : Liveness.ALIVE;
        boolean changedMember = old == null || old.liveness() != next || !old.address().equals(j.address())
                || !old.httpAddress().equals(j.httpAddress()) || old.voter() != j.voter() || old.incarnation() != j.incarnation();
        members.put(j.node(), new Member(j.node(), j.address(), j.httpAddress(), j.voter(), next, j.incarnation()));
        boolean created = false;
        for (NamespaceSpec ns : j.namespaces()) {
            if (!tables.containsKey(ns.name())) {
                tables.put(ns.name(), new Table(ns.replicationFactor()));
                created = true;
            }
        }
        int changed = reconcileAll(ChangeReason.JOIN, j);
        return bump(changedMember || created || changed > 0, changed);
    }

    private String checkJoin(ClusterCommand.Join j) {
        if (j.node() == null || j.node().isBlank()) {
            return "node id must not be blank";
        }
        String badName = nameProblem("node id", j.node());
        if (badName != null) {
            return badName;
        }
        if (j.address() == null || j.address().isBlank()) {
            return "node " + j.node() + ": address must not be blank";
        }
        Member known = members.get(j.node());
        if (known != null && known.liveness() == Liveness.LEFT) {
            // A join proposed while the node was DEAD may commit after its drain made it LEFT
            // (NodeSimulationTest seed 6775): a node that left stays out.
            return "node " + j.node() + " left the cluster (decommissioned); it cannot rejoin under the same id";
        }
        for (Member m : members.values()) {
            if (!m.id().equals(j.node()) && m.liveness() == Liveness.ALIVE && m.address().equals(j.address())) {
                return "node " + j.node() + ": address " + j.address() + " is already used by alive node " + m.id();
            }
        }
        for (NamespaceSpec ns : j.namespaces()) {
            Table t = tables.get(ns.name());
            if (ns.replicationFactor() < 1) {
                return "node " + j.node() + ": namespace " + ns.name() + " replication-factor must be >= 1";
            }
            if (t != null && t.replicationFactor != ns.replicationFactor()) {
                return "node " + j.node() + ": namespace " + ns.name() + " has replication-factor "
                        + t.replicationFactor + " in the cluster but " + ns.replicationFactor() + " in this node's config";
            }
        }
        return null;
    }

    private static String nameProblem(String field, String name) {
        try {
            Names.checkNamespace(field, name);
            return null;
        } catch (RuntimeException e) {
            return e.getMessage();
        }
    }

    private ApplyResult failed(ClusterCommand.NodeFailed f) {
        Member m = members.get(f.node());
        if (m == null) {
            return new ApplyResult.Refused(version, "unknown node " + f.node());
        }
        if (m.liveness() != Liveness.ALIVE && m.liveness() != Liveness.LEAVING) {
            return new ApplyResult.Applied(version, 0);
        }
        // A leaving node that fails stays a member (DEAD) so its data is waited for, not lost.
        members.put(f.node(), m.with(Liveness.DEAD));
        int changed = reconcileAll(ChangeReason.FAILURE, f);
        return bump(true, changed);
    }

    private ApplyResult decommission(ClusterCommand.Decommission d) {
        Member m = members.get(d.node());
        if (m == null) {
            return new ApplyResult.Refused(version, "unknown node " + d.node());
        }
        if (m.liveness() == Liveness.LEFT || m.liveness() == Liveness.LEAVING) {
            return new ApplyResult.Applied(version, 0);
        }
        if (!hasOtherEligible(d.node())) {
            return new ApplyResult.Refused(version, "node " + d.node() + " is the last node; its partitions would have nowhere to go");
        }
        if (m.liveness() == Liveness.DEAD) {
            int lastCopies = lastCopiesOn(d.node());
            if (lastCopies > 0) {
                return new ApplyResult.Refused(version, "node " + d.node() + " is dead and holds the only in-sync copy of "
                        + lastCopies + " partitions; bring it back before decommissioning it");
            }
        }
        members.put(d.node(), m.with(m.liveness() == Liveness.DEAD ? Liveness.LEFT : Liveness.LEAVING));
        if (m.liveness() != Liveness.DEAD) {
            leaving.add(d.node());
        }
        int changed = reconcileAll(ChangeReason.LEAVE, d);
        return bump(true, changed);
    }

    private boolean hasOtherEligible(String node) {
        for (Member m : members.values()) {
            if (!m.id().equals(node) && m.liveness() == Liveness.ALIVE) {
                return true;
            }
        }
        return false;
    }

    private int lastCopiesOn(String node) {
        int n = 0;
        for (Table t : tables.values()) {
            for (PartitionEntry e : t.entries) {
                if (node.equals(e.master()) && e.masterAbsent()) {
                    n++;
                }
            }
        }
        return n;
    }

    /** Records each loaded partition's boundary in its history; the table (and its version) does not change. */
    private ApplyResult bulkLoaded(ClusterCommand.BulkLoaded b) {
        Table t = tables.get(b.namespace());
        if (t == null) {
            return new ApplyResult.Refused(version, "namespace '" + b.namespace() + "' is not in the cluster");
        }
        for (int i = 0; i < b.partitions().size(); i++) {
            int p = b.partitions().get(i);
            if (p < 0 || p >= Limits.PARTITION_COUNT) {
                continue;
            }
            PartitionEntry e = t.entries[p];
            ArrayDeque<HistoryEntry> h = t.history[p];
            h.addLast(new HistoryEntry(e.epoch(), e.replicas(), b.boundaryLsns().get(i), ChangeReason.BULK_LOAD, b.timeMs()));
            while (h.size() > historyLimitPerPartition) {
                h.removeFirst();
            }
        }
        return new ApplyResult.Applied(version, 0);
    }

    /**
     * IN_SYNC mirrors their master reports fell out of its stream become RESYNCING, in a
     * new epoch, before any sync rewrites them (until it finishes they hold neither their
     * old copy nor the master's, and must not be promoted). A handoff to such a mirror
     * ends (the master serves again; the handoff comes back once it is IN_SYNC). Stale
     * reports (another epoch, a mirror no longer IN_SYNC) change nothing.
     */
    private ApplyResult behind(ClusterCommand.Behind b) {
        LsnIndex lsns = new LsnIndex(b.lsns());
        int changed = 0;
        for (PartitionRef ref : b.replicas()) {
            Table t = tables.get(ref.namespace());
            if (t == null || ref.partition() < 0 || ref.partition() >= Limits.PARTITION_COUNT) {
                continue;
            }
            PartitionEntry e = t.entries[ref.partition()];
            Replica r = e.replicaOn(ref.node());
            if (e.epoch() != ref.epoch() || r == null || r.state() != ReplicaState.IN_SYNC || ref.node().equals(e.master())) {
                continue;
            }
            List<Replica> next = new ArrayList<>(e.replicas());
            next.set(next.indexOf(r), r.to(ReplicaState.RESYNCING));
            String handoff = ref.node().equals(e.handoffTo()) ? null : e.handoffTo();
            changed += commit(ref.namespace(), ref.partition(), t, new PartitionEntry(e.epoch(), next, handoff),
                    ChangeReason.FAILURE, b.timeMs(), lsns);
        }
        return bump(changed > 0, changed);
    }

    private ApplyResult caughtUp(ClusterCommand.CaughtUp c) {
        LsnIndex lsns = new LsnIndex(c.lsns());
        // Group by partition: all replicas reported for one epoch become IN_SYNC together.
        Map<String, List<PartitionRef>> byPartition = new java.util.LinkedHashMap<>();
        for (PartitionRef ref : c.replicas()) {
            byPartition.computeIfAbsent(ref.namespace() + '\u0000' + ref.partition(), k -> new ArrayList<>()).add(ref);
        }
        int changed = 0;
        handoffsDeferred = cloningAnywhere();
        handoffsInFlight = countHandoffs();
        handoffFinished = false;
        // Members do not change while the reports are applied: one ranking per namespace.
        Map<String, Rendezvous.Ranking> rankings = new java.util.HashMap<>();
        for (List<PartitionRef> refs : byPartition.values()) {
            changed += caughtUp(refs, c.timeMs(), lsns, rankings);
        }
        if (handoffsDeferred && !cloningAnywhere()) {
            // The last clone finished: the handoffs that waited for it, up to the cap.
            changed += reconcileAll(ChangeReason.REBALANCE, c);
        } else if (!handoffsDeferred && handoffFinished && handoffsInFlight <= MAX_HANDOFFS_IN_FLIGHT / 2) {
            // Half the handoffs in flight finished: the ones the cap held back may start. Not
            // after each finished one: a reconcile of every partition on each such command
            // kept the control log's apply thread, which also answers heartbeats, busy.
            changed += reconcileAll(ChangeReason.REBALANCE, c);
        }
        settleLeaving();
        return bump(changed > 0, changed);
    }

    /**
     * Whether planned handoffs wait: while any replica is being cloned to a live node, a
     * partition whose desired replicas are all IN_SYNC keeps its master. A decommission or
     * a join clones thousands of partitions, and a handoff in the middle of that stalled its
     * partition for seconds (each of its steps queued behind the clones on a busy node,
     * HandoffBenchmark); once the last clone is done the handoffs run together on a quieter
     * cluster. Set per command (state only: every replica computes the same).
     */
    private boolean handoffsDeferred;

    /**
     * Planned handoffs in progress at once, cluster-wide. A decommission hands thousands of
     * partitions over; started together, every step of each (the old master applying the
     * view that stops it, its report, the switch command's apply on every replica of the
     * control log, the new master applying the switch) handled all of them at once, and
     * each partition stalled for the whole batch: 0.5-0.8 s (HandoffBenchmark, session 14).
     */
    public static final int MAX_HANDOFFS_IN_FLIGHT = 512;

    /** Handoffs in progress, counted when a command starts reconciling and kept by {@link #commit} (state only, like handoffsDeferred). */
    private int handoffsInFlight;

    /** Whether the CaughtUp being applied finished a handoff (its slot is free again). */
    private boolean handoffFinished;

    private int countHandoffs() {
        int n = 0;
        for (Table t : tables.values()) {
            for (PartitionEntry e : t.entries) {
                if (e.handoffTo() != null) {
                    n++;
                }
            }
        }
        return n;
    }

    private boolean cloningAnywhere() {
        for (Table t : tables.values()) {
            for (PartitionEntry e : t.entries) {
                // Only clones that can progress: an unavailable partition's clone waits for its
                // master to return, and must not hold every other partition's handoff meanwhile.
                if (e.replicas().isEmpty() || !servesAsMaster(e.replicas().get(0))) {
                    continue;
                }
                for (Replica r : e.replicas()) {
                    if (r.state() == ReplicaState.CLONING && liveness(r.node()) == Liveness.ALIVE) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private int caughtUp(List<PartitionRef> refs, long timeMs, LsnIndex lsns, Map<String, Rendezvous.Ranking> rankings) {
        String namespace = refs.get(0).namespace();
        int partition = refs.get(0).partition();
        Table t = tables.get(namespace);
        if (t == null || partition < 0 || partition >= Limits.PARTITION_COUNT) {
            return 0;
        }
        PartitionEntry e = t.entries[partition];
        List<Replica> next = new ArrayList<>(e.replicas());
        boolean handedOff = false;
        for (PartitionRef ref : refs) {
            Replica r = e.replicaOn(ref.node());
            Member m = members.get(ref.node());
            // Stale reports (older epoch, replica gone, node down again) are ignored: the epoch fences them.
            if (e.epoch() != ref.epoch() || r == null || m == null || m.liveness() == Liveness.DEAD) {
                continue;
            }
            if (ref.node().equals(e.handoffTo())) {
                handedOff = true;
            } else if (r.state() == ReplicaState.RESYNCING || r.state() == ReplicaState.CLONING) {
                next.set(next.indexOf(r), r.to(ReplicaState.IN_SYNC));
            }
        }
        PartitionEntry step;
        if (handedOff) {
            // The old master has stopped and the target holds everything: the target becomes master.
            Replica target = e.replicaOn(e.handoffTo());
            next.remove(target);
            next.add(0, target);
            step = new PartitionEntry(e.epoch(), next);
        } else {
            step = new PartitionEntry(e.epoch(), next, e.handoffTo());
        }
        // Two epochs: first the replicas are IN_SYNC (or the handoff is done), then the table may
        // settle further, so a new master was always IN_SYNC in the epoch before.
        int changed = commit(namespace, partition, t, step, ChangeReason.REBALANCE, timeMs, lsns);
        handoffFinished |= handedOff && changed > 0;
        if (changed > 0) {
            PartitionEntry reconciled = reconcile(namespace, partition, t, t.entries[partition], lsns,
                    rankings.computeIfAbsent(namespace, this::ranking));
            commit(namespace, partition, t, reconciled, ChangeReason.REBALANCE, timeMs, lsns);
        }
        return changed;
    }

    private ApplyResult bump(boolean changed, int partitionsChanged) {
        if (changed) {
            version++;
        }
        return new ApplyResult.Applied(version, partitionsChanged);
    }

    private int reconcileAll(ChangeReason reason, ClusterCommand command) {
        LsnIndex lsns = new LsnIndex(command.lsns());
        int changed = 0;
        handoffsDeferred = cloningAnywhere();
        handoffsInFlight = countHandoffs();
        for (Map.Entry<String, Table> te : tables.entrySet()) {
            Table t = te.getValue();
            Rendezvous.Ranking ranking = ranking(te.getKey());
            for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                PartitionEntry next = reconcile(te.getKey(), p, t, t.entries[p], lsns, ranking);
                ChangeReason why = t.entries[p].replicas().isEmpty() ? ChangeReason.CREATE : reason;
                changed += commit(te.getKey(), p, t, next, why, command.timeMs(), lsns);
            }
        }
        settleLeaving();
        return changed;
    }

    /** Installs {@code next} as a new epoch if it differs from the current entry; returns 1 if it did. */
    private int commit(String namespace, int partition, Table t, PartitionEntry next, ChangeReason reason, long timeMs, LsnIndex lsns) {
        PartitionEntry current = t.entries[partition];
        if (next.replicas().equals(current.replicas()) && java.util.Objects.equals(next.handoffTo(), current.handoffTo())) {
            return 0;
        }
        checkTransition(current, next);
        PartitionEntry installed = new PartitionEntry(current.epoch() + 1, next.replicas(), next.handoffTo());
        t.entries[partition] = installed;
        handoffsInFlight += (installed.handoffTo() != null ? 1 : 0) - (current.handoffTo() != null ? 1 : 0);
        // A failed master replaced: what it last reported, for the new master's loss check.
        String was = current.master();
        boolean replacedFailed = reason == ChangeReason.FAILURE && was != null && !was.equals(installed.master())
                && liveness(was) != Liveness.ALIVE && liveness(was) != Liveness.LEAVING;
        // Zero when it had reported none (a restarted process failed on its first heartbeat): the new
        // master still runs the check, whose survey marks replicas holding a tail beyond it (seed 8158).
        t.failedMasterLsns[partition] = replacedFailed ? Math.max(0, lsns.lsn(namespace, partition, was)) : -1;
        long masterLsn = installed.master() == null ? -1 : lsns.lsn(namespace, partition, installed.master());
        ArrayDeque<HistoryEntry> h = t.history[partition];
        h.addLast(new HistoryEntry(installed.epoch(), installed.replicas(), masterLsn < 0 ? -1 : masterLsn + 1, reason, timeMs));
        while (h.size() > historyLimitPerPartition) {
            h.removeFirst();
        }
        return 1;
    }

    /** Invariants of every epoch change, checked where it happens. */
    private static void checkTransition(PartitionEntry current, PartitionEntry next) {
        String newMaster = next.master();
        if (newMaster == null || newMaster.equals(current.master()) || current.replicas().isEmpty()) {
            return;
        }
        Replica before = current.replicaOn(newMaster);
        Verify.that(before != null && before.state() == ReplicaState.IN_SYNC,
                "new master %s was not IN_SYNC in epoch %d: %s", newMaster, current.epoch(), current.replicas());
    }

    private void settleLeaving() {
        for (Member m : List.copyOf(members.values())) {
            boolean draining = m.liveness() == Liveness.LEAVING || m.liveness() == Liveness.DEAD && leaving.contains(m.id());
            if (draining && !holdsReplicas(m.id())) {
                members.put(m.id(), m.with(Liveness.LEFT));
                leaving.remove(m.id());
            }
        }
    }

    private boolean holdsReplicas(String node) {
        for (Table t : tables.values()) {
            for (PartitionEntry e : t.entries) {
                if (e.replicaOn(node) != null) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The nodes partitions may be placed on, ranked for a namespace (members do not change while a command reconciles). */
    private Rendezvous.Ranking ranking(String namespace) {
        List<String> eligible = new ArrayList<>();
        for (Member m : members.values()) {
            if (m.liveness().eligible() && !leaving.contains(m.id())) {
                eligible.add(m.id());
            }
        }
        return Rendezvous.ranking(namespace, eligible);
    }

    /** Computes the entry the rules want for one partition (pure; no epoch change). */
    PartitionEntry reconcile(String namespace, int partition, Table t, PartitionEntry entry, LsnIndex lsns, Rendezvous.Ranking ranking) {
        List<String> desired = ranking.desired(partition, t.replicationFactor);
        if (entry.replicas().isEmpty()) {
            return initial(desired);
        }
        List<Replica> reps = followLiveness(entry.replicas());
        if (reps.isEmpty()) {
            // Every copy was on nodes that left: nothing survives to copy from.
            return new PartitionEntry(entry.epoch(), initialReplicas(desired));
        }
        String masterBefore = reps.get(0).node();
        promoteIfNeeded(namespace, partition, reps, lsns);
        boolean available = servesAsMaster(reps.get(0));
        for (String d : desired) {
            // An unavailable partition has no master to clone from; it waits for its master to return.
            if (available && indexOf(reps, d) < 0 && liveness(d) == Liveness.ALIVE) {
                reps.add(new Replica(d, ReplicaState.CLONING));
            }
        }
        String handoff = null;
        if (allDesiredInSync(reps, desired)) {
            if (reps.get(0).node().equals(desired.get(0))) {
                reps = settle(reps, desired);
            } else if (!handoffsDeferred && (entry.handoffTo() != null || handoffsInFlight < MAX_HANDOFFS_IN_FLIGHT)) {
                reps = settleBehind(reps.get(0), reps, desired);
                handoff = desired.get(0);
            }
        } else if (entry.handoffTo() != null && masterBefore.equals(reps.get(0).node()) && available) {
            int target = indexOf(reps, entry.handoffTo());
            handoff = target > 0 && servesAsMaster(reps.get(target)) ? entry.handoffTo() : null;
        }
        return new PartitionEntry(entry.epoch(), reps, handoff);
    }

    /** The current master first (it keeps serving until the handoff), then the desired replicas in order. */
    private static List<Replica> settleBehind(Replica master, List<Replica> reps, List<String> desired) {
        List<Replica> settled = new ArrayList<>();
        settled.add(master);
        for (String d : desired) {
            if (!d.equals(master.node())) {
                settled.add(reps.get(indexOf(reps, d)));
            }
        }
        return settled;
    }

    /** A brand-new partition holds no data, so its first replicas start IN_SYNC. */
    private List<Replica> initialReplicas(List<String> desired) {
        List<Replica> reps = new ArrayList<>();
        for (String d : desired) {
            if (liveness(d) == Liveness.ALIVE) {
                reps.add(new Replica(d, ReplicaState.IN_SYNC));
            }
        }
        return reps;
    }

    private PartitionEntry initial(List<String> desired) {
        List<Replica> reps = initialReplicas(desired);
        return reps.isEmpty() ? PartitionEntry.UNASSIGNED : new PartitionEntry(0, reps);
    }

    private List<Replica> followLiveness(List<Replica> current) {
        List<Replica> reps = new ArrayList<>();
        for (int i = 0; i < current.size(); i++) {
            Replica r = current.get(i);
            Liveness l = liveness(r.node());
            if (l == Liveness.LEFT || l == null) {
                continue;
            }
            if (l == Liveness.DEAD) {
                if (r.state() == ReplicaState.CLONING) {
                    continue;
                }
                reps.add(r.state() == ReplicaState.ABSENT ? r : r.to(ReplicaState.ABSENT));
            } else if (r.state() == ReplicaState.ABSENT) {
                // The unavailable master itself returning holds the newest data; it needs no resync.
                reps.add(i == 0 ? new Replica(r.node(), ReplicaState.IN_SYNC) : r.to(ReplicaState.RESYNCING));
            } else {
                reps.add(r);
            }
        }
        return reps;
    }

    private void promoteIfNeeded(String namespace, int partition, List<Replica> reps, LsnIndex lsns) {
        if (reps.isEmpty() || servesAsMaster(reps.get(0))) {
            return;
        }
        int best = -1;
        long bestLsn = Long.MIN_VALUE;
        for (int i = 1; i < reps.size(); i++) {
            if (servesAsMaster(reps.get(i))) {
                long lsn = lsns.lsn(namespace, partition, reps.get(i).node());
                if (lsn == LsnReport.REWRITING) {
                    continue; // a sync was rewriting it: neither its old copy nor the master's
                }
                if (best < 0 || lsn > bestLsn) {
                    best = i;
                    bestLsn = lsn;
                }
            }
        }
        if (best > 0) {
            reps.add(0, reps.remove(best));
        }
    }

    /** An IN_SYNC replica on a node that is up (a leaving node keeps serving until it is drained). */
    private boolean servesAsMaster(Replica r) {
        Liveness l = liveness(r.node());
        return r.state() == ReplicaState.IN_SYNC && (l == Liveness.ALIVE || l == Liveness.LEAVING);
    }

    private boolean allDesiredInSync(List<Replica> reps, List<String> desired) {
        for (String d : desired) {
            int i = indexOf(reps, d);
            if (i < 0 || !servesAsMaster(reps.get(i))) {
                return false;
            }
        }
        return !desired.isEmpty();
    }

    /** Desired replicas only, in desired order: the desired master first. */
    private static List<Replica> settle(List<Replica> reps, List<String> desired) {
        List<Replica> settled = new ArrayList<>();
        for (String d : desired) {
            settled.add(reps.get(indexOf(reps, d)));
        }
        return settled;
    }

    private static int indexOf(List<Replica> reps, String node) {
        for (int i = 0; i < reps.size(); i++) {
            if (reps.get(i).node().equals(node)) {
                return i;
            }
        }
        return -1;
    }

    private Liveness liveness(String node) {
        Member m = members.get(node);
        return m == null ? null : m.liveness();
    }

    /** Members, in id order (for snapshots). */
    public SortedMap<String, Member> members() {
        return java.util.Collections.unmodifiableSortedMap(members);
    }

    // --- snapshot support (ClusterCodec) ---

    void restore(long version, Map<String, Member> members, Map<String, Integer> rfs,
                 Map<String, PartitionEntry[]> entries, Map<String, List<List<HistoryEntry>>> history, java.util.Set<String> leaving,
                 Map<String, long[]> failedMasterLsns) {
        this.version = version;
        this.members.clear();
        this.members.putAll(members);
        this.leaving.clear();
        this.leaving.addAll(leaving);
        this.tables.clear();
        for (Map.Entry<String, Integer> e : rfs.entrySet()) {
            Table t = new Table(e.getValue());
            System.arraycopy(entries.get(e.getKey()), 0, t.entries, 0, Limits.PARTITION_COUNT);
            List<List<HistoryEntry>> h = history.get(e.getKey());
            for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                t.history[p].addAll(h.get(p));
            }
            long[] failed = failedMasterLsns.get(e.getKey());
            if (failed != null) {
                System.arraycopy(failed, 0, t.failedMasterLsns, 0, Limits.PARTITION_COUNT);
            }
            tables.put(e.getKey(), t);
        }
    }

    Map<String, Table> tables() {
        return tables;
    }

    /** Decommissioned nodes not yet LEFT (for snapshots). */
    public java.util.SortedSet<String> leaving() {
        return java.util.Collections.unmodifiableSortedSet(leaving);
    }

    /** Reported LSNs by (namespace, partition, node); -1 when none was reported. */
    static final class LsnIndex {
        private final Map<String, Long> lsns = new HashMap<>();

        LsnIndex(List<LsnReport> reports) {
            for (LsnReport r : reports) {
                lsns.merge(key(r.namespace(), r.partition(), r.node()), r.lsn(), Math::max);
            }
        }

        long lsn(String namespace, int partition, String node) {
            return lsns.getOrDefault(key(namespace, partition, node), -1L);
        }

        private static String key(String namespace, int partition, String node) {
            return namespace + '\u0000' + partition + '\u0000' + node;
        }
    }
}
