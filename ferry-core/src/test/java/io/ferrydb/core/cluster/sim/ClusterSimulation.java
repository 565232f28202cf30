package io.ferrydb.core.cluster.sim;

import io.ferrydb.api.Limits;
import io.ferrydb.core.cluster.ApplyResult;
import io.ferrydb.core.cluster.ClusterCommand;
import io.ferrydb.core.cluster.ClusterController;
import io.ferrydb.core.cluster.ClusterMember;
import io.ferrydb.core.cluster.ClusterState;
import io.ferrydb.core.cluster.ClusterTimings;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.HeartbeatReply;
import io.ferrydb.core.cluster.HeartbeatRequest;
import io.ferrydb.core.cluster.HistoryEntry;
import io.ferrydb.core.cluster.Liveness;
import io.ferrydb.core.cluster.Member;
import io.ferrydb.core.cluster.NamespaceSpec;
import io.ferrydb.core.cluster.NamespaceTable;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.core.cluster.PartitionRef;
import io.ferrydb.core.cluster.Rendezvous;
import io.ferrydb.core.cluster.Replica;
import io.ferrydb.core.cluster.ReplicaState;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Runs a cluster of N nodes from one seed, after Kafka's RaftEventSimulationTest:
 * one {@link Random}, a scheduler ordered by (time, event id), a simulated network
 * (latency, loss, duplication, reordering, symmetric and one-way partitions),
 * crashes that lose unflushed state, restarts, and clocks that drift. The
 * control-plane store is a linearizable in-memory {@link ClusterState}; its leader is
 * a voter that reaches a majority of voters, and a new one is elected after a delay
 * when that stops being true.
 *
 * <p>Checkers run after every event ({@link #checkEveryEvent}): at most one node acts
 * as master of a partition at any instant (lease safety under drift), and views only
 * move forward on every node; after every applied command: epochs only grow and a new
 * master was IN_SYNC in the epoch before. Liveness mode heals everything and then
 * requires convergence ({@link #checkConverged}).
 */
final class ClusterSimulation {
    static final String NS = "sim";
    /** How long a forming cluster waits for all its voters before creating the table (ClusterController.formWith). */
    static final long FORMATION_WAIT_MS = 3_000;

    final long seed;
    final Random random;
    final Scheduler scheduler = new Scheduler();
    final SimNetwork network;
    final SimConfig config;
    final ClusterTimings timings = ClusterTimings.DEFAULTS;
    final List<Node> nodes = new ArrayList<>();
    final ClusterState state = new ClusterState(64);
    private ClusterView storeView = ClusterView.EMPTY;
    /** The node an operator decommissioned, if any: it must end LEFT holding nothing. */
    private String decommissioned;
    private int leader = -1;
    private boolean electionPending;
    final Map<String, Integer> stats = new HashMap<>();
    /** What the nodes store and replicate: LSN counters, or real stores and replication (NodeSimulation). */
    final DataPath data;

    /**
     * The data path under the control plane. The default models it as LSN counters; the
     * node-level simulation ({@code MirroredDataPath}) runs real record stores, the
     * mirroring state machines and syncs on the same nodes, network and clock.
     */
    interface DataPath {
        /** The node's process (re)started: its member (and controller) exist. */
        default void started(Node n) {}

        /** The node's process died: volatile state is gone. */
        void crashed(Node n);

        /** What the node's heartbeats report per partition. */
        long[] lsns(Node n, String namespace);

        /** The node adopted a new view (before its member starts the syncs the view asks for). */
        default void viewChanged(Node n, ClusterView previous, ClusterView current) {}

        /** The member of {@code master} asks for a sync of {@code ref.node()}'s replica. */
        void startSync(Node master, int inc, PartitionRef ref);

        /** Every node tick. */
        void tick(Node n, int inc);

        /** A client write arrives somewhere. */
        void write();

        /** Called after every event. */
        default void checkEveryEvent() {}

        /** After healing and convergence of the table. */
        default void checkConverged() {}
    }

    ClusterSimulation(long seed, SimConfig config) {
        this(seed, config, null);
    }

    ClusterSimulation(long seed, SimConfig config, java.util.function.Function<ClusterSimulation, DataPath> dataPath) {
        this.seed = seed;
        this.random = new Random(seed);
        this.config = config;
        this.network = new SimNetwork(random, scheduler);
        network.lossRate = config.lossRate();
        network.duplicateRate = config.duplicateRate();
        network.latencyMinMs = 1;
        network.latencyMaxMs = config.latencyMaxMs();
        for (int i = 0; i < config.nodes(); i++) {
            nodes.add(new Node(i, "n" + (i + 1), i < config.voters()));
        }
        this.data = dataPath == null ? new Counters() : dataPath.apply(this);
    }

    /** A simulated node: its drifting clock, volatile and durable LSNs, member and controller. */
    final class Node {
        final int index;
        final String id;
        final boolean voter;
        boolean up;
        int incarnation;
        double clockRate;
        long clockOffsetMs;
        long[] lsns = new long[Limits.PARTITION_COUNT];
        long[] durableLsns = new long[Limits.PARTITION_COUNT];
        ClusterMember member;
        ClusterController controller;
        private long mastersVersion = -1;
        private ClusterView mastersView;
        private BitSet masters = new BitSet();

        Node(int index, String id, boolean voter) {
            this.index = index;
            this.id = id;
            this.voter = voter;
            java.util.Arrays.fill(lsns, 0);
        }

        long localMs() {
            return clockOffsetMs + (long) (scheduler.nowMs() * clockRate);
        }

        void start() {
            up = true;
            incarnation++;
            double drift = config.maxDriftRatio();
            clockRate = 1 + (random.nextDouble() * 2 - 1) * drift;
            clockOffsetMs = random.nextInt(100_000);
            int inc = incarnation;
            member = new ClusterMember(id, "10.0.0." + (index + 1) + ":7400", "10.0.0." + (index + 1) + ":7401", voter,
                    List.of(new NamespaceSpec(NS, config.replicationFactor())), timings,
                    new ClusterMember.Outbox() {
                        @Override
                        public void sendHeartbeat(HeartbeatRequest request, long sentAtMs) {
                            sendHeartbeatFrom(Node.this, inc, request, sentAtMs);
                        }

                        @Override
                        public void viewChanged(ClusterView previous, ClusterView current) {
                            checkViewMovesForward(Node.this, previous, current);
                            data.viewChanged(Node.this, previous, current);
                        }
                    },
                    namespace -> data.lsns(Node.this, namespace),
                    (ref, s) -> data.startSync(Node.this, inc, ref));
            controller = voter ? new ClusterController(timings, cmd -> propose(Node.this, inc, cmd),
                    (node, silentMs) -> count("failure-detected")) : null;
            if (controller != null) {
                java.util.Set<String> voters = new java.util.TreeSet<>();
                for (int v = 0; v < config.voters(); v++) {
                    voters.add("n" + (v + 1));
                }
                controller.formWith(voters, FORMATION_WAIT_MS);
            }
            data.started(this);
            scheduleTick(inc);
        }

        void crash() {
            up = false;
            member = null;
            controller = null;
            masters = new BitSet();
            mastersVersion = -1;
            mastersView = null;
            data.crashed(this);
            if (leader == index) {
                loseLeader();
            }
        }

        boolean alive(int inc) {
            return up && incarnation == inc;
        }

        private void scheduleTick(int inc) {
            scheduler.after(40 + random.nextInt(20), () -> {
                if (!alive(inc)) {
                    return;
                }
                member.tick(localMs());
                if (controller != null && leader == index) {
                    controller.tick(localMs());
                }
                data.tick(this, inc);
                scheduleTick(inc);
            });
        }

        /** Partitions this node's view says it masters (cached per view version). */
        BitSet mastersInView() {
            ClusterView v = member.view();
            if (v.version() != mastersVersion) {
                NamespaceTable t = v.table(NS);
                NamespaceTable before = mastersView == null ? null : mastersView.table(NS);
                if (t != null) {
                    for (int p = 0; p < t.size(); p++) {
                        PartitionEntry e = t.entry(p);
                        if (before != null && before.entry(p) == e) {
                            continue;
                        }
                        boolean mine = id.equals(e.master()) && e.available();
                        masters.set(p, mine);
                        if (mine) {
                            recordMaster(p, e.epoch(), id);
                        }
                    }
                }
                mastersVersion = v.version();
                mastersView = v;
            }
            return masters;
        }

        /** Whether this node may act as master right now (view + lease + own liveness in its view). */
        boolean actingMaster() {
            if (!up || !member.leaseValid(localMs())) {
                return false;
            }
            Member me = member.view().member(id);
            return me != null && (me.liveness() == Liveness.ALIVE || me.liveness() == Liveness.LEAVING);
        }
    }

    // --- control plane: leader election and the linearizable store ---

    private void sendHeartbeatFrom(Node from, int inc, HeartbeatRequest request, long sentAtMs) {
        int target = leader;
        if (target < 0) {
            return;
        }
        network.send(from.index, target, () -> {
            Node t = nodes.get(target);
            if (!t.up) {
                return;
            }
            // A linearizable read: only the current leader answers (a deposed one cannot confirm its leadership).
            HeartbeatReply reply = leader == target ? t.controller.onHeartbeat(request, t.localMs()) : HeartbeatReply.NOT_LEADER;
            network.send(target, from.index, () -> {
                if (from.alive(inc)) {
                    from.member.onHeartbeatReply(reply, sentAtMs);
                }
            });
        });
    }

    private void propose(Node from, int inc, ClusterCommand command) {
        if (leader != from.index || !from.alive(inc)) {
            count("proposal-refused");
            return;
        }
        scheduler.after(2 + random.nextInt(15), () -> {
            // A proposal commits if its leader kept leadership; otherwise it may or may not have replicated.
            if ((leader == from.index && from.alive(inc)) || random.nextBoolean()) {
                applyCommitted(command);
            } else {
                count("proposal-lost");
            }
        });
    }

    private void applyCommitted(ClusterCommand command) {
        ClusterView before = storeView;
        ApplyResult result = state.apply(command);
        storeView = state.view();
        if (Boolean.getBoolean("ferry.node.trace")) {
            StringBuilder sb = new StringBuilder();
            storeView.members().values().forEach(m -> sb.append(' ').append(m.id()).append('=').append(m.liveness()));
            System.out.printf("%6d control plane applied %s -> %s; view %d members:%s leaving=%s%n", scheduler.nowMs(), command, result, storeView.version(), sb, state.leaving());
        }
        count(command.getClass().getSimpleName() + (result instanceof ApplyResult.Refused ? "-refused" : ""));
        checkEpochChange(before, storeView);
        if (leader >= 0 && nodes.get(leader).controller != null) {
            nodes.get(leader).controller.onApplied(storeView);
        }
    }

    /** Submits an operator command (like `ferry node decommission`) through the store. */
    CompletionStage<ApplyResult> submitDirect(ClusterCommand command) {
        CompletableFuture<ApplyResult> f = new CompletableFuture<>();
        scheduler.after(5, () -> {
            ApplyResult r = state.apply(command);
            ClusterView before = storeView;
            storeView = state.view();
            checkEpochChange(before, storeView);
            if (leader >= 0 && nodes.get(leader).controller != null) {
                nodes.get(leader).controller.onApplied(storeView);
            }
            f.complete(r);
        });
        return f;
    }

    private boolean canLead(int candidate) {
        Node c = nodes.get(candidate);
        if (!c.up || !c.voter) {
            return false;
        }
        int reachable = 0;
        for (Node v : nodes) {
            if (v.voter && v.up && !network.isBlocked(candidate, v.index) && !network.isBlocked(v.index, candidate)) {
                reachable++;
            }
        }
        return reachable * 2 > config.voters();
    }

    private void loseLeader() {
        if (leader >= 0) {
            Node old = nodes.get(leader);
            if (old.controller != null) {
                old.controller.lostLeadership();
            }
            leader = -1;
            count("leader-lost");
        }
    }

    private void watchLeadership() {
        if (leader >= 0 && !canLead(leader)) {
            loseLeader();
        }
        if (leader < 0 && !electionPending) {
            electionPending = true;
            scheduler.after(300 + random.nextInt(700), () -> {
                electionPending = false;
                List<Integer> candidates = new ArrayList<>();
                for (Node n : nodes) {
                    if (canLead(n.index)) {
                        candidates.add(n.index);
                    }
                }
                if (leader < 0 && !candidates.isEmpty()) {
                    leader = candidates.get(random.nextInt(candidates.size()));
                    Node l = nodes.get(leader);
                    l.controller.becameLeader(l.localMs(), storeView);
                    count("leader-elected");
                }
            });
        }
    }

    // --- the data-path model: writes bump LSNs on acting masters, mirrors follow, syncs copy ---

    /** The control plane's own data-path model: LSN counters that writes bump, mirrors follow and syncs copy. */
    private final class Counters implements DataPath {
        @Override
        public void crashed(Node n) {
            n.lsns = n.durableLsns.clone(); // unflushed writes are lost
        }

        @Override
        public long[] lsns(Node n, String namespace) {
            return n.lsns.clone();
        }

        @Override
        public void startSync(Node master, int inc, PartitionRef ref) {
            ClusterSimulation.this.startSync(master, inc, ref);
        }

        @Override
        public void tick(Node n, int inc) {
            if (random.nextInt(4) == 0) {
                n.durableLsns = n.lsns.clone();
            }
        }

        @Override
        public void write() {
            ClusterSimulation.this.write();
        }
    }

    private void write() {
        int p = random.nextInt(Limits.PARTITION_COUNT);
        for (Node n : nodes) {
            if (n.up && n.member.mastering(NS, p, n.localMs())) {
                n.lsns[p]++;
                long lsn = n.lsns[p];
                for (Replica r : n.member.view().entry(NS, p).mirrors()) {
                    Node m = byId(r.node());
                    int inc = m.incarnation;
                    if (r.state() == ReplicaState.IN_SYNC || r.state() == ReplicaState.RESYNCING) {
                        network.send(n.index, m.index, () -> {
                            if (m.alive(inc)) {
                                m.lsns[p] = Math.max(m.lsns[p], lsn);
                            }
                        });
                    }
                }
            }
        }
    }

    /** A sync that copies nothing: it completes after a delay once the mirror is reachable (partitions without data). */
    void startSync(Node master, int inc, PartitionRef ref) {
        count("sync-started");
        scheduler.after(20 + random.nextInt(config.syncMaxMs()), () -> trySync(master, inc, ref));
    }

    /** A sync copies the master's LSN to the mirror; it retries while the link is down and the view still wants it. */
    private void trySync(Node master, int inc, PartitionRef ref) {
        if (!master.alive(inc) || !master.member.syncWanted(ref)) {
            return;
        }
        Node mirror = byId(ref.node());
        if (!mirror.up || network.isBlocked(master.index, mirror.index) || network.isBlocked(mirror.index, master.index)) {
            scheduler.after(100 + random.nextInt(200), () -> trySync(master, inc, ref));
            return;
        }
        mirror.lsns[ref.partition()] = Math.max(mirror.lsns[ref.partition()], master.lsns[ref.partition()]);
        master.member.onSyncComplete(ref);
    }

    Node byId(String id) {
        return nodes.get(Integer.parseInt(id.substring(1)) - 1);
    }

    // --- faults ---

    private void scheduleFaults(long untilMs) {
        long t = 3_000;
        while (t < untilMs) {
            long at = t;
            int kind = random.nextInt(10);
            if (kind < config.crashWeight()) {
                scheduler.at(at, this::crashSomeone);
            } else if (kind < config.crashWeight() + config.partitionWeight()) {
                scheduler.at(at, this::partitionSomething);
            }
            t += 200 + random.nextInt(config.faultGapMaxMs());
        }
    }

    private void crashSomeone() {
        Node n = nodes.get(random.nextInt(nodes.size()));
        if (!n.up) {
            return;
        }
        n.crash();
        count("crash");
        int inc = n.incarnation;
        scheduler.after(300 + random.nextInt(5_000), () -> {
            if (!n.up && n.incarnation == inc && !healed) {
                n.start();
                count("restart");
            }
        });
    }

    /** An operator's `ferry node decommission`: the node drains and ends LEFT, while it may crash or be cut off. */
    private void decommissionSomeone() {
        Node n = nodes.get(random.nextInt(nodes.size()));
        submitDirect(new ClusterCommand.Decommission(n.id, scheduler.nowMs(), List.of())).thenAccept(r -> {
            count(r instanceof ApplyResult.Refused ? "decommission-refused" : "decommission");
            if (r instanceof ApplyResult.Applied) {
                decommissioned = n.id;
            }
        });
    }

    private void partitionSomething() {
        if (nodes.size() < 2) {
            return;
        }
        if (random.nextBoolean()) {
            // Symmetric: split into two groups.
            BitSet side = new BitSet();
            for (Node n : nodes) {
                if (random.nextBoolean()) {
                    side.set(n.index);
                }
            }
            for (Node a : nodes) {
                for (Node b : nodes) {
                    if (side.get(a.index) != side.get(b.index)) {
                        network.block(a.index, b.index);
                    }
                }
            }
            count("partition-symmetric");
        } else {
            int a = random.nextInt(nodes.size());
            int b = random.nextInt(nodes.size());
            network.block(a, b);
            count("partition-one-way");
        }
        scheduler.after(300 + random.nextInt(4_000), () -> {
            if (!healed) {
                network.healAll();
            }
        });
    }

    private boolean healed;

    void healEverything() {
        healed = true;
        network.healAll();
        network.lossRate = 0;
        network.duplicateRate = 0;
        for (Node n : nodes) {
            if (!n.up) {
                n.start();
            }
        }
    }

    // --- running ---

    /** Chaos for {@code chaosMs}, then heal and require convergence within {@code settleMs}. */
    void run(long chaosMs, long settleMs) {
        for (Node n : nodes) {
            int delay = random.nextInt(500);
            scheduler.at(delay, n::start);
        }
        scheduleWrites(chaosMs + settleMs);
        scheduleLeadershipWatch(chaosMs + settleMs);
        scheduleFaults(chaosMs);
        if (config.decommissionAtMs() >= 0) {
            scheduler.at(config.decommissionAtMs(), this::decommissionSomeone);
        }
        scheduler.runUntil(chaosMs, this::checkEveryEvent);
        healEverything();
        scheduler.runUntil(chaosMs + settleMs, this::checkEveryEvent);
        checkConverged();
    }

    private void scheduleWrites(long untilMs) {
        for (long t = 500; t < untilMs; t += 5 + random.nextInt(20)) {
            scheduler.at(t, data::write);
        }
    }

    private void scheduleLeadershipWatch(long untilMs) {
        for (long t = 0; t < untilMs; t += 50) {
            scheduler.at(t, this::watchLeadership);
        }
    }

    void count(String what) {
        stats.merge(what, 1, Integer::sum);
    }

    void count(String what, long n) {
        if (n > 0) {
            stats.merge(what, (int) Math.min(Integer.MAX_VALUE, n), Integer::sum);
        }
    }

    // --- checkers ---

    /** At most one node acts as master of any partition at any instant. */
    void checkEveryEvent() {
        data.checkEveryEvent();
        BitSet acting = new BitSet(Limits.PARTITION_COUNT);
        for (Node n : nodes) {
            if (n.up && n.actingMaster()) {
                BitSet mine = n.mastersInView();
                if (acting.intersects(mine)) {
                    BitSet both = (BitSet) acting.clone();
                    both.and(mine);
                    int p = both.nextSetBit(0);
                    fail("two masters of partition %d at t=%d: %s and another (views: %s)", p, scheduler.nowMs(), n.id, describeMasters(p));
                }
                acting.or(mine);
            }
        }
    }

    private final Map<Long, String> masterOfEpoch = new HashMap<>();

    /** At most one master per partition per epoch, across every node's view. */
    private void recordMaster(int p, long epoch, String node) {
        String other = masterOfEpoch.putIfAbsent(((long) p << 40) | epoch, node);
        if (other != null && !other.equals(node)) {
            fail("partition %d has masters %s and %s in epoch %d", p, other, node, epoch);
        }
    }

    private String describeMasters(int p) {
        StringBuilder sb = new StringBuilder();
        for (Node n : nodes) {
            if (n.up) {
                PartitionEntry e = n.member.view().entry(NS, p);
                sb.append(n.id).append("[v").append(n.member.view().version()).append(" e").append(e.epoch())
                        .append(" master=").append(e.master()).append(" lease=").append(n.member.leaseValid(n.localMs())).append("] ");
            }
        }
        sb.append("store: ").append(storeView.entry(NS, p));
        return sb.toString();
    }

    private void checkViewMovesForward(Node n, ClusterView previous, ClusterView current) {
        if (current.version() <= previous.version()) {
            fail("node %s adopted view %d after %d", n.id, current.version(), previous.version());
        }
        NamespaceTable before = previous.table(NS);
        NamespaceTable after = current.table(NS);
        if (before != null && after == null) {
            fail("node %s lost the table", n.id);
        }
        if (before != null) {
            for (int p = 0; p < before.size(); p++) {
                if (after.entry(p) != before.entry(p) && after.entry(p).epoch() < before.entry(p).epoch()) {
                    fail("node %s: epoch of partition %d went back from %d to %d", n.id, p, before.entry(p).epoch(), after.entry(p).epoch());
                }
            }
        }
    }

    /** Epochs only grow, a changed entry gets a new epoch, and a new master was IN_SYNC in the previous epoch. */
    private void checkEpochChange(ClusterView before, ClusterView after) {
        NamespaceTable b = before.table(NS);
        NamespaceTable a = after.table(NS);
        if (a == null) {
            return;
        }
        for (int p = 0; p < a.size(); p++) {
            PartitionEntry eb = b == null ? PartitionEntry.UNASSIGNED : b.entry(p);
            PartitionEntry ea = a.entry(p);
            if (ea == eb) {
                continue;
            }
            if (ea.epoch() < eb.epoch()) {
                fail("partition %d epoch went back from %d to %d", p, eb.epoch(), ea.epoch());
            }
            if (!ea.replicas().equals(eb.replicas()) && ea.epoch() <= eb.epoch()) {
                fail("partition %d changed without a new epoch: %s -> %s", p, eb, ea);
            }
            if (ea.epoch() == eb.epoch() && !ea.equals(eb)) {
                fail("partition %d has two entries for epoch %d", p, ea.epoch());
            }
            if (ea.epoch() > eb.epoch()) {
                checkHistorySteps(p, eb);
            }
        }
    }

    /** Walks every epoch installed since {@code from}: one apply may install several (caught up, then handoff). */
    private void checkHistorySteps(int p, PartitionEntry from) {
        List<Replica> prev = from.replicas();
        long prevEpoch = from.epoch();
        for (HistoryEntry h : state.history(NS, p)) {
            if (h.epoch() <= from.epoch()) {
                continue;
            }
            if (h.epoch() != prevEpoch + 1) {
                fail("partition %d: history jumps from epoch %d to %d", p, prevEpoch, h.epoch());
            }
            String newMaster = h.replicas().isEmpty() ? null : h.replicas().get(0).node();
            String oldMaster = prev.isEmpty() ? null : prev.get(0).node();
            if (newMaster != null && oldMaster != null && !newMaster.equals(oldMaster)) {
                Replica was = null;
                for (Replica r : prev) {
                    if (r.node().equals(newMaster)) {
                        was = r;
                    }
                }
                if (was == null || was.state() != ReplicaState.IN_SYNC) {
                    fail("partition %d: new master %s was %s in epoch %d", p, newMaster, was, prevEpoch);
                }
            }
            prev = h.replicas();
            prevEpoch = h.epoch();
        }
    }

    /** After healing: every node alive in the table, every partition RF in-sync replicas where rendezvous wants them, all views equal. */
    void checkConverged() {
        ClusterView v = storeView;
        if (leader < 0) {
            fail("no control-plane leader after healing");
        }
        for (Node n : nodes) {
            Member m = v.member(n.id);
            Liveness expected = n.id.equals(decommissioned) ? Liveness.LEFT : Liveness.ALIVE;
            if (m == null || m.liveness() != expected) {
                fail("node %s is %s after healing, expected %s", n.id, m, expected);
            }
            if (n.member.view().version() != v.version()) {
                fail("node %s holds view %d, store has %d", n.id, n.member.view().version(), v.version());
            }
        }
        List<String> ids = new ArrayList<>(v.members().keySet());
        ids.remove(decommissioned);
        NamespaceTable t = v.table(NS);
        if (t == null) {
            fail("no table for %s", NS);
        }
        for (int p = 0; p < t.size(); p++) {
            PartitionEntry e = t.entry(p);
            List<String> desired = Rendezvous.desired(NS, p, ids, config.replicationFactor());
            List<String> holders = new ArrayList<>();
            for (Replica r : e.replicas()) {
                if (r.state() != ReplicaState.IN_SYNC) {
                    fail("partition %d not converged: %s", p, e);
                }
                holders.add(r.node());
            }
            if (!holders.equals(desired) || e.handoffTo() != null) {
                fail("partition %d is %s, rendezvous wants %s (%s)", p, e, desired, describeMasters(p));
            }
        }
        data.checkConverged();
    }

    void fail(String format, Object... args) {
        throw new SimulationFailure(seed, String.format(format, args));
    }

    static final class SimulationFailure extends AssertionError {
        private static final long serialVersionUID = 1L;

        SimulationFailure(long seed, String message) {
            super("seed " + seed + ": " + message + "\n  replay: mvn -B -ntp -pl ferry-core -am test -Dtest=ClusterSimulationTest#replay"
                    + " -Dsurefire.failIfNoSpecifiedTests=false -Dferry.sim.seed=" + seed + " (node simulation: -Dtest=NodeSimulationTest"
                    + " -Dferry.node.seed=" + seed + ")");
        }
    }
}
