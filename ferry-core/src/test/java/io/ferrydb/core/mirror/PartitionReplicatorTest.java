package io.ferrydb.core.mirror;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.core.cluster.ReplicaState;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.ferrydb.core.mirror.MirrorPartitionTest.entry;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The master's side of mirroring, driven against real {@link MirrorPartition}s. */
class PartitionReplicatorTest {
    private static final String NS = "test";
    private static final int P = 7;
    private static final MirrorPartition.Config MIRROR = new MirrorPartition.Config(100, 50);

    private final PartitionReplicator master = new PartitionReplicator(NS, P, 1, 0, new PartitionReplicator.Config(2, 8));
    private final MirrorPartition m2 = new MirrorPartition(NS, P, 1, 0, MIRROR);
    private final MirrorPartition m3 = new MirrorPartition(NS, P, 1, 0, MIRROR);

    private List<Long> commit(long lsn, CommitLevel level, Durability d) {
        PartitionReplicator.Outcome o = master.onCommitted(entry(1, lsn), level, d, lsn);
        assertEquals(Set.of(), o.needResync());
        return o.acknowledge();
    }

    /** Delivers every pending batch and returns the tokens the replies released. */
    private List<Long> deliver(long nowMs) {
        List<Long> acked = new java.util.ArrayList<>();
        for (PartitionReplicator.Send s : master.poll()) {
            MirrorPartition m = s.mirror().equals("n2") ? m2 : m3;
            MirrorPartition.Step step = m.onBatch(s.batch(), nowMs);
            if (step.reply() != null) {
                acked.addAll(master.onReply(s.mirror(), step.reply()).acknowledge());
            }
            if (step.flush() != null) {
                acked.addAll(master.onReply(s.mirror(), m.onFlushed(step.flush(), nowMs).reply()).acknowledge());
            }
        }
        return acked;
    }

    @Test
    void aHandoffTargetIsReadyOnceItsStreamHoldsTheLogDurably() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC, "n3", ReplicaState.CLONING));
        assertTrue(master.streamedInSync("n2"));
        assertFalse(master.streamedInSync("n3"), "a mirror being cloned is not fed by the stream yet");
        assertFalse(master.streamedInSync("n9"), "not a mirror at all");
        commit(1, CommitLevel.MASTER, Durability.ASYNC);
        commit(2, CommitLevel.MASTER, Durability.ASYNC);
        assertFalse(master.durableOn("n2", 2), "nothing sent yet");
        // n2 caches the batch (ASYNC): acknowledged, not yet durable.
        PartitionReplicator.Send toN2 = master.poll().stream().filter(s -> s.mirror().equals("n2")).findFirst().orElseThrow();
        MirrorPartition.Step step = m2.onBatch(toN2.batch(), 0);
        master.onReply("n2", step.reply());
        assertFalse(master.durableOn("n2", 2), "only in n2's cache");
        MirrorPartition.Flush flush = step.flush() != null ? step.flush() : m2.tick(1_000);
        master.onReply("n2", m2.onFlushed(flush, 1_000).reply());
        assertTrue(master.durableOn("n2", 2), "flushed on n2");
        assertFalse(master.durableOn("n2", 3));
        // A sync of n2 takes it off the stream until it is done.
        master.beginSync("n2", 2);
        assertFalse(master.streamedInSync("n2"));
        master.onResynced("n2", 2);
        assertTrue(master.streamedInSync("n2"));
    }

    /**
     * A mirror that adopted this master's epoch from its view refuses a batch the master
     * sent in its previous epoch as stale, naming the master's own epoch: a stale answer,
     * ignored (NodeSimulationTest seed 9630 failed an invariant on it). The stream goes on.
     */
    @Test
    void aStaleEpochRefusalOfAnEarlierEpochsBatchIsIgnored() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC, "n3", ReplicaState.IN_SYNC));
        assertEquals(List.of(), commit(1, CommitLevel.ALL, Durability.ASYNC));
        PartitionReplicator.Outcome o = master.onReply("n2", new MirrorReply.Refused(NS, P, 1, MirrorReply.Reason.STALE_EPOCH, 1,
                AckTriplet.durable(0)));
        assertFalse(o.deposed(), "the mirror has seen no newer master");
        assertEquals(Set.of(), o.needResync());
        assertEquals(List.of(1L), deliver(0), "both mirrors acknowledge the batch: the ALL write is released");
    }

    @Test
    void commitLevelAllWaitsForEveryInSyncMirrorAndMasterDoesNot() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC, "n3", ReplicaState.IN_SYNC));
        assertEquals(List.of(1L), commit(1, CommitLevel.MASTER, Durability.ASYNC), "MASTER+ASYNC is acknowledged after the local write");
        assertEquals(List.of(), commit(2, CommitLevel.ALL, Durability.ASYNC));
        List<PartitionReplicator.Send> sends = master.poll();
        assertEquals(2, sends.size(), "both mirrors get lsn 1..2 in one batch each (batch size 2)");
        // Only n2 answers: ALL still waits for n3.
        PartitionReplicator.Send toN2 = sends.stream().filter(s -> s.mirror().equals("n2")).findFirst().orElseThrow();
        assertEquals(List.of(), master.onReply("n2", m2.onBatch(toN2.batch(), 0).reply()).acknowledge());
        PartitionReplicator.Send toN3 = sends.stream().filter(s -> s.mirror().equals("n3")).findFirst().orElseThrow();
        assertEquals(List.of(2L), master.onReply("n3", m3.onBatch(toN3.batch(), 0).reply()).acknowledge(),
                "ALL+ASYNC is acknowledged once every IN_SYNC mirror has it in cache");
    }

    @Test
    void allPlusSyncWaitsForTheMastersAndTheMirrorsDisks() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC));
        commit(1, CommitLevel.ALL, Durability.SYNC);
        PartitionReplicator.Send s = master.poll().get(0);
        assertEquals(1, s.batch().durableThroughLsn(), "the mirror is told lsn 1 must be durable before its ack");
        MirrorPartition.Step step = m2.onBatch(s.batch(), 0);
        assertEquals(null, step.reply());
        List<Long> afterMirror = master.onReply("n2", m2.onFlushed(step.flush(), 1).reply()).acknowledge();
        assertEquals(List.of(), afterMirror, "the mirror's disk is not enough: the master's fsync is still running");
        assertEquals(List.of(1L), master.onLocalDurable(1));
    }

    @Test
    void mirrorsNotInSyncAreStreamedOnlyAfterTheirSyncAndNotWaitedFor() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC, "n3", ReplicaState.CLONING));
        commit(1, CommitLevel.ALL, Durability.ASYNC);
        List<PartitionReplicator.Send> sends = master.poll();
        assertEquals(List.of("n2"), sends.stream().map(PartitionReplicator.Send::mirror).toList(), "a cloning mirror waits for its clone");
        assertEquals(List.of(1L), master.onReply("n2", m2.onBatch(sends.get(0).batch(), 0).reply()).acknowledge());
        // The clone delivered everything through 1; the stream continues from there.
        master.onResynced("n3", 1);
        MirrorPartition cloned = new MirrorPartition(NS, P, 1, 1, MIRROR);
        commit(2, CommitLevel.ALL, Durability.ASYNC);
        for (PartitionReplicator.Send send : master.poll()) {
            MirrorPartition m = send.mirror().equals("n2") ? m2 : cloned;
            assertEquals(1, send.batch().prevLsn());
            master.onReply(send.mirror(), m.onBatch(send.batch(), 1).reply());
        }
        assertEquals(new AckTriplet(2, 2, 1), master.mirrorHoldings().get("n3"));
    }

    /**
     * Once a resyncing mirror's sync is done, the control plane may call it IN_SYNC (and
     * promote it) before this master sees that view: ALL writes wait for it from then on,
     * until a view marks it ABSENT.
     */
    @Test
    void aMirrorWhoseSyncFinishedIsWaitedForBeforeTheViewCallsItInSync() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC, "n3", ReplicaState.RESYNCING));
        assertEquals(List.of(), commit(1, CommitLevel.ALL, Durability.ASYNC));
        assertEquals(List.of(1L), deliver(0), "before its sync is done, a resyncing mirror is not waited for");
        master.onResynced("n3", 1);
        assertEquals(List.of(), commit(2, CommitLevel.ALL, Durability.ASYNC));
        List<PartitionReplicator.Send> sends = master.poll();
        PartitionReplicator.Send toN2 = sends.stream().filter(x -> x.mirror().equals("n2")).findFirst().orElseThrow();
        PartitionReplicator.Send toN3 = sends.stream().filter(x -> x.mirror().equals("n3")).findFirst().orElseThrow();
        assertEquals(List.of(), master.onReply("n2", m2.onBatch(toN2.batch(), 0).reply()).acknowledge(),
                "the caught-up mirror n3 does not hold lsn 2 yet");
        MirrorPartition synced = new MirrorPartition(NS, P, 1, 1, MIRROR);
        assertEquals(List.of(2L), master.onReply("n3", synced.onBatch(toN3.batch(), 1).reply()).acknowledge(),
                "acknowledged once n3 has it too");
        master.onView(2, Map.of("n2", ReplicaState.IN_SYNC, "n3", ReplicaState.ABSENT));
        assertEquals(List.of(), commit(3, CommitLevel.ALL, Durability.ASYNC));
        PartitionReplicator.Send again = master.poll().get(0);
        assertEquals("n2", again.mirror(), "an ABSENT mirror gets nothing");
        assertEquals(List.of(3L), master.onReply("n2", m2.onBatch(again.batch(), 2).reply()).acknowledge(),
                "nor is it waited for");
    }

    /**
     * Writes acknowledged while a mirror was being synced did not wait for it: its catching
     * up may be reported (it then becomes IN_SYNC, promotable) only once it holds them
     * durably (NodeSimulationTest, seeds 2126 and 2561).
     */
    @Test
    void aSyncedMirrorIsReportedCaughtUpOnlyOnceItHoldsWhatWasAcknowledgedDuringItsSync() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC, "n3", ReplicaState.RESYNCING));
        master.beginSync("n3", 0);
        assertEquals(List.of(), commit(1, CommitLevel.ALL, Durability.ASYNC));
        assertEquals(List.of(1L), deliver(0), "acknowledged without the mirror being synced");
        master.onResynced("n3", 0);
        assertFalse(master.mayReportCaughtUp("n3"), "the sync brought it to lsn 0; lsn 1 was acknowledged without it");
        assertFalse(master.mayReportCaughtUp("n2"), "an IN_SYNC mirror has no sync to report");
        MirrorPartition synced = new MirrorPartition(NS, P, 1, 0, MIRROR);
        PartitionReplicator.Send toN3 = master.poll().stream().filter(x -> x.mirror().equals("n3")).findFirst().orElseThrow();
        MirrorPartition.Step step = synced.onBatch(toN3.batch(), 1);
        master.onReply("n3", step.reply());
        assertFalse(master.mayReportCaughtUp("n3"), "lsn 1 is only in its cache");
        MirrorPartition.Flush f = step.flush() != null ? step.flush() : synced.tick(1_000);
        master.onReply("n3", synced.onFlushed(f, 1_000).reply());
        assertTrue(master.mayReportCaughtUp("n3"), "durable through what was logged when its sync ended");
    }

    @Test
    void aMirrorThatLostItsCacheIsResentFromItsHole() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC));
        for (long lsn = 1; lsn <= 4; lsn++) {
            commit(lsn, CommitLevel.ALL, Durability.ASYNC);
        }
        assertEquals(List.of(1L, 2L, 3L, 4L), deliver(0));
        m2.crash(); // 1..4 were only in its cache
        commit(5, CommitLevel.ALL, Durability.ASYNC);
        PartitionReplicator.Send next = master.poll().get(0);
        MirrorPartition.Step refused = m2.onBatch(next.batch(), 1);
        PartitionReplicator.Outcome o = master.onReply("n2", refused.reply());
        assertEquals(Set.of(), o.needResync(), "lsn 1..4 are still buffered: resend, no resync");
        assertEquals(List.of(5L), deliver(2));
        assertEquals(new AckTriplet(1, 5, 0), master.mirrorHoldings().get("n2"));
    }

    @Test
    void aMirrorBeyondTheBufferGoesToResyncAndANewerEpochDeposesTheMaster() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC));
        Set<String> behind = Set.of();
        for (long lsn = 1; lsn <= 9; lsn++) {
            behind = master.onCommitted(entry(1, lsn), CommitLevel.MASTER, Durability.ASYNC, lsn).needResync();
            if (!behind.isEmpty()) {
                break;
            }
        }
        assertEquals(Set.of("n2"), behind, "nothing was sent to n2 and the buffer (8) overflowed");
        assertTrue(master.poll().isEmpty(), "a mirror waiting for resync gets no stream");

        PartitionReplicator other = new PartitionReplicator(NS, P, 1, 0, new PartitionReplicator.Config(2, 8));
        other.onView(1, Map.of("n2", ReplicaState.IN_SYNC));
        other.onCommitted(entry(1, 1), CommitLevel.ALL, Durability.ASYNC, 1);
        MirrorPartition newer = new MirrorPartition(NS, P, 2, 0, MIRROR);
        PartitionReplicator.Outcome o = other.onReply("n2", newer.onBatch(other.poll().get(0).batch(), 0).reply());
        assertTrue(o.deposed(), "a mirror in epoch 2 fences the epoch-1 master");
        assertTrue(other.poll().isEmpty());
        assertEquals(List.of(), o.acknowledge(), "nothing is acknowledged by a deposed master");
    }
    /** Mirrors flush what is due by age and the master hears of it. */
    private void flushDue(long nowMs) {
        for (String n : List.of("n2", "n3")) {
            MirrorPartition m = n.equals("n2") ? m2 : m3;
            MirrorPartition.Flush f = m.tick(nowMs);
            if (f != null) {
                master.onReply(n, m.onFlushed(f, nowMs).reply());
            }
        }
    }

    @Test
    void aSilentMirrorIsResentOncePerIntervalAndAnAnsweringOneNever() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC, "n3", ReplicaState.IN_SYNC));
        commit(1, CommitLevel.MASTER, Durability.ASYNC);
        // n2 answers and flushes; n3's batch (or its reply) is lost.
        for (PartitionReplicator.Send s : master.poll()) {
            if (s.mirror().equals("n2")) {
                MirrorPartition.Step step = m2.onBatch(s.batch(), 0);
                master.onReply("n2", step.reply());
                MirrorPartition.Flush due = m2.tick(60); // older than the 50 ms flush interval
                master.onReply("n2", m2.onFlushed(due, 60).reply());
            }
        }
        for (long now = 0; now <= 3_000; now += 20) {
            master.tick(now);
            for (PartitionReplicator.Send s : master.poll()) {
                assertEquals("n3", s.mirror(), "only the silent mirror is sent anything again");
            }
        }
        assertEquals(4, master.resends(), "resent after 200 ms, then 400, 800 and 1,600 more without an answer (backing off)");
        // An answer resets the back-off: the next silence is resent after 200 ms again.
        master.tick(3_020);
        commit(2, CommitLevel.MASTER, Durability.ASYNC);
        deliver(3_020); // both mirrors answer now (n3 gets lsn 1..2)
        flushDue(3_080);
        master.tick(3_100);
        assertTrue(master.idle(), "both mirrors hold lsn 1..2 durably");
        commit(3, CommitLevel.MASTER, Durability.ASYNC);
        master.poll(); // lsn 3 is lost on the way to both
        for (long now = 3_120; now <= 3_320; now += 20) {
            master.tick(now);
        }
        assertEquals(6, master.resends(), "after progress the first resend comes 200 ms into the silence (once per mirror)");
    }
    /**
     * A new master (its log at lsn 10) streams to an IN_SYNC mirror that holds lsn 1..10
     * from the previous master but is slow to answer: the resend starts after lsn 10, where
     * the stream started, and the mirror stays on the stream.
     */
    @Test
    void aMirrorThatHasNotAnsweredYetIsResentFromWhereItsStreamStarted() {
        PartitionReplicator promoted = new PartitionReplicator(NS, P, 2, 10, new PartitionReplicator.Config(2, 8));
        promoted.onView(2, Map.of("n2", ReplicaState.IN_SYNC));
        MirrorPartition mirror = new MirrorPartition(NS, P, 1, 10, MIRROR);
        promoted.onCommitted(entry(2, 11), CommitLevel.ALL, Durability.ASYNC, 11);
        assertEquals(1, promoted.poll().size(), "lsn 11 goes out and is lost (or queued) on the way");
        for (long now = 0; now <= 400; now += 20) {
            assertEquals(Set.of(), promoted.tick(now), "no answer yet at " + now + " ms is no reason to resync");
        }
        assertEquals(1, promoted.resends());
        List<PartitionReplicator.Send> again = promoted.poll();
        assertEquals(1, again.size());
        assertEquals(11, again.get(0).batch().entries().get(0).lsn(), "resent from after lsn 10");
        MirrorPartition.Step step = mirror.onBatch(again.get(0).batch(), 400);
        assertEquals(List.of(11L), promoted.onReply("n2", step.reply()).acknowledge(), "the ALL write completes");
    }

    /**
     * A new master (its log at lsn 10) with nothing to stream asks a silent IN_SYNC mirror
     * what it holds (an empty batch): one that holds lsn 10 stays on the stream, one that
     * lost lsn 8..10 on the way answers GAP and, the buffer not having them, is resynced.
     */
    @Test
    void aSilentMirrorOfANewMasterIsAskedWhatItHolds() {
        for (long mirrorHolds : new long[] {10, 7}) {
            PartitionReplicator promoted = new PartitionReplicator(NS, P, 2, 10, new PartitionReplicator.Config(2, 8));
            promoted.onView(2, Map.of("n2", ReplicaState.IN_SYNC));
            MirrorPartition mirror = new MirrorPartition(NS, P, 1, mirrorHolds, MIRROR);
            assertEquals(List.of(), promoted.poll(), "nothing to stream");
            Set<String> resync = Set.of();
            List<PartitionReplicator.Send> probes = List.of();
            for (long now = 0; now <= 200 && probes.isEmpty(); now += 20) {
                resync = promoted.tick(now);
                probes = promoted.poll();
            }
            assertEquals(Set.of(), resync);
            assertEquals(1, probes.size(), "the silent mirror is asked once the resend interval passed");
            assertEquals(List.of(), probes.get(0).batch().entries());
            assertEquals(10, probes.get(0).batch().prevLsn());
            PartitionReplicator.Outcome o = promoted.onReply("n2", mirror.onBatch(probes.get(0).batch(), 200).reply());
            assertEquals(mirrorHolds == 10 ? Set.of() : Set.of("n2"), o.needResync(), "mirror holding lsn 1.." + mirrorHolds);
            assertEquals(List.of(), promoted.poll());
        }
    }

    @Test
    void aWriteAfterAPauseIsNotResentAtOnce() {
        master.onView(1, Map.of("n2", ReplicaState.IN_SYNC));
        commit(1, CommitLevel.MASTER, Durability.ASYNC);
        deliver(0);
        master.onReply("n2", m2.onFlushed(m2.tick(60), 60).reply());
        master.tick(60);
        assertTrue(master.idle(), "lsn 1 is durable on the mirror");
        // The runtime ticks only partitions with something outstanding: none for a minute.
        commit(2, CommitLevel.MASTER, Durability.ASYNC);
        assertEquals(1, master.poll().size(), "lsn 2 goes out");
        master.tick(60_010);
        assertEquals(List.of(), master.poll(), "not sent again 10 ms later");
        assertEquals(0, master.resends());
        master.tick(60_300);
        assertEquals(1, master.poll().size(), "but again once it has gone unanswered for the resend interval");
        assertEquals(1, master.resends());
    }
}
