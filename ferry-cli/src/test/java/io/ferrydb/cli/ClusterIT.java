package io.ferrydb.cli;

import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import io.ferrydb.core.cluster.Liveness;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.proto.Convert;
import io.ferrydb.proto.FerryGrpc;
import io.ferrydb.proto.PutRequest;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real node processes forming a cluster on 127.0.0.1: routing, kill -9 and failover,
 * rejoin and rebalance, losing the control-plane leader, decommission, and bad input
 * to the admin commands. Failure timeout is the default 1,500 ms; the bounds below
 * leave room for a loaded CI machine and the measured times are printed.
 */
class ClusterIT {
    private static final String NS = LocalCluster.NS;
    private static final long SETTLE_MS = 60_000;
    /** Default failure timeout 1.5 s; generous for a loaded 2-core machine running 3-5 JVMs. */
    private static final long FAILOVER_BOUND_MS = 10_000;

    @TempDir
    Path tmp;
    private LocalCluster cluster;

    @AfterEach
    void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static FerryClient connect(ServerProcess seed) {
        return FerryClient.connect(new ClientConfig("127.0.0.1", seed.grpcPort(), 5_000, 64));
    }

    @Test
    void threeNodesRouteFailOverRejoinAndSurviveTheLossOfTheControlLeader() throws Exception {
        cluster = LocalCluster.start(tmp, 3, 3);
        LocalCluster.Timed settled = cluster.await("3 nodes settled", SETTLE_MS, s -> s.settled(2));
        for (String n : List.of("n1", "n2", "n3")) {
            assertTrue(settled.status().masters(n) > 1000, "rendezvous spreads masters: " + settled.status().view().mastersPerNode(NS));
        }

        // Nodes act on a new view from their next heartbeat reply (every 250 ms): let the last
        // change of the settling (a handoff, a caught-up mirror) reach all of them first.
        Thread.sleep(1_000);
        try (FerryClient c = connect(cluster.node("n1"))) {
            // 1. Routing: keys of every partition owner are written through one seed, each to its master.
            List<Key> keys = writeAll(c, "before", 600);
            for (Key k : keys) {
                assertNotNull(c.get(k), "read back " + k);
            }
            assertEquals(0, refusals(), "a client with a fresh map sends every key to its master");

            // The server side of routing: a node asked for a partition it does not master refuses it and names the master.
            LocalCluster.Status s = cluster.status();
            Key foreign = keys.stream().filter(k -> !s.view().entry(NS, k.partition()).master().equals("n1")).findFirst().orElseThrow();
            String master = s.view().entry(NS, foreign.partition()).master();
            StatusRuntimeException refused = rawPut(cluster.node("n1"), foreign);
            assertEquals(ErrorCode.NOT_MASTER, Convert.errorCode(refused.getStatus().getCode()), refused.toString());
            assertTrue(refused.getStatus().getDescription().contains("mastered by node " + master), refused.getStatus().getDescription());
            // Over a session (the client's path) the refusal names the master's address and the epoch, for the retry to go there.
            io.ferrydb.proto.SessionResponse hint = rawSessionPut(cluster.node("n1"), foreign);
            assertEquals(ErrorCode.NOT_MASTER, Convert.errorCode(hint.getStatus()), hint.toString());
            assertEquals(cluster.node(master).hostPort(), hint.getMaster(), hint.toString());
            assertEquals(s.view().entry(NS, foreign.partition()).epoch(), hint.getMasterEpoch(), hint.toString());

            // Status from a follower carries the leader's heartbeat ages of every member.
            String leader = s.leader();
            String follower = List.of("n1", "n2", "n3").stream().filter(n -> !n.equals(leader)).findFirst().orElseThrow();
            CliRun statusRun = CliRun.ferry("cluster", "status", "--json", "--host", cluster.node(follower).hostPort());
            assertEquals(0, statusRun.exit(), statusRun.toString());
            assertEquals(3, java.util.regex.Pattern.compile("\"heartbeat_age_ms\":\\d+").matcher(statusRun.out()).results().count(), statusRun.out());

            // 2. kill -9 a node that is not the control-plane leader while a writer runs.
            String victim = List.of("n3", "n2", "n1").stream().filter(n -> !n.equals(leader)).findFirst().orElseThrow();
            Writer writer = new Writer(c, "during");
            writer.start();
            Thread.sleep(500);
            cluster.node(victim).kill9();
            LocalCluster.Timed failover = cluster.await("failover of " + victim, FAILOVER_BOUND_MS, st -> st.serving(victim));
            System.out.printf("ClusterIT: %s killed; new epochs serve all its partitions after %d ms (failure timeout 1500 ms)%n",
                    victim, failover.ms());
            int moved = 0;
            for (int p = 0; p < 4096; p++) {
                PartitionEntry was = s.view().entry(NS, p);
                if (was.replicaOn(victim) != null) {
                    moved++;
                    assertTrue(failover.status().view().entry(NS, p).epoch() > was.epoch(),
                            "partition " + p + " had a replica on " + victim + " and gets a new epoch");
                }
            }
            assertTrue(moved > 2000, "with RF 2 over 3 nodes most partitions had a replica on " + victim + ": " + moved);
            assertEquals(0, failover.status().masters(victim));
            Thread.sleep(500); // every node adopts the view within a heartbeat
            writer.stopAndAwait();
            System.out.println("ClusterIT: writer during failover: " + writer.summary());
            assertTrue(writer.unexpected.isEmpty(), "only routing/availability errors while a node dies: " + writer.unexpected);
            // After the failover every write goes to a live master and succeeds, the first try or after a refresh.
            List<Key> after = writeAll(c, "after", 300);
            for (Key k : after) {
                assertNotNull(c.get(k), "read back " + k + " after failover");
            }
            // A master logs its changes under the table epoch it serves in (new epochs after the failover).
            LocalCluster.Status now = cluster.status();
            for (Key k : after.subList(0, 50)) {
                long epoch = c.put(k, Map.of("again", 1)).epoch();
                assertEquals(now.view().entry(NS, k.partition()).epoch(), epoch, "ack epoch of " + k);
            }
            assertFailoverMetric(cluster.node(leader));

            // 3. The node comes back with its id and data; the table rebalances to it.
            cluster.node(victim).restart();
            LocalCluster.Timed rejoined = cluster.await(victim + " rejoined and rebalanced", SETTLE_MS,
                    st -> st.settled(2) && st.masters(victim) > 1000);
            System.out.printf("ClusterIT: %s rejoined and the table rebalanced in %d ms%n", victim, rejoined.ms());
            for (Key k : keys) {
                if (rejoined.status().view().entry(NS, k.partition()).master().equals(victim)) {
                    assertNotNull(c.get(k), victim + " kept its data across kill -9: " + k);
                }
            }

            // 4. Kill the control-plane leader: a new leader is elected and fails the old one over.
            cluster.node(leader).kill9();
            LocalCluster.Timed newLeader = cluster.await("new control-plane leader", 30_000,
                    st -> !st.leader().isEmpty() && !st.leader().equals(leader) && st.serving(leader));
            System.out.printf("ClusterIT: leader %s killed; %s leads and serves all partitions after %d ms%n",
                    leader, newLeader.status().leader(), newLeader.ms());
            Thread.sleep(500);
            writeAll(c, "newleader", 300);
            cluster.node(leader).restart();
            cluster.await(leader + " rejoined", SETTLE_MS, st -> st.settled(2) && st.masters(leader) > 1000);

            // 5. Graceful leave: the node hands its partitions over and ends LEFT.
            CliRun dec = CliRun.ferry("node", "decommission", "n3", "--host", cluster.node("n1").hostPort());
            assertEquals(0, dec.exit(), dec.toString());
            LocalCluster.Timed left = cluster.await("n3 left", SETTLE_MS, st -> st.view().member("n3").liveness() == Liveness.LEFT
                    && st.masters("n3") == 0 && onlyOn(st, "n1", "n2"));
            System.out.printf("ClusterIT: n3 decommissioned and left in %d ms%n", left.ms());
            writeAll(c, "afterleave", 200);

            // 6. A plain member (not a control voter) joins through a seed and gets its share.
            cluster.addMember(tmp, "n4", cluster.node("n2"));
            LocalCluster.Timed joined = cluster.await("n4 joined through a seed", SETTLE_MS, st -> st.view().member("n4") != null
                    && st.view().member("n4").liveness() == Liveness.ALIVE && !st.view().member("n4").voter()
                    && st.masters("n4") > 1000 && onlyOn(st, "n1", "n2", "n4"));
            System.out.printf("ClusterIT: member n4 joined through seed n2 and the table rebalanced in %d ms; masters %s%n",
                    joined.ms(), joined.status().view().mastersPerNode(NS));
            List<Key> withMember = writeAll(c, "member", 300);
            for (Key k : withMember) {
                assertNotNull(c.get(k), "read back " + k + " with a member node");
            }
        }
    }

    /** Every replica of every partition on the given nodes, all IN_SYNC. */
    private static boolean onlyOn(LocalCluster.Status st, String... nodes) {
        List<String> allowed = List.of(nodes);
        var t = st.view().table(NS);
        for (int p = 0; p < t.size(); p++) {
            PartitionEntry e = t.entry(p);
            if (!e.available() || e.replicas().size() != 2) {
                return false;
            }
            for (var r : e.replicas()) {
                if (!allowed.contains(r.node()) || r.state() != io.ferrydb.core.cluster.ReplicaState.IN_SYNC) {
                    return false;
                }
            }
        }
        return true;
    }

    @Test
    void fiveNodesLoseTwoIncludingTheControlLeaderAndKeepServing() throws Exception {
        cluster = LocalCluster.start(tmp, 5, 5);
        LocalCluster.Status s = cluster.await("5 nodes settled", SETTLE_MS, st -> st.settled(2)).status();
        try (FerryClient c = connect(cluster.node("n1"))) {
            writeAll(c, "five", 500);
            String leader = s.leader();
            String other = List.of("n5", "n4", "n3").stream().filter(n -> !n.equals(leader)).findFirst().orElseThrow();
            cluster.node(leader).kill9();
            cluster.node(other).kill9();
            LocalCluster.Timed t = cluster.await("failover of " + leader + " and " + other, 30_000,
                    st -> !st.leader().isEmpty() && !st.leader().equals(leader) && st.servingWherePossible(leader, other));
            System.out.printf("ClusterIT: 5 nodes, killed leader %s and %s; %s leads and all partitions are served after %d ms%n",
                    leader, other, t.status().leader(), t.ms());
            Thread.sleep(500);
            // Partitions whose two replicas were both on the dead nodes have no IN_SYNC copy left:
            // they stay unavailable (no data-losing promotion) until a replica returns.
            int lost = 0;
            for (int p = 0; p < 4096; p++) {
                PartitionEntry e = t.status().view().entry(NS, p);
                if (!e.available()) {
                    lost++;
                    assertTrue(List.of(leader, other).containsAll(s.view().entry(NS, p).replicas().stream().map(r -> r.node()).toList()),
                            "only partitions whose every replica died are unavailable: " + p);
                }
            }
            System.out.printf("ClusterIT: %d partitions had both replicas on the dead nodes and wait for them%n", lost);
            List<Key> keys = new ArrayList<>();
            for (int i = 0; keys.size() < 300; i++) {
                Key k = Key.of(NS, "cit", "five-after-" + i);
                if (t.status().view().entry(NS, k.partition()).available()) {
                    keys.add(k);
                }
            }
            putAll(c, keys);
            cluster.node(other).restart();
            cluster.node(leader).restart();
            cluster.await("5 nodes settled again", SETTLE_MS, st -> st.settled(2));
        }
    }

    @Test
    void adminCommandsRefuseBadInputNamingTheField() throws Exception {
        cluster = LocalCluster.start(tmp, 1, 1);
        cluster.await("1 node settled", SETTLE_MS, st -> st.settled(1));
        String host = cluster.node("n1").hostPort();
        assertError(CliRun.ferry("cluster", "history", "--ns", "nope", "--partition", "5", "--host", host), "namespace");
        assertError(CliRun.ferry("cluster", "history", "--ns", NS, "--partition", "4096", "--host", host), "partition");
        assertError(CliRun.ferry("cluster", "history", "--ns", NS, "--partition", "-1", "--host", host), "partition");
        assertError(CliRun.ferry("cluster", "history", "--ns", "", "--partition", "1", "--host", host), "namespace");
        assertError(CliRun.ferry("node", "decommission", "ghost", "--host", host), "node");
        assertError(CliRun.ferry("node", "decommission", "", "--host", host), "node");
        assertError(CliRun.ferry("cluster", "status", "--host", "127.0.0.1:1"), "127.0.0.1:1");
        assertError(CliRun.ferry("cluster", "status", "--host", "nocolon:"), "--host");
        assertError(CliRun.ferry("cluster", "start-local", "--nodes", "0"), "--nodes");
        assertError(CliRun.ferry("cluster", "start-local", "--nodes", "3", "--base-port", "80"), "--base-port");
        // JSON errors name the field too, and the node is still fine afterwards.
        CliRun json = CliRun.ferry("cluster", "history", "--ns", NS, "--partition", "9999", "--host", host, "--json");
        assertEquals(1, json.exit(), json.toString());
        assertTrue(json.out().contains("\"error\"") && json.out().contains("partition"), json.toString());
        CliRun ok = CliRun.ferry("cluster", "history", "--ns", NS, "--partition", "7", "--host", host, "--json");
        assertEquals(0, ok.exit(), ok.toString());
        assertTrue(ok.out().contains("CREATE"), ok.out());
        CliRun status = CliRun.ferry("cluster", "status", "--host", host, "--json");
        assertEquals(0, status.exit(), status.toString());
        assertTrue(status.out().contains("\"n1\""), status.out());
        assertTrue(status.json().get("syncs").get("totals").has("LOG"), status.out());
        assertError(CliRun.ferry("losses", "--since", "yesterday", "--host", host), "--since");
        assertError(CliRun.ferry("losses", "--since", "-5m", "--host", host), "--since");
        CliRun losses = CliRun.ferry("losses", "--since", "10m", "--json", "--host", host);
        assertEquals(0, losses.exit(), losses.toString());
        assertEquals(0, losses.json().get("lost_writes").asLong(), losses.out());
        CliRun text = CliRun.ferry("losses", "--ns", NS, "--since", "2026-01-01T00:00:00Z", "--host", host);
        assertEquals(0, text.exit(), text.toString());
        assertTrue(text.out().startsWith("0 lost write(s)"), text.out());
    }

    private static void assertError(CliRun r, String names) {
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains(names), "error names '" + names + "': " + r);
    }

    // ---- helpers ----

    private List<Key> writeAll(FerryClient c, String prefix, int n) {
        List<Key> keys = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            keys.add(Key.of(NS, "cit", prefix + "-" + i));
        }
        putAll(c, keys);
        return keys;
    }

    /** SYNC puts, 32 in flight; every one must succeed. */
    private static void putAll(FerryClient c, List<Key> keys) {
        java.util.concurrent.Semaphore inflight = new java.util.concurrent.Semaphore(32);
        List<java.util.concurrent.CompletableFuture<?>> all = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            inflight.acquireUninterruptibly();
            all.add(c.async().put(WritePolicy.DEFAULT.withDurability(Durability.SYNC), keys.get(i), Map.of("i", i))
                    .whenComplete((r, e) -> inflight.release()));
        }
        java.util.concurrent.CompletableFuture.allOf(all.toArray(new java.util.concurrent.CompletableFuture[0])).join();
    }

    private long refusals() throws Exception {
        long total = 0;
        for (ServerProcess n : cluster.nodes()) {
            if (n.isAlive()) {
                total += (long) metric(n, "ferry_cluster_refused_not_master_total");
            }
        }
        return total;
    }

    private static void assertFailoverMetric(ServerProcess leader) throws Exception {
        double count = metric(leader, "ferry_cluster_failover_seconds_count");
        double sum = metric(leader, "ferry_cluster_failover_seconds_sum");
        assertTrue(count >= 1, "the leader measured the failover");
        System.out.printf("ClusterIT: leader's failover metric: %.0f failover(s), mean %.0f ms from last heartbeat to the new epochs%n",
                count, sum / count * 1000);
        assertTrue(sum / count < FAILOVER_BOUND_MS / 1000.0, "failover time " + sum / count + " s");
    }

    private static double metric(ServerProcess n, String name) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + n.httpPort() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
        for (String line : r.body().split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError("no metric " + name + " on " + n);
    }

    private static StatusRuntimeException rawPut(ServerProcess n, Key key) {
        ManagedChannel ch = NettyChannelBuilder.forTarget(n.hostPort()).usePlaintext().build();
        try {
            FerryGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS).put(PutRequest.newBuilder()
                    .setKey(Convert.toProto(key)).addBins(Convert.bin("x", io.ferrydb.api.Value.from(1))).build());
            throw new AssertionError(n + " accepted a put for a partition it does not master");
        } catch (StatusRuntimeException e) {
            return e;
        } finally {
            ch.shutdownNow();
        }
    }

    /** One put over a session to {@code n}, which must refuse it: its answer. */
    private static io.ferrydb.proto.SessionResponse rawSessionPut(ServerProcess n, Key key) {
        ManagedChannel ch = NettyChannelBuilder.forTarget(n.hostPort()).usePlaintext().build();
        try {
            java.util.concurrent.CompletableFuture<io.ferrydb.proto.SessionResponse> answer = new java.util.concurrent.CompletableFuture<>();
            io.grpc.stub.StreamObserver<io.ferrydb.proto.SessionRequests> out = FerryGrpc.newStub(ch).session(new io.grpc.stub.StreamObserver<>() {
                @Override
                public void onNext(io.ferrydb.proto.SessionResponses value) {
                    answer.complete(value.getResponses(0));
                }

                @Override
                public void onError(Throwable t) {
                    answer.completeExceptionally(t);
                }

                @Override
                public void onCompleted() {
                }
            });
            out.onNext(io.ferrydb.proto.SessionRequests.newBuilder().addRequests(io.ferrydb.proto.SessionRequest.newBuilder().setId(1)
                    .setPut(PutRequest.newBuilder().setKey(Convert.toProto(key)).addBins(Convert.bin("x", io.ferrydb.api.Value.from(1))))).build());
            io.ferrydb.proto.SessionResponse r = answer.get(5, TimeUnit.SECONDS);
            out.onCompleted();
            return r;
        } catch (Exception e) {
            throw new AssertionError("session put to " + n + " failed: " + e, e);
        } finally {
            ch.shutdownNow();
        }
    }

    /** Writes new keys with up to 16 in flight, tallying outcomes by error code. */
    private static final class Writer extends Thread {
        private final FerryClient c;
        private final String prefix;
        private final AtomicBoolean stop = new AtomicBoolean();
        private final AtomicLong ok = new AtomicLong();
        private final Map<ErrorCode, AtomicLong> failed = new EnumMap<>(ErrorCode.class);
        final List<String> unexpected = new java.util.concurrent.CopyOnWriteArrayList<>();
        private final java.util.concurrent.Semaphore window = new java.util.concurrent.Semaphore(16);

        Writer(FerryClient c, String prefix) {
            super("cluster-it-writer");
            this.c = c;
            this.prefix = prefix;
            for (ErrorCode code : ErrorCode.values()) {
                failed.put(code, new AtomicLong());
            }
        }

        @Override
        public void run() {
            for (int i = 0; !stop.get(); i++) {
                try {
                    if (!window.tryAcquire(100, TimeUnit.MILLISECONDS)) {
                        continue;
                    }
                } catch (InterruptedException e) {
                    return;
                }
                Key k = Key.of(NS, "cit", prefix + "-" + i);
                c.async().put(WritePolicy.DEFAULT, k, Map.of("i", i)).whenComplete((r, t) -> {
                    window.release();
                    if (t == null) {
                        ok.incrementAndGet();
                        return;
                    }
                    Throwable cause = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
                    if (cause instanceof FerryException fe) {
                        failed.get(fe.code()).incrementAndGet();
                        if (fe.code() != ErrorCode.UNAVAILABLE && fe.code() != ErrorCode.NOT_MASTER && fe.code() != ErrorCode.DEADLINE_EXCEEDED) {
                            unexpected.add(fe.code() + ": " + fe.getMessage());
                        }
                    } else {
                        unexpected.add(String.valueOf(cause));
                    }
                });
            }
        }

        void stopAndAwait() throws InterruptedException {
            stop.set(true);
            join(10_000);
            assertTrue(window.tryAcquire(16, 15, TimeUnit.SECONDS), "writes still outstanding 15 s after stopping");
        }

        String summary() {
            Map<ErrorCode, Long> errors = new ConcurrentHashMap<>();
            failed.forEach((code, n) -> {
                if (n.get() > 0) {
                    errors.put(code, n.get());
                }
            });
            return ok.get() + " acknowledged, failed " + errors;
        }
    }
}
