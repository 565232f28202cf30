package io.ferrydb.server.mirror;

import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.mirror.MirrorPartition;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.proto.MirrorAck;
import io.ferrydb.proto.MirrorAcks;
import io.ferrydb.proto.MirrorCopy;
import io.ferrydb.proto.MirrorMessage;
import io.ferrydb.proto.SyncKind;
import io.ferrydb.server.SystemClock;
import io.ferrydb.server.storage.GroupCommitter;
import io.ferrydb.server.storage.RocksStorage;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The mirror side against a real RocksDB store: fencing syncs from deposed masters and
 * releasing partitions this node is no replica of (both found by NodeSimulationTest).
 */
class MirrorReceiverTest {
    private static final String NS = "test";

    @TempDir
    Path dir;

    /** One node's mirror side on a real RocksDB store. */
    private record Fixture(SimpleMeterRegistry registry, RocksStorage storage, RecordStore store, GroupCommitter committer,
                           MirrorReceiver receiver) implements AutoCloseable {
        @Override
        public void close() {
            receiver.close();
            committer.close();
            storage.close();
        }
    }

    private Fixture fixture(String node, MirrorPartition.Config config) {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        RocksStorage storage = new RocksStorage(dir, 8 << 20);
        RecordStore store = RecordStore.open(storage, SystemClock.INSTANCE, new HybridLogicalClock(SystemClock.INSTANCE),
                List.of(NamespaceConfig.defaults(NS)), n -> { });
        GroupCommitter committer = new GroupCommitter(storage, 5, 1000, registry);
        return new Fixture(registry, storage, store, committer, new MirrorReceiver(node, store, committer, config, new LossReporter(registry),
                registry));
    }

    /** A master's stream to the receiver; its acknowledgements land in {@code acks}. */
    private static StreamObserver<MirrorMessage> connect(MirrorReceiver receiver, LinkedBlockingQueue<MirrorAck> acks) {
        return receiver.stream(new StreamObserver<>() {
            @Override
            public void onNext(MirrorAcks value) {
                acks.addAll(value.getAcksList());
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        });
    }

    /**
     * A replica refuses a sync from a master older than an epoch it has seen: a deposed
     * master, cut off from the control plane but not from this node, must not copy its
     * history over the new master's (the old master resynced the new master itself and
     * wiped its acknowledged writes).
     */
    @Test
    void aSyncFromAnOlderEpochIsRefusedAndTheHistoryKept() throws Exception {
        try (Fixture f = fixture("b", new MirrorPartition.Config(16, 50))) {
            SimpleMeterRegistry registry = f.registry();
            RecordStore store = f.store();
            MirrorReceiver receiver = f.receiver();
            // This node became master of the partition in epoch 3 and wrote.
            Key key = Key.of(NS, "s", 1L);
            int p = key.partition();
            store.adoptEpoch(NS, p, 3);
            store.put(key, List.of(new BinValidator.NamedValue("v", Value.of(7L))), WritePolicy.DEFAULT);
            long lsn = store.partitionInfo(NS, p).lastLsn();

            LinkedBlockingQueue<MirrorAck> acks = new LinkedBlockingQueue<>();
            StreamObserver<MirrorMessage> in = connect(receiver, acks);
            // The deposed master of epoch 2 probes, then sends the first chunk of a copy of its (empty) partition.
            in.onNext(MirrorMessage.newBuilder().setFromNode("a").setCopy(MirrorCopy.newBuilder().setNamespace(NS).setPartition(p)
                    .setKind(SyncKind.PROBE).setSession(1).setMasterEpoch(2)).build());
            MirrorAck probe = acks.poll(5, TimeUnit.SECONDS);
            assertNotNull(probe);
            assertTrue(probe.getFenced(), probe.toString());
            assertFalse(probe.getProbe(), "a fenced probe is not answered with what the replica holds");
            assertEquals(3, probe.getEpoch());
            in.onNext(MirrorMessage.newBuilder().setFromNode("a").setCopy(MirrorCopy.newBuilder().setNamespace(NS).setPartition(p)
                    .setKind(SyncKind.COPY).setSession(1).setSeq(0).setLast(true).setEpoch(2).setThroughLsn(0).setMasterEpoch(2)).build());
            MirrorAck chunk = acks.poll(5, TimeUnit.SECONDS);
            assertNotNull(chunk);
            assertTrue(chunk.getFenced(), chunk.toString());
            assertEquals(lsn, store.partitionInfo(NS, p).lastLsn(), "the refused copy truncated nothing");
            assertNotNull(store.get(key), "the record is still here");
            assertEquals(2.0, registry.get("ferry_mirror_syncs_fenced").counter().count());

            // The current master (epoch 3 or later) is answered as before.
            in.onNext(MirrorMessage.newBuilder().setFromNode("c").setCopy(MirrorCopy.newBuilder().setNamespace(NS).setPartition(p)
                    .setKind(SyncKind.PROBE).setSession(2).setMasterEpoch(4)).build());
            MirrorAck answered = acks.poll(5, TimeUnit.SECONDS);
            assertNotNull(answered);
            assertFalse(answered.getFenced());
            assertTrue(answered.getProbe());
            assertEquals(lsn, answered.getCommittedLsn());
        }
    }

    /**
     * A node that holds a partition it is no replica of (a master deposed while cut off,
     * whose place went to another node) asks the master for its history, records its
     * divergent tail in the ledger and drops the partition; the master answers only while
     * its check allows.
     */
    @Test
    void aPartitionThisNodeIsNoReplicaOfIsReleasedWithItsDivergentTailRecorded() throws Exception {
        try (Fixture f = fixture("old", new MirrorPartition.Config(16, 50))) {
            SimpleMeterRegistry registry = f.registry();
            RecordStore store = f.store();
            MirrorReceiver receiver = f.receiver();
            // As master of epoch 2 this node wrote three MASTER+ASYNC changes; the new master's
            // epoch 3 began at lsn 2, so lsn 2 and 3 here are a divergent tail.
            Key key = Key.of(NS, "s", 1L);
            int p = key.partition();
            store.adoptEpoch(NS, p, 2);
            for (int i = 0; i < 3; i++) {
                store.put(key, List.of(new BinValidator.NamedValue("v", Value.of(i))),
                        WritePolicy.DEFAULT.withCommitLevel(io.ferrydb.api.CommitLevel.MASTER).withDurability(io.ferrydb.api.Durability.ASYNC));
            }
            MirrorAck history = MirrorAck.newBuilder().setNamespace(NS).setPartition(p).setEpoch(3).setCommittedLsn(5).setRelease(true)
                    .addEpochStarts(io.ferrydb.proto.EpochStart.newBuilder().setEpoch(2).setStartLsn(1))
                    .addEpochStarts(io.ferrydb.proto.EpochStart.newBuilder().setEpoch(3).setStartLsn(2)).build();
            assertTrue(receiver.release(NS, p, history, "new"));
            assertEquals(0, store.partitionInfo(NS, p).lastLsn());
            assertEquals(0, store.countRecords(NS, p), "the partition's data is dropped");
            List<io.ferrydb.core.loss.LossRecord> ledger = store.losses();
            assertEquals(1, ledger.size(), ledger.toString());
            io.ferrydb.core.loss.LossRecord r = ledger.get(0);
            assertEquals(2, r.epoch());
            assertEquals(3, r.newEpoch());
            assertEquals(2, r.fromLsn());
            assertEquals(3, r.toLsn());
            assertEquals(2, r.count());
            assertEquals(io.ferrydb.core.loss.LossRecord.Certainty.ACKNOWLEDGED, r.certainty());
            assertEquals(List.of(key.digest(), key.digest()), r.digests());
            assertEquals(1.0, registry.get("ferry_partitions_released").counter().count());

            // The master's side: answered only while its check allows.
            store.adoptEpoch(NS, p, 4);
            store.put(key, List.of(new BinValidator.NamedValue("v", Value.of(9L))), WritePolicy.DEFAULT);
            LinkedBlockingQueue<MirrorAck> acks = new LinkedBlockingQueue<>();
            StreamObserver<MirrorMessage> in = connect(receiver, acks);
            MirrorMessage ask = MirrorMessage.newBuilder().setFromNode("x")
                    .setRelease(io.ferrydb.proto.MirrorRelease.newBuilder().setNamespace(NS).setPartition(p)).build();
            in.onNext(ask);
            assertEquals(null, acks.poll(300, TimeUnit.MILLISECONDS), "no answer while this node may not release it to x");
            receiver.releaseCheck((ns, part, asker) -> asker.equals("x") && part == p);
            in.onNext(ask);
            MirrorAck answer = acks.poll(5, TimeUnit.SECONDS);
            assertNotNull(answer);
            assertTrue(answer.getRelease());
            assertEquals(4, answer.getEpoch());
            assertEquals(store.partitionInfo(NS, p).lastLsn(), answer.getCommittedLsn());
            assertEquals(4, answer.getEpochStarts(answer.getEpochStartsCount() - 1).getEpoch());
        }
    }

    /**
     * The failover check's question, over gRPC: a mirror answers with its triplet and the
     * entries it holds above the asker's end, from its log and from its cache; a replica
     * with no address (not ALIVE) and bad input are reported, not fatal.
     */
    @Test
    void aMirrorAnswersTheFailoverCheckWithItsTripletAndItsTail() throws Exception {
        // A cache that flushes only when asked: the batch's tail stays cached.
        try (Fixture f = fixture("b", new MirrorPartition.Config(1000, 60_000))) {
            SimpleMeterRegistry registry = f.registry();
            RecordStore store = f.store();
            MirrorReceiver receiver = f.receiver();
            io.grpc.Server server = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder
                    .forAddress(new java.net.InetSocketAddress("127.0.0.1", 0)).addService(receiver).build().start();
            try {
                int p = Key.of(NS, "s", 1L).partition();
                java.util.List<io.ferrydb.core.log.LogEntry> entries = new java.util.ArrayList<>();
                for (long lsn = 1; lsn <= 5; lsn++) {
                    entries.add(new io.ferrydb.core.log.LogEntry(1, lsn, 1000 + lsn, io.ferrydb.core.log.LogOp.PUT,
                            Key.of(NS, "s", "k" + lsn).digest(), new byte[] {1}));
                }
                io.ferrydb.proto.MirrorBatch.Builder b = io.ferrydb.proto.MirrorBatch.newBuilder().setNamespace(NS).setPartition(p)
                        .setEpoch(1).setPrevLsn(0).setDurableThroughLsn(2);
                entries.forEach(e -> b.addEntries(com.google.protobuf.ByteString.copyFrom(e.encode())));
                LinkedBlockingQueue<MirrorAck> acks = new LinkedBlockingQueue<>();
                StreamObserver<MirrorMessage> in = connect(receiver, acks);
                in.onNext(MirrorMessage.newBuilder().setFromNode("a").addBatches(b).build());
                // The SYNC change at lsn 2 makes the whole batch durable (one flush), so send more, cached only.
                MirrorAck first = acks.poll(5, TimeUnit.SECONDS);
                assertNotNull(first);
                java.util.List<io.ferrydb.core.log.LogEntry> more = new java.util.ArrayList<>();
                for (long lsn = 6; lsn <= 8; lsn++) {
                    more.add(new io.ferrydb.core.log.LogEntry(1, lsn, 1000 + lsn, io.ferrydb.core.log.LogOp.PUT,
                            Key.of(NS, "s", "k" + lsn).digest(), new byte[] {1}));
                }
                io.ferrydb.proto.MirrorBatch.Builder b2 = io.ferrydb.proto.MirrorBatch.newBuilder().setNamespace(NS).setPartition(p)
                        .setEpoch(1).setPrevLsn(5);
                more.forEach(e -> b2.addEntries(com.google.protobuf.ByteString.copyFrom(e.encode())));
                in.onNext(MirrorMessage.newBuilder().setFromNode("a").addBatches(b2).build());
                MirrorAck second = acks.poll(5, TimeUnit.SECONDS);
                assertNotNull(second);
                assertEquals(8, second.getCacheEndLsn(), second.toString());
                long committed = second.getCommittedLsn();
                assertEquals(5, committed, "the first batch is durable, the second only cached");

                assertFalse(store.rewriting(NS, p));
                FailoverSurvey.Query q = new FailoverSurvey.Query(NS, p, 3, 2, List.of("b", "gone"));
                java.util.Map<FailoverSurvey.Query, FailoverSurvey.Outcome> out = FailoverSurvey.ask("c", List.of(q),
                        id -> id.equals("b") ? "127.0.0.1:" + server.getPort() : null, 2000);
                FailoverSurvey.Outcome o = out.get(q);
                assertEquals(List.of("gone"), o.unreached());
                assertEquals(1, o.survivors().size());
                io.ferrydb.core.loss.FailoverCheck.Survivor s = o.survivors().get(0);
                assertEquals("b", s.node());
                assertEquals(new io.ferrydb.core.mirror.AckTriplet(6, 8, 5), s.holds());
                assertEquals(List.of(4L, 5L, 6L, 7L, 8L), s.above().stream().map(io.ferrydb.core.loss.FailoverCheck.HeldEntry::lsn).toList(),
                        "the logged entries 4..5 and the cached 6..8");
                assertEquals(Key.of(NS, "s", "k7").digest(), s.above().get(3).digest());
                // It holds a tail beyond where the asker's epoch 2 continues: not promotable until synced.
                assertTrue(store.rewriting(NS, p), "marked divergent");
                assertEquals(1.0, registry.get("ferry_mirror_marked_divergent").counter().count());

                // What the promoted replica (at lsn 3, failed master's heartbeat said 6) then records.
                io.ferrydb.core.loss.FailoverCheck.Finding finding = io.ferrydb.core.loss.FailoverCheck.check("c", 3, 1, "a", 6, o.survivors(),
                        o.unreached());
                assertEquals(4, finding.lostFromLsn());
                assertEquals(8, finding.lostToLsn());
                assertEquals(5, finding.digests().size());

                // Bad input: the whole call fails and the replica counts as not reached.
                FailoverSurvey.Query bad = new FailoverSurvey.Query("no-such-namespace", p, 0, 2, List.of("b"));
                FailoverSurvey.Outcome refused = FailoverSurvey.ask("c", List.of(bad), id -> "127.0.0.1:" + server.getPort(), 2000).get(bad);
                assertEquals(List.of("b"), refused.unreached());
                assertTrue(refused.survivors().isEmpty());
                for (io.ferrydb.proto.HoldsRequest badRequest : List.of(
                        io.ferrydb.proto.HoldsRequest.newBuilder().setNamespace("no-such-namespace").build(),
                        io.ferrydb.proto.HoldsRequest.newBuilder().setNamespace(NS)
                                .addPartitions(io.ferrydb.proto.HoldsQuery.newBuilder().setPartition(5000)).build())) {
                    java.util.concurrent.CompletableFuture<Throwable> error = new java.util.concurrent.CompletableFuture<>();
                    receiver.holds(badRequest, new StreamObserver<>() {
                        @Override
                        public void onNext(io.ferrydb.proto.HoldsResponse value) {
                            error.complete(null);
                        }

                        @Override
                        public void onError(Throwable t) {
                            error.complete(t);
                        }

                        @Override
                        public void onCompleted() {
                        }
                    });
                    io.grpc.StatusRuntimeException e = (io.grpc.StatusRuntimeException) error.get(5, TimeUnit.SECONDS);
                    assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
                    String field = badRequest.getPartitionsCount() == 0 ? "namespace" : "partitions.partition";
                    assertTrue(e.getStatus().getDescription().startsWith(field + ":"), e.getStatus().getDescription());
                }
            } finally {
                server.shutdownNow();
            }
        }
    }
}
