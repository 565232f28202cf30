package io.ferrydb.core.cluster;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClusterControllerTest {
    private final ClusterState state = new ClusterState(16);
    private final List<ClusterCommand> proposed = new ArrayList<>();
    private final ClusterController controller = new ClusterController(ClusterTimings.DEFAULTS, proposed::add, ClusterController.Listener.NONE);

    private HeartbeatRequest hb(String node, long knownVersion) {
        return new HeartbeatRequest(node, "h:" + node, "http:" + node, true, List.of(new NamespaceSpec("test", 2)), knownVersion,
                Map.of("test", new long[] {5, 6}), List.of());
    }

    private HeartbeatRequest hb(String node, long knownVersion, long incarnation) {
        return new HeartbeatRequest(node, "h:" + node, "http:" + node, true, List.of(new NamespaceSpec("test", 2)), knownVersion,
                Map.of("test", new long[] {5, 6}), List.of(), incarnation);
    }

    /**
     * A master whose process restarts before anyone noticed its silence (a new incarnation
     * in its heartbeats) is failed at once and gets no lease: after a power loss it may lack
     * writes its mirrors hold, and continuing its epochs would reuse their LSNs.
     */
    @Test
    void aMasterWhoseProcessRestartedUnnoticedIsFailedAndGetsNoLease() {
        formTwoNodes();
        assertTrue(controller.onHeartbeat(hb("n2", state.version(), 21), 400).leaseGranted());
        assertTrue(proposed.isEmpty(), "the same process again: nothing to do");

        HeartbeatReply restarted = controller.onHeartbeat(hb("n2", state.version(), 22), 450);
        assertFalse(restarted.leaseGranted(), "a restarted master gets no lease");
        assertEquals(1, proposed.size());
        ClusterCommand.NodeFailed failed = assertInstanceOf(ClusterCommand.NodeFailed.class, proposed.get(0));
        assertEquals("n2", failed.node());
        controller.tick(460);
        assertFalse(controller.onHeartbeat(hb("n2", state.version(), 22), 470).leaseGranted(), "fenced until the failure applies");
        applyProposals();
        assertEquals(Liveness.DEAD, state.view().member("n2").liveness());
        NamespaceTable t = state.view().table("test");
        for (int p = 0; p < t.size(); p++) {
            assertEquals("n1", t.entry(p).master(), "its partitions went to the mirror, partition " + p);
        }
        // The new process rejoins as a returning node.
        controller.onHeartbeat(hb("n2", state.version(), 22), 600);
        assertInstanceOf(ClusterCommand.Join.class, proposed.get(0));
    }

    @Test
    void aRestartedMemberMasteringNothingMirroredRejoinsWithItsNewProcessAndGetsALeaseAfterwards() {
        controller.becameLeader(0, state.view());
        controller.onHeartbeat(hb("n1", 0, 11), 0);
        applyProposals();
        assertTrue(controller.onHeartbeat(hb("n1", state.version(), 11), 100).leaseGranted());
        long later = 100 + ClusterTimings.DEFAULTS.proposalRetryMs();
        assertFalse(controller.onHeartbeat(hb("n1", state.version(), 12), later).leaseGranted(), "no lease before the new process is known");
        assertEquals(1, proposed.size(), proposed.toString());
        ClusterCommand.Join join = assertInstanceOf(ClusterCommand.Join.class, proposed.get(0),
                "a single node has no mirror to diverge from: it is not failed");
        assertEquals(12, join.incarnation());
        applyProposals();
        assertEquals(12, state.view().member("n1").incarnation());
        assertEquals(Liveness.ALIVE, state.view().member("n1").liveness());
        assertTrue(controller.onHeartbeat(hb("n1", state.version(), 12), later + 50).leaseGranted());
    }

    /**
     * A restarted master is failed only once this leader has heard from its IN_SYNC mirrors:
     * a fresh leader (here the restarted node's own controller, as with a single voter) has
     * no reports, and promoting a mirror whose report it lacks could pick one a sync was
     * rewriting (NodeSimulationTest, seed 396: an acknowledged ALL+SYNC write lost).
     */
    @Test
    void aRestartedMasterIsFailedOnlyAfterItsMirrorsReported() {
        formTwoNodes();

        // A new leader: it has heard from nobody yet.
        controller.lostLeadership();
        controller.becameLeader(1_000, state.view());
        assertFalse(controller.onHeartbeat(hb("n2", state.version(), 22), 1_010).leaseGranted(), "a restarted master gets no lease");
        assertTrue(proposed.isEmpty(), "n2's mirror n1 has not reported to this leader yet");
        controller.onHeartbeat(hb("n1", state.version(), 11), 1_020);
        assertTrue(proposed.isEmpty());
        controller.onHeartbeat(hb("n2", state.version(), 22), 1_260);
        assertEquals(1, proposed.size());
        ClusterCommand.NodeFailed failed = assertInstanceOf(ClusterCommand.NodeFailed.class, proposed.get(0));
        assertEquals("n2", failed.node());
        assertTrue(failed.lsns().stream().anyMatch(l -> l.node().equals("n1")), "the failure carries the mirror's reports: " + failed.lsns());
    }

    /**
     * A master does not sync an IN_SYNC mirror that fell out of its stream (a sync rewrites
     * it, and while it does the mirror must not be promotable: NodeSimulationTest seed
     * 9764). It reports the mirror behind with its next heartbeat, sent within a fifth of
     * the interval; the leader proposes it once; the table makes the mirror RESYNCING in a
     * new epoch; and that view starts the sync. Reports of someone else's partition, or
     * once the table shows them, are not proposed.
     */
    @Test
    void aMirrorThatFellOutOfTheStreamIsReportedBehindAndSyncedOnlyOnceTheTableSaysResyncing() {
        formTwoNodes();
        List<HeartbeatRequest> sent = new ArrayList<>();
        List<String> syncs = new ArrayList<>();
        ClusterMember n1 = recordingMember(2, sent, syncs);
        n1.onCommittedView(state.view());
        int p = 0;
        while (!"n1".equals(state.view().entry("test", p).master())) {
            p++;
        }
        int other = 0;
        while (!"n2".equals(state.view().entry("test", other).master())) {
            other++;
        }
        PartitionEntry before = state.view().entry("test", p);
        assertEquals(ReplicaState.IN_SYNC, before.replicaOn("n2").state());
        assertTrue(n1.maySync("test", other, "n1"), "not n1's partition to report");
        n1.tick(1_000);
        assertEquals(List.of(), sent.get(0).behind());

        assertFalse(n1.maySync("test", p, "n2"), "an IN_SYNC mirror waits for the table");
        n1.tick(1_000 + ClusterTimings.DEFAULTS.heartbeatIntervalMs() / ClusterMember.REPORT_SPEEDUP);
        PartitionRef ref = new PartitionRef("test", p, "n2", before.epoch());
        assertEquals(List.of(ref), sent.get(1).behind(), "reported with the next heartbeat, sent soon");
        // As from n1's process the cluster formed with (the member's own incarnation is random).
        HeartbeatRequest fromN1 = asIncarnation(sent.get(1), 11);
        controller.onHeartbeat(fromN1, 1_100);
        controller.onHeartbeat(fromN1, 1_150);
        assertEquals(1, proposed.size(), "proposed once: " + proposed);
        assertEquals(List.of(ref), assertInstanceOf(ClusterCommand.Behind.class, proposed.get(0)).replicas());
        int q = p + 1;
        while (!"n1".equals(state.view().entry("test", q).master())) {
            q++;
        }
        HeartbeatRequest foreign = new HeartbeatRequest("n2", "h:n2", "http:n2", true, List.of(new NamespaceSpec("test", 2)), state.version(),
                Map.of("test", new long[] {5, 6}), List.of(), 21, List.of(new PartitionRef("test", q, "n2", state.view().entry("test", q).epoch())));
        controller.onHeartbeat(foreign, 1_160);
        assertEquals(1, proposed.size(), "only a partition's master reports its mirrors behind: " + proposed);
        applyProposals();
        PartitionEntry after = state.view().entry("test", p);
        assertEquals(ReplicaState.RESYNCING, after.replicaOn("n2").state());
        assertEquals(before.epoch() + 1, after.epoch());

        n1.onCommittedView(state.view());
        assertEquals(List.of("RESYNC " + p + "@n2"), syncs, "the view starts the sync");
        assertTrue(n1.maySync("test", p, "n2"), "RESYNCING: a sync may rewrite it");
        n1.tick(10_000);
        assertEquals(List.of(), sent.get(sent.size() - 1).behind(), "the table shows it: no longer reported");
        controller.onHeartbeat(fromN1, 10_000);
        assertTrue(proposed.isEmpty(), "a stale report is not proposed");
    }

    /**
     * A mirror reported behind stays reported while it is IN_SYNC, in whatever epoch: the
     * table may move the partition on for another replica's sake first (here a third
     * replica reported behind too), and the stream will not tell again (NodeSimulationTest
     * seed 105 left a mirror behind forever when the report was dropped with its epoch).
     */
    @Test
    void aBehindReportFollowsTheEpochWhileTheMirrorIsStillInSync() {
        ClusterState s = new ClusterState(16);
        for (String n : List.of("n1", "n2", "n3")) {
            s.apply(ClusterStateTest.join(n, 3));
        }
        ClusterStateTest.catchUpAll(s);
        List<HeartbeatRequest> sent = new ArrayList<>();
        List<String> syncs = new ArrayList<>();
        ClusterMember n1 = recordingMember(3, sent, syncs);
        n1.onCommittedView(s.view());
        int p = ClusterStateTest.masteredBy(s, "n1", 0);
        long epoch = s.view().entry("test", p).epoch();
        assertFalse(n1.maySync("test", p, "n2"));
        assertFalse(n1.maySync("test", p, "n3"));
        s.apply(new ClusterCommand.Behind(List.of(new PartitionRef("test", p, "n3", epoch)), 1, List.of()));
        n1.onCommittedView(s.view());
        assertEquals(List.of("RESYNC " + p + "@n3"), syncs);
        n1.tick(1_000);
        assertEquals(List.of(new PartitionRef("test", p, "n2", epoch + 1)), sent.get(0).behind(), "n2 again, in the new epoch");
    }

    /** Member n1 of namespace "test" at {@code rf}: its heartbeats go to {@code sent}, the syncs it starts to {@code syncs}. */
    private static ClusterMember recordingMember(int rf, List<HeartbeatRequest> sent, List<String> syncs) {
        return new ClusterMember("n1", "h:n1", "http:n1", true, List.of(new NamespaceSpec("test", rf)), ClusterTimings.DEFAULTS,
                new ClusterMember.Outbox() {
                    @Override
                    public void sendHeartbeat(HeartbeatRequest request, long sentAtMs) {
                        sent.add(request);
                    }

                    @Override
                    public void viewChanged(ClusterView previous, ClusterView current) {
                    }
                }, ns -> new long[] {5, 6}, (ref, kind) -> syncs.add(kind + " " + ref.partition() + "@" + ref.node()));
    }

    private static HeartbeatRequest asIncarnation(HeartbeatRequest h, long incarnation) {
        return new HeartbeatRequest(h.node(), h.address(), h.httpAddress(), h.voter(), h.namespaces(), h.knownVersion(), h.lsns(), h.caughtUp(),
                incarnation, h.behind());
    }

    /** n1 (incarnation 11) and n2 (21) form the cluster and its tables. */
    private void formTwoNodes() {
        controller.formWith(java.util.Set.of("n1", "n2"), 10_000);
        controller.becameLeader(0, state.view());
        controller.onHeartbeat(hb("n1", 0, 11), 10);
        controller.onHeartbeat(hb("n2", 0, 21), 20);
        applyProposals();
        controller.onHeartbeat(hb("n1", state.version(), 11), 300);
        applyProposals();
        assertNotNull(state.view().table("test"));
    }

    private void applyProposals() {
        for (ClusterCommand c : List.copyOf(proposed)) {
            state.apply(c);
        }
        proposed.clear();
        controller.onApplied(state.view());
    }

    private HeartbeatRequest hb(String node, long knownVersion, List<PartitionRef> caughtUp) {
        return new HeartbeatRequest(node, "h:" + node, "http:" + node, true, List.of(new NamespaceSpec("test", 2)), knownVersion,
                Map.of("test", new long[] {5, 6}), caughtUp);
    }

    /**
     * A member repeats its caught-up reports with every heartbeat until the table shows them;
     * each report is proposed once, and again only after the proposal retry interval (a
     * decommission's reports name a thousand partitions: proposing each heartbeat's set anew
     * flooded the control log).
     */
    @Test
    void repeatedCaughtUpReportsAreProposedOnceUntilTheRetryInterval() {
        controller.becameLeader(0, state.view());
        controller.onHeartbeat(hb("n1", 0), 0);
        applyProposals();
        controller.onHeartbeat(hb("n1", state.version()), 10);
        controller.onHeartbeat(hb("n2", state.version()), 20);
        applyProposals();
        // Partitions being cloned to n2, mastered by n1.
        List<PartitionRef> cloning = new ArrayList<>();
        NamespaceTable t = state.view().table("test");
        for (int p = 0; p < t.size() && cloning.size() < 3; p++) {
            PartitionEntry e = t.entry(p);
            Replica r = e.replicaOn("n2");
            if ("n1".equals(e.master()) && r != null && r.state() == ReplicaState.CLONING) {
                cloning.add(new PartitionRef("test", p, "n2", e.epoch()));
            }
        }
        assertEquals(3, cloning.size(), "n2's join clones partitions to it");
        long v = state.version();
        controller.onHeartbeat(hb("n1", v, cloning.subList(0, 2)), 100);
        assertEquals(1, proposed.size());
        assertEquals(cloning.subList(0, 2), assertInstanceOf(ClusterCommand.CaughtUp.class, proposed.get(0)).replicas());
        controller.onHeartbeat(hb("n1", v, cloning.subList(0, 2)), 150);
        controller.tick(160);
        assertEquals(1, proposed.size(), "the same reports again: not proposed again yet");
        controller.onHeartbeat(hb("n1", v, cloning), 200);
        assertEquals(2, proposed.size());
        assertEquals(cloning.subList(2, 3), assertInstanceOf(ClusterCommand.CaughtUp.class, proposed.get(1)).replicas(), "only the new report");
        long retry = 100 + ClusterTimings.DEFAULTS.proposalRetryMs();
        controller.onHeartbeat(hb("n1", v, cloning), retry);
        assertEquals(3, proposed.size(), "unapplied after the retry interval: proposed again");
        assertEquals(cloning.subList(0, 2), assertInstanceOf(ClusterCommand.CaughtUp.class, proposed.get(2)).replicas());
        applyProposals();
        for (PartitionRef ref : cloning) {
            assertEquals(ReplicaState.IN_SYNC, state.view().entry("test", ref.partition()).replicaOn("n2").state());
        }
        controller.onHeartbeat(hb("n1", state.version(), cloning), retry + 2_000);
        assertTrue(proposed.isEmpty(), "reports the table shows are not proposed");
    }

    @Test
    void firstHeartbeatJoinsAndLaterOnesGetTheViewOnlyWhenNewer() {
        controller.becameLeader(0, state.view());
        HeartbeatReply r = controller.onHeartbeat(hb("n1", 0), 10);
        assertTrue(r.fromLeader());
        assertFalse(r.leaseGranted(), "not a member yet");
        assertInstanceOf(ClusterCommand.Join.class, proposed.get(0));
        applyProposals();
        r = controller.onHeartbeat(hb("n1", 0), 20);
        assertTrue(r.leaseGranted());
        assertNotNull(r.view());
        r = controller.onHeartbeat(hb("n1", r.version()), 30);
        assertNull(r.view(), "an up-to-date node gets no view");
        assertTrue(proposed.isEmpty(), "a joined node is not joined again");
    }

    @Test
    void silentNodeIsDeclaredFailedAfterTheTimeoutAndFencedUntilApplied() {
        controller.becameLeader(0, state.view());
        controller.onHeartbeat(hb("n1", 0), 0);
        controller.onHeartbeat(hb("n2", 0), 0);
        applyProposals();
        for (long t = 0; t <= 3_000; t += 50) {
            controller.onHeartbeat(hb("n1", state.version()), t);
            if (t <= 1_000) {
                controller.onHeartbeat(hb("n2", state.version()), t);
            }
            controller.tick(t);
            if (!proposed.isEmpty()) {
                assertEquals(new ClusterCommand.NodeFailed("n2", t, proposed.get(0).lsns()), proposed.get(0));
                assertTrue(t - 1_000 > ClusterTimings.DEFAULTS.failureTimeoutMs(), "not before the timeout: " + t);
                assertTrue(t - 1_000 <= ClusterTimings.DEFAULTS.failureTimeoutMs() + 50, "within a tick of it: " + t);
                // A late heartbeat from the fenced node gets no lease until the failure is applied.
                assertFalse(controller.onHeartbeat(hb("n2", state.version()), t + 1).leaseGranted());
                applyProposals();
                assertEquals(Liveness.DEAD, state.view().member("n2").liveness());
                return;
            }
        }
        throw new AssertionError("n2 was never declared failed");
    }

    @Test
    void aFailedMastersOwnLastReportGoesWithItsFailure() {
        controller.becameLeader(0, state.view());
        controller.onHeartbeat(hb("n1", 0), 0);
        controller.onHeartbeat(hb("n2", 0), 0);
        applyProposals();
        assertEquals("n1", state.view().entry("test", 0).master());
        for (long t = 0; t <= 3_000 && proposed.isEmpty(); t += 50) {
            controller.onHeartbeat(hb("n2", state.version()), t);
            controller.tick(t);
        }
        ClusterCommand.NodeFailed failed = assertInstanceOf(ClusterCommand.NodeFailed.class, proposed.get(0));
        assertEquals("n1", failed.node());
        // n1 masters partitions 0 and 1 and reported lsns 5 and 6: the new masters check their logs against them.
        assertTrue(failed.lsns().contains(new LsnReport("test", 0, "n1", 5)), failed.lsns().toString());
        assertTrue(failed.lsns().contains(new LsnReport("test", 1, "n1", 6)), failed.lsns().toString());
    }

    @Test
    void newLeaderWaitsAFullTimeoutBeforeDeclaringAnyoneFailed() {
        controller.becameLeader(0, state.view());
        controller.onHeartbeat(hb("n1", 0), 0);
        applyProposals();
        controller.lostLeadership();
        controller.becameLeader(10_000, state.view());
        controller.tick(10_000 + ClusterTimings.DEFAULTS.failureTimeoutMs());
        assertTrue(proposed.isEmpty(), "silence before this leader started does not count");
        controller.tick(10_001 + ClusterTimings.DEFAULTS.failureTimeoutMs());
        assertInstanceOf(ClusterCommand.NodeFailed.class, proposed.get(0));
    }

    @Test
    void nonLeaderAnswersNothing() {
        assertEquals(HeartbeatReply.NOT_LEADER, controller.onHeartbeat(hb("n1", 0), 0));
        controller.tick(100_000);
        assertTrue(proposed.isEmpty());
    }
    @Test
    void aFormingClusterAdmitsMembersFirstAndLaysOutTheTableOnceOverAllVoters() {
        controller.formWith(java.util.Set.of("n1", "n2", "n3"), 10_000);
        controller.becameLeader(0, state.view());
        controller.onHeartbeat(hb("n1", 0), 10);
        controller.onHeartbeat(hb("n2", 0), 20);
        applyProposals();
        assertTrue(state.view().tables().isEmpty(), "no table while a voter is still awaited");
        assertEquals(2, state.view().members().size());
        controller.onHeartbeat(hb("n1", state.version()), 300);
        assertTrue(proposed.isEmpty(), "a member that already joined is not joined again while forming");
        controller.onHeartbeat(hb("n3", 0), 400);
        applyProposals();
        controller.onHeartbeat(hb("n1", state.version()), 500);
        applyProposals();
        NamespaceTable t = state.view().table("test");
        assertNotNull(t, "all voters are members: the table is created");
        for (int p = 0; p < t.size(); p++) {
            PartitionEntry e = t.entry(p);
            assertEquals(2, e.replicas().size(), "partition " + p);
            for (Replica r : e.replicas()) {
                assertEquals(ReplicaState.IN_SYNC, r.state(), "created over all voters at once: nothing to copy, partition " + p);
            }
        }
        java.util.Set<String> used = new java.util.TreeSet<>();
        for (int p = 0; p < t.size(); p++) {
            used.add(t.entry(p).master());
        }
        assertEquals(java.util.Set.of("n1", "n2", "n3"), used);
    }

    @Test
    void aFormingClusterStopsWaitingForAMissingVoterAfterTheWait() {
        controller.formWith(java.util.Set.of("n1", "n2", "n3"), 10_000);
        controller.becameLeader(0, state.view());
        for (long t = 0; t < 10_000; t += 250) {
            controller.onHeartbeat(hb("n1", state.version()), t);
            applyProposals();
        }
        assertNull(state.view().table("test"), "still waiting for n2 and n3");
        controller.onHeartbeat(hb("n1", state.version()), 10_000);
        applyProposals();
        assertNotNull(state.view().table("test"), "formed without them after the wait");
    }
}
