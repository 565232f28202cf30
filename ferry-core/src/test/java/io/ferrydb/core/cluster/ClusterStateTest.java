package io.ferrydb.core.cluster;

import io.ferrydb.api.Limits;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClusterStateTest {
    static final String NS = "test";

    static ClusterCommand.Join join(String node, int rf) {
        return new ClusterCommand.Join(node, "127.0.0.1:" + (7000 + node.hashCode() % 1000), "127.0.0.1:1" + node.length(), true,
                List.of(new NamespaceSpec(NS, rf)), 0, List.of());
    }

    /** n1 and n2 joined (in that order) with the namespace at {@code rf}, every sync reported done. */
    static ClusterState twoNodes(int rf) {
        ClusterState s = new ClusterState(16);
        s.apply(join("n1", rf));
        s.apply(join("n2", rf));
        catchUpAll(s);
        return s;
    }

    /** The first partition from {@code from} on that {@code node} masters. */
    static int masteredBy(ClusterState s, String node, int from) {
        int p = from;
        while (!node.equals(s.view().entry(NS, p).master())) {
            p++;
        }
        return p;
    }

    /** Reports every sync and handoff done, as masters would, until the table settles. */
    static void catchUpAll(ClusterState s) {
        // Clones, then handoffs ClusterState.MAX_HANDOFFS_IN_FLIGHT at a time.
        for (int round = 0; round < 4 + Limits.PARTITION_COUNT / ClusterState.MAX_HANDOFFS_IN_FLIGHT; round++) {
            ClusterView v = s.view();
            List<PartitionRef> refs = new ArrayList<>();
            for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                PartitionEntry e = v.entry(NS, p);
                for (Replica r : e.mirrors()) {
                    if (r.state() == ReplicaState.CLONING || r.state() == ReplicaState.RESYNCING || r.node().equals(e.handoffTo())) {
                        refs.add(new PartitionRef(NS, p, r.node(), e.epoch()));
                    }
                }
            }
            if (refs.isEmpty()) {
                return;
            }
            s.apply(new ClusterCommand.CaughtUp(refs, 0, List.of()));
        }
    }

    @Test
    void firstNodeMastersEveryPartitionInSync() {
        ClusterState s = new ClusterState(16);
        assertInstanceOf(ApplyResult.Applied.class, s.apply(join("n1", 2)));
        ClusterView v = s.view();
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            assertEquals(List.of(new Replica("n1", ReplicaState.IN_SYNC)), v.entry(NS, p).replicas());
            assertEquals(1, v.entry(NS, p).epoch());
        }
        assertEquals(ChangeReason.CREATE, s.history(NS, 0).get(0).reason());
    }

    @Test
    void joinClonesThenHandsOffToTheDesiredMaster() {
        ClusterState s = new ClusterState(16);
        s.apply(join("n1", 2));
        s.apply(join("n2", 2));
        ClusterView v = s.view();
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            PartitionEntry e = v.entry(NS, p);
            assertEquals("n1", e.master());
            assertEquals(new Replica("n2", ReplicaState.CLONING), e.replicas().get(1));
        }
        catchUpAll(s);
        v = s.view();
        int mastersOnN2 = 0;
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            PartitionEntry e = v.entry(NS, p);
            assertEquals(Rendezvous.desired(NS, p, List.of("n1", "n2"), 2).get(0), e.master());
            assertTrue(e.replicas().stream().allMatch(r -> r.state() == ReplicaState.IN_SYNC));
            mastersOnN2 += "n2".equals(e.master()) ? 1 : 0;
        }
        assertTrue(mastersOnN2 > 1800 && mastersOnN2 < 2300, "balanced: " + mastersOnN2);
    }

    /**
     * While any clone runs, partitions whose replicas are all IN_SYNC keep their master; the
     * CaughtUp that ends the last clone starts the waiting handoffs, at most
     * {@link ClusterState#MAX_HANDOFFS_IN_FLIGHT} at once, and the CaughtUp that finishes
     * them starts as many of the others as the cap allows, until all are done.
     */
    @Test
    void handoffsWaitUntilTheLastCloneIsDoneThenRunAtMostTheCapAtOnce() {
        ClusterState s = new ClusterState(16);
        // Every partition is being cloned to n2: report all but one done.
        List<PartitionRef> refs = clonesToASecondNode(s);
        PartitionRef last = refs.remove(refs.size() - 1);
        s.apply(new ClusterCommand.CaughtUp(refs, 0, List.of()));
        ClusterView v = s.view();
        for (int p = 0; p < Limits.PARTITION_COUNT - 1; p++) {
            PartitionEntry e = v.entry(NS, p);
            assertEquals("n1", e.master(), "partition " + p);
            assertEquals(null, e.handoffTo(), "no handoff while partition " + last.partition() + " is still cloned; partition " + p);
            assertEquals(ReplicaState.IN_SYNC, e.replicaOn("n2").state());
        }
        assertEquals(ReplicaState.CLONING, v.entry(NS, last.partition()).replicaOn("n2").state());
        s.apply(new ClusterCommand.CaughtUp(List.of(last), 0, List.of()));
        int wanted = 0;
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            wanted += Rendezvous.desired(NS, p, List.of("n1", "n2"), 2).get(0).equals("n2") ? 1 : 0;
        }
        assertTrue(wanted > 1800, "partitions n2 should master: " + wanted);
        int done = 0;
        int rounds = 0;
        while (done < wanted) {
            v = s.view();
            List<PartitionRef> handedOff = new ArrayList<>();
            for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                PartitionEntry e = v.entry(NS, p);
                if (e.handoffTo() != null) {
                    assertEquals("n2", e.handoffTo(), "partition " + p);
                    assertEquals("n1", e.master(), "partition " + p);
                    handedOff.add(new PartitionRef(NS, p, "n2", e.epoch()));
                }
            }
            assertEquals(Math.min(ClusterState.MAX_HANDOFFS_IN_FLIGHT, wanted - done), handedOff.size(),
                    "handoffs in progress in round " + rounds);
            // The old master reports its targets caught up: they take over, and as many more start.
            s.apply(new ClusterCommand.CaughtUp(handedOff, 0, List.of()));
            done += handedOff.size();
            rounds++;
        }
        v = s.view();
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            PartitionEntry e = v.entry(NS, p);
            assertEquals(Rendezvous.desired(NS, p, List.of("n1", "n2"), 2).get(0), e.master(), "partition " + p);
            assertEquals(null, e.handoffTo(), "partition " + p);
        }
        assertEquals((wanted + ClusterState.MAX_HANDOFFS_IN_FLIGHT - 1) / ClusterState.MAX_HANDOFFS_IN_FLIGHT, rounds);
    }

    /** The handoffs the cap held back start once half of those in flight finished, not with each one. */
    @Test
    void heldBackHandoffsStartWhenHalfOfThoseInFlightFinished() {
        ClusterState s = new ClusterState(16);
        List<PartitionRef> clones = clonesToASecondNode(s);
        s.apply(new ClusterCommand.CaughtUp(clones, 0, List.of()));
        List<PartitionRef> inFlight = handoffsInFlight(s.view());
        int max = ClusterState.MAX_HANDOFFS_IN_FLIGHT;
        assertEquals(max, inFlight.size());
        // Fewer than half finish: nothing new starts.
        s.apply(new ClusterCommand.CaughtUp(inFlight.subList(0, max / 2 - 1), 0, List.of()));
        assertEquals(max - (max / 2 - 1), handoffsInFlight(s.view()).size());
        // One more makes it half: the cap is filled again.
        s.apply(new ClusterCommand.CaughtUp(List.of(inFlight.get(max / 2 - 1)), 0, List.of()));
        assertEquals(max, handoffsInFlight(s.view()).size());
    }

    /** n1 then n2 join at RF 2: every partition is mastered by n1 and cloned to n2; the clones' reports. */
    private static List<PartitionRef> clonesToASecondNode(ClusterState s) {
        s.apply(join("n1", 2));
        s.apply(join("n2", 2));
        List<PartitionRef> refs = new ArrayList<>();
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            refs.add(new PartitionRef(NS, p, "n2", s.view().entry(NS, p).epoch()));
        }
        return refs;
    }

    private static List<PartitionRef> handoffsInFlight(ClusterView v) {
        List<PartitionRef> refs = new ArrayList<>();
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            PartitionEntry e = v.entry(NS, p);
            if (e.handoffTo() != null) {
                refs.add(new PartitionRef(NS, p, e.handoffTo(), e.epoch()));
            }
        }
        return refs;
    }

    @Test
    void failurePromotesTheInSyncMirrorWithTheHighestLsnAndReturnResyncs() {
        ClusterState s = new ClusterState(16);
        s.apply(join("n1", 3));
        s.apply(join("n2", 3));
        s.apply(join("n3", 3));
        catchUpAll(s);
        int p = masteredBy(s, "n1", 0);
        PartitionEntry before = s.view().entry(NS, p);
        String low = before.replicas().get(1).node();
        String high = before.replicas().get(2).node();
        int other = masteredBy(s, "n1", p + 1);
        // The failed master's own last report goes with the failure (it is never promoted).
        s.apply(new ClusterCommand.NodeFailed("n1", 5, List.of(new LsnReport(NS, p, low, 10), new LsnReport(NS, p, high, 12),
                new LsnReport(NS, p, "n1", 15))));
        PartitionEntry after = s.view().entry(NS, p);
        assertEquals(high, after.master());
        assertEquals(before.epoch() + 1, after.epoch());
        assertEquals(new Replica("n1", ReplicaState.ABSENT), after.replicaOn("n1"));
        HistoryEntry last = s.history(NS, p).get(s.history(NS, p).size() - 1);
        assertEquals(ChangeReason.FAILURE, last.reason());
        assertEquals(13, last.startLsn());
        assertEquals(15, s.view().table(NS).failedMasterLsn(p), "the new master is told what the failed one last reported");
        assertEquals(0, s.view().table(NS).failedMasterLsn(other),
                "the failed master reported nothing for this one: still a failover, whose check asks the survivors (seed 8158)");
        ClusterView roundTrip = ClusterCodec.decodeView(ClusterCodec.encodeView(s.view()));
        assertEquals(15, roundTrip.table(NS).failedMasterLsn(p));
        assertEquals(0, roundTrip.table(NS).failedMasterLsn(other));
        ClusterState restored = ClusterCodec.decodeSnapshot(ClusterCodec.encodeSnapshot(s));
        assertEquals(15, restored.view().table(NS).failedMasterLsn(p), "snapshots keep it");

        s.apply(join("n1", 3));
        assertEquals(ReplicaState.RESYNCING, s.view().entry(NS, p).replicaOn("n1").state());
        assertEquals(-1, s.view().table(NS).failedMasterLsn(p), "only the epoch that replaced the failed master carries it");
        catchUpAll(s);
        assertEquals("n1", s.view().entry(NS, p).master(), "mastership returns to the desired master once in sync");
    }

    @Test
    void lastCopyDownMakesThePartitionUnavailableUntilItReturns() {
        ClusterState s = twoNodes(1);
        int p = masteredBy(s, "n1", 0);
        s.apply(new ClusterCommand.NodeFailed("n1", 5, List.of()));
        assertFalse(s.view().entry(NS, p).available());
        assertEquals("n1", s.view().entry(NS, p).master());
        ApplyResult refused = s.apply(new ClusterCommand.Decommission("n1", 6, List.of()));
        assertInstanceOf(ApplyResult.Refused.class, refused);
        s.apply(join("n1", 1));
        assertTrue(s.view().entry(NS, p).available());
    }

    /**
     * A mirror a sync is rewriting (it reported {@link LsnReport#REWRITING}) is never
     * promoted, even as the only IN_SYNC one left: the partition waits for its failed
     * master, which holds everything, rather than serve from a half-rewritten copy. An
     * ordinary report on another partition promotes as usual.
     */
    @Test
    void aMirrorBeingRewrittenBySyncIsNotPromoted() {
        ClusterState s = twoNodes(2);
        int p = masteredBy(s, "n1", 0);
        int q = masteredBy(s, "n1", p + 1);
        assertEquals(ReplicaState.IN_SYNC, s.view().entry(NS, p).replicaOn("n2").state());
        s.apply(new ClusterCommand.NodeFailed("n1", 5, List.of(new LsnReport(NS, p, "n2", LsnReport.REWRITING),
                new LsnReport(NS, q, "n2", 7), new LsnReport(NS, p, "n1", 40))));
        PartitionEntry waiting = s.view().entry(NS, p);
        assertEquals("n1", waiting.master(), "no promotion: the failed master stays first, absent");
        assertFalse(waiting.available());
        assertEquals("n2", s.view().entry(NS, q).master(), "a mirror with an ordinary report is promoted");
        s.apply(join("n1", 2));
        assertTrue(s.view().entry(NS, p).available(), "the returning master serves again");
        assertEquals("n1", s.view().entry(NS, p).master());
    }

    /**
     * A master reports an IN_SYNC mirror behind (it fell out of the stream): the mirror
     * becomes RESYNCING in a new epoch, so a sync may rewrite it, and a failure of the
     * master then does not promote it. Reports for another epoch, or for a mirror no
     * longer IN_SYNC, change nothing; the caught-up report makes it IN_SYNC again.
     */
    @Test
    void aMirrorReportedBehindBecomesResyncingAndIsNotPromotedUntilCaughtUp() {
        ClusterState s = twoNodes(2);
        int p = masteredBy(s, "n1", 0);
        PartitionEntry before = s.view().entry(NS, p);
        assertEquals(ReplicaState.IN_SYNC, before.replicaOn("n2").state());
        long version = s.view().version();
        s.apply(new ClusterCommand.Behind(List.of(new PartitionRef(NS, p, "n2", before.epoch() - 1)), 3, List.of()));
        assertEquals(before, s.view().entry(NS, p), "a report for an older epoch is stale");
        assertEquals(version, s.view().version());
        s.apply(new ClusterCommand.Behind(List.of(new PartitionRef(NS, p, "n2", before.epoch())), 4, List.of()));
        PartitionEntry behind = s.view().entry(NS, p);
        assertEquals(ReplicaState.RESYNCING, behind.replicaOn("n2").state());
        assertEquals(before.epoch() + 1, behind.epoch());
        assertEquals("n1", behind.master());
        s.apply(new ClusterCommand.Behind(List.of(new PartitionRef(NS, p, "n2", behind.epoch())), 5, List.of()));
        assertEquals(behind, s.view().entry(NS, p), "already RESYNCING: nothing changes");
        s.apply(new ClusterCommand.NodeFailed("n1", 6, List.of(new LsnReport(NS, p, "n2", 50), new LsnReport(NS, p, "n1", 40))));
        assertFalse(s.view().entry(NS, p).available(), "a RESYNCING mirror is not promoted, whatever it reports");
        assertEquals("n1", s.view().entry(NS, p).master());
        s.apply(join("n1", 2));
        PartitionEntry back = s.view().entry(NS, p);
        assertEquals(ReplicaState.RESYNCING, back.replicaOn("n2").state());
        s.apply(new ClusterCommand.CaughtUp(List.of(new PartitionRef(NS, p, "n2", back.epoch())), 7, List.of()));
        assertEquals(ReplicaState.IN_SYNC, s.view().entry(NS, p).replicaOn("n2").state());
    }

    /** A handoff's target reported behind becomes RESYNCING and the handoff ends: the master serves again. */
    @Test
    void aHandoffTargetReportedBehindEndsTheHandoffUntilItCaughtUp() {
        ClusterState s = threeNodesDecommissioningN3();
        PartitionEntry handing = null;
        int p = -1;
        for (int round = 0; round < 4 && handing == null; round++) {
            List<PartitionRef> clones = new ArrayList<>();
            for (int i = 0; i < Limits.PARTITION_COUNT; i++) {
                PartitionEntry e = s.view().entry(NS, i);
                if (e.handoffTo() != null && handing == null) {
                    handing = e;
                    p = i;
                }
                for (Replica r : e.mirrors()) {
                    if (r.state() == ReplicaState.CLONING || r.state() == ReplicaState.RESYNCING) {
                        clones.add(new PartitionRef(NS, i, r.node(), e.epoch()));
                    }
                }
            }
            if (handing == null) {
                s.apply(new ClusterCommand.CaughtUp(clones, round, List.of()));
            }
        }
        assertNotNull(handing, "the decommission hands partitions over once the clones are done");
        String target = handing.handoffTo();
        assertEquals(ReplicaState.IN_SYNC, handing.replicaOn(target).state());
        s.apply(new ClusterCommand.Behind(List.of(new PartitionRef(NS, p, target, handing.epoch())), 9, List.of()));
        PartitionEntry after = s.view().entry(NS, p);
        assertNull(after.handoffTo(), "the handoff ended");
        assertEquals(handing.master(), after.master());
        assertTrue(after.available(), "the master serves again");
        assertEquals(ReplicaState.RESYNCING, after.replicaOn(target).state());
        s.apply(new ClusterCommand.CaughtUp(List.of(new PartitionRef(NS, p, target, after.epoch())), 10, List.of()));
        PartitionEntry again = s.view().entry(NS, p);
        assertEquals(ReplicaState.IN_SYNC, again.replicaOn(target).state());
        assertEquals(target, again.handoffTo(), "caught up, the handoff comes back");
    }

    private static ClusterState threeNodesDecommissioningN3() {
        ClusterState s = new ClusterState(16);
        s.apply(join("n1", 2));
        s.apply(join("n2", 2));
        s.apply(join("n3", 2));
        catchUpAll(s);
        s.apply(new ClusterCommand.Decommission("n3", 1, List.of()));
        return s;
    }

    @Test
    void decommissionDrainsTheNodeThenMarksItLeft() {
        ClusterState s = threeNodesDecommissioningN3();
        assertEquals(Liveness.LEAVING, s.view().member("n3").liveness());
        catchUpAll(s);
        assertEquals(Liveness.LEFT, s.view().member("n3").liveness());
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            assertEquals(null, s.view().entry(NS, p).replicaOn("n3"));
        }
    }

    /** Found by the simulator: a leaving node that failed and came back used to rejoin as ALIVE. */
    @Test
    void aDecommissionedNodeThatFailsAndReturnsKeepsLeaving() {
        ClusterState s = threeNodesDecommissioningN3();
        s.apply(new ClusterCommand.NodeFailed("n3", 2, List.of()));
        assertEquals(Liveness.DEAD, s.view().member("n3").liveness());
        // The intent survives a snapshot (a restarted control plane) too.
        s = ClusterCodec.decodeSnapshot(ClusterCodec.encodeSnapshot(s));
        assertEquals(java.util.Set.of("n3"), s.leaving());
        s.apply(join("n3", 2));
        assertEquals(Liveness.LEAVING, s.view().member("n3").liveness(), "back from a failure, still leaving");
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            Replica onN3 = s.view().entry(NS, p).replicaOn("n3");
            assertTrue(onN3 == null || onN3.state() != ReplicaState.CLONING, "a leaving node gets no new replicas: partition " + p);
        }
        catchUpAll(s);
        assertEquals(Liveness.LEFT, s.view().member("n3").liveness());
        assertTrue(s.leaving().isEmpty());
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            assertEquals(null, s.view().entry(NS, p).replicaOn("n3"));
        }
        // A join proposed while it was DEAD, committed after its drain (NodeSimulationTest seed 6775).
        ApplyResult late = s.apply(join("n3", 2));
        assertInstanceOf(ApplyResult.Refused.class, late);
        assertTrue(((ApplyResult.Refused) late).reason().contains("left the cluster"), late.toString());
        assertEquals(Liveness.LEFT, s.view().member("n3").liveness());
    }

    @Test
    void snapshotRoundTripsStateAndHistory() {
        ClusterState s = new ClusterState(4);
        s.apply(join("n1", 2));
        s.apply(join("n2", 2));
        catchUpAll(s);
        s.apply(new ClusterCommand.NodeFailed("n2", 9, List.of()));
        ClusterState copy = ClusterCodec.decodeSnapshot(ClusterCodec.encodeSnapshot(s));
        assertEquals(s.version(), copy.version());
        for (int p = 0; p < Limits.PARTITION_COUNT; p += 97) {
            assertEquals(s.view().entry(NS, p), copy.view().entry(NS, p));
            assertEquals(s.history(NS, p), copy.history(NS, p));
        }
        assertEquals(s.view().members(), copy.view().members());
        ClusterCommand c = new ClusterCommand.CaughtUp(List.of(new PartitionRef(NS, 7, "n2", 3)), 11, List.of(new LsnReport(NS, 7, "n1", 99)));
        assertEquals(c, ClusterCodec.decodeCommand(ClusterCodec.encodeCommand(c)));
        assertNotEquals(0, ClusterCodec.encodeView(s.view()).length);
    }
}
